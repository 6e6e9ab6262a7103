from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from psycopg import sql

from kwtui.catalog import Database, Schema, Table, TableDetail


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

    #: PostgreSQL needs a new connection to read another database; KWDB can name it in SHOW.
    one_database_per_connection: bool

    async def list_schemas(self, svc: Any) -> list[Schema]: ...

    async def list_tables(self, svc: Any, schema: str, *, facts: bool = True) -> list[Table]:
        """The schema's tables; ``facts=False`` may leave row estimates and sizes unknown (KWDB
        reads them from three more system queries)."""
        ...

    async def table_detail(self, svc: Any, table: Table, *, with_ddl: bool = True) -> TableDetail:
        """Columns, indexes and (``with_ddl``) the CREATE statement and column comments; without
        it ``ddl`` may be empty and comments None (KWDB's SHOW CREATE TABLE costs about 95 ms,
        its WITH COMMENT 8; a TS table's primary tags are then read from SHOW TAGS)."""
        ...

    def preview_query(self, table: Table, limit: int = 100) -> sql.Composed: ...
