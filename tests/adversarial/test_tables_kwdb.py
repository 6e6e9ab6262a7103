"""The same attacks on a live KWDB: a filled target, a time-series table to empty, the lock.

KWDB differs where it matters here: its advisory lock functions say yes to everyone, it has
no ``FOR UPDATE NOWAIT``, and its time-series tables have no TRUNCATE. Needs ../shared/kwdb
(CI always has it); skipped when it is absent.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from kwtui.cli import main

from .test_tables_lock import LOCK_HOLDER

NODE = Path(__file__).resolve().parents[3] / "shared" / "kwdb" / "server" / "kwdb-node"


@pytest.fixture
def kwdb(kwdb_server: str) -> str:
    """The session's live KWDB node (tests/conftest.py), as defaultdb's URI."""
    return kwdb_server


pytestmark = pytest.mark.kwdb


def execute(uri: str, text: str) -> list[Any]:
    with psycopg.connect(uri, autocommit=True) as conn:
        cur = conn.execute(text)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


def with_db(uri: str, db: str) -> str:
    return uri.replace("/defaultdb?", f"/{db}?")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def fresh_db(kwdb: str, name: str, *, ts: bool = False) -> str:
    execute(kwdb, f"DROP DATABASE IF EXISTS {name} CASCADE")
    execute(kwdb, f"CREATE {'TS ' if ts else ''}DATABASE {name}")
    return with_db(kwdb, name)


def test_kwdb_filled_relational_target(capsys: pytest.CaptureFixture[str], kwdb: str, db: Any) -> None:
    execute(db.uri, "CREATE TABLE events (a int, b text); "
                    "INSERT INTO events SELECT g, 'e' || g FROM generate_series(1, 500) g")
    dst = fresh_db(kwdb, "rel_target")
    assert run(capsys, "transfer", "-s", db.uri, "-t", dst, "--table", "public.events")[0] == 0
    code, _out, err = run(capsys, "transfer", "-s", db.uri, "-t", dst, "--table", "public.events")
    assert code == 1 and "public.events" in err and "500 rows" in err, err
    assert execute(dst, "SELECT count(*) FROM events")[0][0] == 500
    for word, expected in (("append", 1000), ("truncate", 500), ("replace", 500)):
        code, out, err = run(capsys, "transfer", "-s", db.uri, "-t", dst, "--table", "public.events",
                             "--if-exists", word)
        assert code == 0, (word, out, err)
        assert execute(dst, "SELECT count(*) FROM events")[0][0] == expected, word


def test_kwdb_time_series_target_is_emptied_by_delete(capsys: pytest.CaptureFixture[str], kwdb: str, db: Any) -> None:
    execute(db.uri, "CREATE TABLE m (ts timestamptz NOT NULL, v int, dev int NOT NULL); "
                    "INSERT INTO m SELECT timestamptz '2025-01-01' + g * interval '1 s', g, g % 3 "
                    "FROM generate_series(1, 300) g")
    dst = fresh_db(kwdb, "ts_target", ts=True)
    execute(dst, "CREATE TABLE m (ts timestamptz NOT NULL, v int) TAGS (dev int NOT NULL) PRIMARY TAGS (dev)")
    execute(dst, "INSERT INTO m VALUES ('2020-01-01 00:00:00+00', -1, 7), ('2020-01-01 00:00:01+00', -2, 7)")
    code, _out, err = run(capsys, "transfer", "-s", db.uri, "-t", dst, "--table", "public.m")
    assert code == 1 and "public.m" in err and "2 rows" in err, err
    code, out, err = run(capsys, "transfer", "-s", db.uri, "-t", dst, "--table", "public.m", "--if-exists", "truncate")
    assert code == 0, (out, err)
    assert execute(dst, "SELECT count(*), min(v) FROM m")[0] == (300, 1)  # the old rows are gone, TRUNCATE or not
    code, out, err = run(capsys, "transfer", "-s", db.uri, "-t", dst, "--table", "public.m", "--if-exists", "replace")
    assert code == 0, (out, err)
    assert execute(dst, "SELECT count(*) FROM m")[0][0] == 300
    kinds = {r[0]: r[1] for r in execute(dst, "SHOW TABLES")}
    assert kinds["m"] == "TIME SERIES TABLE"  # replaced by a time-series table again


def test_kwdb_lock_refuses_a_second_writer_and_frees_on_kill_9(capsys: pytest.CaptureFixture[str], kwdb: str,
                                                               db: Any) -> None:
    execute(db.uri, "CREATE TABLE small (a int); INSERT INTO small SELECT generate_series(1, 10)")
    dst = fresh_db(kwdb, "lock_target")
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, dst, "public", "small"], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        code, _out, err = run(capsys, "transfer", "-s", db.uri, "-t", dst, "--table", "public.small")
        assert code == 1 and "public.small" in err and "being written by job 4242" in err, err
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    finally:
        if holder.poll() is None:
            holder.kill()
    code, _out, err = run(capsys, "transfer", "-s", db.uri, "-t", dst, "--table", "public.small")
    assert code == 0, err
    assert execute(dst, "SELECT count(*) FROM small")[0][0] == 10


def test_kwdb_lock_in_a_time_series_database(capsys: pytest.CaptureFixture[str], kwdb: str) -> None:
    """A TS database holds no relational table: the lock lives in defaultdb, and still refuses."""
    dst = fresh_db(kwdb, "ts_lock", ts=True)
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, dst, "public", "m"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held", holder.communicate()
        second = subprocess.run([sys.executable, "-c", LOCK_HOLDER, dst, "public", "m"], capture_output=True,
                                text=True, timeout=60)
        assert second.returncode != 0 and "being written by job 4242" in second.stderr
    finally:
        holder.kill()
        holder.wait()


def test_kwdb_import_create_names_the_table_from_meta_sql(capsys: pytest.CaptureFixture[str], kwdb: str, db: Any,
                                                          tmp_path: Path) -> None:
    execute(db.uri, "CREATE TABLE orders (id bigint PRIMARY KEY, v text); "
                    "INSERT INTO orders SELECT g, 'o' || g FROM generate_series(1, 200) g")
    backup = tmp_path / "backup"
    assert run(capsys, "export", "--dsn", db.uri, "--table", "public.orders", "--to", str(backup))[0] == 0
    dst = fresh_db(kwdb, "imp_target")
    code, out, err = run(capsys, "import", "--dsn", dst, "--from", str(backup), "--create")
    assert code == 0, (out, err)
    names = [r[0] for r in execute(dst, "SHOW TABLES")]
    assert names == ["orders"], names
    assert execute(dst, "SELECT count(*) FROM orders")[0][0] == 200
    code, out, err = run(capsys, "import", "--dsn", dst, "--from", str(backup), "--create")
    assert code == 1 and "200 rows" in err, err


@pytest.mark.parametrize("ts", [False, True], ids=["relational", "time-series"])
def test_kwdb_via_import_makes_the_lock_tables_beside_the_plan_and_still_refuses(
        capsys: pytest.CaptureFixture[str], kwdb: str, db: Any, ts: bool) -> None:
    """transfer --via-import makes the lock tables while it reads the plan (TableLock.prepare):
    the lock is still taken before the load, in the target database or, for a time-series one,
    in defaultdb, and a held table is refused with its holder named."""
    import asyncio

    from kwtui.connection import ConnectionService, ConnectTarget
    from kwtui.transfer.tables import TableLock

    execute(db.uri, "CREATE TABLE m (ts timestamptz NOT NULL, v int, dev int NOT NULL); "
                    "INSERT INTO m SELECT timestamptz '2025-01-01' + g * interval '1 s', g, g % 3 "
                    "FROM generate_series(1, 300) g")
    name = "pull_lock_ts" if ts else "pull_lock"
    dst = fresh_db(kwdb, name, ts=ts)
    execute(dst, "CREATE TABLE m (ts timestamptz NOT NULL, v int) TAGS (dev int NOT NULL) PRIMARY TAGS (dev)" if ts
            else "CREATE TABLE public.m (ts timestamptz NOT NULL, v int, dev int NOT NULL)")

    async def prepared() -> list[str] | None:
        async with ConnectionService(ConnectTarget.from_dsn(dst)) as svc:
            return await TableLock.prepare(svc)

    assert asyncio.run(prepared()) == (["defaultdb"] if ts else [])
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, dst, "public", "m"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held", holder.communicate()
        code, _out, err = run(capsys, "transfer", "-s", db.uri, "-t", dst, "--table", "public.m", "--via-import")
        assert code == 1 and "being written by job 4242" in err, err
        assert execute(dst, "SELECT count(*) FROM m")[0][0] == 0
    finally:
        holder.kill()
        holder.wait()
    code, out, err = run(capsys, "transfer", "-s", db.uri, "-t", dst, "--table", "public.m", "--via-import")
    assert code == 0, (out, err)
    assert execute(dst, "SELECT count(*) FROM m")[0][0] == 300
