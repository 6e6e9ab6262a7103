"""Progress of a transfer, export or import: small immutable events, at most ten a second.

Kept apart from :mod:`kwtui.transfer.engine` (which re-exports it) so a file export or
import does not load the server-to-server engine.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ProgressEvent:
    """A small immutable progress report (the CLI prints it, the TUI turns it into a message)."""

    table: str
    rows: int
    bytes: int
    total_rows: int | None
    rejects: int
    elapsed: float
    done: bool = False
    phase: str = "copy"  # "plan" | "create" | "copy" | "done" | "failed"
    message: str = ""
    tables_done: int = 0
    tables_total: int = 0

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def mb_per_s(self) -> float:
        return self.bytes / 1e6 / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        if not self.total_rows or self.rows <= 0 or self.done:
            return None
        rate = self.rows_per_s
        return max(0.0, (self.total_rows - self.rows) / rate) if rate > 0 else None


Listener = Callable[[ProgressEvent], None]


class Progress:
    """Counts for one job; emits events to a listener at most every ``interval`` seconds."""

    def __init__(self, listener: Listener | None, *, interval: float = 0.1, tables_total: int = 0) -> None:
        self.listener = listener
        self.interval = interval
        self.started = time.perf_counter()
        self._last = 0.0
        self.table = ""
        self.rows = 0
        self.bytes = 0
        self.rejects = 0
        self.total_rows: int | None = None
        self.tables_done = 0
        self.tables_total = tables_total

    def event(self, *, done: bool = False, phase: str = "copy", message: str = "") -> ProgressEvent:
        return ProgressEvent(self.table, self.rows, self.bytes, self.total_rows, self.rejects,
                             time.perf_counter() - self.started, done, phase, message,
                             self.tables_done, self.tables_total)

    def add(self, rows: int = 0, nbytes: int = 0, rejects: int = 0) -> None:
        self.rows += rows
        self.bytes += nbytes
        self.rejects += rejects
        now = time.perf_counter()
        if self.listener is not None and now - self._last >= self.interval:
            self._last = now
            self.listener(self.event())

    def emit(self, **kw: Any) -> None:
        if self.listener is not None:
            self._last = time.perf_counter()
            self.listener(self.event(**kw))
