"""80x24 first, one key one meaning, everything in the palette (issue 13)."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from kwtui.history import History
from kwtui.profiles import ProfileStore
from kwtui.screens.app import KwtuiApp
from kwtui.screens.browse import BrowseScreen
from kwtui.screens.console import ConsoleScreen
from kwtui.screens.jobs import JobsScreen

from . import test_tui_browse as tb
from .tui_helpers import wait_for

snapdb = tb.snapdb
SMALL = (80, 24)


def footer_keys(app: KwtuiApp) -> list[str]:
    """What the footer shows, in order."""
    return [b.binding.description for b in app.screen.active_bindings.values() if b.binding.show]


async def test_footer_starts_with_help_and_quit_and_f8_is_jobs_everywhere(snapdb: str, profiles_path: Path,
                                                                        tmp_path: Path) -> None:
    """Issue 13: at 80x24 the browse footer ended at 'f8 J' (F1 Help and Quit never showed); F8 was Jobs in
    browse but Write mode in the console."""
    app = tb.BrowseApp(snapdb, console=True, history=History(tmp_path / "h.jsonl"), store=ProfileStore(profiles_path))
    async with app.run_test(size=SMALL) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ConsoleScreen))
        assert footer_keys(app)[:2] == ["Help", "Quit"]
        await pilot.press("ctrl+w")
        await wait_for(pilot, lambda: app.screen.write_mode)  # type: ignore[attr-defined]
        await pilot.press("ctrl+w")
        await pilot.press("f8")
        await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen))
        assert footer_keys(app)[:2] == ["Help", "Quit"]
        await pilot.press("escape", "escape")
        await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen))
        assert footer_keys(app)[:2] == ["Help", "Quit"]
        await pilot.press("f8")
        await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen))


async def test_escape_clears_the_browse_filter(snapdb: str, profiles_path: Path) -> None:
    app = tb.BrowseApp(snapdb, store=ProfileStore(profiles_path))
    async with app.run_test(size=SMALL) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen))
        app.screen.query_one("#db-tree").focus()
        await pilot.press("i", "t")
        box = app.screen.query_one("#tree-filter", Input)
        await wait_for(pilot, lambda: box.value == "it")
        await pilot.press("escape")
        await wait_for(pilot, lambda: box.value == "")
        assert isinstance(app.screen, BrowseScreen) and app.screen.filter_text == ""


async def test_palette_has_the_sql_console_and_validation_offers_the_connection(snapdb: str,
                                                                               profiles_path: Path) -> None:
    from kwtui.screens.validate import ValidationScreen

    app = tb.BrowseApp(snapdb, store=ProfileStore(profiles_path))
    async with app.run_test(size=SMALL) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen))
        names = [c.title for c in app.get_system_commands(app.screen)]
        assert "SQL console" in names and "Jobs" in names and "Validate…" in names
        next(c for c in app.get_system_commands(app.screen) if c.title == "SQL console").callback()
        await wait_for(pilot, lambda: isinstance(app.screen, ConsoleScreen))
        app.action_open_validation()
        await wait_for(pilot, lambda: isinstance(app.screen, ValidationScreen)
                       and bool(app.screen.query_one("#v-source-uri", Input).value))
        source = app.screen.query_one("#v-source-uri", Input).value
        assert tb.SNAP_DB in source and "password" not in source


async def test_history_keeps_what_was_typed_and_refusals(snapdb: str, profiles_path: Path, tmp_path: Path) -> None:
    """Issue 13: the history stored the rewritten SQL (LIMIT 20 came back) and left out refused statements."""
    from kwtui.screens.modals import ErrorModal

    app = tb.BrowseApp(snapdb, console=True, history=History(tmp_path / "h.jsonl"), store=ProfileStore(profiles_path))
    async with app.run_test(size=SMALL) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ConsoleScreen))
        await tb._run(pilot, "select id from items order by id")
        await wait_for(pilot, lambda: tb.grid(app).row_count == 20)
        await tb._run(pilot, "delete from items")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal))
        await pilot.press("escape")
    entries = [(e.sql, e.status) for e in History(tmp_path / "h.jsonl").entries()]
    sqls = [sql for sql, _ in entries]
    assert "select id from items order by id" in sqls and not any("LIMIT" in s.upper() for s in sqls)
    assert ("delete from items", "refused") in entries


async def test_a_palette_search_that_ends_after_the_palette_closed_does_not_crash(profiles_path: Path) -> None:
    """Monkey seed 23 (ctrl+p, a key, Esc typed fast): the palette's search worker ran after the palette
    had closed, queried its list and took the app down (NoMatches in a worker that exits on error). The
    search is run here on purpose after the close: the app lives."""
    from textual.command import CommandPalette

    from kwtui.screens.welcome import WelcomeScreen

    app = KwtuiApp(store=ProfileStore(profiles_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, WelcomeScreen))
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        palette = app.screen
        assert isinstance(palette, CommandPalette)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, WelcomeScreen))
        worker = palette._gather_commands("jobs")
        await pilot.pause(0.3)
        assert worker.is_finished
        assert isinstance(app.screen, WelcomeScreen)
        await pilot.press("j")
        await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen))
    assert app.return_code in (None, 0)
