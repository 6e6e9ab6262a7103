"""Attack from the console: the import wizard and the migration's phases into filled tables.

Before issue 16 neither screen asked: the import appended and the historical phase copied on
top of whatever the target held. Both now have a Select with the four words (fail, append,
truncate, replace); the default refuses, naming the table and its rows.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.widgets import Select, Static

from kwtui.cli import main
from kwtui.jobs import Journal
from kwtui.migration import DONE, FAILED, PENDING, MigrationPlan
from kwtui.profiles import ProfileStore
from kwtui.screens.import_wizard import ImportWizard
from kwtui.screens.modals import ErrorModal

from ..test_tui_phases import PhasesApp, make_plan, screen, states
from ..test_tui_wizards import (  # noqa: F401 (fixtures)
    WizApp,
    empty_people,
    fixed_view,
    go,
    opened,
    run_sql,
    set_input,
    text_of,
    wait_finished,
    wizdb,
)
from ..tui_helpers import wait_for

SMALL = (100, 34)
IF_EXISTS = ["fail", "append", "truncate", "replace"]


@pytest.fixture
def journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Journal:
    monkeypatch.setenv("KWTUI_JOURNAL", str(tmp_path / "jobs.db"))
    return Journal(tmp_path / "jobs.db")


async def _import_items(app: WizApp, word: str | None) -> None:
    async with app.run_test(size=SMALL) as pilot:
        await opened(pilot, ImportWizard)
        set_input(app, "f-source", "items_export")
        await go(pilot, "layout")
        await go(pilot, "target")
        select = app.screen.query_one("#f-if-exists", Select)
        assert [v for _label, v in select._options if v is not Select.BLANK] == IF_EXISTS
        assert select.value == "fail"
        if word is not None:
            select.value = word
        await pilot.pause()
        await go(pilot, "options")
        await go(pilot, "preview")
        await pilot.press("ctrl+n")  # run (a refusal may show before the run step is drawn)
        if word is None:
            await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal), timeout=30)
            message = str(app.screen.query_one("#error-message", Static).render())
            assert "public.items already holds 40 rows" in message, message
        else:
            await wait_finished(pilot)
            assert "public.items: 40 rows" in text_of(app, "#run-result")


async def test_import_wizard_refuses_a_filled_table_then_truncates(empty_people: str, fixed_view: Path,  # noqa: F811
                                                                   profiles_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    export = ["export", "--dsn", empty_people, "--table", "public.items", "--to", "items_export"]
    assert await asyncio.to_thread(main, export) == 0
    capsys.readouterr()
    # the export creates public.items again from meta.sql: it exists and holds its 40 rows
    await _import_items(WizApp(empty_people, wizard="import", table=None, store=ProfileStore(profiles_path)), None)
    assert run_sql(empty_people, "SELECT count(*) FROM public.items") == [(40,)]
    await _import_items(WizApp(empty_people, wizard="import", table=None, store=ProfileStore(profiles_path)),
                        "truncate")
    assert run_sql(empty_people, "SELECT count(*) FROM public.items") == [(40,)]


async def test_phases_screen_asks_what_to_do_with_a_filled_target(two_dbs: tuple[str, str], journal: Journal,
                                                                  profiles_path: Path, tmp_path: Path) -> None:
    src, dst = two_dbs
    import psycopg

    with psycopg.connect(src, autocommit=True) as c:
        c.execute("CREATE TABLE t (a int, v text); INSERT INTO t SELECT g, 'v' FROM generate_series(1, 30) g")
    with psycopg.connect(dst, autocommit=True) as c:
        c.execute("CREATE TABLE t (a int, v text); INSERT INTO t SELECT -g, 'old' FROM generate_series(1, 12) g")
    planfile = tmp_path / "p.toml"
    await make_plan(src, dst, planfile)
    app = PhasesApp(planfile, store=ProfileStore(profiles_path))
    async with app.run_test(size=(80, 24)) as pilot:
        assert states(app) == [PENDING] * 8
        select = app.screen.query_one("#ph-if-exists", Select)
        assert select.value == MigrationPlan.load(planfile).requirements.if_exists == "fail"
        await pilot.press("w")  # 0. preflight: t has no primary key (a warning), accepted
        await wait_for(pilot, lambda: states(app)[0] == DONE)
        await wait_for(pilot, lambda: screen(app).running_key is None)
        await pilot.press("enter")  # 1. schema: t exists, kept
        await wait_for(pilot, lambda: states(app)[1] == DONE)
        await wait_for(pilot, lambda: screen(app).running_key is None)
        await pilot.press("enter")  # 2. historical data: refused, t holds 12 rows
        await wait_for(pilot, lambda: states(app)[2] == FAILED, timeout=60)
        await wait_for(pilot, lambda: screen(app).running_key is None)
        if isinstance(app.screen, ErrorModal):  # a known failure offers its fix key; closed here
            await pilot.press("escape")
        assert "public.t already holds 12 rows" in screen(app).state.phase("historical").summary
        select.value = "truncate"
        await pilot.pause()
        app.screen.query_one("#ph-table").focus()
        await pilot.press("enter")  # again, emptying t first
        await wait_for(pilot, lambda: states(app)[2] == DONE, timeout=60)
        await wait_for(pilot, lambda: screen(app).running_key is None)
    with psycopg.connect(dst) as c:
        assert c.execute("SELECT count(*), min(a) FROM t").fetchone() == (30, 1)
