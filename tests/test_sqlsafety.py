"""Read/write classification and the read-mode guard (pure unit tests, no database)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kwtui.sqlsafety import (
    EMPTY,
    READ,
    WRITE,
    Guarded,
    classify,
    classify_statement,
    guard,
    has_row_limit,
    split,
)

QA_DIR = Path(__file__).resolve().parents[2] / "shared" / "kwdb" / "qa-import-export"

# (input, expected kind of the whole input: READ runs in read mode, WRITE needs write mode)
KIND_CASES = [
    # plain reads
    ("SELECT 1", READ),
    ("select * from t where a = 1", READ),
    ("  SeLeCt a FROM t", READ),
    ("VALUES (1), (2)", READ),
    ("TABLE t", READ),
    ("(SELECT 1)", READ),
    ("((SELECT a FROM t))", READ),
    ("(SELECT 1) UNION (SELECT 2)", READ),
    ("SELECT a FROM t UNION ALL SELECT b FROM u", READ),
    ("SELECT a FROM t INTERSECT SELECT a FROM u EXCEPT SELECT 3", READ),
    ("SHOW JOBS", READ),
    ("SHOW CREATE TABLE t", READ),
    ("SHOW COLUMNS FROM test.tb1 WITH COMMENT", READ),
    ("show databases with comment", READ),
    ("SHOW ZONE CONFIGURATION FOR RANGE default", READ),
    ("SELECT count(*) FROM kwdb_internal.jobs", READ),
    ("SELECT ts, FILL(PREV) FROM tsdb.meter_data", READ),
    ("SELECT substring('abc' FROM 1 FOR 2)", READ),
    ("SELECT now()::timestamp with time zone", READ),
    ("SELECT t.insert, t.update FROM t", READ),
    # literals, quoted identifiers and comments do not count
    ("SELECT 'DELETE FROM t'", READ),
    ("SELECT * FROM \"update\"", READ),
    ("SELECT \"delete\" FROM \"drop\" WHERE \"insert\" = 1", READ),
    ("SELECT 'x; DROP TABLE t'", READ),
    ("SELECT $$DELETE FROM t; DROP TABLE u$$", READ),
    ("SELECT E'it\\'s; DROP TABLE t'", READ),
    ("SELECT 1 -- ; DELETE FROM t", READ),
    ("SELECT /* DELETE FROM t; */ 1", READ),
    ("-- DROP TABLE t\nSELECT 1", READ),
    ("/* UPDATE t SET a = 1 */ SELECT 1", READ),
    ("SELECT 1; -- trailing comment", READ),
    ("SELECT 1;", READ),
    # CTEs that only read
    ("WITH x AS (SELECT 1) SELECT * FROM x", READ),
    ("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT * FROM r", READ),
    ("WITH a AS (WITH b AS (SELECT 1) SELECT * FROM b) SELECT * FROM a", READ),
    ("WITH x AS MATERIALIZED (SELECT 1), y AS (SELECT 2) SELECT * FROM x, y", READ),
    # EXPLAIN
    ("EXPLAIN SELECT 1", READ),
    ("EXPLAIN DELETE FROM t", READ),
    ("EXPLAIN VERBOSE DROP TABLE t", READ),
    ("EXPLAIN (ANALYZE false) UPDATE t SET a = 1", READ),
    ("EXPLAIN ANALYZE SELECT * FROM t", READ),
    ("EXPLAIN (ANALYZE, BUFFERS) SELECT 1", READ),
    ("EXPLAIN ANALYZE DELETE FROM t", WRITE),
    ("EXPLAIN ANALYSE INSERT INTO t VALUES (1)", WRITE),
    ("EXPLAIN (ANALYZE, COSTS OFF) UPDATE t SET a = 1", WRITE),
    ("EXPLAIN ANALYZE WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", WRITE),
    # data changes
    ("INSERT INTO t VALUES (1)", WRITE),
    ("insert into test.tb1 values('2024-01-01 00:00:01+00:00', 1)", WRITE),
    ("UPDATE t SET a = 1 WHERE b = 2", WRITE),
    ("DELETE FROM t", WRITE),
    ("UPSERT INTO t VALUES (1, 'a')", WRITE),
    ("MERGE INTO t USING s ON t.a = s.a WHEN MATCHED THEN DELETE", WRITE),
    ("INSERT INTO t SELECT * FROM u ON CONFLICT (a) DO UPDATE SET b = excluded.b", WRITE),
    # comments and parentheses do not hide writes
    ("/* hi */ DELETE FROM t", WRITE),
    ("-- x\nDROP TABLE t", WRITE),
    ("/* a */ -- b\n  /* c */ update t set a = 1", WRITE),
    ("(DELETE FROM t)", WRITE),
    # schema changes
    ("CREATE TABLE t (a INT)", WRITE),
    ("create ts database test", WRITE),
    ("CREATE TS DATABASE d RETENTIONS 30d PARTITION INTERVAL 10d", WRITE),
    ("CREATE TABLE d.t (ts TIMESTAMPTZ NOT NULL, v FLOAT8) TAGS (id INT NOT NULL) PRIMARY TAGS (id)", WRITE),
    ("CREATE OR REPLACE VIEW v AS SELECT 1", WRITE),
    ("CREATE UNIQUE INDEX i ON t (a)", WRITE),
    ("CREATE USER u1 WITH PASSWORD 'x'", WRITE),
    ("ALTER TABLE t ADD COLUMN b INT", WRITE),
    ("DROP TABLE IF EXISTS a, b CASCADE", WRITE),
    ("DROP DATABASE test CASCADE", WRITE),
    ("TRUNCATE t", WRITE),
    ("COMMENT ON TABLE t IS 'x'", WRITE),
    ("GRANT SELECT ON TABLE t TO u", WRITE),
    ("REVOKE ALL ON DATABASE d FROM u", WRITE),
    # KWDB bulk statements and jobs
    ("IMPORT INTO t CSV DATA (\"nodelocal://1/dir\")", WRITE),
    ("IMPORT DATABASE CSV DATA (\"nodelocal://1/db\") WITH comment", WRITE),
    ("EXPORT INTO CSV \"nodelocal://1/out\" FROM TABLE t", WRITE),
    ("EXPORT INTO CSV \"nodelocal://1/out\" FROM SELECT * FROM t", WRITE),
    ("EXPORT USERS TO SQL \"nodelocal://1/users\"", WRITE),
    ("PAUSE JOB 12345", WRITE),
    ("RESUME JOB 12345", WRITE),
    ("CANCEL JOB 12345", WRITE),
    ("CANCEL JOBS (SELECT job_id FROM [SHOW JOBS])", WRITE),
    ("CANCEL QUERY '15f8'", WRITE),
    ("CANCEL SESSION '15f8'", WRITE),
    ("BACKUP DATABASE d TO 'nodelocal://1/b'", WRITE),
    ("RESTORE DATABASE d FROM 'nodelocal://1/b'", WRITE),
    # session, transactions and the rest
    ("SET search_path = public", WRITE),
    ("set time zone 8", WRITE),
    ("SET CLUSTER SETTING ts.dedup.rule = 'discard'", WRITE),
    ("SET TRANSACTION READ WRITE", WRITE),
    ("RESET ALL", WRITE),
    ("USE test", WRITE),
    ("COPY t FROM STDIN", WRITE),
    ("COPY t TO '/tmp/out.csv'", WRITE),
    ("COPY (SELECT 1) TO STDOUT", WRITE),
    ("COPY kwdb_internal.file_upload FROM STDIN WITH destination = 'a.csv'", WRITE),
    ("CALL p(1)", WRITE),
    ("DO $$BEGIN DELETE FROM t; END$$", WRITE),
    ("BEGIN", WRITE),
    ("START TRANSACTION", WRITE),
    ("COMMIT", WRITE),
    ("ROLLBACK", WRITE),
    ("SAVEPOINT s", WRITE),
    ("RELEASE SAVEPOINT s", WRITE),
    ("VACUUM t", WRITE),
    ("ANALYZE t", WRITE),
    ("REINDEX TABLE t", WRITE),
    ("CLUSTER t USING i", WRITE),
    ("REFRESH MATERIALIZED VIEW v", WRITE),
    ("LOCK TABLE t IN ACCESS EXCLUSIVE MODE", WRITE),
    ("PREPARE p AS DELETE FROM t", WRITE),
    ("EXECUTE p", WRITE),
    ("DEALLOCATE p", WRITE),
    ("LISTEN c", WRITE),
    ("NOTIFY c", WRITE),
    ("UNLISTEN *", WRITE),
    ("DISCARD ALL", WRITE),
    ("FROBNICATE everything", WRITE),
    ("'just a string'", WRITE),
    # SELECT that writes or locks
    ("SELECT * INTO new_t FROM t", WRITE),
    ("SELECT a INTO TEMP TABLE x FROM t", WRITE),
    ("SELECT * FROM t FOR UPDATE", WRITE),
    ("SELECT * FROM t FOR SHARE", WRITE),
    ("SELECT * FROM t FOR NO KEY UPDATE OF t NOWAIT", WRITE),
    ("SELECT * FROM t FOR KEY SHARE", WRITE),
    ("SELECT * FROM (SELECT * FROM t FOR UPDATE) s", WRITE),
    ("SELECT nextval('s')", WRITE),
    # writable CTEs, nested ones included
    ("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", WRITE),
    ("with d as (update t set a = 1 returning *) select * from d", WRITE),
    ("WITH i AS (INSERT INTO t VALUES (1) RETURNING *) SELECT * FROM i", WRITE),
    ("WITH u AS (UPSERT INTO t VALUES (1) RETURNING *) SELECT 1", WRITE),
    ("WITH x AS NOT MATERIALIZED (/* c */ DELETE FROM t RETURNING *) SELECT 1", WRITE),
    ("WITH a AS (WITH b AS (DELETE FROM t RETURNING *) SELECT * FROM b) SELECT * FROM a", WRITE),
    ("WITH a AS (WITH b AS (SELECT 1) DELETE FROM t RETURNING *) SELECT * FROM a", WRITE),
    ("WITH r AS (SELECT 1), d AS (DELETE FROM t RETURNING *) SELECT * FROM r", WRITE),
    ("WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x", WRITE),
    ("WITH x AS (SELECT 1) DELETE FROM t WHERE a IN (SELECT * FROM x)", WRITE),
    ("(WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d)", WRITE),
    # more than one statement
    ("SELECT 1; SELECT 2", WRITE),
    ("SELECT 1; DELETE FROM t", WRITE),
    ("SHOW JOBS; PAUSE JOB 1", WRITE),
    ("BEGIN; SELECT 1; COMMIT;", WRITE),
    # PostgreSQL quoting: a standard string ends at a backslash-quote; nested comments fail closed
    ("SELECT 'C:\\'; DELETE FROM t; --'", WRITE),
    ("SELECT E'C:\\\\'; DELETE FROM t; --'", WRITE),
    ("SELECT b'\\xaa', 'a\\b'", READ),
    ("SELECT 1 # 2; DELETE FROM t", WRITE),  # "#" is XOR, not a MySQL comment
    ("SELECT `x`; DELETE FROM t", WRITE),
    ("SELECT now() AT TIME ZONE 'x''; DELETE FROM t; --'", READ),
    # KWDB [statement] row sources and arrays
    ("SELECT * FROM [SHOW JOBS]", READ),
    ("SELECT a[1], b[i] FROM t", READ),
    ("SELECT * FROM [DELETE FROM t RETURNING *]", WRITE),
    ("SELECT * FROM [EXPORT INTO CSV \"nodelocal://1/x\" FROM TABLE t]", WRITE),
    ("/* /* */ SELECT 1 */ DELETE FROM t", WRITE),
    # nothing to run
    ("", EMPTY),
    ("   \n ", EMPTY),
    ("-- just a comment", EMPTY),
    ("/* only */ ;", EMPTY),
]


@pytest.mark.parametrize(("sql", "kind"), KIND_CASES)
def test_kind(sql: str, kind: str) -> None:
    g = guard(sql)
    if kind == EMPTY:
        assert g.statements == () and not g.is_write and g.refusal
        return
    assert g.is_write is (kind == WRITE)
    assert bool(g.refusal) is (kind == WRITE)
    assert bool(g.summary) is (kind == WRITE)
    if len(g.statements) == 1:
        assert classify_statement(sql).kind == kind
        assert g.statements[0].kind == kind
        assert bool(g.statements[0].reason) is (kind == WRITE)


# (input, text sent: None when no LIMIT may be added)
LIMIT_CASES = [
    ("SELECT * FROM t", "SELECT * FROM t\nLIMIT 20"),
    ("SELECT * FROM t;", "SELECT * FROM t\nLIMIT 20"),
    ("SELECT * FROM t ;  \n", "SELECT * FROM t\nLIMIT 20"),
    ("SELECT * FROM t -- newest first", "SELECT * FROM t -- newest first\nLIMIT 20"),
    ("SELECT * FROM t; -- done", "SELECT * FROM t -- done\nLIMIT 20"),
    ("/* lead */ SELECT 1", "/* lead */ SELECT 1\nLIMIT 20"),
    ("/* lead */; SELECT 1", "/* lead */ SELECT 1\nLIMIT 20"),
    ("SELECT 1;\n-- bye", "SELECT 1\n-- bye\nLIMIT 20"),
    ("SELECT * FROM (SELECT * FROM t LIMIT 5) s", "SELECT * FROM (SELECT * FROM t LIMIT 5) s\nLIMIT 20"),
    ("WITH x AS (SELECT * FROM t LIMIT 5) SELECT * FROM x", "WITH x AS (SELECT * FROM t LIMIT 5) SELECT * FROM x\nLIMIT 20"),
    ("(SELECT 1 LIMIT 1) UNION (SELECT 2 LIMIT 1)", "(SELECT 1 LIMIT 1) UNION (SELECT 2 LIMIT 1)\nLIMIT 20"),
    ("VALUES (1), (2)", "VALUES (1), (2)\nLIMIT 20"),
    ("TABLE t", "TABLE t\nLIMIT 20"),
    ("SELECT * FROM t OFFSET 5", "SELECT * FROM t OFFSET 5\nLIMIT 20"),
    ("SELECT 'LIMIT 5' FROM t", "SELECT 'LIMIT 5' FROM t\nLIMIT 20"),
    ("SELECT * FROM t LIMIT 5", None),
    ("select * from t limit all", None),
    ("SELECT * FROM t LIMIT $1", None),
    ("SELECT * FROM t OFFSET 5 LIMIT 3", None),
    ("SELECT * FROM t FETCH FIRST 5 ROWS ONLY", None),
    ("SELECT * FROM t OFFSET 2 ROWS FETCH NEXT 3 ROWS ONLY", None),
    ("SELECT time_bucket(ts, '1h'), avg(v) FROM m GROUP BY 1 FILL(PREV)", None),
    ("(SELECT * FROM t LIMIT 5)", None),
    ("WITH x AS (SELECT 1) SELECT * FROM x LIMIT 2", None),
    ("SHOW JOBS", None),
    ("EXPLAIN SELECT * FROM t", None),
    ("EXPLAIN ANALYZE SELECT * FROM t", None),
    ("DELETE FROM t", None),
    ("SELECT * INTO x FROM t", None),
    ("SELECT * FROM t FOR UPDATE", None),
    ("SELECT 1; SELECT 2", None),
]


@pytest.mark.parametrize(("sql", "sent"), LIMIT_CASES)
def test_limit(sql: str, sent: str | None) -> None:
    g = guard(sql)
    assert g.limit_added is (sent is not None)
    assert g.sql == (sent if sent is not None else sql)
    assert g.notice == ("LIMIT 20 added" if sent is not None else None)


def test_limit_number_is_configurable() -> None:
    g = guard("SELECT 1", limit=500)
    assert (g.sql, g.notice) == ("SELECT 1\nLIMIT 500", "LIMIT 500 added")
    with pytest.raises(ValueError):
        guard("SELECT 1", limit=0)


@pytest.mark.parametrize(("text", "expected"), [
    ("SELECT 1", False),
    ("SELECT 1 LIMIT 1", True),
    ("SELECT * FROM (SELECT 1 LIMIT 1) s", False),
    ("((SELECT 1 LIMIT 1))", True),
    ("SELECT 1 FETCH FIRST ROW ONLY", True),
    ("SELECT fetch FROM t", False),
    ("SELECT a FROM t FILL(LINEAR)", True),
    ("SELECT 'FILL(' FROM t", False),
])
def test_has_row_limit(text: str, expected: bool) -> None:
    assert has_row_limit(text) is expected


# (input, verb, targets)
VERB_CASES = [
    ("select 1", "SELECT", ()),
    ("(select 1)", "SELECT", ()),
    ("WITH x AS (SELECT 1) SELECT * FROM x", "WITH ... SELECT", ()),
    ("WITH x AS (SELECT 1) DELETE FROM t", "WITH ... DELETE", ("t",)),
    ("WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d", "WITH ... SELECT", ("orders",)),
    ("EXPLAIN ANALYZE DELETE FROM t", "EXPLAIN ANALYZE", ("t",)),
    ("EXPLAIN DELETE FROM t", "EXPLAIN", ()),
    ("show jobs", "SHOW", ()),
    ("insert into test.tb1 values (1)", "INSERT", ("test.tb1",)),
    ("INSERT INTO \"My Table\" (a) VALUES (1)", "INSERT", ("\"My Table\"",)),
    ("UPDATE ONLY s.t SET a = 1", "UPDATE", ("s.t",)),
    ("DELETE FROM orders WHERE id = 1", "DELETE", ("orders",)),
    ("UPSERT INTO t VALUES (1)", "UPSERT", ("t",)),
    ("MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE", "MERGE", ("t",)),
    ("create table test.tb2 (a int)", "CREATE TABLE", ("test.tb2",)),
    ("create ts database test", "CREATE TS DATABASE", ("test",)),
    ("CREATE OR REPLACE TEMP VIEW v AS SELECT 1", "CREATE VIEW", ("v",)),
    ("CREATE MATERIALIZED VIEW mv AS SELECT 1", "CREATE MATERIALIZED VIEW", ("mv",)),
    ("DROP TABLE IF EXISTS a, s.b CASCADE", "DROP TABLE", ("a", "s.b")),
    ("ALTER TABLE tsdb1.t2 ADD col2 VARCHAR(50)", "ALTER TABLE", ("tsdb1.t2",)),
    ("TRUNCATE TABLE ONLY a, b", "TRUNCATE", ("a", "b")),
    ("comment on column test.tb1.e1 is 'c'", "COMMENT", ("test.tb1.e1",)),
    ("grant delete on table test.public.t1 to u2", "GRANT", ("test.public.t1",)),
    ("import into t csv data (\"nodelocal://1/d\")", "IMPORT", ("t",)),
    ("export into csv \"nodelocal://1/d\" from table t", "EXPORT", ("nodelocal://1/d",)),
    ("SET CLUSTER SETTING ts.dedup.rule = 'discard'", "SET CLUSTER SETTING", ()),
    ("SET TRANSACTION READ ONLY", "SET TRANSACTION", ()),
    ("START TRANSACTION", "START TRANSACTION", ()),
    ("PAUSE JOB 1", "PAUSE JOB", ()),
    ("CANCEL QUERY 'x'", "CANCEL QUERY", ()),
    ("REFRESH MATERIALIZED VIEW v", "REFRESH MATERIALIZED VIEW", ()),
    ("COPY t (a, b) FROM STDIN", "COPY", ("t",)),
    ("SELECT * INTO TEMP new_t FROM t", "SELECT", ("new_t",)),
]


@pytest.mark.parametrize(("sql", "verb", "targets"), VERB_CASES)
def test_verb_and_targets(sql: str, verb: str, targets: tuple[str, ...]) -> None:
    s = classify_statement(sql)
    assert (s.verb, s.targets) == (verb, targets)


# (input, fragments of the reason)
REASON_CASES = [
    ("DELETE FROM orders", "DELETE changes rows of orders"),
    ("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", "a writable CTE (DELETE) inside WITH"),
    ("SET search_path = x", "SET changes the session"),
    ("SELECT * INTO x FROM t", "INTO creates table x"),
    ("SELECT * FROM t FOR NO KEY UPDATE", "FOR NO KEY UPDATE locks rows"),
    ("FROBNICATE", "unrecognised statement FROBNICATE, treated as a write"),
    ("BEGIN", "read mode does not allow"),
    ("EXPLAIN ANALYZE UPDATE t SET a = 1", "UPDATE changes rows of t"),
    ("USE test", "database test"),
    ("/* /* */ SELECT 1 */ DELETE FROM t", "nested /* comment */"),
]


@pytest.mark.parametrize(("sql", "fragment"), REASON_CASES)
def test_reason(sql: str, fragment: str) -> None:
    assert fragment in classify_statement(sql).reason


# (input, fragments that must appear in the confirmation summary)
SUMMARY_CASES = [
    ("DELETE FROM orders; DROP TABLE customers",
     ["2 statements will change data", "DELETE from orders (every row: no WHERE)", "DROP TABLE customers"]),
    ("DELETE FROM orders WHERE id = 1", ["1 statement will change data: DELETE from orders"]),
    ("UPDATE t SET a = 1", ["UPDATE t (every row: no WHERE)"]),
    ("UPDATE t SET a = (SELECT 1 WHERE true)", ["every row: no WHERE"]),
    ("TRUNCATE orders", ["TRUNCATE orders (every row)"]),
    ("DROP DATABASE test CASCADE", ["DROP DATABASE test (cannot be undone)"]),
    ("SELECT 1; INSERT INTO t VALUES (1)", ["2 statements, 1 will change data: INSERT into t"]),
    ("SELECT 1; SELECT 2", ["2 statements will run, none changes data"]),
    ("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", ["DELETE from t (every row: no WHERE) inside WITH"]),
    ("import into t csv data (\"nodelocal://1/d\")", ["IMPORT loads data into t"]),
    ("ALTER TABLE t DROP COLUMN c", ["ALTER TABLE t (drops part of it)"]),
]


@pytest.mark.parametrize(("sql", "fragments"), SUMMARY_CASES)
def test_summary(sql: str, fragments: list[str]) -> None:
    summary = guard(sql).summary
    for fragment in fragments:
        assert fragment in summary


def test_summary_flags_only_unfiltered_changes() -> None:
    assert "every row" not in guard("DELETE FROM orders WHERE id = 1").summary
    assert "every row" not in guard("UPDATE t SET a = 1 WHERE b IN (SELECT b FROM u)").summary
    assert "(every row: no WHERE)" in guard("DELETE FROM t USING u").summary


def test_pure_read_has_no_summary_or_refusal() -> None:
    g = guard("SELECT * FROM orders LIMIT 3")
    assert g == Guarded(g.statements, "SELECT * FROM orders LIMIT 3", False, False, None, False, "", "")
    assert g.statements[0].text == "SELECT * FROM orders LIMIT 3"


@pytest.mark.parametrize(("sql", "refusal"), [
    ("INSERT INTO t VALUES (1)", "INSERT is a write: run it in write mode (--write)"),
    ("SELECT 1; SELECT 2", "more than one statement: read mode runs one statement at a time"),
    ("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d",
     "WITH ... SELECT is a write (a writable CTE (DELETE) inside WITH): run it in write mode (--write)"),
    ("", "nothing to run: the input holds no statement"),
])
def test_refusal(sql: str, refusal: str) -> None:
    assert guard(sql).refusal == refusal


@pytest.mark.parametrize(("sql", "autocommit"), [
    ("IMPORT INTO t CSV DATA (\"nodelocal://1/d\")", True),
    ("export into csv \"nodelocal://1/d\" from database test with comment", True),
    ("SELECT 1; EXPORT USERS TO SQL \"nodelocal://1/u\"", True),
    ("INSERT INTO t VALUES (1)", False),
    ("SELECT 1", False),
])
def test_autocommit(sql: str, autocommit: bool) -> None:
    assert guard(sql).autocommit is autocommit


def test_split_and_statement_text() -> None:
    sql = "SELECT 'a;b' ;\n-- note\nDELETE FROM t;; /* end */"
    assert split(sql) == ["SELECT 'a;b' ;", "-- note\nDELETE FROM t;", ";", "/* end */"]
    stmts = classify(sql)
    assert [s.kind for s in stmts] == [READ, WRITE, EMPTY, EMPTY]
    assert stmts[0].text == "SELECT 'a;b'"
    assert stmts[1].text == "-- note\nDELETE FROM t"
    assert [s.text for s in guard(sql).statements] == ["SELECT 'a;b'", "-- note\nDELETE FROM t"]
    assert split("  \n") == []
    assert classify_statement("SELECT 1; -- c").text == "SELECT 1 -- c"


_LEADING_NOISE = re.compile(r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/|\()*", re.S)
_QA_WRITES = {"import", "export", "create", "drop", "insert", "use", "set", "delete", "update", "alter",
              "grant", "revoke", "comment", "upsert"}
_WRITABLE_CTE = re.compile(r"\(\s*(?:insert|update|delete|upsert|merge)\b", re.I)


def test_kwdb_qa_statements() -> None:
    """Every statement of KWDB's own IMPORT/EXPORT tests is classified by its first keyword."""
    if not QA_DIR.is_dir():
        pytest.skip(f"{QA_DIR} is not present")
    checked = 0
    line_start = re.compile(rf"^\s*(?:{'|'.join(_QA_WRITES | {'select', 'show'})})\b", re.I | re.M)
    for path in sorted(QA_DIR.glob("*.sql")):
        text = path.read_text(encoding="utf-8")
        before = checked
        for piece in split(text):
            body = _LEADING_NOISE.sub("", piece)
            first = body.split(None, 1)[0].lower().rstrip(";") if body.strip() else ""
            stmt = classify_statement(piece)
            if first in _QA_WRITES:
                assert stmt.kind == WRITE, (path.name, piece)
                assert stmt.autocommit is (first in ("import", "export")), (path.name, piece)
            elif first in ("select", "show"):
                expected = WRITE if _WRITABLE_CTE.search(piece) else READ
                assert stmt.kind == expected, (path.name, piece)
            else:
                continue
            checked += 1
        # every statement there starts a line: none was swallowed by a neighbour (E'\\', '\')
        assert checked - before == len(line_start.findall(text)), path.name
    assert checked >= 100
