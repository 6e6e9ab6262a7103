"""Watching a native IMPORT/EXPORT: finding its job in SHOW JOBS, and errors coming through."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import pytest

from kwtui.connection import ConnectionService, ConnectTarget
from kwtui.transfer import native
from kwtui.transfer.native_watch import NativeProgress, find_job, run_native_watched, statement_paths

if TYPE_CHECKING:
    from .conftest import TestDb

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
COLUMNS = ["job_id", "job_type", "description", "statement", "user_name", "status", "running_status", "created",
           "started", "finished", "modified", "fraction_completed", "error", "coordinator_id"]


def row(job_id: str, jtype: str, desc: str, status: str, frac: float, created: dt.datetime) -> tuple:
    return (job_id, jtype, desc, "", "root", status, None, created, created, None, created, frac, "", 1)


def test_find_job_matches_kind_path_and_time() -> None:
    stmt = native.import_into("orders", ["nodelocal://1/exp/orders"])
    assert statement_paths(stmt) == ["nodelocal://1/exp/orders"]
    rows = [
        row("101", "IMPORT", 'IMPORT INTO orders CSV DATA ("nodelocal://1/exp/orders")', "succeeded", 1.0,
            NOW - dt.timedelta(hours=2)),  # an old run of the same statement
        row("102", "EXPORT", 'EXPORT INTO CSV "nodelocal://1/exp/orders" FROM TABLE orders', "running", 0.5, NOW),
        row("103", "IMPORT", 'IMPORT INTO items CSV DATA ("nodelocal://1/exp/items")', "running", 0.2, NOW),
        row("104", "IMPORT", 'IMPORT INTO orders CSV DATA ("nodelocal://1/exp/orders")', "running", 0.42, NOW),
    ]
    jobs = native.parse_show_jobs(COLUMNS, rows)
    job = find_job(jobs, stmt, NOW - dt.timedelta(seconds=1))
    assert job is not None and job.job_id == "104" and job.fraction_completed == pytest.approx(0.42)
    assert find_job(jobs, native.export_table("nodelocal://1/none", "t"), NOW) is None


async def test_run_native_watched_passes_the_server_error(db: TestDb) -> None:
    """On PostgreSQL the KWDB statement fails; SHOW JOBS fails too on the watcher, silently."""
    seen: list[NativeProgress] = []
    async with ConnectionService(ConnectTarget.from_dsn(db.uri)) as svc:
        stmt = native.import_into("t", ["nodelocal://1/t"])
        with pytest.raises(native.NativeError) as info:
            await run_native_watched(svc, stmt, seen.append, poll_every=0.05)
        assert info.value.kind == "syntax_error"
        # the service is still usable afterwards
        assert (await svc.query("select 1")).rows == [(1,)]
