"""The headless ``kwtui`` commands: exit codes, one-line errors, text and JSON output."""

from __future__ import annotations

import datetime as dt
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from kwtui import __version__
from kwtui.cli import main
from kwtui.embedded import free_port
from kwtui.profiles import ProfileStore

from .conftest import PW_USER

if TYPE_CHECKING:  # annotations only, so pytest does not try to collect TestDb
    from .conftest import PgServer, TestDb


@pytest.fixture(autouse=True)
def no_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """stdin is never a terminal here, so no command stops to ask for a password (even with -s)."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_subprocess(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kwtui", *argv],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60,
    )


def error_lines(err: str) -> list[str]:
    """The error's own lines, without the knowledge base's cause and fix under it (kwtui.troubleshoot)."""
    return [ln for ln in err.strip().splitlines() if not ln.startswith(("  cause: ", "  fix:   "))]


def assert_one_line_error(err: str) -> str:
    """One line of error; under it, at most the knowledge base's cause and fix (kwtui.troubleshoot)."""
    lines = err.splitlines()
    if len(lines) == 3:
        assert lines[1].startswith("  cause: ") and lines[2].startswith("  fix:   "), err
        lines = lines[:1]
    assert len(lines) == 1, err
    assert lines[0].startswith("kwtui: ")
    assert "Traceback" not in err
    return lines[0]


# -- argument handling ----------------------------------------------------------------------


def test_version_subprocess() -> None:
    proc = run_subprocess("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"kwtui {__version__}"


def test_version_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert __version__ in capsys.readouterr().out


def test_unknown_flag_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--no-such-flag"]) == 2
    err = capsys.readouterr().err
    assert "--no-such-flag" in err and "Traceback" not in err


def test_query_with_dsn_and_profile_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["query", "--dsn", "host=h", "--profile", "p", "select 1"]) == 2
    assert "not allowed with" in capsys.readouterr().err


def test_reset_without_demo_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--reset")
    assert code == 2
    line = assert_one_line_error(err)
    assert "--reset only goes with --demo" in line


def test_empty_sql_exits_2(capsys: pytest.CaptureFixture[str], db: TestDb) -> None:
    code, _out, err = run(capsys, "query", "--dsn", db.uri, "   ")
    assert code == 2
    assert "empty" in assert_one_line_error(err)


# -- profiles -------------------------------------------------------------------------------


def test_profile_add_list_test_remove(
    capsys: pytest.CaptureFixture[str], profiles_path: Path, pg_server: PgServer, db: TestDb
) -> None:
    code, out, err = run(capsys, "profile", "list")
    assert code == 0 and "no saved profiles" in out

    code, out, err = run(capsys, "profile", "add", "local", "--host", pg_server.host, "--port", str(pg_server.port),
                         "--user", "postgres", "--dbname", db.name, "--options", "-c statement_timeout=0")
    assert code == 0, err
    assert "saved profile 'local'" in out
    assert profiles_path.exists()

    code, out, err = run(capsys, "profile", "add", "fromdsn", "--dsn", f"{db.uri}?connect_timeout=4")
    assert code == 0, err
    assert "saved profile 'fromdsn'" in out
    assert err == ""  # no password, no note

    code, out, _ = run(capsys, "profile", "list")
    assert code == 0
    lines = out.splitlines()
    assert [ln.split()[0] for ln in lines] == ["fromdsn", "local"]
    assert f"postgres@{pg_server.host}:{pg_server.port}/{db.name}" in lines[1]

    code, out, _ = run(capsys, "profile", "list", "--json")
    assert code == 0
    listed = {p["name"]: p for p in json.loads(out)}
    assert set(listed) == {"local", "fromdsn"}
    assert listed["local"]["port"] == pg_server.port
    assert listed["local"]["options"] == "-c statement_timeout=0"
    assert listed["fromdsn"]["extra"] == {"connect_timeout": "4"}

    code, out, err = run(capsys, "profile", "test", "local")
    assert code == 0, err
    assert "PostgreSQL" in out
    assert "deployment: primary" in out
    assert f"database:   {db.name}" in out
    version = next(ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("version:"))
    assert version[0].isdigit()

    code, out, err = run(capsys, "profile", "test", "--dsn", db.uri, "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["kind"] == "postgres" and info["version"] == version and info["deployment"] == "primary"

    code, out, _ = run(capsys, "profile", "remove", "local")
    assert code == 0 and "removed profile 'local'" in out
    assert ProfileStore(profiles_path).names() == ["fromdsn"]

    code, _, err = run(capsys, "profile", "add", "fromdsn", "--host", "h")
    assert code == 2 and "exists already" in assert_one_line_error(err)
    code, _, err = run(capsys, "profile", "add", "fromdsn", "--host", "h", "--replace")
    assert code == 0 and ProfileStore(profiles_path).get("fromdsn").host == "h"


def test_profile_add_dsn_with_password(capsys: pytest.CaptureFixture[str], profiles_path: Path) -> None:
    code, out, err = run(capsys, "profile", "add", "kw", "--dsn", "postgresql://root:Cli-Secret-7@kw:26257/defaultdb")
    assert code == 0
    assert "note:" in err and "PGPASSWORD" in err
    assert "Cli-Secret-7" not in out + err
    assert "Cli-Secret-7" not in profiles_path.read_text()


def test_profile_add_dsn_and_host_is_usage_error(capsys: pytest.CaptureFixture[str], profiles_path: Path) -> None:
    code, _, err = run(capsys, "profile", "add", "x", "--dsn", "host=h", "--host", "other")
    assert code == 2
    assert "not both" in assert_one_line_error(err)


def test_profile_add_invalid_dsn_hides_password(capsys: pytest.CaptureFixture[str], profiles_path: Path) -> None:
    code, _, err = run(capsys, "profile", "add", "x", "--dsn", "postgresql://u:Cli-Secret-8@[::1/d")
    assert code == 2
    line = assert_one_line_error(err)
    assert "not a valid connection string" in line
    assert "Cli-Secret-8" not in err


def test_profile_add_incomplete_certs_dir(
    capsys: pytest.CaptureFixture[str], profiles_path: Path, tmp_path: Path
) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    (certs / "ca.crt").write_text("x")
    code, _, err = run(capsys, "profile", "add", "kw", "--user", "root", "--certs-dir", str(certs))
    assert code == 1
    line = assert_one_line_error(err)
    assert "client.root.crt" in line and "client.root.key" in line
    assert not profiles_path.exists()


def test_unknown_profile_exits_1(capsys: pytest.CaptureFixture[str], profiles_path: Path) -> None:
    code, out, err = run(capsys, "profile", "test", "nope")
    assert code == 1
    assert "unknown profile 'nope'" in assert_one_line_error(err)
    code, _, err = run(capsys, "query", "--profile", "nope", "select 1")
    assert code == 1
    assert "unknown profile 'nope'" in assert_one_line_error(err)
    code, _, err = run(capsys, "profile", "remove", "nope")
    assert code == 1
    assert_one_line_error(err)


def test_unknown_profile_subprocess(profiles_path: Path) -> None:
    proc = run_subprocess("profile", "test", "nope")
    assert proc.returncode == 1
    assert "unknown profile 'nope'" in assert_one_line_error(proc.stderr)


def test_unreachable_server(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    code, _, err = run(capsys, "profile", "test", "--dsn", f"postgresql://postgres@127.0.0.1:{port}/postgres")
    assert code == 1
    assert "cannot reach" in assert_one_line_error(err)


def test_unreachable_server_subprocess() -> None:
    port = free_port()
    proc = run_subprocess("query", "--dsn", f"postgresql://postgres@127.0.0.1:{port}/postgres", "select 1")
    assert proc.returncode == 1
    assert "cannot reach" in assert_one_line_error(proc.stderr)


def test_wrong_password(capsys: pytest.CaptureFixture[str], pg_server: PgServer, db: TestDb) -> None:
    dsn = f"postgresql://{PW_USER}:Wrong-Pass-9@{pg_server.host}:{pg_server.port}/{db.name}"
    code, _, err = run(capsys, "query", "--dsn", dsn, "select 1")
    assert code == 1
    line = assert_one_line_error(err)
    assert "wrong password" in line
    assert "Wrong-Pass-9" not in err


def test_wrong_password_subprocess(pg_server: PgServer, db: TestDb) -> None:
    dsn = f"postgresql://{PW_USER}:Wrong-Pass-9@{pg_server.host}:{pg_server.port}/{db.name}"
    proc = run_subprocess("profile", "test", "--dsn", dsn)
    assert proc.returncode == 1
    assert "wrong password" in assert_one_line_error(proc.stderr)
    assert "Wrong-Pass-9" not in proc.stderr + proc.stdout


def test_missing_password_without_terminal(capsys: pytest.CaptureFixture[str], pg_server: PgServer, db: TestDb) -> None:
    code, _, err = run(capsys, "query", "--dsn", pg_server.uri(db.name, user=PW_USER), "select 1")
    assert code == 1
    line = assert_one_line_error(err)
    assert "asks a password" in line and "PGPASSWORD" in line


# -- query ----------------------------------------------------------------------------------


def test_query_text(capsys: pytest.CaptureFixture[str], db: TestDb) -> None:
    code, out, err = run(capsys, "query", "--dsn", db.uri, "select 1 as a")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].strip() == "a"
    assert set(lines[1]) == {"-"}
    assert lines[2].strip() == "1"
    assert lines[3].startswith("(1 row, ")


def test_query_text_awkward_values(capsys: pytest.CaptureFixture[str], db: TestDb) -> None:
    code, out, err = run(capsys, "query", "--dsn", db.uri,
                         "select NULL::text as n, E'two\\nlines' as t, 'Zoë' as u, 2 as x union all "
                         "select 'v', 'w', 'y', 3 order by x")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["n", "|", "t", "|", "u", "|", "x"]
    assert "∅" in lines[2] and "NULL" not in lines[2] and "two\\nlines" in lines[2] and "Zoë" in lines[2]
    assert lines[-1].startswith("(2 rows, ")


def test_query_text_null_is_not_the_text_null(capsys: pytest.CaptureFixture[str], db: TestDb) -> None:
    """Issue 13: NULL and the text 'NULL' printed the same; numbers are right-aligned."""
    code, out, err = run(capsys, "query", "--dsn", db.uri,
                         "select NULL::text as a, 'NULL' as b, 7 as n union all select 'x', 'y', 12345 order by n")
    assert code == 0, err
    first = out.splitlines()[2]
    assert first.split(" | ")[0].strip() == "∅" and first.split(" | ")[1].strip() == "NULL"
    assert first.endswith("    7")  # right-aligned under 12345


def test_query_json(capsys: pytest.CaptureFixture[str], db: TestDb) -> None:
    code, out, err = run(capsys, "query", "--dsn", db.uri, "--json", "select 1 as a")
    assert code == 0, err
    assert json.loads(out) == {"columns": ["a"], "rows": [[1]], "notice": "LIMIT 20 added"}
    code, out, err = run(capsys, "query", "--dsn", db.uri, "--json", "select 1 as a limit 1")
    assert json.loads(out)["notice"] is None


def test_query_json_types(capsys: pytest.CaptureFixture[str], db: TestDb) -> None:
    sql = (
        "select 12345.670::numeric(10,3) as n, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid as u,"
        " '\\x00ff10'::bytea as b, timestamptz '2024-01-02 03:04:05.5+00' as t,"
        " '{\"k\": [1, \"x\", null], \"é\": true}'::jsonb as j, date '1931-03-07' as d,"
        " interval '1 day 2 hours' as i, 2.5::float8 as f, true as ok, NULL::int as z, ARRAY[1,2] as arr"
    )
    code, out, err = run(capsys, "query", "--dsn", db.uri, "--json", sql)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["columns"] == ["n", "u", "b", "t", "j", "d", "i", "f", "ok", "z", "arr"]
    (row,) = doc["rows"]
    n, u, b, t, j, d, i, f, ok, z, arr = row
    assert n == "12345.670"
    assert u == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    assert b == "\\x00ff10"
    assert dt.datetime.fromisoformat(t) == dt.datetime(2024, 1, 2, 3, 4, 5, 500000, tzinfo=dt.UTC)
    assert j == {"k": [1, "x", None], "é": True}
    assert d == "1931-03-07"
    assert i == "1 day, 2:00:00"
    assert f == 2.5 and ok is True and z is None and arr == [1, 2]
    assert doc["notice"] == "LIMIT 20 added"


def test_query_sql_error(capsys: pytest.CaptureFixture[str], db: TestDb) -> None:
    code, out, err = run(capsys, "query", "--dsn", db.uri, "SELECT * FROM nope")
    assert code == 1
    assert out == ""
    line = assert_one_line_error(err)
    assert 'relation "nope" does not exist' in line


def test_query_is_read_only(capsys: pytest.CaptureFixture[str], db: TestDb) -> None:
    code, _, err = run(capsys, "query", "--dsn", db.uri, "CREATE TABLE made_by_query (id int)")
    assert code == 2  # refused by the guard before anything is sent
    assert "write" in assert_one_line_error(err)
    assert db.execute("SELECT to_regclass('made_by_query')") == [(None,)]


def test_query_read_mode_runs_in_a_read_only_transaction(capsys: pytest.CaptureFixture[str], db: TestDb) -> None:
    """A function that writes passes the parser as a SELECT: the catalog (VOLATILE) refuses it."""
    db.execute("CREATE TABLE log (x int)")
    db.execute("CREATE FUNCTION sneaky() RETURNS int LANGUAGE sql AS 'INSERT INTO log VALUES (1) RETURNING x'")
    code, _, err = run(capsys, "query", "--dsn", db.uri, "select sneaky()")
    assert code == 2
    assert "sneaky, a VOLATILE function" in assert_one_line_error(err)
    assert db.execute("SELECT count(*) FROM log") == [(0,)]


def test_query_with_profile(capsys: pytest.CaptureFixture[str], profiles_path: Path, pg_server: PgServer,
                            db: TestDb) -> None:
    assert run(capsys, "profile", "add", "p", "--dsn", db.uri)[0] == 0
    code, out, err = run(capsys, "query", "-p", "p", "--json", "select current_database() as db")
    assert code == 0, err
    assert json.loads(out)["rows"] == [[db.name]]


def _strict_json(text: str) -> object:
    def refuse(constant: str) -> object:
        raise AssertionError(f"not valid JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_query_json_is_strict_for_special_floats(capsys: pytest.CaptureFixture[str], db: TestDb) -> None:
    sql = "select 'NaN'::float8 as a, 'infinity'::float8 as b, '-infinity'::float8 as c, 'NaN'::numeric as d"
    code, out, err = run(capsys, "query", "--dsn", db.uri, "--json", sql)
    assert code == 0, err
    assert _strict_json(out) == {"columns": ["a", "b", "c", "d"], "rows": [["NaN", "Infinity", "-Infinity", "NaN"]],
                                 "notice": "LIMIT 20 added"}


def test_target_given_before_the_subcommand(capsys: pytest.CaptureFixture[str], profiles_path: Path,
                                           db: TestDb) -> None:
    assert run(capsys, "profile", "add", "p", "--dsn", db.uri)[0] == 0
    code, out, err = run(capsys, "--profile", "p", "query", "--json", "select current_database() as db")
    assert code == 0, err
    assert json.loads(out)["rows"] == [[db.name]]
    code, _, err = run(capsys, "--dsn", db.uri, "query", "--profile", "p", "select 1")
    assert code == 2
    assert "not both" in assert_one_line_error(err)
