"""Browse and SQL console screens against the real server: run_test walks and snapshots."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, TextArea, Tree

from kwtui import fmt
from kwtui.connection import ConnectionService, ConnectTarget
from kwtui.explorer import Explorer
from kwtui.history import History
from kwtui.profiles import ProfileStore
from kwtui.screens.app import KwtuiApp
from kwtui.screens.browse import BrowseScreen
from kwtui.screens.cells import CellViewer
from kwtui.screens.console import ConsoleScreen
from kwtui.screens.modals import ConfirmModal, ErrorModal
from kwtui.screens.welcome import WelcomeScreen

from .conftest import PgServer
from .tui_helpers import wait_for

SMALL = (80, 24)
LARGE = (160, 48)
SNAP_DB = "kwtui_snapshop"

SNAP_SQL = """
CREATE SCHEMA sales;
CREATE TABLE public.items (
    id integer PRIMARY KEY,
    name text NOT NULL,
    price numeric(8,2),
    note text,
    created timestamptz NOT NULL DEFAULT '2024-01-01 00:00:00+00'
);
COMMENT ON TABLE public.items IS 'catalogue items';
CREATE INDEX items_name_idx ON public.items (name);
INSERT INTO public.items (id, name, price, note)
SELECT g, 'item ' || g, g * 1.5, CASE WHEN g % 3 = 0 THEN NULL WHEN g % 3 = 1 THEN '' ELSE 'a, "b"' END
FROM generate_series(1, 30) g;
CREATE TABLE sales.orders (id bigint PRIMARY KEY, item_id integer REFERENCES public.items(id), qty integer);
INSERT INTO sales.orders SELECT g, 1 + g % 30, g FROM generate_series(1, 500) g;
CREATE VIEW sales.big_orders AS SELECT * FROM sales.orders WHERE qty > 100;
ANALYZE;
"""


@pytest.fixture(scope="module")
def snapdb(pg_server: PgServer) -> Iterator[str]:
    """A database with a fixed name and content, so snapshots are the same on every run."""
    with psycopg.connect(pg_server.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(SNAP_DB)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(SNAP_DB)))
    with psycopg.connect(pg_server.conninfo(SNAP_DB), autocommit=True) as conn:
        conn.execute(SNAP_SQL)  # type: ignore[arg-type]
    yield pg_server.uri(SNAP_DB)
    with psycopg.connect(pg_server.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(SNAP_DB)))


@pytest.fixture(autouse=True)
def fixed_durations(monkeypatch: pytest.MonkeyPatch) -> None:
    """Elapsed times differ on every run: snapshots show a fixed one."""
    monkeypatch.setattr(fmt, "ms", lambda seconds: "7 ms")


class BrowseApp(KwtuiApp):
    """Opens the browse screen on the snapshot database only (no random test databases in view)."""

    def __init__(self, uri: str, *, console: bool = False, history: History | None = None, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.uri = uri
        self.open_console_first = console
        self.history = history

    async def open_initial(self) -> None:
        svc = ConnectionService(ConnectTarget.from_dsn(self.uri))
        await svc.connect()
        assert svc.info is not None
        self.service = svc
        self.explorer = Explorer(svc)
        dbs = [d for d in await svc.list_databases() if d.name == SNAP_DB]
        dbs = [replace(d, size_bytes=None) for d in dbs]
        info = replace(svc.info, version="18", version_string="PostgreSQL 18")
        self.push_screen(WelcomeScreen())
        self.push_screen(BrowseScreen(self.explorer, info, dbs, f"snapshot (127.0.0.1/{SNAP_DB})"))
        if self.open_console_first:
            console_svc = ConnectionService(ConnectTarget.from_dsn(self.uri))
            await console_svc.connect()
            self.push_screen(ConsoleScreen(console_svc, SNAP_DB, history=self.history))






def tree(app: KwtuiApp) -> Tree:
    return app.screen.query_one("#db-tree", Tree)


def node_names(app: KwtuiApp) -> list[str]:
    """Every visible node's name (schema or table), depth first."""
    out: list[str] = []

    def walk(node):  # type: ignore[no-untyped-def]
        for child in node.children:
            d = child.data
            if d is not None:
                out.append(d.table.name if d.table is not None else (d.schema or d.database))
            if child.is_expanded:
                walk(child)

    from textual.css.query import NoMatches

    try:
        root = tree(app).root
    except NoMatches:  # the screen is still being composed
        return out
    walk(root)
    return out


async def select_table(pilot: Pilot, app: KwtuiApp, name: str) -> None:
    await wait_for(pilot, lambda: name in node_names(app))
    t = tree(app)
    for line in range(t.last_line + 1):
        node = t.get_node_at_line(line)
        if node is not None and node.data is not None and node.data.table is not None and node.data.table.name == name:
            t.move_cursor(node)
            break
    await wait_for(pilot, lambda: app.screen.query_one("#columns-table", DataTable).row_count > 0)
    await wait_for(pilot, lambda: app.screen.query_one("#preview-table", DataTable).row_count > 0)


# -- browse -------------------------------------------------------------------------------


async def test_browse_tree_detail_preview_filter(snapdb: str, profiles_path: Path) -> None:
    app = BrowseApp(snapdb, store=ProfileStore(profiles_path))
    async with app.run_test(size=SMALL) as pilot:
        await wait_for(pilot, lambda: {"public", "sales", "items", "orders", "big_orders"} <= set(node_names(app)))
        await select_table(pilot, app, "items")
        cols = app.screen.query_one("#columns-table", DataTable)
        first = [str(cols.get_row_at(i)[0]) for i in range(cols.row_count)]
        assert first[:5] == ["id", "name", "price", "note", "created"]
        assert "index: items_name_idx" in first
        ddl = app.screen.query_one("#ddl-text", TextArea).text
        assert "CREATE TABLE public.items" in ddl and "items_name_idx" in ddl and "catalogue items" in ddl
        assert app.screen.query_one("#preview-table", DataTable).row_count == 30
        # type-to-filter: letters typed in the tree go to the filter
        tree(app).focus()
        await pilot.press("b", "i", "g")
        await pilot.pause()
        assert app.screen.query_one("#tree-filter", Input).value == "big"
        names = node_names(app)
        assert "big_orders" in names and "orders" not in names and "items" not in names
        await pilot.press("ctrl+a", "ctrl+k")  # clear the filter
        await wait_for(pilot, lambda: "items" in node_names(app))
        # refresh reloads the tree
        await pilot.press("enter")
        await pilot.press("f5")
        await wait_for(pilot, lambda: "items" in node_names(app))


async def test_browse_switches_database(snapdb: str, db: object, profiles_path: Path) -> None:
    """Another database of the server opens from the same tree (a second connection)."""
    db.execute("CREATE TABLE other_db_table (x int)")  # type: ignore[attr-defined]
    app = KwtuiApp(target=ConnectTarget.from_dsn(snapdb), store=ProfileStore(profiles_path))
    async with app.run_test(size=SMALL) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen))
        await wait_for(pilot, lambda: db.name in node_names(app))  # type: ignore[attr-defined]
        t = tree(app)
        node = next(n for n in t.root.children if n.data.database == db.name)  # type: ignore[attr-defined,union-attr]
        node.expand()
        await wait_for(pilot, lambda: "other_db_table" in node_names(app))
        assert app.explorer is not None and db.name in app.explorer._by_db  # type: ignore[attr-defined]


def test_snapshot_browse_small(snap_compare, snapdb: str, profiles_path: Path) -> None:
    """The picture proves: browse at 80x24 with a table (items) selected; the tree pane is as wide as
    its lines, so every table's row count and size shows; the details show each column's whole type
    (long index names end in "…", Enter opens a line whole); the footer starts with F1 Help and Quit."""
    async def run_before(pilot: Pilot) -> None:
        await select_table(pilot, pilot.app, "items")  # type: ignore[arg-type]
        tree(pilot.app).focus()  # type: ignore[arg-type]
        await pilot.pause()

    assert snap_compare(BrowseApp(snapdb, store=ProfileStore(profiles_path)), terminal_size=SMALL,
                        run_before=run_before)


def test_snapshot_browse_large(snap_compare, snapdb: str, profiles_path: Path) -> None:
    """The picture proves: browse at 160x48 with sales.orders selected and its Preview tab open: the first rows,
    numbers right-aligned, the tree with every count and size."""
    async def run_before(pilot: Pilot) -> None:
        await select_table(pilot, pilot.app, "orders")  # type: ignore[arg-type]
        tree(pilot.app).focus()  # type: ignore[arg-type]
        await pilot.press("f3", "f3")  # the preview tab
        await pilot.pause()

    assert snap_compare(BrowseApp(snapdb, store=ProfileStore(profiles_path)), terminal_size=LARGE,
                        run_before=run_before)


# -- console ------------------------------------------------------------------------------


async def _run(pilot: Pilot, text: str, key: str = "f5") -> None:
    editor = pilot.app.screen.query_one("#sql-editor", TextArea)
    editor.cursor_blink = False  # a blinking cursor made the console's snapshots depend on the moment taken
    editor.text = text
    editor.focus()
    await pilot.press(key)


def grid(app: KwtuiApp) -> DataTable:
    return app.screen.query_one("#result-grid", DataTable)


def status(app: KwtuiApp) -> str:
    return str(app.screen.query_one("#console-status").render())


async def test_console_read_mode_limit_and_refusals(snapdb: str, profiles_path: Path, tmp_path: Path) -> None:
    app = BrowseApp(snapdb, console=True, history=History(tmp_path / "h.jsonl"), store=ProfileStore(profiles_path))
    async with app.run_test(size=SMALL) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ConsoleScreen))
        await _run(pilot, "select * from items order by id")
        await wait_for(pilot, lambda: grid(app).row_count == 20)
        assert "LIMIT 20 added" in status(app)
        # a writable CTE is refused in read mode, nothing changes
        await _run(pilot, "with d as (delete from items returning *) select * from d")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal))
        assert "write" in app.screen.message.lower()
        await pilot.press("escape")
        # write mode asks first; "n" leaves the table as it is
        await pilot.press("ctrl+w")
        await _run(pilot, "delete from items where id = 1")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("n")
        await pilot.press("ctrl+w")  # back to read mode
        await _run(pilot, "select count(*) from items")
        await wait_for(pilot, lambda: grid(app).row_count == 1 and str(grid(app).get_row_at(0)[0]) == "30")
        # a SQL error shows the server's message and where it is
        await _run(pilot, "select nope from items")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal))
        assert 'column "nope" does not exist' in app.screen.message and "line 1" in app.screen.message
        await pilot.press("escape")
        # a message with brackets is shown as text (no markup error)
        await _run(pilot, "select [1")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal))
        assert 'syntax error at or near "["' in app.screen.message
        await pilot.press("escape")
        assert '"["' in status(app)
        # history keeps what ran
        entries = History(tmp_path / "h.jsonl").entries()
        assert any("count(*)" in e.sql for e in entries)


async def test_console_write_confirmed(snapdb: str, profiles_path: Path, tmp_path: Path) -> None:
    app = BrowseApp(snapdb, console=True, history=History(tmp_path / "h.jsonl"), store=ProfileStore(profiles_path))
    async with app.run_test(size=SMALL) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ConsoleScreen))
        await pilot.press("ctrl+w")
        await _run(pilot, "create table scratch (a int); insert into scratch values (1), (2)", key="f6")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        assert "CREATE TABLE" in app.screen.question and "INSERT" in app.screen.question
        await pilot.press("y")
        await wait_for(pilot, lambda: "INSERT 0 2" in status(app))
    with psycopg.connect(snapdb) as conn:
        assert conn.execute("select count(*) from scratch").fetchone() == (2,)
        conn.execute("drop table scratch")
        conn.commit()


async def test_console_streams_pages_cancel_and_csv(snapdb: str, profiles_path: Path, tmp_path: Path) -> None:
    app = BrowseApp(snapdb, console=True, history=History(tmp_path / "h.jsonl"), store=ProfileStore(profiles_path))
    async with app.run_test(size=SMALL) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ConsoleScreen))
        await pilot.press("ctrl+l")  # automatic LIMIT off: a 1,000,000-row result, read page by page
        await _run(pilot, "select g, md5(g::text) from generate_series(1, 1000000) g")
        await wait_for(pilot, lambda: grid(app).row_count == 500)
        g = grid(app)
        g.focus()
        g.move_cursor(row=490)
        await wait_for(pilot, lambda: grid(app).row_count == 1000)
        screen = app.screen
        assert isinstance(screen, ConsoleScreen) and screen.stream is not None and not screen.stream.done
        # copy a cell (OSC 52)
        g.move_cursor(row=3, column=0)
        await pilot.press("c")
        assert app.clipboard == "4"
        # a value that looks like markup is shown as it is, never interpreted
        await _run(pilot, "select '[red]x[/]' as v, '[/]' as w")
        await wait_for(pilot, lambda: grid(app).row_count == 1)
        assert str(grid(app).get_row_at(0)[0]) == "[red]x[/]"
        # save the whole result to CSV (the statement runs again, streamed)
        await pilot.press("ctrl+l")
        out = tmp_path / "out.csv"
        await _run(pilot, "select id, name, note from items order by id")
        await wait_for(pilot, lambda: grid(app).row_count == 20)
        await pilot.press("ctrl+s")
        await pilot.pause()
        box = app.screen.query_one("#csv-path", Input)
        box.value = str(out)
        await pilot.press("enter")
        await wait_for(pilot, lambda: "saved" in status(app))
        rows = list(csv.reader(out.open()))  # the whole result, not only the automatic LIMIT's 20 rows
        assert rows[0] == ["id", "name", "note"] and len(rows) == 31
        # cancel: the server-side statement stops
        await _run(pilot, "select pg_sleep(30)")
        await pilot.pause(0.5)
        await pilot.press("f9")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal), timeout=5)
        assert "canceling statement" in app.screen.message


def test_snapshot_console_small(snap_compare, snapdb: str, profiles_path: Path, tmp_path: Path) -> None:
    """The picture proves: the console at 80x24 in read mode: the query, LIMIT 20 added (said in the status
    line), NULL a dim ∅ apart from the empty string and the text 'a, "b"', numbers right-aligned."""
    async def run_before(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConsoleScreen))
        await _run(pilot, "select id, name, price, note from items order by id")
        await wait_for(pilot, lambda: grid(pilot.app).row_count == 20)  # type: ignore[arg-type]
        await pilot.pause()

    app = BrowseApp(snapdb, console=True, history=History(tmp_path / "h.jsonl"), store=ProfileStore(profiles_path))
    assert snap_compare(app, terminal_size=SMALL, run_before=run_before)


def test_snapshot_console_large(snap_compare, snapdb: str, profiles_path: Path, tmp_path: Path) -> None:
    """The picture proves: the console at 160x48: a three-line join, its 20 rows (LIMIT 20 added), numbers
    right-aligned."""
    async def run_before(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConsoleScreen))
        await _run(pilot, "select o.id, o.qty, i.name\nfrom sales.orders o join items i on i.id = o.item_id\norder by o.id")
        await wait_for(pilot, lambda: grid(pilot.app).row_count == 20)  # type: ignore[arg-type]
        await pilot.pause()

    app = BrowseApp(snapdb, console=True, history=History(tmp_path / "h.jsonl"), store=ProfileStore(profiles_path))
    assert snap_compare(app, terminal_size=LARGE, run_before=run_before)


# -- NULL is visibly NULL; the cell viewer ---------------------------------------------------------

NULLS_SQL = ("select NULL::text as missing, 'NULL' as text_null, 42 as n, "
             "'start ' || repeat('long value ', 30) || 'end' as long_text")


async def test_console_null_numbers_and_cell_viewer(snapdb: str, profiles_path: Path, tmp_path: Path) -> None:
    """Issue 13: NULL and the text 'NULL' looked the same, numbers were left-aligned, long cells could
    not be read. Now: a dim ∅, right-aligned numbers, Enter opens the whole value."""
    from rich.text import Text

    from kwtui.screens.cells import CellViewer

    app = BrowseApp(snapdb, console=True, history=History(tmp_path / "h.jsonl"), store=ProfileStore(profiles_path))
    async with app.run_test(size=SMALL) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ConsoleScreen))
        await _run(pilot, NULLS_SQL)
        await wait_for(pilot, lambda: grid(app).row_count == 1)
        missing, text_null, n, _long = grid(app).get_row_at(0)
        assert isinstance(missing, Text) and missing.plain == "∅" and "dim" in str(missing.style)
        assert isinstance(text_null, Text) and text_null.plain == "NULL" and "dim" not in str(text_null.style)
        assert isinstance(n, Text) and n.justify == "right"
        g = grid(app)
        g.focus()
        g.cursor_coordinate = g.cursor_coordinate._replace(row=0, column=3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CellViewer))
        viewer = app.screen
        assert isinstance(viewer, CellViewer) and viewer.value.endswith("end") and len(viewer.value) > 300
        await pilot.press("escape")
        g.cursor_coordinate = g.cursor_coordinate._replace(row=0, column=0)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CellViewer))
        assert "not the text 'NULL'" in str(app.screen.query_one("#cell-null").render())


async def test_preview_shows_null_apart_from_text(snapdb: str, profiles_path: Path) -> None:
    from rich.text import Text

    from kwtui.screens.cells import CellViewer

    app = BrowseApp(snapdb, store=ProfileStore(profiles_path))
    async with app.run_test(size=SMALL) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen))
        db = tree(app).root.children[0]
        db.expand()
        await wait_for(pilot, lambda: "public" in node_names(app))
        next(n for n in db.children if n.data is not None and n.data.schema == "public").expand()
        await select_table(pilot, app, "items")
        preview = app.screen.query_one("#preview-table", DataTable)
        notes = [preview.get_row_at(i)[3] for i in range(preview.row_count)]
        assert any(isinstance(c, Text) and c.plain == "∅" and "dim" in str(c.style) for c in notes)
        assert isinstance(preview.get_row_at(0)[0], Text) and preview.get_row_at(0)[0].justify == "right"
        from textual.widgets import TabbedContent

        app.screen.query_one("#table-tabs", TabbedContent).active = "preview"
        await pilot.pause()
        preview.focus()
        preview.cursor_coordinate = preview.cursor_coordinate._replace(row=2, column=3)  # id 3: NULL note
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CellViewer))
        assert app.screen.value is None  # type: ignore[attr-defined]


def test_snapshot_console_nulls_and_a_long_cell_open(snap_compare, snapdb: str, profiles_path: Path,
                                                     tmp_path: Path) -> None:
    """The picture proves: NULL is a dim ∅ beside the text NULL, 42 sits right-aligned, and the cell
    viewer shows the whole long value (wrapped) with its length and type, over the grid."""
    async def run_before(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConsoleScreen))
        await _run(pilot, NULLS_SQL)
        await wait_for(pilot, lambda: grid(pilot.app).row_count == 1)  # type: ignore[arg-type]
        g = grid(pilot.app)  # type: ignore[arg-type]
        g.focus()
        g.cursor_coordinate = g.cursor_coordinate._replace(row=0, column=3)
        await pilot.press("enter")
        await pilot.pause(0.2)

    app = BrowseApp(snapdb, console=True, history=History(tmp_path / "h.jsonl"), store=ProfileStore(profiles_path))
    assert snap_compare(app, terminal_size=SMALL, run_before=run_before)


async def test_console_runs_several_reads_one_after_another(snapdb: str, profiles_path: Path, tmp_path: Path) -> None:
    """Read mode's Run all (F6): each read guarded alone, the last result shown with a summary;
    the first statement read mode refuses is named and nothing after it runs."""
    app = BrowseApp(snapdb, console=True, history=History(tmp_path / "h.jsonl"), store=ProfileStore(profiles_path))
    async with app.run_test(size=SMALL) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ConsoleScreen))
        await _run(pilot, "select count(*) from items; select id from items where id < 4; select 1 as x", key="f6")
        await wait_for(pilot, lambda: "3 statements" in status(app))
        assert "#1 1 row, #2 3 rows" in status(app)
        assert [str(c.label) for c in grid(app).columns.values()] == ["x"] and grid(app).row_count == 1
        # a write among reads: refused before anything runs, the statement named
        await _run(pilot, "select 1; delete from items where id = 1; select 2", key="f6")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal))
        assert "statement 2 of 3 (delete from items where id = 1)" in app.screen.message
        await pilot.press("escape")
        # a read the server-side guard refuses (a volatile function): named, the run stops there
        await _run(pilot, "select 1; select pg_terminate_backend(0); select 3", key="f6")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal))
        assert "statement 2 of 3 (select pg_terminate_backend(0))" in app.screen.message
        await pilot.press("escape")
        # an SQL error in the third statement names it
        await _run(pilot, "select 1; select 2; select nope from items", key="f6")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal))
        assert "statement 3 of 3" in app.screen.message and "nope" in app.screen.message
        await pilot.press("escape")
    with psycopg.connect(snapdb) as conn:
        assert conn.execute("select count(*) from items where id = 1").fetchone() == (1,)
    entries = History(tmp_path / "h.jsonl").entries()
    assert any(e.status == "refused" and "delete from items" in e.sql for e in entries)


async def test_console_empty_result_keeps_its_headers(snapdb: str, profiles_path: Path, tmp_path: Path) -> None:
    """A query that returns no rows still shows its column headers."""
    app = BrowseApp(snapdb, console=True, history=History(tmp_path / "h.jsonl"), store=ProfileStore(profiles_path))
    async with app.run_test(size=SMALL) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ConsoleScreen))
        await _run(pilot, "select id, name from items where false")
        await wait_for(pilot, lambda: "rows in" in status(app) or "SELECT" in status(app))
        assert [str(c.label) for c in grid(app).columns.values()] == ["id", "name"]
        assert grid(app).row_count == 0


async def test_tree_shows_row_counts_and_sizes_and_a_columns_line_opens_in_full(snapdb: str,
                                                                               profiles_path: Path) -> None:
    """Issue 13: at 80x24 the tree cut the row counts and sizes, and the details cut types.

    The tree pane sizes to its widest line (at most half the screen), so every table's count and size
    is in view; Enter on a line of the details opens it whole (column, type, null, key, default)."""
    app = BrowseApp(snapdb, store=ProfileStore(profiles_path))
    async with app.run_test(size=SMALL) as pilot:
        await select_table(pilot, app, "orders")
        await pilot.pause(0.2)
        t = tree(app)
        assert t.virtual_size.width <= t.scrollable_content_region.width, "a tree line is cut"
        assert app.screen.query_one("#tree-pane").size.width <= SMALL[0] // 2
        cols = app.screen.query_one("#columns-table", DataTable)
        cols.focus()
        cols.move_cursor(row=0)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CellViewer))
        text = app.screen.query_one("#cell-text", TextArea).text
        assert "Column: id" in text and "Type: bigint" in text and "Key / tag: PK" in text
