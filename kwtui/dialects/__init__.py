"""What differs between servers, behind one small protocol."""

from __future__ import annotations

from kwtui.dialects.base import Dialect
from kwtui.dialects.kwdb import KwdbDialect
from kwtui.dialects.postgres import PostgresDialect

__all__ = ["Dialect", "KwdbDialect", "PostgresDialect", "dialect_for"]


def dialect_for(kind: str) -> Dialect:
    if kind == "kwdb":
        return KwdbDialect()
    if kind == "postgres":
        return PostgresDialect()
    raise ValueError(f"unknown server kind {kind!r}")
