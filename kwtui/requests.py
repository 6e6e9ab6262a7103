"""One request model for the command line and the screens.

A request says what to do, checked the same way wherever it comes from: the CLI's handlers
build one from argparse, the wizards from their fields, and one core function per kind runs
it (:func:`run_export`, :func:`run_import`), so the two cannot disagree. ``check()`` raises
:class:`UsageError` with a message fit for either (it names the idea, not a flag).

Both runs are journaled jobs (:mod:`kwtui.jobs`), so a wizard's run shows on the jobs screen
with its progress as the CLI's does; an import is resumable (``kwtui jobs resume N``) the same
way from either.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kwtui.errors import UsageError
from kwtui.transfer.csvdialect import CsvDialect

if TYPE_CHECKING:
    from kwtui.connection import ConnectionService
    from kwtui.jobs import Journal
    from kwtui.transfer.files import ExportedTable, ImportOutcome
    from kwtui.transfer.progress import Listener, ProgressEvent

#: rows per CSV file by default (KWDB's EXPORT writes 100,000 a file)
DEFAULT_CHUNK_ROWS = 100_000
MAX_CHUNK_ROWS = 100_000


@dataclass(frozen=True)
class ExportRequest:
    """Export a table, a database or a query's rows to CSV files in ``to`` (streamed by kwtui)."""

    to: Path
    dialect: CsvDialect = field(default_factory=CsvDialect)
    database: str | None = None
    table: str | None = None
    query: str | None = None
    chunk_rows: int = DEFAULT_CHUNK_ROWS  # 0: one file
    meta: bool = True  # meta.sql (CREATE TABLE / DATABASE)
    data: bool = True
    timeout: float | None = None  # a query's statement timeout (read mode), seconds
    command: str | None = None  # the command line the manifest records

    def check(self) -> ExportRequest:
        given = [x for x in (self.database, self.table, self.query) if x]
        if len(given) != 1:
            raise UsageError("export one thing: a database, a table or a query")
        if not 0 <= self.chunk_rows <= MAX_CHUNK_ROWS:
            raise UsageError(f"rows per file must be between 0 and {MAX_CHUNK_ROWS:,} (0: one file)")
        if not (self.meta or self.data):
            raise UsageError("nothing to export: neither the table definitions nor the data")
        if self.query and not self.data:
            raise UsageError("a query has no table definition to export: export its data")
        if not str(self.to).strip():
            raise UsageError("give the directory to export into")
        return self

    @property
    def what(self) -> str:
        if self.table:
            return self.table
        if self.database:
            return f"database {self.database}"
        return "query"


@dataclass(frozen=True)
class ImportRequest:
    """Load a CSV file, a table export or a database export (streamed by kwtui)."""

    source: Path
    dialect: CsvDialect = field(default_factory=CsvDialect)
    into: str | None = None  # an existing table
    columns: tuple[str, ...] | None = None  # with into: the file's columns, in order
    create: bool = False  # create the table from the export's meta.sql
    database: bool = False  # a whole database export
    schema: str | None = None
    skip_header: bool = False
    reject_file: Path | None = None
    max_rejects: int | None = None
    batch_rows: int = 500
    batch_bytes: int | None = None  # None: the loader's default
    workers: int = 1
    if_exists: str = "fail"
    allow_incomplete: bool = False

    def check(self) -> ImportRequest:
        from kwtui.transfer.tables import check_if_exists

        if not (self.into or self.create or self.database):
            raise UsageError("say where the rows go: into a table, a table created from meta.sql, or a database")
        if self.into and self.database:
            raise UsageError("a table to load into goes with a file or a table export, not a database export")
        if self.columns is not None and not self.into:
            raise UsageError("a column list goes with loading into a table")
        if self.max_rejects is not None and self.max_rejects < 0:
            raise UsageError("the most rejected lines must be 0 or more")
        if self.batch_rows < 1:
            raise UsageError("rows per batch must be at least 1")
        if self.batch_bytes is not None and self.batch_bytes < 1:
            raise UsageError("bytes per batch must be at least 1")
        if self.workers < 1:
            raise UsageError("workers must be at least 1")
        check_if_exists(self.if_exists)
        if not self.source.exists():
            raise UsageError(f"{self.source} does not exist")
        return self


# -- running them -----------------------------------------------------------------------------


class _JobProgress:
    """Passes progress on, and writes it to the journal at most twice a second."""

    EVERY = 0.5

    def __init__(self, journal: Journal, job_id: int, name: str, listener: Listener | None) -> None:
        self.journal, self.job_id, self.name, self.listener = journal, job_id, name, listener
        self.last = 0.0
        self.rows = self.bytes = 0

    def __call__(self, event: ProgressEvent) -> None:
        self.rows, self.bytes = max(self.rows, event.rows), max(self.bytes, event.bytes)
        now = time.monotonic()
        if now - self.last >= self.EVERY or event.done:
            self.last = now
            self.flush()
        if self.listener is not None:
            self.listener(event)

    def flush(self) -> None:
        self.journal.set_table_progress(self.job_id, self.name, self.rows, self.bytes, [])
        self.journal.heartbeat(self.job_id, self.rows, self.bytes, 0)


async def run_export(svc: ConnectionService, req: ExportRequest, *, listener: Listener | None = None,
                     journal: Journal | None = None) -> list[ExportedTable]:
    """Run an export; with a journal it is a job (kind ``export``) from start to end."""
    from kwtui.transfer.files import export_database, export_named_table, export_query

    req.check()
    if req.query:
        from kwtui.guard import parse_read

        parse_read(req.query, limit=None)  # refused by parsing: no job, nothing sent

    async def run(on: Listener | None) -> list[ExportedTable]:
        if req.query:
            return [await export_query(svc, req.query, req.to, req.dialect, chunk_rows=req.chunk_rows, listener=on,
                                       timeout=req.timeout, command=req.command)]
        if req.table:
            return [await export_named_table(svc, req.table, req.to, req.dialect, chunk_rows=req.chunk_rows,
                                             meta=req.meta, data=req.data, listener=on, command=req.command)]
        assert req.database is not None
        return await export_database(svc, req.database, req.to, req.dialect, chunk_rows=req.chunk_rows,
                                     meta=req.meta, data=req.data, listener=on, command=req.command)

    if journal is None:
        return await run(listener)
    from kwtui.jobs import CANCELLED, COMPLETED, FAILED, JobTable, target_record

    options = {"to": str(req.to), "chunk_rows": req.chunk_rows, "meta": req.meta, "data": req.data,
               **({"query": req.query} if req.query else {})}
    job_id = journal.create("export", target_record(svc.target), {"label": str(req.to)}, [req.what], options,
                            [JobTable(req.what, str(req.to), path="CSV files")])
    journal.start(job_id)
    journal.table_started(job_id, req.what, "CSV files")
    progress = _JobProgress(journal, job_id, req.what, listener)
    try:
        results = await run(progress)
    except BaseException as exc:
        progress.flush()
        cancelled = not isinstance(exc, Exception)
        why = "cancelled" if cancelled else (str(getattr(exc, "message", "")) or
                                             traceback.format_exception_only(exc)[-1].strip())
        journal.table_finished(job_id, req.what, CANCELLED if cancelled else FAILED, why)
        journal.finish(job_id, CANCELLED if cancelled else FAILED, why)
        raise
    progress.rows = sum(r.rows for r in results)
    progress.bytes = sum(r.bytes for r in results)
    progress.flush()
    journal.log(job_id, "info", f"exported {progress.rows:,} rows of {len(results)} table(s) into {req.to}")
    journal.table_finished(job_id, req.what, COMPLETED)
    journal.finish(job_id, COMPLETED)
    return results


async def run_import(svc: ConnectionService, req: ImportRequest, *, listener: Listener | None = None,
                     journal: Journal | None = None, outcome: ImportOutcome | None = None,
                     cancel: Any = None) -> ImportOutcome:
    """Run an import; with a journal it is a resumable job (``kwtui jobs resume N``)."""
    from kwtui.transfer.files import import_path

    req.check()
    return await import_path(
        svc, req.source, req.dialect, into=req.into, columns=list(req.columns) if req.columns is not None else None,
        create=req.create, database=req.database, schema=req.schema, skip_header=req.skip_header,
        reject_file=req.reject_file, max_rejects=req.max_rejects, batch_rows=req.batch_rows, listener=listener,
        cancel=cancel, journal=journal, workers=req.workers, outcome=outcome, batch_bytes=req.batch_bytes,
        if_exists=req.if_exists, allow_incomplete=req.allow_incomplete)


@dataclass(frozen=True)
class TransferRequest:
    """Copy tables from one connected server to another, as a journaled, resumable job."""

    tables: tuple[str, ...] | None = None  # None: every table of the source
    workers: int = 1
    batch_rows: int = 500  # rows per INSERT where COPY is not possible
    chunk_rows: int = 100_000  # rows per committed batch (a checkpoint)
    create_missing: bool = True
    if_exists: str = "fail"

    def check(self) -> TransferRequest:
        from kwtui.transfer.tables import check_if_exists

        if self.tables is not None and not self.tables:
            raise UsageError("name the tables to copy, or copy every table")
        if self.workers < 1:
            raise UsageError("workers must be at least 1")
        if self.batch_rows < 1:
            raise UsageError("rows per INSERT must be at least 1")
        if self.chunk_rows < 1:
            raise UsageError("rows per batch must be at least 1")
        check_if_exists(self.if_exists)
        return self

    def options(self) -> Any:
        from kwtui.transfer.engine import TransferOptions

        return TransferOptions(workers=self.workers, batch_rows=self.batch_rows, create_missing=self.create_missing,
                               if_exists=self.if_exists)


async def run_transfer(src: ConnectionService, dst: ConnectionService, req: TransferRequest, *, journal: Journal,
                       listener: Listener | None = None, on_job: Any = None) -> Any:
    """The one run of a :class:`TransferRequest`: the journaled job is made (``on_job(job_id)`` is told
    its number before a row moves), every table is read as of ONE source snapshot where the source
    can export one (PostgreSQL), and the job runs; its outcome (rows per table, status, error)."""
    from kwtui.snapshot import hold_if_possible
    from kwtui.transfer.resumable import JobRunner, create_transfer_job

    req.check()
    plans: list[Any] = []
    job_id = await create_transfer_job(journal, src, dst, list(req.tables) if req.tables is not None else None,
                                       req.options(), batch_rows=req.chunk_rows, plans_out=plans)
    if on_job is not None:
        on_job(job_id)
    holder = await hold_if_possible(src)  # every table of the job read as of one moment
    try:
        return await JobRunner(journal, job_id, src, dst, listener, plans=plans,
                               snapshot=holder.exported if holder else None).run()
    finally:
        if holder is not None:
            await holder.close()


@dataclass(frozen=True)
class ValidateRequest:
    """Prove that tables match between two connected servers (kwtui.validate)."""

    tables: tuple[str, ...] | None = None  # None: every table of the source
    key: tuple[str, ...] | None = None  # a key override: one table only
    level: str = "checksum"
    max_diffs: int = 20
    workers: int = 2
    check_references: bool = True
    targets: tuple[tuple[str, str], ...] = ()  # source table -> target name, where they differ

    def check(self) -> ValidateRequest:
        if self.key is not None and not self.key:
            raise UsageError("a key override needs column names: a,b")
        if self.key and self.tables is not None and len(self.tables) > 1:
            raise UsageError(f"a key override names the key of one table; {len(self.tables)} are named: "
                             "validate them one by one")
        self.options().check()
        return self

    def options(self) -> Any:
        from kwtui.validate import ValidateOptions

        return ValidateOptions(level=self.level, max_diffs=self.max_diffs, workers=self.workers,
                               check_references=self.check_references)


async def run_validate(src: ConnectionService, dst: ConnectionService, req: ValidateRequest, *,
                       listener: Listener | None = None) -> Any:
    """The tables (every source table when none is named), checked as the request says; the result."""
    from kwtui.validate import TableSpec, Validation, list_source_tables

    req.check()
    names = list(req.tables) if req.tables else await list_source_tables(src)
    if not names:
        raise UsageError("the source has no tables to validate")
    if req.key and len(names) > 1:
        raise UsageError(f"a key override names the key of one table; the source has {len(names)}: "
                         "validate them one by one")
    targets = dict(req.targets)
    specs = [TableSpec(n, targets.get(n), req.key) for n in names]
    return await Validation(src, dst, specs, req.options(), listener).run()


# The migration plan's request already is one model: ``migration.Requirements`` (checked by its
# ``check()``), built by ``kwtui plan`` from argparse and by the new-migration wizard from its
# fields, and run by ``migration.plan_migration`` for both. It is named here with the others.
from kwtui.migration import Requirements as PlanRequest  # noqa: E402

__all__ = ["ExportRequest", "ImportRequest", "PlanRequest", "TransferRequest", "ValidateRequest", "run_export",
           "run_import", "run_validate"]
