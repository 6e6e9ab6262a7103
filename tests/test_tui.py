"""The TUI driven as a user would: App.run_test() walks and snapshot tests at 80x24."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input

from kwtui.catalog import RELATIONAL, TIME_SERIES, Database
from kwtui.connection import ServerInfo
from kwtui.profiles import Profile, ProfileStore
from kwtui.screens.app import KwtuiApp
from kwtui.screens.browse import BrowseScreen
from kwtui.screens.connect import ConnectScreen
from kwtui.screens.migration_wizard import NewMigrationScreen
from kwtui.screens.modals import ErrorModal, HelpScreen, PasswordModal
from kwtui.screens.welcome import WelcomeScreen

from .conftest import PW_PASSWORD, PW_USER, TestDb
from .tui_helpers import wait_for

SIZE = (80, 24)






async def fill(pilot: Pilot, **values: str) -> None:
    screen = pilot.app.screen
    for ident, value in values.items():
        screen.query_one(f"#f-{ident}", Input).value = value
    await pilot.pause()


def tree_labels(screen: object) -> list[str]:
    from textual.widgets import Tree

    tree = screen.query_one("#db-tree", Tree)  # type: ignore[attr-defined]
    return [str(n.label).split(" ")[0] for n in tree.root.children]


def _db_node(screen: object, database: str):  # type: ignore[no-untyped-def]
    from textual.css.query import NoMatches
    from textual.widgets import Tree

    try:
        tree = screen.query_one("#db-tree", Tree)  # type: ignore[attr-defined]
    except NoMatches:  # the screen is still being composed
        return None
    return next((n for n in tree.root.children if n.data and n.data.database == database), None)


def schema_labels(screen: object, database: str) -> list[str]:
    db = _db_node(screen, database)
    return [] if db is None else [n.data.schema for n in db.children if n.data and n.data.kind == "schema"]


def table_labels(screen: object, database: str, schema: str) -> list[str]:
    db = _db_node(screen, database)
    node = None if db is None else next((n for n in db.children if n.data and n.data.schema == schema), None)
    if node is None:
        return []
    return [n.data.table.name for n in node.children if n.data and n.data.table is not None]


def table_column(table: DataTable, index: int = 0) -> list[str]:
    return [str(table.get_row_at(i)[index]) for i in range(table.row_count)]


# -- walks against the real server ------------------------------------------------------


async def test_welcome_connect_main_walk(db: TestDb, profiles_path: Path) -> None:
    app = KwtuiApp(store=ProfileStore(profiles_path))
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, WelcomeScreen)
        await pilot.press("c")
        assert isinstance(app.screen, ConnectScreen)
        await fill(pilot, host=db.pg.host, port=str(db.pg.port), user="postgres", dbname=db.name, name="local")
        await pilot.press("ctrl+s")  # save the profile on the way
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen))
        assert db.name in tree_labels(app.screen)
        assert app.service is not None and app.service.info is not None
        assert app.service.info.kind == "postgres"
        # refresh, help, disconnect
        await pilot.press("f5")
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        help_rows = table_column(app.screen.query_one(DataTable), 1)
        assert {"Refresh", "Disconnect", "SQL", "Filter"} <= set(help_rows)
        await pilot.press("escape")
        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: isinstance(app.screen, WelcomeScreen))
        assert app.service is None
    saved = ProfileStore(profiles_path).get("local")
    assert saved.port == db.pg.port and saved.dbname == db.name
    assert stat.S_IMODE(profiles_path.stat().st_mode) == 0o600


async def test_open_saved_profile(db: TestDb, profiles_path: Path) -> None:
    store = ProfileStore(profiles_path)
    store.save(Profile(name="mine", host=db.pg.host, port=db.pg.port, user="postgres", dbname=db.name))
    app = KwtuiApp(store=store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("p")
        assert isinstance(app.screen, ConnectScreen)
        await pilot.pause()  # lands on the first saved profile
        assert app.screen.query_one("#f-name", Input).value == "mine"
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen))


async def test_connect_with_dsn_target(db: TestDb) -> None:
    from kwtui.connection import ConnectTarget

    db.execute("CREATE SCHEMA app; CREATE TABLE app.things (id int PRIMARY KEY); CREATE TABLE public.other (x int)")
    app = KwtuiApp(target=ConnectTarget.from_dsn(db.uri))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen))
        # the connected database opens by itself: its schemas and tables are in the tree
        await wait_for(pilot, lambda: {"app", "public"} <= set(schema_labels(app.screen, db.name)))
        await wait_for(pilot, lambda: "things" in table_labels(app.screen, db.name, "app"))
        # the two schemas' tables load one after the other: wait for the second too (it raced under load)
        await wait_for(pilot, lambda: "other" in table_labels(app.screen, db.name, "public"))


async def test_unreachable_server_shows_error_modal(profiles_path: Path) -> None:
    from kwtui.embedded import free_port

    app = KwtuiApp(store=ProfileStore(profiles_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("c")
        await fill(pilot, host="127.0.0.1", port=str(free_port()), user="postgres")
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal))
        assert "cannot reach" in app.screen.message
        await pilot.press("escape")
        assert isinstance(app.screen, ConnectScreen)


async def test_bad_port_and_missing_certs_are_error_modals(tmp_path: Path, profiles_path: Path) -> None:
    app = KwtuiApp(store=ProfileStore(profiles_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("c")
        await fill(pilot, host="127.0.0.1", port="54x")
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal))
        assert "not a number" in app.screen.message
        await pilot.press("escape")
        (tmp_path / "certs").mkdir()
        (tmp_path / "certs" / "ca.crt").write_text("x")
        await fill(pilot, port="26257", user="root", certs_dir=str(tmp_path / "certs"))
        await pilot.press("ctrl+t")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal))
        assert "client.root.crt" in app.screen.message and "client.root.key" in app.screen.message


async def test_wrong_password_then_prompt(db: TestDb, profiles_path: Path) -> None:
    app = KwtuiApp(store=ProfileStore(profiles_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("c")
        await fill(pilot, host=db.pg.host, port=str(db.pg.port), user=PW_USER, dbname=db.name)
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, PasswordModal))
        await pilot.press(*"wrong")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal))
        assert "wrong password" in app.screen.message
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ConnectScreen))
        await fill(pilot, password=PW_PASSWORD)
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen))
    # the password typed into the form was never written
    assert not profiles_path.exists() or PW_PASSWORD not in profiles_path.read_text()


async def test_new_migration_wizard_and_palette(profiles_path: Path) -> None:
    app = KwtuiApp(store=ProfileStore(profiles_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n")
        assert isinstance(app.screen, NewMigrationScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, WelcomeScreen)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert {"Connect", "Demo", "New migration", "Help"} <= set(titles)


async def test_delete_profile_asks_first(profiles_path: Path) -> None:
    store = ProfileStore(profiles_path)
    store.save(Profile(name="old", host="db.example", port=5432))
    app = KwtuiApp(store=store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("p")
        await pilot.pause()
        await pilot.press("ctrl+x")
        await pilot.pause()
        await pilot.press("n")  # no: kept
        await pilot.pause()
        assert store.names() == ["old"]
        await pilot.press("ctrl+x")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert store.names() == []


# -- snapshots (data injected; no clock, no random names) --------------------------------


def _kwdb_info() -> tuple[ServerInfo, list[Database]]:
    info = ServerInfo(
        kind="kwdb", version="2.2.0",
        version_string="KaiwuDB 2.2.0 (x86_64-linux-gnu, built 2025/03/01 08:00:00, go1.16.15)",
        deployment="multi-replica cluster", database="defaultdb", user="root", nodes=3, replicas=3,
    )
    dbs = [
        Database("defaultdb", RELATIONAL),
        Database("rdb", RELATIONAL, comment="smart meter master data"),
        Database("tsdb", TIME_SERIES, comment="meter readings"),
        Database("system", RELATIONAL),
    ]
    return info, dbs


class _MainSnapshotApp(KwtuiApp):
    async def open_initial(self) -> None:
        info, dbs = _kwdb_info()
        self.push_screen(WelcomeScreen())
        self.push_screen(BrowseScreen(None, info, dbs, "prod-kwdb (10.0.0.5:26257/defaultdb)"))


def _store(tmp: Path) -> ProfileStore:
    store = ProfileStore(tmp / "profiles.toml")
    store.save(Profile(name="prod-kwdb", host="10.0.0.5", port=26257, user="root", dbname="defaultdb"))
    store.save(Profile(name="source-pg", host="pg.internal", port=5432, user="migrator", dbname="shop"))
    return store


def test_snapshot_welcome(snap_compare, tmp_path: Path) -> None:
    """The first screen at 80x24: what kwtui does in three lines, the five choices with their keys, and a footer that starts with F1 Help and ^q Quit."""
    assert snap_compare(KwtuiApp(store=_store(tmp_path)), terminal_size=SIZE)


def test_snapshot_connect(snap_compare, tmp_path: Path) -> None:
    """p opens the connect screen on the saved profiles: the highlighted profile fills the form (no password field content: "this session only; never saved"), TLS and KWDB certs fields, and the form keys in the footer."""
    async def run_before(pilot: Pilot) -> None:
        await pilot.press("p")
        await pilot.pause()

    assert snap_compare(KwtuiApp(store=_store(tmp_path)), terminal_size=SIZE, run_before=run_before)


def test_snapshot_main(snap_compare, tmp_path: Path) -> None:
    """Browse on a (recorded) KWDB multi-replica cluster: the header says kind, version and deployment; relational and TS databases are marked; nothing selected says what to do."""
    assert snap_compare(_MainSnapshotApp(store=_store(tmp_path)), terminal_size=SIZE)


def test_snapshot_error_modal(snap_compare, tmp_path: Path) -> None:
    """The one error modal: a title, the message in one line and the server's own words under it."""
    from kwtui.errors import ConnectError

    async def run_before(pilot: Pilot) -> None:
        pilot.app.show_error(  # type: ignore[attr-defined]
            "Cannot connect",
            ConnectError("wrong password for user migrator at pg.internal:5432/shop",
                         detail='connection failed: FATAL:  password authentication failed for user "migrator"'),
        )
        await pilot.pause()

    assert snap_compare(KwtuiApp(store=_store(tmp_path)), terminal_size=SIZE, run_before=run_before)


def test_snapshot_help(snap_compare, tmp_path: Path) -> None:
    """F1 on browse lists every key of the screen with its action (the ones the 80-column footer leaves out too)."""
    assert snap_compare(_MainSnapshotApp(store=_store(tmp_path)), terminal_size=SIZE, press=["f1"])


def test_snapshot_new_migration(snap_compare, tmp_path: Path) -> None:
    """n opens the new-migration wizard from the welcome screen: the form's fields and F5 to make the plan."""
    assert snap_compare(KwtuiApp(store=_store(tmp_path)), terminal_size=SIZE, press=["n"])


@pytest.mark.parametrize("size", [(120, 40)])
def test_snapshot_main_large(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    """Browse at 120x40: the same screen uses the room (tree and details side by side, nothing cut)."""
    assert snap_compare(_MainSnapshotApp(store=_store(tmp_path)), terminal_size=size)
