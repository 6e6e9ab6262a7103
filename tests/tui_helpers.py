"""Helpers shared by the TUI tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from textual.pilot import Pilot


def _holds(predicate: Callable[[], bool]) -> bool:
    """The predicate, where a widget not composed yet counts as 'not yet'."""
    from textual.css.query import NoMatches

    try:
        return bool(predicate())
    except NoMatches:
        return False


async def wait_for(pilot: Pilot, predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    """Let the app run until ``predicate`` holds (fails with the screen and its message after ``timeout``)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not _holds(predicate):
        if loop.time() > deadline:
            detail = getattr(pilot.app.screen, "message", "")
            raise AssertionError(f"timed out; screen is {pilot.app.screen!r} {detail}")
        await pilot.pause(0.05)
