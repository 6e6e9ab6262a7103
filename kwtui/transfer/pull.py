"""PostgreSQL -> KWDB at the speed of KWDB's own IMPORT: kwtui serves the rows, KWDB pulls them.

The streamed path (COPY / INSERT into KWDB) moves about 70,000 rows a second here; KWDB's
IMPORT reads CSV several times faster, and it reads ``http://`` sources (checked on V3.2.1:
a file list for a relational table; for a time-series table a directory, which KWDB lists
from an HTML index). So for each table:

1. PostgreSQL formats the rows itself (``COPY (SELECT ...) TO STDOUT`` in KWDB's CSV dialect,
   the columns in the target's order, a TS table's rows sorted by time) into one spool file
   ``n1.0.csv`` in a private directory (the format ``kwtui export`` writes, which KWDB's
   IMPORT takes with every value exact);
2. a small HTTP server on this host (``--serve-host``, loopback by default; a random path
   prefix) serves that file *while it is being written*: the response follows the growing
   file (chunked), so KWDB imports while PostgreSQL still copies; a ``Range`` request waits
   for its bytes; if the copy fails, the download breaks off and so does the IMPORT (a TS
   IMPORT, which asks the file's size first, is told a size no spool reaches and reads to the
   end of the body; it keeps what it read before a break, which kwtui counts and says);
3. ``IMPORT INTO`` runs on KWDB (autocommit) and kwtui checks the arithmetic: the rows KWDB
   says it imported must be the rows spooled, with no rejected or abandoned line (the table
   was empty and a relational IMPORT is atomic, so it holds them; a TS table is counted: it
   may hold fewer, KWDB keeping one row per timestamp and primary tags, which is said).

A relational IMPORT is atomic (it rolls back when it fails), so a table is loaded whole or
not at all; the target must be empty before (refused otherwise, nothing is guessed), and a
job resumed after a crash redoes a table whose target is still empty and marks done a table
whose target already holds exactly the spooled rows. The spool is removed afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from psycopg import sql

from kwtui.connection import ConnectionService
from kwtui.errors import KwtuiError, UsageError
from kwtui.transfer.csvdialect import CsvDialect
from kwtui.transfer.engine import TablePlan

PATH_LABEL = "http IMPORT (KWDB pulls the rows)"


@dataclass
class PullResult:
    table: str
    target: str
    rows: int = 0  # rows spooled from the source = rows KWDB imported
    target_rows: int = 0  # rows the target holds afterwards
    bytes: int = 0
    files: list[str] = field(default_factory=list)
    spool_s: float = 0.0  # 0 when the spool was written while KWDB imported it
    import_s: float = 0.0
    notices: list[str] = field(default_factory=list)
    path: str = PATH_LABEL

    @property
    def elapsed(self) -> float:
        return self.spool_s + self.import_s


class Spool:
    """The one spool file, written by a thread while the server reads it."""

    name = "n1.0.csv"

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.final = directory / self.name
        self.part = directory / (self.name + ".part")  # _copy_to_chunks' temporary name
        self.done = threading.Event()
        self.error: BaseException | None = None
        #: the IMPORT ended first (it failed): the copy stops at its next block (the COPY's cancel)
        self.aborted = threading.Event()

    def finish(self, error: BaseException | None = None) -> None:
        self.error = error
        self.done.set()

    def size(self) -> int | None:
        """The whole file's size once it is complete, else None."""
        return self.final.stat().st_size if self.done.is_set() and self.error is None and self.final.exists() else None

    def open(self, timeout: float = 600.0) -> Any:
        """The file being written (or written), opened for reading; waits for it to appear."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for path in (self.final, self.part):
                try:
                    return path.open("rb")
                except FileNotFoundError:
                    continue
            if self.done.is_set():
                raise OSError(f"the spool failed: {self.error}" if self.error else "the spool file is missing")
            time.sleep(0.005)
        raise OSError("timed out waiting for the spool file")


#: The size a HEAD of a TS spool still being written answers: more than any spool reaches.
#: KWDB's TS IMPORT asks the size first and reads nothing of a file without one (a chunked HEAD:
#: 0 rows imported, checked on V3.2.1); with one thread it then asks ``bytes=0-<size>`` and reads
#: until the body ends, so the rows flow while PostgreSQL still copies them (1,000,000 rows: the
#: IMPORT ended 0.6 s sooner than when HEAD waited for the whole file). Its reader stops at the
#: announced size or at the end of the body, whichever comes first.
OPEN_SIZE = 1 << 50


class _Handler(http.server.BaseHTTPRequestHandler):
    """The spool file (streamed while it grows) and a bare index of it, under one random prefix."""

    protocol_version = "HTTP/1.1"
    prefix = "/"
    spool: Spool
    #: HEAD of the file answers OPEN_SIZE while it grows (for KWDB's TS IMPORT, above); the
    #: relational IMPORT streams without asking
    open_head = False

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        pass

    def do_HEAD(self) -> None:
        if self.open_head and self.path.split("?")[0] == self.prefix + self.spool.name \
                and self.spool.size() is None:
            self._head(200, {"Content-Length": str(OPEN_SIZE)})
            return
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def _serve(self, *, body: bool) -> None:
        path = self.path.split("?")[0]
        if path in (self.prefix, self.prefix.rstrip("/")):  # KWDB's TS IMPORT lists the directory
            index = f'<html><body>\n<a href="{self.spool.name}">{self.spool.name}</a>\n</body></html>\n'.encode()
            self._head(200, {"Content-Type": "text/html; charset=utf-8", "Content-Length": str(len(index))})
            if body:
                self.wfile.write(index)
            return
        if path != self.prefix + self.spool.name:
            self._head(404, {"Content-Length": "0"})
            return
        start, end = self._range()
        size = self.spool.size()
        if end is not None and (end >= OPEN_SIZE - 1 or (size is not None and end >= size)):
            end = None  # up to the announced open size, or past the end: to the end of the file
        if start == 0 and (end == 0 or not self.spool.done.is_set()):
            # KWDB probes with 'bytes=0-0' before it reads: a 1-byte answer was taken for the whole
            # file (checked while it grew; and once written: "expected 3 fields, got 1 (row: "1")"
            # when the spool was done before the probe): answer with the whole file instead
            end = None
        try:
            fh = self.spool.open()
        except OSError:
            self._head(404, {"Content-Length": "0"})
            return
        with fh:
            if end is not None:  # bytes=a-b: wait for those bytes, then send them
                data = self._read_exactly(fh, start, end - start + 1)
                total = self.spool.size()
                self._head(206, {"Content-Length": str(len(data)),
                                 "Content-Range": f"bytes {start}-{start + len(data) - 1}/{total or '*'}"})
                if body:
                    self.wfile.write(data)
                return
            size = self.spool.size()
            status = 206 if start else 200
            headers = {"Content-Length": str(size - start)} if size is not None else {"Transfer-Encoding": "chunked"}
            if start and size is not None:
                headers["Content-Range"] = f"bytes {start}-{size - 1}/{size}"
            self._head(status, headers)
            if not body:
                if size is None:
                    self.wfile.write(b"0\r\n\r\n")
                return
            fh.seek(start)
            self._follow(fh, chunked=size is None)

    def _head(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()

    def _range(self) -> tuple[int, int | None]:
        value = (self.headers.get("Range") or "").strip()
        if not value.startswith("bytes=") or "," in value:
            return 0, None
        a, _, b = value[6:].partition("-")
        try:
            return int(a or 0), (int(b) if b else None)
        except ValueError:
            return 0, None

    def _read_exactly(self, fh: Any, start: int, n: int) -> bytes:
        out = b""
        while len(out) < n:
            fh.seek(start + len(out))
            got = fh.read(n - len(out))
            if got:
                out += got
            elif self.spool.done.is_set():
                if self.spool.error is not None:
                    raise OSError("the spool failed")
                break  # the file is shorter than the range
            else:
                time.sleep(0.005)
        return out

    def _follow(self, fh: Any, *, chunked: bool) -> None:
        """Send the file from its position, following it while the spool writes it (sendfile:
        the bytes go from the page cache to the socket without passing through Python)."""
        while True:
            pos = fh.tell()
            n = min(os.fstat(fh.fileno()).st_size - pos, 8 << 20)
            if n > 0:
                if chunked:
                    self.wfile.write(b"%x\r\n" % n)
                sent = self.connection.sendfile(fh, pos, n)
                fh.seek(pos + sent)
                if chunked:
                    if sent != n:
                        raise OSError("the download was cut short")
                    self.wfile.write(b"\r\n")
                continue
            if self.spool.done.is_set():
                if self.spool.error is not None:
                    raise OSError("the spool failed: the download breaks off, so does the IMPORT")
                if fh.tell() >= self.spool.final.stat().st_size:
                    break
                continue
            time.sleep(0.005)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # KWDB closes a download it has read enough of (a reset mid-file): not an error of ours


class SpoolServer:
    """An HTTP server for one spool, on ``host`` (a free port), in a thread of its own."""

    def __init__(self, spool: Spool, host: str = "127.0.0.1", *, open_head: bool = False) -> None:
        self.spool = spool
        self.host = host
        self.token = secrets.token_hex(8)
        handler = type("_SpoolHandler", (_Handler,), {"prefix": f"/kwtui-{self.token}/", "spool": spool,
                                                       "open_head": open_head})
        self.httpd = _Server((host, 0), handler)
        # shutdown() waits for the serving loop's next poll: 0.5 s by default, a visible share of a
        # table's load (measured: 0.15 s of 4.2 s for 1,000,000 rows); 5 ms: 200 wake-ups a second
        # of an idle thread cost nothing measurable
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.005},
                                       name="kwtui-spool", daemon=True)

    def url(self, relative: str = "") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.httpd.server_address[1]}/kwtui-{self.token}/{relative}"

    def __enter__(self) -> SpoolServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextlib.contextmanager
def spool_dir(root: Path | None = None) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="kwtui-pull-", dir=str(root) if root else None))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


async def _ask(svc: ConnectionService, template: str, schema: str, name: str) -> tuple[list[str], Any]:
    """One statement about one table, on a connection of its own: (column names, first row)."""
    conn = await svc.open_raw(autocommit=True)
    try:
        cur = await conn.execute(sql.SQL(template).format(sql.Identifier(schema, name)))  # type: ignore[arg-type]
        return [d.name for d in cur.description or []], await cur.fetchone()
    finally:
        await conn.close()


async def _count(svc: ConnectionService, schema: str, name: str) -> int:
    row = (await _ask(svc, "SELECT count(*) FROM {}", schema, name))[1]
    return int(row[0]) if row else 0


async def _refuse_filled(src: ConnectionService, dst: ConnectionService, plan: TablePlan, label: str) -> None:
    """--via-import loads an empty table only: refuse a filled one, and say what it holds and why it may."""
    target = (plan.target_schema, plan.target_name)
    held = await _count(dst, *target)
    source_rows = await _count(src, plan.source.table.schema, plan.source.table.name)
    same = (" as many as the source: a run that was stopped may have finished on the server (KWDB's "
            "IMPORT job goes on without its client); check it with kwtui validate") if held == source_rows else \
        f" (the source has {source_rows:,})"
    raise UsageError(f"{label} already holds {held:,} rows,{same}; --via-import loads an empty table "
                     "only: empty it to load it again")


#: a job in one of these states still holds its table (offline while it imports or rolls back)
_UNSETTLED = ("succeeded", "failed", "canceled", "cancelled")


async def refuse_busy_target(dst: ConnectionService, schema: str, name: str) -> None:
    """Refuse a table that a KWDB IMPORT job still holds (the table is offline until it ends).

    Seen after kill -9 of a ``--via-import`` run (seeded attack, test_pull): KWDB's job kept
    retrying its vanished ``http://`` source (``connection refused``) for about 62 s, then
    failed and rolled back; meanwhile the table did not exist for SELECT and a new run would
    only have said so. Named here with the job, its cause and what to do.
    """
    import re

    from kwtui.transfer.native import parse_show_jobs

    db = await dst.query("SELECT current_database()")
    database = str(db.rows[0][0]) if db.rows else ""
    res = await dst.query("SELECT * FROM [SHOW JOBS] WHERE job_type = 'IMPORT' AND status NOT IN "
                          "('succeeded', 'failed', 'canceled')")
    wanted = re.compile(r"(?<![\w$])" + re.escape(f"{database}.{schema}.{name}") + r"(?![\w$])", re.IGNORECASE)
    for job in parse_show_jobs(res.columns, res.rows):
        text = f"{job.description or ''} {job.statement or ''}"
        if (job.status or "").lower() in _UNSETTLED or not wanted.search(text):
            continue
        ours = "/kwtui-" in text and "http" in text
        why = ("it pulls from the spool server of an earlier kwtui run that was stopped (its source is gone: "
               "KWDB retries it for about a minute, then fails the job and rolls the table back)") if ours else \
            "another import is loading it"
        fix = (f"wait until kwtui jobs native-list shows job {job.job_id} ended, or cancel it "
               f"(kwtui jobs native-cancel {job.job_id}), then run again")
        raise UsageError(f"{schema}.{name}: KWDB's IMPORT job {job.job_id} ({job.status}) still holds this table; "
                         f"{why}; {fix}", hint=fix)


async def _say_what_the_ts_table_holds(dst: ConnectionService, target: tuple[str, str], exc: BaseException) -> None:
    """After a failed TS load: raise the failure with the rows the table now holds (KWDB's TS
    IMPORT keeps what it read before a download broke off, and says it succeeded)."""
    try:
        held = await _count(dst, *target)
    except Exception:  # noqa: BLE001 (the load's own failure is the one to report)
        return
    if held:
        message = exc.message if isinstance(exc, KwtuiError) else str(exc) or type(exc).__name__
        raise KwtuiError(f"{message}; KWDB's time-series IMPORT kept the {held:,} rows it had read (it is not "
                         f"atomic): empty {target[0]}.{target[1]} before you load it again") from exc


def check_pull(src: ConnectionService, dst: ConnectionService) -> None:
    """The pull path needs a PostgreSQL source (COPY TO) and a KWDB target (IMPORT)."""
    if src.info is None or dst.info is None or src.dialect is None:
        raise UsageError("not connected")
    if not src.dialect.caps.copy_to_stdout or src.info.kind != "postgres":
        raise UsageError("--via-import needs a PostgreSQL source (its COPY TO writes the files KWDB pulls)")
    if dst.info.kind != "kwdb":
        raise UsageError("--via-import needs a KWDB target (its IMPORT pulls the files)")


async def pull_table(src: ConnectionService, dst: ConnectionService, plan: TablePlan, *, host: str = "127.0.0.1",
                     spool_root: Path | None = None, chunk_rows: int = 100_000,
                     thread_concurrency: int | None = None, create: Any = None,
                     on_progress: Any = None) -> PullResult:
    """One table, PostgreSQL -> KWDB by IMPORT over HTTP (see the module's text).

    ``create``: an async callable that creates the missing target (the engine's), used when
    ``plan.create``. ``on_progress(rows, bytes)`` is called while the spool is written.
    """
    from kwtui.transfer.files import _copy_to_chunks, csv_copy_options
    from kwtui.transfer.native import ImportOptions, import_into, parse_result
    from kwtui.transfer.source import select_query

    check_pull(src, dst)
    res = PullResult(plan.label, f"{plan.target_schema}.{plan.target_name}")
    target = (plan.target_schema, plan.target_name)
    if plan.create:  # not listed: it may be missing, or offline under an IMPORT (hidden from the catalog)
        await refuse_busy_target(dst, *target)
        if create is not None:
            await create(plan)
    # one statement on the open connection: the target's columns, and whether it holds a row.
    # (Starting the COPY before this and the caller's lock, for a spool ahead of KWDB's reading,
    # saved nothing: the lock's statements then waited for the cores, 20 A/B runs each.)
    probe = await dst.query(sql.SQL("SELECT * FROM {} LIMIT 1").format(sql.Identifier(*target)), max_rows=1)
    target_cols = probe.columns
    if probe.rows:
        await _refuse_filled(src, dst, plan, res.target)
    by_lower = {c.lower(): c for c in plan.columns}
    missing = [c for c in target_cols if c.lower() not in by_lower]
    if missing:
        raise UsageError(f"{res.target}: the source has no column {', '.join(missing)}")
    columns = [by_lower[c.lower()] for c in target_cols]
    t = plan.source.table
    query = select_query(t.schema, t.name, columns, order_by=plan.order_by or None)
    stmt = sql.SQL("COPY ({}) TO STDOUT ({})").format(query, csv_copy_options(CsvDialect()))
    loop = asyncio.get_running_loop()

    def on_bytes(nbytes: int, nrows: int) -> None:
        if on_progress is not None:
            loop.call_soon_threadsafe(on_progress, nrows, nbytes)

    with spool_dir(spool_root) as directory:
        spool = Spool(directory)

        def write_spool() -> tuple[int, int, list[str]]:
            try:
                out = _copy_to_chunks(src.conninfo_kwargs(), stmt, directory, 0, spool.aborted, on_bytes, b"")
            except BaseException as exc:
                spool.finish(exc)
                raise
            spool.finish()
            return out

        started = time.perf_counter()
        with SpoolServer(spool, host, open_head=plan.target_ts) as server:
            writer = asyncio.ensure_future(asyncio.to_thread(write_spool))
            opts = ImportOptions(thread_concurrency=thread_concurrency) if thread_concurrency else None
            if plan.target_ts:  # KWDB's TS IMPORT takes a directory (it reads the HTML index)
                # one thread, said: with more, KWDB V3.2.1's TS IMPORT read rows more than once
                # (1,000 rows: 2,000 'imported' with 2 threads, 3,250 with 4; dedup hid the copies),
                # and it would split the file by the open size HEAD answers (OPEN_SIZE)
                native = import_into((plan.target_schema, plan.target_name), server.url(""),
                                     options=ImportOptions(thread_concurrency=1))
            else:
                native = import_into((plan.target_schema, plan.target_name), [server.url(Spool.name)], options=opts)
            try:
                try:
                    async with dst.autocommit() as conn:
                        cur = await conn.execute(native.sql)  # type: ignore[arg-type]  # built and quoted by native
                        columns_out = [d.name for d in cur.description or []]
                        result = parse_result(columns_out, await cur.fetchall())
                except BaseException:
                    failed_first = spool.error
                    spool.aborted.set()  # the copy stops at its next block, before its directory goes
                    await asyncio.gather(writer, return_exceptions=True)
                    if failed_first is not None:  # the copy failed first: that is the cause
                        raise failed_first from None
                    raise
                rows, size, names = await writer
            except Exception as exc:
                if plan.target_ts:  # a TS IMPORT is not atomic: KWDB keeps what it read before the break
                    await _say_what_the_ts_table_holds(dst, target, exc)
                raise
        res.rows, res.bytes, res.files = rows, size, names
        res.import_s = time.perf_counter() - started
        res.spool_s = 0.0  # overlapped with the import
    imported = result.rows
    rejected = result.reject_rows + result.abandon_rows
    # a relational IMPORT into an empty table is atomic: the table holds what it says it imported
    # (a count(*) of 1,000,000 rows costs 0.34 s here); a TS table may keep fewer (dedup): counted
    res.target_rows = await _count(dst, *target) if plan.target_ts or not result.ok else (imported or 0)
    if not result.ok or rejected or imported != res.rows:
        raise KwtuiError(f"{res.target}: KWDB's IMPORT took {imported if imported is not None else '?'} of "
                         f"{res.rows:,} rows ({rejected} rejected or abandoned; status {result.status}); "
                         f"the table holds {res.target_rows:,} rows",
                         hint="transfer this table without --via-import to see the bad rows")
    if res.target_rows != res.rows:
        if plan.target_ts and res.target_rows < res.rows:
            res.notices.append(f"{res.target}: {res.rows - res.target_rows:,} rows share a timestamp and primary "
                               "tags with another: KWDB keeps one of each")
        else:
            raise KwtuiError(f"{res.target}: {res.rows:,} rows imported but the table holds {res.target_rows:,}")
    return res
