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
    "console.save_to": "tests/test_tui_worker_failures.py::test_console_save_to_an_impossible_path",
    "jobs.load": "tests/test_tui_worker_failures.py::test_jobs_screen_on_a_corrupt_journal",
    "jobs.read_rejects": "tests/test_tui_worker_failures.py::test_jobs_rejects_file_gone",
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
