"""Streaming readers: COPY TO STDOUT (blocks, no per-row Python), keyset-paginated SELECT
(servers without COPY TO or server-side cursors, such as KWDB), and CSV files.

Every reader yields :class:`Block` objects of bounded size, so memory stays bounded by
block size x queue depth x workers, whatever the table size.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

#: block formats
BINARY = "binary"  # PostgreSQL binary COPY bytes
TEXT = "text"  # PostgreSQL text COPY bytes
CSV = "csv"  # CSV bytes in a given dialect
ROWS = "rows"  # Python tuples


@dataclass
class Block:
    format: str
    data: bytes = b""
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    nrows: int = 0  # exact for ROWS; for byte formats an estimate (newlines) or 0
    last_key: tuple[Any, ...] | None = None  # keyset sources: the key of the last row

    @property
    def nbytes(self) -> int:
        return len(self.data)


def text_everything(conn: psycopg.AsyncConnection[Any] | psycopg.Connection[Any]) -> None:
    """Make this connection return every value as its text form (NULL stays None).

    Rows then move between servers exactly as the source printed them (numeric scale,
    bytea hex, jsonb, arrays, timestamps with their offset) and are written back as
    untyped literals that the target casts to each column's type: no Python type round
    trip, no loss, and less work per value.
    """
    from psycopg.postgres import types as pg_types
    from psycopg.types.string import TextLoader

    for info in pg_types:
        conn.adapters.register_loader(info.oid, TextLoader)
        if info.array_oid:
            conn.adapters.register_loader(info.array_oid, TextLoader)


def split_name(name: str, default_schema: str = "public") -> tuple[str, str]:
    """(schema, table) of ``schema.table`` / ``"a.b"."c"`` / ``table``: :meth:`kwtui.names.TableName.parse`."""
    from kwtui.names import TableName

    t = TableName.parse(name, default_schema)
    return t.schema, t.name


def qualified(schema: str, table: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))


def column_list(columns: Sequence[str]) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(c) for c in columns)


def key_range_condition(key: Sequence[str], lower: Sequence[Any] | None,
                        upper: Sequence[Any] | None, *, literal: bool = False) -> tuple[sql.Composable, list[Any]]:
    """``(k) > lower AND (k) <= upper`` with row comparison for composite keys.

    With ``literal`` the bounds are embedded as quoted literals (COPY takes no parameters).
    """
    parts: list[sql.Composable] = []
    params: list[Any] = []
    keys = sql.SQL("({})").format(column_list(key)) if len(key) > 1 else sql.Identifier(key[0])

    def values(bound: Sequence[Any]) -> sql.Composable:
        items: list[sql.Composable] = [sql.Literal(v) if literal else sql.Placeholder() for v in bound]
        inner = sql.SQL(", ").join(items)
        return sql.SQL("({})").format(inner) if len(items) > 1 else items[0]

    if lower is not None:
        parts.append(sql.SQL("{} > {}").format(keys, values(lower)))
        if not literal:
            params.extend(lower)
    if upper is not None:
        parts.append(sql.SQL("{} <= {}").format(keys, values(upper)))
        if not literal:
            params.extend(upper)
    if not parts:
        return sql.SQL("TRUE"), []
    return sql.SQL(" AND ").join(parts), params


def select_query(schema: str, table: str, columns: Sequence[str], *, where: sql.Composable | None = None,
                 order_by: Sequence[str] | None = None, limit: int | None = None) -> sql.Composed:
    q = sql.SQL("SELECT {} FROM {}").format(column_list(columns), qualified(schema, table))
    if where is not None:
        q = sql.SQL("{} WHERE {}").format(q, where)
    if order_by:
        q = sql.SQL("{} ORDER BY {}").format(q, column_list(order_by))
    if limit is not None:
        q = sql.SQL("{} LIMIT {}").format(q, sql.Literal(int(limit)))
    return q


def copy_out_statement(query: sql.Composable, fmt: str, csv_options: sql.Composable | None = None) -> sql.Composed:
    if fmt == BINARY:
        return sql.SQL("COPY ({}) TO STDOUT (FORMAT binary)").format(query)
    if fmt == CSV:
        opts = csv_options if csv_options is not None else sql.SQL("FORMAT csv")
        return sql.SQL("COPY ({}) TO STDOUT ({})").format(query, opts)
    return sql.SQL("COPY ({}) TO STDOUT").format(query)


async def copy_out(conn: psycopg.AsyncConnection[Any], statement: sql.Composed, fmt: str,
                   *, min_block: int = 256 * 1024) -> AsyncIterator[Block]:
    """COPY ... TO STDOUT, re-blocked to at least ``min_block`` bytes (fewer, bigger writes)."""
    pending: list[bytes] = []
    size = 0
    async with conn.cursor() as cur, cur.copy(statement) as copy:
        async for data in copy:
            chunk = bytes(data)
            pending.append(chunk)
            size += len(chunk)
            if size >= min_block:
                blob = b"".join(pending)
                pending, size = [], 0
                yield Block(fmt, data=blob, nrows=blob.count(b"\n") if fmt != BINARY else 0)
    if pending:
        blob = b"".join(pending)
        yield Block(fmt, data=blob, nrows=blob.count(b"\n") if fmt != BINARY else 0)


async def keyset_rows(conn: psycopg.AsyncConnection[Any], schema: str, table: str, columns: Sequence[str],
                      key: Sequence[str], *, page: int = 10_000, lower: Sequence[Any] | None = None,
                      upper: Sequence[Any] | None = None) -> AsyncIterator[Block]:
    """Keyset pagination: ``WHERE (key) > last ORDER BY key LIMIT page``; no cursor held open.

    Each page is its own short statement, so it works where there is no COPY TO and no
    server-side cursor (KWDB) and never holds a snapshot for hours. ``key`` must be unique.
    """
    text_everything(conn)
    key_idx = [list(columns).index(k) for k in key]
    last = list(lower) if lower is not None else None
    async with conn.cursor() as cur:
        while True:
            where, params = key_range_condition(key, last, upper)
            await cur.execute(select_query(schema, table, columns, where=where, order_by=key, limit=page), params)
            rows = await cur.fetchall()
            if not rows:
                return
            last_row = rows[-1]
            last = [last_row[i] for i in key_idx]
            yield Block(ROWS, rows=list(rows), nrows=len(rows), last_key=tuple(last))
            if len(rows) < page:
                return


async def query_rows(conn: psycopg.AsyncConnection[Any], query: sql.Composable | str, *,
                     page: int = 10_000) -> AsyncIterator[Block]:
    """Any query, streamed in pages (libpq chunked rows; no server-side cursor needed)."""
    text_everything(conn)
    batch: list[tuple[Any, ...]] = []
    async with conn.cursor() as cur:
        async for row in cur.stream(query, size=min(page, 5000)):  # type: ignore[arg-type]
            batch.append(row)
            if len(batch) >= page:
                yield Block(ROWS, rows=batch, nrows=len(batch))
                batch = []
    if batch:
        yield Block(ROWS, rows=batch, nrows=len(batch))
