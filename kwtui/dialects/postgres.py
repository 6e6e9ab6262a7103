from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import sql

from kwtui.catalog import RELATIONAL, Database
from kwtui.dialects.base import Capabilities


class PostgresDialect:
    kind = "postgres"
    label = "PostgreSQL"
    default_port = 5432
    caps = Capabilities(
        copy_from_stdin=True,
        copy_to_stdout=True,
        server_cursors=True,
        time_series=False,
        native_import_export=False,
        upsert=False,
        on_conflict=True,
        read_only_transactions=True,
    )

    def list_databases_query(self) -> sql.SQL:
        return sql.SQL(
            "SELECT d.datname,"
            " CASE WHEN has_database_privilege(d.oid, 'CONNECT') THEN pg_database_size(d.oid) END,"
            " shobj_description(d.oid, 'pg_database')"
            " FROM pg_database d WHERE NOT d.datistemplate AND d.datallowconn ORDER BY d.datname"
        )

    def parse_databases(self, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[Database]:
        return [Database(name=r[0], engine=RELATIONAL, size_bytes=r[1], comment=r[2]) for r in rows]
