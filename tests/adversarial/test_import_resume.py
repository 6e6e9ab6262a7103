"""Attacks on a running `kwtui import`: kill -9, SIGINT, a terminated backend.

Each kill lands at a seeded random point (the seed and the point are printed and in the
assertion messages: set KWTUI_TEST_SEED to replay one). After it, `kwtui jobs resume ID`
must leave exactly the file's good rows in the table, keyed or keyless, each once, and the
arithmetic must hold: records = rows loaded + lines rejected.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from kwtui.jobs import INTERRUPTED, Journal

if TYPE_CHECKING:
    from ..conftest import TestDb

ROWS = 200_000
BAD_EVERY = 9_973  # these lines carry a bare quote: rejected, never merged
BATCH_BYTES = "40000"  # about 200 committed batches


def make_file(path: Path, rows: int = ROWS) -> tuple[int, list[int]]:
    bad = []
    with path.open("wb") as fh:
        for i in range(1, rows + 1):
            if i % BAD_EVERY == 0:
                fh.write(f'{i},bad" {i},1.00\n'.encode())
                bad.append(i)
            else:
                fh.write(f"{i},name {i},{i % 1000}.{i % 100:02d}\n".encode())
    return rows - len(bad), bad


def table(db: TestDb, keyed: bool) -> None:
    db.execute("CREATE TABLE t (id int" + (" PRIMARY KEY" if keyed else "") + ", name text, amount numeric(10,2))")


def kwtui(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kwtui", *argv], env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120)


def start(env: dict[str, str], db: TestDb, path: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "kwtui", "import", "--dsn", db.uri, "--from", str(path), "--into", "t",
         "--batch-bytes", BATCH_BYTES, "--json", *extra],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)


def wait_batches(journal: Journal, proc: subprocess.Popen[str], n: int, why: str) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        jobs = journal.jobs()
        if jobs and jobs[0].tables and len(jobs[0].tables[0].done_batches) >= n:
            return jobs[0].id
        time.sleep(0.005)
    out, err = proc.communicate()
    pytest.fail(f"{why}: the import ended before {n} batches ({proc.returncode}): {err[-500:]}")


def result_of(stdout: str) -> dict[str, Any]:
    return [json.loads(x) for x in stdout.splitlines() if x.startswith("{")][-1]  # type: ignore[no-any-return]


def assert_exact(db: TestDb, path: Path, result: dict[str, Any], good: int, bad: list[int], why: str) -> None:
    assert result["records"] == ROWS and result["rows"] == good and result["rejects"] == len(bad), (why, result)
    assert result["records"] == result["rows"] + result["rejects"], why
    assert db.execute("SELECT count(*), count(DISTINCT id), sum(id) FROM t") == [
        (good, good, ROWS * (ROWS + 1) // 2 - sum(bad))], why
    reject = Path(result["tables"][0]["reject_file"]).read_text()
    lines = sorted(int(x.split(".csv:", 1)[1].split(":", 1)[0]) for x in reject.splitlines() if not x.startswith("\t"))
    assert lines == bad, (why, "each rejected line once in the reject file")


@pytest.mark.parametrize("keyed", [True, False], ids=["keyed", "keyless"])
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill9", "sigint"])
def test_killed_import_resumes_exactly(db: TestDb, tmp_path: Path, keyed: bool, sig: signal.Signals) -> None:
    seed = int(os.environ.get("KWTUI_TEST_SEED") or random.randrange(1 << 30))
    rng = random.Random(seed)
    after = rng.randint(1, 80)
    delay = rng.uniform(0, 0.05)
    why = f"seed {seed}: {sig.name} after {after} batches + {delay:.3f} s ({'keyed' if keyed else 'keyless'})"
    print(why)
    table(db, keyed)
    path = tmp_path / "data.csv"
    good, bad = make_file(path)
    env = {**os.environ, "KWTUI_JOURNAL": str(tmp_path / "jobs.db")}
    journal = Journal(tmp_path / "jobs.db")
    proc = start(env, db, path, "--workers", "2")
    job_id = wait_batches(journal, proc, after, why)
    time.sleep(delay)
    os.kill(proc.pid, sig)
    out, err = proc.communicate(timeout=60)
    landed = db.execute("SELECT count(*) FROM t")[0][0]
    assert 0 < landed < good, (why, landed, err[-300:])
    job = journal.get(job_id)
    print(f"{why}: exit {proc.returncode}, {landed:,} rows committed, the journal says {job.rows:,}")
    assert job.status == INTERRUPTED, (why, job.status)
    if sig == signal.SIGINT:  # a stop says what landed and how to continue
        assert proc.returncode == 130, (why, err)
        assert f"public.t {landed:,} rows committed" in err and f"kwtui jobs resume {job_id}" in err, (why, err)
        assert job.rows == landed, (why, job.rows, landed)
    else:  # the journal never claims more than the target holds
        assert 0 < job.rows <= landed, (why, job.rows, landed)
    listed = json.loads(kwtui(env, "jobs", "list", "--json").stdout)[0]
    assert listed["id"] == job_id and listed["status"] == INTERRUPTED and listed["rows"] == job.rows
    done = kwtui(env, "jobs", "resume", str(job_id), "--json")
    assert done.returncode == 0, (why, done.stderr)
    assert_exact(db, path, result_of(done.stdout), good, bad, why)
    job = journal.get(job_id)
    assert (job.status, job.records, job.rows, job.rejects) == ("completed", ROWS, good, len(bad)), why


def test_terminated_backend_is_retried(db: TestDb, tmp_path: Path, pg_server: Any) -> None:
    """pg_terminate_backend of the loader's connection mid-import: the batch is retried, exact count."""
    table(db, False)
    path = tmp_path / "data.csv"
    good, bad = make_file(path)
    env = {**os.environ, "KWTUI_JOURNAL": str(tmp_path / "jobs.db")}
    journal = Journal(tmp_path / "jobs.db")
    proc = start(env, db, path, "--workers", "1")
    job_id = wait_batches(journal, proc, 3, "terminate")
    killed = 0
    deadline = time.monotonic() + 20
    with psycopg.connect(pg_server.conninfo(), autocommit=True) as conn:
        while killed < 2 and time.monotonic() < deadline and proc.poll() is None:
            rows = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s"
                                " AND pid <> pg_backend_pid() AND query ILIKE 'COPY%%'", (db.name,)).fetchall()
            killed += sum(1 for (ok,) in rows if ok)
            time.sleep(0.05 if not rows else 0.3)
    out, err = proc.communicate(timeout=120)
    assert killed >= 1, "no loader connection was caught in a COPY"
    assert proc.returncode == 0, err
    assert_exact(db, path, result_of(out), good, bad, f"{killed} backend(s) terminated")
    assert any("retry 1/" in m for _, _, m in journal.logs(job_id))


def test_server_restart_mid_import_is_exact(tmp_path: Path) -> None:
    """Attack: the server itself restarts (pg_ctl stop -m fast, then start) at a seeded random
    batch of a running import. The import retries its batch when the server is back, or fails
    saying what it committed and `jobs resume` finishes it: either way every good line exactly once."""
    from kwtui.embedded import EmbeddedServer, free_port

    seed = int(os.environ.get("KWTUI_TEST_SEED") or random.randrange(1 << 30))
    after = random.Random(seed).randint(2, 60)
    why = f"seed {seed}: server restart after {after} batches"
    print(why)
    server = EmbeddedServer(tmp_path / "pgdata", port=free_port(),
                            settings={"fsync": "off", "synchronous_commit": "off"})
    server.start()
    try:
        with psycopg.connect(server.conninfo(), autocommit=True) as conn:
            conn.execute("CREATE TABLE t (id int, name text, amount numeric(10,2))")  # keyless: no second chance
        uri = server.uri("postgres")

        class Db:  # the TestDb calls assert_exact makes
            @staticmethod
            def execute(q: str) -> list[Any]:
                with psycopg.connect(server.conninfo(), autocommit=True) as c:
                    return c.execute(q).fetchall()  # type: ignore[arg-type]

        path = tmp_path / "data.csv"
        good, bad = make_file(path)
        env = {**os.environ, "KWTUI_JOURNAL": str(tmp_path / "jobs.db")}
        journal = Journal(tmp_path / "jobs.db")
        proc = subprocess.Popen(
            [sys.executable, "-m", "kwtui", "import", "--dsn", uri, "--from", str(path), "--into", "t",
             "--batch-bytes", BATCH_BYTES, "--json", "--workers", "1"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        job_id = wait_batches(journal, proc, after, why)
        # pg_ctl restart: the same port and options (postmaster.opts), every session cut
        server._run("pg_ctl", ["-D", str(server.datadir), "-w", "-m", "fast", "-t", "60", "-l",
                               str(server.datadir / "server.log"), "restart"], timeout=90)
        out, err = proc.communicate(timeout=120)
        print(f"{why}: the import ended with exit {proc.returncode}")
        if proc.returncode == 0:  # the batch was retried once the server was back
            assert_exact(Db, path, result_of(out), good, bad, why)  # type: ignore[arg-type]
        else:  # it said what it committed, and the resume finishes it
            assert "rows committed" in err and f"kwtui jobs resume {job_id}" in err, (why, err[-500:])
            done = kwtui(env, "jobs", "resume", str(job_id), "--json")
            assert done.returncode == 0, (why, done.stderr[-500:])
            assert_exact(Db, path, result_of(done.stdout), good, bad, why)  # type: ignore[arg-type]
    finally:
        server.destroy()
