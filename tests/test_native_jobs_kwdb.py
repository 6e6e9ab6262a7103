"""SHOW JOBS watching and PAUSE / RESUME / CANCEL JOB on relational imports caught running (live node).

Recorded on the node (V3.2.1): the IMPORT statement's connection fails as soon as its job is
paused or cancelled (``cannot update progress on pause-requested job (id N)``, or ``node liveness
error: restarting in background``); the job goes pause-requested -> paused (or cancel-requested ->
reverting -> canceled) in the job registry's next pass, up to half a minute later; RESUME of a
pause-requested job is refused (``job with status pause-requested cannot be resumed``); while the
job is paused the table is offline (``relation ... does not exist``); a resumed job finishes in the
background, a cancelled one leaves the table as it was. ``fraction_completed`` stays 0 while a
relational import runs. No timing is asserted here: the waits only bound the test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import psycopg
import pytest
from psycopg import sql

from .conftest import KwdbNode
from .test_cli import error_lines, run

pytestmark = pytest.mark.kwdb

ROWS = 1_500_000


def _status(uri: str, job_id: str) -> str | None:
    with psycopg.connect(uri, autocommit=True) as conn:
        row = conn.execute("SELECT status FROM [SHOW JOBS] WHERE job_id = %s", (int(job_id),)).fetchone()
    return None if row is None else str(row[0])


def _wait(uri: str, job_id: str, states: tuple[str, ...], seconds: float = 240) -> str | None:
    end = time.monotonic() + seconds
    status = _status(uri, job_id)
    while status not in states and time.monotonic() < end:
        time.sleep(0.5)
        status = _status(uri, job_id)
    return status


def _start_import(uri: str, table: str, url: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "kwtui", "import", "--dsn", uri, "--native", "--into", table,
                             "--from", url, "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, env=dict(os.environ))


def _running_job(capsys: pytest.CaptureFixture[str], uri: str, url: str, proc: subprocess.Popen[str],
                 not_this: str | None = None) -> str:
    """The id of the IMPORT job reading ``url``, once ``kwtui jobs native-list`` shows it running."""
    end = time.monotonic() + 60
    while time.monotonic() < end:
        code, out, err = run(capsys, "jobs", "native-list", "--dsn", uri, "--json")
        assert code == 0, err
        for job in json.loads(out):
            if (job["job_type"] == "IMPORT" and url in (job["description"] or "") and job["status"] == "running"
                    and str(job["job_id"]) != not_this):
                assert job["fraction_completed"] is not None
                return str(job["job_id"])
        assert proc.poll() is None, "the import ended before it was caught running: " + proc.communicate()[1]
        time.sleep(0.2)
    raise AssertionError("no running IMPORT job seen")


def test_native_jobs_pause_resume_cancel(kwdb: str, kwdb_node: KwdbNode, capsys: pytest.CaptureFixture[str]) -> None:
    base = "jobs_" + uuid.uuid4().hex[:8]
    (kwdb_node.extern / base).mkdir(parents=True)
    with open(kwdb_node.extern / base / "big.csv", "w") as fh:
        fh.writelines(f"{i},name {i},{i % 1000}.25\n" for i in range(ROWS))
    url = f"nodelocal://1/{base}/big.csv"
    with psycopg.connect(kwdb, autocommit=True) as conn:
        for table in ("a", "b"):
            conn.execute(f"CREATE TABLE {table} (id INT8 PRIMARY KEY, name STRING, amount DECIMAL(10,2))")
        conn.execute("INSERT INTO b VALUES (-1, 'kept', 0)")

    jobs: list[str] = []
    try:
        _pause_resume_cancel(capsys, kwdb, url, jobs)
    finally:  # never leave an offline table behind (the database could not be dropped)
        for job in jobs:
            settled = ("paused", "running", "reverting", "succeeded", "failed", "canceled")
            if _wait(kwdb, job, settled) not in ("reverting", "succeeded", "failed", "canceled"):
                with psycopg.connect(kwdb, autocommit=True) as conn:
                    conn.execute(sql.SQL("CANCEL JOB {}").format(sql.Literal(int(job))))
                _wait(kwdb, job, ("canceled", "failed", "succeeded"))


def _pause_resume_cancel(capsys: pytest.CaptureFixture[str], kwdb: str, url: str, jobs: list[str]) -> None:
    # two imports at once: a is paused then resumed, b is cancelled
    pa = _start_import(kwdb, "a", url)
    ja = _running_job(capsys, kwdb, url, pa)
    jobs.append(ja)
    code, out, err = run(capsys, "jobs", "native-pause", ja, "--dsn", kwdb, "--wait", "0")
    assert code == 0, err
    pb = _start_import(kwdb, "b", url)
    jb = _running_job(capsys, kwdb, url, pb, not_this=ja)
    jobs.append(jb)
    code, out, err = run(capsys, "jobs", "native-cancel", jb, "--dsn", kwdb, "--wait", "0")
    assert code == 0, err
    assert out.startswith(f"job {jb}: ")

    _, a_err = pa.communicate(timeout=240)
    assert pa.returncode == 1
    # "KWDB job <id> was paused ..." when its watcher had seen the job, else the server's text
    assert "paused" in a_err and f"kwtui jobs native-resume {ja}" in a_err
    assert len(error_lines(a_err)) == 1 and "Traceback" not in a_err
    _, b_err = pb.communicate(timeout=240)
    # "KWDB job <id> was cancelled ..." when its watcher had seen the job, else the server's text
    assert pb.returncode == 1 and "cancel" in b_err and "rolls the import back" in b_err and "Traceback" not in b_err

    assert _wait(kwdb, ja, ("paused",)) == "paused"
    with psycopg.connect(kwdb, autocommit=True) as conn, pytest.raises(psycopg.errors.UndefinedTable):
        conn.execute("SELECT count(*) FROM a")  # offline while its import is paused
    code, out, err = run(capsys, "jobs", "native-resume", ja, "--dsn", kwdb)
    assert code == 0, err
    assert out.splitlines()[0] in (f"job {ja}: running", f"job {ja}: succeeded")
    assert _wait(kwdb, ja, ("succeeded", "failed", "canceled")) == "succeeded"
    assert _wait(kwdb, jb, ("canceled", "failed", "succeeded")) == "canceled"
    with psycopg.connect(kwdb, autocommit=True) as conn:
        assert conn.execute("SELECT count(*), sum(id) FROM a").fetchone() == (ROWS, ROWS * (ROWS - 1) // 2)
        assert conn.execute("SELECT id, name FROM b").fetchall() == [(-1, "kept")]

    code, _, err = run(capsys, "jobs", "native-resume", "999", "--dsn", kwdb)
    assert code == 2 and "no job 999" in err
