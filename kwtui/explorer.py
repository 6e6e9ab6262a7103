"""Browse a server: databases -> schemas -> tables -> columns, indexes, DDL, a preview.

The :class:`Explorer` is what the browse screen and the CLI ask; it owns one connection
per database where the server needs that (PostgreSQL) and reuses the main one where it
does not (KWDB names other databases in SHOW statements, but its SHOW TABLES works on
the current database, so it also connects per database). Everything returned is a plain
dataclass from :mod:`kwtui.catalog`.
"""

from __future__ import annotations

import asyncio
import contextlib

from kwtui.catalog import Database, Schema, Table, TableDetail
from kwtui.connection import ConnectionService, QueryResult
from kwtui.dialects import Dialect
from kwtui.errors import ConnectError

PREVIEW_ROWS = 100


class Explorer:
    def __init__(self, service: ConnectionService, *, max_connections: int = 4) -> None:
        self.service = service
        self.max_connections = max_connections
        self._by_db: dict[str, ConnectionService] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._tables: dict[tuple[str, str], list[Table]] = {}

    @property
    def dialect(self) -> Dialect:
        if self.service.dialect is None:
            raise ConnectError("not connected")
        return self.service.dialect

    @property
    def current_database(self) -> str:
        return self.service.info.database if self.service.info else ""

    async def databases(self) -> list[Database]:
        return await self.service.list_databases()

    async def for_database(self, database: str) -> ConnectionService:
        """A connected service on ``database`` (the main one when it is the current database)."""
        if not database or database == self.current_database:
            return self.service
        lock = self._locks.setdefault(database, asyncio.Lock())
        async with lock:
            svc = self._by_db.get(database)
            if svc is not None and svc.connected:
                return svc
            if len(self._by_db) >= self.max_connections:  # keep few idle connections open
                oldest = next(iter(self._by_db))
                await self._by_db.pop(oldest).close()
            svc = ConnectionService(self.service.target.with_database(database),
                                    password_prompt=self.service.password_prompt)
            svc._password = self.service._password  # same server, same credentials
            await svc.connect()
            self._by_db[database] = svc
            return svc

    async def schemas(self, database: str) -> list[Schema]:
        svc = await self.for_database(database)
        return await self.dialect.list_schemas(svc)

    async def tables(self, database: str, schema: str, *, refresh: bool = False) -> list[Table]:
        key = (database, schema)
        if refresh or key not in self._tables:
            svc = await self.for_database(database)
            self._tables[key] = await self.dialect.list_tables(svc, schema)
        return self._tables[key]

    async def detail(self, database: str, table: Table) -> TableDetail:
        svc = await self.for_database(database)
        return await self.dialect.table_detail(svc, table)

    async def preview(self, database: str, table: Table, limit: int = PREVIEW_ROWS) -> QueryResult:
        svc = await self.for_database(database)
        return await svc.query(self.dialect.preview_query(table, limit), read_only=True)

    def forget(self) -> None:
        """Drop cached table lists (refresh)."""
        self._tables.clear()

    async def close(self) -> None:
        for svc in self._by_db.values():
            with contextlib.suppress(Exception):
                await svc.close()
        self._by_db.clear()


def filter_tables(tables: list[Table], text: str) -> list[Table]:
    """Type-to-filter: every word must appear in schema.name (case-insensitive)."""
    words = text.lower().split()
    if not words:
        return tables
    return [t for t in tables if all(w in t.qualified.lower() for w in words)]
