"""KWDB's CSV dialect: writing rows as KWDB EXPORT writes them, and a fast streaming reader.

The options are KWDB's own (``EXPORT ... WITH delimiter, enclosed, escaped, nullas,
charset, column_name``; ``IMPORT ... WITH delimiter, enclosed, escaped, nullif, charset``)
and are validated the way KWDB validates them.

NULL and the empty string
    With the default ``nullas=""`` an *unquoted* empty field is NULL and an empty string
    is written quoted, as ``""`` (``''`` with ``enclosed="'"``). That is PostgreSQL's
    ``COPY ... CSV`` convention; we adopt it for KWDB's default too, because KWDB's
    recorded behaviour does not say how it tells the two apart and a migration must not
    turn ``''`` into NULL (or back). With ``nullas='NULL'`` (or ``'\\N'``...) the unquoted
    text ``NULL`` is NULL and a real string ``NULL`` is written quoted. On reading, a quoted
    field is never NULL.

Quoting is minimal: a field is enclosed only when it must be (see :meth:`CsvDialect.format_row`).
Inside an enclosed field the enclosed character is escaped with the escape character
(``""`` when ``escaped='"'``, ``\\"`` when ``escaped='\\'``); when the escape character
differs from the enclosed character it escapes itself too (``\\\\``), otherwise a value
ending in the escape character could not be read back.

Records end with ``\\n`` (KWDB writes LF). The reader also accepts CRLF.

The reading rule set (one for every path)
    The same rules decide what a record is for every reader: kwtui's own reader
    (:func:`iter_records`, used by the bisector and the INSERT loader), the batch splitter
    that feeds the server's COPY (:func:`scan_block`) and KWDB's own IMPORT (whose options
    ``delimiter``, ``enclosed``, ``escaped``, ``nullif`` and ``charset`` are this class's).

    * A record ends at LF outside a quoted field; a CR right before that LF belongs to the
      terminator (CRLF), wherever the file mixes CRLF and LF lines. A lone CR elsewhere is data,
      as in KWDB's IMPORT (PostgreSQL's COPY would take it for a line end: kwtui sends such
      a record to the server with the field enclosed). Inside a quoted field CR and LF are data.
    * A field is quoted only when its *first* character is ``enclosed``. A quoted field ends
      at an ``enclosed`` that is not escaped and must be followed by the delimiter or the end
      of the record; anything else there is an error of the record.
    * ``enclosed`` anywhere else in an unquoted field (``1,12" pipe,1.00``) is an error of
      that line, as in KWDB's IMPORT (``bare " in non-quoted-field``). PostgreSQL's
      ``COPY ... CSV`` instead starts a quoted section at *every* quote, wherever it stands:
      ``a"b"c`` loads as ``abc``, ``"ab"cd`` as ``abcd``, ``a""b`` as ``ab``, and an odd
      quote swallows the following lines into one field until the next quote. So kwtui
      finds such lines itself before the server sees a batch (:func:`scan_block`): they go
      to the reject file with their line number and reason and are never merged with the
      lines after them; the record that follows starts on the next line.
    * A UTF-8 byte order mark at the start of a file is never data (skipped on every path).
    * Every record read is accounted for: loaded or rejected (see ``kwtui.transfer.loader``).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from kwtui.errors import UsageError

#: KWDB's charsets (canonical spelling) -> Python codec
CHARSETS: dict[str, str] = {"UTF-8": "utf-8", "GBK": "gbk", "GB18030": "gb18030", "BIG5": "big5"}

_CHARSET_ALIASES: dict[str, str] = {
    "UTF8": "UTF-8", "UTF-8": "UTF-8", "UTF_8": "UTF-8", "U8": "UTF-8",
    "GBK": "GBK", "CP936": "GBK", "936": "GBK",
    "GB18030": "GB18030", "GB-18030": "GB18030", "GB_18030": "GB18030",
    "BIG5": "BIG5", "BIG-5": "BIG5", "BIG_5": "BIG5", "CP950": "BIG5",
}

ENCLOSED_CHARS = ('"', "'")
ESCAPED_CHARS = ('"', "\\")

#: the default bound on one record while a quoted field is still open (a stray quote
#: must not swallow a 10 GB file into memory)
MAX_RECORD_BYTES = 64 * 1024 * 1024

_CHUNK = 1 << 20
_BOM = b"\xef\xbb\xbf"


def normalise_charset(name: str) -> str:
    """``utf8`` / ``gbk`` / ``Big5`` ... -> ``UTF-8`` / ``GBK`` / ``BIG5``; UsageError if unknown."""
    key = (name or "").strip().upper()
    canon = _CHARSET_ALIASES.get(key)
    if canon is None:
        raise UsageError(f"charset {name!r} is not supported",
                         hint="use UTF-8, GBK, GB18030 or BIG5")
    return canon


@dataclass(frozen=True)
class CsvDialect:
    """One KWDB CSV dialect. Immutable; validated on construction (UsageError)."""

    delimiter: str = ","
    enclosed: str = '"'
    escaped: str = '"'
    nullas: str = ""
    charset: str = "UTF-8"
    header: bool = False

    def __post_init__(self) -> None:
        d, e, c = self.delimiter, self.enclosed, self.escaped
        if not isinstance(d, str) or len(d) != 1:
            raise UsageError(f"delimiter must be exactly one character, not {d!r}")
        if d in ("\n", "\r"):
            raise UsageError("delimiter cannot be a line break")
        if d == '"':
            raise UsageError('delimiter cannot be the double quote (")')
        if e not in ENCLOSED_CHARS:
            raise UsageError(f"enclosed must be \" or ', not {e!r}")
        if c not in ESCAPED_CHARS:
            raise UsageError(f"escaped must be \" or \\, not {c!r}")
        if d == e:
            raise UsageError("delimiter and enclosed cannot be the same character")
        if d == c:
            raise UsageError("delimiter and escaped cannot be the same character")
        n = self.nullas
        if not isinstance(n, str):
            raise UsageError(f"nullas must be text, not {n!r}")
        if any(ch in n for ch in (d, e, "\n", "\r")):
            raise UsageError(f"nullas {n!r} cannot contain the delimiter, the enclosed character or a line break")
        if n != n.strip():
            raise UsageError(f"nullas {n!r} cannot start or end with a space")
        object.__setattr__(self, "charset", normalise_charset(self.charset))
        object.__setattr__(self, "header", bool(self.header))

    # --- derived, cached on first use (the dataclass is frozen, so they never go stale) ---

    @property
    def python_codec(self) -> str:
        """The Python codec for :attr:`charset`: ``utf-8``, ``gbk``, ``gb18030`` or ``big5``."""
        return CHARSETS[self.charset]

    @property
    def _w(self) -> _WriterTables:
        w: _WriterTables | None = self.__dict__.get("_wt")
        if w is None:
            w = _WriterTables(self)
            object.__setattr__(self, "_wt", w)
        return w

    @property
    def _r(self) -> _ReaderTables:
        r: _ReaderTables | None = self.__dict__.get("_rt")
        if r is None:
            r = _ReaderTables(self)
            object.__setattr__(self, "_rt", r)
        return r

    # --- writing -----------------------------------------------------------------------

    def quote(self, text: str) -> str:
        """``text`` enclosed, with the enclosed (and a distinct escape) character escaped."""
        e, c = self.enclosed, self.escaped
        if c != e and c in text:
            text = text.replace(c, c + c)
        if e in text:
            text = text.replace(e, c + e)
        return e + text + e

    def format_field(self, value: str | None) -> str:
        """One field: NULL -> ``nullas`` unquoted; text enclosed only when it must be."""
        if value is None:
            return self.nullas
        w = self._w
        if value == "" or value == self.nullas or w.field_needs_quote(value):
            return self.quote(value)
        return value

    def format_row(self, values: Sequence[str | None]) -> str:
        """One record *without* the line terminator; ``values`` are text or None (NULL).

        A field is enclosed when it contains the delimiter, the enclosed or the escape
        character, CR or LF, starts or ends with white space, equals ``nullas`` while not
        NULL, or is the empty string (not NULL); a record that is just ``\\.`` is enclosed
        too (PostgreSQL's end-of-data mark).
        Fast path: the row is joined once and checked with one pattern; only a row that
        needs quoting is formatted field by field.
        """
        w = self._w
        d = self.delimiter
        nullas = self.nullas
        vals: Sequence[str | None] = values
        if None in values:
            vals = [nullas if v is None else v for v in values]
        try:
            line = d.join(vals)  # type: ignore[arg-type]
        except TypeError:
            raise TypeError("format_row takes text or None; format Python values with format_value") from None
        probe = line
        if w.nullas_special and vals is not values:
            probe = d.join(["" if v is None else v for v in values])  # type: ignore[misc]
        if (line.count(d) == len(vals) - 1 and "" not in values
                and (not nullas or nullas not in values)
                and not w.line_needs_quote(probe)
                and line != "\\."):
            return line
        out = d.join([self.format_field(v) for v in values])
        return self.quote(out) if out == "\\." else out

    def format_rows(self, rows: Iterable[Sequence[str | None]]) -> str:
        """Whole records, each ended by ``\\n`` (an empty string for no rows)."""
        fmt = self.format_row
        lines = [fmt(r) for r in rows]
        return "\n".join(lines) + "\n" if lines else ""

    def header_line(self, names: Sequence[str]) -> str:
        """The ``column_name`` header record (without terminator)."""
        return self.format_row(list(names))

    # --- reading -----------------------------------------------------------------------

    def split_record(self, text: str) -> list[str | None]:
        """Fields of one complete record given as text (newlines inside quotes allowed).

        Raises ValueError for an unterminated quote or stray characters after a quote.
        """
        p = _RecordParser(self)
        state = p.feed(text)
        if state == _NEED_MORE:
            raise ValueError("unterminated quoted field")
        if state == _ERROR:
            raise ValueError(p.error)
        return p.fields

    def count_fields(self, text: str) -> int:
        """How many fields one complete record has."""
        return len(self.split_record(text))


class _WriterTables:
    """Precompiled checks for one dialect's writer (no alternation patterns: those cost
    a micro-second a line; a character class plus ``str`` methods cost a tenth)."""

    def __init__(self, dialect: CsvDialect) -> None:
        d = dialect.delimiter
        specials = "".join(re.escape(ch) for ch in sorted({dialect.enclosed, dialect.escaped, "\r", "\n"}))
        self.delimiter = d
        self.special = re.compile(f"[{specials}]")  # a joined line: delimiters are counted apart
        self.field_special = re.compile(f"[{re.escape(d)}{specials}]")
        self.space_d, self.d_space = " " + d, d + " "
        # white space other than the delimiter itself (a tab-separated line is full of tabs)
        self.white = re.compile(rf"[^\S{re.escape(d)}]" if d.isspace() else r"\s")
        self.nullas_special = bool(dialect.nullas) and self.field_needs_quote(dialect.nullas)

    def field_needs_quote(self, v: str) -> bool:
        return bool(self.field_special.search(v)) or v[:1].isspace() or v[-1:].isspace()

    def line_needs_quote(self, line: str) -> bool:
        """True if some field of the joined ``line`` holds a special character or starts or
        ends with white space."""
        if self.special.search(line):
            return True
        if line.isprintable():  # then the only white space there is, is the ASCII space
            return line[:1] == " " or line[-1:] == " " or self.space_d in line or self.d_space in line
        d = self.delimiter
        last = len(line) - 1
        for m in self.white.finditer(line):
            i = m.start()
            if i == 0 or i == last or line[i - 1] == d or line[i + 1] == d:
                return True
        return False


# --- Python values -> text -----------------------------------------------------------------


def _trim_fraction(text: str) -> str:
    """``12:47:24.220000+00:00`` -> ``12:47:24.22+00:00`` (KWDB and PostgreSQL style).

    ``isoformat`` writes either no fraction or exactly six digits.
    """
    dot = text.find(".")
    if dot < 0:
        return text
    frac = text[dot + 1:dot + 7].rstrip("0")
    return text[:dot] + "." + frac + text[dot + 7:] if frac else text[:dot] + text[dot + 7:]


def _interval(td: dt.timedelta) -> str:
    days = td.days
    secs = td.seconds
    micro = td.microseconds
    hh, rem = divmod(secs, 3600)
    mm, ss = divmod(rem, 60)
    clock = f"{hh:02d}:{mm:02d}:{ss:02d}"
    if micro:
        clock += f".{micro:06d}".rstrip("0")
    if days:
        return f"{days} day{'s' if abs(days) != 1 else ''} {clock}"
    return clock


def format_float(v: float) -> str:
    """Round-trippable float text (``repr``); PostgreSQL's spellings for the specials."""
    if math.isfinite(v):
        return repr(v)
    if math.isnan(v):
        return "NaN"
    return "Infinity" if v > 0 else "-Infinity"


def format_value(v: Any) -> str | None:
    """A Python value as CSV text: None stays None (NULL); the caller then uses format_row.

    bool -> ``true``/``false``; bytes -> ``\\x`` + hex; datetime/date/time -> ISO with a
    space separator, ``+00:00`` style offsets and no trailing zeros in the fraction;
    Decimal -> ``str``; float -> ``repr`` (round-trips; ``NaN``/``Infinity``);
    dict/list -> JSON; UUID -> ``str``; timedelta -> PostgreSQL interval text.
    """
    t = type(v)
    if t is str:
        return v  # type: ignore[no-any-return]
    if v is None:
        return None
    if t is int:
        return str(v)
    if t is bool:
        return "true" if v else "false"
    if t is float:
        return format_float(v)
    if t is dt.datetime:
        return _trim_fraction(v.isoformat(sep=" "))
    if t is dt.date:
        return v.isoformat()  # type: ignore[no-any-return]
    if t is decimal.Decimal:
        return str(v)
    if t is dt.time:
        return _trim_fraction(v.isoformat())
    if isinstance(v, bytes | bytearray | memoryview):
        return "\\x" + bytes(v).hex()
    if isinstance(v, dict | list | tuple):
        return json.dumps(v, ensure_ascii=False, default=_json_default)
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, dt.timedelta):
        return _interval(v)
    # subclasses of the above (IntEnum, datetime subclasses, str subclasses ...)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return str.__str__(v)
    if isinstance(v, int):
        return int.__repr__(v)
    if isinstance(v, float):
        return format_float(float(v))
    if isinstance(v, dt.datetime):
        return _trim_fraction(v.isoformat(sep=" "))
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, dt.time):
        return _trim_fraction(v.isoformat())
    if isinstance(v, decimal.Decimal):
        return str(v)
    return str(v)


def _json_default(o: Any) -> Any:
    text = format_value(o)
    return text


def format_values(row: Iterable[Any]) -> list[str | None]:
    """``format_value`` over one row."""
    return [format_value(v) for v in row]


# --- reading ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Record:
    """One CSV record as read from a file.

    ``line`` is the 1-based physical line where it starts; ``offset`` its first byte and
    ``end_offset`` the byte after its terminator (resume there); ``raw`` the record text
    without its terminator. Exactly one of ``fields`` and ``error`` is set.
    """

    line: int
    offset: int
    end_offset: int
    raw: str
    fields: list[str | None] | None = None
    error: str | None = None
    lines: int = field(default=1)  # physical lines the record spans

    @property
    def ok(self) -> bool:
        return self.error is None


_DONE, _NEED_MORE, _ERROR = 0, 1, 2


class _ReaderTables:
    def __init__(self, dialect: CsvDialect) -> None:
        e, c = dialect.enclosed, dialect.escaped
        self.scan = None if c == e else re.compile("[" + re.escape(e + c) + "]")
        self.unescape = None if c == e else re.compile(re.escape(c) + "([" + re.escape(e + c) + "])")


class _RecordParser:
    """The careful path: one record, fed line by line (a quoted field may span lines).

    No per-character Python: fields are found with ``str.find`` and a compiled pattern;
    only quote and escape characters cost a Python step.
    """

    __slots__ = ("d", "e", "c", "nullas", "scan", "unescape", "fields", "parts", "in_quote", "error")

    def __init__(self, dialect: CsvDialect) -> None:
        self.d, self.e, self.c, self.nullas = dialect.delimiter, dialect.enclosed, dialect.escaped, dialect.nullas
        r = dialect._r
        self.scan, self.unescape = r.scan, r.unescape
        self.fields: list[str | None] = []
        self.parts: list[str] = []  # pieces of an open quoted field, one per physical line
        self.in_quote = False
        self.error = ""

    def feed(self, line: str) -> int:
        """Parse one physical line (no terminator): _DONE, _NEED_MORE (open quote) or _ERROR."""
        d, e, nullas = self.d, self.e, self.nullas
        fields = self.fields
        n = len(line)
        i = 0
        if self.in_quote:
            j = self._close(line, 0)
            if j < 0:
                return _NEED_MORE
            i = self._after_quote(line, j)
            if i < 0:
                return _DONE if i == -1 else _ERROR
        while True:
            if i < n and line[i] == e:
                self.in_quote = True
                self.parts = []
                j = self._close(line, i + 1)
                if j < 0:
                    return _NEED_MORE
                i = self._after_quote(line, j)
                if i < 0:
                    return _DONE if i == -1 else _ERROR
                continue
            j = line.find(d, i)
            if j < 0:
                last = line[i:]
                if last.endswith("\r"):
                    last = last[:-1]
                if e in last:
                    return self._bare(len(fields) + 1)
                fields.append(None if last == nullas else last)
                return _DONE
            f = line[i:j]
            if e in f:
                return self._bare(len(fields) + 1)
            fields.append(None if f == nullas else f)
            i = j + 1

    def _bare(self, k: int) -> int:
        """A quote inside the unquoted field ``k``: an error of the record (KWDB IMPORT's rule)."""
        self.error = (f"bare {self.e} in non-quoted field {k} (a field with {self.e} in it must be "
                      f"enclosed in {self.e}, as KWDB IMPORT requires)")
        return _ERROR

    def _close(self, line: str, start: int) -> int:
        """Find the closing quote from ``start``; keep the field; -1 if it is not on this line."""
        e = self.e
        n = len(line)
        i = start
        scan = self.scan
        if scan is None:  # escaped == enclosed: a doubled quote is a literal quote
            while True:
                j = line.find(e, i)
                if j < 0:
                    self.parts.append(line[start:])
                    return -1
                if j + 1 < n and line[j + 1] == e:
                    i = j + 2
                    continue
                break
        else:
            c = self.c
            while True:
                m = scan.search(line, i)
                if m is None:
                    self.parts.append(line[start:])
                    return -1
                j = m.start()
                if line[j] == c:
                    i = j + 2  # the escape takes the next character, whatever it is
                    if i > n:  # an escape at the end of the line takes the line break
                        self.parts.append(line[start:])
                        return -1
                    continue
                break
        self.parts.append(line[start:j])
        content = self.parts[0] if len(self.parts) == 1 else "\n".join(self.parts)
        self.parts = []
        self.in_quote = False
        if scan is None:
            if e in content:
                content = content.replace(e + e, e)
        elif self.c in content:
            assert self.unescape is not None
            content = self.unescape.sub(r"\1", content)
        self.fields.append(content)
        return j + 1

    def _after_quote(self, line: str, i: int) -> int:
        """After a closing quote: the index of the next field, -1 (record done) or -2 (error)."""
        n = len(line)
        if i >= n or (i == n - 1 and line[i] == "\r"):
            return -1
        if line[i] == self.d:
            i += 1
            if i >= n:  # a trailing delimiter: one more, empty, unquoted field
                self.fields.append(None if self.nullas == "" else "")
                return -1
            return i
        k = len(self.fields)
        self.error = (f"unexpected {line[i]!r} after the closing {self.e} of field {k} "
                      f"(a field that starts with {self.e} must end with {self.e} and a delimiter)")
        return -2


def _physical_lines(stream: IO[bytes], codec: str, first: bytes) -> Iterator[tuple[str, int]]:
    """Decoded physical lines with their byte length (newline included).

    A line that does not decode comes back with a *negative* length (and the text decoded
    with replacement characters, for the error message). Splitting on ``b"\\n"`` before
    decoding is safe for every supported charset: no multi-byte GBK, GB18030 or BIG5
    sequence contains the byte 0x0A. An all-ASCII chunk (the common case) is decoded once.
    """
    tail = b""
    read = stream.read
    chunk = first + read(_CHUNK)
    while chunk:
        if tail:
            chunk = tail + chunk
        cut = chunk.rfind(b"\n")
        if cut < 0:
            tail = chunk
            chunk = read(_CHUNK)
            continue
        tail = chunk[cut + 1:]
        body = chunk[:cut]
        chunk = read(_CHUNK)
        if body.isascii():
            for text in body.decode("ascii").split("\n"):
                yield text, len(text) + 1
        else:
            for lb in body.split(b"\n"):
                try:
                    text = lb.decode(codec)
                except UnicodeDecodeError:
                    yield lb.decode(codec, "replace"), -(len(lb) + 1)
                else:
                    yield text, len(lb) + 1
    if tail:
        try:
            text = tail.decode(codec)
        except UnicodeDecodeError:
            yield tail.decode(codec, "replace"), -len(tail)
        else:
            yield text, len(tail)


def iter_records(stream: IO[bytes], dialect: CsvDialect, *, start_offset: int = 0, start_line: int = 1,
                 skip_blank_lines: bool = False, max_record_bytes: int = MAX_RECORD_BYTES) -> Iterator[Record]:
    """Stream the records of a binary file in ``dialect``.

    ``start_offset`` (a record boundary: a previous record's ``end_offset``) resumes there;
    pass ``start_line`` too to keep line numbers right. Reading from the start, a UTF-8 BOM
    is skipped and, with ``dialect.header``, so is the first record (the column names; see
    :func:`read_header`). Blank lines are records (one empty field: NULL with the default
    ``nullas``) unless ``skip_blank_lines``.

    Errors do not stop the stream; such a record carries ``error`` instead of ``fields``:
    a line that does not decode in the charset (reading goes on with the next line), stray
    characters after a closing quote, a quoted field still open at the end of the file or
    after ``max_record_bytes``. After an error the next record starts on the next line.

    Fast path: a line without the enclosed character is split with ``str.split``.
    """
    records = _records(stream, dialect, start_offset, start_line, skip_blank_lines, max_record_bytes)
    if dialect.header and not start_offset:
        first = next(records, None)
        if first is not None and first.error is not None:
            yield first  # a broken header line is reported, never silently dropped
    yield from records


def _records(stream: IO[bytes], dialect: CsvDialect, start_offset: int, start_line: int,
             skip_blank_lines: bool, max_record_bytes: int) -> Iterator[Record]:
    codec = dialect.python_codec
    d, e, nullas = dialect.delimiter, dialect.enclosed, dialect.nullas
    if start_offset:
        stream.seek(start_offset)
        first = b""
    else:
        try:
            start_offset = stream.tell()
        except (OSError, ValueError):
            start_offset = 0
        first = stream.read(len(_BOM)) if codec == "utf-8" else b""
        if first == _BOM:
            start_offset += len(_BOM)
            first = b""
    lines = _physical_lines(stream, codec, first)
    lineno = start_line - 1
    pos = start_offset
    for text, nb in lines:
        lineno += 1
        off = pos
        if nb < 0:
            pos -= nb
            yield Record(lineno, off, pos, text, None, f"line {lineno} is not valid {dialect.charset} text")
            continue
        pos += nb
        if e not in text:  # the fast path
            if text.endswith("\r"):
                text = text[:-1]
            if skip_blank_lines and not text:
                continue
            fields: list[str | None] = text.split(d)  # type: ignore[assignment]
            if nullas in fields:
                fields = [None if f == nullas else f for f in fields]
            yield Record(lineno, off, pos, text, fields)
            continue
        parser = _RecordParser(dialect)
        state = parser.feed(text)
        if state != _NEED_MORE:
            if text.endswith("\r"):
                text = text[:-1]
            if state == _ERROR:
                yield Record(lineno, off, pos, text, None, f"line {lineno}: {parser.error}")
            else:
                yield Record(lineno, off, pos, text, parser.fields)
            continue
        # a quoted field goes on over the next lines
        first_line = lineno
        raw_parts = [text]
        error = ""
        for text, nb in lines:
            lineno += 1
            raw_parts.append(text)
            if nb < 0:
                pos -= nb
                error = (f"line {lineno} is not valid {dialect.charset} text "
                         f"(inside the quoted field that starts on line {first_line})")
                break
            pos += nb
            state = parser.feed(text)
            if state != _NEED_MORE:
                break
            if pos - off > max_record_bytes:
                error = (f"the quoted field that starts on line {first_line} is still open after "
                         f"{pos - off} bytes (an unterminated {e}?)")
                break
        else:
            error = f"the quoted field that starts on line {first_line} is never closed (end of file)"
        raw = "\n".join(raw_parts)
        if error:
            yield Record(first_line, off, pos, raw, None, error, len(raw_parts))
            continue
        if raw.endswith("\r"):
            raw = raw[:-1]
        if state == _ERROR:
            yield Record(first_line, off, pos, raw, None, f"line {lineno}: {parser.error}", len(raw_parts))
        else:
            yield Record(first_line, off, pos, raw, parser.fields, None, len(raw_parts))


def read_header(stream: IO[bytes], dialect: CsvDialect) -> tuple[list[str], int]:
    """The column names of a file written with ``column_name`` and the offset after them.

    The stream is read from its start; resume :func:`iter_records` at the returned offset
    (with ``start_line=2`` for a one-line header).
    """
    plain = CsvDialect(dialect.delimiter, dialect.enclosed, dialect.escaped, dialect.nullas, dialect.charset)
    for rec in iter_records(stream, plain):
        if rec.error is not None or rec.fields is None:
            raise UsageError(f"cannot read the header line: {rec.error}")
        return ["" if f is None else f for f in rec.fields], rec.end_offset
    return [], 0


def count_records(stream: IO[bytes], dialect: CsvDialect) -> int:
    """How many records a file holds (a header excluded), reading it from the start.

    Fast when no field is enclosed (the enclosed byte never occurs: count line breaks);
    otherwise every record is parsed (the stream must then be seekable). Error records
    count as records.
    """
    start = stream.tell()
    quote = dialect.enclosed.encode()
    lines = 0
    last = b""
    size = 0
    first = True
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            break
        if quote in chunk:
            stream.seek(start)
            return sum(1 for _ in iter_records(stream, dialect))
        if first and chunk.startswith(_BOM):
            size -= len(_BOM)
        first = False
        lines += chunk.count(b"\n")
        size += len(chunk)
        last = chunk[-1:]
    if size and last != b"\n":
        lines += 1
    if dialect.header and lines:
        lines -= 1
    return lines


# --- cutting bytes into batches of whole records, by the same rules ------------------------------


@dataclass(slots=True)
class BadRecord:
    """A record of a scanned block that breaks the rules: never sent to the server."""

    start: int  # byte index in the scanned buffer
    end: int  # after its terminator
    line: int  # physical line where it starts
    reason: str
    raw: str


@dataclass(slots=True)
class Block:
    """What :func:`scan_block` took from a buffer: whole records only."""

    end: int  # index after the last record taken (== start when nothing could be taken yet)
    records: int = 0  # records in buf[start:end], bad ones included
    lines: int = 0  # physical lines in buf[start:end]
    good: bytes = b""  # the good records, each ended by LF (CRLF normalised), for the server
    bad: list[BadRecord] = field(default_factory=list)


class _ScanTables:
    def __init__(self, dialect: CsvDialect) -> None:
        codec = dialect.python_codec
        e = dialect.enclosed.encode("ascii")
        d = dialect.delimiter.encode(codec)
        self.e = e
        qe = re.escape(e)
        # lines with no quote and no CR are records as they are (the common case: one C loop)
        self.plain = re.compile(b"(?:[^" + qe + b"\r\n]*\n)*")
        # a delimiter byte that can be the trail byte of a double-byte character (GBK, BIG5:
        # 0x40..0xFE) cannot be found in bytes: such lines go through the careful parser
        self.record: re.Pattern[bytes] | None = None
        self.fields: re.Pattern[bytes] | None = None
        if len(d) == 1 and (codec == "utf-8" or d[0] < 0x40):
            qd = re.escape(d)
            if dialect.escaped == dialect.enclosed:
                quoted = qe + b"[^" + qe + b"]*(?:" + qe + qe + b"[^" + qe + b"]*)*" + qe
            else:
                c = re.escape(dialect.escaped.encode("ascii"))
                quoted = qe + b"[^" + qe + c + b"]*(?:" + c + b".[^" + qe + c + b"]*)*" + qe
            unquoted = b"[^" + qe + qd + b"\r\n]*"
            one = b"(?:" + quoted + b"|" + unquoted + b")"
            self.record = re.compile(one + b"(?:" + qd + one + b")*(\r?\n)", re.DOTALL)
            # every quoted field that starts a field and ends at a delimiter or a line end (the
            # lookbehind after the quote: a pattern that starts with a literal is searched fast)
            self.fields = re.compile(qe + b"(?<![^" + qd + b"\n]" + qe + b")" + quoted[len(qe):] + b"(?=[" + qd
                                     + b"\r\n])", re.DOTALL)



def _scan_tables(dialect: CsvDialect) -> _ScanTables:
    t: _ScanTables | None = dialect.__dict__.get("_st")
    if t is None:
        t = _ScanTables(dialect)
        object.__setattr__(dialect, "_st", t)
    return t


def scan_block(buf: bytes, start: int, dialect: CsvDialect, *, limit: int, final: bool, first_line: int,
               max_record_bytes: int = MAX_RECORD_BYTES) -> Block:
    """Take whole records from ``buf[start:]``, about ``limit`` bytes, by the reading rules.

    ``final``: nothing follows ``buf`` (the end of the file; a last record without LF is
    whole). Without it, a record that may go on past the end of ``buf`` is left for the next
    call. A record that breaks the rules (a bare quote, stray text after a closing quote, a
    quoted field never closed or longer than ``max_record_bytes``) is returned in
    ``bad`` with its line and reason; it is left out of ``good``, and the next record starts
    on the next line. Lines without a quote or a CR cost no Python step.
    """
    t = _scan_tables(dialect)
    n = len(buf)
    if final and n > start and not buf.endswith(b"\n"):
        buf += b"\n"  # a last record without terminator: whole (offsets past ``n`` are cut to ``n``)
    size = len(buf)
    stop = start + max(1, limit)
    i = start
    records = 0
    line = first_line
    spans: list[tuple[int, int]] = []  # good bytes, each ends with LF
    pieces: list[tuple[int, bytes]] = []  # (index in spans, bytes): records written anew
    clean = True  # good == buf[start:end]
    bad: list[BadRecord] = []
    codec = dialect.python_codec
    careful = start  # below this, records are taken one by one
    while i < size and i < stop:
        has_quote = buf.find(t.e, i, stop) >= 0
        if not has_quote and buf.find(b"\r", i, stop) < 0:  # nothing to look at up to the limit
            k = buf.rfind(b"\n", i, stop)
            j = k + 1 if k >= 0 else i
        elif has_quote and t.fields is not None and i >= careful and (k := buf.rfind(b"\n", i, stop)) >= i:
            # a block of records with quoted fields at once: every well-placed quoted field is
            # removed; when no quote and no CR is left, the block is whole valid records, one for
            # each LF left (the LFs inside quoted fields went with them)
            block = buf[i:k + 1]
            rest: bytes | None = t.fields.sub(b"", block)
            if rest is not None and (t.e in rest or b"\r" in rest):
                rest = None
            if rest is not None:
                records += rest.count(b"\n")
                line += block.count(b"\n")
                spans.append((i, k + 1))
                i = k + 1
                continue
            careful = k + 1  # something to look at closely in there
            continue
        else:
            m = t.plain.match(buf, i)
            j = m.end() if m is not None else i
        if j > stop and j > i:
            k = buf.rfind(b"\n", i, stop)
            j = k + 1 if k >= i else buf.find(b"\n", i) + 1
        if j > i:
            nl = buf.count(b"\n", i, j)
            records += nl
            line += nl
            spans.append((i, j))
            i = j
            continue
        # a line with a quote or a CR (or an unterminated last line, not final)
        if t.record is not None:
            m2 = t.record.match(buf, i)
            if m2 is not None:
                j = m2.end()
                nl = buf.count(b"\n", i, j)
                if m2.group(1) == b"\r\n":
                    spans.append((i, j - 2))
                    spans.append((-1, -1))  # an LF
                    clean = False
                else:
                    spans.append((i, j))
                records += 1
                line += nl
                i = j
                continue
        # the careful parser: a record that goes on past the buffer, or breaks the rules
        parser = _RecordParser(dialect)
        k = i
        reason = ""
        lines_used = 0
        state = _NEED_MORE
        while state == _NEED_MORE:
            nl_at = buf.find(b"\n", k)
            if nl_at < 0:  # the record goes on past the buffer (final buffers end with LF)
                break
            lines_used += 1
            try:
                text = buf[k:nl_at].decode(codec)
            except UnicodeDecodeError:
                reason = f"line {line + lines_used - 1} is not valid {dialect.charset} text"
                k = nl_at + 1
                break
            state = parser.feed(text)
            k = nl_at + 1
            if state == _ERROR:
                reason = f"line {line + lines_used - 1}: {parser.error}"
            elif state == _NEED_MORE and k - i > max_record_bytes:
                reason = (f"the quoted field that starts on line {line} is still open after {k - i} bytes "
                          f"(an unterminated {dialect.enclosed}?)")
                break
        if not reason and state == _NEED_MORE:
            if not final:
                break  # read more, then take this record whole
            reason = f"the quoted field that starts on line {line} is never closed (end of file)"
            k = size
            lines_used = buf.count(b"\n", i, size)
        if reason:
            raw = buf[i:k].rstrip(b"\n").decode(codec, "replace").rstrip("\r")
            bad.append(BadRecord(i, min(k, n), line, reason, raw))
            clean = False
        else:  # good by the rules, not as the server's COPY reads it (a lone CR): written anew
            pieces.append((len(spans), (dialect.format_row(parser.fields) + "\n").encode(codec)))
            spans.append((-3, -3))
            clean = False
        records += 1
        line += lines_used
        i = k
    end = min(i, n)
    if clean:
        good = buf[start:i]
    else:
        anew = dict(pieces)
        good = b"".join(anew[x] if a == -3 else b"\n" if a < 0 else buf[a:b] for x, (a, b) in enumerate(spans))
    return Block(end, records, line - first_line, good, bad)
