"""Watching a native IMPORT/EXPORT while KWDB runs it.

IMPORT and EXPORT block their connection until the job is done. While one runs, a second
connection polls ``SHOW JOBS`` about once a second, finds the job that belongs to the
statement (type IMPORT/EXPORT, its description holding the statement's nodelocal path, the
newest one created after we started) and reports its ``fraction_completed``; the job id it
finds is what ``kwtui jobs native-pause|native-resume|native-cancel`` take.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from psycopg import sql

from kwtui.connection import ConnectionService
from kwtui.transfer.native import (
    JobInfo,
    NativeError,
    NativeErrorInfo,
    NativeResult,
    NativeStatement,
    parse_show_jobs,
    run_native,
    show_jobs,
)

_STATUS_SQL = sql.SQL("SELECT status FROM [SHOW JOBS] WHERE job_id = {}")
_PATH_RE = re.compile(r"nodelocal://[^\"'\s)]+", re.IGNORECASE)


@dataclass(frozen=True)
class NativeProgress:
    job_id: str | None
    status: str | None
    fraction: float | None
    elapsed: float


def statement_paths(stmt: NativeStatement) -> list[str]:
    return [p.rstrip("/") for p in _PATH_RE.findall(stmt.sql)]


def find_job(jobs: list[JobInfo], stmt: NativeStatement, started: dt.datetime | None = None) -> JobInfo | None:
    """The job of ``stmt`` among SHOW JOBS rows: same kind, same path, newest, not older than ``started``."""
    kind = "IMPORT" if stmt.sql.lstrip().upper().startswith("IMPORT") else "EXPORT"
    paths = statement_paths(stmt)
    best: JobInfo | None = None
    for job in jobs:
        jtype = (job.job_type or "").upper()
        text = f"{job.description or ''} {job.statement or ''}"
        if kind not in jtype and not text.upper().lstrip().startswith(kind):
            continue
        if paths and not any(p in text for p in paths):
            continue
        created = job.created if isinstance(job.created, dt.datetime) else None
        if started is not None and created is not None:
            if created.tzinfo is None:
                created = created.replace(tzinfo=dt.UTC)
            if created < started - dt.timedelta(seconds=5):
                continue
        if best is None or str(job.created or "") > str(best.created or ""):
            best = job
    return best


async def run_native_watched(service: ConnectionService, stmt: NativeStatement,
                             on_progress: Callable[[NativeProgress], None] | None = None, *,
                             poll_every: float = 1.0) -> tuple[NativeResult, str | None]:
    """Run ``stmt`` and poll SHOW JOBS on a second connection meanwhile. Returns (result, job id)."""
    loop = asyncio.get_running_loop()
    started_at = dt.datetime.now(dt.UTC)
    t0 = loop.time()
    job_id: str | None = None
    task = asyncio.create_task(run_native(service, stmt))
    watcher: Any = None
    with contextlib.suppress(Exception):
        watcher = await service.open_raw(autocommit=True)
    try:
        while not task.done():
            await asyncio.wait({task}, timeout=poll_every)
            if task.done() or watcher is None:
                break
            try:
                cur = await watcher.execute(show_jobs().sql)
                rows = await cur.fetchall()
                columns = [d.name for d in cur.description or []]
                jobs = parse_show_jobs(columns, rows)
                # the first job found is ours: a later import of the same files is another one's
                mine = [j for j in jobs if j.job_id == job_id] if job_id is not None else []
                job = mine[0] if mine else find_job(jobs, stmt, started_at)
            except Exception:  # a server without SHOW JOBS, or a hiccup: keep waiting for the result
                job = None
            if job is not None:
                job_id = job.job_id
                if on_progress is not None:
                    on_progress(NativeProgress(job.job_id, job.status, job.fraction_completed, loop.time() - t0))
        try:
            result = await task
        except NativeError as exc:
            status = await _job_status(watcher, job_id) if job_id is not None else None
            # the server's own words first: the job this watcher found may be another import of
            # the same files (two started close together), whose state is not this one's
            said = (exc.server_message or "").lower()
            named = re.search(r"\(id (\d+)\)", said)  # 'cannot update progress on pause-requested job (id N)'
            if named:
                job_id = named.group(1)
            if "pause-requested" in said:
                status = "pause-requested"
            elif "cancel-requested" in said:
                status = "cancel-requested"
            if status in ("pause-requested", "paused"):
                raise paused_error(job_id or "?", exc) from None
            if status in ("cancel-requested", "reverting", "canceled"):
                raise cancelled_error(job_id or "?", exc) from None
            raise
    finally:
        if not task.done():
            task.cancel()
        if watcher is not None:
            with contextlib.suppress(Exception):
                await watcher.close()
    if job_id is None and result.job_id not in (None, "-"):
        job_id = result.job_id
    if on_progress is not None:
        on_progress(NativeProgress(job_id, result.status, 1.0 if result.ok else None, loop.time() - t0))
    return result, job_id


def paused_error(job_id: str, exc: NativeError) -> NativeError:
    """The IMPORT's connection fails when its job is paused from elsewhere; the job lives on.

    Recorded on the live node (V3.2.1): after PAUSE JOB the statement fails with ``cannot update
    progress on pause-requested job`` or ``node liveness error: restarting in background``, the
    job goes pause-requested, then paused (some seconds later), and the table stays offline
    until RESUME JOB (the job then finishes in the background) or CANCEL JOB (rolled back).
    """
    info = NativeErrorInfo(
        kind="job_paused", message=f"KWDB job {job_id} was paused ({exc.server_message})",
        advice=f"the import goes on with `kwtui jobs native-resume {job_id}` (it then runs in the background: "
               f"watch `kwtui jobs native-list`) or is rolled back by `kwtui jobs native-cancel {job_id}`; "
               "until then the table is offline")
    return NativeError(info, statement=exc.statement, sqlstate=exc.sqlstate)


def cancelled_error(job_id: str, exc: NativeError) -> NativeError:
    """The IMPORT's connection fails (``cannot update progress on cancel-requested job``) when its
    job is cancelled; KWDB then rolls the import back (reverting, then canceled: up to a minute)."""
    info = NativeErrorInfo(
        kind="job_cancelled", message=f"KWDB job {job_id} was cancelled ({exc.server_message})",
        advice="KWDB rolls the import back (SHOW JOBS: reverting, then canceled); the table comes back as it was "
               "before the import once the job says canceled")
    return NativeError(info, statement=exc.statement, sqlstate=exc.sqlstate)


async def _job_status(conn: Any, job_id: str | None) -> str | None:
    if conn is None or job_id is None or not str(job_id).isdigit():
        return None
    try:
        cur = await conn.execute(_STATUS_SQL.format(sql.Literal(int(job_id))))
        row = await cur.fetchone()
    except Exception:
        return None
    return str(row[0]) if row else None


async def list_native_jobs(service: ConnectionService) -> list[JobInfo]:
    """KWDB's own jobs (SHOW JOBS), newest first. KWDB only: PostgreSQL has no SHOW JOBS."""
    from kwtui.errors import UsageError

    if service.info is None or service.info.kind != "kwdb":
        raise UsageError("KWDB job control needs a KWDB server (this connection is PostgreSQL)")
    res = await service.query(show_jobs().sql)
    jobs = parse_show_jobs(res.columns, res.rows)
    return sorted(jobs, key=lambda j: str(j.created or ""), reverse=True)


async def control_native_job(service: ConnectionService, action: str, job_id: int | str, *,
                             wait: float = 60.0) -> str:
    """PAUSE / RESUME / CANCEL JOB id on KWDB, then wait (up to ``wait`` s) for the job to get there.

    Returns the job's status then (``paused``, ``running``, ``canceled``...). A resume of a job still ``pause-requested`` (KWDB refuses it:
    ``job with status pause-requested cannot be resumed``) first waits for ``paused``."""
    from kwtui.errors import UsageError
    from kwtui.transfer.native import cancel_job, pause_job, resume_job

    builders = {"pause": pause_job, "resume": resume_job, "cancel": cancel_job}
    if action not in builders:
        raise UsageError(f"unknown job action {action!r}")
    if service.info is None or service.info.kind != "kwdb":
        raise UsageError("KWDB job control needs a KWDB server (this connection is PostgreSQL)")
    stmt = builders[action](job_id)  # checks the id before anything is sent
    number = int(str(job_id).strip())
    before = await _status(service, number)
    if before is None:
        raise UsageError(f"KWDB has no job {number} (kwtui jobs native-list shows them)")
    if action == "resume" and before == "pause-requested":
        before = await _wait_status(service, number, ("paused",), wait)  # RESUME refuses pause-requested
    res = await service.query(stmt.sql)
    # a cancelled running import goes cancel-requested -> reverting (rolling back) -> canceled
    want = {"pause": ("paused",), "cancel": ("reverting", "canceled"),
            "resume": ("running", "succeeded", "failed")}[action]
    after = await _wait_status(service, number, want + ("succeeded", "failed", "canceled"), wait)
    return after or res.status or action


async def _status(service: ConnectionService, number: int) -> str | None:
    res = await service.query(_STATUS_SQL.format(sql.Literal(int(number))))
    return str(res.rows[0][0]) if res.rows else None


async def _wait_status(service: ConnectionService, number: int, want: tuple[str, ...], wait: float) -> str | None:
    """Poll until the job's status is one of ``want`` or ``wait`` seconds passed; the last status.

    KWDB moves a job through pause-requested / cancel-requested before paused / canceled, in its
    job registry's next pass (seconds to half a minute on the live node)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + max(0.0, wait)
    status = await _status(service, number)
    while status not in want and loop.time() < end:
        await asyncio.sleep(0.5)
        status = await _status(service, number)
    return status
