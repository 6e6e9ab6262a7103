"""Catalog model: what a server holds. Filled by the dialects; plain dataclasses, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

RELATIONAL = "relational"
TIME_SERIES = "time-series"


@dataclass(frozen=True)
class Database:
    name: str
    engine: str = RELATIONAL  # RELATIONAL or TIME_SERIES
    size_bytes: int | None = None
    comment: str | None = None

    @property
    def is_ts(self) -> bool:
        return self.engine == TIME_SERIES
