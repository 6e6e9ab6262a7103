"""Loading CSV files into a table with COPY, keeping every good row and rejecting the bad ones.

The file is cut into batches of whole records by the reading rules of
:mod:`kwtui.transfer.csvdialect` (:func:`~kwtui.transfer.csvdialect.scan_block`: lines
without a quote cost nothing, blocks with quoted fields are checked at once), so a line the
rules refuse (a bare quote...) is rejected with its line number before the server sees the
batch, and each batch knows how many records it holds. Each batch goes to ``COPY ... FROM
STDIN (FORMAT csv)`` in ONE transaction: when the server refuses it, that batch is parsed
and bisected with COPY inside the same transaction (savepoints) until the bad records are
isolated; each goes to the reject file with its file, line, column, reason and raw text,
and every good record of the batch lands. Before the commit: records = loaded + rejected,
the reject limit, the rejects flushed to their file and, for a job, the batch's checkpoint
(its position in the input) written in the same transaction."""

from __future__ import annotations

import contextlib
import io
import os
import re
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg import sql

from kwtui.errors import KwtuiError
from kwtui.transfer.chunks import copy_options
from kwtui.transfer.csvdialect import _BOM, BadRecord, CsvDialect, Record, iter_records, scan_block
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
class FileTally:
    """One input file's arithmetic: every record read is loaded or rejected."""

    records: int = 0
    rows: int = 0
    rejects: int = 0

    @property
    def balanced(self) -> bool:
        return self.records == self.rows + self.rejects


@dataclass
class LoadResult:
    rows: int = 0
    bytes: int = 0
    rejects: int = 0
    batches: int = 0
    bisected_batches: int = 0
    reject_file: str | None = None
    files: list[str] = field(default_factory=list)
    records: int = 0
    per_file: dict[str, FileTally] = field(default_factory=dict)


@dataclass
class Batch:
    data: bytes  # the good records for the server, each ended by LF
    first_line: int  # physical line number of the first record
    offset: int  # byte offset of the batch in its file
    lines: int  # physical lines in the batch
    end_offset: int = -1  # byte offset after the batch (resume there)
    records: int = -1  # records in the input range, bad ones included (-1: not counted)
    bad: list[BadRecord] = field(default_factory=list)  # records the reading rules refuse
    raw: bytes | None = None  # the input bytes when they differ from ``data``
    file: str = ""
    parsed: list[Record] | None = None  # INSERT path: the parsed records
    number: int = -1  # the batch's number in its job (checkpoints)

    @property
    def next_line(self) -> int:
        return self.first_line + self.lines


class LineAccountingError(KwtuiError):
    pass


def data_start(path: Path, dialect: CsvDialect, skip_header: bool) -> tuple[int, int]:
    """Byte offset and line number of a file's first data record: after a UTF-8 BOM and,
    with ``skip_header``, after the header record."""
    with open(path, "rb") as fh:
        head = fh.read(len(_BOM))
        offset = len(_BOM) if head == _BOM and dialect.python_codec == "utf-8" else 0
        if not skip_header:
            return offset, 1
        fh.seek(0)
        for rec in iter_records(fh, replace(dialect, header=False)):
            return rec.end_offset, rec.line + rec.lines
    return offset, 1


def record_batches(stream: Any, dialect: CsvDialect, *, start_offset: int = 0, start_line: int = 1,
                   end_offset: int | None = None, batch_bytes: int = BATCH_BYTES, first_bytes: int | None = None,
                   file: str = "") -> Iterator[Batch]:
    """Cut a CSV byte stream into batches of whole records by the reading rules (see
    :func:`kwtui.transfer.csvdialect.scan_block`), from ``start_offset`` (a record boundary)
    to ``end_offset`` (a record boundary; None: the end of the file).

    Each batch says how many records it holds and which of them break the rules (those
    never reach the server); a UTF-8 BOM at the start of the file is skipped.
    """
    stream.seek(start_offset)
    if start_offset == 0 and dialect.python_codec == "utf-8":
        if stream.read(len(_BOM)) == _BOM:
            start_offset = len(_BOM)
        else:
            stream.seek(0)
    base = start_offset  # file offset of buf[0]
    line = start_line
    buf = b""
    pos = 0
    eof = False
    size = min(first_bytes, batch_bytes) if first_bytes else batch_bytes
    need = False
    while True:
        if not eof and (need or len(buf) - pos < size + 1):
            want = READ_BYTES
            if end_offset is not None:
                want = min(want, end_offset - (base + len(buf)))
            chunk = stream.read(want) if want > 0 else b""
            if pos:
                buf, base, pos = buf[pos:], base + pos, 0
            buf += chunk
            eof = not chunk or (end_offset is not None and base + len(buf) >= end_offset)
            need = False
            if not eof and len(buf) - pos < size + 1:
                continue
        if pos >= len(buf):
            return
        blk = scan_block(buf, pos, dialect, limit=size, final=eof, first_line=line)
        if blk.end == pos:
            if eof:  # pragma: no cover (a final scan always takes what is left)
                raise KwtuiError(f"{file}: cannot cut the input at byte {base + pos}")
            need = True
            continue
        raw = buf[pos:blk.end]
        for b in blk.bad:
            b.start += base
            b.end += base
        yield Batch(blk.good, line, base + pos, blk.lines, base + blk.end, blk.records, blk.bad,
                    None if blk.good == raw else raw, file)
        pos = blk.end
        line += blk.lines
        size = batch_bytes


def parity_batches(stream: Any, dialect: CsvDialect, *, start_offset: int = 0, start_line: int = 1,
                   batch_bytes: int = BATCH_BYTES, first_bytes: int | None = None) -> Iterator[Batch]:
    """Batches of whole records (the name of old; see :func:`record_batches`)."""
    return record_batches(stream, dialect, start_offset=start_offset, start_line=start_line,
                          batch_bytes=batch_bytes, first_bytes=first_bytes)


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


def open_reject_file(path: Path) -> Any:
    """Open the reject file for appending, before any row moves (a failure here stops the import)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return open(path, "a", encoding="utf-8")  # noqa: SIM115 (the loader or the import closes it)
    except OSError as exc:
        raise KwtuiError(f"cannot write the reject file {path}: {exc.strerror or exc}",
                         hint="give a writable --reject-file; nothing was loaded") from None


class _Conn:
    """A loader connection, opened again after a drop."""

    def __init__(self, conninfo: dict[str, Any], setup: Callable[[psycopg.Connection[Any]], None] | None) -> None:
        self.conninfo, self.setup = conninfo, setup
        self.conn: psycopg.Connection[Any] | None = None

    def get(self) -> psycopg.Connection[Any]:
        if self.conn is None or self.conn.closed or self.conn.broken:
            self.drop()
            self.conn = psycopg.connect(**self.conninfo)
            if self.setup is not None:
                self.setup(self.conn)
        return self.conn

    def drop(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
        self.conn = None

    def __enter__(self) -> _Conn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.drop()


def _value_error(exc: psycopg.Error) -> bool:
    """KWDB reports a value that does not parse as its column's type as a syntax error (42601,
    "error in argument for $3: could not parse string ..."): a bad line, not a bad statement."""
    return (exc.diag.message_primary or "").startswith("error in argument for")


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


Region = tuple[int, int, int | None]  # (start offset, start line, end offset or None: the end)
Checkpoint = Callable[[psycopg.Connection[Any], Batch, int, int], None]


class CsvLoader:
    """Loads CSV files into one table on a PostgreSQL-compatible server with COPY (sync, in a thread).

    Each batch commits in ONE transaction: its good rows (a refused batch is bisected inside
    that transaction, with savepoints), and, with ``checkpoint``, the batch's row in the
    target's checkpoint table. Before the commit the batch's arithmetic is checked (records
    = loaded + rejected) and its rejects are written and flushed to the reject file. A
    dropped connection retries the batch (after asking ``committed`` whether it landed).
    """

    #: the target can take the checkpoint and rows in one transaction, and savepoints
    atomic = True

    def __init__(self, conninfo: dict[str, Any], schema: str, table: str, columns: Sequence[str] | None,
                 dialect: CsvDialect, *, skip_header: bool = False, max_rejects: int | None = None,
                 reject_path: Path | None = None, on_progress: Callable[[int, int, int], None] | None = None,
                 cancel: threading.Event | None = None, batch_bytes: int = BATCH_BYTES, workers: int = 1,
                 reject_fh: Any = None, regions: dict[str, list[Region]] | None = None,
                 checkpoint: Checkpoint | None = None,
                 committed: Callable[[psycopg.Connection[Any], Batch], tuple[int, int] | None] | None = None,
                 on_batch: Callable[[Batch, int, int], None] | None = None, first_batch: int = 0,
                 rejects_before: int = 0, retry_delays: Sequence[float] = (0.5, 1, 2, 4, 8, 15),
                 on_retry: Callable[[Batch, BaseException, int], None] | None = None) -> None:
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
        self._reject_fh: Any = reject_fh
        self._own_fh = reject_fh is None
        if reject_fh is not None:
            self.result.reject_file = str(reject_path) if reject_path else getattr(reject_fh, "name", None)
        #: connections loading batches at once (each batch is its own transaction either way)
        self.workers = max(1, workers)
        self._lock = threading.Lock()  # the result counters and the reject file
        self._tls = threading.local()
        self.regions = regions
        self.checkpoint = checkpoint
        self.committed = committed
        self.on_batch = on_batch
        self._numbers = iter(range(first_batch, 1 << 62))
        self._rejects_reserved = rejects_before  # committed rejects of earlier runs + batches in flight
        self._written: set[tuple[str, int]] = set()
        self.retry_delays = list(retry_delays)
        self.on_retry = on_retry

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

    def _setup(self, conn: psycopg.Connection[Any]) -> None:
        """Run on each new connection."""

    # -- rejects -------------------------------------------------------------------------------

    def _write_rejects(self, rejects: Sequence[Reject]) -> None:
        """Append a batch's rejects to the reject file and flush them (before the batch commits)."""
        if not rejects:
            return
        with self._lock:
            if self._reject_fh is None:
                path = self.reject_path or Path(rejects[0].file).with_name("reject.n1.0.txt")
                self._reject_fh = open_reject_file(path)
                self.result.reject_file = str(path)
            for rej in rejects:
                if (rej.file, rej.line) in self._written:  # a retried batch
                    continue
                self._written.add((rej.file, rej.line))
                col = f" column {rej.column}:" if rej.column else ""
                raw = rej.raw.rstrip("\r\n").replace("\n", "\n\t")
                self._reject_fh.write(f"{rej.file}:{rej.line}:{col} {rej.reason}\n\t{raw}\n")
            self._reject_fh.flush()
            with contextlib.suppress(OSError, ValueError):
                os.fsync(self._reject_fh.fileno())

    # -- loading ---------------------------------------------------------------------------------

    def load(self, files: Sequence[Path]) -> LoadResult:
        try:
            paths = [Path(f) for f in files]
            if self.workers > 1 and self.atomic:
                self._load_parallel(paths)
            else:
                with _Conn(self.conninfo, self._setup) as holder:
                    for f in paths:
                        for batch in prefetched(self._batches(f)):
                            if self.cancel is not None and self.cancel.is_set():
                                raise Cancelled()
                            self._run_batch(holder, batch)
            self.result.files.extend(str(f) for f in paths)
        finally:
            if self._reject_fh is not None and self._own_fh:
                self._reject_fh.close()
                self._reject_fh = None
        return self.result

    def _load_parallel(self, files: list[Path]) -> None:
        """``workers`` connections take the batches of all files as they come, each batch in
        its own transaction (as one connection does): the server parses on several cores."""

        def file_batches() -> Iterator[Batch]:
            for path in files:
                yield from self._batches(path)

        items = prefetched(file_batches(), depth=self.workers)
        take = threading.Lock()  # one thread at a time advances the generator
        stop = threading.Event()
        errors: list[BaseException] = []

        def work() -> None:
            try:
                with _Conn(self.conninfo, self._setup) as holder:
                    while not stop.is_set():
                        with take:
                            item = next(items, None)
                        if item is None:
                            return
                        if self.cancel is not None and self.cancel.is_set():
                            raise Cancelled()
                        self._run_batch(holder, item)
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

    def _regions(self, path: Path) -> list[Region]:
        if self.regions is not None:
            return self.regions.get(str(path), [])
        offset, line = data_start(path, self.dialect, self.skip_header)
        return [(offset, line, None)]

    def _batches(self, path: Path) -> Iterator[Batch]:
        for start_offset, start_line, end_offset in self._regions(path):
            with open(path, "rb", buffering=0) as raw, io.BufferedReader(raw, READ_BYTES) as fh:
                for batch in record_batches(fh, self.dialect, start_offset=start_offset, start_line=start_line,
                                            end_offset=end_offset, batch_bytes=self.batch_bytes,
                                            first_bytes=FIRST_BATCH_BYTES, file=str(path)):
                    with self._lock:
                        batch.number = next(self._numbers)
                    yield batch

    def _run_batch(self, holder: _Conn, batch: Batch) -> None:
        """One batch, retried after a dropped connection or a server restart."""
        from kwtui.transfer.resumable import retryable

        attempt = 0
        while True:
            try:
                conn = holder.get()
                rows, rejects = self._commit_batch(conn, batch)
                break
            except (KwtuiError, Cancelled):
                raise
            except Exception as exc:
                if not retryable(exc) or attempt >= len(self.retry_delays):
                    raise
                holder.drop()
                if self.on_retry is not None:
                    self.on_retry(batch, exc, attempt + 1)
                time.sleep(self.retry_delays[attempt])
                attempt += 1
                if self.cancel is not None and self.cancel.is_set():
                    raise Cancelled() from None
                landed = None
                if self.committed is not None:
                    with contextlib.suppress(Exception):
                        landed = self.committed(holder.get(), batch)
                if landed is not None:  # the commit landed, only its answer was lost
                    rows, rejects = landed
                    with self._lock:
                        self._rejects_reserved += rejects
                    break
        self._count(batch, rows, rejects)

    def _count(self, batch: Batch, rows: int, rejects: int) -> None:
        nbytes = batch.end_offset - batch.offset if batch.end_offset >= 0 else len(batch.data)
        with self._lock:
            r = self.result
            r.rows += rows
            r.rejects += rejects
            r.records += batch.records
            r.bytes += nbytes
            r.batches += 1
            tally = r.per_file.setdefault(batch.file, FileTally())
            tally.records += batch.records
            tally.rows += rows
            tally.rejects += rejects
            total_rejects = r.rejects
        if self.on_batch is not None:
            self.on_batch(batch, rows, rejects)
        if self.on_progress is not None:
            self.on_progress(rows, nbytes, total_rejects)

    def _commit_batch(self, conn: psycopg.Connection[Any], batch: Batch) -> tuple[int, int]:
        """Load the batch and its checkpoint in one transaction; (rows, rejects)."""
        rejects = [Reject(batch.file, b.line, None, b.reason, b.raw) for b in batch.bad]
        if self.atomic:
            with conn.transaction():
                rows = self._load_good(conn, batch, rejects)
                self._settle(conn, batch, rows, rejects)
        else:
            rows = self._load_good(conn, batch, rejects)
            self._settle(conn, batch, rows, rejects)
        return rows, len(rejects)

    def _settle(self, conn: psycopg.Connection[Any], batch: Batch, rows: int, rejects: list[Reject]) -> None:
        """Before the commit: the arithmetic, the reject limit, the reject file, the checkpoint."""
        if batch.records >= 0 and rows + len(rejects) != batch.records:
            raise LineAccountingError(
                f"{batch.file}: lines {batch.first_line}-{batch.next_line - 1} hold {batch.records:,} records but "
                f"{rows:,} were loaded and {len(rejects):,} rejected: the batch was rolled back",
                hint="a reader disagreement; please report it with the file")
        if rejects:
            with self._lock:
                over = self.max_rejects is not None and self._rejects_reserved + len(rejects) > self.max_rejects
                if not over:
                    self._rejects_reserved += len(rejects)
            if over:
                first = min(rejects, key=lambda r: r.line)
                raise TooManyRejects(f"more than {self.max_rejects} rejected lines ({first.file} line {first.line}: "
                                     f"{first.reason})")
        try:
            self._write_rejects(rejects)
            if self.checkpoint is not None:
                self.checkpoint(conn, batch, rows, len(rejects))
        except BaseException:
            with self._lock:
                self._rejects_reserved -= len(rejects)
            raise

    def _load_good(self, conn: psycopg.Connection[Any], batch: Batch, rejects: list[Reject]) -> int:
        if not batch.data:
            return 0
        rows = self._try_copy(conn, batch.data)
        if rows is not None:
            return rows
        with self._lock:
            self.result.bisected_batches += 1
        return self._bisect_batch(conn, batch, rejects)

    def _try_copy(self, conn: psycopg.Connection[Any], data: bytes) -> int | None:
        """COPY one batch in a savepoint; None when the server refused it (rolled back)."""
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

    def _bisect_batch(self, conn: psycopg.Connection[Any], batch: Batch, rejects: list[Reject]) -> int:
        """Parse the refused batch, reject records that cannot parse, bisect the rest."""
        if batch.parsed is not None:
            records = batch.parsed
        else:
            records = list(iter_records(io.BytesIO(batch.raw if batch.raw is not None else batch.data),
                                        self.dialect, start_line=batch.first_line, start_offset=0))
        known = {b.line for b in batch.bad}
        good: list[Record] = []
        for rec in records:
            if rec.line in known:
                continue
            if rec.error:
                rejects.append(Reject(batch.file, rec.line, None, rec.error, rec.raw))
            else:
                good.append(rec)
        return self._bisect(conn, batch.file, good, rejects)

    def _encode(self, records: Sequence[Record]) -> bytes:
        codec = self.dialect.python_codec
        return "".join(r.raw if r.raw.endswith("\n") else r.raw + "\n" for r in records).encode(codec, "replace")

    def _load_records(self, conn: psycopg.Connection[Any], records: Sequence[Record]) -> int | None:
        """Load these records in a savepoint; None when the server refused them (rolled back)."""
        return self._try_copy(conn, self._encode(records))

    def _bisect(self, conn: psycopg.Connection[Any], path: str, records: Sequence[Record],
                rejects: list[Reject]) -> int:
        """Halve refused records until each bad one stands alone and is rejected."""
        if not records:
            return 0
        rows = self._load_records(conn, records)
        if rows is not None:
            return rows
        if len(records) == 1:
            rec = records[0]
            reason, column, _line = _describe(self._last_error)
            rejects.append(Reject(path, rec.line, column, reason, rec.raw))
            return 0
        mid = len(records) // 2
        return self._bisect(conn, path, records[:mid], rejects) + self._bisect(conn, path, records[mid:], rejects)


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

    Records are parsed here (the server cannot parse CSV for an INSERT) by the same reading
    rules; fields go as untyped literals that the server casts to each column. A refused
    batch is bisected exactly like a COPY batch, so only the bad records are rejected.
    ``atomic=False`` (KWDB time-series tables: no transaction with the checkpoint table):
    each piece commits on its own and the checkpoint follows; a redo after a crash relies on
    the engine's deduplication.
    """

    def __init__(self, *args: Any, batch_rows: int = 500, atomic: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batch_rows = max(1, batch_rows)
        self.atomic = atomic
        self._stmts: dict[int, sql.Composed] = {}
        self._ncols: int | None = len(self.columns) if self.columns else None

    def _setup(self, conn: psycopg.Connection[Any]) -> None:
        from kwtui.transfer.source import text_everything

        text_everything(conn)
        if not self.atomic:
            conn.autocommit = True

    def _batches(self, path: Path) -> Iterator[Batch]:
        for start_offset, start_line, end_offset in self._regions(path):
            with open(path, "rb") as fh:
                pending: list[Record] = []
                for rec in iter_records(fh, self.dialect, start_offset=start_offset, start_line=start_line):
                    if end_offset is not None and rec.offset >= end_offset:
                        break
                    pending.append(rec)
                    if len(pending) >= self.batch_rows:
                        yield self._records_batch(path, pending)
                        pending = []
                if pending:
                    yield self._records_batch(path, pending)

    def _records_batch(self, path: Path, records: list[Record]) -> Batch:
        bad = [BadRecord(r.offset, r.end_offset, r.line, r.error, r.raw) for r in records if r.error]
        good = [r for r in records if not r.error]
        lines = records[-1].line + records[-1].lines - records[0].line
        batch = Batch(b"", records[0].line, records[0].offset, lines, records[-1].end_offset, len(records), bad,
                      None, str(path), good)
        with self._lock:
            batch.number = next(self._numbers)
        return batch

    def _load_good(self, conn: psycopg.Connection[Any], batch: Batch, rejects: list[Reject]) -> int:
        good = batch.parsed or []
        if not good:
            return 0
        rows = self._insert(conn, good)
        if rows is not None:
            return rows
        with self._lock:
            self.result.bisected_batches += 1
        return self._bisect(conn, batch.file, good, rejects)

    def _load_records(self, conn: psycopg.Connection[Any], records: Sequence[Record]) -> int | None:
        return self._insert(conn, records)

    def _insert(self, conn: psycopg.Connection[Any], records: Sequence[Record]) -> int | None:
        if self._ncols is None:
            with conn.transaction(), conn.cursor() as cur:
                cur.execute(sql.SQL("SELECT * FROM {} LIMIT 0").format(qualified(self.schema, self.table)))
                self.columns = [d.name for d in cur.description or []]
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
        except psycopg.errors.SyntaxError as exc:
            if not _value_error(exc):
                raise
            self._last_error = exc
            return None
