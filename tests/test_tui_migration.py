"""The new-migration wizard and the plan screen against the embedded PostgreSQL: a walk and snapshots."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from textual.coordinate import Coordinate
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, OptionList, Select, Static, Switch, TextArea

from kwtui import migration
from kwtui.connection import ConnectionService, ConnectTarget
from kwtui.migration import MigrationPlan, Requirements
from kwtui.profiles import ProfileStore, add_profile_from_dsn
from kwtui.screens.app import KwtuiApp
from kwtui.screens.migration_wizard import NewMigrationScreen
from kwtui.screens.modals import ErrorModal, HelpScreen, PathPrompt
from kwtui.screens.plan_screen import ChoiceModal, PlanScreen, TypeModal, short_reference
from kwtui.screens.welcome import WelcomeScreen
from kwtui.screens.wizard import FieldRow

from .conftest import PgServer, TestDb
from .tui_helpers import wait_for

SIZE = (80, 24)
SNAP_DB = "kwtui_msnap_src"

SOURCE_SQL = """
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int NOT NULL REFERENCES customers(id),
    amount numeric(10, 2), note text, updated_at timestamptz NOT NULL DEFAULT '2024-01-01');
INSERT INTO customers SELECT g, 'c' || g, '2024-01-01' FROM generate_series(1, 50) g;
INSERT INTO orders SELECT g, 1 + g % 50, g * 1.25, 'n' || g, '2024-01-01' FROM generate_series(1, 300) g;
CREATE TABLE readings (ts timestamptz NOT NULL, device_id int NOT NULL, site text NOT NULL, value float8,
    PRIMARY KEY (ts, device_id));
INSERT INTO readings SELECT timestamptz '2024-01-01' + (g / 10) * interval '1 minute', g % 10,
    'site ' || (g % 10 % 3), g * 0.5 FROM generate_series(1, 1000) g;
ANALYZE;
"""


def execute(uri: str, text: str) -> None:
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(text)  # type: ignore[arg-type]


@pytest.fixture
def source_db(db: TestDb) -> str:
    execute(db.uri, SOURCE_SQL)
    return db.uri


@pytest.fixture(scope="module")
def snap_db(pg_server: PgServer) -> Iterator[str]:
    """A source database with a fixed name and content (so snapshots are the same on every run)."""
    with psycopg.connect(pg_server.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(SNAP_DB)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(SNAP_DB)))
    uri = pg_server.uri(SNAP_DB)
    execute(uri, SOURCE_SQL)
    yield uri
    with psycopg.connect(pg_server.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(SNAP_DB)))


def table(app: KwtuiApp, ident: str) -> DataTable:
    return app.screen.query_one(ident, DataTable)


def cells(t: DataTable, column: int) -> list[str]:
    return [str(t.get_row_at(i)[column]) for i in range(t.row_count)]


def ddl(app: KwtuiApp) -> str:
    return app.screen.query_one("#pl-ddl", TextArea).text


async def highlight(pilot: Pilot, ident: str, name: str, column: int = 0) -> None:
    """Put the cursor of a DataTable on the row whose ``column`` reads ``name``."""
    t = table(pilot.app, ident)  # type: ignore[arg-type]
    t.cursor_coordinate = Coordinate(cells(t, column).index(name), 0)
    await pilot.pause()


async def choose(pilot: Pilot, label: str) -> None:
    """Pick ``label`` in the open ChoiceModal."""
    screen = pilot.app.screen
    assert isinstance(screen, ChoiceModal)
    options = screen.query_one(OptionList)
    options.highlighted = [lbl for lbl, _ in screen.choices].index(label)
    await pilot.press("enter")
    await pilot.pause()


async def set_type(pilot: Pilot, value: str) -> None:
    await pilot.press("e")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, TypeModal))
    pilot.app.screen.query_one(Input).value = value
    await pilot.press("enter")
    await pilot.pause()


# -- the walk ---------------------------------------------------------------------------------


async def test_wizard_makes_a_plan_then_edit_toggle_and_save(source_db: str, profiles_path: Path,
                                                             tmp_path: Path) -> None:
    app = KwtuiApp(store=ProfileStore(profiles_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n")  # welcome -> the wizard
        assert isinstance(app.screen, NewMigrationScreen)
        wizard = app.screen
        # nothing given: the source row says why, no modal, no traceback
        await pilot.press("f5")
        await pilot.pause()
        assert isinstance(app.screen, NewMigrationScreen)
        help_text = wizard.query_one("#mw-row-source .field-help", Static)
        assert help_text.has_class("-error") and "source" in str(help_text.render())
        assert "✗" in str(wizard.query_one("#mw-status", Static).render())
        # a URI, the target kind only (kwdb-ts), TS suggestions on, no ETA sample
        wizard.query_one("#mw-source-uri", Input).value = source_db
        await pilot.pause()
        assert not help_text.has_class("-error")
        wizard.query_one("#mw-target-kind", Select).value = "kwdb-ts"
        assert wizard.query_one("#mw-ts", Switch).value
        wizard.query_one("#mw-eta", Switch).value = False
        await pilot.pause()
        assert str(wizard.query_one("#mw-eta-text", Static).render()) == "no"
        await pilot.press("f5")
        await wait_for(pilot, lambda: isinstance(app.screen, PlanScreen))
        screen = app.screen
        assert isinstance(screen, PlanScreen)
        plan = screen.plan
        assert plan.requirements.source == source_db and plan.target_kind == "kwdb-ts"
        await pilot.pause()
        tables = table(app, "#pl-tables")
        assert sorted(cells(tables, 1)) == ["public.customers", "public.orders", "public.readings"]
        summary = str(screen.query_one("#pl-summary", Static).render())
        assert "kwdb-ts" in summary and "3/3 tables" in summary and "downtime minutes" in summary
        # the readings table is time-series: its mapping has the roles, its DDL the tags
        await highlight(pilot, "#pl-tables", "public.readings", 1)
        assert "public.readings TS" in cells(tables, 2)
        mapping = table(app, "#pl-mapping")
        roles = dict(zip(cells(mapping, 0), cells(mapping, 2), strict=True))
        assert roles == {"ts": "timestamp", "value": "column", "device_id": "primary tag", "site": "tag"}
        assert "value FLOAT8" in ddl(app) and "PRIMARY TAGS (device_id)" in ddl(app)
        # numeric becomes FLOAT8 on a TS table: lossy, and marked so
        await highlight(pilot, "#pl-tables", "public.orders", 1)
        amount = cells(table(app, "#pl-mapping"), 1)[cells(table(app, "#pl-mapping"), 0).index("amount")]
        assert amount == "⚠ FLOAT8"
        await highlight(pilot, "#pl-tables", "public.readings", 1)
        # e: a new target type, the DDL preview follows
        mapping.focus()
        await highlight(pilot, "#pl-mapping", "value")
        await set_type(pilot, "float4")
        assert isinstance(app.screen, PlanScreen)
        assert "value FLOAT4" in ddl(app) and "value FLOAT8" not in ddl(app)
        row = cells(table(app, "#pl-mapping"), 1)[cells(table(app, "#pl-mapping"), 0).index("value")]
        assert row == "✎ FLOAT4"
        # a type the plan refuses: said in the modal, which stays open
        await set_type(pilot, "float; drop table x")
        assert isinstance(app.screen, TypeModal)
        assert "does not look like a type" in str(app.screen.query_one("#pl-type-error", Static).render())
        await pilot.press("escape")
        assert isinstance(app.screen, PlanScreen)
        # t: site from tag to an ordinary column
        await highlight(pilot, "#pl-mapping", "site")
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, ChoiceModal))
        await choose(pilot, "column")
        mapping = table(app, "#pl-mapping")
        assert dict(zip(cells(mapping, 0), cells(mapping, 2), strict=True))["site"] == "column"
        assert "site" not in ddl(app).split("TAGS (")[1]
        assert cells(mapping, 0)[mapping.cursor_row] == "site"  # the cursor stays on the edited column
        # the primary tag cannot become a column: an error, not a traceback
        await highlight(pilot, "#pl-mapping", "device_id")
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, ChoiceModal))
        await choose(pilot, "column")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal))
        assert "primary tag" in app.screen.message
        await pilot.press("escape")
        # space: the orders table is left out
        await highlight(pilot, "#pl-tables", "public.orders", 1)
        await pilot.press("space")
        assert not plan.entry("public.orders").include
        assert cells(table(app, "#pl-tables"), 0)[cells(table(app, "#pl-tables"), 1).index("public.orders")] == "✗"
        assert "2/3 tables" in str(screen.query_one("#pl-summary", Static).render())
        # w: no watermark for the customers
        await highlight(pilot, "#pl-tables", "public.customers", 1)
        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(app.screen, ChoiceModal))
        await choose(pilot, "none: changes are not synced")
        assert plan.entry("public.customers").watermark == ""
        # ctrl+s: a path prompt (default in the plans directory), then the file
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, PathPrompt))
        assert app.screen.query_one(Input).value.endswith(".plan.toml")
        planfile = tmp_path / "out" / "shop.plan.toml"
        app.screen.query_one(Input).value = str(planfile)
        await pilot.press("enter")
        await wait_for(pilot, lambda: planfile.exists() and screen.path == planfile)
        # d: the DDL script beside it
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, PathPrompt))
        assert app.screen.query_one(Input).value.endswith("shop.ddl.sql")
        ddlfile = tmp_path / "out" / "shop.ddl.sql"
        app.screen.query_one(Input).value = str(ddlfile)
        await pilot.press("enter")
        await wait_for(pilot, lambda: ddlfile.exists())
        # the keys are in the help
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        helps = set(cells(app.screen.query_one(DataTable), 1))
        assert {"Type", "Role", "Include", "Watermark", "Save", "DDL", "Phases", "Back"} <= helps
        await pilot.press("escape")
        # saved: escape goes back to the wizard without asking
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, NewMigrationScreen))
    loaded = MigrationPlan.load(planfile)
    assert loaded.overrides == {"public.readings": {"value": "FLOAT4"}}
    assert "value FLOAT4" in loaded.entry("public.readings").create
    assert {m.name: m.role for m in loaded.mapping("public.readings")}["site"] == "column"
    assert not loaded.entry("public.orders").include and loaded.entry("public.customers").watermark == ""
    script = ddlfile.read_text()
    assert "value FLOAT4" in script and "CREATE TABLE public.orders" not in script


async def test_wizard_prefills_the_connection_without_password_and_checks_csv(
        source_db: str, pg_server: PgServer, profiles_path: Path, tmp_path: Path) -> None:
    app = KwtuiApp(store=ProfileStore(profiles_path))
    async with app.run_test(size=SIZE) as pilot:
        # connected (with a password in the DSN): the wizard starts from this source, minus the password
        target = ConnectTarget.from_dsn(source_db.replace("postgres@", "postgres:hunter2@"))
        app.service = ConnectionService(target)
        await pilot.press("n")
        wizard = app.screen
        assert isinstance(wizard, NewMigrationScreen)
        uri = wizard.query_one("#mw-source-uri", Input).value
        assert uri == source_db and "hunter2" not in uri
        # CSV files: a path instead of a profile; writes are off; a missing path is said inline
        wizard.query_one("#mw-source-kind", Select).value = "csv"
        await pilot.pause()
        assert not wizard.query_one("#mw-source-profile", Select).display
        assert not wizard.query_one("#mw-writes", Switch).value
        wizard.query_one("#mw-source-uri", Input).value = str(tmp_path / "nope")
        await pilot.press("f5")
        await pilot.pause()
        row = wizard.query_one("#mw-row-source", FieldRow)
        assert "no such file" in str(row.query_one(".field-help", Static).render())
        # a folder of CSV files, planned for the target kind only
        folder = tmp_path / "csv"
        folder.mkdir()
        (folder / "people.csv").write_text("id,name\n1,ann\n2,bob\n")
        wizard.query_one("#mw-source-uri", Input).value = str(folder)
        await pilot.press("f5")
        await wait_for(pilot, lambda: isinstance(app.screen, PlanScreen))
        plan = app.screen.plan  # type: ignore[attr-defined]
        assert plan.requirements.source_kind == "csv" and plan.entry("public.people").rows == 2
        # t is for time-series targets only: said, nothing changes
        await pilot.press("t")
        await pilot.pause()
        assert isinstance(app.screen, PlanScreen)
        app.service = None  # never connected: nothing to close


async def test_wizard_shows_a_connection_error_in_the_error_modal(pg_server: PgServer, profiles_path: Path) -> None:
    app = KwtuiApp(store=ProfileStore(profiles_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n")
        wizard = app.screen
        assert isinstance(wizard, NewMigrationScreen)
        wizard.query_one("#mw-source-uri", Input).value = pg_server.uri("kwtui_no_such_db")
        await pilot.press("f5")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal))
        assert "kwtui_no_such_db" in app.screen.message
        await pilot.press("escape")
        assert isinstance(app.screen, NewMigrationScreen) and not wizard.running


def test_short_reference() -> None:
    assert short_reference("postgresql://u@h:5432/shop?sslmode=require") == "shop"
    assert short_reference("host=/tmp dbname=meters user=u") == "meters"
    assert short_reference("/data/exports/shop") == "shop"
    assert short_reference("prod-kwdb") == "prod-kwdb"


# -- snapshots (80x24) ------------------------------------------------------------------------


class WizardApp(KwtuiApp):
    """Opens the new-migration wizard directly (a profile stands for the URI, which has a random port)."""

    async def open_initial(self) -> None:
        self.push_screen(WelcomeScreen())
        self.push_screen(NewMigrationScreen(self.store))


class PlanApp(KwtuiApp):
    def __init__(self, plan: MigrationPlan, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.plan = plan

    async def open_initial(self) -> None:
        self.push_screen(WelcomeScreen())
        self.push_screen(PlanScreen(self.plan))


def test_snapshot_new_migration_wizard(snap_compare, snap_db: str, profiles_path: Path) -> None:
    """The picture proves: the new-migration form at 80x24 with real choices (a saved source profile, KWDB
    time-series target, downtime seconds) and a wrong target URI said beside the field and on the F5 line."""
    store = ProfileStore(profiles_path)
    add_profile_from_dsn(store, "shop-pg", snap_db)

    async def run_before(pilot: Pilot) -> None:
        screen = pilot.app.screen
        assert isinstance(screen, NewMigrationScreen)
        await wait_for(pilot, lambda: screen.profiles == ["shop-pg"])
        screen.query_one("#mw-source-profile", Select).value = "shop-pg"
        screen.query_one("#mw-target-kind", Select).value = "kwdb-ts"
        screen.query_one("#mw-downtime", Select).value = "seconds"
        screen.query_one("#mw-eta", Switch).value = False
        screen.query_one("#mw-target-uri", Input).value = "not a uri = ="
        await pilot.press("f5")  # the target URI is wrong: said beside it
        await pilot.pause()

    assert snap_compare(WizardApp(store=store), terminal_size=SIZE, run_before=run_before)


def _snap_plan(uri: str) -> MigrationPlan:
    async def make() -> MigrationPlan:
        async with ConnectionService(ConnectTarget.from_dsn(uri)) as src:
            req = Requirements(source="shop-pg", target_kind="kwdb-ts", downtime="seconds")
            return await migration.plan_migration(req, src, None, eta=False)

    p = asyncio.run(make())
    for i, ta in enumerate(sorted(p.assessment.tables, key=lambda ta: ta.qualified)):
        ta.bytes = (i + 1) * 250_000  # sizes on disk vary with the server build; rows do not
    p.rebuild()  # the strategy's reasons quote the sizes
    return p


def test_snapshot_plan_screen(snap_compare, snap_db: str, profiles_path: Path) -> None:
    """The picture proves: a plan at 80x24 with the mapping of public.readings in focus: the tables
    list shrinks to the table being mapped so the mapping has the room, the edited type is marked ✎,
    the DDL beside it follows the edit (TIMESTAMPTZ first, tags, primary tags); the notes' first line says
    that refused objects block the run and which keys accept them (it was below the fold at 80x24)."""
    plan = _snap_plan(snap_db)

    async def run_before(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, PlanScreen))
        await highlight(pilot, "#pl-tables", "public.readings", 1)
        table(pilot.app, "#pl-mapping").focus()  # type: ignore[arg-type]
        await highlight(pilot, "#pl-mapping", "value")
        await set_type(pilot, "FLOAT4")  # edited: marked in the mapping, in the DDL
        await pilot.pause()

    assert snap_compare(PlanApp(plan, store=ProfileStore(profiles_path)), terminal_size=SIZE,
                        run_before=run_before)


async def test_plan_mapping_takes_the_room_at_80x24(db: TestDb, profiles_path: Path) -> None:
    """Issue 13: at 80x24 the plan screen showed 4 mapping rows. With the mapping in focus the tables
    list (to the table being mapped) and the notes shrink: a 14-column table shows 8 of its columns at once."""
    cols = ", ".join(f"c{i:02d} integer" for i in range(13))
    db.execute(f"CREATE TABLE wide (id integer PRIMARY KEY, {cols})")
    for i in range(5):
        db.execute(f"CREATE TABLE other{i} (id integer PRIMARY KEY, v text)")

    async def make() -> MigrationPlan:
        async with ConnectionService(ConnectTarget.from_dsn(db.uri)) as src:
            req = Requirements(source="pg", target_kind="kwdb", downtime="hours")
            return await migration.plan_migration(req, src, None, eta=False)

    plan = await make()
    app = PlanApp(plan, store=ProfileStore(profiles_path))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, PlanScreen))
        await highlight(pilot, "#pl-tables", "public.wide", 1)
        mapping = table(app, "#pl-mapping")
        mapping.focus()
        assert mapping.row_count == 14
        # rows in view, the header aside: the relayout on focus is awaited, not timed (a fixed 0.2 s pause
        # once caught it half-way in a loaded CI run: 4 rows)
        await wait_for(pilot, lambda: mapping.scrollable_content_region.height - 1 >= 8, timeout=5)
