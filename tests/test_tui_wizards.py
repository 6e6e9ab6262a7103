"""The export and import wizards against the real server: run_test walks and 80x24 snapshots.

Paths are relative to a working directory inside tmp_path (so nothing random is in view),
elapsed times and rates are fixed by monkeypatching their formatters.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, RadioButton, Select, Static, TextArea, Tree

from kwtui import fmt
from kwtui.connection import ConnectionService, ConnectTarget
from kwtui.explorer import Explorer
from kwtui.profiles import ProfileStore
from kwtui.screens import wizard as wizard_module
from kwtui.screens.app import KwtuiApp
from kwtui.screens.browse import BrowseScreen
from kwtui.screens.export_wizard import ExportWizard
from kwtui.screens.import_wizard import ImportWizard
from kwtui.screens.modals import HelpScreen
from kwtui.screens.welcome import WelcomeScreen

from .conftest import PgServer
from .tui_helpers import wait_for

SMALL = (80, 24)
WIZ_DB = "kwtui_wizdb"

WIZ_SQL = """
CREATE TABLE public.items (
    id integer PRIMARY KEY,
    name text NOT NULL,
    price numeric(8,2),
    note text
);
INSERT INTO public.items
SELECT g, 'item ' || g, g * 1.5, CASE WHEN g % 3 = 0 THEN NULL WHEN g % 3 = 1 THEN '' ELSE 'a, "b"' END
FROM generate_series(1, 40) g;
CREATE TABLE public.people (id integer PRIMARY KEY, name text NOT NULL, born date, note text);
ANALYZE;
"""

#: a plain CSV with a header line and 2 bad lines (an id that is no number, a date that is no date)
PEOPLE_CSV = (
    "id,name,born,note\n"
    "1,Ann,1990-01-02,hello\n"
    "2,Bob,1985-05-06,\n"
    '3,"Cy, Jr",1970-07-08,"say ""hi"""\n'
    "x,Dee,2000-01-01,bad id\n"
    "5,Eve,not-a-date,bad date\n"
    "6,Fay,1999-09-09,ok\n"
    "7,Gus,1960-12-31,\n"
    "8,Hal,1975-03-04,last\n"
)


@pytest.fixture(scope="module")
def wizdb(pg_server: PgServer) -> Iterator[str]:
    """A database with a fixed name and content, so snapshots are the same on every run."""
    with psycopg.connect(pg_server.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(WIZ_DB)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(WIZ_DB)))
    with psycopg.connect(pg_server.conninfo(WIZ_DB), autocommit=True) as conn:
        conn.execute(WIZ_SQL)  # type: ignore[arg-type]
    yield pg_server.uri(WIZ_DB)
    with psycopg.connect(pg_server.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(WIZ_DB)))


def run_sql(uri: str, query: str) -> list[tuple]:
    with psycopg.connect(uri, autocommit=True) as conn:
        cur = conn.execute(query)  # type: ignore[call-overload]
        return cur.fetchall() if cur.description else []


@pytest.fixture(autouse=True)
def fixed_view(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No clock, no rates, no random directory names in view: work inside tmp_path/work."""
    monkeypatch.setattr(fmt, "ms", lambda seconds: "7 ms")
    monkeypatch.setattr(wizard_module, "rate_text", lambda event: "1,000 rows/s · 1.0 MB/s")
    monkeypatch.setattr(wizard_module, "eta_text", lambda seconds: "ETA 1 s")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def empty_people(wizdb: str) -> str:
    # kwtui_journal: a journaled import's checkpoints on the target (wizard imports are jobs)
    run_sql(wizdb, "TRUNCATE public.people; DROP SCHEMA IF EXISTS restored CASCADE; DROP SCHEMA IF EXISTS copy CASCADE;"
                   " DROP SCHEMA IF EXISTS kwtui_journal CASCADE")
    return wizdb


class WizApp(KwtuiApp):
    """The browse screen on the wizard database only; optionally a wizard opened on top."""

    def __init__(self, uri: str, *, wizard: str | None = None, table: str | None = "items", **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.uri = uri
        self.wizard = wizard
        self.table_name = table

    async def open_initial(self) -> None:
        svc = ConnectionService(ConnectTarget.from_dsn(self.uri))
        await svc.connect()
        assert svc.info is not None
        svc.info = replace(svc.info, version="18", version_string="PostgreSQL 18")
        self.service = svc
        self.explorer = Explorer(svc)
        dbs = [replace(d, size_bytes=None) for d in await svc.list_databases() if d.name == WIZ_DB]
        self.push_screen(WelcomeScreen())
        self.push_screen(BrowseScreen(self.explorer, svc.info, dbs, f"wizards (127.0.0.1/{WIZ_DB})"))
        tables = {t.name: t for t in await self.explorer.tables(WIZ_DB, "public")}
        table = tables.get(self.table_name) if self.table_name else None
        if self.wizard == "export":
            self.push_screen(ExportWizard(WIZ_DB, table))
        elif self.wizard == "import":
            self.push_screen(ImportWizard(WIZ_DB, table))






async def opened(pilot: Pilot, kind: type) -> None:
    """Wait until a wizard of ``kind`` is on top and composed."""
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, kind) and bool(pilot.app.screen.query("#wizard-steps")))
    await pilot.pause()


def text_of(app: KwtuiApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def step(app: KwtuiApp) -> str:
    screen = app.screen
    assert isinstance(screen, ExportWizard | ImportWizard), screen
    return screen.step_name


async def go(pilot: Pilot, name: str) -> None:
    """Next, and wait until the wizard shows step ``name``."""
    await pilot.press("ctrl+n")
    await wait_for(pilot, lambda: step(pilot.app) == name)  # type: ignore[arg-type]
    await pilot.pause()


async def wait_finished(pilot: Pilot) -> None:
    await wait_for(pilot, lambda: getattr(pilot.app.screen, "finished", False), timeout=30)
    await pilot.pause()


async def select_table(pilot: Pilot, app: KwtuiApp, name: str) -> None:
    tree = app.screen.query_one("#db-tree", Tree)

    def find():  # type: ignore[no-untyped-def]
        for line in range(tree.last_line + 1):
            node = tree.get_node_at_line(line)
            if node is not None and node.data is not None and node.data.table is not None \
                    and node.data.table.name == name:
                return node
        return None

    await wait_for(pilot, lambda: find() is not None)
    tree.move_cursor(find())
    tree.focus()
    await pilot.pause()


def set_input(app: KwtuiApp, ident: str, value: str) -> None:
    app.screen.query_one(f"#{ident}", Input).value = value


# -- walks -----------------------------------------------------------------------------------


async def test_export_table_then_import_it_back(empty_people: str, fixed_view: Path, profiles_path: Path) -> None:
    """F6 exports the table under the cursor (streamed); F7 loads that directory into a new table."""
    app = WizApp(empty_people, store=ProfileStore(profiles_path))
    async with app.run_test(size=SMALL) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen))
        await select_table(pilot, app, "items")
        await pilot.press("f6")
        await opened(pilot, ExportWizard)
        assert app.screen.query_one("#f-table", Input).value == "public.items"
        await wait_for(pilot, lambda: "~40 rows" in text_of(app, "#what-summary"))
        await go(pilot, "path")
        await go(pilot, "options")
        await go(pilot, "dest")
        assert app.screen.query_one("#f-dest", Input).value == "export/items"
        set_input(app, "f-dest", "out/items")
        await go(pilot, "preview")
        plan = app.screen.query_one("#preview-text", TextArea).text
        assert "Export public.items (database kwtui_wizdb) into out/items/" in plan
        assert "meta.sql" in plan and "n1.0.csv" in plan
        await go(pilot, "run")
        await wait_finished(pilot)
        result = text_of(app, "#run-result")
        assert "public.items: 40 rows, 1 data file(s)" in result and "out/items/" in result
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen))

        out = fixed_view / "out" / "items"
        assert sorted(p.name for p in out.iterdir()) == ["kwtui.manifest.json", "meta.sql", "n1.0.csv"]
        assert len((out / "n1.0.csv").read_bytes().splitlines()) == 40
        assert "CREATE TABLE items" in (out / "meta.sql").read_text()

        # import the export back: create the table from meta.sql in another schema
        await pilot.press("f7")
        await opened(pilot, ImportWizard)
        set_input(app, "f-source", "out/items")
        await go(pilot, "layout")
        assert "A table export of items" in text_of(app, "#layout-summary")
        grid = app.screen.query_one("#sample-table", DataTable)
        await wait_for(pilot, lambda: grid.row_count == 5)
        assert [str(c.label) for c in grid.columns.values()] == ["line", "id", "name", "price", "note"]
        await go(pilot, "target")
        assert app.screen.query_one("#target-create", RadioButton).value  # a table export: create by default
        set_input(app, "f-create-schema", "restored")
        await pilot.pause()
        assert "creates restored.items from meta.sql" in text_of(app, "#create-note")
        await go(pilot, "options")
        await go(pilot, "preview")
        assert "creates restored.items" in app.screen.query_one("#preview-text", TextArea).text
        await go(pilot, "run")
        await wait_finished(pilot)
        result = text_of(app, "#run-result")
        assert "restored.items: 40 rows from 1 file(s)" in result and "created" in result
        assert "rejected" not in result
    assert run_sql(empty_people, "SELECT count(*) FROM restored.items") == [(40,)]
    # NULL and the empty string came back apart, quotes and commas intact
    same = run_sql(empty_people, "SELECT count(*) FROM public.items i JOIN restored.items r USING (id) "
                                 "WHERE i.name = r.name AND i.price = r.price AND i.note IS NOT DISTINCT FROM r.note")
    assert same == [(40,)]


async def test_wizard_runs_are_journaled_jobs_on_the_jobs_screen(empty_people: str, fixed_view: Path,
                                                                 profiles_path: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 13: wizard runs of export and import were not jobs. Now each runs the CLI's request through
    the same core function: a journaled job that the jobs screen (F8) lists with its rows; the import
    is resumable as the CLI's is (an import job of the journal)."""
    from kwtui.jobs import COMPLETED, Journal
    from kwtui.screens.jobs import JobsScreen

    monkeypatch.setenv("KWTUI_JOURNAL", str(tmp_path / "jobs.db"))
    app = WizApp(empty_people, wizard="export", store=ProfileStore(profiles_path))
    async with app.run_test(size=SMALL) as pilot:
        await opened(pilot, ExportWizard)
        for name in ("path", "options", "dest"):
            await go(pilot, name)
        set_input(app, "f-dest", "out/items")
        await go(pilot, "preview")
        await go(pilot, "run")
        await wait_finished(pilot)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen))
        await pilot.press("f7")
        await opened(pilot, ImportWizard)
        set_input(app, "f-source", "out/items")
        await go(pilot, "layout")
        await go(pilot, "target")
        set_input(app, "f-create-schema", "copy")
        await go(pilot, "options")
        await go(pilot, "preview")
        await go(pilot, "run")
        await wait_finished(pilot)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen))
        await pilot.press("f8")
        await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen))
        table = app.screen.query_one("#jobs-table", DataTable)
        await wait_for(pilot, lambda: table.row_count == 2)
        assert [str(table.get_row_at(i)[2]) for i in range(2)] == ["import", "export"]
        assert [str(table.get_row_at(i)[3]) for i in range(2)] == ["40", "40"]
    jobs = Journal(tmp_path / "jobs.db").jobs()
    assert [(j.kind, j.status, j.rows) for j in jobs] == [("import", COMPLETED, 40), ("export", COMPLETED, 40)]
    assert jobs[1].objects == ["public.items"] and jobs[1].target["label"].endswith("out/items")


async def test_export_and_import_a_database_tree(empty_people: str, fixed_view: Path,
                                                  profiles_path: Path) -> None:
    app = WizApp(empty_people, wizard="export", table=None, store=ProfileStore(profiles_path))
    async with app.run_test(size=SMALL) as pilot:
        await opened(pilot, ExportWizard)
        assert app.screen.query_one("#what-database", RadioButton).value  # no table under the cursor
        await wait_for(pilot, lambda: "kwtui_wizdb: 2 table(s), ~40 rows" in text_of(app, "#what-summary"))
        await go(pilot, "path")
        await go(pilot, "options")
        await go(pilot, "dest")
        assert app.screen.query_one("#f-dest", Input).value == "export/kwtui_wizdb"
        await go(pilot, "preview")
        plan = app.screen.query_one("#preview-text", TextArea).text
        assert "public/items/" in plan and "public/people/" in plan
        await go(pilot, "run")
        await wait_finished(pilot)
        assert "2 tables, 40 rows" in text_of(app, "#run-result")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen))
        app.push_screen(ImportWizard(WIZ_DB))
        await opened(pilot, ImportWizard)
        set_input(app, "f-source", "export/kwtui_wizdb")
        await go(pilot, "layout")
        assert "A database export of kwtui_wizdb (relational): 2 table(s)" in text_of(app, "#layout-summary")
        assert app.screen.query_one("#sample-table", DataTable).row_count == 2
        await go(pilot, "target")
        assert app.screen.query_one("#target-database", RadioButton).value
        assert app.screen.query_one("#target-into", RadioButton).disabled
        # the tables exist already in public: said; their rows are handled as 'if it holds rows' says
        await pilot.pause()
        assert "exist already: public.items, public.people" in text_of(app, "#database-note")
        assert app.screen.query_one("#f-if-exists", Select).value == "fail"
        set_input(app, "f-db-schema", "copy")
        await pilot.pause()
        assert "creates 2 table(s): copy.items, copy.people" in text_of(app, "#database-note")
        await go(pilot, "options")
        await go(pilot, "preview")
        await go(pilot, "run")
        await wait_finished(pilot)
        result = text_of(app, "#run-result")
        assert "copy.items: 40 rows" in result and "copy.people: 0 rows" in result
    assert run_sql(empty_people, "SELECT count(*) FROM copy.items") == [(40,)]


async def test_import_csv_with_two_bad_lines(empty_people: str, fixed_view: Path, profiles_path: Path) -> None:
    (fixed_view / "people.csv").write_text(PEOPLE_CSV)
    app = WizApp(empty_people, wizard="import", table=None, store=ProfileStore(profiles_path))
    async with app.run_test(size=SMALL) as pilot:
        await opened(pilot, ImportWizard)
        set_input(app, "f-source", "people.csv")
        await go(pilot, "layout")
        grid = app.screen.query_one("#sample-table", DataTable)
        # the header line is recognised: skipped, its names head the columns
        await wait_for(pilot, lambda: grid.row_count == 5 and len(grid.columns) == 5
                       and str(list(grid.columns.values())[1].label) == "id")
        assert str(grid.get_row_at(0)[2]) == "Ann" and str(grid.get_row_at(2)[2]) == "Cy, Jr"
        assert str(grid.get_row_at(2)[4]) == 'say "hi"'
        # the dialect is parsed again live: with ';' every line is one field
        set_input(app, "f-delimiter", ";")
        await wait_for(pilot, lambda: len(grid.columns) == 2)
        set_input(app, "f-delimiter", "ab")
        await wait_for(pilot, lambda: "exactly one character" in text_of(app, "#dialect-error"))
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert step(app) == "layout"
        set_input(app, "f-delimiter", ",")
        await wait_for(pilot, lambda: len(grid.columns) == 5)
        await go(pilot, "target")
        assert app.screen.query_one("#target-into", RadioButton).value
        select = app.screen.query_one("#f-table", Select)
        await wait_for(pilot, lambda: "public.people" in [v for _, v in select._options])
        select.value = "public.people"
        await wait_for(pilot, lambda: "✓" in text_of(app, "#columns-check"))
        assert app.screen.query_one("#f-columns", Input).value == "id, name, born, note"
        # a wrong column list is refused with the reason
        set_input(app, "f-columns", "id, name, birthday")
        await pilot.pause()
        check = text_of(app, "#columns-check")
        assert "not a column of public.people: birthday" in check and "4 fields a line, 3 columns" in check
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert step(app) == "target"
        set_input(app, "f-columns", "id, name, born, note")
        await go(pilot, "options")
        await go(pilot, "preview")
        plan = app.screen.query_one("#preview-text", TextArea).text
        assert "into public.people (id, name, born, note)" in plan and "header line skipped" in plan
        await go(pilot, "run")
        await wait_finished(pilot)
        result = text_of(app, "#run-result")
        assert "public.people: 6 rows from 1 file(s)" in result
        assert "2 rejected" in result and "reject.n1.0.txt" in result
        assert "2 rejected" in text_of(app, "#wizard-status")
    assert run_sql(empty_people, "SELECT count(*) FROM public.people") == [(6,)]
    rejects = (fixed_view / "reject.n1.0.txt").read_text()
    assert "people.csv:5:" in rejects and "people.csv:6:" in rejects


async def test_invalid_delimiter_is_shown_inline_and_next_refused(wizdb: str, profiles_path: Path) -> None:
    app = WizApp(wizdb, wizard="export", store=ProfileStore(profiles_path))
    async with app.run_test(size=SMALL) as pilot:
        await opened(pilot, ExportWizard)
        await go(pilot, "path")
        await go(pilot, "options")
        set_input(app, "f-delimiter", "ab")
        await pilot.pause()
        row_help = str(app.screen.query_one("#row-delimiter .field-help", Static).render())
        assert "delimiter must be exactly one character" in row_help
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert step(app) == "options"
        assert "exactly one character" in text_of(app, "#wizard-status")
        # two fields that clash: the error goes beside the one just changed
        set_input(app, "f-delimiter", "'")
        set_input(app, "f-enclosed", "'")
        await pilot.pause()
        assert "cannot be the same" in str(app.screen.query_one("#row-enclosed .field-help", Static).render())
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert step(app) == "options"
        set_input(app, "f-enclosed", '"')
        await go(pilot, "dest")


async def test_native_on_postgres_previews_but_does_not_run(wizdb: str, profiles_path: Path) -> None:
    app = WizApp(wizdb, wizard="export", store=ProfileStore(profiles_path))
    async with app.run_test(size=SMALL) as pilot:
        await opened(pilot, ExportWizard)
        await go(pilot, "path")
        assert "needs a KWDB server" in text_of(app, "#path-availability")
        app.screen.query_one("#path-native", RadioButton).value = True
        await pilot.pause()
        await go(pilot, "options")
        set_input(app, "f-nullas", "x")  # KWDB's EXPORT takes only its NULL markers
        await pilot.pause()
        assert "nullas must be one of NULL" in str(app.screen.query_one("#row-nullas .field-help", Static).render())
        set_input(app, "f-nullas", "\\N")
        set_input(app, "f-chunk_rows", "5000")
        await go(pilot, "dest")
        assert app.screen.query_one("#f-dest", Input).value == "nodelocal://1/items"
        await go(pilot, "preview")
        statement = app.screen.query_one("#preview-text", TextArea).text
        assert statement.startswith('EXPORT INTO CSV "nodelocal://1/items"\n  FROM TABLE kwtui_wizdb.public.items')
        assert "chunk_rows = '5000'" in statement and "nullas = '\\N'" in statement
        assert "needs a KWDB server" in text_of(app, "#preview-note")
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert step(app) == "preview" and not app.screen.running
        assert "cannot run here" in text_of(app, "#wizard-status")


async def test_import_native_statement_and_header_rule(empty_people: str, fixed_view: Path,
                                                       profiles_path: Path) -> None:
    (fixed_view / "people.csv").write_text(PEOPLE_CSV)
    app = WizApp(empty_people, wizard="import", table="people", store=ProfileStore(profiles_path))
    async with app.run_test(size=SMALL) as pilot:
        await opened(pilot, ImportWizard)
        set_input(app, "f-source", "people.csv")
        await go(pilot, "layout")
        await wait_for(pilot, lambda: app.screen.query_one("#sample-table", DataTable).row_count == 5)
        await go(pilot, "target")
        await wait_for(pilot, lambda: "✓" in text_of(app, "#columns-check"))  # the table under the cursor
        await go(pilot, "options")
        app.screen.query_one("#import-native", RadioButton).value = True
        await pilot.pause()
        assert app.screen.query_one("#f-native-path", Input).value == "nodelocal://1/people.csv"
        await pilot.press("ctrl+n")  # KWDB's IMPORT has no header option: refused inline
        await pilot.pause()
        assert step(app) == "options"
        assert "cannot skip a header line" in str(
            app.screen.query_one("#row-native-path .field-help", Static).render())
        await pilot.press("ctrl+b", "ctrl+b")
        await wait_for(pilot, lambda: step(app) == "layout")
        app.screen.query_one("#f-header").value = False  # type: ignore[attr-defined]
        await pilot.pause()
        await go(pilot, "target")
        await go(pilot, "options")
        await go(pilot, "preview")
        statement = app.screen.query_one("#preview-text", TextArea).text
        assert statement.startswith("IMPORT INTO kwtui_wizdb.public.people (id, name, born, note)")
        assert '"nodelocal://1/people.csv"' in statement
        assert "needs a KWDB server" in text_of(app, "#preview-note")
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert step(app) == "preview"


async def test_keys_and_palette(wizdb: str, profiles_path: Path) -> None:
    app = WizApp(wizdb, store=ProfileStore(profiles_path))
    async with app.run_test(size=SMALL) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen))
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Export…", "Import…"} <= titles
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        keys = {str(app.screen.query_one(DataTable).get_row_at(i)[1])
                for i in range(app.screen.query_one(DataTable).row_count)}
        assert {"Export", "Import"} <= keys
        await pilot.press("escape")
        # the palette's Import… opens the wizard on the database under the cursor
        next(c for c in app.get_system_commands(app.screen) if c.title == "Import…").callback()
        await opened(pilot, ImportWizard)
        assert app.screen.database == WIZ_DB
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen))


# -- snapshots (80x24) -------------------------------------------------------------------------


def test_snapshot_export_options(snap_compare, wizdb: str, profiles_path: Path) -> None:
    """The picture proves: the export wizard's options step at 80x24 with a two-character delimiter refused
    beside the field (one character), every other option with its help."""
    async def run_before(pilot: Pilot) -> None:
        await opened(pilot, ExportWizard)
        await go(pilot, "path")
        await go(pilot, "options")
        set_input(pilot.app, "f-delimiter", "ab")  # type: ignore[arg-type]
        await pilot.pause()
        await pilot.pause(0.2)  # the help turned error settles its width (under load it was caught mid-way)

    assert snap_compare(WizApp(wizdb, wizard="export", store=ProfileStore(profiles_path)), terminal_size=SMALL,
                        run_before=run_before)


def test_snapshot_export_native_preview(snap_compare, wizdb: str, profiles_path: Path) -> None:
    """The picture proves: the native path's preview: the EXPORT statement KWDB would run (chunk_rows, delimiter
    '|', column_name), and that this PostgreSQL server cannot run it."""
    async def run_before(pilot: Pilot) -> None:
        await opened(pilot, ExportWizard)
        await go(pilot, "path")
        pilot.app.screen.query_one("#path-native", RadioButton).value = True
        await pilot.pause()
        await go(pilot, "options")
        set_input(pilot.app, "f-delimiter", "|")  # type: ignore[arg-type]
        set_input(pilot.app, "f-chunk_rows", "5000")  # type: ignore[arg-type]
        pilot.app.screen.query_one("#f-column_name").value = True  # type: ignore[attr-defined]
        await go(pilot, "dest")
        await go(pilot, "preview")

    assert snap_compare(WizApp(wizdb, wizard="export", store=ProfileStore(profiles_path)), terminal_size=SMALL,
                        run_before=run_before)


def test_snapshot_import_csv_preview(snap_compare, wizdb: str, fixed_view: Path, profiles_path: Path) -> None:
    """The picture proves: the import wizard's layout step: people.csv read as CSV with its dialect, the header
    line detected and skipped, the first 5 records with their line numbers."""
    (fixed_view / "people.csv").write_text(PEOPLE_CSV)

    async def run_before(pilot: Pilot) -> None:
        await opened(pilot, ImportWizard)
        set_input(pilot.app, "f-source", "people.csv")  # type: ignore[arg-type]
        await go(pilot, "layout")
        grid = pilot.app.screen.query_one("#sample-table", DataTable)
        await wait_for(pilot, lambda: grid.row_count == 5 and str(list(grid.columns.values())[1].label) == "id")
        await pilot.pause(0.2)

    assert snap_compare(WizApp(wizdb, wizard="import", table=None, store=ProfileStore(profiles_path)),
                        terminal_size=SMALL, run_before=run_before)


def test_snapshot_import_result_with_rejects(snap_compare, empty_people: str, fixed_view: Path,
                                             profiles_path: Path) -> None:
    """The picture proves: an import run's result: 6 rows loaded by COPY and the 2 bad lines in the reject file,
    records = rows + rejects."""
    (fixed_view / "people.csv").write_text(PEOPLE_CSV)

    async def run_before(pilot: Pilot) -> None:
        app = pilot.app
        await opened(pilot, ImportWizard)
        set_input(app, "f-source", "people.csv")  # type: ignore[arg-type]
        await go(pilot, "layout")
        await wait_for(pilot, lambda: app.screen.query_one("#sample-table", DataTable).row_count == 5)
        await go(pilot, "target")
        await wait_for(pilot, lambda: "✓" in text_of(app, "#columns-check"))  # type: ignore[arg-type]
        await go(pilot, "options")
        await go(pilot, "preview")
        await go(pilot, "run")
        await wait_finished(pilot)
        app.clear_notifications()
        await pilot.pause()

    assert snap_compare(WizApp(empty_people, wizard="import", table="people", store=ProfileStore(profiles_path)),
                        terminal_size=SMALL, run_before=run_before)


EXPORT_STEPS = {
    "what": "the first step on the table under the cursor: public.items with its ~40 rows, table or database",
    "path": "the two ways to export: streamed by kwtui (default) or KWDB's own EXPORT, each explained",
    "dest": "the destination directory proposed from the table's name (export/items), relative to the cwd",
    "preview": "the plan before anything runs: what is exported where, meta.sql and the CSV file names",
    "run": "the finished export: 40 rows, the data file and meta.sql in out/items/, Esc to close",
}


@pytest.mark.parametrize("name", list(EXPORT_STEPS))
def test_snapshot_export_wizard_step(snap_compare, empty_people: str, fixed_view: Path, profiles_path: Path,
                                     tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Each step of the export wizard at 80x24 with real content; what each picture proves is in
    EXPORT_STEPS (the options step is test_snapshot_export_options)."""
    monkeypatch.setenv("KWTUI_JOURNAL", str(tmp_path / "jobs.db"))

    async def run_before(pilot: Pilot) -> None:
        await opened(pilot, ExportWizard)
        await wait_for(pilot, lambda: "~40 rows" in text_of(pilot.app, "#what-summary"))  # type: ignore[arg-type]
        order = ["what", "path", "options", "dest", "preview", "run"]
        for later in order[1: order.index(name) + 1]:
            if later == "preview":
                set_input(pilot.app, "f-dest", "out/items")  # type: ignore[arg-type]
            await go(pilot, later)
        if name == "run":
            await wait_finished(pilot)
        await pilot.pause(0.2)

    assert snap_compare(WizApp(empty_people, wizard="export", store=ProfileStore(profiles_path)),
                        terminal_size=SMALL, run_before=run_before)


IMPORT_STEPS = {
    "target": "loading into the existing public.people: the file's columns matched to the table's (✓)",
    "options": "the import options: rows per batch, rejected lines allowed, the reject file, table handling",
    "preview": "the plan before anything runs: people.csv into public.people, header skipped, rejects kept",
}


@pytest.mark.parametrize("name", list(IMPORT_STEPS))
def test_snapshot_import_wizard_step(snap_compare, empty_people: str, fixed_view: Path, profiles_path: Path,
                                     name: str) -> None:
    """Each step of the import wizard at 80x24 with real content; what each picture proves is in
    IMPORT_STEPS (the layout step is test_snapshot_import_csv_preview, the run
    test_snapshot_import_result_with_rejects; the source step is test_snapshot_import_wizard_source_step)."""
    (fixed_view / "people.csv").write_text(PEOPLE_CSV)

    async def run_before(pilot: Pilot) -> None:
        app = pilot.app
        await opened(pilot, ImportWizard)
        set_input(app, "f-source", "people.csv")  # type: ignore[arg-type]
        await go(pilot, "layout")
        await wait_for(pilot, lambda: app.screen.query_one("#sample-table", DataTable).row_count == 5)
        await go(pilot, "target")
        await wait_for(pilot, lambda: "✓" in text_of(app, "#columns-check"))  # type: ignore[arg-type]
        if name in ("options", "preview"):
            await go(pilot, "options")
        if name == "preview":
            await go(pilot, "preview")
        await pilot.pause(0.2)

    assert snap_compare(WizApp(empty_people, wizard="import", table="people", store=ProfileStore(profiles_path)),
                        terminal_size=SMALL, run_before=run_before)


def test_snapshot_import_wizard_source_step(snap_compare, empty_people: str, profiles_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The import wizard's first step at 80x24: the file browser on the working directory (a fixed one,
    so its absolute path is the same on every run) with a CSV file and an export directory in it, the
    source field filled, the tree focused for picking, and the step list on the left."""
    import shutil

    work = Path("/tmp/kwtui-snapshot-import-source")
    shutil.rmtree(work, ignore_errors=True)
    (work / "exports" / "public" / "people").mkdir(parents=True)
    (work / "people.csv").write_text(PEOPLE_CSV)
    (work / "exports" / "public" / "people" / "n1.0.csv").write_text("1,Ann,1990-01-02,hello\n")
    monkeypatch.chdir(work)

    async def run_before(pilot: Pilot) -> None:
        from textual.widgets import DirectoryTree

        await opened(pilot, ImportWizard)
        tree = pilot.app.screen.query_one("#source-tree", DirectoryTree)
        await wait_for(pilot, lambda: len(tree.root.children) == 2)  # the directory is read in a worker
        set_input(pilot.app, "f-source", "people.csv")  # type: ignore[arg-type]
        # focus on the tree (Tab, as the hint says): a focused Input's cursor blinks every 0.5 s and
        # made the picture differ with the time the listing took
        tree.focus()
        await pilot.pause(0.3)

    try:
        assert snap_compare(WizApp(empty_people, wizard="import", table="people", store=ProfileStore(profiles_path)),
                            terminal_size=SMALL, run_before=run_before)
    finally:
        shutil.rmtree(work, ignore_errors=True)
