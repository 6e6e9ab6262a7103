"""KWDB's server-side IMPORT and EXPORT: build the statements, check them, run them, read the answer.

KWDB reads and writes the files itself (``nodelocal://<node>/<dir>`` under its extern dir,
or an ``http://`` file server), so kwtui only composes one statement, sends it in
autocommit and interprets its answer. Nothing here talks to the network except
:func:`run_native`; everything else is pure and tested against KWDB's own recorded QA output and a
live node (tests/*_kwdb.py; what the node answered where it differed: tests/data/kwdb_native_live.md).

Options (all default to ``None``/``False`` = not sent, so KWDB's own defaults apply)::

    ImportOptions(delimiter, enclosed, escaped, nullif, thread_concurrency, batch_rows,
                  limit_memory, auto_shrink, charset, comment, privileges, writewal)
    ExportOptions(chunk_rows, thread_concurrency, limit_memory, delimiter, enclosed, escaped,
                  nullas, column_name, meta_only, data_only, comment, privileges, charset)

Builders (each returns a :class:`NativeStatement`, or raises :class:`NativeOptionError`
before anything is sent)::

    import_into(table, paths, *, columns=None, options=None)
    import_table_create_using(meta_path, data_paths, options=None)   # data_paths=None: table only
    import_database(path, options=None)                              # exactly one path
    import_users(path)
    import_cluster_setting(path)
    export_table(path, table, *, fmt="CSV", options=None)
    export_select(path, select_sql, *, fmt="CSV", options=None)
    export_database(path, database, *, fmt="CSV", options=None)
    export_users(path)
    export_cluster_setting(path)
    pause_job(job_id) / resume_job(job_id) / cancel_job(job_id) / show_jobs()

``table`` is ``"db.schema.table"`` (parts may be double-quoted: ``'"MyDb".t'``) or a tuple
of exact names ``("MyDb", "public", "t")``. Names are quoted only when they must be: a
lower-case plain identifier that is not a KWDB keyword stays bare, anything else is
double-quoted with ``"`` doubled. Paths are written as KWDB's QA cases write them,
double-quoted (``"nodelocal://1/dir"``); option values single-quoted (``delimiter = ','``,
``thread_concurrency = '20'``, ``'`` doubled), flags bare (``WITH column_name, comment``).

:class:`NativeStatement` has ``sql`` (the exact text sent, one line), ``kind``
(``"import_into"``, ``"export_table"``, ...), ``target`` (what it writes, for the
confirmation), ``autocommit`` (always true: KWDB refuses IMPORT/EXPORT inside a
transaction) and ``preview()`` (the same statement over several lines).

Results and errors::

    run_native(service, stmt) -> NativeResult      # async; raises NativeError
    parse_result(columns, rows) -> NativeResult    # every result form KWDB returns
    parse_error(message) -> NativeErrorInfo        # kind + advice for a server ERROR text
    parse_show_jobs(columns, rows) -> list[JobInfo]

The validation rules mirror what the server checks (KWDB's import_stmt.go / export.go and
the recorded .master output) so that a wrong form field is refused with one clear line
instead of a round trip. Rules the server owns that cannot be decided without the catalog
(e.g. "Exporting SQL only supports single table queries") are recognised by
:func:`parse_error` instead.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import psycopg

from kwtui.errors import KwtuiError
from kwtui.transfer.idents import NativeOptionError, quote_ident

if TYPE_CHECKING:
    from kwtui.connection import ConnectionService

__all__ = [
    "ImportOptions", "ExportOptions", "NativeStatement", "NativeResult", "ExportedFile", "NativeErrorInfo",
    "JobInfo", "NativeOptionError", "NativeError", "import_into", "import_table_create_using",
    "import_database", "import_users", "import_cluster_setting", "export_table", "export_select",
    "export_database", "export_users", "export_cluster_setting", "pause_job", "resume_job", "cancel_job",
    "show_jobs", "parse_result", "parse_error", "parse_show_jobs", "run_native", "quote_ident",
    "quote_name", "quote_path", "quote_value", "CHARSETS", "ERROR_KINDS",
]

Name = str | Sequence[str]
Paths = str | Sequence[str]


# -- quoting ------------------------------------------------------------------------------------


def _split_name(text: str) -> tuple[str, ...]:
    """``db."My Schema".t`` -> ("db", "My Schema", "t"); bare parts are taken exactly as written."""
    parts: list[str] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i < n and text[i] == '"':
            j, buf = i + 1, []
            while True:
                if j >= n:
                    raise NativeOptionError(f"unterminated double quote in the name {text!r}")
                if text[j] == '"':
                    if j + 1 < n and text[j + 1] == '"':
                        buf.append('"')
                        j += 2
                        continue
                    break
                buf.append(text[j])
                j += 1
            parts.append("".join(buf))
            i = j + 1
            while i < n and text[i].isspace():
                i += 1
        else:
            j = text.find(".", i)
            j = n if j < 0 else j
            part = text[i:j].strip()
            if not part:
                raise NativeOptionError(f"the name {text!r} has an empty part")
            if '"' in part:
                raise NativeOptionError(f"misplaced double quote in the name {text!r}")
            parts.append(part)
            i = j
        if i >= n:
            return tuple(parts)
        if text[i] != ".":
            raise NativeOptionError(f"unexpected {text[i]!r} in the name {text!r}")
        i += 1


def _name_parts(name: Name, what: str, max_parts: int) -> tuple[str, ...]:
    if isinstance(name, str):
        if not name.strip():
            raise NativeOptionError(f"the {what} name is empty")
        parts = _split_name(name)
    else:
        parts = tuple(name)
        if not parts:
            raise NativeOptionError(f"the {what} name is empty")
        for part in parts:
            if not isinstance(part, str) or part == "":
                raise NativeOptionError(f"the {what} name has an empty part")
    if len(parts) > max_parts:
        shape = "db.schema.table" if max_parts == 3 else "one name"
        raise NativeOptionError(f"the {what} name {'.'.join(parts)!r} has {len(parts)} parts (at most {shape})")
    return parts


def quote_name(name: Name, *, max_parts: int = 3, what: str = "table") -> str:
    """A dotted name (string or tuple of exact parts) with each part quoted as needed."""
    return ".".join(quote_ident(p) for p in _name_parts(name, what, max_parts))


def quote_path(path: str) -> str:
    """A file location as KWDB's QA writes it: ``"nodelocal://1/dir"`` (``"`` doubled)."""
    if not isinstance(path, str) or not path.strip():
        raise NativeOptionError("a file path is empty: give a location like nodelocal://1/dir")
    if any(c in path for c in "\x00\r\n"):
        raise NativeOptionError(f"the path {path!r} contains a line break or NUL character")
    return '"' + path.replace('"', '""') + '"'


def quote_value(value: str) -> str:
    """An option value as a standard string: ``'...'`` with ``'`` doubled (no backslash escapes)."""
    return "'" + value.replace("'", "''") + "'"


def _paths(paths: Paths | None, what: str) -> list[str]:
    if paths is None:
        raise NativeOptionError(f"give at least one {what} path")
    items = [paths] if isinstance(paths, str) else list(paths)
    if not items:
        raise NativeOptionError(f"give at least one {what} path")
    return [quote_path(p) for p in items]


# -- options ------------------------------------------------------------------------------------

#: the encodings KWDB reads and writes, in its own spelling
CHARSETS = ("UTF-8", "GBK", "GB18030", "BIG5")
_CHARSET_KEYS = {c.replace("-", ""): c for c in CHARSETS}
#: the NULL markers KWDB accepts for nullas / nullif (sql/impexp_check.go)
NULL_MARKERS = ("", "NULL", "null", "Null", "\\N")
CHUNK_ROWS_MAX = 100_000
THREADS_MAX_EXPORT = 1024
_MEMORY = re.compile(r"\d+(?:\.\d+)?\s*(?:[kmgtpe]i?b?|b)?", re.IGNORECASE)


def normalise_charset(value: str) -> str:
    """'utf8', 'utf-8', 'Gbk', 'big5' ... -> KWDB's 'UTF-8', 'GBK', 'GB18030', 'BIG5'."""
    key = re.sub(r"[-_\s]", "", str(value)).upper()
    if key not in _CHARSET_KEYS:
        raise NativeOptionError(f"charset {value!r} is not supported: use one of {', '.join(CHARSETS)}")
    return _CHARSET_KEYS[key]


def _int_option(name: str, value: int | str, *, low: int, high: int | None = None) -> int:
    if isinstance(value, bool):
        raise NativeOptionError(f"{name} must be an integer, got {value!r}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        number = int(value)
    else:
        raise NativeOptionError(f"{name} must be an integer, got {value!r}")
    if high is None and number < low:
        raise NativeOptionError(f"{name} must be a positive integer, got {number}")
    if high is not None and not low <= number <= high:
        raise NativeOptionError(f"{name} must be between {low} and {high}, got {number}")
    return number


def _memory(value: int | str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise NativeOptionError(f"limit_memory must be a size like '2MB' or '512KiB', got {value!r}")
    text = str(value).strip()
    if not _MEMORY.fullmatch(text):
        raise NativeOptionError(f"limit_memory must be a size like '2MB' or '512KiB', got {value!r}")
    return text


def _one_char(name: str, value: str) -> None:
    if not isinstance(value, str) or len(value) != 1:
        raise NativeOptionError(f"{name} must be exactly one character, got {value!r}")


def _check_csv_chars(delimiter: str | None, enclosed: str | None, escaped: str | None) -> None:
    if delimiter is not None:
        _one_char("delimiter", delimiter)
        if delimiter in ('"', "\n", "\r") or ord(delimiter) > 127:
            raise NativeOptionError(f"delimiter {delimiter!r} is not allowed: use one ASCII character other "
                                    "than a double quote or a line break")
    if enclosed is not None:
        _one_char("enclosed", enclosed)
        if enclosed not in ('"', "'"):
            raise NativeOptionError(f"enclosed must be a double quote (\") or a single quote ('), got {enclosed!r}")
    if escaped is not None:
        _one_char("escaped", escaped)
        if escaped not in ('"', "\\"):
            raise NativeOptionError(f"escaped must be a double quote (\") or a backslash (\\), got {escaped!r}")
    comma = delimiter or ","
    if comma == (enclosed or '"') or comma == (escaped or '"'):
        raise NativeOptionError(f"delimiter {comma!r} must differ from the enclosed and escaped characters")


def _null_marker(name: str, value: str) -> None:
    if not isinstance(value, str) or value not in NULL_MARKERS:
        raise NativeOptionError(f"{name} must be one of NULL, null, Null, \\N or empty, got {value!r}")


def _render(pairs: list[tuple[str, Any]]) -> tuple[str, ...]:
    out: list[str] = []
    for key, value in pairs:
        if value is None or value is False:
            continue
        out.append(key if value is True else f"{key} = {quote_value(str(value))}")
    return tuple(out)


@dataclass(frozen=True)
class ImportOptions:
    """``WITH`` options of IMPORT. ``None``/``False`` = not sent (KWDB's default applies)."""

    delimiter: str | None = None  # one character, default ','
    enclosed: str | None = None  # '"' (default) or "'"
    escaped: str | None = None  # '"' (default) or '\\'
    nullif: str | None = None  # the text that means NULL: NULL, null, Null, \N
    thread_concurrency: int | str | None = None  # default 1; TS imports clamp it to 2 x CPU
    batch_rows: int | str | None = None  # default 500
    limit_memory: int | str | None = None  # e.g. '2MB'
    auto_shrink: bool = False
    charset: str | None = None  # UTF-8, GBK, GB18030, BIG5 (utf8, gbk ... accepted)
    comment: bool = False  # only IMPORT TABLE CREATE USING / IMPORT DATABASE
    privileges: bool = False  # only IMPORT TABLE CREATE USING / IMPORT DATABASE
    writewal: bool = False  # KWDB's QA uses it on TS IMPORT INTO; not in the user documentation

    def validate(self) -> None:
        """The rules that hold whatever the statement; raises NativeOptionError."""
        _check_csv_chars(self.delimiter, self.enclosed, self.escaped)
        if self.nullif is not None:
            _null_marker("nullif", self.nullif)
        if self.thread_concurrency is not None:
            _int_option("thread_concurrency", self.thread_concurrency, low=1)
        if self.batch_rows is not None:
            _int_option("batch_rows", self.batch_rows, low=1)
        if self.limit_memory is not None:
            _memory(self.limit_memory)
        if self.charset is not None:
            normalise_charset(self.charset)

    def rendered(self) -> tuple[str, ...]:
        """The ``WITH`` items, validated, in a fixed order: ``("delimiter = ','", "auto_shrink")``."""
        self.validate()
        return _render([
            ("delimiter", self.delimiter), ("enclosed", self.enclosed), ("escaped", self.escaped),
            ("nullif", self.nullif),
            ("thread_concurrency", None if self.thread_concurrency is None
             else _int_option("thread_concurrency", self.thread_concurrency, low=1)),
            ("batch_rows", None if self.batch_rows is None else _int_option("batch_rows", self.batch_rows, low=1)),
            ("limit_memory", None if self.limit_memory is None else _memory(self.limit_memory)),
            ("auto_shrink", self.auto_shrink),
            ("charset", None if self.charset is None else normalise_charset(self.charset)),
            ("comment", self.comment), ("privileges", self.privileges), ("writewal", self.writewal),
        ])


@dataclass(frozen=True)
class ExportOptions:
    """``WITH`` options of EXPORT. ``None``/``False`` = not sent (KWDB's default applies)."""

    chunk_rows: int | str | None = None  # rows per file, 0..100000 (0 = one file); default 100000
    thread_concurrency: int | str | None = None
    limit_memory: int | str | None = None
    delimiter: str | None = None
    enclosed: str | None = None
    escaped: str | None = None
    nullas: str | None = None  # how NULL is written: NULL, null, Null, \N (default: empty)
    column_name: bool = False  # a header line with the column names
    meta_only: bool = False
    data_only: bool = False
    comment: bool = False
    privileges: bool = False
    charset: str | None = None

    def validate(self) -> None:
        """The rules that hold whatever the statement; raises NativeOptionError."""
        if self.chunk_rows is not None:
            _int_option("chunk_rows", self.chunk_rows, low=0, high=CHUNK_ROWS_MAX)
        if self.thread_concurrency is not None:
            number = _int_option("thread_concurrency", self.thread_concurrency, low=1)
            if number > THREADS_MAX_EXPORT:
                raise NativeOptionError(f"thread_concurrency of EXPORT is at most {THREADS_MAX_EXPORT}, got {number}")
        if self.limit_memory is not None:
            _memory(self.limit_memory)
        _check_csv_chars(self.delimiter, self.enclosed, self.escaped)
        if self.nullas is not None:
            _null_marker("nullas", self.nullas)
        if self.meta_only and self.data_only:
            raise NativeOptionError("meta_only and data_only exclude each other: choose one (or neither for both)")
        if self.charset is not None:
            normalise_charset(self.charset)

    def rendered(self) -> tuple[str, ...]:
        """The ``WITH`` items, validated, in a fixed order."""
        self.validate()
        return _render([
            ("chunk_rows", None if self.chunk_rows is None
             else _int_option("chunk_rows", self.chunk_rows, low=0, high=CHUNK_ROWS_MAX)),
            ("thread_concurrency", None if self.thread_concurrency is None
             else _int_option("thread_concurrency", self.thread_concurrency, low=1)),
            ("limit_memory", None if self.limit_memory is None else _memory(self.limit_memory)),
            ("delimiter", self.delimiter), ("enclosed", self.enclosed), ("escaped", self.escaped),
            ("nullas", self.nullas), ("column_name", self.column_name), ("meta_only", self.meta_only),
            ("data_only", self.data_only), ("comment", self.comment), ("privileges", self.privileges),
            ("charset", None if self.charset is None else normalise_charset(self.charset)),
        ])

    def csv_only(self) -> list[str]:
        """The options set here that KWDB refuses with ``EXPORT INTO SQL`` (export.go)."""
        names = ("delimiter", "enclosed", "escaped", "nullas", "column_name", "chunk_rows")
        return [n for n in names if getattr(self, n) not in (None, False)]


# -- statements ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NativeStatement:
    """One IMPORT/EXPORT/job statement, ready to send (``sql``) and to show (``preview()``)."""

    sql: str
    kind: str
    target: str
    autocommit: bool = True
    preview_text: str = field(default="", compare=False, repr=False)

    def preview(self) -> str:
        """The same statement over several lines (clauses, one path and one option a line)."""
        return self.preview_text or self.sql

    @property
    def verb(self) -> str:
        return {"pause_job": "PAUSE JOB", "resume_job": "RESUME JOB", "cancel_job": "CANCEL JOB",
                "show_jobs": "SHOW JOBS"}.get(self.kind, self.kind.split("_", 1)[0].upper())


# A clause: its head and, optionally, a parenthesised list written after it.
_Clause = tuple[str, Sequence[str] | None]


def _statement(kind: str, target: str, clauses: list[_Clause], options: Sequence[str] = ()) -> NativeStatement:
    one: list[str] = []
    many: list[str] = []
    for head, items in clauses:
        if items is None:
            one.append(head)
            many.append(head)
            continue
        one.append(f"{head} ({', '.join(items)})")
        if len(items) > 1:
            body = ",\n".join("    " + item for item in items)
            many.append(f"{head} (\n{body}\n  )")
        else:
            many.append(one[-1])
    sql = " ".join(one)
    preview = many[0] + "".join("\n  " + m for m in many[1:])
    if options:
        sql += " WITH " + ", ".join(options)
        preview += "\n  WITH " + ",\n       ".join(options)
    return NativeStatement(sql=sql, kind=kind, target=target, preview_text=preview)


def _import_options(options: ImportOptions | None, *, allow_meta: bool, syntax: str) -> tuple[str, ...]:
    if options is None:
        return ()
    if not isinstance(options, ImportOptions):
        raise NativeOptionError("IMPORT takes ImportOptions")
    if not allow_meta:
        for flag in ("comment", "privileges"):
            if getattr(options, flag):
                raise NativeOptionError(
                    f"WITH {flag} only works with IMPORT TABLE CREATE USING and IMPORT DATABASE, "
                    f"not with {syntax}: the data files carry no {flag}s")
    return options.rendered()


def import_into(table: Name, paths: Paths, *, columns: Sequence[str] | None = None,
                options: ImportOptions | None = None) -> NativeStatement:
    """``IMPORT INTO t [(c1, c2)] CSV DATA ("p1", ...) [WITH ...]`` into an existing table."""
    name = quote_name(table)
    head = f"IMPORT INTO {name}"
    if columns is not None:
        cols = [columns] if isinstance(columns, str) else list(columns)
        if not cols:
            raise NativeOptionError("the target column list is empty: give the columns or None for all")
        seen: set[str] = set()
        for col in cols:
            if col in seen:
                raise NativeOptionError(f"target column {col!r} is listed twice")
            seen.add(col)
        head += f" ({', '.join(quote_ident(c) for c in cols)})"
    clauses: list[_Clause] = [(head, None), ("CSV DATA", _paths(paths, "data"))]
    opts = _import_options(options, allow_meta=False, syntax="IMPORT INTO")
    return _statement("import_into", f"table {name}", clauses, opts)


def import_table_create_using(meta_path: str, data_paths: Paths | None,
                              options: ImportOptions | None = None) -> NativeStatement:
    """``IMPORT TABLE CREATE USING "meta.sql" [CSV DATA (...)] [WITH ...]``.

    ``data_paths=None`` creates the table from ``meta.sql`` without loading data (KWDB's
    ``IMPORT TABLE CREATE USING "..."`` form); an empty list is an error.
    """
    meta = quote_path(meta_path)
    clauses: list[_Clause] = [(f"IMPORT TABLE CREATE USING {meta}", None)]
    if data_paths is not None:
        clauses.append(("CSV DATA", _paths(data_paths, "data")))
    opts = _import_options(options, allow_meta=True, syntax="IMPORT TABLE CREATE USING")
    return _statement("import_create_using", f"a new table from {meta_path}", clauses, opts)


def import_database(path: Paths, options: ImportOptions | None = None) -> NativeStatement:
    """``IMPORT DATABASE CSV DATA ("dir") [WITH ...]`` from one EXPORT ... FROM DATABASE directory."""
    items = _paths(path, "database directory")
    if len(items) != 1:
        raise NativeOptionError(f"IMPORT DATABASE takes exactly one directory, got {len(items)}")
    opts = _import_options(options, allow_meta=True, syntax="IMPORT DATABASE")
    raw = path if isinstance(path, str) else list(path)[0]
    return _statement("import_database", f"a new database from {raw}",
                      [("IMPORT DATABASE", None), ("CSV DATA", items)], opts)


def import_users(path: str) -> NativeStatement:
    """``IMPORT USERS SQL DATA ("users.sql")`` (no options)."""
    return _statement("import_users", "users and roles", [("IMPORT USERS", None), ("SQL DATA", [quote_path(path)])])


def import_cluster_setting(path: str) -> NativeStatement:
    """``IMPORT CLUSTER SETTING SQL DATA ("clustersetting.sql")`` (no options)."""
    return _statement("import_cluster_setting", "cluster settings",
                      [("IMPORT CLUSTER SETTING", None), ("SQL DATA", [quote_path(path)])])


def _format(fmt: str) -> str:
    text = str(fmt).strip().upper()
    if text not in ("CSV", "SQL"):
        raise NativeOptionError(f"EXPORT writes CSV or SQL, not {fmt!r}")
    return text


def _export_options(options: ExportOptions | None, fmt: str, *, query: bool) -> tuple[str, ...]:
    if options is None:
        return ()
    if not isinstance(options, ExportOptions):
        raise NativeOptionError("EXPORT takes ExportOptions")
    options.validate()
    if query:
        for flag in ("meta_only", "data_only", "comment", "privileges"):
            if getattr(options, flag):
                raise NativeOptionError(f"WITH {flag} does not work with EXPORT ... FROM SELECT: a query export "
                                        "writes data only (no meta.sql); export FROM TABLE or FROM DATABASE")
    if fmt == "SQL":
        bad = options.csv_only()
        if bad:
            raise NativeOptionError(f"EXPORT INTO SQL cannot take {', '.join(bad)}: those are CSV options "
                                    "(drop them or export as CSV)")
    return options.rendered()


def export_table(path: str, table: Name, *, fmt: str = "CSV", options: ExportOptions | None = None) -> NativeStatement:
    """``EXPORT INTO CSV|SQL "dir" FROM TABLE t [WITH ...]`` (meta.sql + data files)."""
    kind = _format(fmt)
    name = quote_name(table)
    opts = _export_options(options, kind, query=False)
    return _statement("export_table", path, [(f"EXPORT INTO {kind} {quote_path(path)}", None),
                                             (f"FROM TABLE {name}", None)], opts)


_QUERY_START = re.compile(r"\(*\s*(SELECT|WITH|VALUES|TABLE)\b", re.IGNORECASE)


def compact_query(text: str) -> str:
    """One query on one line: comments dropped, whitespace outside quotes collapsed, no ``;``.

    Literals are kept byte for byte (KWDB/PostgreSQL quoting: ``'..'``, ``E'..'``, ``".."``,
    ``$tag$..$tag$``), so a string with a line break inside stays as it is.
    """
    out: list[str] = []
    i, n, space, ended = 0, len(text), False, False
    while i < n:
        c = text[i]
        if c.isspace():
            space, i = True, i + 1
            continue
        if text.startswith("--", i):
            j = text.find("\n", i)
            space, i = True, (n if j < 0 else j)
            continue
        if text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            if depth:
                raise NativeOptionError("the query has an unterminated /* comment")
            space, i = True, j
            continue
        if ended:
            raise NativeOptionError("EXPORT ... FROM SELECT takes exactly one query (found text after ';')")
        if c == ";":
            ended, i = True, i + 1
            continue
        j = _token_end(text, i)
        if space and out:
            out.append(" ")
        space = False
        out.append(text[i:j])
        i = j
    query = "".join(out)
    if not query:
        raise NativeOptionError("the query to export is empty")
    if not _QUERY_START.match(query):
        raise NativeOptionError("EXPORT ... FROM takes a query (SELECT, WITH, VALUES or TABLE)")
    return query


def _token_end(text: str, i: int) -> int:
    n = len(text)
    c = text[i]
    if c in "eE" and i + 1 < n and text[i + 1] == "'":
        return _quoted_end(text, i + 1, "'", backslash=True)
    if c in "'\"":
        return _quoted_end(text, i, c, backslash=False)
    if c == "$":
        m = re.match(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$", text[i:])
        if m:
            end = text.find(m.group(0), i + len(m.group(0)))
            if end < 0:
                raise NativeOptionError("the query has an unterminated $$ string")
            return end + len(m.group(0))
    if c.isalnum() or c == "_":
        j = i + 1
        while j < n and (text[j].isalnum() or text[j] in "_$"):
            j += 1
        return j
    return i + 1


def _quoted_end(text: str, i: int, quote: str, *, backslash: bool) -> int:
    j, n = i + 1, len(text)
    while j < n:
        if backslash and text[j] == "\\":
            j += 2
            continue
        if text[j] == quote:
            if j + 1 < n and text[j + 1] == quote:
                j += 2
                continue
            return j + 1
        j += 1
    raise NativeOptionError(f"the query has an unterminated {quote} quote")


def export_select(path: str, select_sql: str, *, fmt: str = "CSV",
                  options: ExportOptions | None = None) -> NativeStatement:
    """``EXPORT INTO CSV|SQL "dir" FROM SELECT ... [WITH ...]`` (data only, no meta.sql).

    KWDB refuses SQL format for queries over several tables; that is its rule, recognised
    by :func:`parse_error` (``sql_single_table_only``), not guessed here.
    """
    kind = _format(fmt)
    query = compact_query(select_sql)
    opts = _export_options(options, kind, query=True)
    return _statement("export_select", path, [(f"EXPORT INTO {kind} {quote_path(path)}", None),
                                              (f"FROM {query}", None)], opts)


def export_database(path: str, database: Name, *, fmt: str = "CSV",
                    options: ExportOptions | None = None) -> NativeStatement:
    """``EXPORT INTO CSV|SQL "dir" FROM DATABASE d [WITH ...]``."""
    kind = _format(fmt)
    name = quote_name(database, max_parts=1, what="database")
    opts = _export_options(options, kind, query=False)
    return _statement("export_database", path, [(f"EXPORT INTO {kind} {quote_path(path)}", None),
                                                (f"FROM DATABASE {name}", None)], opts)


def export_users(path: str) -> NativeStatement:
    """``EXPORT USERS TO SQL "dir"`` (writes users.sql)."""
    return _statement("export_users", path, [(f"EXPORT USERS TO SQL {quote_path(path)}", None)])


def export_cluster_setting(path: str) -> NativeStatement:
    """``EXPORT CLUSTER SETTING TO SQL "dir"`` (writes clustersetting.sql)."""
    return _statement("export_cluster_setting", path, [(f"EXPORT CLUSTER SETTING TO SQL {quote_path(path)}", None)])


def _job_id(job_id: int | str) -> int:
    if isinstance(job_id, bool):
        raise NativeOptionError(f"a job id is an integer, got {job_id!r}")
    if isinstance(job_id, int):
        number = job_id
    elif isinstance(job_id, str) and job_id.strip().isdigit() and job_id.strip().isascii():
        number = int(job_id.strip())
    else:
        raise NativeOptionError(f"a job id is an integer, got {job_id!r} (TS imports have no job: '-')")
    if number <= 0:
        raise NativeOptionError(f"a job id is a positive integer, got {number}")
    return number


def pause_job(job_id: int | str) -> NativeStatement:
    number = _job_id(job_id)
    return _statement("pause_job", f"job {number}", [(f"PAUSE JOB {number}", None)])


def resume_job(job_id: int | str) -> NativeStatement:
    number = _job_id(job_id)
    return _statement("resume_job", f"job {number}", [(f"RESUME JOB {number}", None)])


def cancel_job(job_id: int | str) -> NativeStatement:
    number = _job_id(job_id)
    return _statement("cancel_job", f"job {number}", [(f"CANCEL JOB {number}", None)])


def show_jobs() -> NativeStatement:
    """``SHOW JOBS``: poll it from a second connection while an import runs."""
    return _statement("show_jobs", "jobs", [("SHOW JOBS", None)])


# -- results ------------------------------------------------------------------------------------

REJECT_NOTE = "There is a REJECT FILE, please read and resolve it"
_IMPORT_COLUMNS = ("job_id", "status", "fraction_completed", "rows", "abandon_rows", "reject_rows", "note")
_FILE_COLUMNS = ("rows", "node_id", "file_num")


@dataclass(frozen=True)
class ExportedFile:
    """One row of the ``filename | rows | node_id | file_num`` export answer."""

    name: str  # the normalised query text, USERS, CLUSTER SETTING, "TABLE db.schema.t" or "meta.sql"
    rows: int | None
    node_id: int | None
    file_num: int | None

    @property
    def is_meta(self) -> bool:
        """The meta.sql row of a table/database export (KWDB answers rows = 1 for it: not data)."""
        return self.name.strip().lower() == "meta.sql"

    @property
    def table(self) -> str | None:
        """``db.schema.t`` of a ``TABLE db.schema.t`` row (table and database exports), else None."""
        text = self.name.strip()
        return text[6:].strip() if text.upper().startswith("TABLE ") else None


@dataclass(frozen=True)
class NativeResult:
    """What an IMPORT/EXPORT answered, whatever its result form.

    ``shape`` says which form: ``import`` (job_id ... note), ``import_users``
    (job_id | status | rows), ``import_cluster_setting`` (prompt_information),
    ``export`` (result = succeed | fail), ``export_files`` (filename | rows | node_id |
    file_num, also USERS / CLUSTER SETTING exports), ``empty`` (no result set, e.g. PAUSE
    JOB) or ``other``.
    """

    shape: str
    ok: bool
    status: str | None = None
    job_id: str | None = None  # None for time-series imports ('-') and exports
    fraction_completed: float | None = None
    rows: int | None = None  # rows imported, or rows exported over all files
    abandon_rows: int = 0
    reject_rows: int = 0
    note: str | None = None  # None, or the reject-file note
    files: tuple[ExportedFile, ...] = ()
    message: str | None = None  # IMPORT CLUSTER SETTING's prompt
    time_series: bool | None = None  # True when job_id was '-'
    columns: tuple[str, ...] = ()
    raw_rows: tuple[tuple[Any, ...], ...] = ()

    @property
    def has_reject_file(self) -> bool:
        """Rows were rejected: KWDB wrote reject.n<node>.<idx>.txt beside the data files."""
        return self.reject_rows > 0 or (self.note is not None and "REJECT FILE" in self.note.upper())

    @property
    def partial(self) -> bool:
        """An import KWDB calls ``succeeded`` that left rows out (rejected): not a success.

        A time-series IMPORT answers ``succeeded`` with ``reject_rows`` > 0 and the note
        ``There is a REJECT FILE``; what it wrote stays (no rollback), the rest is in the reject file.
        """
        return self.shape == "import" and self.has_reject_file

    @property
    def complete(self) -> bool:
        """Succeeded and nothing left out: the only answer that is a success."""
        return self.ok and not self.partial

    @property
    def data_files(self) -> tuple[ExportedFile, ...]:
        return tuple(f for f in self.files if not f.is_meta)

    @property
    def tables(self) -> tuple[str, ...]:
        """The tables a relational table/database export wrote (``db.schema.t``), in answer order."""
        return tuple(t for t in (f.table for f in self.files) if t)

    def summary(self) -> str:
        if self.shape == "import":
            text = f"imported {self.rows if self.rows is not None else '?'} rows"
            if self.reject_rows:
                text += f", {self.reject_rows} rejected (see the reject file beside the data)"
            if self.abandon_rows:
                text += f", {self.abandon_rows} abandoned"
            if self.job_id:
                text += f" (job {self.job_id})"
            if self.ok and self.partial:
                return f"partial load: KWDB said {self.status}, but {text}"
            return text if self.ok else f"import {self.status or 'failed'}: {text}"
        if self.shape == "import_users":
            return f"imported {self.rows} users and roles" if self.ok else f"import {self.status}"
        if self.shape == "export":
            # time-series exports (table, database and queries over TS tables) answer only succeed/fail
            return ("export succeeded (KWDB does not count the rows of a time-series export)" if self.ok
                    else f"export answered {self.status!r}")
        if self.shape == "export_files":
            data = self.data_files
            nfiles = sum(f.file_num or 0 for f in data)
            metas = len(self.files) - len(data)
            label = "data file(s)" if metas or self.tables else "file(s)"
            text = f"exported {self.rows or 0:,} rows into {nfiles} {label}"
            if self.tables:
                text += f" from {len(self.tables)} table(s)"
            if metas:
                text += f" and {metas} meta.sql"
            if not self.files:
                text = "exported 0 rows: the query returned no rows, so KWDB wrote no file"
            return text
        if self.message:
            return self.message
        return "done" if self.ok else "failed"


def _int(value: Any) -> int | None:
    if value is None:
        return None
    text = str(value).strip()
    if text in ("", "-", "NULL", "None"):
        return None
    try:
        return int(text)
    except ValueError:
        try:
            return int(float(text))
        except ValueError:
            return None


def _float(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return str(value).strip()


def parse_result(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> NativeResult:
    """Interpret the result set of an IMPORT/EXPORT (values as psycopg returns them or as text)."""
    cols = tuple(str(c).strip().lower() for c in columns)
    raw = tuple(tuple(r) for r in rows)
    base: dict[str, Any] = {"columns": tuple(columns), "raw_rows": raw}
    if not cols:
        return NativeResult("empty", True, **base)
    records = [dict(zip(cols, r, strict=False)) for r in raw]
    first = records[0] if records else {}
    if "job_id" in cols and "status" in cols:
        job = _text(first.get("job_id"))
        status = _text(first.get("status"))
        common: dict[str, Any] = {
            "status": status, "ok": bool(records) and all((_text(r.get("status")) or "").lower() == "succeeded"
                                                          for r in records),
            "job_id": None if job in (None, "", "-", "/") else job,
            "time_series": None if job in (None, "", "/") else job == "-",
            "rows": sum(_int(r.get("rows")) or 0 for r in records) if records else None,
        }
        if "fraction_completed" not in cols:
            return NativeResult("import_users", **common, **base)
        note = _text(first.get("note"))
        return NativeResult(
            "import", **common, fraction_completed=_float(first.get("fraction_completed")),
            abandon_rows=sum(_int(r.get("abandon_rows")) or 0 for r in records),
            reject_rows=sum(_int(r.get("reject_rows")) or 0 for r in records),
            note=None if note in (None, "", "None", "NULL") else note, **base)
    if cols == ("result",):
        status = _text(first.get("result"))
        return NativeResult("export", ok=bool(records) and (status or "").lower() == "succeed", status=status, **base)
    if all(c in cols for c in _FILE_COLUMNS) and cols[0] in ("filename", "queryname"):
        files = tuple(ExportedFile(str(r.get(cols[0]) or ""), _int(r.get("rows")), _int(r.get("node_id")),
                                   _int(r.get("file_num"))) for r in records)
        # the live node (V3.2.1) answers a meta.sql row with rows = 1 beside each TABLE row: not data rows
        return NativeResult("export_files", ok=True, status="succeed", files=files,
                            rows=sum(f.rows or 0 for f in files if not f.is_meta), **base)
    if cols == ("prompt_information",):
        return NativeResult("import_cluster_setting", ok=True, message=_text(first.get("prompt_information")), **base)
    return NativeResult("other", ok=True, **base)


# -- SHOW JOBS ----------------------------------------------------------------------------------
# No SHOW JOBS output is recorded in the QA files. This follows KWDB's delegate (show_jobs.go:
# job_id, job_type, description, statement, user_name, status, running_status, created,
# started, finished, modified, errord, fraction_completed, error, coordinator_id, ...) which is
# the CockroachDB column set plus a few; unknown columns land in ``extra``.

_JOB_FIELDS = ("job_type", "description", "statement", "user_name", "status", "running_status",
               "created", "started", "finished", "modified", "error", "coordinator_id")


@dataclass(frozen=True)
class JobInfo:
    job_id: str
    job_type: str | None = None
    description: str | None = None
    statement: str | None = None
    user_name: str | None = None
    status: str | None = None
    running_status: str | None = None
    created: Any = None
    started: Any = None
    finished: Any = None
    modified: Any = None
    fraction_completed: float | None = None
    error: str | None = None
    coordinator_id: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return (self.status or "").lower() in ("succeeded", "failed", "canceled", "cancelled")

    @property
    def running(self) -> bool:
        return (self.status or "").lower() == "running"

    @property
    def is_import(self) -> bool:
        return (self.job_type or "").upper() == "IMPORT"


def parse_show_jobs(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[JobInfo]:
    cols = [str(c).strip().lower() for c in columns]
    if "job_id" not in cols:
        raise ValueError("not SHOW JOBS output: no job_id column")
    out: list[JobInfo] = []
    for row in rows:
        rec = dict(zip(cols, row, strict=False))
        known: dict[str, Any] = {}
        for name in _JOB_FIELDS:
            value = rec.pop(name, None)
            if isinstance(value, str) and value.strip() in ("", "NULL"):
                value = None
            known[name] = value
        job_id = str(rec.pop("job_id")).strip()
        fraction = _float(rec.pop("fraction_completed", None))
        out.append(JobInfo(job_id=job_id, fraction_completed=fraction, extra=rec, **known))
    return out


# -- errors -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NativeErrorInfo:
    """A server ERROR text, classified, with what the user should do about it."""

    kind: str
    message: str
    advice: str
    path: str | None = None
    file_count: int | None = None
    option: str | None = None
    column: str | None = None
    table: str | None = None
    value: str | None = None


_Rule = tuple[str, str, str]


def _r(kind: str, pattern: str, advice: str) -> _Rule:
    return kind, pattern, advice  # compiled on the first error classified (46 patterns: 4 ms at start-up)


# First match wins; advice is formatted with the pattern's named groups.
_RULES: tuple[_Rule, ...] = (
    _r("export_path_not_empty",
       r"export path (?P<path>\S+) is not empty \(contains (?P<file_count>\d+) files?\)",
       "KWDB never overwrites: export into a new, empty directory (or delete the {file_count} file(s) "
       "under {path} on the server first)"),
    _r("duplicate_option", r'specifying the same option "(?P<option>[^"]+)" is not supported',
       "give the option {option} only once"),
    _r("target_column_not_in_table", r"target column (?P<column>\S+) is not in table (?P<table>\S+)",
       "fix the column list: {column} is not a column of {table} (check SHOW COLUMNS FROM {table})"),
    _r("duplicate_target_column", r"multiple assignments to the same column (?P<column>\S+)",
       "list the column {column} only once in the target columns"),
    _r("privileges_misuse", r"'WITH PRIVILEGES' can only be used for",
       "drop WITH privileges, or import with IMPORT TABLE CREATE USING / IMPORT DATABASE, which read the "
       "GRANTs from meta.sql"),
    _r("comment_misuse", r"'WITH COMMENT' can only be used for",
       "drop WITH comment, or import with IMPORT TABLE CREATE USING / IMPORT DATABASE, which read the "
       "comments from meta.sql"),
    _r("no_comments_to_export", r"without COMMENTS cannot be used 'WITH COMMENT'",
       "nothing has a comment: export without WITH comment"),
    _r("meta_without_comment", r"NO COMMENT statement in the SQL file",
       "meta.sql holds no COMMENT: import without WITH comment (or export again WITH comment)"),
    _r("meta_without_grant", r"NO GRANT statement in the SQL file",
       "meta.sql holds no GRANT: import without WITH privileges (or export again WITH privileges)"),
    _r("sql_single_table_only", r"Exporting SQL only supports single table queries",
       "SQL format only exports a query over one table: export this query as CSV, or export each table"),
    _r("sql_bytes_unsupported", r"Exporting SQL cannot supports? BytesFamily",
       "the table has BYTES/VARBYTES columns, which SQL format cannot hold: export it as CSV"),
    _r("import_csv_only", r"Import regular data only supports CSV format",
       "table and database data import from CSV DATA only (SQL DATA is for IMPORT USERS and IMPORT CLUSTER "
       "SETTING); to create the table alone use IMPORT TABLE CREATE USING \"meta.sql\" without DATA"),
    _r("sql_format_option", r"Export support SQL cannot be used in conjunction with (?P<option>.+)",
       "{option} is a CSV option: drop it or export as CSV"),
    _r("option_not_for_query", r"cannot use option in query export",
       "meta_only / data_only only work with FROM TABLE and FROM DATABASE: drop them for a query export"),
    _r("meta_data_exclusive", r"cannot use only_data and only_schema at the same time|"
                              r"cannot use foreign_key and only_data",
       "choose either meta_only or data_only (neither exports both)"),
    _r("invalid_chunk_rows", r"chunk size must be less than|invalid csv chunk size",
       "chunk_rows is a number of rows from 0 (no split) to 100000"),
    _r("invalid_charset", r"charset value", "use charset UTF-8, GBK, GB18030 or BIG5"),
    _r("csv_char_conflict", r"delimiter can't be same with",
       "the delimiter must differ from the enclosed and escaped characters"),
    _r("invalid_delimiter", r"delimiter can't be|invalid delimiter value|delimiter exceeds",
       "the delimiter is one ASCII character other than a double quote or a line break"),
    _r("invalid_enclosed", r"enclosed can't be|invalid enclosed value|enclosed exceeds",
       "enclosed is a double quote (\") or a single quote (')"),
    _r("invalid_escaped", r"escaped can't be|invalid escaped value",
       "escaped is a double quote (\") or a backslash (\\)"),
    _r("invalid_null_marker", r"options nullas/nullif cannot be", "use NULL, null, Null or \\N"),
    _r("invalid_thread_concurrency", r"thread_concurrency", "thread_concurrency is a positive integer"),
    _r("invalid_batch_rows", r"batch_rows", "batch_rows is a positive integer (default 500)"),
    _r("invalid_limit_memory", r"limit_memory", "limit_memory is a size such as '2MB'"),
    _r("users_no_options", r"cannot use options while import users",
       "IMPORT USERS takes no WITH options"),
    _r("unknown_option", r'invalid option "(?P<option>[^"]+)"',
       "{option} is not an option of this statement: remove it"),
    _r("option_value", r'option "(?P<option>[^"]+)" (?:requires a value|does not take a value)',
       "write {option} as KWDB expects: flags bare (WITH comment), values quoted (WITH delimiter = ',')"),
    _r("in_transaction", r"cannot be used inside a transaction",
       "run IMPORT/EXPORT on its own, outside BEGIN ... COMMIT (autocommit)"),
    _r("admin_required", r"only users with the admin role|requires? admin|user \S+ does not have \S+ privilege",
       "IMPORT and EXPORT need a member of the admin role (e.g. root): connect as such a user"),
    _r("no_data_files", r"(?P<path>\S+) is not a dir or has no csv files",
       "the directory {path} holds no .csv file: check the path (it is relative to the server's extern dir)"),
    _r("file_not_found", r"no such file or directory|file does not exist|not found in",
       "the file is not where the statement says: nodelocal://<node>/<path> is relative to the extern dir "
       "of that node (by default /var/lib/kaiwudb/extern)"),
    # recorded from the live node (V3.2.1): a directory given to a relational IMPORT
    _r("directory_not_file", r'expected a file but "(?P<path>[^"]+)" is a directory',
       "a relational IMPORT reads files, not a directory: name the .csv files (kwtui lists the directory "
       "when it runs on the node's host); only a time-series IMPORT takes a directory"),
    _r("ts_table_in_relational_db", r"can not create timeseries table in relational database",
       "a time-series table is created while connected to a time-series database: connect to one (the "
       "database in the DSN), or CREATE TS DATABASE first"),
    _r("relational_table_in_ts_db", r"can not create relational table in timeseries database",
       "a relational table cannot live in a time-series database: connect to a relational database"),
    # recorded from the live node: a relational IMPORT stops at the first bad row and keeps nothing
    _r("row_parse_error", r"(?P<path>\S+): error parsing row (?P<value>\d+)",
       "KWDB's relational IMPORT stops at the first bad row and rolls back (no row was kept): fix row "
       "{value} of {path}, or import with kwtui's streamed import (without --native), which sets bad lines "
       "aside in a reject file and loads the rest"),
    _r("job_cancelled", r"cannot update progress on cancel-requested job \(id (?P<value>\d+)\)",
       "the job was cancelled from elsewhere: KWDB rolls the import back (SHOW JOBS: reverting, then canceled)"),
    _r("job_paused", r"cannot update progress on pause-requested job \(id (?P<value>\d+)\)",
       "the job was paused from elsewhere: `kwtui jobs native-resume {value}` goes on with it (in the "
       "background), `kwtui jobs native-cancel {value}` rolls it back; until then the table is offline"),
    _r("job_not_resumable", r"job with status (?P<value>[\w-]+) cannot be resumed",
       "KWDB only resumes a paused job: wait until SHOW JOBS says paused (a pause takes a few seconds)"),
    _r("ts_import_once", r"time series Import cannot be execute more than once",
       "do not retry a time-series import job: count what landed, then IMPORT INTO only the missing rows"),
    _r("undefined_column", r'column "(?P<column>[^"]+)" does not exist',
       "the query names a column {column} that the table does not have"),
    _r("undefined_table", r'relation "(?P<table>[^"]+)" does not exist|table "(?P<table2>[^"]+)" does not exist',
       "the table does not exist: check its name and the current database"),
    _r("undefined_database", r'database "[^"]+" does not exist',
       "the database does not exist: check its name"),
    _r("already_exists", r'(?:relation|table|database|schema) "(?P<table>[^"]+)" already exists',
       "{table} already exists: drop or rename it first, or use IMPORT INTO to load into it (after a failed "
       "IMPORT TABLE CREATE USING, KWDB keeps the name taken until its DROP TABLE job in SHOW JOBS ends)"),
    _r("bad_value", r'could not resolve "(?P<value>.*)" as (?P<type>.+?) type \(column (?P<column>[^)]+)\)',
       "a value does not fit column {column}: fix the data or the delimiter/enclosed/escaped options"),
    _r("syntax_error", r"syntax error|at or near",
       "the server did not understand the statement: is this a KWDB server (PostgreSQL has no IMPORT/EXPORT)?"),
)

#: every ``kind`` parse_error can answer (``connection_lost`` comes from run_native)
ERROR_KINDS = tuple(rule[0] for rule in _RULES) + ("connection_lost", "other")


# how export.go names options in "Export support SQL cannot be used in conjunction with ..."
_OPTION_WORDS = {"colname": "column_name", "specified delimiter": "delimiter", "specified enclosed": "enclosed",
                 "specified escaped": "escaped", "chunk sizes": "chunk_rows"}


def _clean(message: str) -> str:
    lines = [ln.strip() for ln in str(message).strip().splitlines() if ln.strip()]
    text = lines[0] if lines else ""
    for prefix in ("ERROR:", "pq:", "FATAL:"):
        if text.upper().startswith(prefix.upper()):
            text = text[len(prefix):].strip()
    return text


def parse_error(message: str) -> NativeErrorInfo:
    """Classify a KWDB ERROR text (``ERROR:`` prefix and SQLSTATE lines are ignored)."""
    text = _clean(message)
    for kind, pattern, advice in _RULES:
        m = re.search(pattern, text, re.IGNORECASE)  # re's cache keeps the compiled patterns
        if not m:
            continue
        groups = {k: v for k, v in m.groupdict().items() if v is not None}
        if "table2" in groups:
            groups["table"] = groups.pop("table2")
        if "option" in groups:
            groups["option"] = _OPTION_WORDS.get(groups["option"].strip(), groups["option"].strip())
        fmt = {"path": "the directory", "file_count": "the", "option": "the option", "column": "the column",
               "table": "the table", **groups}
        count = groups.get("file_count")
        return NativeErrorInfo(
            kind=kind, message=text, advice=advice.format(**fmt), path=groups.get("path"),
            file_count=int(count) if count is not None else None, option=groups.get("option"),
            column=groups.get("column"), table=groups.get("table"), value=groups.get("value"))
    return NativeErrorInfo(kind="other", message=text,
                           advice="read the server's message; nothing was changed by a failed relational "
                                  "import, a failed time-series import keeps what it wrote")


class NativeError(KwtuiError):
    """The server refused or failed an IMPORT/EXPORT; ``info`` says what kind and what to do."""

    def __init__(self, info: NativeErrorInfo, *, statement: NativeStatement | None = None,
                 sqlstate: str | None = None, detail: str | None = None) -> None:
        verb = statement.verb if statement is not None else "statement"
        super().__init__(f"{verb} failed: {info.message}", detail=detail, hint=info.advice)
        self.info = info
        self.kind = info.kind
        self.server_message = info.message
        self.statement = statement
        self.sqlstate = sqlstate


def native_error(exc: psycopg.Error, statement: NativeStatement | None = None, *,
                 connection_lost: bool = False) -> NativeError:
    """A psycopg error raised by an IMPORT/EXPORT, as a NativeError."""
    diag = exc.diag
    primary = diag.message_primary or (str(exc).strip().splitlines() or ["unknown error"])[0]
    if connection_lost:
        info = NativeErrorInfo(
            kind="connection_lost", message=_clean(primary) or "the connection was lost",
            advice="the connection dropped while the statement ran: the server may still be running or may "
                   "have finished it, so check SHOW JOBS and the target before running it again")
    else:
        info = parse_error(primary)
    return NativeError(info, statement=statement, sqlstate=diag.sqlstate, detail=diag.message_detail)


# -- running ------------------------------------------------------------------------------------


async def run_native(service: ConnectionService, stmt: NativeStatement) -> NativeResult:
    """Send ``stmt`` in autocommit on ``service`` (a ConnectionService) and parse the answer.

    Blocks until KWDB has finished (IMPORT/EXPORT return when the job is done); poll
    ``SHOW JOBS`` from another connection meanwhile, and ``service.cancel()`` stops it.
    Raises :class:`NativeError` for a server error, ConnectError when not connected.
    """
    async with service.autocommit() as conn:
        cur = conn.cursor()
        try:
            try:
                await cur.execute(stmt.sql)
            except psycopg.Error as exc:
                lost = bool(conn.closed or conn.broken)
                raise native_error(exc, stmt, connection_lost=lost) from None
            columns, rows = await _last_result(cur)
        finally:
            await cur.close()
    return parse_result(columns, rows)


async def _last_result(cur: Any) -> tuple[list[str], list[Any]]:
    """The answer among the result sets: a time-series EXPORT sends two (an empty ``result``, then
    ``succeed``), so the last set that has rows wins, else the last set with columns."""
    columns: list[str] = []
    rows: list[Any] = []
    while True:
        if cur.description is not None:
            cols = [d.name for d in cur.description]
            got = await cur.fetchall()
            if got or not rows:
                columns, rows = cols, list(got)
        if not cur.nextset():
            return columns, rows

