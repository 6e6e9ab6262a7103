"""Imports as journaled, resumable jobs: every input record accounted for, each exactly once.

The model is the transfer engine's (:mod:`kwtui.transfer.resumable`):

* The job (its source path, tables, files, CSV dialect and options) is written to the
  journal before any row moves, after the preconditions hold (the reject file opens for
  writing, the target answers, the target tables exist or can be made).
* Each batch of whole records commits in ONE target transaction together with its row in
  ``kwtui_journal.checkpoints``: the table, a batch number, and its position in the input
  (file, first and next byte offset, first and next line) with its arithmetic (records
  read, rows loaded, lines rejected). Whatever instant the process dies, the target itself
  says which byte ranges of which files landed; ``kwtui jobs resume N`` loads exactly the
  ranges between them (keyless tables included: nothing is loaded twice).
* A dropped connection or a server restart retries the batch (after asking the target
  whether its checkpoint landed); a data error rejects lines, never the batch.
* Per file and in total: records read = rows loaded + lines rejected, or the job fails.
* A stop or a failure says what landed (rows per table) and the command that continues.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from kwtui.connection import ConnectionService
from kwtui.errors import KwtuiError, UsageError
from kwtui.transfer.csvdialect import CsvDialect
from kwtui.transfer.loader import (
    Batch,
    CsvLoader,
    FileTally,
    InsertLoader,
    LoadResult,
    Region,
    data_start,
    open_reject_file,
)
from kwtui.transfer.progress import Listener, Progress
from kwtui.transfer.source import column_list, qualified, split_name

#: the position columns an import adds to the transfer engine's checkpoint table
IMPORT_CHECKPOINT_COLUMNS = (("file", "TEXT"), ("start_offset", "BIGINT"), ("end_offset", "BIGINT"),
                             ("first_line", "BIGINT"), ("next_line", "BIGINT"), ("records", "BIGINT"),
                             ("rejects", "BIGINT"))


@dataclass
class ImportTarget:
    """One table of an import: where its files go."""

    schema: str
    name: str
    layout: Any  # the layout table (meta.sql) or None
    create: bool
    files: list[Path]

    @property
    def label(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass
class Committed:
    """A committed batch, as the target's checkpoint table says."""

    batch: int
    file: str
    start_offset: int
    end_offset: int
    first_line: int
    next_line: int
    records: int
    rows: int
    rejects: int


@dataclass
class TableTally:
    table: str
    files: dict[str, FileTally] = field(default_factory=dict)

    @property
    def records(self) -> int:
        return sum(f.records for f in self.files.values())

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files.values())

    @property
    def rejects(self) -> int:
        return sum(f.rejects for f in self.files.values())


def dialect_options(dialect: CsvDialect) -> dict[str, str]:
    return {"delimiter": dialect.delimiter, "enclosed": dialect.enclosed, "escaped": dialect.escaped,
            "nullas": dialect.nullas, "charset": dialect.charset}


def fingerprints(targets: list[ImportTarget]) -> dict[str, int]:
    """The size of every input file: a resumed job refuses files that changed."""
    return {str(f): f.stat().st_size for t in targets for f in t.files}


def plan_import(svc: ConnectionService, source: Path, *, into: str | None, create: bool, database: bool,
                schema: str | None, notices: list[str]) -> list[ImportTarget]:
    """Which files go into which table (the same answer on every run of a job)."""
    from kwtui.transfer.layout import read_layout

    if not source.exists():
        raise UsageError(f"{source} does not exist")
    layout = read_layout(source)
    notices.extend(layout.warnings)
    assert svc.info is not None
    on_pg = svc.info.kind == "postgres"
    jobs: list[ImportTarget] = []
    if into and not create:
        if database:
            raise UsageError("give one of --into, --create, --database")
        sch, name = split_name(into)
        jobs.append(ImportTarget(sch, name, None, False, list(layout.data_files)))
    elif create:
        from kwtui.transfer.files import meta_table_name, renamed_table

        if database:
            raise UsageError("give one of --create or --database")
        if layout.kind != "table" or len(layout.tables) != 1:
            raise UsageError(f"--create needs a table export (meta.sql + n1.*.csv); {source} holds a {layout.kind}")
        t = layout.tables[0]
        # named as meta.sql's CREATE TABLE names it (as KWDB's IMPORT TABLE CREATE USING does), not after
        # the folder; --into / --schema rename it
        sch, name = split_name(into) if into else (schema or t.schema or "public", meta_table_name(t))
        jobs.append(ImportTarget(sch, name, renamed_table(t, name), True, list(t.data_files)))
    elif database:
        if layout.kind != "database":
            raise UsageError(f"--database needs a database export tree; {source} holds a {layout.kind}")
        for t in layout.tables:
            sch = schema or t.schema or "public"
            if layout.is_ts and on_pg and not schema:
                sch = layout.database or "public"
            jobs.append(ImportTarget(sch, t.name, t, True, list(t.data_files)))
        if layout.is_ts and on_pg:
            notices.append(f"CREATE TS DATABASE {layout.database}: PostgreSQL has no time-series databases; "
                           f"its tables go to the schema {jobs[0].schema if jobs else layout.database} as ordinary "
                           "tables (tags last, key on timestamp + primary tags)")
    else:
        raise UsageError("give one of --into TABLE, --create or --database")
    return jobs


class ImportRun:
    """Runs (or resumes) one import job of the journal."""

    def __init__(self, svc: ConnectionService, dialect: CsvDialect, targets: list[ImportTarget], *,
                 reject_path: Path, columns: list[str] | None = None, skip_header: bool = False,
                 max_rejects: int | None = None, batch_rows: int = 500, workers: int = 1,
                 listener: Listener | None = None, cancel: threading.Event | None = None,
                 journal: Any = None, job_id: int | None = None, resume: bool = False,
                 outcome: Any = None, retry_delays: tuple[float, ...] = (0.5, 1, 2, 4, 8, 15),
                 batch_bytes: int | None = None) -> None:
        from kwtui.transfer.files import ImportOutcome

        self.svc, self.dialect, self.targets = svc, dialect, targets
        self.reject_path = reject_path
        self.columns, self.skip_header = columns, skip_header
        self.max_rejects, self.batch_rows, self.workers = max_rejects, batch_rows, workers
        self.listener = listener
        self.cancel = cancel or threading.Event()
        self.journal, self.job_id, self.resume = journal, job_id, resume
        self.out = outcome if outcome is not None else ImportOutcome()
        self.retry_delays = retry_delays
        self.batch_bytes = batch_bytes
        self.tallies: dict[str, TableTally] = {}
        self.use_checkpoints = False
        self._reject_fh: Any = None

    # -- what landed -------------------------------------------------------------------------

    def landed(self) -> str:
        """Rows committed per table, and what the input says (for every stop and failure)."""
        parts = []
        for t in self.targets:
            tally = self.tallies.get(t.label)
            rows = tally.rows if tally else 0
            rejected = tally.rejects if tally else 0
            parts.append(f"{t.label} {rows:,} rows committed" + (f", {rejected:,} lines rejected" if rejected else ""))
        return "; ".join(parts) or "nothing committed"

    def next_step(self) -> str:
        if self.job_id is None:
            return "run the import again"
        return f"continue with: kwtui jobs resume {self.job_id}"

    # -- checkpoints ---------------------------------------------------------------------------

    async def _ensure_checkpoints(self) -> bool:
        from kwtui.transfer.engine import error_message
        from kwtui.transfer.resumable import CHECKPOINT_DDL

        if self.journal is None or self.job_id is None:
            return False
        conn = await self.svc.open_raw(autocommit=True)
        try:
            for stmt in CHECKPOINT_DDL:
                await conn.execute(stmt)  # type: ignore[arg-type]  # constant DDL
            for name, typ in IMPORT_CHECKPOINT_COLUMNS:
                await conn.execute(sql.SQL("ALTER TABLE kwtui_journal.checkpoints ADD COLUMN IF NOT EXISTS {} {}")
                                   .format(sql.Identifier(name), sql.SQL(typ)))
            return True
        except psycopg.Error as exc:
            self.journal.log(self.job_id, "warning", f"no checkpoint table on the target ({error_message(exc)}); "
                             "a resumed import loads its files again from the start")
            return False
        finally:
            await conn.close()

    async def _committed(self, table: str) -> list[Committed]:
        conn = await self.svc.open_raw(autocommit=True)
        try:
            cur = await conn.execute(
                "SELECT batch, file, start_offset, end_offset, first_line, next_line, records, rows, rejects"
                " FROM kwtui_journal.checkpoints WHERE job_id = %s AND table_name = %s AND file IS NOT NULL"
                " ORDER BY file, start_offset", (self.job_id, table))
            return [Committed(int(r[0]), str(r[1]), *(int(v or 0) for v in r[2:])) for r in await cur.fetchall()]
        finally:
            await conn.close()

    def _checkpoint(self, table: str) -> Any:
        stmt = sql.SQL(
            "INSERT INTO kwtui_journal.checkpoints (job_id, table_name, batch, rows, file, start_offset, end_offset,"
            " first_line, next_line, records, rejects) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)")
        job_id = self.job_id

        def checkpoint(conn: psycopg.Connection[Any], batch: Batch, rows: int, rejects: int) -> None:
            conn.execute(stmt, (job_id, table, batch.number, rows, batch.file, batch.offset, batch.end_offset,
                                batch.first_line, batch.next_line, batch.records, rejects))

        return checkpoint

    def _was_committed(self, table: str) -> Any:
        job_id = self.job_id

        def committed(conn: psycopg.Connection[Any], batch: Batch) -> tuple[int, int] | None:
            with conn.transaction():
                row = conn.execute("SELECT rows, rejects FROM kwtui_journal.checkpoints WHERE job_id = %s AND"
                                   " table_name = %s AND batch = %s", (job_id, table, batch.number)).fetchone()
            return None if row is None else (int(row[0]), int(row[1] or 0))

        return committed

    # -- running -------------------------------------------------------------------------------

    async def run(self) -> Any:
        from kwtui.transfer.engine import error_message
        from kwtui.transfer.loader import TooManyRejects
        from kwtui.transfer.pump import Cancelled

        existed = self.reject_path.exists()
        self._reject_fh = open_reject_file(self.reject_path)  # before any row moves
        journal, job_id = self.journal, self.job_id
        progress = Progress(self.listener, tables_total=len(self.targets))
        request: list[str] = []
        beat: asyncio.Task[None] | None = None
        if journal is not None and job_id is not None:
            journal.start(job_id)
            beat = asyncio.create_task(self._heartbeat(progress, request))
        status, error = "completed", None
        try:
            self.use_checkpoints = await self._ensure_checkpoints()
            for t in self.targets:
                await self._run_table(t, progress)
        except (asyncio.CancelledError, KeyboardInterrupt):
            status, error = "interrupted", f"interrupted: {self.landed()}; {self.next_step()}"
            raise
        except Cancelled:
            status = "paused" if request and request[-1] == "pause" else "cancelled"
            error = f"{status} at the request of another process: {self.landed()}" + (
                f"; {self.next_step()}" if status == "paused" else "")
            raise KwtuiError(error) from None
        except TooManyRejects as exc:
            status, error = "failed", f"{exc.message}: stopped; {self.landed()}; raise --max-rejects, then " \
                                      f"{self.next_step()} --max-rejects N"
            raise KwtuiError(error) from None
        except KwtuiError as exc:
            status = "failed"
            error = f"{exc.message}; {self.landed()}; {self.next_step()}"
            raise type(exc)(error, hint=exc.hint) from None
        except Exception as exc:
            status = "failed"
            error = f"{error_message(exc)}; {self.landed()}; {self.next_step()}"
            raise KwtuiError(error) from None
        finally:
            if beat is not None:
                beat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await beat
            if self._reject_fh is not None:
                self._reject_fh.close()
            with contextlib.suppress(OSError):
                if not existed and self.reject_path.stat().st_size == 0:
                    self.reject_path.unlink()  # nothing was rejected: no empty reject file left behind
            if journal is not None and job_id is not None:
                journal.finish(job_id, status, error)
        progress.emit(done=True, phase="done")
        return self.out

    async def _heartbeat(self, progress: Progress, request: list[str]) -> None:
        """Keep the job alive in the journal (a long batch sends no progress) and take requests."""
        assert self.journal is not None and self.job_id is not None
        while True:
            asked = await asyncio.to_thread(self.journal.heartbeat, self.job_id, progress.rows, progress.bytes,
                                            progress.rejects)
            if asked in ("cancel", "pause") and not self.cancel.is_set():
                request.append(asked)
                self.journal.log(self.job_id, "info", f"{asked} at the request of another process")
                self.cancel.set()
            await asyncio.sleep(1.0)

    async def _table_exists(self, t: ImportTarget) -> Any:
        assert self.svc.dialect is not None
        listed = {x.name: x for x in await self.svc.dialect.list_tables(self.svc, t.schema)}
        return listed.get(t.name)

    async def _run_table(self, t: ImportTarget, progress: Progress) -> None:
        from kwtui.transfer.files import ImportedTable, _create_target

        assert self.svc.dialect is not None and self.svc.info is not None
        on_pg = self.svc.info.kind == "postgres"
        journal, job_id = self.journal, self.job_id
        done_before = None
        if journal is not None and job_id is not None and self.resume:
            job = journal.get(job_id)
            done_before = next((jt for jt in job.tables if jt.name == t.label and jt.status == "completed"), None)
        tally = self.tallies.setdefault(t.label, TableTally(t.label))
        res = ImportedTable(t.label, files=[str(f) for f in t.files])
        started = time.perf_counter()
        progress.table = t.label
        existing = await self._table_exists(t)
        if t.create and existing is None:
            await _create_target(self.svc, t.schema, t.name, t.layout, self.out)
            res.created = True
            existing = await self._table_exists(t)
        if existing is None:
            raise UsageError(f"target table {t.label} does not exist (use --create to make it from meta.sql)")
        if journal is not None and job_id is not None:
            journal.table_started(job_id, t.label, "import")
        use_copy = self.svc.dialect.caps.copy_from_stdin and on_pg and not existing.is_ts
        res.path = "COPY (server parses the CSV)" if use_copy else "batched INSERT"
        committed = await self._committed(t.label) if self.use_checkpoints and self.resume else []
        regions: dict[str, list[Region]] = {}
        spans: dict[str, list[tuple[int, int | None]]] = {}
        for f in t.files:
            start = await asyncio.to_thread(data_start, f, self.dialect, self.skip_header)
            mine = [c for c in committed if c.file == str(f)]
            regions[str(f)], spans[str(f)] = _gaps(start, mine)
            ft = tally.files.setdefault(str(f), FileTally())
            for c in mine:
                ft.records += c.records
                ft.rows += c.rows
                ft.rejects += c.rejects
        if committed:
            await asyncio.to_thread(self._drop_stale_rejects, spans)
        if journal is not None and job_id is not None and self.resume:
            journal.set_table_progress(job_id, t.label, tally.rows, 0, [c.batch for c in committed],
                                       records=tally.records, rejects=tally.rejects)
            if committed:
                journal.log(job_id, "info", f"{t.label}: {len(committed)} batches already committed "
                            f"({tally.rows:,} rows, {tally.rejects:,} rejected), resuming with the rest")
        if done_before is not None and not committed:  # no checkpoint table: the journal's word
            tally.files = {"": FileTally(done_before.records, done_before.rows, done_before.rejects)}
        progress.add(tally.rows, 0, tally.rejects)
        if done_before is None:
            result = await self._load(t, regions, use_copy, existing.is_ts, committed, progress)
            res.bytes = result.bytes
            res.reject_file = result.reject_file
        if t.create and t.layout is not None and t.layout.key_columns and on_pg and not await self._has_key(t):
            conn = await self.svc.open_raw(autocommit=True)
            try:
                await conn.execute(sql.SQL("ALTER TABLE {} ADD PRIMARY KEY ({})").format(
                    qualified(t.schema, t.name), column_list(t.layout.key_columns)))
            finally:
                await conn.close()
        # the arithmetic, per file and in total
        for fname, ft in tally.files.items():
            if not ft.balanced:
                raise KwtuiError(f"line accounting failed for {fname}: {ft.records:,} records read, {ft.rows:,} loaded, "
                                 f"{ft.rejects:,} rejected")
        res.records, res.rows, res.rejects = tally.records, tally.rows, tally.rejects
        res.per_file = {f: {"records": ft.records, "rows": ft.rows, "rejects": ft.rejects}
                        for f, ft in tally.files.items()}
        if res.rejects and res.reject_file is None:
            res.reject_file = str(self.reject_path)
        res.elapsed = time.perf_counter() - started
        progress.tables_done += 1
        self.out.tables.append(res)
        if journal is not None and job_id is not None:
            journal.table_finished(job_id, t.label, "completed")

    async def _has_key(self, t: ImportTarget) -> bool:
        conn = await self.svc.open_raw(autocommit=True)
        try:
            cur = await conn.execute("SELECT count(*) FROM pg_index WHERE indrelid = %s::regclass AND indisprimary",
                                     (qualified(t.schema, t.name).as_string(conn),))
            row = await cur.fetchone()
            return bool(row and row[0])
        finally:
            await conn.close()

    async def _load(self, t: ImportTarget, regions: dict[str, list[Region]], use_copy: bool, is_ts: bool,
                    committed: list[Committed], progress: Progress) -> LoadResult:
        loop = asyncio.get_running_loop()
        journal, job_id = self.journal, self.job_id
        tally = self.tallies[t.label]

        lock = threading.Lock()

        def on_batch(batch: Batch, rows: int, rejects: int) -> None:
            with lock:
                ft = tally.files.setdefault(batch.file, FileTally())
                ft.records += batch.records
                ft.rows += rows
                ft.rejects += rejects
            loop.call_soon_threadsafe(progress.add, rows, batch.end_offset - batch.offset, rejects)
            if journal is not None and job_id is not None:
                journal.batch_done(job_id, t.label, batch.number, rows, batch.end_offset - batch.offset, rejects,
                                   records=batch.records)

        cols = self.columns or (t.layout.column_names if t.layout is not None else None)
        kwargs: dict[str, Any] = {
            "skip_header": self.skip_header, "max_rejects": self.max_rejects, "reject_path": self.reject_path,
            "cancel": self.cancel, "reject_fh": self._reject_fh, "regions": regions,
            "on_batch": on_batch, "first_batch": max((c.batch for c in committed), default=-1) + 1,
            "rejects_before": sum(x.rejects for x in self.tallies.values()),  # committed, all tables of the job
            "retry_delays": self.retry_delays}
        if self.batch_bytes:
            kwargs["batch_bytes"] = self.batch_bytes
        if journal is not None and job_id is not None:
            def on_retry(batch: Batch, exc: BaseException, attempt: int) -> None:
                from kwtui.transfer.engine import error_message

                journal.log(job_id, "warning", f"{t.label} {batch.file} lines {batch.first_line}-"
                            f"{batch.next_line - 1}: {error_message(exc)}; retry {attempt}/{len(self.retry_delays)}")
                msg = f"retrying after: {error_message(exc)}"
                loop.call_soon_threadsafe(lambda: progress.emit(phase="retry", message=msg))

            kwargs["on_retry"] = on_retry
        if self.use_checkpoints:
            kwargs["checkpoint"] = self._checkpoint(t.label)
            kwargs["committed"] = self._was_committed(t.label)
        conninfo = self.svc.conninfo_kwargs()
        if use_copy:
            loader: CsvLoader = CsvLoader(conninfo, t.schema, t.name, cols, self.dialect, workers=self.workers,
                                          **kwargs)
        else:
            loader = InsertLoader(conninfo, t.schema, t.name, cols, self.dialect, batch_rows=self.batch_rows,
                                  atomic=not is_ts, **kwargs)
        fut = loop.run_in_executor(None, loader.load, list(t.files))
        try:
            result: LoadResult = await asyncio.shield(fut)
        except BaseException:
            self.cancel.set()  # the loader stops at its next batch; wait for it, so "landed" is exact
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(fut), 60)
            raise
        return result

    def _drop_stale_rejects(self, spans: dict[str, list[tuple[int, int | None]]]) -> None:
        """On a resume: reject lines written by batches that never committed are taken out of
        the reject file (those batches run again and write them again). ``spans``: per file,
        the line ranges [first, next) that are loaded again."""
        path = self.reject_path
        if not path.exists():
            return
        tmp = path.with_name(path.name + ".kwtui-tmp")
        keep = True
        with open(path, encoding="utf-8", errors="replace") as src, open(tmp, "w", encoding="utf-8") as dst:
            for line in src:
                if not line.startswith("\t"):
                    keep = True
                    for f, lines in spans.items():
                        if line.startswith(f + ":"):
                            num = line[len(f) + 1:].split(":", 1)[0]
                            if num.isdigit() and any(a <= int(num) and (b is None or int(num) < b)
                                                     for a, b in lines):
                                keep = False
                            break
                if keep:
                    dst.write(line)
        if self._reject_fh is not None:
            self._reject_fh.close()
        os.replace(tmp, path)
        self._reject_fh = open_reject_file(path)


def _gaps(start: tuple[int, int], committed: list[Committed]) -> tuple[list[Region], list[tuple[int, int | None]]]:
    """The byte ranges of a file that no committed batch covers, as (offset, line, end offset),
    and their line ranges [first, next)."""
    offset, line = start
    out: list[Region] = []
    lines: list[tuple[int, int | None]] = []
    for c in sorted(committed, key=lambda c: c.start_offset):
        if c.start_offset > offset:
            out.append((offset, line, c.start_offset))
            lines.append((line, c.first_line))
        if c.end_offset >= offset:
            offset, line = c.end_offset, c.next_line
    out.append((offset, line, None))
    lines.append((line, None))
    return out, lines


async def resume_import(journal: Any, job_id: int, svc: ConnectionService, *, listener: Listener | None = None,
                        max_rejects: int | None = None, outcome: Any = None) -> Any:
    """Finish an interrupted or failed import job: the committed ranges stay, the rest loads."""
    job = journal.get(job_id)
    if job.kind != "import":
        raise UsageError(f"job {job_id} is a {job.kind}, not an import")
    if job.status in ("completed", "cancelled"):
        raise UsageError(f"job {job_id} is {job.status}: nothing to resume")
    o = job.options
    if "dialect" not in o:
        raise UsageError(f"job {job_id} was recorded by an older kwtui that cannot resume imports; run it again")
    dialect = CsvDialect(**o["dialect"])
    source = Path(o["source"])
    notices: list[str] = []
    targets = plan_import(svc, source, into=o.get("into"), create=bool(o.get("create")),
                          database=bool(o.get("database")), schema=o.get("schema"), notices=notices)
    for name, size in fingerprints(targets).items():
        was = (o.get("sizes") or {}).get(name)
        if was is not None and was != size:
            raise UsageError(f"{name} changed since job {job_id} started ({was:,} bytes, now {size:,}): "
                             "it cannot be resumed exactly", hint="run the import again into an emptied table")
    run = ImportRun(svc, dialect, targets, reject_path=Path(o["reject_file"]), columns=o.get("columns"),
                    skip_header=bool(o.get("skip_header")),
                    max_rejects=max_rejects if max_rejects is not None else o.get("max_rejects"),
                    batch_rows=int(o.get("batch_rows", 500)), workers=int(o.get("workers", 1)),
                    listener=listener, journal=journal, job_id=job_id, resume=True, outcome=outcome,
                    batch_bytes=o.get("batch_bytes"))
    run.out.notices.extend(notices)
    run.out.job_id = job_id
    return await run.run()
