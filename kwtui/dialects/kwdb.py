from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import sql

from kwtui.catalog import (
    RELATIONAL,
    TIME_SERIES,
    Database,
    Index,
    Schema,
    Table,
    TableDetail,
    parse_create_statement,
    parse_kwdb_columns,
    parse_kwdb_indexes,
    parse_kwdb_schemas,
    parse_kwdb_tables,
)
from kwtui.dialects.base import Capabilities


async def _show(svc: Any, statement: sql.Composable, params: Any = None) -> tuple[list[str], list[tuple[Any, ...]]]:
    res = await svc.query(statement, params)
    return res.columns, res.rows


class _KwdbCatalog:
    """Catalog reads through KWDB's SHOW statements (no pg_catalog sizes or estimates there)."""

    async def list_schemas(self, svc: Any) -> list[Schema]:
        cols, rows = await _show(svc, sql.SQL("SHOW SCHEMAS"))
        return parse_kwdb_schemas(cols, rows)

    async def list_tables(self, svc: Any, schema: str) -> list[Table]:
        cols, rows = await _show(svc, sql.SQL("SHOW TABLES FROM {} WITH COMMENT").format(sql.Identifier(schema)))
        return parse_kwdb_tables(schema, cols, rows)

    async def table_detail(self, svc: Any, table: Table) -> TableDetail:
        name = sql.Identifier(table.schema, table.name)
        cols, rows = await _show(svc, sql.SQL("SHOW CREATE TABLE {}").format(name))
        ddl = parse_create_statement(cols, rows)
        cols, rows = await _show(svc, sql.SQL("SHOW COLUMNS FROM {} WITH COMMENT").format(name))
        columns = parse_kwdb_columns(cols, rows, ddl)
        indexes: list[Index] = []
        if not table.is_ts:
            cols, rows = await _show(svc, sql.SQL("SHOW INDEXES FROM {}").format(name))
            indexes = parse_kwdb_indexes(cols, rows)
        return TableDetail(table=table, columns=columns, indexes=indexes, ddl=ddl)

    def preview_query(self, table: Table, limit: int = 100) -> sql.Composed:
        return sql.SQL("SELECT * FROM {}.{} LIMIT {}").format(
            sql.Identifier(table.schema), sql.Identifier(table.name), sql.Literal(int(limit)))


class KwdbDialect(_KwdbCatalog):
    kind = "kwdb"
    label = "KWDB"
    default_port = 26257
    one_database_per_connection = False
    caps = Capabilities(
        copy_from_stdin=True,  # relational tables only
        copy_to_stdout=False,
        server_cursors=False,
        time_series=True,
        native_import_export=True,
        upsert=True,
        on_conflict=True,
        read_only_transactions=True,
    )

    def list_databases_query(self) -> sql.SQL:
        return sql.SQL("SHOW DATABASES WITH COMMENT")

    def parse_databases(self, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[Database]:
        """Parse SHOW DATABASES [WITH COMMENT]: database_name | engine_type [| comment]."""
        idx = {c.lower(): i for i, c in enumerate(columns)}
        name_i = idx.get("database_name", 0)
        engine_i = idx.get("engine_type")
        comment_i = idx.get("comment")
        out = []
        for row in rows:
            engine = RELATIONAL
            if engine_i is not None and str(row[engine_i]).strip().upper() == "TIME SERIES":
                engine = TIME_SERIES
            comment = row[comment_i] if comment_i is not None else None
            if comment in ("NULL", ""):
                comment = None
            out.append(Database(name=str(row[name_i]), engine=engine, comment=comment))
        return out

