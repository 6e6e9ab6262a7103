"""The base of every kwtui screen: a screen popped while it is still mounting does not take the app down.

A screen can be pushed and popped again before its own Mount is handled (Ctrl+D disconnects, or a
connection arrives, while the user opens a screen: both pop back to the welcome screen). Its widgets
are gone by then, so a query in ``on_mount`` finds nothing. A screen that is no longer on the stack
has nothing left to show: such a ``NoMatches`` is dropped. On a screen that is shown it is a bug
and still fails (the monkey test sees it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import App
from textual.binding import ActiveBinding
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import ModalScreen, Screen, ScreenResultType


def _shown(screen: Screen[Any]) -> bool:
    try:
        return screen.is_attached and screen in screen.app.screen_stack
    except Exception:  # no app any more: certainly not shown
        return False


def first_help_and_quit(bindings: dict[str, ActiveBinding]) -> dict[str, ActiveBinding]:
    """The app's F1 Help and Quit first: the footer cuts from the right at 80 columns, and these two
    must always show (the rest is in F1 and the palette)."""
    first = {k: v for action in ("help", "quit") for k, v in bindings.items()
             if v.binding.action == action and v.binding.show and isinstance(v.node, App)}
    return {**first, **{k: v for k, v in bindings.items() if k not in first}}


class KwScreen(Screen[ScreenResultType]):
    @property
    def active_bindings(self) -> dict[str, ActiveBinding]:
        return first_help_and_quit(super().active_bindings)

    def call_after_refresh(self, callback: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
        """As Textual's, but a callback that runs after this screen was popped cannot take the app down."""

        def run(*a: Any, **k: Any) -> Any:
            try:
                return callback(*a, **k)
            except NoMatches:
                if _shown(self):
                    raise
                return None

        return super().call_after_refresh(run, *args, **kwargs)

    async def _dispatch_message(self, message: Message) -> None:
        try:
            await super()._dispatch_message(message)
        except NoMatches:
            if _shown(self):
                raise


class KwModal(ModalScreen[ScreenResultType]):
    @property
    def active_bindings(self) -> dict[str, ActiveBinding]:
        return first_help_and_quit(super().active_bindings)

    async def _dispatch_message(self, message: Message) -> None:
        try:
            await super()._dispatch_message(message)
        except NoMatches:
            if _shown(self):
                raise
