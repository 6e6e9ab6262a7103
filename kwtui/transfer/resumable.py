"""Journaled, resumable transfers: nothing lost, nothing loaded twice.

How exactly-once works:

* Before any data moves, the job and, per table, its batches (key ranges of about
  ``batch_rows`` rows, cut at real key values read from the source) are written to the
  journal. A table without a key is one batch: loaded whole, in one transaction.
* Each batch is copied in ONE target transaction that also inserts its row into
  ``kwtui_journal.checkpoints`` (PostgreSQL and KWDB relational targets). The batch and its
  checkpoint commit together or not at all, so after a kill -9 at any instant the target
  itself says which batches landed; a resumed job skips exactly those and redoes the rest
  (an uncommitted batch left nothing behind: its transaction was rolled back).
* KWDB time-series targets cannot hold that table; there a batch is redone after a crash
  and the engine's deduplication of rows with the same timestamp and primary tags makes
  the redo idempotent.
* A dropped connection, a server restart, a terminated backend or a serialization failure
  retries the batch with bounded backoff (after checking the target's checkpoint, in case
  the commit landed and only the answer was lost); a data error fails the table, no retry.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from kwtui.connection import ConnectionService, ConnectTarget
from kwtui.errors import KwtuiError, UsageError
from kwtui.jobs import CANCELLED, COMPLETED, FAILED, INTERRUPTED, PAUSED, Job, JobTable, Journal
from kwtui.jobs import target_record as _target_dict
from kwtui.transfer.engine import (
    Listener,
    RangeTally,
    TablePlan,
    Transfer,
    TransferOptions,
    add_key_statement,
    error_message,
    plan_transfer,
)
from kwtui.transfer.source import column_list, key_range_condition, qualified, split_name
from kwtui.transfer.tables import TableLock

CHECKPOINT_SCHEMA = "kwtui_journal"
CHECKPOINT_DDL = (
    "CREATE SCHEMA IF NOT EXISTS kwtui_journal",
    "CREATE TABLE IF NOT EXISTS kwtui_journal.checkpoints (job_id BIGINT NOT NULL, table_name TEXT NOT NULL,"
    " batch INT NOT NULL, rows BIGINT NOT NULL, committed TIMESTAMPTZ NOT NULL DEFAULT now(),"
    " PRIMARY KEY (job_id, table_name, batch))",
)
DEFAULT_BATCH_ROWS = 100_000
RETRIES = 6
#: errors worth a retry: connection lost, server shut down / restarted, backend terminated,
#: serialization failure, deadlock
RETRY_SQLSTATES = ("08", "57P", "40001", "40P01", "53300")


def retryable(exc: BaseException) -> bool:
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError) and not isinstance(
            exc, psycopg.errors.QueryCanceled):
        return True
    if isinstance(exc, psycopg.Error):
        state = exc.sqlstate or ""
        return any(state.startswith(p) for p in RETRY_SQLSTATES)
    return isinstance(exc, ConnectionError | OSError)


def target_from_journal(data: dict[str, Any]) -> ConnectTarget:
    if data.get("profile"):
        from kwtui.profiles import ProfileStore

        with contextlib.suppress(KwtuiError):
            return ConnectTarget.from_profile(ProfileStore().get(data["profile"]))
    return ConnectTarget(params=dict(data.get("params", {})), label=data.get("label", "?"),
                         profile_name=data.get("profile"))


async def batch_bounds(src: ConnectionService, plan: TablePlan, batch_rows: int) -> list[list[Any]]:
    """Key ranges [lower, upper] of about ``batch_rows`` rows, as text key values (None: open end)."""
    if not plan.key:
        return [[None, None]]
    t = plan.source.table
    est = t.est_rows or 0
    if t.est_rows is not None and est * 2 <= batch_rows:
        return [[None, None]]  # clearly one batch: no walk over the key (the estimate can be off 2x)
    if est > 4 * batch_rows and src.info is not None and src.info.kind == "postgres":
        sampled = await _sampled_bounds(src, plan, -(-est // batch_rows))
        if sampled is not None:
            return sampled
    conn = await src.open_raw(autocommit=True)
    bounds: list[list[str]] = []
    last: list[str] | None = None
    # aliased: ORDER BY "id" must sort by the column, not by an output column "id" that is text
    keys_text = sql.SQL(", ").join(sql.SQL("{}::text AS {}").format(sql.Identifier(k), sql.Identifier(f"_k{i}"))
                                   for i, k in enumerate(plan.key))
    try:
        while True:
            where = key_range_condition(plan.key, last, None, literal=True)[0]
            q = sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY {} OFFSET {} LIMIT 1").format(
                keys_text, qualified(t.schema, t.name), where, column_list(plan.key), sql.Literal(batch_rows - 1))
            row = await (await conn.execute(q)).fetchone()
            if row is None:
                break
            last = [str(v) for v in row]
            bounds.append(last)
    finally:
        await conn.close()
    edges: list[list[str] | None] = [None, *bounds, None]
    return [[edges[i], edges[i + 1]] for i in range(len(edges) - 1)]


async def _sampled_bounds(src: ConnectionService, plan: TablePlan, parts: int) -> list[list[Any]] | None:
    """Batch bounds from a ~1% sample of the key (one quick query instead of a walk over the index).

    Batches come out about equal, not exact; what matters is that the bounds are real key
    values, fixed in the journal, so a resumed job cuts the table the same way.
    """
    t = plan.source.table
    keys = column_list(plan.key)
    texts = sql.SQL(", ").join(sql.SQL("{}::text AS {}").format(sql.Identifier(k), sql.Identifier(f"_k{i}"))
                               for i, k in enumerate(plan.key))
    desc = sql.SQL(", ").join(sql.SQL("{} DESC").format(sql.Identifier(k)) for k in plan.key)
    q = sql.SQL(
        "WITH s AS (SELECT {keys} FROM {t} TABLESAMPLE SYSTEM (1) REPEATABLE (42)),"
        " n AS (SELECT {keys}, ntile({parts}) OVER (ORDER BY {keys}) AS part FROM s)"
        " SELECT {texts} FROM (SELECT DISTINCT ON (part) {keys} FROM n WHERE part < {parts}"
        " ORDER BY part, {desc}) b ORDER BY {keys}"
    ).format(keys=keys, t=qualified(t.schema, t.name), parts=sql.Literal(parts), texts=texts, desc=desc)
    conn = await src.open_raw(autocommit=True)
    try:
        rows = await (await conn.execute(q)).fetchall()
    except psycopg.Error:
        return None
    finally:
        await conn.close()
    if len(rows) < parts // 2:  # a poor sample (clustered pages): walk the key instead
        return None
    bounds = [[str(v) for v in r] for r in rows]
    edges: list[list[str] | None] = [None, *bounds, None]
    return [[edges[i], edges[i + 1]] for i in range(len(edges) - 1)]


@dataclass
class JobOutcome:
    job_id: int
    status: str
    rows: int = 0
    tables: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


async def create_transfer_job(journal: Journal, src: ConnectionService, dst: ConnectionService,
                              tables: Sequence[str] | None, options: TransferOptions,
                              batch_rows: int = DEFAULT_BATCH_ROWS, plans_out: list[TablePlan] | None = None) -> int:
    """Plan and record a transfer job (tables, paths, batches) before any data moves.

    ``plans_out`` receives the plans, for a :class:`JobRunner` that starts the job at once
    (it then need not read both catalogs again)."""
    from kwtui.transfer.tables import FAIL, TargetNotEmpty, check_if_exists, count_rows

    options.if_exists = check_if_exists(options.if_exists)
    plans = await plan_transfer(src, dst, tables, options)
    if options.if_exists == FAIL and any(not p.create for p in plans):
        # refused before a job is written; the runner checks again under the table lock
        conn = await dst.open_raw(autocommit=True)
        try:
            for p in plans:
                if not p.create and (n := await count_rows(conn, p.target_schema, p.target_name)):
                    raise TargetNotEmpty(f"{p.target_schema}.{p.target_name}", n)
        finally:
            await conn.close()
    if plans_out is not None:
        plans_out.extend(plans)
    jtables = []
    for p in plans:
        jtables.append(JobTable(name=p.label, target=f"{p.target_schema}.{p.target_name}", path=p.path,
                                est_rows=p.source.table.est_rows, batches=await batch_bounds(src, p, batch_rows)))
    opts = {"workers": options.workers, "batch_rows": batch_rows, "insert_batch_rows": options.batch_rows,
            "create_missing": options.create_missing, "force_keyset": options.force_keyset,
            "force_insert": options.force_insert, "if_exists": options.if_exists}
    return journal.create("transfer", _target_dict(src.target), _target_dict(dst.target),
                          [p.label for p in plans], opts, jtables)


class JobRunner:
    """Runs (or resumes) one transfer job of the journal."""

    def __init__(self, journal: Journal, job_id: int, src: ConnectionService, dst: ConnectionService,
                 listener: Listener | None = None, *, heartbeat_every: float = 1.0,
                 retry_delays: Sequence[float] = (0.5, 1, 2, 4, 8, 15),
                 plans: Sequence[TablePlan] | None = None, snapshot: str | None = None) -> None:
        self.journal = journal
        #: a held source snapshot every batch reads (kwtui.snapshot): one consistent copy of all tables
        self.snapshot = snapshot
        self.job_id = job_id
        self.src, self.dst = src, dst
        self.listener = listener
        self.heartbeat_every = heartbeat_every
        self.retry_delays = list(retry_delays)
        self.cancelled = False
        self.pause_requested = False
        self._transfer: Transfer | None = None
        #: plans just made by create_transfer_job (used on the job's first run only)
        self._plans = list(plans) if plans is not None else None

    def cancel(self) -> None:
        self.cancelled = True
        if self._transfer is not None:
            self._transfer.cancel()

    async def _ensure_checkpoints(self) -> bool:
        """The checkpoint table on the target; False where the target cannot hold it."""
        conn = await self.dst.open_raw(autocommit=True)
        try:
            for stmt in CHECKPOINT_DDL:
                await conn.execute(stmt)  # type: ignore[arg-type]  # constant DDL
            return True
        except psycopg.Error as exc:
            self.journal.log(self.job_id, "warning", f"no checkpoint table on the target ({error_message(exc)}); "
                             "batches rely on idempotent reloads")
            return False
        finally:
            await conn.close()

    async def _committed(self, table: str) -> dict[int, int]:
        """batch -> rows, as the target's checkpoint table says (the authority)."""
        conn = await self.dst.open_raw(autocommit=True)
        try:
            cur = await conn.execute(
                "SELECT batch, rows FROM kwtui_journal.checkpoints WHERE job_id = %s AND table_name = %s",
                (self.job_id, table))
            return {int(b): int(r) for b, r in await cur.fetchall()}
        finally:
            await conn.close()

    async def run(self) -> JobOutcome:
        job = self.journal.get(self.job_id)
        if job.kind != "transfer":
            raise UsageError(f"job {self.job_id} is an {job.kind}: run it again instead (its good rows stay)")
        if job.status in (COMPLETED, CANCELLED):
            raise UsageError(f"job {self.job_id} is {job.status}: nothing to resume")
        options = TransferOptions(
            workers=int(job.options.get("workers", 1)), batch_rows=int(job.options.get("insert_batch_rows", 500)),
            create_missing=bool(job.options.get("create_missing", True)),
            force_keyset=bool(job.options.get("force_keyset", False)),
            force_insert=bool(job.options.get("force_insert", False)),
            if_exists=str(job.options.get("if_exists", "fail")))
        # the checkpoint table is made while the catalogs are read and the first table is created
        checkpoints = asyncio.ensure_future(self._ensure_checkpoints())
        try:
            fresh = self._plans if job.attempts == 0 and self._plans is not None else None
            plans = {p.label: p for p in fresh or await plan_transfer(self.src, self.dst, job.objects, options)}
        except BaseException:
            checkpoints.cancel()
            with contextlib.suppress(BaseException):
                await checkpoints
            raise
        # two jobs never write one target table at once: the lock is held until the job stops
        lock = TableLock(self.dst, [split_name(t.target) for t in job.tables if t.status != COMPLETED],
                         f"job {self.job_id}")
        try:
            await asyncio.wait({checkpoints})  # both make the kwtui_journal schema: one after the other
            await lock.acquire()
        except BaseException as exc:
            checkpoints.cancel()
            with contextlib.suppress(BaseException):
                await checkpoints
            if isinstance(exc, KwtuiError):
                self.journal.finish(self.job_id, FAILED, exc.one_line())
            raise
        try:
            return await self._run_locked(job, plans, options, checkpoints)
        finally:
            await lock.release()

    async def _run_locked(self, job: Job, plans: dict[str, TablePlan], options: TransferOptions,
                          checkpoints: asyncio.Future[bool]) -> JobOutcome:
        self.journal.start(self.job_id)
        self._transfer = Transfer(self.src, self.dst, list(plans.values()), options, self.listener)
        pending = max((len(t.batches) - len(t.done_batches) for t in job.tables if t.status != COMPLETED), default=0)
        # the pump's connections open while the target table is made
        if pending:
            self._transfer.warm_up(min(options.workers, pending))
        progress = self._transfer.progress
        progress.tables_total = len(job.tables)
        beat = asyncio.create_task(self._heartbeat_loop())
        status: str = INTERRUPTED
        error: str | None = "stopped before the end"  # unless the loop below finishes
        try:
            status, error = COMPLETED, None
            for jt in job.tables:
                if jt.status == COMPLETED:
                    progress.tables_done += 1
                    continue
                plan = plans.get(jt.name)
                if plan is None:
                    raise UsageError(f"table {jt.name} of job {self.job_id} is gone from the source")
                ok = await self._run_table(job, jt, plan, checkpoints)
                progress.tables_done += 1
                if self.cancelled:
                    status = CANCELLED
                    break
                if self.pause_requested:
                    status = PAUSED
                    break
                if not ok:
                    status, error = FAILED, f"table {jt.name} failed"
        except (asyncio.CancelledError, KeyboardInterrupt):
            status, error = INTERRUPTED, "interrupted (resume it with: kwtui jobs resume " + str(self.job_id) + ")"
            raise
        except Exception as exc:
            status, error = FAILED, error_message(exc)
            raise
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
            if not checkpoints.done():
                checkpoints.cancel()
            with contextlib.suppress(BaseException):
                await checkpoints
            self._transfer.close()
            self.journal.finish(self.job_id, status, error)
            progress.emit(done=True, phase=status)
        final = self.journal.get(self.job_id)
        return JobOutcome(self.job_id, status, final.rows, [t.as_dict() for t in final.tables], error)

    async def _heartbeat_loop(self) -> None:
        assert self._transfer is not None
        progress = self._transfer.progress
        while True:
            request = await asyncio.to_thread(self.journal.heartbeat, self.job_id, progress.rows, progress.bytes,
                                              progress.rejects)
            if request == "cancel" and not self.cancelled:
                self.journal.log(self.job_id, "info", "cancelling at the request of another process")
                self.cancel()
            elif request == "pause":
                self.pause_requested = True
            await asyncio.sleep(self.heartbeat_every)

    async def _run_table(self, job: Job, jt: JobTable, plan: TablePlan, checkpoints: asyncio.Future[bool]) -> bool:
        assert self._transfer is not None
        tr = self._transfer
        tr.progress.table = jt.name
        tr.progress.total_rows = jt.est_rows
        self.journal.table_started(self.job_id, jt.name, plan.path)
        key_after = False
        try:
            await self._handle_table(jt, plan)
            if plan.create:  # target missing: create it (on a resume it exists and is not re-created)
                key_after = bool(plan.key) and self.dst.info is not None and self.dst.info.kind == "postgres"
                await tr.create_target(plan, with_key=not key_after)
                self.journal.log(self.job_id, "info", f"created {jt.target}")
            elif job.attempts > 0 and self.dst.info is not None and self.dst.info.kind == "postgres" and plan.key:
                key_after = not await self._has_primary_key(plan)
            use_checkpoints = await checkpoints
            # a job's first run has nothing committed yet (and must not trust stray checkpoint rows)
            done: dict[int, int] = {b: 0 for b in jt.done_batches} if not use_checkpoints else \
                await self._committed(jt.name) if job.attempts > 0 else {}
            if done:
                rows_done = sum(done.values())
                self.journal.set_table_progress(self.job_id, jt.name, rows_done, 0, list(done))
                tr.progress.add(rows_done, 0)
                self.journal.log(self.job_id, "info", f"{jt.name}: {len(done)} of {len(jt.batches)} batches already "
                                 f"committed ({rows_done:,} rows), resuming with the rest")
            pending = [i for i in range(len(jt.batches)) if i not in done]
            todo = iter(pending)
            landed: list[int] = []
            failures: list[BaseException] = []

            async def worker() -> None:
                # each batch is its own target transaction with its own checkpoint, so batches
                # may commit in any order: exactly-once holds with any number of workers
                for i in todo:
                    if failures or self.cancelled or self.pause_requested:
                        return
                    lower, upper = jt.batches[i]
                    tally = RangeTally()
                    try:
                        rows = await self._batch_with_retries(jt.name, plan, i, lower, upper, use_checkpoints,
                                                              tally)
                    except Exception as exc:
                        failures.append(exc)
                        return
                    self.journal.batch_done(self.job_id, jt.name, i, rows, tally.bytes)
                    landed.append(i)

            # several batches at once keep both servers busy (one pipeline leaves each idle part
            # of the time); a failed batch stops the others from starting new ones
            workers = max(1, min(tr.options.workers, len(pending)))
            await asyncio.gather(*(worker() for _ in range(workers)))
            if failures:
                raise failures[0]
            if len(landed) < len(pending):  # cancelled or paused between batches
                return True
            if key_after:
                conn = await self.dst.open_raw(autocommit=True)
                try:
                    await conn.execute(add_key_statement(plan))
                finally:
                    await conn.close()
            self.journal.table_finished(self.job_id, jt.name, COMPLETED)
            return True
        except Exception as exc:
            msg = error_message(exc)
            self.journal.table_finished(self.job_id, jt.name, FAILED, msg)
            self.journal.log(self.job_id, "error", f"{jt.name}: {msg}")
            tr.progress.emit(phase="failed", message=msg)
            return False

    def _handled_mark(self, jt: JobTable) -> str:
        return f"{jt.name}: table handling done"

    async def _handle_table(self, jt: JobTable, plan: TablePlan) -> None:
        """The job's table handling (--if-exists) once per table, before its first batch. A resumed
        job skips it: the rows in the table are then its own (nothing of it lands before the mark)."""
        assert self._transfer is not None
        mark = self._handled_mark(jt)
        if jt.done_batches or any(m == mark for _at, _lv, m in self.journal.logs(self.job_id, 1_000_000)):
            return
        done = await self._transfer.prepare_target(plan)
        if done:
            self.journal.log(self.job_id, "info", done)
            self._transfer.progress.emit(phase="create", message=done)
        self.journal.log(self.job_id, "info", mark)

    async def _has_primary_key(self, plan: TablePlan) -> bool:
        conn = await self.dst.open_raw(autocommit=True)
        try:
            cur = await conn.execute("SELECT count(*) FROM pg_index WHERE indrelid = %s::regclass AND indisprimary",
                                     (qualified(plan.target_schema, plan.target_name).as_string(conn),))
            row = await cur.fetchone()
            return bool(row and row[0])
        finally:
            await conn.close()

    async def _batch_with_retries(self, table: str, plan: TablePlan, batch: int, lower: Any, upper: Any,
                                  use_checkpoints: bool, tally: RangeTally | None = None) -> int:
        assert self._transfer is not None
        attempt = 0
        while True:
            checkpoint = None
            if use_checkpoints:
                # runs in the batch's own target transaction; the engine fills in %(rows)s
                checkpoint = sql.SQL(
                    "INSERT INTO kwtui_journal.checkpoints (job_id, table_name, batch, rows) VALUES ({}, {}, {}, {})"
                ).format(sql.Literal(self.job_id), sql.Literal(table), sql.Literal(batch), sql.Placeholder("rows"))
            try:
                return await self._transfer.copy_range(plan, lower, upper, self.snapshot, checkpoint, tally)
            except Exception as exc:
                if not retryable(exc) or attempt >= len(self.retry_delays) or self.cancelled:
                    raise
                delay = self.retry_delays[attempt]
                attempt += 1
                self.journal.log(self.job_id, "warning", f"{table} batch {batch}: {error_message(exc)}; "
                                 f"retry {attempt}/{len(self.retry_delays)} in {delay:g} s")
                self._transfer.progress.emit(phase="retry", message=f"retrying after: {error_message(exc)}")
                await asyncio.sleep(delay)
                if use_checkpoints:
                    with contextlib.suppress(Exception):
                        done = await self._committed(table)
                        if batch in done:  # the commit landed, only its answer was lost
                            self.journal.log(self.job_id, "info", f"{table} batch {batch} was committed after all")
                            self._transfer.progress.add(done[batch], 0)
                            if tally is not None:
                                tally.rows = done[batch]
                            return done[batch]


async def run_transfer_job(journal: Journal, src: ConnectionService, dst: ConnectionService,
                           tables: Sequence[str] | None, options: TransferOptions, *,
                           batch_rows: int = DEFAULT_BATCH_ROWS, listener: Listener | None = None,
                           runner_box: list[JobRunner] | None = None) -> JobOutcome:
    from kwtui.snapshot import hold_if_possible

    job_id = await create_transfer_job(journal, src, dst, tables, options, batch_rows)
    holder = await hold_if_possible(src)  # every batch of every table reads one snapshot
    try:
        runner = JobRunner(journal, job_id, src, dst, listener, snapshot=holder.exported if holder else None)
        if runner_box is not None:
            runner_box.append(runner)
        return await runner.run()
    finally:
        if holder is not None:
            await holder.close()


__all__ = ["JobRunner", "JobOutcome", "create_transfer_job", "run_transfer_job", "target_from_journal",
           "batch_bounds", "retryable"]
