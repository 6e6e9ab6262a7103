"""Loading CSV files into a table with COPY, keeping every good row and rejecting the bad ones.

The fast path never looks at a row in Python: the file is cut into batches of whole
records (a newline ends a record when the quote count before it is even, which holds for
the default dialect where the escape character is the quote itself) and each batch goes
to ``COPY ... FROM STDIN (FORMAT csv)`` in its own transaction. When the server refuses a
batch, only that batch is parsed record by record and bisected with COPY until the bad
records are isolated: each goes to the reject file with its file, line, column, reason
and raw text, and every good record of the batch lands.
"""

from __future__ import annotations

import io
import os
import re
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg import sql

from kwtui.errors import KwtuiError
from kwtui.transfer.chunks import copy_options
from kwtui.transfer.csvdialect import CsvDialect, Record, iter_records
from kwtui.transfer.pump import Cancelled, RawCopyIn
from kwtui.transfer.source import column_list, qualified

BATCH_BYTES = 8 << 20
READ_BYTES = 4 << 20
#: the first batch of a file: small, so the server starts parsing at once
FIRST_BATCH_BYTES = 1 << 20
#: a batch rolled back by a deadlock or serialization failure is run again this many times
CONFLICT_RETRIES = 5

_T = TypeVar("_T")


class TooManyRejects(KwtuiError):
    pass


@dataclass
class Reject:
    file: str
    line: int
    column: str | None
    reason: str
    raw: str


@dataclass
class LoadResult:
    rows: int = 0
    bytes: int = 0
    rejects: int = 0
    batches: int = 0
    bisected_batches: int = 0
    reject_file: str | None = None
    files: list[str] = field(default_factory=list)


@dataclass
class Batch:
    data: bytes
    first_line: int  # physical line number of the first record
    offset: int  # byte offset of the batch in its file
    lines: int  # physical lines in the batch


def _boundary_before(buf: bytes, limit: int, quote: bytes) -> int:
    """End (exclusive) of the last whole record that ends before ``limit``; 0 if none."""
    pos = limit
    odd = buf.count(quote, 0, pos) % 2 == 1 if quote in buf else False
    while True:
        nl = buf.rfind(b"\n", 0, pos)
        if nl < 0:
            return 0
        if odd:  # quotes between nl and pos flip the parity back
            odd ^= buf.count(quote, nl, pos) % 2 == 1
        elif quote in buf:
            odd = buf.count(quote, nl, pos) % 2 == 1
        if not odd:
            return nl + 1
        pos = nl


def _boundary_after(buf: bytes, start: int, quote: bytes) -> int:
    """End (exclusive) of the first record that ends at or after ``start``; 0 if none yet."""
    odd = buf.count(quote, 0, start) % 2 == 1
    pos = start
    while True:
        nl = buf.find(b"\n", pos)
        if nl < 0:
            return 0
        odd ^= buf.count(quote, pos, nl) % 2 == 1
        if not odd:
            return nl + 1
        pos = nl + 1


def prefetched(items: Iterator[_T], depth: int = 2) -> Generator[_T, None, None]:
    """Read and cut the next batches in a thread while the server loads the current one."""
    import queue

    q: queue.Queue[Any] = queue.Queue(depth)
    done = object()
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # handed to the consumer
            q.put(exc)

    thread = threading.Thread(target=produce, name="kwtui-batch-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def parity_batches(stream: Any, dialect: CsvDialect, *, start_offset: int = 0, start_line: int = 1,
                   batch_bytes: int = BATCH_BYTES, first_bytes: int | None = None) -> Iterator[Batch]:
    """Cut a CSV byte stream into batches of whole records (about ``batch_bytes``) without parsing.

    ``first_bytes``: a smaller first batch, so the server has work while the next is cut.

    Valid when the escape character is the quote character (or the data has no quotes): a
    newline ends a record exactly when the number of quote bytes before it in the stream is
    even. Safe for UTF-8, GBK, GB18030 and BIG5: the bytes of '"' (0x22) and '\\n' (0x0A)
    never occur inside another character in these encodings.
    """
    quote = dialect.enclosed.encode("ascii")
    stream.seek(start_offset)
    offset, line = start_offset, start_line
    buf = b""
    eof = False
    size = min(first_bytes, batch_bytes) if first_bytes else batch_bytes
    while True:
        if not eof:
            chunk = stream.read(READ_BYTES)
            eof = not chunk
            buf += chunk
        while buf and (len(buf) >= size or eof):
            if eof and len(buf) <= size:
                cut = len(buf)
            else:
                cut = _boundary_before(buf, size, quote) or _boundary_after(buf, size, quote)
                if not cut:
                    if not eof:
                        break  # a record longer than what we hold: read more
                    cut = len(buf)  # an unterminated quote runs to the end: the loader rejects it
            data, buf = buf[:cut], buf[cut:]
            lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
            yield Batch(data, line, offset, lines)
            offset += len(data)
            line += lines
            size = batch_bytes
        if eof and not buf:
            return


_LINE_RE = re.compile(r"line (\d+)")
_COLUMN_RE = re.compile(r"column (\w+|\"[^\"]+\")")


def _describe(exc: psycopg.Error) -> tuple[str, str | None, int | None]:
    diag = exc.diag
    reason = diag.message_primary or str(exc).strip().splitlines()[0]
    column = None
    line = None
    ctx = diag.context or ""
    m = _COLUMN_RE.search(ctx)
    if m:
        column = m.group(1).strip('"')
    m = _LINE_RE.search(ctx)
    if m:
        line = int(m.group(1))
    return reason, column, line


class CsvLoader:
    """Loads CSV files into one table on a PostgreSQL-compatible server with COPY (sync, in a thread)."""

    def __init__(self, conninfo: dict[str, Any], schema: str, table: str, columns: Sequence[str] | None,
                 dialect: CsvDialect, *, skip_header: bool = False, max_rejects: int | None = None,
                 reject_path: Path | None = None, on_progress: Callable[[int, int, int], None] | None = None,
                 cancel: threading.Event | None = None, batch_bytes: int = BATCH_BYTES, workers: int = 1) -> None:
        self.conninfo = conninfo
        self.schema, self.table = schema, table
        self.columns = list(columns) if columns else None
        self.dialect = replace(dialect, header=False)  # the header is skipped here, once per file
        self.skip_header = skip_header or dialect.header
        self.max_rejects = max_rejects
        self.reject_path = reject_path
        self.on_progress = on_progress
        self.cancel = cancel
        self.batch_bytes = batch_bytes
        self.result = LoadResult()
        self._reject_fh: Any = None
        self._parity_ok = dialect.escaped == dialect.enclosed
        #: connections loading batches at once (each batch is its own transaction either way)
        self.workers = max(1, workers)
        self._lock = threading.Lock()  # the result counters and the reject file
        self._tls = threading.local()

    @property
    def _last_error(self) -> Any:
        """The server's refusal of this thread's last batch (for the reject line)."""
        return getattr(self._tls, "last_error", None)

    @_last_error.setter
    def _last_error(self, exc: Any) -> None:
        self._tls.last_error = exc

    def _copy_statement(self) -> sql.Composed:
        target = qualified(self.schema, self.table)
        if self.columns:
            target = sql.SQL("{} ({})").format(target, column_list(self.columns))
        return sql.SQL("COPY {} FROM STDIN ({})").format(target, copy_options(self.dialect))

    # -- rejects -------------------------------------------------------------------------------

    def _reject(self, rej: Reject) -> None:
        with self._lock:
            self._reject_locked(rej)

    def _reject_locked(self, rej: Reject) -> None:
        if self._reject_fh is None:
            path = self.reject_path or Path(rej.file).with_name("reject.n1.0.txt")
            path.parent.mkdir(parents=True, exist_ok=True)
            self._reject_fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 (closed in load())
            self.result.reject_file = str(path)
        col = f" column {rej.column}:" if rej.column else ""
        raw = rej.raw.rstrip("\r\n").replace("\n", "\n\t")
        self._reject_fh.write(f"{rej.file}:{rej.line}:{col} {rej.reason}\n\t{raw}\n")
        self._reject_fh.flush()
        self.result.rejects += 1
        if self.max_rejects is not None and self.result.rejects > self.max_rejects:
            raise TooManyRejects(f"more than {self.max_rejects} rejected rows: stopped "
                                 f"(see {self.result.reject_file})")

    # -- loading ---------------------------------------------------------------------------------

    def load(self, files: Sequence[Path]) -> LoadResult:
        try:
            if self.workers > 1 and type(self)._load_file is CsvLoader._load_file:
                self._load_parallel([Path(f) for f in files])
                self.result.files.extend(str(f) for f in files)
            else:
                with psycopg.connect(**self.conninfo) as conn:
                    for f in files:
                        self._load_file(conn, Path(f))
                        self.result.files.append(str(f))
        finally:
            if self._reject_fh is not None:
                self._reject_fh.close()
        return self.result

    def _load_parallel(self, files: list[Path]) -> None:
        """``workers`` connections take the batches of all files as they come, each batch in
        its own transaction (as one connection does): the server parses on several cores."""

        def file_batches() -> Iterator[tuple[Path, Batch]]:
            for path in files:
                for batch in self._batches(path):
                    yield path, batch

        items = prefetched(file_batches(), depth=self.workers)
        take = threading.Lock()  # one thread at a time advances the generator
        stop = threading.Event()
        errors: list[BaseException] = []

        def work() -> None:
            try:
                with psycopg.connect(**self.conninfo) as conn:
                    while not stop.is_set():
                        with take:
                            item = next(items, None)
                        if item is None:
                            return
                        if self.cancel is not None and self.cancel.is_set():
                            raise Cancelled()
                        self._load_batch(conn, *item)
            except BaseException as exc:
                errors.append(exc)
                stop.set()

        threads = [threading.Thread(target=work, name=f"kwtui-load-{i}", daemon=True) for i in range(self.workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        items.close()  # stops the reader thread if the load stopped early
        if errors:
            raise next((e for e in errors if not isinstance(e, Cancelled)), errors[0])

    def _batches(self, path: Path) -> Iterator[Batch]:
        start_offset, start_line = 0, 1
        if self.skip_header:
            with open(path, "rb") as fh:
                for rec in iter_records(fh, self.dialect):
                    start_offset, start_line = rec.end_offset, rec.line + rec.lines
                    break
        if self._parity_ok:
            with open(path, "rb", buffering=0) as raw, io.BufferedReader(raw, READ_BYTES) as fh:
                yield from parity_batches(fh, self.dialect, start_offset=start_offset, start_line=start_line,
                                          batch_bytes=self.batch_bytes, first_bytes=FIRST_BATCH_BYTES)
            return
        # a backslash escape: the parser finds the record boundaries
        with open(path, "rb") as fh:
            pending: list[Record] = []
            size = 0
            for rec in iter_records(fh, self.dialect, start_offset=start_offset, start_line=start_line):
                pending.append(rec)
                size += rec.end_offset - rec.offset
                if size >= self.batch_bytes:
                    yield self._records_batch(fh, pending)
                    pending, size = [], 0
            if pending:
                yield self._records_batch(fh, pending)

    @staticmethod
    def _records_batch(fh: Any, records: list[Record]) -> Batch:
        start, end = records[0].offset, records[-1].end_offset
        here = fh.tell()
        fh.seek(start)
        data = fh.read(end - start)
        fh.seek(here)
        return Batch(data, records[0].line, start, sum(r.lines for r in records))

    def _load_file(self, conn: psycopg.Connection[Any], path: Path) -> None:
        for batch in prefetched(self._batches(path)):
            if self.cancel is not None and self.cancel.is_set():
                raise Cancelled()
            self._load_batch(conn, path, batch)

    def _load_batch(self, conn: psycopg.Connection[Any], path: Path, batch: Batch) -> None:
        rows = self._try_copy(conn, batch.data)
        bisected = rows is None
        if rows is None:
            rows = self._bisect_batch(conn, path, batch)
        with self._lock:
            self.result.rows += rows
            self.result.bytes += len(batch.data)
            self.result.batches += 1
            self.result.bisected_batches += bisected
            rejects = self.result.rejects
        if self.on_progress is not None:
            self.on_progress(rows, len(batch.data), rejects)

    def _try_copy(self, conn: psycopg.Connection[Any], data: bytes) -> int | None:
        """COPY one batch in one transaction; None when the server refused it (rolled back)."""
        for attempt in range(CONFLICT_RETRIES + 1):
            try:
                return self._copy_once(conn, data)
            except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure):
                # two batches holding the same keys (parallel workers): the server chose this
                # one to roll back; run it again (the key then fails as a duplicate, and is
                # bisected out like any other bad row)
                if attempt >= CONFLICT_RETRIES:
                    raise
        return None  # not reached

    def _copy_once(self, conn: psycopg.Connection[Any], data: bytes) -> int | None:
        try:
            with conn.transaction():
                writer = RawCopyIn(conn, self._copy_statement(), self.cancel)
                try:
                    writer.write(data)
                except BaseException:
                    writer.finish(error="kwtui: aborted")
                    raise
                return writer.finish()
        except psycopg.errors.QueryCanceled:
            raise
        except (psycopg.DataError, psycopg.IntegrityError, psycopg.errors.SyntaxErrorOrAccessRuleViolation,
                psycopg.errors.CharacterNotInRepertoire, psycopg.errors.UntranslatableCharacter,
                psycopg.errors.BadCopyFileFormat) as exc:
            self._last_error = exc
            return None

    def _bisect_batch(self, conn: psycopg.Connection[Any], path: Path, batch: Batch) -> int:
        """Parse the refused batch, reject records that cannot parse, bisect the rest with COPY."""
        records = list(iter_records(io.BytesIO(batch.data), self.dialect, start_line=batch.first_line))
        good: list[Record] = []
        for rec in records:
            if rec.error:
                self._reject(Reject(str(path), rec.line, None, rec.error, rec.raw))
            else:
                good.append(rec)
        return self._bisect(conn, path, good)

    def _encode(self, records: Sequence[Record]) -> bytes:
        codec = self.dialect.python_codec
        return "".join(r.raw if r.raw.endswith("\n") else r.raw + "\n" for r in records).encode(codec, "replace")

    def _load_records(self, conn: psycopg.Connection[Any], records: Sequence[Record]) -> int | None:
        """Load these records in one transaction; None when the server refused them (rolled back)."""
        return self._try_copy(conn, self._encode(records))

    def _bisect(self, conn: psycopg.Connection[Any], path: Path, records: Sequence[Record]) -> int:
        """Halve refused records until each bad one stands alone and goes to the reject file."""
        if not records:
            return 0
        rows = self._load_records(conn, records)
        if rows is not None:
            return rows
        if len(records) == 1:
            rec = records[0]
            reason, column, _line = _describe(self._last_error)
            self._reject(Reject(str(path), rec.line, column, reason, rec.raw))
            return 0
        mid = len(records) // 2
        return self._bisect(conn, path, records[:mid]) + self._bisect(conn, path, records[mid:])


def default_reject_path(data_path: Path) -> Path:
    """Where KWDB puts rejects: beside the data, reject.n<node>.<idx>.txt (a free index)."""
    base = data_path if data_path.is_dir() else data_path.parent
    for i in range(10_000):
        p = base / f"reject.n1.{i}.txt"
        if not p.exists():
            return p
    return base / f"reject.n1.{os.getpid()}.txt"


class InsertLoader(CsvLoader):
    """Loads CSV records with multi-row INSERT (targets without COPY, such as KWDB TS tables).

    Records are parsed here (the server cannot parse CSV for an INSERT); fields go as
    untyped literals that the server casts to each column. A refused batch is bisected
    exactly like a COPY batch, so only the bad records are rejected.
    """

    def __init__(self, *args: Any, batch_rows: int = 500, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batch_rows = max(1, batch_rows)
        self._stmts: dict[int, sql.Composed] = {}
        self._ncols: int | None = len(self.columns) if self.columns else None

    def _load_records(self, conn: psycopg.Connection[Any], records: Sequence[Record]) -> int | None:
        return self._insert(conn, records)

    def _insert(self, conn: psycopg.Connection[Any], records: Sequence[Record]) -> int | None:
        if self._ncols is None:
            with conn.cursor() as cur:
                cur.execute(sql.SQL("SELECT * FROM {} LIMIT 0").format(qualified(self.schema, self.table)))
                self.columns = [d.name for d in cur.description or []]
            conn.rollback()
            self._ncols = len(self.columns)
        n = len(records)
        stmt = self._stmts.get(n)
        if stmt is None:
            from kwtui.transfer.sink import insert_statement

            stmt = self._stmts[n] = insert_statement(self.schema, self.table, self.columns or [], n)
        params: list[Any] = []
        for rec in records:
            fields = rec.fields or []
            if len(fields) != self._ncols:
                self._last_error = psycopg.DataError(
                    f"expected {self._ncols} fields, found {len(fields)}")
                return None
            params.extend(fields)
        try:
            with conn.transaction(), conn.cursor() as cur:
                cur.execute(stmt, params)
            return n
        except (psycopg.DataError, psycopg.IntegrityError, psycopg.errors.SyntaxErrorOrAccessRuleViolation) as exc:
            self._last_error = exc
            return None

    def _load_file(self, conn: psycopg.Connection[Any], path: Path) -> None:
        from kwtui.transfer.source import text_everything

        text_everything(conn)
        with open(path, "rb") as fh:
            records = iter_records(fh, self.dialect)
            if self.skip_header:
                next(records, None)
            batch: list[Record] = []
            for rec in records:
                if self.cancel is not None and self.cancel.is_set():
                    raise Cancelled()
                if rec.error:
                    self._reject(Reject(str(path), rec.line, None, rec.error, rec.raw))
                    continue
                batch.append(rec)
                if len(batch) >= self.batch_rows:
                    self._flush(conn, path, batch)
                    batch = []
            if batch:
                self._flush(conn, path, batch)

    def _flush(self, conn: psycopg.Connection[Any], path: Path, batch: list[Record]) -> None:
        rows = self._insert(conn, batch)
        if rows is None:
            rows = self._bisect(conn, path, batch)
            self.result.bisected_batches += 1
        nbytes = sum(r.end_offset - r.offset for r in batch)
        self.result.rows += rows
        self.result.bytes += nbytes
        self.result.batches += 1
        if self.on_progress is not None:
            self.on_progress(rows, nbytes, self.result.rejects)
