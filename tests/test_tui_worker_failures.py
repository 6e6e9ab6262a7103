"""Every screen worker's failure path, driven as a user would meet it on a real server: the server
refuses (a database dropped under the app, a backend terminated, a permission missing), a file is
missing or cannot be written. Each time the failure is shown (the one error modal, or the screen's
own status line where the screen says so) and the app lives on: the screen under it still works.

``test_every_guarded_worker_has_a_failure_test`` keeps this honest: every ``@guarded`` worker in
``screens/`` must be named in ``COVERED`` with a test that makes it fail.
"""

from __future__ import annotations

import ast
import asyncio
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static, TextArea, Tree

from kwtui.connection import ConnectionService, ConnectTarget
from kwtui.jobs import Journal
from kwtui.profiles import ProfileStore
from kwtui.screens.app import KwtuiApp
from kwtui.screens.browse import BrowseScreen
from kwtui.screens.console import ConsoleScreen
from kwtui.screens.jobs import JobsScreen
from kwtui.screens.modals import ErrorModal

from .conftest import PW_PASSWORD, PW_USER, PgServer, TestDb
from .tui_helpers import wait_for

SIZE = (80, 24)
ROOT = Path(__file__).resolve().parent.parent

#: every @guarded worker of screens/ -> the test (file::name) that makes it fail
COVERED: dict[str, str] = {
    "app._connect_worker": "tests/test_tui.py::test_unreachable_server_shows_error_modal",
    "app._console_worker": "tests/test_tui_worker_failures.py::test_console_on_a_dropped_database_is_an_error",
    "app._disconnect_worker": "tests/test_tui_worker_failures.py::test_disconnect_after_the_server_dropped_us",
    "app._resume_worker": "tests/test_tui_worker_failures.py::test_resume_of_a_job_whose_source_is_gone",
    "browse.load_schemas": "tests/test_tui_worker_failures.py::test_browse_database_dropped_under_the_tree",
    "browse.load_tables": "tests/test_tui_worker_failures.py::test_browse_database_dropped_under_the_tree",
    "browse.load_detail": "tests/test_tui_worker_failures.py::test_browse_database_dropped_under_the_tree",
    "browse.refresh_databases": "tests/test_tui_worker_failures.py::test_browse_database_dropped_under_the_tree",
    "browse.load_preview": "tests/test_tui_worker_failures.py::test_browse_preview_refused_by_a_permission",
    "connect.run_test": "tests/test_tui_worker_failures.py::test_connect_screen_test_of_an_unreachable_server",
    "console.run_statements": "tests/test_tui_worker_failures.py::test_console_backend_terminated_then_runs_again",
    "console.load_more": "tests/test_tui_worker_failures.py::test_console_backend_terminated_while_paging",
    "console.run_reads": "tests/test_tui_worker_failures.py::test_run_all_reads_stops_at_the_statement_the_server_refuses",
    "console.save_to": "tests/test_tui_worker_failures.py::test_console_save_to_an_impossible_path",
    "jobs.load": "tests/test_tui_worker_failures.py::test_jobs_screen_on_a_corrupt_journal",
    "jobs.read_rejects": "tests/test_tui_worker_failures.py::test_jobs_rejects_file_gone",
    "app._demo_worker": "tests/test_tui_worker_failures.py::test_demo_that_cannot_start_is_an_error",
    "migration_wizard.load_profiles":
        "tests/test_tui_worker_failures.py::test_a_damaged_profiles_file_is_said_by_each_screen_that_reads_it",
    "validate.load_choices":
        "tests/test_tui_worker_failures.py::test_a_damaged_profiles_file_is_said_by_each_screen_that_reads_it",
    "plan_screen.save_plan": "tests/test_tui_worker_failures.py::test_plan_and_ddl_saved_to_impossible_paths",
    "plan_screen.save_ddl": "tests/test_tui_worker_failures.py::test_plan_and_ddl_saved_to_impossible_paths",
    "phases.write_runbook": "tests/test_tui_worker_failures.py::test_runbook_to_an_impossible_path",
    "migration_wizard.make_plan":
        "tests/test_tui_migration.py::test_wizard_shows_a_connection_error_in_the_error_modal",
    "phases.run_rehearsal": "tests/test_tui_worker_failures.py::test_rehearsal_on_a_target_that_is_gone",
    "doctor._run": "tests/test_tui_worker_failures.py::test_doctor_checks_against_a_server_that_is_not_there",
    "phases.run_phases": "tests/test_tui_phases.py::test_an_unreachable_target_is_an_error_modal_not_a_traceback",
    "export_wizard.run_streamed_export":
        "tests/test_tui_failures.py::test_export_refused_by_the_server_shows_the_error_and_the_wizard_lives",
    "export_wizard.list_tables":
        "tests/test_tui_worker_failures.py::test_wizards_on_a_database_dropped_since_the_tree_was_read",
    "import_wizard.list_tables":
        "tests/test_tui_worker_failures.py::test_wizards_on_a_database_dropped_since_the_tree_was_read",
    "import_wizard.read_source": "tests/test_tui_worker_failures.py::test_import_wizard_source_sample_and_table_failures",
    "import_wizard.parse_sample": "tests/test_tui_worker_failures.py::test_import_wizard_source_sample_and_table_failures",
    "import_wizard.load_detail": "tests/test_tui_worker_failures.py::test_import_wizard_source_sample_and_table_failures",
    "validate.run_validation":
        "tests/test_tui_worker_failures.py::test_validation_refused_then_report_to_an_impossible_path",
    "validate.save_report": "tests/test_tui_worker_failures.py::test_validation_refused_then_report_to_an_impossible_path",
    "export_wizard.run_native_export":
        "tests/test_tui_worker_failures.py::test_kwdb_native_export_and_import_refused_by_the_server",
    "import_wizard.run_native_import":
        "tests/test_tui_worker_failures.py::test_kwdb_native_export_and_import_refused_by_the_server",
    "native_jobs.load": "tests/test_tui_jobs.py::test_kwdb_jobs_screen_says_it_needs_kwdb",
    "native_jobs.send": "tests/test_tui_worker_failures.py::test_kwdb_job_control_refused_by_the_server",
    "import_wizard.run_streamed_import": "tests/test_tui_failures.py::test_import_that_fails_mid_way_says_what_was_committed",
}


def _guarded_workers() -> list[str]:
    found = []
    for path in sorted((ROOT / "screens").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for deco in node.decorator_list:
                    target = deco.func if isinstance(deco, ast.Call) else deco
                    if isinstance(target, ast.Name) and target.id == "guarded":
                        found.append(f"{path.stem}.{node.name}")
    return found


def test_every_guarded_worker_has_a_failure_test() -> None:
    """A new worker without a failure-path test fails here, naming it; a named test must exist."""
    workers = _guarded_workers()
    assert len(workers) >= 30
    missing = [w for w in workers if w not in COVERED]
    assert not missing, f"workers without a failure-path test: {missing}"
    for worker, ref in COVERED.items():
        file, name = ref.split("::")
        text = (ROOT / file).read_text(encoding="utf-8")
        assert re.search(rf"^(async )?def {name}\(", text, re.M), f"{worker}: {ref} does not exist"
    gone = sorted(set(COVERED) - set(workers))
    assert not gone, f"COVERED names workers that no longer exist: {gone}"


# -- helpers ------------------------------------------------------------------------------------


def execute(conninfo: str, statement: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(statement)  # type: ignore[arg-type]


def drop_database(pg: PgServer, name: str) -> None:
    with psycopg.connect(pg.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def spare_db(pg_server: PgServer) -> Iterator[str]:
    """A second fresh database (the test may drop it)."""
    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(pg_server.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        drop_database(pg_server, name)


@pytest.fixture
def spare_db2(pg_server: PgServer) -> Iterator[str]:
    """A third fresh database (the test may drop it)."""
    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(pg_server.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        drop_database(pg_server, name)


def modal_text(app: KwtuiApp) -> str:
    screen = app.screen
    assert isinstance(screen, ErrorModal), screen
    return f"{screen.title_text}\n{screen.message}\n{screen.detail or ''}"


async def error_shown(pilot: Pilot, timeout: float = 30) -> str:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ErrorModal), timeout=timeout)
    await pilot.pause()
    return modal_text(pilot.app)  # type: ignore[arg-type]


async def close_modal(pilot: Pilot, under: type) -> None:
    await pilot.press("escape")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, under))


def tree(app: KwtuiApp) -> Tree:
    return app.screen.query_one("#db-tree", Tree)


def find_node(app: KwtuiApp, pred):  # type: ignore[no-untyped-def]
    def walk(node):  # type: ignore[no-untyped-def]
        for child in node.children:
            if child.data is not None and pred(child.data):
                return child
            got = walk(child)
            if got is not None:
                return got
        return None

    return walk(tree(app).root)


def console_status(app: KwtuiApp) -> str:
    return str(app.screen.query_one("#console-status", Static).render())


async def console_run(pilot: Pilot, text: str) -> None:
    editor = pilot.app.screen.query_one("#sql-editor", TextArea)
    editor.text = text
    editor.focus()
    await pilot.press("f5")


def app_on(uri: str, store: Path) -> KwtuiApp:
    return KwtuiApp(target=ConnectTarget.from_dsn(uri), store=ProfileStore(store))


# -- browse ---------------------------------------------------------------------------------------


async def test_browse_database_dropped_under_the_tree(db: TestDb, spare_db: str, spare_db2: str,
                                                      pg_server: PgServer, profiles_path: Path) -> None:
    """The tree's four workers meet a database that is gone: each failure is the error modal, and the
    tree goes on working after it."""
    execute(pg_server.conninfo(spare_db), "CREATE SCHEMA s; CREATE TABLE s.t (id int PRIMARY KEY); "
                                          "CREATE SCHEMA s2; CREATE TABLE s2.u (id int); "
                                          "CREATE SCHEMA s3; CREATE SCHEMA s4")  # > 3: not opened by themselves
    execute(db.conninfo, "CREATE TABLE kept (id int PRIMARY KEY)")
    app = app_on(db.uri, profiles_path)

    def node(pred):  # type: ignore[no-untyped-def]
        return find_node(app, pred)

    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen))
        browse = app.screen
        await wait_for(pilot, lambda: node(lambda d: d.database == spare_db2) is not None)
        node(lambda d: d.database == spare_db and d.kind == "database").expand()
        await wait_for(pilot, lambda: node(lambda d: d.database == spare_db and d.schema == "s2") is not None)
        node(lambda d: d.database == spare_db and d.kind == "schema" and d.schema == "s").expand()
        await wait_for(pilot, lambda: node(lambda d: d.database == spare_db and d.table is not None) is not None)
        table_node = node(lambda d: d.database == spare_db and d.table is not None)
        drop_database(pg_server, spare_db)
        drop_database(pg_server, spare_db2)
        # load_detail: a table of a database that is gone (the highlight loads the detail)
        tree(app).move_cursor(table_node)
        text = await error_shown(pilot)
        assert "Cannot read s.t" in text
        await close_modal(pilot, BrowseScreen)
        # load_tables: a schema opened for the first time
        node(lambda d: d.database == spare_db and d.kind == "schema" and d.schema == "s2").expand()
        text = await error_shown(pilot)
        assert "Cannot list tables of s2" in text
        await close_modal(pilot, BrowseScreen)
        # load_schemas: a database opened for the first time
        node(lambda d: d.database == spare_db2 and d.kind == "database").expand()
        text = await error_shown(pilot)
        assert f"Cannot open database {spare_db2}" in text
        await close_modal(pilot, BrowseScreen)
        # refresh_databases: the connection's own database dropped (F5 reloads the list)
        drop_database(pg_server, db.name)
        tree(app).focus()
        await pilot.press("f5")
        text = await error_shown(pilot)
        assert "Cannot list databases" in text
        await close_modal(pilot, BrowseScreen)
        assert app.screen is browse
    assert app.return_code in (None, 0)


async def test_browse_preview_refused_by_a_permission(db: TestDb, pg_server: PgServer,
                                                     profiles_path: Path) -> None:
    """Connected as a user without SELECT on a table: the detail shows (the catalog is readable), the
    preview says the server's refusal in its status line; the app lives."""
    execute(db.conninfo, "CREATE TABLE secret (id int PRIMARY KEY, v text); INSERT INTO secret VALUES (1, 'x');"
                         f"REVOKE ALL ON secret FROM PUBLIC; GRANT USAGE ON SCHEMA public TO {PW_USER}")
    uri = f"postgresql://{PW_USER}:{PW_PASSWORD}@127.0.0.1:{pg_server.server.port}/{db.name}"
    app = app_on(uri, profiles_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen))
        await wait_for(pilot, lambda: find_node(app, lambda d: d.table is not None and d.table.name == "secret")
                       is not None)
        node = find_node(app, lambda d: d.table is not None and d.table.name == "secret")
        tree(app).move_cursor(node)
        await wait_for(pilot, lambda: "permission denied" in str(
            app.screen.query_one("#preview-status", Static).render()))
        assert isinstance(app.screen, BrowseScreen)
        assert app.screen.query_one("#columns-table", DataTable).row_count >= 2
    assert app.return_code in (None, 0)


# -- console --------------------------------------------------------------------------------------


async def _console(pilot: Pilot, app: KwtuiApp) -> ConsoleScreen:
    await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen))
    await pilot.press("f2")
    await wait_for(pilot, lambda: isinstance(app.screen, ConsoleScreen) and app.screen.service is not None)
    screen = app.screen
    assert isinstance(screen, ConsoleScreen)
    return screen


def terminate_backends(pg: PgServer, database: str) -> int:
    with psycopg.connect(pg.conninfo(), autocommit=True) as conn:
        rows = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                            "AND pid <> pg_backend_pid()", (database,)).fetchall()
    return len(rows)


async def test_console_backend_terminated_then_runs_again(db: TestDb, pg_server: PgServer,
                                                         profiles_path: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """An administrator ends the console's session: the next statement fails with the server's words
    (never a traceback), and the one after it runs again on a new session."""
    app = app_on(db.uri, profiles_path)
    async with app.run_test(size=SIZE) as pilot:
        console = await _console(pilot, app)
        await console_run(pilot, "select 1 as one")
        await wait_for(pilot, lambda: "1 row" in console_status(app))
        assert terminate_backends(pg_server, db.name) >= 1
        await console_run(pilot, "select 2 as two")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal) or "error" in console_status(app).lower()
                       or "terminat" in console_status(app).lower() or "closed" in console_status(app).lower())
        if isinstance(app.screen, ErrorModal):
            text = modal_text(app)
            await close_modal(pilot, ConsoleScreen)
        else:
            text = console_status(app)
        assert "Traceback" not in text
        await console_run(pilot, "select 3 as three")
        await wait_for(pilot, lambda: "1 row" in console_status(app) and console.running is False)
        grid = app.screen.query_one("#result-grid", DataTable)
        assert str(grid.get_row_at(0)[0]) == "3"
    assert app.return_code in (None, 0)


async def test_console_backend_terminated_while_paging(db: TestDb, pg_server: PgServer, profiles_path: Path,
                                                      tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the automatic LIMIT, a long result is paged from an open cursor; the session ends under
    it: paging on shows the failure, and the console runs the next statement."""
    app = app_on(db.uri, profiles_path)
    async with app.run_test(size=SIZE) as pilot:
        console = await _console(pilot, app)
        await pilot.press("ctrl+l")  # automatic LIMIT off: the result is paged
        # wide rows: the server fills the socket and waits, so later pages are really read from it
        await console_run(pilot, "select g, repeat('x', 4000) as pad from generate_series(1, 200000) g")
        grid = app.screen.query_one("#result-grid", DataTable)
        await wait_for(pilot, lambda: grid.row_count > 0 and console.stream is not None)
        terminate_backends(pg_server, db.name)
        grid.focus()
        await pilot.pause()
        for _ in range(40):  # near the last loaded row, page after page, until the pages come from the server
            grid.move_cursor(row=grid.row_count - 1)
            await pilot.pause(0.2)
            if isinstance(app.screen, ErrorModal):
                break
        text = await error_shown(pilot)
        assert "Cannot fetch more rows" in text and "Traceback" not in text
        await close_modal(pilot, ConsoleScreen)
        assert "could not be read" in console_status(app) and grid.row_count > 0
        await wait_for(pilot, lambda: console.running is False)
        await console_run(pilot, "select 42 as answer")
        await wait_for(pilot, lambda: grid.row_count == 1 and str(grid.get_row_at(0)[0]) == "42")
    assert app.return_code in (None, 0)


async def test_console_save_to_an_impossible_path(db: TestDb, profiles_path: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl+S to a path under a regular file: the error modal names the path; the console saves to a
    good path right after."""
    (tmp_path / "afile").write_text("x")
    app = app_on(db.uri, profiles_path)
    async with app.run_test(size=SIZE) as pilot:
        console = await _console(pilot, app)
        await console_run(pilot, "select g from generate_series(1, 5) g")
        await wait_for(pilot, lambda: "5 row" in console_status(app))
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: bool(app.screen.query("#csv-path")))
        app.screen.query_one("#csv-path", Input).value = str(tmp_path / "afile" / "out.csv")
        await pilot.press("enter")
        text = await error_shown(pilot)
        assert "Cannot save the result" in text and "afile" in text
        await close_modal(pilot, ConsoleScreen)
        await wait_for(pilot, lambda: console.running is False)
        good = tmp_path / "good.csv"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: bool(app.screen.query("#csv-path")))
        app.screen.query_one("#csv-path", Input).value = str(good)
        await pilot.press("enter")
        await wait_for(pilot, lambda: good.exists() and "saved" in console_status(app))
        assert good.read_text().splitlines() == ["g", "1", "2", "3", "4", "5"]
    assert app.return_code in (None, 0)


async def test_console_on_a_dropped_database_is_an_error(db: TestDb, spare_db: str, pg_server: PgServer,
                                                        profiles_path: Path) -> None:
    """F2 on a database dropped since the tree was read: the console's connection fails in the error
    modal; browse stays."""
    app = app_on(db.uri, profiles_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen))
        await wait_for(pilot, lambda: find_node(app, lambda d: d.database == spare_db) is not None)
        drop_database(pg_server, spare_db)
        app.open_console(spare_db)
        text = await error_shown(pilot)
        assert spare_db in text
        await close_modal(pilot, BrowseScreen)
    assert app.return_code in (None, 0)


async def test_disconnect_after_the_server_dropped_us(db: TestDb, pg_server: PgServer,
                                                     profiles_path: Path) -> None:
    """Ctrl+D after the server ended every session of the app: the disconnect completes quietly (a
    close of a dead connection is not an error) and the welcome screen is back."""
    from kwtui.screens.welcome import WelcomeScreen

    app = app_on(db.uri, profiles_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen))
        terminate_backends(pg_server, db.name)
        drop_database(pg_server, db.name)
        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: isinstance(app.screen, (WelcomeScreen, ErrorModal)))
        if isinstance(app.screen, ErrorModal):
            assert "Traceback" not in modal_text(app)
            await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, WelcomeScreen))
    assert app.return_code in (None, 0)


# -- connect ----------------------------------------------------------------------------------------


async def test_connect_screen_test_of_an_unreachable_server(profiles_path: Path) -> None:
    """The connect screen's Test on a port nobody listens on: the error modal, then the form again."""
    from kwtui.screens.connect import ConnectScreen

    app = KwtuiApp(store=ProfileStore(profiles_path))
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(ConnectScreen(ProfileStore(profiles_path)))
        await wait_for(pilot, lambda: isinstance(app.screen, ConnectScreen))
        await wait_for(pilot, lambda: bool(app.screen.query("#f-host")))
        for ident, value in (("host", "127.0.0.1"), ("port", "1"), ("user", "nobody"), ("dbname", "none")):
            app.screen.query_one(f"#f-{ident}", Input).value = value
        await pilot.press("ctrl+t")
        text = await error_shown(pilot)
        assert "127.0.0.1" in text or "refused" in text.lower()
        await close_modal(pilot, ConnectScreen)
    assert app.return_code in (None, 0)


# -- jobs -------------------------------------------------------------------------------------------


async def test_jobs_screen_on_a_corrupt_journal(tmp_path: Path, profiles_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A journal file that is not a SQLite database: the jobs screen says so in the error modal; the
    app goes back to where it was."""
    from kwtui.screens.welcome import WelcomeScreen

    bad = tmp_path / "jobs.db"
    bad.write_bytes(b"this is not a database" * 100)
    monkeypatch.setenv("KWTUI_JOURNAL", str(bad))
    app = KwtuiApp(store=ProfileStore(profiles_path))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, WelcomeScreen))
        await pilot.press("j")
        text = await error_shown(pilot)
        assert "Traceback" not in text and ("database" in text.lower() or "journal" in text.lower())
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ErrorModal)
    assert app.return_code in (None, 0)


async def test_jobs_rejects_file_gone(two_dbs: tuple[str, str], tmp_path: Path, profiles_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A job whose reject file was deleted since: `v` says which file is missing; the jobs screen lives."""
    _, dst = two_dbs
    monkeypatch.setenv("KWTUI_JOURNAL", str(tmp_path / "jobs.db"))
    execute(psycopg.conninfo.make_conninfo(dst), "CREATE TABLE people (id int PRIMARY KEY, name text)")
    csv_path = tmp_path / "people.csv"
    csv_path.write_text("1,ann\nx,bad\n2,bob\n")
    from kwtui.cli import main

    reject_file = tmp_path / "people.rejects.txt"
    code = await asyncio.to_thread(main, ["import", "--dsn", dst, "--into", "public.people", "--from", str(csv_path),
                 "--reject-file", str(reject_file)])
    assert code in (0, 1)
    job = Journal(tmp_path / "jobs.db").jobs()[0]
    assert job.rejects == 1 and reject_file.exists()
    reject_file.unlink()
    rejects = [reject_file]
    app = KwtuiApp(store=ProfileStore(profiles_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("j")
        await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen)
                       and app.screen.query_one("#jobs-table", DataTable).row_count == 1)
        await pilot.press("v")
        text = await error_shown(pilot)
        assert rejects[0].name in text
        await close_modal(pilot, JobsScreen)
    assert app.return_code in (None, 0)


# -- app --------------------------------------------------------------------------------------------


async def test_resume_of_a_job_whose_source_is_gone(two_dbs: tuple[str, str], pg_server: PgServer,
                                                   tmp_path: Path, profiles_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """`r` on a failed job whose source database has been dropped since: the error modal says why, and
    the jobs screen still lists the job, unchanged in its rows."""
    from kwtui.transfer.engine import TransferOptions
    from kwtui.transfer.resumable import create_transfer_job

    src, dst = two_dbs
    monkeypatch.setenv("KWTUI_JOURNAL", str(tmp_path / "jobs.db"))
    journal = Journal(tmp_path / "jobs.db")
    execute(psycopg.conninfo.make_conninfo(src), "CREATE TABLE t (id int PRIMARY KEY); "
                                                 "INSERT INTO t SELECT generate_series(1, 100)")
    async with ConnectionService(ConnectTarget.from_dsn(src)) as s, ConnectionService(ConnectTarget.from_dsn(dst)) as d:
        await create_transfer_job(journal, s, d, ["t"], TransferOptions(), batch_rows=10)
    src_name = psycopg.conninfo.conninfo_to_dict(psycopg.conninfo.make_conninfo(src))["dbname"]
    drop_database(pg_server, str(src_name))
    app = KwtuiApp(store=ProfileStore(profiles_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("j")
        await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen)
                       and app.screen.query_one("#jobs-table", DataTable).row_count == 1)
        await pilot.press("r")
        text = await error_shown(pilot)
        assert str(src_name) in text or "does not exist" in text
        await close_modal(pilot, JobsScreen)
        assert app.screen.query_one("#jobs-table", DataTable).row_count == 1
    assert app.return_code in (None, 0)


# -- local files: a damaged profiles file, paths that cannot be written ----------------------------


async def test_a_damaged_profiles_file_is_said_by_each_screen_that_reads_it(
        profiles_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """profiles.toml holds no TOML: the app opens; the migration wizard and the validation screen say
    the file is damaged (their URI fields still work); the welcome screen stays usable."""
    from kwtui.screens.migration_wizard import NewMigrationScreen
    from kwtui.screens.validate import ValidationScreen
    from kwtui.screens.welcome import WelcomeScreen

    monkeypatch.setenv("KWTUI_JOURNAL", str(tmp_path / "jobs.db"))
    profiles_path.parent.mkdir(parents=True, exist_ok=True)
    profiles_path.write_text("[profiles.broken\nthis = is not toml = at all\n")
    app = KwtuiApp(store=ProfileStore(profiles_path))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, (WelcomeScreen, ErrorModal)))
        if isinstance(app.screen, ErrorModal):  # the welcome screen's own list of profiles may say it first
            await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, WelcomeScreen))
        await pilot.press("n")
        text = await error_shown(pilot)
        assert "Cannot read the profiles" in text and "profiles.toml" in text
        await close_modal(pilot, NewMigrationScreen)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, WelcomeScreen))
        await pilot.press("v")
        text = await error_shown(pilot)
        assert "Cannot read the profiles" in text
        await close_modal(pilot, ValidationScreen)
    assert app.return_code in (None, 0)


async def _plan_for(src: str, dst: str) -> object:
    from kwtui import migration
    from kwtui.migration import Requirements

    execute(psycopg.conninfo.make_conninfo(src),
            "CREATE TABLE customers (id int PRIMARY KEY, name text); INSERT INTO customers VALUES (1, 'a'), (2, 'b')")
    req = Requirements(source=migration.safe_reference(src), target=migration.safe_reference(dst))
    async with ConnectionService(ConnectTarget.from_dsn(src)) as s, ConnectionService(ConnectTarget.from_dsn(dst)) as d:
        return await migration.plan_migration(req, s, d, eta=False)


async def _enter_path(pilot: Pilot, path: Path) -> None:
    await wait_for(pilot, lambda: bool(pilot.app.screen.query(Input)) and not isinstance(
        pilot.app.screen, (BrowseScreen, ConsoleScreen)))
    pilot.app.screen.query_one(Input).value = str(path)
    await pilot.press("enter")


async def test_plan_and_ddl_saved_to_impossible_paths(two_dbs: tuple[str, str], profiles_path: Path,
                                                     tmp_path: Path) -> None:
    """Ctrl+S and d on the plan screen, each to a path under a regular file: the error modal names
    the path; the plan screen is still there and saves to a good path after."""
    from kwtui.screens.plan_screen import PlanScreen
    from kwtui.screens.welcome import WelcomeScreen

    plan = await _plan_for(*two_dbs)
    blocker = tmp_path / "afile"
    blocker.write_text("x")

    class PlanApp(KwtuiApp):
        async def open_initial(self) -> None:
            self.push_screen(WelcomeScreen())
            self.push_screen(PlanScreen(plan))  # type: ignore[arg-type]

    app = PlanApp(store=ProfileStore(profiles_path))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, PlanScreen))
        await pilot.press("ctrl+s")
        await _enter_path(pilot, blocker / "x.plan.toml")
        text = await error_shown(pilot)
        assert "afile" in text and "Traceback" not in text
        await close_modal(pilot, PlanScreen)
        await pilot.press("d")
        await _enter_path(pilot, blocker / "x.ddl.sql")
        text = await error_shown(pilot)
        assert "afile" in text
        await close_modal(pilot, PlanScreen)
        good = tmp_path / "good.plan.toml"
        await pilot.press("ctrl+s")
        await _enter_path(pilot, good)
        await wait_for(pilot, lambda: good.exists())
    assert app.return_code in (None, 0)


async def test_runbook_to_an_impossible_path(two_dbs: tuple[str, str], profiles_path: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """g on the phases screen to a path under a regular file: the error modal; the phases stay."""
    from kwtui.migration import MigrationPlan
    from kwtui.screens.phases import PhasesScreen
    from kwtui.screens.welcome import WelcomeScreen

    monkeypatch.setenv("KWTUI_JOURNAL", str(tmp_path / "jobs.db"))
    plan = await _plan_for(*two_dbs)
    planfile = tmp_path / "p.plan.toml"
    plan.save(planfile)  # type: ignore[attr-defined]
    blocker = tmp_path / "afile"
    blocker.write_text("x")

    class PhasesApp(KwtuiApp):
        async def open_initial(self) -> None:
            self.push_screen(WelcomeScreen())
            self.open_phases(MigrationPlan.load(planfile), planfile)

    app = PhasesApp(store=ProfileStore(profiles_path))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, PhasesScreen))
        await pilot.press("g")
        await _enter_path(pilot, blocker / "runbook.md")
        text = await error_shown(pilot)
        assert "afile" in text
        await close_modal(pilot, PhasesScreen)
    assert app.return_code in (None, 0)


async def test_demo_that_cannot_start_is_an_error(profiles_path: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """d on the welcome screen where the demo's data directory cannot be made (a regular file stands
    in its way): the error modal says why; the welcome screen stays."""
    from kwtui.screens.welcome import WelcomeScreen

    data = tmp_path / "xdg-data"
    data.mkdir()
    (data / "kwtui").write_text("a file where the data directory should be")
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    app = KwtuiApp(store=ProfileStore(profiles_path))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, WelcomeScreen))
        await pilot.press("d")
        text = await error_shown(pilot)
        assert "Cannot start the demo" in text and "kwtui" in text
        await close_modal(pilot, WelcomeScreen)
    assert app.return_code in (None, 0)


# -- the export and import wizards ------------------------------------------------------------------


def _static(app: KwtuiApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def test_wizards_on_a_database_dropped_since_the_tree_was_read(db: TestDb, spare_db: str,
                                                                    pg_server: PgServer,
                                                                    profiles_path: Path) -> None:
    """F6/F7 on a database that is gone: each wizard says it cannot list the tables (in its own
    status line, as it says so), and Next is still refused rather than guessing."""
    from kwtui.screens.export_wizard import ExportWizard
    from kwtui.screens.import_wizard import ImportWizard

    from .test_tui_wizards import opened

    app = app_on(db.uri, profiles_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen))
        drop_database(pg_server, spare_db)
        app.push_screen(ExportWizard(spare_db))
        await opened(pilot, ExportWizard)
        await wait_for(pilot, lambda: "cannot list the tables" in _static(app, "#what-summary"))
        assert "does not exist" in _static(app, "#what-summary")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen))
        app.push_screen(ImportWizard(spare_db))
        await opened(pilot, ImportWizard)
        await wait_for(pilot, lambda: "cannot list the tables" in _static(app, "#columns-check"))
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen))
    assert app.return_code in (None, 0)


async def test_import_wizard_source_sample_and_table_failures(db: TestDb, profiles_path: Path,
                                                              tmp_path: Path) -> None:
    """The import wizard's three readers fail, each said where it happened: a source path that does
    not exist (in the status line), a sample file gone when it is read again (under the grid), and a
    target table dropped after it was listed (under the columns)."""
    from textual.widgets import Select

    from kwtui.screens.import_wizard import ImportWizard

    from .test_tui_wizards import go, opened, set_input, step

    execute(db.conninfo, "CREATE TABLE people (id int PRIMARY KEY, name text); CREATE TABLE gone (id int)")
    app = app_on(db.uri, profiles_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen))
        app.push_screen(ImportWizard(db.name))
        await opened(pilot, ImportWizard)
        # read_source: no such path, said beside the field; the wizard stays on the source step
        set_input(app, "f-source", str(tmp_path / "no-such-file.csv"))
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: "no-such-file.csv" in _static(app, "#wizard-status"))
        assert step(app) == "source"
        # parse_sample: the file is gone when the sample is read again (a new delimiter re-reads it)
        data = tmp_path / "people.csv"
        data.write_text("1,ann\n2,bob\n")
        set_input(app, "f-source", str(data))
        await go(pilot, "layout")
        await wait_for(pilot, lambda: app.screen.query_one("#sample-table", DataTable).row_count == 2)
        data.unlink()
        set_input(app, "f-delimiter", ";")
        await wait_for(pilot, lambda: "✗" in _static(app, "#sample-note"))
        assert "people.csv" in _static(app, "#sample-note")
        data.write_text("1,ann\n2,bob\n")
        set_input(app, "f-delimiter", ",")
        await wait_for(pilot, lambda: app.screen.query_one("#sample-table", DataTable).row_count == 2)
        # load_detail: the target table dropped after the list was read
        await go(pilot, "target")
        select = app.screen.query_one("#f-table", Select)
        await wait_for(pilot, lambda: "public.gone" in [v for _, v in select._options])
        execute(db.conninfo, "DROP TABLE gone")
        select.value = "public.gone"
        await wait_for(pilot, lambda: "✗" in _static(app, "#columns-check"))
        assert isinstance(app.screen, ImportWizard)
    assert app.return_code in (None, 0)


# -- validation -------------------------------------------------------------------------------------


async def test_validation_refused_then_report_to_an_impossible_path(two_dbs: tuple[str, str], tmp_path: Path,
                                                                   profiles_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A validation whose source database does not exist: the error modal, the form kept; a table the
    target lacks: a verdict that is not "equal"; then a real run, and its report saved under a regular
    file: the error modal names the path."""
    from kwtui.screens.validate import ValidationScreen

    monkeypatch.setenv("KWTUI_JOURNAL", str(tmp_path / "jobs.db"))
    src, dst = two_dbs
    for uri in (src, dst):
        execute(psycopg.conninfo.make_conninfo(uri), "CREATE TABLE a (id int PRIMARY KEY, v text);"
                                                     "INSERT INTO a SELECT g, g::text FROM generate_series(1, 50) g")
    execute(psycopg.conninfo.make_conninfo(src), "CREATE TABLE only_here (id int PRIMARY KEY)")
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    app = KwtuiApp(store=ProfileStore(profiles_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, ValidationScreen))
        gone = src.rsplit("/", 1)[0] + "/kwtui_no_such_database"
        for ident, value in (("v-source-uri", gone), ("v-target-uri", dst), ("v-tables", "public.a")):
            app.screen.query_one(f"#{ident}", Input).value = value
        await pilot.press("f5")
        text = await error_shown(pilot)
        assert "Validation stopped" in text and "kwtui_no_such_database" in text
        await close_modal(pilot, ValidationScreen)
        assert app.screen.query_one("#v-source-uri", Input).value == gone  # the form is kept
        app.screen.query_one("#v-source-uri", Input).value = src
        # a table the target lacks is a verdict, not a failure
        app.screen.query_one("#v-tables", Input).value = "public.only_here"
        await pilot.press("f5")
        await wait_for(pilot, lambda: app.screen.query_one("#v-verdicts", DataTable).row_count == 1)
        verdict = str(app.screen.query_one("#v-verdicts", DataTable).get_row_at(0)[1])
        assert verdict != "equal", verdict
        app.screen.query_one("#v-tables", Input).value = "public.a"
        await pilot.press("f5")
        await wait_for(pilot, lambda: app.screen.query_one("#v-verdicts", DataTable).row_count == 1)
        await pilot.press("ctrl+s")
        await _enter_path(pilot, blocker / "report.html")
        text = await error_shown(pilot)
        assert "Cannot save the report" in text and "afile" in text
        await close_modal(pilot, ValidationScreen)
    assert app.return_code in (None, 0)


# -- KWDB: native IMPORT/EXPORT refused, job control refused ----------------------------------------


def _dbname(uri: str) -> str:
    return str(psycopg.conninfo.conninfo_to_dict(uri)["dbname"])


@pytest.mark.kwdb
async def test_kwdb_native_export_and_import_refused_by_the_server(kwdb: str, profiles_path: Path,
                                                                   tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """On the live KWDB: a native EXPORT of a table dropped after the wizard listed it, and a native
    IMPORT of a nodelocal file that is not there. KWDB refuses both; each is the error modal, and the
    wizard lives (back on its preview step, not running)."""
    from textual.widgets import RadioButton, Select

    from kwtui.screens.export_wizard import ExportWizard
    from kwtui.screens.import_wizard import ImportWizard

    from .test_tui_wizards import go, opened, set_input

    monkeypatch.setenv("KWTUI_JOURNAL", str(tmp_path / "jobs.db"))
    monkeypatch.chdir(tmp_path)
    name = _dbname(kwdb)
    execute(kwdb, "CREATE TABLE items (id INT PRIMARY KEY, name STRING); INSERT INTO items VALUES (1, 'a'), (2, 'b');"
                  "CREATE TABLE people (id INT PRIMARY KEY, name STRING)")
    (tmp_path / "people.csv").write_text("1,ann\n2,bob\n")
    app = app_on(kwdb, profiles_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen), timeout=30)
        assert app.explorer is not None
        tables = {t.name: t for t in await app.explorer.tables(name, "public")}
        app.push_screen(ExportWizard(name, tables["items"]))
        await opened(pilot, ExportWizard)
        await go(pilot, "path")
        app.screen.query_one("#path-native", RadioButton).value = True
        await pilot.pause()
        await go(pilot, "options")
        await go(pilot, "dest")
        set_input(app, "f-dest", f"nodelocal://1/kwtui-fail-{uuid.uuid4().hex[:8]}")
        await go(pilot, "preview")
        execute(kwdb, "DROP TABLE items")
        await pilot.press("ctrl+n")
        text = await error_shown(pilot, timeout=60)
        assert "items" in text and "Traceback" not in text
        await close_modal(pilot, ExportWizard)
        await wait_for(pilot, lambda: not app.screen.running)  # type: ignore[attr-defined]
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen))
        # a native IMPORT of a file the node does not have
        app.push_screen(ImportWizard(name, tables["people"]))
        await opened(pilot, ImportWizard)
        set_input(app, "f-source", "people.csv")
        await go(pilot, "layout")
        await go(pilot, "target")
        select = app.screen.query_one("#f-table", Select)
        await wait_for(pilot, lambda: "public.people" in [v for _, v in select._options])
        await wait_for(pilot, lambda: "✓" in _static(app, "#columns-check"), timeout=30)  # Next waits for it
        await go(pilot, "options")
        app.screen.query_one("#import-native", RadioButton).value = True
        await pilot.pause()
        set_input(app, "f-native-path", f"nodelocal://1/kwtui-no-such-{uuid.uuid4().hex[:8]}.csv")
        await pilot.pause()
        await go(pilot, "preview")
        await pilot.press("ctrl+n")
        text = await error_shown(pilot, timeout=60)
        assert "Traceback" not in text and "kwtui-no-such" in text
        await close_modal(pilot, ImportWizard)
        await wait_for(pilot, lambda: not app.screen.running)  # type: ignore[attr-defined]
    assert app.return_code in (None, 0)


@pytest.mark.kwdb
async def test_kwdb_job_control_refused_by_the_server(kwdb: str, profiles_path: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """On the live KWDB: PAUSE of a job that has already succeeded. KWDB refuses; the error modal says
    which job; the KWDB jobs screen lives and lists it still."""
    from kwtui.screens.native_jobs import NativeJobsScreen

    monkeypatch.setenv("KWTUI_JOURNAL", str(tmp_path / "jobs.db"))
    execute(kwdb, "CREATE TABLE j (id INT PRIMARY KEY, v INT); INSERT INTO j VALUES (1, 1); CREATE INDEX ON j (v)")
    app = app_on(kwdb, profiles_path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen), timeout=30)
        await pilot.press("f8")
        await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen))
        await pilot.press("k")
        await wait_for(pilot, lambda: isinstance(app.screen, NativeJobsScreen))
        screen = app.screen
        assert isinstance(screen, NativeJobsScreen)
        await wait_for(pilot, lambda: any(str(getattr(j, "status", "")).lower() == "succeeded" for j in screen.jobs),
                       timeout=30)
        table = screen.query_one(DataTable)
        done = next(i for i, j in enumerate(screen.jobs) if str(getattr(j, "status", "")).lower() == "succeeded")
        table.focus()
        table.move_cursor(row=done)
        await pilot.pause()
        await pilot.press("p")
        text = await error_shown(pilot, timeout=30)
        assert "Cannot pause KWDB job" in text and "Traceback" not in text
        await close_modal(pilot, NativeJobsScreen)
        assert screen.jobs
    assert app.return_code in (None, 0)


async def test_rehearsal_on_a_target_that_is_gone(two_dbs: tuple[str, str], pg_server: PgServer,
                                                  profiles_path: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """r (rehearse) on the phases screen when the plan's target database has been dropped: the error
    modal names it; the phases are unchanged and the screen stays."""
    from kwtui.migration import MigrationPlan
    from kwtui.screens.phases import PhasesScreen
    from kwtui.screens.welcome import WelcomeScreen

    monkeypatch.setenv("KWTUI_JOURNAL", str(tmp_path / "jobs.db"))
    plan = await _plan_for(*two_dbs)
    planfile = tmp_path / "p.plan.toml"
    plan.save(planfile)  # type: ignore[attr-defined]
    drop_database(pg_server, _dbname(two_dbs[1]))

    class PhasesApp(KwtuiApp):
        async def open_initial(self) -> None:
            self.push_screen(WelcomeScreen())
            self.open_phases(MigrationPlan.load(planfile), planfile)

    app = PhasesApp(store=ProfileStore(profiles_path))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, PhasesScreen))
        phases = app.screen
        await pilot.press("r")
        text = await error_shown(pilot)
        assert "The rehearsal could not run" in text and _dbname(two_dbs[1]) in text
        await close_modal(pilot, PhasesScreen)
        assert app.screen is phases
        assert all(p.state == "pending" for p in phases.state.phases)  # type: ignore[attr-defined]
    assert app.return_code in (None, 0)


async def test_run_all_reads_stops_at_the_statement_the_server_refuses(db: TestDb, profiles_path: Path) -> None:
    """F6 (Run all) in read mode on three reads, the second naming a table that does not exist: the
    server's refusal in the error modal, naming that statement; the third never runs; the console
    runs again after."""
    app = app_on(db.uri, profiles_path)
    async with app.run_test(size=SIZE) as pilot:
        console = await _console(pilot, app)
        editor = app.screen.query_one("#sql-editor", TextArea)
        editor.text = "select 1 as a;\nselect * from no_such_table;\nselect 3 as c;"
        editor.focus()
        await pilot.press("f6")
        text = await error_shown(pilot)
        assert "no_such_table" in text and "Traceback" not in text
        await close_modal(pilot, ConsoleScreen)
        await wait_for(pilot, lambda: console.running is False)
        await console_run(pilot, "select 42 as answer")
        grid = app.screen.query_one("#result-grid", DataTable)
        await wait_for(pilot, lambda: grid.row_count == 1 and str(grid.get_row_at(0)[0]) == "42")
    assert app.return_code in (None, 0)


async def test_doctor_checks_against_a_server_that_is_not_there(profiles_path: Path) -> None:
    """F5 on the doctor screen with a source on a port nobody listens on: the refusal is said in the
    screen's summary line (or the error modal), never a dead worker; the screen runs again after."""
    from kwtui.screens.doctor import DoctorScreen

    app = KwtuiApp(store=ProfileStore(profiles_path))
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(DoctorScreen("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"))
        await wait_for(pilot, lambda: isinstance(app.screen, DoctorScreen) and bool(app.screen.query("#d-summary")))
        doctor = app.screen
        assert isinstance(doctor, DoctorScreen)
        await pilot.press("f5")
        await wait_for(pilot, lambda: not doctor.running and (isinstance(app.screen, ErrorModal)
                                                               or doctor.report is not None), timeout=30)
        if isinstance(app.screen, ErrorModal):
            assert "Traceback" not in modal_text(app)
            await close_modal(pilot, DoctorScreen)
        else:  # the unreachable source is the checklist's blocker, with its evidence
            assert doctor.report is not None
            blockers = [c for c in doctor.report.checks if c.verdict == "blocker"]
            assert any("127.0.0.1" in c.evidence or "reach" in c.title for c in blockers), doctor.report.checks
        assert not doctor.running
    assert app.return_code in (None, 0)
