"""Four guards around Textual 8.2 that the monkey test (tests/test_tui_monkey.py) crashed:

- ``Screen.dismiss`` pops whatever screen is on top. A second key queued behind the one that
  dismissed a screen (Esc Esc typed ahead in the command palette or a modal) dismissed it again and
  popped the screen below, then the next, down to "No screens on stack". Now a screen that is not
  on top cannot be dismissed.
- ``Header``: its title watcher queried its ``HeaderTitle`` child after that child was removed (a
  screen popped while the app's or the screen's title changed): ``NoMatches`` took the app down.
- ``OptionList`` (the command palette's list): PageUp/PageDown before its lines were laid out
  looked up a line that did not exist yet: ``KeyError``.
- ``CommandPalette``: its search worker queried its ``CommandList`` after the palette had been
  closed (Ctrl+P, a key, Esc typed fast; seed 23 of the monkey): ``NoMatches`` in a worker that
  exits the app on error. The search of a closed palette now ends quietly.

Both are applied once, when the first KwtuiApp is made; nothing else of Textual is touched.
"""

from __future__ import annotations

from typing import Any

from textual import work
from textual.await_complete import AwaitComplete
from textual.command import CommandPalette
from textual.css.query import NoMatches
from textual.dom import NoScreen
from textual.events import Mount
from textual.screen import Screen
from textual.widgets import Header, OptionList
from textual.widgets._header import HeaderTitle

_applied = False


def _header_on_mount(self: Header, _: Mount) -> None:
    async def set_title() -> None:
        try:
            self.query_one(HeaderTitle).update(self.format_title())
        except (NoScreen, NoMatches):  # the header is on its way out with its screen
            pass

    self.watch(self.app, "title", set_title)
    self.watch(self.app, "sub_title", set_title)
    self.watch(self.screen, "title", set_title)
    self.watch(self.screen, "sub_title", set_title)


def apply() -> None:
    global _applied
    if _applied:
        return
    _applied = True
    Header._on_mount = _header_on_mount  # type: ignore[method-assign]
    move_page = OptionList._move_page

    def _move_page(self: OptionList, direction: Any) -> None:
        try:
            move_page(self, direction)
        except KeyError:  # not laid out yet: nothing to page through
            pass

    OptionList._move_page = _move_page  # type: ignore[method-assign]
    dismiss = Screen.dismiss

    def _dismiss(self: Screen[Any], result: Any = None) -> AwaitComplete:
        if not self.is_attached or self.app.screen is not self:  # dismissed already
            return AwaitComplete.nothing()
        return dismiss(self, result)

    Screen.dismiss = _dismiss  # type: ignore[method-assign]
    gather = CommandPalette._gather_commands.__wrapped__  # type: ignore[attr-defined]

    async def _gather_commands(self: CommandPalette, search_value: str) -> None:
        try:
            await gather(self, search_value)
        except (NoMatches, NoScreen):  # the palette was closed while it searched
            pass

    CommandPalette._gather_commands = work(  # type: ignore[method-assign]
        exclusive=True, group=CommandPalette._GATHER_COMMANDS_GROUP)(_gather_commands)
