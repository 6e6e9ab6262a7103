"""The validation screen against the embedded PostgreSQL: a run_test walk and snapshots."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Select

from kwtui.jobs import COMPLETED, JobTable, Journal
from kwtui.profiles import ProfileStore, add_profile_from_dsn
from kwtui.screens.app import KwtuiApp
from kwtui.screens.modals import ErrorModal
from kwtui.screens.validate import ReportPathModal, ValidationScreen
from kwtui.screens.welcome import WelcomeScreen

from .conftest import PgServer

SIZE = (80, 24)
SNAP_SRC, SNAP_DST = "kwtui_vsnap_src", "kwtui_vsnap_dst"

#: both sides start equal; THREE_DIFFS then changes one row, removes one and adds one in the target
BASE_SQL = """
CREATE TABLE public.accounts (id integer PRIMARY KEY, name text NOT NULL, balance numeric(10,2));
INSERT INTO public.accounts SELECT g, 'acct ' || g, g * 10.5 FROM generate_series(1, 40) g;
CREATE TABLE public.regions (code text PRIMARY KEY, label text);
INSERT INTO public.regions VALUES ('eu', 'Europe'), ('na', 'North America'), ('ap', 'Asia [Pacific]');
"""
THREE_DIFFS = """
UPDATE public.accounts SET name = '[red]acct 3[/]' WHERE id = 3;
DELETE FROM public.accounts WHERE id = 7;
INSERT INTO public.accounts VALUES (41, 'acct [41]', 430.50);
"""


def execute(uri: str, text: str) -> None:
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(text)  # type: ignore[arg-type]


async def wait_for(pilot: Pilot, predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out; screen is {pilot.app.screen!r} {getattr(pilot.app.screen, 'message', '')}")
        await pilot.pause(0.05)


@pytest.fixture
def journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Journal:
    monkeypatch.setenv("KWTUI_JOURNAL", str(tmp_path / "jobs.db"))
    return Journal(tmp_path / "jobs.db")


@pytest.fixture(scope="module")
def snap_dbs(pg_server: PgServer) -> Iterator[tuple[str, str]]:
    """Two databases with fixed names and content (so snapshots are the same on every run)."""
    with psycopg.connect(pg_server.conninfo(), autocommit=True) as conn:
        for name in (SNAP_SRC, SNAP_DST):
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    src, dst = pg_server.uri(SNAP_SRC), pg_server.uri(SNAP_DST)
    execute(src, BASE_SQL)
    execute(dst, BASE_SQL + THREE_DIFFS)
    yield src, dst
    with psycopg.connect(pg_server.conninfo(), autocommit=True) as conn:
        for name in (SNAP_SRC, SNAP_DST):
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def verdicts(app: KwtuiApp) -> DataTable:
    return app.screen.query_one("#v-verdicts", DataTable)


def diffs(app: KwtuiApp) -> DataTable:
    return app.screen.query_one("#v-diffs", DataTable)


def column(table: DataTable, index: int) -> list[str]:
    return [str(table.get_row_at(i)[index]) for i in range(table.row_count)]


async def type_into(pilot: Pilot, selector: str, text: str) -> None:
    pilot.app.screen.query_one(selector, Input).focus()
    await pilot.press(*text)


# -- the walk ---------------------------------------------------------------------------------


async def test_validate_walk_three_differences_drill_down_and_report(
        two_dbs: tuple[str, str], journal: Journal, profiles_path: Path, tmp_path: Path) -> None:
    src, dst = two_dbs
    execute(src, BASE_SQL)
    execute(dst, BASE_SQL + THREE_DIFFS)
    app = KwtuiApp(store=ProfileStore(profiles_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("v")  # welcome -> validation
        assert isinstance(app.screen, ValidationScreen)
        # nothing picked yet: a usage error, shown in the error modal
        await pilot.press("f5")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal))
        assert "source" in app.screen.message
        await pilot.press("escape")
        await type_into(pilot, "#v-source-uri", src)
        await type_into(pilot, "#v-target-uri", dst)
        await type_into(pilot, "#v-tables", "public.accounts")
        assert app.screen.query_one("#v-source-uri", Input).value == src
        await pilot.press("f5")
        await wait_for(pilot, lambda: verdicts(app).row_count == 1)
        row = [str(c) for c in verdicts(app).get_row_at(0)]
        assert row[:2] == ["public.accounts", "differs"]
        assert row[2:7] == ["40", "40", "1", "1", "1"]
        # select it: the drill-down shows the three keys with their kinds, side by side
        verdicts(app).focus()
        await pilot.press("enter")
        assert app.focused is diffs(app)
        keys = set(zip(column(diffs(app), 0), column(diffs(app), 1), strict=True))
        assert keys == {("id=3", "changed"), ("id=7", "missing in target"), ("id=41", "extra in target")}
        changed = next(diffs(app).get_row_at(i) for i in range(diffs(app).row_count)
                       if str(diffs(app).get_row_at(i)[0]) == "id=3")
        assert [str(c) for c in changed[2:]] == ["name", "acct 3", "[red]acct 3[/]"]  # brackets stay text
        # save the report: ctrl+s asks for a path (default validation-report.html)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, ReportPathModal))
        path_input = app.screen.query_one(Input)
        assert path_input.value == "validation-report.html"
        report = tmp_path / "out" / "report.html"
        path_input.value = str(report)
        await pilot.press("enter")
        await wait_for(pilot, lambda: report.exists())
        assert isinstance(app.screen, ValidationScreen)
    text = report.read_text(encoding="utf-8")
    assert "public.accounts" in text and "differs" in text
    for key in ("id=3", "id=7", "id=41"):
        assert key in text


async def test_validate_from_a_finished_job_fills_the_form(two_dbs: tuple[str, str], journal: Journal,
                                                           profiles_path: Path) -> None:
    src, dst = two_dbs
    execute(src, BASE_SQL)
    execute(dst, BASE_SQL)
    store = ProfileStore(profiles_path)
    add_profile_from_dsn(store, "the-source", src)
    from kwtui.connection import ConnectTarget
    from kwtui.transfer.resumable import _target_dict

    target = ConnectTarget.from_dsn(dst)
    tables = [JobTable("public.accounts", "public.accounts"), JobTable("public.regions", "public.regions")]
    job_id = journal.create("transfer", {"label": "the-source", "params": {}, "profile": "the-source"},
                            _target_dict(target), ["public.accounts", "public.regions"], {}, tables)
    for t in tables:
        journal.table_finished(job_id, t.name, COMPLETED)
    journal.finish(job_id, COMPLETED)
    journal.create("transfer", {"label": "other"}, {"label": "other"}, [], {}, [])  # queued: not offered
    app = KwtuiApp(store=store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("v")
        screen = app.screen
        assert isinstance(screen, ValidationScreen)
        await wait_for(pilot, lambda: bool(screen.finished_jobs))
        assert list(screen.finished_jobs) == [job_id]
        screen.query_one("#v-job", Select).value = job_id
        await pilot.pause()
        assert screen.query_one("#v-source-profile", Select).value == "the-source"
        assert "dbname=" in screen.query_one("#v-target-uri", Input).value
        assert screen.query_one("#v-tables", Input).value == "public.accounts, public.regions"
        await pilot.press("f5")
        await wait_for(pilot, lambda: verdicts(app).row_count == 2)
        assert column(verdicts(app), 1) == ["equal", "equal"]
        assert "equal" in str(screen.query_one("#v-notes").render())


# -- snapshots --------------------------------------------------------------------------------


class ValidateApp(KwtuiApp):
    """Opens the validation screen directly (profiles stand for the URIs, which carry a random port)."""

    async def open_initial(self) -> None:
        self.push_screen(WelcomeScreen())
        self.push_screen(ValidationScreen(self.store, self.journal))


def _snap_app(snap_dbs: tuple[str, str], profiles_path: Path) -> ValidateApp:
    store = ProfileStore(profiles_path)
    add_profile_from_dsn(store, "source-pg", snap_dbs[0])
    add_profile_from_dsn(store, "target-kwdb", snap_dbs[1])
    return ValidateApp(store=store)


async def _run_snapshot_validation(pilot: Pilot) -> None:
    screen = pilot.app.screen
    assert isinstance(screen, ValidationScreen)
    await wait_for(pilot, lambda: screen.profiles == ["source-pg", "target-kwdb"])
    screen.query_one("#v-source-profile", Select).value = "source-pg"
    screen.query_one("#v-target-profile", Select).value = "target-kwdb"
    await pilot.press("f5")
    await wait_for(pilot, lambda: verdicts(pilot.app).row_count == 2 and not screen.running)  # type: ignore[arg-type]
    await pilot.pause()


def test_snapshot_validate_differences(snap_compare, snap_dbs: tuple[str, str], journal: Journal,
                                       profiles_path: Path) -> None:
    """A validation with differences: one table equal, one differing with its changed / missing / extra counts."""
    assert snap_compare(_snap_app(snap_dbs, profiles_path), terminal_size=SIZE,
                        run_before=_run_snapshot_validation)


def test_snapshot_validate_drill_down(snap_compare, snap_dbs: tuple[str, str], journal: Journal,
                                      profiles_path: Path) -> None:
    """Enter on the differing table: each differing row by key and kind, source and target side by side; a value that looks like markup ("[red]acct 3[/]") shown as text."""
    async def run_before(pilot: Pilot) -> None:
        await _run_snapshot_validation(pilot)
        await pilot.press("enter")  # the differing table is under the cursor: its rows, focused
        await pilot.press("down", "down")  # the extra row
        await pilot.pause()

    assert snap_compare(_snap_app(snap_dbs, profiles_path), terminal_size=SIZE, run_before=run_before)


async def test_a_null_difference_is_visibly_null_and_opens_whole(two_dbs: tuple[str, str], journal: Journal,
                                                                profiles_path: Path) -> None:
    """Issue 13: a value that became NULL must not read as the text 'NULL'; Enter shows both values whole."""
    from rich.text import Text

    from kwtui.screens.cells import CellViewer

    src, dst = two_dbs
    execute(src, BASE_SQL + "UPDATE public.accounts SET name = 'NULL' WHERE id = 9;")
    execute(dst, BASE_SQL + "UPDATE public.accounts SET name = 'NULL' WHERE id = 9;"
                            "UPDATE public.accounts SET balance = NULL WHERE id = 5;")
    app = KwtuiApp(store=ProfileStore(profiles_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("v")
        await type_into(pilot, "#v-source-uri", src)
        await type_into(pilot, "#v-target-uri", dst)
        await type_into(pilot, "#v-tables", "public.accounts")
        await pilot.press("f5")
        await wait_for(pilot, lambda: verdicts(app).row_count == 1)
        verdicts(app).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: diffs(app).row_count == 1)
        key, _kind, col, source, target = diffs(app).get_row_at(0)
        assert str(key) == "id=5" and str(col) == "balance"
        assert isinstance(source, Text) and source.plain == "52.50" and source.justify == "right"
        assert isinstance(target, Text) and target.plain == "∅" and "dim" in str(target.style)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CellViewer))
        assert app.screen.value == "source:\n52.50\n\ntarget:\n∅ NULL (no value)"  # type: ignore[attr-defined]
