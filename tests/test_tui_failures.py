"""Failure paths of the screens' workers: a server that refuses, a file that is missing, a job that
fails mid-way. Each time the one error modal shows (cause, what was committed, next step) and the
app lives on: Esc closes the modal and the screen under it still works."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Select, Static

from kwtui.profiles import ProfileStore
from kwtui.screens.app import KwtuiApp
from kwtui.screens.export_wizard import ExportWizard
from kwtui.screens.import_wizard import ImportWizard
from kwtui.screens.modals import ErrorModal

from . import test_tui_wizards as wiz
from .test_tui_wizards import PEOPLE_CSV, SMALL, WizApp, go, opened, run_sql, set_input, step
from .tui_helpers import wait_for

# the wizard tests' fixtures: one database with fixed content, work inside tmp_path
wizdb = wiz.wizdb
empty_people = wiz.empty_people
fixed_view = wiz.fixed_view


def modal_text(app: KwtuiApp) -> str:
    screen = app.screen
    assert isinstance(screen, ErrorModal), screen
    return f"{screen.title_text}\n{screen.message}\n{screen.detail or ''}"


async def error_shown(pilot: Pilot) -> str:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ErrorModal), timeout=30)
    await pilot.pause()
    return modal_text(pilot.app)  # type: ignore[arg-type]


async def test_export_refused_by_the_server_shows_the_error_and_the_wizard_lives(
        wizdb: str, profiles_path: Path) -> None:
    """Issue 13: a failed export killed the app (``@on(TransferFailed)`` sat on with_own_connection, so the
    failure message called it with the message as its database)."""
    run_sql(wizdb, "DROP TABLE IF EXISTS public.vanish; CREATE TABLE public.vanish (id int PRIMARY KEY);"
                   "INSERT INTO public.vanish SELECT generate_series(1, 10); ANALYZE public.vanish")
    app = WizApp(wizdb, wizard="export", table="vanish", store=ProfileStore(profiles_path))
    async with app.run_test(size=SMALL) as pilot:
        await opened(pilot, ExportWizard)
        for name in ("path", "options", "dest", "preview"):
            await go(pilot, name)
        run_sql(wizdb, "DROP TABLE public.vanish")  # the server now refuses the export
        await pilot.press("ctrl+n")
        text = await error_shown(pilot)
        assert "The export failed" in text and "vanish" in text
        assert "Committed:" in text and "Next: Ctrl+B goes back" in text
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ExportWizard))
        wizard = app.screen
        assert isinstance(wizard, ExportWizard) and not wizard.running
        assert "failed" in str(wizard.query_one("#wizard-status", Static).render())
        await pilot.press("ctrl+b")  # the wizard goes on working: back to the preview
        await wait_for(pilot, lambda: step(app) == "preview")
    assert app.return_code in (None, 0)


async def _import_walk(pilot: Pilot, app: KwtuiApp, source: str) -> None:
    await opened(pilot, ImportWizard)
    set_input(app, "f-source", source)
    await go(pilot, "layout")
    await go(pilot, "target")
    select = app.screen.query_one("#f-table", Select)
    await wait_for(pilot, lambda: "public.people" in [v for _, v in select._options])
    select.value = "public.people"
    await pilot.pause()
    await go(pilot, "options")


async def test_import_of_a_file_gone_missing_shows_the_error(empty_people: str, fixed_view: Path,
                                                               profiles_path: Path) -> None:
    (fixed_view / "people.csv").write_text(PEOPLE_CSV)
    app = WizApp(empty_people, wizard="import", table=None, store=ProfileStore(profiles_path))
    async with app.run_test(size=SMALL) as pilot:
        await _import_walk(pilot, app, "people.csv")
        await go(pilot, "preview")
        (fixed_view / "people.csv").unlink()  # gone before the run
        await pilot.press("ctrl+n")
        text = await error_shown(pilot)
        assert "The import failed" in text and "people.csv" in text
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ImportWizard) and not app.screen.running)
    assert app.return_code in (None, 0)


async def test_import_that_fails_mid_way_says_what_was_committed(empty_people: str, fixed_view: Path,
                                                                   profiles_path: Path) -> None:
    """Two bad lines against a limit of one reject: the import stops part way; the modal says so."""
    (fixed_view / "people.csv").write_text(PEOPLE_CSV)
    app = WizApp(empty_people, wizard="import", table=None, store=ProfileStore(profiles_path))
    async with app.run_test(size=SMALL) as pilot:
        await _import_walk(pilot, app, "people.csv")
        set_input(app, "f-max-rejects", "1")
        set_input(app, "f-batch-rows", "1")
        await pilot.pause()
        await go(pilot, "preview")
        await pilot.press("ctrl+n")
        text = await error_shown(pilot)
        assert "The import failed" in text and "reject" in text.lower()
        assert "Committed:" in text
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ImportWizard) and not app.screen.running)
    assert app.return_code in (None, 0)
