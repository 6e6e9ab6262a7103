"""The failure knowledge base (kwtui.troubleshoot): failures provoked on a real PostgreSQL (and
on this machine), each shown with its cause and fix under the CLI's error, in --json, and in
the journal; where a mechanical fix is offered, it is applied and the command then works."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest
from psycopg import sql

from kwtui import troubleshoot
from kwtui.troubleshoot import ENTRIES, diagnose, fresh_dir

from .conftest import PW_PASSWORD, PW_USER
from .test_cli import assert_one_line_error, run

if TYPE_CHECKING:
    from .conftest import PgServer, TestDb


def kb_lines(err: str) -> tuple[str, str, str]:
    """(error, cause, fix) of a failed command's stderr."""
    lines = err.splitlines()
    assert_one_line_error(err)
    assert len(lines) == 3, err
    return lines[0], lines[1].removeprefix("  cause: "), lines[2].removeprefix("  fix:   ")


def failing(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[str, str, str, dict]:
    """Run a command that must fail (exit 1); its error, cause and fix, and its --json error document."""
    code, _out, err = run(capsys, *argv)
    assert code == 1, err
    error, cause, fix = kb_lines(err)
    code, out, err2 = run(capsys, *argv, "--json")
    assert code == 1, err2
    doc = json.loads(out.strip().splitlines()[-1])
    assert doc["cause"] == cause and doc["fix"] == fix.split(" [")[0] and "action" in doc
    return error, cause, fix, doc


def test_entries_are_data_with_unique_ids_and_a_cause_and_fix_each() -> None:
    ids = [e.id for e in ENTRIES]
    assert len(ids) == len(set(ids)) and len(ids) >= 60
    for e in ENTRIES:
        assert e.cause and e.fix and (e.pattern or e.sqlstates), e.id
        assert not e.cause.endswith(".") and "\n" not in e.cause + e.fix


# -- PostgreSQL, provoked -------------------------------------------------------------------------


@pytest.fixture
def role(db: TestDb) -> Iterator[str]:
    """A login role (trust over TCP) with nothing granted, dropped afterwards."""
    name = "kb_" + uuid.uuid4().hex[:8]
    db.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)).as_string(None))
    yield name
    with contextlib.suppress(psycopg.Error):
        db.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)).as_string(None))
    db.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)).as_string(None))


def test_permission_denied(capsys: pytest.CaptureFixture[str], db: TestDb, role: str) -> None:
    db.execute("CREATE TABLE secret (id int)")
    uri = db.pg.uri(db.name, role)
    error, cause, fix, doc = failing(capsys, "query", "--dsn", uri, "select * from secret")
    assert "permission denied" in error
    assert doc["kb"] == "pg.permission-denied" and "privilege" in cause and "GRANT" in fix
    db.execute(f'GRANT SELECT ON secret TO "{role}"')  # the fix, applied
    code, _, err = run(capsys, "query", "--dsn", uri, "select * from secret")
    assert code == 0, err


def test_unique_violation_not_null_value_too_long_out_of_range_bad_text(capsys: pytest.CaptureFixture[str],
                                                                         db: TestDb) -> None:
    db.execute("CREATE TABLE t (id int PRIMARY KEY, code varchar(3) NOT NULL)")
    db.execute("INSERT INTO t VALUES (1, 'a')")
    cases = {
        "INSERT INTO t VALUES (1, 'b')": ("pg.duplicate-key", "already holds rows"),
        "INSERT INTO t VALUES (2, NULL)": ("pg.not-null", "NOT NULL"),
        "INSERT INTO t VALUES (3, 'abcdef')": ("pg.value-too-long", "longer than"),
        "INSERT INTO t VALUES (99999999999, 'x')": ("pg.out-of-range", "does not fit"),
        "INSERT INTO t VALUES ('abc', 'x')": ("pg.bad-text", "does not parse"),
    }
    for statement, (kb, words) in cases.items():
        _error, cause, _fix, doc = failing(capsys, "query", "--dsn", db.uri, "--write", "--yes", statement)
        assert doc["kb"] == kb and words in cause, (statement, doc)
    # no job to resume from a plain statement: the fix says what to do instead, no action
    assert diagnose("duplicate key value violates unique constraint \"t_pkey\"").action is None  # type: ignore[union-attr]


def test_fk_violation_after_load_is_in_the_journal(capsys: pytest.CaptureFixture[str],
                                                  two_dbs: tuple[str, str]) -> None:
    src, dst = two_dbs
    with psycopg.connect(src, autocommit=True) as c:
        c.execute("CREATE TABLE parent (id int PRIMARY KEY)")
        c.execute("CREATE TABLE child (id int PRIMARY KEY, parent_id int)")
        c.execute("INSERT INTO child VALUES (1, 7)")
    with psycopg.connect(dst, autocommit=True) as c:
        c.execute("CREATE TABLE parent (id int PRIMARY KEY)")
        c.execute("CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent)")
    code, out, err = run(capsys, "transfer", "--source", src, "--target", dst, "--table", "public.child")
    assert code == 1, out + err
    assert "violates foreign key constraint" in out
    assert "  cause: a row references a parent row" in out and "  fix:   load parent tables first" in out
    job = int(out.split("job ")[-1].split()[0])
    code, out, _ = run(capsys, "jobs", "show", str(job))
    assert "advice  cause: a row references a parent row" in out and "advice  fix: load parent tables" in out
    code, out, _ = run(capsys, "jobs", "show", str(job), "--json")
    doc = json.loads(out)
    assert doc["kb"] == "pg.fk-violation" and doc["fix"].startswith("load parent tables first")
    assert sum(1 for e in doc["log"] if e["level"] == "advice") == 2  # once, though table and job both failed


def test_duplicate_key_on_a_rerun_names_the_job_to_resume(capsys: pytest.CaptureFixture[str],
                                                          two_dbs: tuple[str, str]) -> None:
    src, dst = two_dbs
    with psycopg.connect(src, autocommit=True) as c:
        c.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        c.execute("INSERT INTO t SELECT g, 'v' FROM generate_series(1, 50) g")
    code, out, err = run(capsys, "transfer", "--source", src, "--target", dst, "--table", "public.t", "--json")
    assert code == 0, err
    # a plain re-run is refused before any job (--if-exists fail); appending to the filled table is
    # what meets the duplicate key
    code, out, err = run(capsys, "transfer", "--source", src, "--target", dst, "--table", "public.t", "--json",
                         "--if-exists", "append")
    assert code == 1, err
    doc = json.loads(out.strip().splitlines()[-1])
    first = doc["job"] - 1
    assert doc["kb"] == "pg.duplicate-key" and "already holds rows" in doc["cause"]
    # the earlier job completed: nothing to resume, the fix says so and names it
    assert f"job {first} loaded public.t already" in doc["fix"] and "kwtui validate" in doc["fix"]
    assert doc["action"] is None
    # an earlier job that was interrupted: resume that one instead
    from kwtui.jobs import Journal

    Journal().finish(first, "interrupted", "the process died")
    code, out, err = run(capsys, "transfer", "--source", src, "--target", dst, "--table", "public.t", "--json",
                         "--if-exists", "append")
    doc = json.loads(out.strip().splitlines()[-1])
    assert code == 1 and doc["kb"] == "pg.duplicate-key"
    assert doc["action"]["id"] == "resume-job" and doc["action"]["command"] == f"kwtui jobs resume {first}"
    assert f"resume job {first} instead of starting a new one" in doc["fix"]


def test_encoding_mismatch(capsys: pytest.CaptureFixture[str], pg_server: PgServer) -> None:
    name = "latin_" + uuid.uuid4().hex[:8]
    with psycopg.connect(pg_server.conninfo(), autocommit=True) as c:
        c.execute(sql.SQL("CREATE DATABASE {} ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0")
                  .format(sql.Identifier(name)))
    try:
        uri = pg_server.uri(name)
        with psycopg.connect(uri, autocommit=True) as c:
            c.execute("CREATE TABLE t (v text)")
        # the client cannot even encode the text for a LATIN1 session
        _e, cause, fix, doc = failing(capsys, "query", "--dsn", uri, "--write", "--yes",
                                      "INSERT INTO t VALUES ('电表')")
        assert doc["kb"] == "pg.encoding" and "encoding" in cause and "--charset" in fix
        # a UTF8 session: the server refuses to store it in LATIN1
        utf8 = uri + "?options=-c%20client_encoding%3DUTF8"
        error, cause, fix, doc = failing(capsys, "query", "--dsn", utf8, "--write", "--yes",
                                         "INSERT INTO t VALUES ('电表')")
        assert "has no equivalent in encoding" in error and doc["kb"] == "pg.encoding" and doc["sqlstate"] == "22P05"
    finally:
        with psycopg.connect(pg_server.conninfo(), autocommit=True) as c:
            c.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def test_lock_timeout_and_statement_timeout(capsys: pytest.CaptureFixture[str], db: TestDb) -> None:
    db.execute("CREATE TABLE t (id int)")
    holder = db.connect()
    holder.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")  # held until the rollback below
    try:
        uri = db.uri + "?options=-c%20lock_timeout%3D200"
        _e, cause, fix, doc = failing(capsys, "query", "--dsn", uri, "--write", "--yes", "INSERT INTO t VALUES (1)")
        assert doc["kb"] == "pg.lock-timeout" and "lock" in cause and "pg_locks" in fix
    finally:
        holder.rollback()
        holder.close()
    uri = db.uri + "?options=-c%20statement_timeout%3D100"
    _e, cause, fix, doc = failing(capsys, "query", "--dsn", uri, "--write", "--yes", "SELECT pg_sleep(3)")
    assert doc["kb"] == "pg.statement-timeout" and "statement_timeout" in cause and "ALTER ROLE" in fix


def test_read_only_target(capsys: pytest.CaptureFixture[str], db: TestDb) -> None:
    db.execute("CREATE TABLE t (id int)")
    uri = db.uri + "?options=-c%20default_transaction_read_only%3Don"
    _e, cause, fix, doc = failing(capsys, "query", "--dsn", uri, "--write", "--yes", "INSERT INTO t VALUES (1)")
    assert doc["kb"] == "pg.read-only" and "read-only" in cause and "primary" in fix


def test_too_many_connections(capsys: pytest.CaptureFixture[str], db: TestDb, role: str) -> None:
    db.execute(f'ALTER ROLE "{role}" CONNECTION LIMIT 0')
    _e, cause, fix, doc = failing(capsys, "query", "--dsn", db.pg.uri(db.name, role), "select 1")
    assert doc["kb"] == "pg.too-many-connections" and "connection slot" in cause and "--workers" in fix
    db.execute(f'ALTER ROLE "{role}" CONNECTION LIMIT -1')  # the fix
    assert run(capsys, "query", "--dsn", db.pg.uri(db.name, role), "select 1")[0] == 0


def test_authentication_ssl_missing_database_refused(capsys: pytest.CaptureFixture[str], db: TestDb,
                                                     pg_server: PgServer) -> None:
    host, port = pg_server.host, pg_server.port
    wrong = f"postgresql://{PW_USER}:not-{PW_PASSWORD}@127.0.0.1:{port}/{db.name}"
    _e, cause, fix, doc = failing(capsys, "query", "--dsn", wrong, "select 1")
    assert doc["kb"] == "conn.auth-failed" and "password" in cause and "~/.pgpass" in fix
    ssl = f"postgresql://postgres@127.0.0.1:{port}/{db.name}?sslmode=require"
    _e, cause, fix, doc = failing(capsys, "query", "--dsn", ssl, "select 1")
    assert doc["kb"] == "conn.ssl" and "TLS" in cause and "sslmode" in fix
    _e, cause, fix, doc = failing(capsys, "query", "--dsn", pg_server.uri("no_such_db_kb"), "select 1")
    assert doc["kb"] == "conn.database-missing" and "does not exist" in cause
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    _e, cause, fix, doc = failing(capsys, "query", "--dsn", f"postgresql://postgres@127.0.0.1:{free}/x", "select 1")
    assert doc["kb"] == "conn.refused" and "nothing answers" in cause and host


def test_server_closed_the_connection_and_idle_in_transaction_timeout(db: TestDb) -> None:
    victim = db.connect(autocommit=True)
    pid = victim.info.backend_pid
    db.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(psycopg.OperationalError) as caught:
        victim.execute("SELECT 1")
    d = diagnose(caught.value, context={"job": 12})
    assert d is not None and d.id == "conn.closed" and "closed the connection" in d.cause
    assert d.action is not None and d.action.command == "kwtui jobs resume 12"
    victim.close()
    idle = psycopg.connect(db.conninfo, options="-c idle_in_transaction_session_timeout=100")
    idle.execute("SELECT 1")  # a transaction opened, then idle
    time.sleep(0.6)
    with pytest.raises(psycopg.Error) as caught:  # type: ignore[assignment]  # reused for another error class
        idle.execute("SELECT 1")
    idle.close()
    d = diagnose(caught.value)
    assert d is not None and d.id == "pg.idle-in-tx-timeout" and "idle_in_transaction_session_timeout" in d.fix


def test_undefined_table(capsys: pytest.CaptureFixture[str], db: TestDb) -> None:
    _e, cause, fix, doc = failing(capsys, "query", "--dsn", db.uri, "select * from nope")
    assert doc["kb"] == "pg.undefined-table" and "does not exist" in cause


# -- export directory not empty: --fresh-dir ---------------------------------------------------------


def test_export_dir_not_empty_then_fresh_dir_fixes_it(capsys: pytest.CaptureFixture[str], db: TestDb,
                                                      tmp_path: Path) -> None:
    db.execute("CREATE TABLE t (id int PRIMARY KEY)")
    db.execute("INSERT INTO t VALUES (1), (2)")
    out_dir = tmp_path / "out"
    assert run(capsys, "export", "--dsn", db.uri, "--table", "public.t", "--to", str(out_dir))[0] == 0
    code, _out, err = run(capsys, "export", "--dsn", db.uri, "--table", "public.t", "--to", str(out_dir))
    assert code == 2, err  # a usage error, explained because a flag fixes it
    error, cause, fix = kb_lines(err)
    code, out, _ = run(capsys, "export", "--dsn", db.uri, "--table", "public.t", "--to", str(out_dir), "--json")
    doc = json.loads(out.strip().splitlines()[-1])
    assert "is not empty" in error and doc["kb"] == "kwdb.export-dir-not-empty" and doc["cause"] == cause
    assert doc["action"]["flag"] == "--fresh-dir" and "[run it again with --fresh-dir]" in fix
    code, out, err = run(capsys, "export", "--dsn", db.uri, "--table", "public.t", "--to", str(out_dir),
                         "--fresh-dir", "--json")
    assert code == 0, err
    written = Path(json.loads(out.strip().splitlines()[-1])["tables"][0]["directory"])
    assert written.parent == tmp_path and written.name.startswith("out-") and (written / "meta.sql").exists()


def test_fresh_dir_names() -> None:
    import datetime as dt

    when = dt.datetime(2026, 12, 3, 11, 22, 33)
    assert fresh_dir("nodelocal://1/exp/", when) == "nodelocal://1/exp-20261203T112233"


# -- this machine: a full disk ------------------------------------------------------------------------


@contextlib.contextmanager
def mounted_full_disk(tmp_path: Path) -> Iterator[Path | None]:
    """A real, full file system (a 64 kB tmpfs, filled), or None where this machine allows no mount."""
    mnt = tmp_path / "full"
    mnt.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True)
    except OSError:
        done = None
    if done is None or done.returncode != 0:
        yield None
        return
    try:
        with contextlib.suppress(OSError), (mnt / "filler").open("wb") as f:
            while True:
                f.write(b"x" * 4096)
                f.flush()
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    with mounted_full_disk(tmp_path) as mnt:
        if mnt is None:
            pytest.skip("cannot mount a small tmpfs here")
        yield mnt


def test_export_onto_a_full_disk(capsys: pytest.CaptureFixture[str], db: TestDb, full_disk: Path) -> None:
    db.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
    db.execute("INSERT INTO t SELECT g, repeat('x', 100) FROM generate_series(1, 2000) g")
    code, _out, err = run(capsys, "export", "--dsn", db.uri, "--table", "public.t", "--to", str(full_disk / "x"))
    assert code == 1 and "Traceback" not in err
    # the export's own check of the free space refuses first, before a byte is written
    # (a disk that fills up later gives the knowledge base's os.disk-full cause: test_sqlstate_alone...)
    assert "not enough disk space" in err and "nothing was written" in err, err


# -- diagnose() itself ---------------------------------------------------------------------------------


def test_sqlstate_alone_matches_and_text_wins_over_a_class() -> None:
    d = diagnose("some text nobody wrote", sqlstate="53300")
    assert d is not None and d.id == "pg.too-many-connections"
    assert diagnose("nothing known here") is None
    d = diagnose(OSError(28, "No space left on device"))
    assert d is not None and d.id == "os.disk-full"


def test_action_data_for_the_failure_screen() -> None:
    d = diagnose("EXPORT cannot be used inside a transaction")
    assert d is not None and d.action is not None
    assert d.action.as_dict() == {"id": "autocommit", "label": "Run the statement in autocommit", "flag": None,
                                  "command": "kwtui export --native ...", "key": "a"}
    assert troubleshoot.entry("kwdb.import-line-breaks").action.flag == "--thread-concurrency 1"  # type: ignore[union-attr]
