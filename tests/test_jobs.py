"""Journaled transfers: kill -9 at any point, resume, and the target equals the source; retries."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from kwtui.connection import ConnectionService, ConnectTarget
from kwtui.jobs import COMPLETED, INTERRUPTED, Journal
from kwtui.transfer.engine import TransferOptions
from kwtui.transfer.resumable import JobRunner, create_transfer_job

from .test_transfer import checksum, execute

ROWS = 1_500_000


def fill(uri: str, rows: int) -> None:
    execute(uri, f"""
        CREATE TABLE t_pk (id bigint PRIMARY KEY, v text, n numeric(12,2), ts timestamptz);
        INSERT INTO t_pk SELECT g, md5(g::text), g / 7.0, timestamptz '2024-01-01' + g * interval '1 s'
            FROM generate_series(1, {rows}) g;
        CREATE TABLE t_nopk (a int, b text);
        INSERT INTO t_nopk SELECT g % 1000, 'x' || (g % 777) FROM generate_series(1, {rows // 5}) g;
        ANALYZE""")


def kwtui(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kwtui", *argv], env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=300)


@pytest.mark.parametrize(("kill_after_batches", "workers"), [(1, 1), (4, 1), (8, 2)])
def test_kill_9_then_resume_is_exact(two_dbs: tuple[str, str], tmp_path: Path, kill_after_batches: int,
                                     workers: int) -> None:
    src, dst = two_dbs
    fill(src, ROWS)
    env = {**os.environ, "KWTUI_JOURNAL": str(tmp_path / "jobs.db")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kwtui", "transfer", "--source", src, "--target", dst, "--table", "t_pk",
         "--table", "t_nopk", "--chunk-rows", "100000", "--workers", str(workers), "--json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    journal = Journal(tmp_path / "jobs.db")
    deadline = time.monotonic() + 120
    killed = False
    while time.monotonic() < deadline and proc.poll() is None:
        jobs = journal.jobs()
        if jobs and jobs[0].tables and len(jobs[0].tables[0].done_batches) >= kill_after_batches:
            time.sleep(random.uniform(0, 0.08))  # somewhere inside the next batch
            os.kill(proc.pid, signal.SIGKILL)
            killed = True
            break
        time.sleep(0.01)
    proc.wait(timeout=30)
    assert killed, proc.stderr.read() if proc.stderr else ""
    job = journal.jobs()[0]
    # the dead process's job shows as interrupted, with its rows so far
    listed = json.loads(kwtui(env, "jobs", "list", "--json").stdout)
    assert listed[0]["id"] == job.id and listed[0]["status"] == INTERRUPTED
    assert listed[0]["rows"] >= kill_after_batches * 100_000 - 1
    resumed = kwtui(env, "jobs", "resume", str(job.id), "--json")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    result = json.loads(resumed.stdout.splitlines()[-1])
    assert result["status"] == COMPLETED and result["rows"] == ROWS + ROWS // 5
    assert checksum(src, "t_pk", "id") == checksum(dst, "t_pk", "id")
    assert checksum(src, "t_nopk", "a, b") == checksum(dst, "t_nopk", "a, b")
    # the primary key arrived after the load, exactly once
    with psycopg.connect(dst) as conn:
        assert conn.execute("select count(*) from pg_index where indrelid = 't_pk'::regclass and indisprimary"
                            ).fetchone() == (1,)


@pytest.mark.parametrize("workers", [1, 2])
async def test_target_backend_terminated_mid_transfer_finishes_exact(two_dbs: tuple[str, str], tmp_path: Path,
                                                                      workers: int) -> None:
    src, dst = two_dbs
    fill(src, 600_000)
    journal = Journal(tmp_path / "jobs.db")
    dst_name = dst.rsplit("/", 1)[1]
    killed: list[int] = [0]
    last: list[object] = []

    def listener(ev: object) -> None:
        last[:] = [ev]
        # until one busy target backend has been terminated (between batches they may all be idle)
        if killed[0] == 0 and getattr(ev, "rows", 0) > 250_000:
            with psycopg.connect(src.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
                rows = admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                    "AND pid <> pg_backend_pid() AND state <> 'idle'", (dst_name,)).fetchall()
                killed[0] += len(rows)

    async with ConnectionService(ConnectTarget.from_dsn(src)) as s, ConnectionService(ConnectTarget.from_dsn(dst)) as d:
        job_id = await create_transfer_job(journal, s, d, ["t_pk", "t_nopk"], TransferOptions(workers=workers),
                                           batch_rows=100_000)
        runner = JobRunner(journal, job_id, s, d, listener, retry_delays=(0.2, 0.5, 1))
        outcome = await runner.run()
    assert killed[0] >= 1, "no backend was terminated"
    assert outcome.status == COMPLETED, outcome
    # every row counted once, in the journal and in the progress, however the retries fell
    assert outcome.rows == 600_000 + 600_000 // 5
    assert getattr(last[0], "rows", None) == outcome.rows
    assert checksum(src, "t_pk", "id") == checksum(dst, "t_pk", "id")
    assert checksum(src, "t_nopk", "a, b") == checksum(dst, "t_nopk", "a, b")
    assert any("retry" in m for _at, _lv, m in journal.logs(job_id))


async def test_cancel_request_from_another_process_stops_the_job(two_dbs: tuple[str, str], tmp_path: Path) -> None:
    src, dst = two_dbs
    fill(src, 400_000)
    journal = Journal(tmp_path / "jobs.db")
    async with ConnectionService(ConnectTarget.from_dsn(src)) as s, ConnectionService(ConnectTarget.from_dsn(dst)) as d:
        job_id = await create_transfer_job(journal, s, d, ["t_pk"], TransferOptions(), batch_rows=20_000)
        runner = JobRunner(journal, job_id, s, d, heartbeat_every=0.05)
        task = asyncio.create_task(runner.run())
        while not journal.get(job_id).tables[0].done_batches:
            await asyncio.sleep(0.02)
        journal.request(job_id, "cancel")
        outcome = await task
    assert outcome.status == "cancelled"
    assert 0 < outcome.rows < 400_000
