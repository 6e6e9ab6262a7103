"""Errors in one place: workers that never take the app down.

``@guarded("The export failed", group="run")`` is Textual's ``@work`` with ``exit_on_error=False``
and one more thing: an exception that escapes the worker becomes a :class:`WorkerFailed` message,
posted to the worker's screen. It bubbles to the app, whose one handler shows the error modal
(cause, what was committed when known, next step). A screen that must put its own state right
(a wizard that was "running") handles ``WorkerFailed`` too, and may fill in ``committed`` before
the app shows it; no screen needs a try/except of its own for that.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from textual import work
from textual.dom import DOMNode
from textual.message import Message
from textual.message_pump import MessagePump

from kwtui.errors import KwtuiError

if TYPE_CHECKING:  # mypy checks screens/ as the package "screens" (installed as kwtui.screens)
    from screens.app import KwtuiApp

F = TypeVar("F", bound=Callable[..., Any])


def kwtui_app(node: DOMNode) -> KwtuiApp:
    """The running app, typed: screens call the app's own methods through this, never an ignore."""
    return cast("KwtuiApp", node.app)


def as_error(exc: BaseException) -> KwtuiError:
    """Any exception as something the error modal shows: KwtuiError as it is, else type and message."""
    if isinstance(exc, KwtuiError):
        return exc
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return KwtuiError(f"{where}{exc.strerror}")
    return KwtuiError(f"{type(exc).__name__}: {exc}")


class WorkerFailed(Message):
    """A worker's failure, on its way to the app's one error handler (it bubbles)."""

    def __init__(self, title: str, error: KwtuiError, *, committed: str | None = None,
                 next_step: str | None = None) -> None:
        super().__init__()
        self.title = title
        self.error = error
        self.committed = committed
        self.next_step = next_step


def report(node: MessagePump, title: str, exc: BaseException) -> None:
    """Post ``exc`` as WorkerFailed to ``node`` (its screen's handler first, then the app's); to
    the app itself when the node is gone. Safe from a thread."""
    message = WorkerFailed(title, as_error(exc))
    if not node.post_message(message):
        node.app.post_message(message)


def guarded(title: str, **work_options: Any) -> Callable[[F], F]:
    """``@work(exit_on_error=False, **work_options)`` whose failure is reported as WorkerFailed(title)."""

    def decorate(fn: F) -> F:
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def run_async(self: MessagePump, *args: Any, **kwargs: Any) -> Any:
                try:
                    return await fn(self, *args, **kwargs)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    report(self, title, exc)
                    return None

            wrapped: Any = run_async
        else:

            @functools.wraps(fn)
            def run_sync(self: MessagePump, *args: Any, **kwargs: Any) -> Any:
                try:
                    return fn(self, *args, **kwargs)
                except Exception as exc:
                    report(self, title, exc)
                    return None

            wrapped = run_sync
        return work(exit_on_error=False, **work_options)(wrapped)  # type: ignore[no-any-return]

    return decorate
