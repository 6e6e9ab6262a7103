"""`kwtui query`: the read/write guard end to end against a real server."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from .test_cli import assert_one_line_error, run, run_subprocess

if TYPE_CHECKING:
    from .conftest import TestDb


@pytest.fixture
def t500(db: TestDb) -> TestDb:
    db.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    db.execute("INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 500) g")
    db.execute("CREATE TABLE src (id int)")
    db.execute("INSERT INTO src VALUES (1), (2)")
    return db


def count(db: TestDb) -> int:
    return int(db.execute("SELECT count(*) FROM t")[0][0])


def test_select_without_limit_gets_20_rows_and_the_notice(capsys: pytest.CaptureFixture[str], t500: TestDb) -> None:
    code, out, err = run(capsys, "query", "--dsn", t500.uri, "--json", "select * from t")
    assert code == 0, err
    doc = json.loads(out)
    assert len(doc["rows"]) == 20 and doc["notice"] == "LIMIT 20 added"
    code, out, err = run(capsys, "query", "--dsn", t500.uri, "--json", "select * from t limit 50")
    doc = json.loads(out)
    assert len(doc["rows"]) == 50 and doc["notice"] is None
    # text output says it too
    code, out, err = run(capsys, "query", "--dsn", t500.uri, "select * from t")
    assert code == 0 and "(20 rows" in out and "LIMIT 20 added" in out


def test_show_and_explain_run_as_they_are(capsys: pytest.CaptureFixture[str], t500: TestDb) -> None:
    code, out, _ = run(capsys, "query", "--dsn", t500.uri, "--json", "show server_version")
    assert code == 0 and json.loads(out)["notice"] is None
    code, out, _ = run(capsys, "query", "--dsn", t500.uri, "--json", "explain select * from t")
    assert code == 0 and json.loads(out)["notice"] is None


WRITES = [
    "INSERT INTO t VALUES (1000, 'x')",
    "UPDATE t SET v = 'changed'",
    "DELETE FROM t",
    "MERGE INTO t USING src ON t.id = src.id WHEN MATCHED THEN DELETE",
    "CREATE TABLE t2 (a int)",
    "ALTER TABLE t ADD COLUMN extra int",
    "DROP TABLE t",
    "TRUNCATE t",
    "GRANT SELECT ON t TO PUBLIC",
    "REVOKE SELECT ON t FROM PUBLIC",
    "COMMENT ON TABLE t IS 'x'",
    "SET search_path = nowhere",
    "COPY t FROM STDIN",
    "WITH d AS (DELETE FROM t RETURNING *) SELECT count(*) FROM d",
    "SELECT 1; DELETE FROM t",
    "SELECT * INTO t3 FROM t",
    # KWDB statements (refused before anything is sent, so they need no KWDB server)
    "UPSERT INTO t VALUES (1, 'x')",
    'IMPORT INTO t CSV DATA ("nodelocal://1/t")',
    'EXPORT INTO CSV "nodelocal://1/t" FROM TABLE t',
]


@pytest.mark.parametrize("statement", WRITES)
def test_every_write_form_is_refused_in_read_mode(capsys: pytest.CaptureFixture[str], t500: TestDb,
                                                  statement: str) -> None:
    before = t500.execute("SELECT md5(string_agg(id::text || v, ',' ORDER BY id)) FROM t")
    code, out, err = run(capsys, "query", "--dsn", t500.uri, statement)
    assert code == 2, (out, err)
    line = assert_one_line_error(err)
    assert "write" in line.lower() or "statement" in line.lower()
    assert t500.execute("SELECT md5(string_agg(id::text || v, ',' ORDER BY id)) FROM t") == before
    assert t500.execute("SELECT to_regclass('t2'), to_regclass('t3')") == [(None, None)]


@pytest.mark.parametrize("statement", [w for w in WRITES if not w.startswith(("UPSERT", "IMPORT", "EXPORT", "COPY"))])
def test_writes_run_with_write_and_yes(capsys: pytest.CaptureFixture[str], t500: TestDb, statement: str) -> None:
    code, out, err = run(capsys, "query", "--dsn", t500.uri, "--write", "--yes", statement)
    assert code == 0, err


def test_write_runs_and_changes_the_table(capsys: pytest.CaptureFixture[str], t500: TestDb) -> None:
    code, out, err = run(capsys, "query", "--dsn", t500.uri, "--write", "--yes", "DELETE FROM t WHERE id <= 100")
    assert code == 0, err
    assert "DELETE 100" in out
    assert count(t500) == 400


def test_write_without_yes_and_no_terminal_is_refused(t500: TestDb) -> None:
    proc = run_subprocess("query", "--dsn", t500.uri, "--write", "DELETE FROM t")
    assert proc.returncode == 2
    line = assert_one_line_error(proc.stderr)
    assert "not confirmed" in line and "--yes" in line
    assert count(t500) == 500


def test_sql_error_exits_1_with_the_server_message(t500: TestDb) -> None:
    proc = run_subprocess("query", "--dsn", t500.uri, "select nope from t")
    assert proc.returncode == 1
    line = assert_one_line_error(proc.stderr)
    assert 'column "nope" does not exist' in line and "Traceback" not in proc.stderr


def test_empty_result_prints_its_headers(capsys: pytest.CaptureFixture[str], t500: TestDb) -> None:
    code, out, err = run(capsys, "query", "--dsn", t500.uri, "select id, v from t where id < 0")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["id", "|", "v"] and set(lines[1]) <= {"-", "+"}
    assert "(0 rows" in out
    code, out, err = run(capsys, "query", "--dsn", t500.uri, "--json", "select id, v from t where id < 0")
    assert json.loads(out)["columns"] == ["id", "v"]


@pytest.mark.kwdb
def test_empty_result_prints_its_headers_on_kwdb(capsys: pytest.CaptureFixture[str], kwdb: str) -> None:
    """KWDB too: the empty result's columns come from describing the statement again (nothing runs)."""
    import psycopg

    with psycopg.connect(kwdb, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id INT PRIMARY KEY, v STRING)")
    code, out, err = run(capsys, "query", "--dsn", kwdb, "select id, v from t where id < 0")
    assert code == 0, err
    assert out.splitlines()[0].split() == ["id", "|", "v"] and "(0 rows" in out
    code, out, err = run(capsys, "query", "--dsn", kwdb, "select 1 as a; select 2 as b")
    assert code == 2  # kwtui query stays one statement at a time in read mode (Run all is the console's)


@pytest.mark.kwdb
async def test_run_all_reads_one_by_one_on_kwdb(kwdb: str) -> None:
    """The console's Run all on KWDB: each read through the guard alone; a write among them refused by name."""
    from kwtui.connection import ConnectionService, ConnectTarget
    from kwtui.query import QueryRunner, WriteRefused

    svc = ConnectionService(ConnectTarget.from_dsn(kwdb))
    await svc.connect()
    try:
        runner = QueryRunner(svc, timeout=30)
        steps = runner.prepare_reads("select 1 as a; select 2 as b, 3 as c; show databases")
        done, ex = await runner.run_reads(steps)
        assert [s.rows for s in done] == [1, 1] and ex.stream is not None and "database_name" in ex.columns
        await ex.stream.close()
        with pytest.raises(WriteRefused, match=r"statement 2 of 2 \(create table x \(a int\)\)"):
            runner.prepare_reads("select 1; create table x (a int)")
    finally:
        await svc.close()
