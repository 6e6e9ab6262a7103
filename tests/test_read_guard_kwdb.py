"""Read mode on a live KWDB node (V3.2.1): the same guard, KWDB's own statements and built-ins.

KWDB's catalog says nothing of volatility and has no temporary views, so functions are
judged by their normalised names against the reviewed list in kwtui.guard; these tests run
the attempts for real and check the node's state afterwards (rows of a relational and a
time-series table, the sequence, the session's settings, the node alive).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from .test_cli import run

pytestmark = pytest.mark.kwdb

ATTACKS_KWDB = [
    "select set_config('application_name', 'pwned', false)",
    """select "set_config"('application_name', 'pwned', false)""",
    "select pg_catalog.set_config('search_path', 'evil', false)",
    "select nextval('s')",
    """select "nextval"('s')""",
    "select setval('s', 100)",
    "select kwdb_internal.force_panic('x')",
    'select "kwdb_internal"."force_log_fatal"(\'x\')',
    "select kwdb_internal.set_vmodule('*=3')",
    "select kwdb_internal.force_retry('1s')",
    "select pg_try_advisory_lock(1)",
    "insert into r values (100, 'x')",
    "upsert into r values (1, 'changed')",
    "update r set v = 'x'",
    "delete from r",
    "insert into tsm values (now(), 1.0, 7)",
    "delete from tsm",
    "with d as (delete from r returning id) select * from d",
    "select 1; delete from r",
    "set cluster setting sql.defaults.distsql = 'off'",
    "set application_name = 'pwned'",
    "create ts database pwned_ts",
    "create table pwned (a int)",
    "drop table r",
    "export into csv \"nodelocal://1/pwned\" from table r",
    "import into r csv data (\"nodelocal://1/x.csv\")",
    "pause job 1",
    "cancel query '1'",
    "select 1) union (select 2",
    "select * from r; select kwdb_internal.force_panic('x')",
]

READS_KWDB = [
    "select * from r",
    "select count(*) from r",
    "select * from tsm",
    "select count(*), max(v) from tsm",
    "select last(v) from tsm",
    "select time_bucket(ts, '1h') as b, avg(v) from tsm group by b",
    "show databases",
    "show tables",
    "show columns from tsm",
    "show create table r",
    "show jobs",
    "select version(), now(), random() < 2, gen_random_uuid() is not null",
    "select kwdb_internal.cluster_id() is not null",
    "select * from kwdb_internal.gossip_nodes",
    "explain select * from r where id = 1",
    "with x as (select id from r) select sum(id) from x",
    "select id, row_number() over (order by id) from r",
    "select last_value from s",
]


@pytest.fixture
def kw(kwdb: str) -> Iterator[str]:
    with psycopg.connect(kwdb, autocommit=True) as conn:
        conn.execute("CREATE TABLE r (id INT PRIMARY KEY, v STRING)")
        conn.execute("INSERT INTO r VALUES (1, 'a'), (2, NULL)")
        conn.execute("CREATE SEQUENCE s")
        conn.execute("SELECT nextval('s')")
    tsdb = "ts_" + kwdb.rsplit("/", 1)[1].split("?")[0]
    with psycopg.connect(kwdb, autocommit=True) as conn:
        conn.execute(f"CREATE TS DATABASE {tsdb}")
        conn.execute(f"CREATE TABLE {tsdb}.tsm (ts TIMESTAMPTZ NOT NULL, v FLOAT8) TAGS (dev INT NOT NULL) "
                     "PRIMARY TAGS (dev)")
        conn.execute(f"INSERT INTO {tsdb}.tsm VALUES ('2024-01-01 00:00:00+00', 1.5, 1)")
    try:
        yield kwdb
    finally:
        with psycopg.connect(kwdb, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {tsdb} CASCADE")


def _ts(uri: str) -> str:
    return "ts_" + uri.rsplit("/", 1)[1].split("?")[0]


def state(uri: str) -> Any:
    ts = _ts(uri)
    with psycopg.connect(uri, autocommit=True) as c:
        return (c.execute("SELECT id, v FROM r ORDER BY id").fetchall(),
                c.execute(f"SELECT count(*), sum(v) FROM {ts}.tsm").fetchall(),
                c.execute("SELECT last_value FROM s").fetchall(),
                c.execute("SHOW TABLES").fetchall(),
                c.execute("SHOW DATABASES").fetchall(),
                c.execute("SHOW CLUSTER SETTING sql.defaults.distsql").fetchall())


def _sql(uri: str, text: str) -> str:
    return text.replace(" tsm", f" {_ts(uri)}.tsm")


def test_attacks_on_kwdb_change_nothing(kw: str, capsys: pytest.CaptureFixture[str]) -> None:
    before = state(kw)
    for text in ATTACKS_KWDB:
        code, _, err = run(capsys, "query", "--dsn", kw, _sql(kw, text))
        assert code in (1, 2), f"ran on KWDB in read mode: {text!r}"
        assert "Traceback" not in err
        assert state(kw) == before, f"KWDB changed after {text!r}"


async def test_the_session_keeps_its_settings_on_kwdb(kw: str) -> None:
    """set_config survives ROLLBACK on KWDB: it must be refused before it runs."""
    from kwtui.connection import ConnectionService, ConnectTarget
    from kwtui.errors import KwtuiError
    from kwtui.query import QueryRunner

    svc = ConnectionService(ConnectTarget.from_dsn(kw))
    await svc.connect()
    runner = QueryRunner(svc, timeout=5)
    try:
        async def settings() -> Any:
            return (await svc.query("SHOW application_name")).rows, (await svc.query("SHOW statement_timeout")).rows

        first = await settings()
        for text in ATTACKS_KWDB[:6]:
            with pytest.raises(KwtuiError):
                await runner.run(runner.prepare(_sql(kw, text), write_mode=False), write_mode=False)
            assert await settings() == first
        # a read puts the session's statement_timeout back after its own
        ex = await runner.run(runner.prepare("select 1", write_mode=False), write_mode=False)
        assert ex.stream is not None
        await ex.stream.next_page(10)
        await ex.stream.close()
        assert await settings() == first
    finally:
        await svc.close()


def test_plain_reads_run_on_kwdb(kw: str, capsys: pytest.CaptureFixture[str]) -> None:
    before = state(kw)
    for text in READS_KWDB:
        code, out, err = run(capsys, "query", "--dsn", kw, "--json", _sql(kw, text))
        assert code == 0, f"{text!r}: {err}"
        json.loads(out)
    assert state(kw) == before


def test_statement_timeout_on_kwdb(kw: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "query", "--dsn", kw, "--statement-timeout", "0.5", "select pg_sleep(3)")
    assert code == 1 and "timeout" in err


def test_native_export_query_goes_through_the_guard(kw: str, kwdb_server: str, capsys: pytest.CaptureFixture[str]) -> None:
    """EXPORT ... FROM SELECT is built from the text KWDB parsed alone: nothing can be appended."""
    name = "q_" + kw.rsplit("/", 1)[1].split("?")[0]
    code, out, err = run(capsys, "export", "--dsn", kw, "--native", "--query", "select * from r -- a comment",
                         "--to", f"nodelocal://1/{name}")
    assert code == 0, err
    assert "FROM select * from r" in out and "comment" not in out
    for attack in ("select * from r) --", """select "set_config"('application_name', 'x', false)""",
                   "select 1; select kwdb_internal.force_panic('x')"):
        code, _, err = run(capsys, "export", "--dsn", kw, "--native", "--query", attack,
                           "--to", f"nodelocal://1/{name}_x")
        assert code in (1, 2) and "Traceback" not in err, attack
