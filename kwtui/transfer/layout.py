"""KWDB's export layout on disk: writing it exactly as ``EXPORT INTO CSV`` does, and reading it.

Table export (``EXPORT ... FROM TABLE t``)::

    dir/meta.sql            CREATE TABLE ... (plus COMMENT ON / GRANT with those options)
    dir/n1.0.csv            chunk_rows records each (default 100000; 0 = one file)
    dir/n1.1.csv ...        n<node>.<chunk>.csv, node 1 for kwtui

Database export (``EXPORT ... FROM DATABASE d``)::

    dir/meta.sql                      CREATE DATABASE d;   or   CREATE TS DATABASE d;
                                      (a TS database: every TS table's CREATE TABLE too)
    dir/<schema>/meta.sql             CREATE SCHEMA <schema>;   (schemas other than public)
    dir/<schema>/<table>/meta.sql     a relational table's CREATE TABLE
    dir/<schema>/<table>/n1.0.csv     its data
    dir/public/<table>/n1.0.csv       a TS table's data (data columns, then tag columns)

Rejects of a KWDB IMPORT (``reject.n<node>.<idx>.txt``) sit beside the data; they are
never data files.

The ``column_name`` header: KWDB's writer (``exportcsv.go``) writes the column names at
the top of the first chunk and again at the top of every later chunk, so every chunk is
self-describing; :class:`ChunkWriter` does the same.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

from kwtui.errors import KwtuiError, UsageError
from kwtui.transfer.chunks import (  # noqa: F401 (the layout's own names, kept light for the export)
    NODE,
    PART_SUFFIX,
    ExportPathNotEmpty,
    _sync_dir,
    check_empty,
    chunk_name,
    write_atomic,
)
from kwtui.transfer.csvdialect import CsvDialect

#: KWDB's default (and maximum) rows per CSV file
DEFAULT_CHUNK_ROWS = 100_000
#: the node number in file names (kwtui writes from one place: node 1)
META = "meta.sql"

_CHUNK_RE = re.compile(r"^n(\d+)\.(\d+)\.csv$")
_REJECT_RE = re.compile(r"^reject\.n(\d+)\.(\d+)\.txt$")
_BATCH = 10_000  # rows formatted and encoded at a time


def parse_chunk_name(name: str) -> tuple[int, int] | None:
    """``n1.10.csv`` -> (1, 10); None for any other name."""
    m = _CHUNK_RE.match(name)
    return (int(m.group(1)), int(m.group(2))) if m else None


def is_reject_file(name: str) -> bool:
    return bool(_REJECT_RE.match(name))


_SIMPLE_IDENT = re.compile(r"^[a-z_][a-z0-9_$]*$")


def quote_ident(name: str) -> str:
    """An identifier for SQL text: bare when it is plain lower case, else double-quoted."""
    if _SIMPLE_IDENT.match(name):
        return name
    return '"' + name.replace('"', '""') + '"'


def statement_text(statement: str) -> str:
    """One statement ending in exactly one ``;``."""
    text = statement.strip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    return text + ";"


def meta_sql_text(statements: Iterable[str]) -> str:
    """meta.sql content: each statement on its own, ended by ``;`` and a newline.

    (KWDB leaves the newline off a relational database's one-statement root meta.sql;
    its importer and ours read both.)"""
    return "".join(statement_text(s) + "\n" for s in statements if s.strip())


def _encode_error(exc: UnicodeEncodeError, charset: str) -> KwtuiError:
    bad = exc.object[exc.start:exc.end] if isinstance(exc.object, str) else repr(exc.object[exc.start:exc.end])
    return KwtuiError(f"cannot write {bad!r} in {charset}: the character has no {charset} encoding",
                      hint="export with charset UTF-8 (or GB18030, which encodes all of Unicode)")


# --- finding record boundaries in a formatted block -------------------------------------------


def _record_breaks(data: Any, dialect: CsvDialect) -> Iterator[int]:
    """The index just after each record of a block of whole records (``str`` or UTF-8 ``bytes``).

    Without the enclosed character every line is a record. With it, a line break ends a
    record only outside a quoted field: the quote characters seen so far (escape pairs
    removed) are even. That holds for minimally quoted CSV as this module and PostgreSQL's
    COPY write it (one Python step per line, none per character).
    """
    nl: Any
    enc: Any
    esc: Any
    dot: Any
    if isinstance(data, bytes):
        nl, enc, esc, dot = b"\n", dialect.enclosed.encode(), dialect.escaped.encode(), b"."
    else:
        nl, enc, esc, dot = "\n", dialect.enclosed, dialect.escaped, "."
    find = data.find
    if enc not in data:
        pos = find(nl)
        while pos >= 0:
            yield pos + 1
            pos = find(nl, pos + 1)
        return
    pairs: Any = None if esc == enc else re.compile(re.escape(esc) + dot, re.S)
    open_quote = False
    start = 0
    while True:
        pos = find(nl, start)
        if pos < 0:
            return
        seg = data[start:pos]
        if enc in seg:
            if pairs is not None and esc in seg:
                seg = pairs.sub(nl[:0], seg)
            if seg.count(enc) % 2:
                open_quote = not open_quote
        start = pos + 1
        if not open_quote:
            yield start


def _record_end(data: Any, k: int, dialect: CsvDialect) -> int:
    """The index just after the ``k``-th record (k >= 1) of a block."""
    end = next(islice(_record_breaks(data, dialect), k - 1, None), None)
    if end is None:
        raise ValueError(f"the block holds fewer than {k} records")
    return end


def count_block_records(data: str | bytes, dialect: CsvDialect) -> int:
    """Whole records in a formatted block (a line count when nothing is enclosed)."""
    enc: Any = dialect.enclosed.encode() if isinstance(data, bytes) else dialect.enclosed
    if enc not in data:
        return data.count(b"\n" if isinstance(data, bytes) else "\n")  # type: ignore[arg-type]
    return sum(1 for _ in _record_breaks(data, dialect))


# --- writing -------------------------------------------------------------------------------


class ChunkWriter:
    """Write one table's CSV data as ``n<node>.<k>.csv`` chunks (plus its meta.sql).

    Use as a context manager. Each chunk is written to ``n1.k.csv.part`` and renamed when
    it is complete (``chunk_rows`` records) or on close, so a crash never leaves a half file
    that looks complete; on an exception the partial chunk is deleted and the finished ones
    stay. A non-empty target directory is refused as KWDB refuses it, unless ``resume``:
    then the finished chunks are kept and writing goes on with the next chunk number
    (``resumed_files``; with chunks of ``chunk_rows`` records, the rows to skip are
    ``len(resumed_files) * chunk_rows``).

    With ``dialect.header`` the column names head every chunk (as KWDB's ``column_name``
    does), so ``column_names`` is then required. With no rows at all no data file is
    written (KWDB writes none either), except a header-only ``n1.0.csv`` with a header.
    """

    def __init__(self, directory: str | os.PathLike[str], dialect: CsvDialect | None = None, *,
                 chunk_rows: int = DEFAULT_CHUNK_ROWS, node: int = NODE,
                 column_names: Sequence[str] | None = None, meta_sql: str | None = None,
                 resume: bool = False, check_empty: bool = True, fsync: bool = True,
                 on_chunk: Callable[[str, int, int, str], None] | None = None) -> None:
        if chunk_rows < 0:
            raise UsageError(f"chunk_rows must be 0 (no split) or more, not {chunk_rows}")
        self.directory = Path(directory)
        self.dialect = dialect or CsvDialect()
        self.chunk_rows = int(chunk_rows)
        self.node = node
        self.column_names = list(column_names) if column_names is not None else None
        if self.dialect.header and self.column_names is None:
            raise UsageError("a header (column_name) needs the column names")
        self.meta_sql = meta_sql
        self.resume = resume
        self.check_empty = check_empty
        self.fsync = fsync
        #: called with (file name, records, bytes, sha256) as each chunk is renamed into place (the manifest)
        self.on_chunk = on_chunk
        self._sha: Any = None
        self._chunk_bytes = 0
        self._codec = self.dialect.python_codec
        self._header = b""
        if self.dialect.header and self.column_names is not None:
            try:
                self._header = (self.dialect.header_line(self.column_names) + "\n").encode(self._codec)
            except UnicodeEncodeError as exc:
                raise _encode_error(exc, self.dialect.charset) from None
        self.files: list[Path] = []  # finished chunks written by this writer
        self.resumed_files: list[Path] = []  # finished chunks found when resuming
        self.rows = 0
        self.bytes = 0
        self.next_chunk = 0
        self._f: BinaryIO | None = None  # the current chunk, open
        self._part: Path | None = None
        self._cur_rows = 0
        self._opened = False
        self._closed = False

    # --- lifecycle ---

    def open(self) -> ChunkWriter:
        if self._opened:
            return self
        d = self.directory
        if self.resume and d.is_dir():
            for p in d.iterdir():
                if p.name.endswith(PART_SUFFIX):
                    p.unlink()
            mine = sorted((parse_chunk_name(p.name), p) for p in d.iterdir() if parse_chunk_name(p.name))
            self.resumed_files = [p for key, p in mine if key is not None and key[0] == self.node]
            if self.resumed_files:
                last = parse_chunk_name(self.resumed_files[-1].name)
                assert last is not None
                self.next_chunk = last[1] + 1
        elif self.check_empty:
            check_empty(d)
        d.mkdir(parents=True, exist_ok=True)
        if self.meta_sql is not None:
            write_atomic(d / META, meta_sql_text([self.meta_sql]).encode("utf-8"), fsync=self.fsync)
        self._opened = True
        return self

    def __enter__(self) -> ChunkWriter:
        return self.open()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def close(self) -> None:
        """Finish the current chunk (rename it into place)."""
        if self._closed:
            return
        self.open()
        if self._f is not None:
            self._finish_chunk()
        elif self._header and not self.files and not self.resumed_files:
            self._start_chunk()  # header only: the table has no rows
            self._finish_chunk()
        self._closed = True

    def abort(self) -> None:
        """Drop the unfinished chunk; finished chunks stay (resume from them)."""
        f, part = self._f, self._part
        self._f, self._part = None, None
        if f is not None:
            try:
                f.close()
            finally:
                if part is not None and part.exists():
                    part.unlink()
        self._closed = True

    # --- writing ---

    @property
    def current_rows(self) -> int:
        """Records in the chunk being written."""
        return self._cur_rows

    def _start_chunk(self) -> None:
        path = self.directory / chunk_name(self.next_chunk, self.node)
        self._part = path.with_name(path.name + PART_SUFFIX)
        self._f = open(self._part, "wb")  # noqa: SIM115 - closed in _finish_chunk/abort
        self._cur_rows = 0
        self._sha = hashlib.sha256()
        self._chunk_bytes = 0
        if self._header:
            self._f.write(self._header)
            self._sha.update(self._header)
            self._chunk_bytes += len(self._header)
            self.bytes += len(self._header)

    def _finish_chunk(self) -> None:
        f, part = self._f, self._part
        assert f is not None and part is not None
        if self.fsync:
            f.flush()
            os.fsync(f.fileno())
        f.close()
        final = part.with_name(part.name[: -len(PART_SUFFIX)])
        os.replace(part, final)
        if self.fsync:
            _sync_dir(final.parent)
        self.files.append(final)
        if self.on_chunk is not None:
            self.on_chunk(final.name, self._cur_rows, self._chunk_bytes, self._sha.hexdigest())
        self._f, self._part = None, None
        self.next_chunk += 1
        self._cur_rows = 0

    def _write(self, data: bytes, nrows: int) -> None:
        """Whole records that fit in the current chunk."""
        if self._closed:
            raise ValueError("the chunk writer is closed")
        if not self._opened:
            self.open()
        if self._f is None:
            self._start_chunk()
        assert self._f is not None
        self._f.write(data)
        self._sha.update(data)
        self._chunk_bytes += len(data)
        self.bytes += len(data)
        self.rows += nrows
        self._cur_rows += nrows
        if self.chunk_rows and self._cur_rows >= self.chunk_rows:
            self._finish_chunk()

    def _room(self) -> int:
        return self.chunk_rows - self._cur_rows if self.chunk_rows else _BATCH

    def write_rows(self, rows: Iterable[Sequence[str | None]]) -> int:
        """Rows of text (None = NULL), formatted in the dialect. Returns how many."""
        it = iter(rows)
        fmt = self.dialect.format_rows
        codec = self._codec
        n = 0
        while True:
            batch = list(islice(it, min(self._room(), _BATCH)))
            if not batch:
                return n
            try:
                data = fmt(batch).encode(codec)
            except UnicodeEncodeError as exc:
                raise _encode_error(exc, self.dialect.charset) from None
            self._write(data, len(batch))
            n += len(batch)

    def write_text_block(self, block: str | bytes, rows: int | None = None) -> int:
        """An already formatted block of whole records in this dialect (the fast path for
        PostgreSQL's ``COPY ... TO STDOUT (FORMAT csv)``); ``bytes`` are UTF-8.

        ``rows`` is how many records it holds; None counts them (a line count unless a field
        is enclosed; a line break inside a quoted field is not a record). The block is split
        at a record boundary where a chunk fills up. Returns the records written.
        """
        if not block:
            if rows:
                raise ValueError(f"an empty block cannot hold {rows} records")
            return 0
        nl: Any = b"\n" if isinstance(block, bytes) else "\n"
        if not block.endswith(nl):
            raise ValueError("a text block must end with a line break (whole records only)")
        enc: Any = self.dialect.enclosed.encode() if isinstance(block, bytes) else self.dialect.enclosed
        if rows is None:
            rows = count_block_records(block, self.dialect)
        elif rows < 0:
            raise ValueError("rows must be >= 0")
        elif enc not in block:
            lines = block.count(nl)
            if lines != rows:
                raise ValueError(f"the block holds {lines} records, not {rows}")
        total = rows
        while rows:
            room = self._room() if self.chunk_rows else rows
            if rows <= room:
                self._write(self._encode_block(block), rows)
                break
            cut = _record_end(block, room, self.dialect)
            self._write(self._encode_block(block[:cut]), room)
            block = block[cut:]
            rows -= room
        return total

    def _encode_block(self, block: str | bytes) -> bytes:
        try:
            if isinstance(block, bytes):
                if self._codec == "utf-8":
                    return block
                return block.decode("utf-8").encode(self._codec)
            return block.encode(self._codec)
        except UnicodeEncodeError as exc:
            raise _encode_error(exc, self.dialect.charset) from None


class DatabaseLayoutWriter:
    """Write a database export tree as KWDB does; hands out a :class:`ChunkWriter` per table.

    The root ``meta.sql`` (``CREATE [TS] DATABASE``) is written when the writer opens and
    rewritten (atomically) each time a TS table is added, so it always lists the tables
    whose data directories exist. A relational table gets ``<schema>/<table>/meta.sql``.
    """

    def __init__(self, root: str | os.PathLike[str], database: str, *, is_ts: bool = False,
                 dialect: CsvDialect | None = None, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                 database_options: str = "", resume: bool = False, fsync: bool = True) -> None:
        self.root = Path(root)
        self.database = database
        self.is_ts = is_ts
        self.dialect = dialect or CsvDialect()
        self.chunk_rows = chunk_rows
        self.database_options = database_options.strip()
        self.resume = resume
        self.fsync = fsync
        self.writers: list[tuple[str, str, ChunkWriter]] = []
        self._root_statements: list[str] = [self.database_statement()]
        self._schemas: set[str] = set()
        self._opened = False

    def database_statement(self) -> str:
        kind = "CREATE TS DATABASE" if self.is_ts else "CREATE DATABASE"
        opts = f" {self.database_options}" if self.database_options else ""
        return f"{kind} {quote_ident(self.database)}{opts}"

    def open(self) -> DatabaseLayoutWriter:
        if self._opened:
            return self
        if not self.resume:
            check_empty(self.root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._write_root()
        self._opened = True
        return self

    def _write_root(self) -> None:
        write_atomic(self.root / META, meta_sql_text(self._root_statements).encode("utf-8"), fsync=self.fsync)

    def __enter__(self) -> DatabaseLayoutWriter:
        return self.open()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            for _, _, w in self.writers:
                w.abort()

    def table(self, name: str, ddl: str, *, schema: str = "public", column_names: Sequence[str] | None = None,
              extra_statements: Sequence[str] = ()) -> ChunkWriter:
        """A writer for one table's data (open; close it, or leave that to :meth:`close`).

        ``ddl`` is its CREATE TABLE; ``extra_statements`` (COMMENT ON, GRANT ...) follow it.
        TS tables live in ``public``; their DDL goes into the root meta.sql.
        """
        self.open()
        if self.is_ts:
            if schema != "public":
                raise UsageError(f"a time-series table lives in schema public, not {schema}")
            self._root_statements.append(ddl)
            self._root_statements.extend(extra_statements)
            self._write_root()
            meta: str | None = None
        else:
            if schema != "public" and schema not in self._schemas:
                sdir = self.root / schema
                sdir.mkdir(parents=True, exist_ok=True)
                write_atomic(sdir / META, meta_sql_text([f"CREATE SCHEMA {quote_ident(schema)}"]).encode("utf-8"),
                             fsync=self.fsync)
            meta = "\n".join(statement_text(s) for s in [ddl, *extra_statements])
        self._schemas.add(schema)
        w = ChunkWriter(self.root / schema / name, self.dialect, chunk_rows=self.chunk_rows,
                        column_names=column_names, meta_sql=meta, resume=self.resume, fsync=self.fsync)
        w.open()
        self.writers.append((schema, name, w))
        return w

    def close(self) -> None:
        self.open()
        for _, _, w in self.writers:
            w.close()

    @property
    def rows(self) -> int:
        return sum(w.rows for _, _, w in self.writers)

    @property
    def bytes(self) -> int:
        return sum(w.bytes for _, _, w in self.writers)

    @property
    def files(self) -> list[Path]:
        return [f for _, _, w in self.writers for f in w.files]


# --- SQL text: statements and CREATE TABLE -----------------------------------------------------

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>--[^\n]*|/\*.*?\*/)
  | (?P<estr>[eE]'(?:[^'\\]|\\.|'')*')
  | (?P<str>'(?:[^']|'')*')
  | (?P<dollar>\$\$.*?\$\$|\$(?P<tag>[A-Za-z_]\w*)\$.*?\$(?P=tag)\$)
  | (?P<qident>"(?:[^"]|"")*")
  | (?P<num>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)
  | (?P<word>[^\W\d]\w*(?:\$\w*)*)
  | (?P<op>::|<=|>=|<>|!=|\|\||[^\s])
    """,
    re.S | re.X,
)


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # word, qident, str, num, op (comments and white space are dropped)
    text: str
    start: int
    end: int

    @property
    def up(self) -> str:
        return self.text.upper() if self.kind == "word" else ""


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    for m in _TOKEN_RE.finditer(text):
        kind = m.lastgroup
        if kind in ("ws", "comment"):
            continue
        if kind in ("estr", "dollar"):
            kind = "str"
        elif kind == "tag":  # the inner group of a dollar quote
            kind = "str"
        out.append(_Tok(kind or "op", m.group(), m.start(), m.end()))
    return out


def split_statements(text: str) -> list[str]:
    """The statements of a SQL script (no trailing ``;``), robust to quotes and comments
    and to statements run together with no line break (KWDB's ``CREATE DATABASE rdb;``)."""
    out: list[str] = []
    start = 0
    has_code = False
    for m in _TOKEN_RE.finditer(text):
        kind = m.lastgroup
        if kind in ("ws", "comment"):
            continue
        if kind == "op" and m.group() == ";":
            if has_code:
                out.append(text[start:m.start()].strip())
            start = m.end()
            has_code = False
        else:
            if not has_code:
                start = m.start()
            has_code = True
    if has_code:
        out.append(text[start:].strip())
    return out


def _ident(tok: _Tok) -> str:
    if tok.kind == "qident":
        return tok.text[1:-1].replace('""', '"')
    return tok.text.lower() if tok.kind == "word" else tok.text


def statement_verb(statement: str) -> str:
    """``CREATE TABLE``, ``CREATE TS DATABASE``, ``COMMENT ON``, ``GRANT`` ... (upper case)."""
    words: list[str] = []
    for t in _tokens(statement)[:4]:
        if t.kind != "word":
            break
        words.append(t.up)
    if not words:
        return ""
    if words[0] == "CREATE":
        rest = [w for w in words[1:] if w not in ("OR", "REPLACE", "TEMP", "TEMPORARY", "UNIQUE")]
        if rest[:2] == ["TS", "DATABASE"]:
            return "CREATE TS DATABASE"
        return "CREATE " + rest[0] if rest else "CREATE"
    if words[0] in ("COMMENT", "ALTER", "DROP") and len(words) > 1:
        return f"{words[0]} {words[1]}"
    return words[0]


@dataclass
class Column:
    """One column of a CREATE TABLE. For a TS table the tag columns come after the data
    columns, which is also the field order of its CSV."""

    name: str
    type: str  # as written, white space normalised: VARCHAR(50), TIMESTAMPTZ(3), DOUBLE PRECISION
    not_null: bool = False
    is_tag: bool = False
    primary_tag: bool = False
    default: str | None = None

    @property
    def base_type(self) -> str:
        """The type's first word, upper case, without length or precision: ``VARCHAR``."""
        m = re.match(r"[A-Za-z_][A-Za-z_0-9]*", self.type)
        return m.group().upper() if m else self.type.upper()


@dataclass
class TableDef:
    """What :func:`parse_create_table` understood of a CREATE TABLE."""

    name: str
    qualifier: list[str] = field(default_factory=list)  # db / schema parts before the name
    columns: list[Column] = field(default_factory=list)
    primary_key: list[str] = field(default_factory=list)
    primary_tags: list[str] = field(default_factory=list)
    is_ts: bool = False
    options: str = ""  # what follows the column list(s): retentions, activetime, PARTITION BY ...

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


_COL_STOP = {"NOT", "NULL", "DEFAULT", "PRIMARY", "UNIQUE", "CHECK", "REFERENCES", "CONSTRAINT",
             "COLLATE", "AS", "GENERATED", "FAMILY", "CREATE", "COMMENT", "ON", "INDEX"}
_CONSTRAINT_START = {"CONSTRAINT", "PRIMARY", "FAMILY", "INDEX", "UNIQUE", "CHECK", "FOREIGN", "INVERTED",
                     "EXCLUDE", "LIKE"}
_TYPE_WORDS = {"INT", "INT2", "INT4", "INT8", "INTEGER", "SMALLINT", "BIGINT", "FLOAT", "FLOAT4", "FLOAT8",
               "REAL", "DOUBLE", "DECIMAL", "NUMERIC", "BOOL", "BOOLEAN", "CHAR", "NCHAR", "VARCHAR",
               "NVARCHAR", "TEXT", "STRING", "BYTES", "BYTEA", "VARBYTES", "DATE", "TIME", "TIMESTAMP",
               "TIMESTAMPTZ", "INTERVAL", "JSON", "JSONB", "UUID", "INET", "GEOMETRY", "SERIAL", "BIGSERIAL",
               "SMALLSERIAL", "BIT", "VARBIT", "CHARACTER", "BLOB", "CLOB", "OID"}


def _split_top(toks: list[_Tok], i: int) -> tuple[list[list[_Tok]], int]:
    """Items of a parenthesised list starting at ``toks[i] == "("``, split at top-level
    commas; returns (items, index after the closing parenthesis)."""
    assert toks[i].text == "("
    items: list[list[_Tok]] = [[]]
    depth = 0
    j = i + 1
    while j < len(toks):
        t = toks[j]
        if t.kind == "op" and t.text in "([":
            depth += 1
        elif t.kind == "op" and t.text in ")]":
            if depth == 0:
                return [it for it in items if it], j + 1
            depth -= 1
        elif t.kind == "op" and t.text == "," and depth == 0:
            items.append([])
            j += 1
            continue
        items[-1].append(t)
        j += 1
    return [it for it in items if it], j  # unbalanced: forgive


def _name_list(toks: list[_Tok]) -> list[str]:
    """``(a ASC, "B" DESC)`` -> [a, B] (the parentheses included or not)."""
    if toks and toks[0].text == "(":
        items, _ = _split_top(toks, 0)
    else:
        items = [toks]
    return [_ident(it[0]) for it in items if it and it[0].kind in ("word", "qident")]


def _type_text(toks: Sequence[_Tok]) -> str:
    out = ""
    prev = ""
    for t in toks:
        s = t.text
        if not out or s in ("(", ")", "[", "]", ",") or prev in ("(", "[", ","):
            out += s
        else:
            out += " " + s
        prev = s
    return out


def _parse_column(item: list[_Tok], is_tag: bool, source: str) -> Column | None:
    if not item or item[0].kind not in ("word", "qident"):
        return None
    name = _ident(item[0])
    j = 1
    depth = 0
    type_toks: list[_Tok] = []
    while j < len(item):
        t = item[j]
        if depth == 0 and (t.up in _COL_STOP or t.kind == "str"):
            break
        if t.kind == "op" and t.text in "([":
            depth += 1
        elif t.kind == "op" and t.text in ")]":
            depth -= 1
        type_toks.append(t)
        j += 1
    col = Column(name, _type_text(type_toks), is_tag=is_tag)
    rest = item[j:]
    k = 0
    while k < len(rest):
        u = rest[k].up
        if u == "NOT" and k + 1 < len(rest) and rest[k + 1].up == "NULL":
            col.not_null = True
            k += 2
            continue
        if u == "PRIMARY" and k + 1 < len(rest) and rest[k + 1].up == "KEY":
            col.not_null = True
            k += 2
            continue
        if u == "DEFAULT":
            k += 1
            d0 = k
            depth = 0
            while k < len(rest):
                t = rest[k]
                if depth == 0 and t.up in _COL_STOP - {"NULL"}:
                    break
                if t.kind == "op" and t.text in "([":
                    depth += 1
                elif t.kind == "op" and t.text in ")]":
                    depth -= 1
                k += 1
            if d0 < k:
                col.default = source[rest[d0].start:rest[k - 1].end]
            continue
        k += 1
    return col


def _is_constraint(item: list[_Tok]) -> bool:
    first = item[0].up
    if first not in _CONSTRAINT_START:
        return False
    if len(item) > 1 and item[1].up in _TYPE_WORDS:
        return False  # a column that happens to be called "family", "index" ...
    return True


def parse_create_table(ddl: str) -> TableDef:
    """A forgiving parser for KWDB's (and PostgreSQL's) CREATE TABLE.

    Relational: columns with types, NOT NULL, DEFAULT (``unique_rowid()``...), inline or
    ``CONSTRAINT "primary" PRIMARY KEY (a ASC, b)``; FAMILY, INDEX, CHECK ... are skipped.
    Time-series: ``TAGS (...)`` or ``ATTRIBUTES (...)``, ``PRIMARY TAGS (...)``, then
    retentions / activetime / partition options, kept as text in ``options``.
    Raises ValueError when the text is not a CREATE TABLE at all.
    """
    return _parse_create_table(_tokens(ddl), ddl)


def _parse_create_table(toks: list[_Tok], ddl: str) -> TableDef:
    i = 0
    n = len(toks)

    def up(k: int) -> str:
        return toks[k].up if k < n else ""

    if up(0) != "CREATE":
        raise ValueError("not a CREATE TABLE statement")
    i = 1
    while up(i) in ("TEMP", "TEMPORARY", "UNLOGGED", "GLOBAL", "LOCAL"):
        i += 1
    if up(i) != "TABLE":
        raise ValueError("not a CREATE TABLE statement")
    i += 1
    if up(i) == "IF" and up(i + 1) == "NOT" and up(i + 2) == "EXISTS":
        i += 3
    parts: list[str] = []
    while i < n and toks[i].kind in ("word", "qident"):
        parts.append(_ident(toks[i]))
        i += 1
        if i < n and toks[i].text == ".":
            i += 1
            continue
        break
    if not parts:
        raise ValueError("CREATE TABLE without a table name")
    table = TableDef(parts[-1], parts[:-1])
    if i >= n or toks[i].text != "(":
        return table  # CREATE TABLE ... AS / LIKE: no column list to read
    items, i = _split_top(toks, i)
    for item in items:
        if _is_constraint(item):
            u = [t.up for t in item]
            if "PRIMARY" in u:
                k = u.index("PRIMARY")
                if k + 1 < len(u) and u[k + 1] == "KEY":
                    rest = item[k + 2:]
                    table.primary_key = _name_list(rest)
            continue
        col = _parse_column(item, False, ddl)
        if col is None:
            continue
        if any(t.up == "PRIMARY" for t in item) and _has_inline_pk(item):
            table.primary_key = [col.name]
        table.columns.append(col)
    if up(i) in ("TAGS", "ATTRIBUTES") and i + 1 < n and toks[i + 1].text == "(":
        table.is_ts = True
        tag_items, i = _split_top(toks, i + 1)
        for item in tag_items:
            col = _parse_column(item, True, ddl)
            if col is not None:
                table.columns.append(col)
    if up(i) == "PRIMARY" and up(i + 1) in ("TAGS", "ATTRIBUTES") and i + 2 < n and toks[i + 2].text == "(":
        table.is_ts = True
        items2, i = _split_top(toks, i + 2)
        table.primary_tags = [_ident(it[0]) for it in items2 if it and it[0].kind in ("word", "qident")]
        for c in table.columns:
            if c.name in table.primary_tags:
                c.primary_tag = True
    end = n
    while end > i and toks[end - 1].text == ";":
        end -= 1
    if i < end:
        table.options = " ".join(ddl[toks[i].start:toks[end - 1].end].split())
    return table


def _has_inline_pk(item: list[_Tok]) -> bool:
    for a, b in zip(item, item[1:], strict=False):
        if a.up == "PRIMARY" and b.up == "KEY":
            return True
    return False


def parse_create_database(statement: str) -> tuple[str, bool, str]:
    """``CREATE [TS] DATABASE [IF NOT EXISTS] name [options]`` -> (name, is_ts, options)."""
    toks = _tokens(statement)
    ups = [t.up for t in toks]
    if not ups or ups[0] != "CREATE":
        raise ValueError("not a CREATE DATABASE statement")
    i = 1
    is_ts = False
    if i < len(ups) and ups[i] == "TS":
        is_ts = True
        i += 1
    if i >= len(ups) or ups[i] != "DATABASE":
        raise ValueError("not a CREATE DATABASE statement")
    i += 1
    if ups[i:i + 3] == ["IF", "NOT", "EXISTS"]:
        i += 3
    if i >= len(toks):
        raise ValueError("CREATE DATABASE without a name")
    name = _ident(toks[i])
    options = " ".join(statement[toks[i + 1].start:].split()) if i + 1 < len(toks) else ""
    return name, is_ts, options


# --- reading -------------------------------------------------------------------------------


@dataclass
class LayoutTable:
    """One table found in an export: its DDL, columns and data files in import order."""

    name: str
    schema: str = "public"
    ddl: str | None = None
    is_ts: bool = False
    columns: list[Column] = field(default_factory=list)
    primary_key: list[str] = field(default_factory=list)
    data_files: list[Path] = field(default_factory=list)
    reject_files: list[Path] = field(default_factory=list)
    directory: Path | None = None
    statements: list[str] = field(default_factory=list)  # COMMENT ON, GRANT ... that go with it
    options: str = ""  # TS retentions / activetime ...

    @property
    def column_names(self) -> list[str]:
        """Also the CSV field order (for a TS table: data columns, then tags)."""
        return [c.name for c in self.columns]

    @property
    def tag_columns(self) -> list[Column]:
        return [c for c in self.columns if c.is_tag]

    @property
    def data_columns(self) -> list[Column]:
        return [c for c in self.columns if not c.is_tag]

    @property
    def primary_tags(self) -> list[str]:
        return [c.name for c in self.columns if c.primary_tag]

    @property
    def key_columns(self) -> list[str]:
        """What identifies a row: the primary key; for a TS table the timestamp and the
        primary tags (rows with the same ones deduplicate)."""
        if self.is_ts and self.columns:
            return [self.columns[0].name, *self.primary_tags]
        return list(self.primary_key)

    @property
    def qualified_name(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass
class Layout:
    """What :func:`read_layout` found."""

    kind: str  # "file" (one CSV), "files" (a folder of CSVs), "table", "database"
    path: Path
    database: str | None = None
    is_ts: bool = False
    tables: list[LayoutTable] = field(default_factory=list)
    statements: list[str] = field(default_factory=list)  # the root meta.sql
    database_options: str = ""  # RETENTIONS ... of CREATE TS DATABASE
    schema_statements: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def table(self, name: str, schema: str | None = None) -> LayoutTable:
        for t in self.tables:
            if t.name == name and (schema is None or t.schema == schema):
                return t
        raise KeyError(f"{schema + '.' if schema else ''}{name}")

    @property
    def data_files(self) -> list[Path]:
        return [f for t in self.tables for f in t.data_files]


def read_sql_file(path: Path) -> str:
    """A meta.sql as text: UTF-8 (KWDB writes it so, whatever the data charset), else
    GB18030, else Latin-1 — never an error for an odd byte."""
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for codec in ("utf-8", "gb18030"):
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def _files_in(directory: Path) -> tuple[list[Path], list[Path], list[Path]]:
    """(chunk files by node then chunk number, other *.csv by name, reject files)."""
    chunks: list[tuple[tuple[int, int], Path]] = []
    others: list[Path] = []
    rejects: list[tuple[tuple[int, int], Path]] = []
    for p in directory.iterdir():
        if not p.is_file():
            continue
        key = parse_chunk_name(p.name)
        if key is not None:
            chunks.append((key, p))
            continue
        m = _REJECT_RE.match(p.name)
        if m:
            rejects.append(((int(m.group(1)), int(m.group(2))), p))
        elif p.suffix.lower() == ".csv" and not p.name.startswith("."):
            others.append(p)
    return [p for _, p in sorted(chunks)], sorted(others), [p for _, p in sorted(rejects)]


def _apply_def(t: LayoutTable, ddl: str, warnings: list[str]) -> None:
    t.ddl = ddl
    try:
        d = parse_create_table(ddl)
    except ValueError as exc:
        warnings.append(f"{t.qualified_name}: cannot read its CREATE TABLE ({exc})")
        return
    t.columns = d.columns
    t.primary_key = d.primary_key
    t.is_ts = t.is_ts or d.is_ts
    t.options = d.options


def _table_from_dir(directory: Path, schema: str, warnings: list[str], *, name: str | None = None) -> LayoutTable:
    t = LayoutTable(name or directory.name, schema, directory=directory)
    chunks, others, rejects = _files_in(directory)
    t.data_files = chunks + others
    t.reject_files = rejects
    if others:
        warnings.append(f"{t.qualified_name}: also reading {', '.join(p.name for p in others)} "
                        f"(not named n<node>.<chunk>.csv)")
    meta = directory / META
    if meta.is_file():
        stmts = split_statements(read_sql_file(meta))
        create = next((s for s in stmts if statement_verb(s) == "CREATE TABLE"), None)
        if create is None:
            warnings.append(f"{t.qualified_name}: {meta} holds no CREATE TABLE")
        else:
            _apply_def(t, create, warnings)
        t.statements = [s for s in stmts if s is not create]
    return t


def _read_database(root: Path, stmts: list[str], create_db: str) -> Layout:
    name, is_ts, options = parse_create_database(create_db)
    lay = Layout("database", root, name, is_ts, statements=stmts, database_options=options)
    seen: set[tuple[str, str]] = set()
    # TS tables: CREATE TABLE statements in the root meta.sql, data in public/<table>/
    by_name: dict[str, LayoutTable] = {}
    for s in stmts:
        verb = statement_verb(s)
        if verb == "CREATE TABLE":
            try:
                tname = parse_create_table(s).name
            except ValueError:
                lay.warnings.append(f"cannot read a CREATE TABLE in {root / META}")
                continue
            d = root / "public" / tname
            t = (_table_from_dir(d, "public", lay.warnings, name=tname) if d.is_dir()
                 else LayoutTable(tname, "public", directory=d))
            t.is_ts = is_ts
            _apply_def(t, s, lay.warnings)
            if not t.data_files:
                lay.warnings.append(f"{t.qualified_name}: no data files")
            lay.tables.append(t)
            by_name[tname] = t
            seen.add(("public", tname))
    # relational tables (and anything else): <schema>/<table>/
    for sdir in sorted(p for p in root.iterdir() if p.is_dir()):
        smeta = sdir / META
        if smeta.is_file():
            lay.schema_statements[sdir.name] = split_statements(read_sql_file(smeta))
        for tdir in sorted(p for p in sdir.iterdir() if p.is_dir()):
            if (sdir.name, tdir.name) in seen:
                continue
            t = _table_from_dir(tdir, sdir.name, lay.warnings)
            if t.ddl is None and not t.data_files:
                continue
            if t.ddl is None:
                lay.warnings.append(f"{t.qualified_name}: no meta.sql, columns unknown")
                t.is_ts = is_ts
            lay.tables.append(t)
    return lay


def read_layout(path: str | os.PathLike[str]) -> Layout:
    """Recognise what ``path`` holds: one CSV file, a table export (meta.sql + chunks, or
    chunks only from ``data_only``), a database export tree (relational or TS, with or
    without meta.sql), or a plain folder of CSV files (one table each).

    Raises UsageError when the path is missing or holds none of these.
    """
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{p} does not exist")
    if p.is_file():
        if p.name == META:
            return read_layout(p.parent)
        name = p.name[: -len(".csv")] if p.name.lower().endswith(".csv") else p.stem
        return Layout("file", p, tables=[LayoutTable(name, directory=p.parent, data_files=[p])])
    meta = p / META
    if meta.is_file():
        stmts = split_statements(read_sql_file(meta))
        create_db = next((s for s in stmts if statement_verb(s) in ("CREATE DATABASE", "CREATE TS DATABASE")), None)
        if create_db is not None:
            return _read_database(p, stmts, create_db)
        warnings: list[str] = []
        t = _table_from_dir(p, "public", warnings)
        return Layout("table", p, is_ts=t.is_ts, tables=[t], statements=stmts, warnings=warnings)
    chunks, others, _ = _files_in(p)
    if chunks:
        warnings = []
        t = _table_from_dir(p, "public", warnings)
        warnings.append(f"{p}: no meta.sql (a data_only export?): columns unknown")
        return Layout("table", p, tables=[t], warnings=warnings)
    # a database tree exported with data_only: <schema>/<table>/n1.0.csv
    tree = [t for s in sorted(x for x in p.iterdir() if x.is_dir())
            for t in sorted(x for x in s.iterdir() if x.is_dir()) if _files_in(t)[0]]
    if tree:
        lay = Layout("database", p, p.name, warnings=[f"{p}: no meta.sql (a data_only export?): "
                                                      f"engine and columns unknown"])
        for tdir in tree:
            lay.tables.append(_table_from_dir(tdir, tdir.parent.name, lay.warnings))
        return lay
    if others:
        return Layout("files", p, tables=[LayoutTable(f.name[:-4], directory=p, data_files=[f]) for f in others])
    raise UsageError(f"{p} holds no CSV data and no KWDB export (meta.sql, n1.0.csv, <schema>/<table>/)")
