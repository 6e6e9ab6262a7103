"""Streaming writers: COPY FROM STDIN (blocks or rows), multi-row INSERT in batches (KWDB
time-series tables have no COPY), and files in KWDB's export layout."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from kwtui.transfer.source import BINARY, CSV, ROWS, Block, column_list, qualified

#: PostgreSQL accepts at most 65535 bind parameters in one statement
MAX_PARAMS = 65_000


def copy_in_statement(schema: str, table: str, columns: Sequence[str], fmt: str,
                      csv_options: sql.Composable | None = None) -> sql.Composed:
    target = sql.SQL("{} ({})").format(qualified(schema, table), column_list(columns))
    if fmt == BINARY:
        return sql.SQL("COPY {} FROM STDIN (FORMAT binary)").format(target)
    if fmt == CSV:
        opts = csv_options if csv_options is not None else sql.SQL("FORMAT csv")
        return sql.SQL("COPY {} FROM STDIN ({})").format(target, opts)
    return sql.SQL("COPY {} FROM STDIN").format(target)


class CopyIn:
    """An open COPY FROM STDIN on one connection; write blocks (bytes) or rows into it."""

    def __init__(self, conn: psycopg.AsyncConnection[Any], statement: sql.Composable) -> None:
        self.conn = conn
        self.statement = statement
        self._cur: Any = None
        self._copy: Any = None
        self._cm: Any = None
        self.rows = 0
        self.bytes = 0

    async def __aenter__(self) -> CopyIn:
        self._cur = self.conn.cursor()
        self._cm = self._cur.copy(self.statement)
        self._copy = await self._cm.__aenter__()
        return self

    async def write(self, block: Block) -> None:
        if block.format == ROWS:
            for row in block.rows:
                await self._copy.write_row(row)
        else:
            await self._copy.write(block.data)
            self.bytes += block.nbytes
        self.rows += block.nrows

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            await self._cm.__aexit__(exc_type, exc, tb)
            if exc_type is None and self._cur.rowcount is not None and self._cur.rowcount >= 0:
                self.rows = self._cur.rowcount  # the server's count is exact
        finally:
            await self._cur.close()


def insert_statement(schema: str, table: str, columns: Sequence[str], nrows: int) -> sql.Composed:
    one = sql.SQL("({})").format(sql.SQL(", ").join(sql.Placeholder() * len(columns)))
    return sql.SQL("INSERT INTO {} ({}) VALUES {}").format(
        qualified(schema, table), column_list(columns), sql.SQL(", ").join([one] * nrows))


class InsertSink:
    """Multi-row INSERT ... VALUES (...), (...) in batches: the bulk path for KWDB TS tables."""

    def __init__(self, conn: psycopg.AsyncConnection[Any], schema: str, table: str, columns: Sequence[str],
                 *, batch_rows: int = 500) -> None:
        self.conn = conn
        self.schema, self.table, self.columns = schema, table, list(columns)
        per_stmt = max(1, MAX_PARAMS // max(1, len(self.columns)))
        self.batch_rows = max(1, min(batch_rows, per_stmt))
        self._statements: dict[int, sql.Composed] = {}
        self.rows = 0

    def _statement(self, n: int) -> sql.Composed:
        stmt = self._statements.get(n)
        if stmt is None:
            stmt = self._statements[n] = insert_statement(self.schema, self.table, self.columns, n)
        return stmt

    async def write(self, block: Block) -> None:
        rows = block.rows
        async with self.conn.cursor() as cur:
            for i in range(0, len(rows), self.batch_rows):
                chunk = rows[i:i + self.batch_rows]
                params = [v for row in chunk for v in row]
                await cur.execute(self._statement(len(chunk)), params)
                self.rows += len(chunk)
