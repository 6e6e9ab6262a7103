"""Attack: two transfers into one target table at once.

Before issue 16 both ran and the table got the rows twice. Now a job holds a lock per target
table for as long as it runs; the second is refused with a message naming the first. The
first is frozen (SIGSTOP) while it holds the lock, so the overlap is certain, not a race.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

import psycopg
import pytest

from kwtui.cli import main

from ..test_cli import error_lines


def execute(uri: str, text: str, params: Any = None) -> list[Any]:
    with psycopg.connect(uri, autocommit=True) as conn:
        cur = conn.execute(text, params)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


def lock_owner(uri: str) -> str | None:
    """The job holding a table lock on the target (its session's application_name names it)."""
    rows = execute(uri, "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                        "WHERE l.locktype = 'advisory' AND l.granted AND a.application_name LIKE 'kwtui job %'")
    return str(rows[0][0])[len("kwtui "):] if rows else None


def _freeze_outside_a_journal_write(pid: int) -> None:
    """SIGSTOP ``pid``, but not in the middle of a write to the journal (SQLite): frozen there it
    would hold the journal's lock and the second command would wait on that, not on the table lock."""
    import sqlite3

    from kwtui.jobs import Journal

    path = Journal().path
    for _ in range(200):
        os.kill(pid, signal.SIGSTOP)
        probe = sqlite3.connect(path, timeout=0.05, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return
        except sqlite3.OperationalError:  # frozen inside a journal write: let it finish, try again
            os.kill(pid, signal.SIGCONT)
            time.sleep(0.02)
        finally:
            probe.close()
    pytest.fail("the first transfer was always inside a journal write")


def test_two_transfers_into_one_table_one_is_refused(capsys: pytest.CaptureFixture[str],
                                                     two_dbs: tuple[str, str]) -> None:
    src, dst = two_dbs
    execute(src, "CREATE TABLE big (a int, b text); "
                 "INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, 200000) g")
    first = subprocess.Popen([sys.executable, "-m", "kwtui", "transfer", "-s", src, "-t", dst, "--table", "big",
                              "--workers", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while (owner := lock_owner(dst)) is None and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert owner is not None, first.communicate()
        _freeze_outside_a_journal_write(first.pid)  # the first job holds its lock and stands still
        try:
            job = owner.split(" (")[0]  # "job 7"
            code, out, err = main_run(capsys, "transfer", "-s", src, "-t", dst, "--table", "big",
                                      "--if-exists", "append")
            assert code == 1, (out, err)
            assert "public.big" in err and f"being written by {job}" in err, err
            assert len(error_lines(err)) == 1
        finally:
            os.kill(first.pid, signal.SIGCONT)
        out1, err1 = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, (out1, err1)
    # the target holds the first job's rows once: the second wrote nothing
    assert execute(dst, "SELECT count(*) FROM big")[0][0] == 200_000


def test_lock_is_free_after_the_holder_is_killed(capsys: pytest.CaptureFixture[str],
                                                 two_dbs: tuple[str, str]) -> None:
    src, dst = two_dbs
    execute(src, "CREATE TABLE small (a int); INSERT INTO small SELECT generate_series(1, 10)")
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, dst, "public", "small"], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        code, _out, err = main_run(capsys, "transfer", "-s", src, "-t", dst, "--table", "small")
        assert code == 1 and "being written by job 4242" in err, err
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    finally:
        if holder.poll() is None:
            holder.kill()
    code, _out, err = main_run(capsys, "transfer", "-s", src, "-t", dst, "--table", "small")
    assert code == 0, err
    assert execute(dst, "SELECT count(*) FROM small")[0][0] == 10


#: a process that takes the table lock as "job 4242" and waits (to be killed)
LOCK_HOLDER = """
import asyncio, sys, time
from kwtui.connection import ConnectionService, ConnectTarget
from kwtui.transfer.tables import TableLock

async def main():
    async with ConnectionService(ConnectTarget.from_dsn(sys.argv[1])) as svc:
        lock = await TableLock(svc, [(sys.argv[2], sys.argv[3])], "job 4242").acquire()
        print("held", flush=True)
        await asyncio.sleep(600)
        await lock.release()

asyncio.run(main())
"""


def main_run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err
