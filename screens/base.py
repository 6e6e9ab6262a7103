"""The base of every kwtui screen: a screen popped while it is still mounting does not take the app down.

A screen can be pushed and popped again before its own Mount is handled (Ctrl+D disconnects, or a
connection arrives, while the user opens a screen: both pop back to the welcome screen). Its widgets
are gone by then, so a query in ``on_mount`` finds nothing. A screen that is no longer on the stack
has nothing left to show: such a ``NoMatches`` is dropped. On a screen that is shown it is a bug
and still fails (the monkey test sees it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import ModalScreen, Screen, ScreenResultType


def _shown(screen: Screen[Any]) -> bool:
    try:
        return screen.is_attached and screen in screen.app.screen_stack
    except Exception:  # no app any more: certainly not shown
        return False


class KwScreen(Screen[ScreenResultType]):
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
    async def _dispatch_message(self, message: Message) -> None:
        try:
            await super()._dispatch_message(message)
        except NoMatches:
            if _shown(self):
                raise
