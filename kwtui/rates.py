"""Rates that mean something: rows/s and MB/s over a moving window of progress samples.

Progress arrives in steps (a batch commits, then nothing until the next one), so a rate between
two consecutive samples swings between a burst and 0, and an ETA computed from it vanishes between
batches. Over a window of WINDOW seconds the rate is smoothed and the ETA stays. Counters that go
down (a job resumed from its checkpoint reports less than before) start the window afresh: a rate
is never negative.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

WINDOW = 30.0


@dataclass(frozen=True)
class Sample:
    at: float
    rows: int
    bytes: int


@dataclass
class RateWindow:
    window: float = WINDOW
    samples: deque[Sample] = field(default_factory=lambda: deque(maxlen=600))

    def add(self, at: float, rows: int, nbytes: int) -> None:
        last = self.samples[-1] if self.samples else None
        if last is not None and (rows < last.rows or nbytes < last.bytes or at < last.at):
            self.samples.clear()  # counters went back (a resume): old samples say nothing now
        self.samples.append(Sample(at, rows, nbytes))

    def rates(self) -> tuple[float, float] | None:
        """(rows/s, MB/s) over the window; None until two samples span some time."""
        if len(self.samples) < 2:
            return None
        end = self.samples[-1]
        start = next((s for s in self.samples if s.at >= end.at - self.window), self.samples[0])
        if start is end:
            start = self.samples[-2]
        dt = end.at - start.at
        if dt <= 0:
            return None
        return max(0.0, (end.rows - start.rows) / dt), max(0.0, (end.bytes - start.bytes) / 1e6 / dt)

    def eta(self, total_rows: int | None) -> float | None:
        """Seconds left to ``total_rows`` at the windowed rate (None when unknown)."""
        r = self.rates()
        if not total_rows or r is None or r[0] <= 0 or not self.samples:
            return None
        return max(0.0, (total_rows - self.samples[-1].rows) / r[0])
