from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from psycopg import sql

from kwtui.catalog import Database


@dataclass(frozen=True)
class Capabilities:
    """What a server can do; the engine and the screens choose paths from this."""

    copy_from_stdin: bool
    copy_to_stdout: bool
    server_cursors: bool
    time_series: bool
    native_import_export: bool
    upsert: bool
    on_conflict: bool
    read_only_transactions: bool


class Dialect(Protocol):
    kind: str
    label: str
    default_port: int
    caps: Capabilities

    def list_databases_query(self) -> sql.SQL: ...

    def parse_databases(self, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[Database]: ...
