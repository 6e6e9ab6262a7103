"""Target table handling and target table locks: nothing is written into a table silently.

Table handling (as MOLT Fetch's ``--table-handling``): a target table that already holds
rows is written only when the user chose what to do with them:

* ``fail`` (default): refuse, naming the table and its row count;
* ``append``: keep its rows and add the new ones;
* ``truncate``: empty it first (``TRUNCATE``; KWDB time-series tables have none, so there a
  ``DELETE`` empties it);
* ``replace``: drop it and create it again.

A table lock: two jobs never write the same target table at once. Each job holds a lock per
target table for as long as it runs; a second job is refused with the name of the holder.

* PostgreSQL: a session advisory lock (``pg_try_advisory_lock``) on a connection kept open by
  the job; the server releases it when that session ends, kill -9 included. The holder is
  named by that session's ``application_name`` (found through ``pg_locks``): nothing is
  written on the target.
* KWDB: its advisory lock functions answer ``true`` to everyone (checked on KWDB 3.2.1), and it
  has no ``FOR UPDATE NOWAIT``. The lock is a row of ``kwtui_journal.table_locks`` held by
  ``SELECT ... FOR UPDATE`` in a transaction the job keeps open; another job's ``FOR UPDATE``
  waits, and a short ``statement_timeout`` turns that wait into a refusal. When the holder
  dies its session ends, its transaction is rolled back and the lock is free at once
  (checked with kill -9 on a live KWDB). A time-series database cannot hold relational
  tables, so there the lock table lives in ``defaultdb``.

On KWDB, who holds a lock is written, committed, in ``kwtui_journal.table_lock_owners`` (KWDB
blocks even plain reads of a row locked FOR UPDATE, so the owner cannot be read from the lock row).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import psycopg
from psycopg import sql

from kwtui.errors import KwtuiError, UsageError
from kwtui.names import TableName

FAIL, APPEND, TRUNCATE, REPLACE = "fail", "append", "truncate", "replace"
IF_EXISTS = (FAIL, APPEND, TRUNCATE, REPLACE)
IF_EXISTS_HELP = ("what to do with a target table that already holds rows: fail (default), append, "
                  "truncate (empty it first) or replace (drop and re-create it)")
IF_EXISTS_CHOICES = [("fail: refuse a table that holds rows", FAIL), ("append: keep its rows, add these", APPEND),
                     ("truncate: empty it first", TRUNCATE), ("replace: drop and re-create it", REPLACE)]
LOCK_SCHEMA = "kwtui_journal"
#: how long a lock attempt waits on KWDB before it is refused (the holder never lets go by itself)
LOCK_WAIT_MS = 1500


def check_if_exists(word: str | None) -> str:
    """The table handling word, checked (None: the default, fail)."""
    word = (word or FAIL).strip().lower()
    if word not in IF_EXISTS:
        raise UsageError(f"--if-exists {word!r}: one of {', '.join(IF_EXISTS)}")
    return word


class TargetNotEmpty(KwtuiError):
    """A target table holds rows and the user chose ``fail`` (the default)."""

    def __init__(self, table: str, rows: int) -> None:
        super().__init__(f"target table {table} already holds {rows:,} rows: nothing was written",
                         hint="choose --if-exists append, truncate or replace")
        self.table = table
        self.rows = rows


class TableLocked(KwtuiError):
    """Another job is writing the target table."""


def _table(schema: str, name: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))


async def count_rows(conn: psycopg.AsyncConnection[Any], schema: str, name: str) -> int:
    """Rows of a table (0 at once for an empty one: no count of a big table unless it has rows)."""
    cur = await conn.execute(sql.SQL("SELECT 1 FROM {} LIMIT 1").format(_table(schema, name)))
    if await cur.fetchone() is None:
        return 0
    row = await (await conn.execute(sql.SQL("SELECT count(*) FROM {}").format(_table(schema, name)))).fetchone()
    return int(row[0]) if row else 0


async def table_exists(svc: Any, schema: str, name: str) -> bool:
    assert svc.dialect is not None
    try:
        return any(t.name == name for t in await svc.dialect.list_tables(svc, schema))
    except KwtuiError:
        return False


async def handle_existing(svc: Any, schema: str, name: str, mode: str, *, is_ts: bool = False,
                          recreate: Callable[[], Awaitable[None]] | None = None) -> str:
    """Apply the table handling to an existing target table before any row is written.

    Returns what was done, for the log ("" when the table was empty). ``recreate`` makes the
    table again after ``replace`` dropped it; without it ``replace`` is refused.
    """
    mode = check_if_exists(mode)
    label = f"{schema}.{name}"
    conn = await svc.open_raw(autocommit=True)
    try:
        rows = await count_rows(conn, schema, name)
        if rows == 0 and mode != REPLACE:
            return ""
        if mode == FAIL:
            raise TargetNotEmpty(label, rows)
        if mode == APPEND:
            return f"{label}: appending to its {rows:,} rows (--if-exists append)"
        if mode == TRUNCATE:
            kwdb = svc.info is not None and svc.info.kind != "postgres"
            if is_ts and kwdb:
                # KWDB: "truncate is not supported in timeseries table"; DELETE empties it
                await conn.execute(sql.SQL("DELETE FROM {}").format(_table(schema, name)))
                left = await count_rows(conn, schema, name)
                if left:
                    raise KwtuiError(f"could not empty time-series table {label}: {left:,} rows are left after "
                                     "DELETE", hint="empty it by hand, or use --if-exists replace")
                return f"{label}: emptied, {rows:,} rows deleted (time-series table: DELETE, it has no TRUNCATE)"
            await conn.execute(sql.SQL("TRUNCATE TABLE {}").format(_table(schema, name)))
            return f"{label}: emptied, {rows:,} rows truncated (--if-exists truncate)"
        if recreate is None:
            raise UsageError(f"--if-exists replace needs the CREATE TABLE of {label}",
                             hint="import a table export with its meta.sql (--create), or use truncate")
        await conn.execute(sql.SQL("DROP TABLE {}").format(_table(schema, name)))
    finally:
        await conn.close()
    await recreate()
    return f"{label}: dropped ({rows:,} rows) and created again (--if-exists replace)"


# -- locks ---------------------------------------------------------------------------------------


def holder_text(job: str) -> str:
    return f"{job} (pid {os.getpid()} on {socket.gethostname()})"


class TableLock:
    """Locks on target tables, held by one job until :meth:`release` (or until its process dies)."""

    def __init__(self, svc: Any, tables: Sequence[tuple[str, str]], job: str, *,
                 prepared: list[str] | None = None) -> None:
        self.svc = svc
        self.job = job
        self.keys = sorted({self._key(s, n) for s, n in tables})
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._home: list[str] = []  # [database] holding the lock tables on KWDB ([] = the connected one)
        self._prepared = prepared is not None  # made by prepare(): acquire() does not make them again
        if prepared is not None:
            self._home = list(prepared)

    @classmethod
    async def prepare(cls, svc: Any) -> list[str] | None:
        """Make the lock tables on a KWDB target before the tables to lock are known.

        Run beside the plan, it takes the DDL (20-90 ms in a new database) off the start of a
        load. Returns where the tables are, for ``TableLock(..., prepared=...)``; None on
        PostgreSQL (advisory locks need no table).
        """
        lock = cls(svc, [], "")
        if lock._pg:
            return None
        info = await lock._open()
        try:
            info = await lock._make_tables(info)
        finally:
            await info.close()
        return lock._home

    def _key(self, schema: str, name: str) -> str:
        db = self.svc.info.database if self.svc.info is not None else ""
        return f"{db}.{schema}.{name}"

    @property
    def _pg(self) -> bool:
        return self.svc.info is not None and self.svc.info.kind == "postgres"

    def _t(self, name: str) -> sql.Composed:
        return sql.SQL(".").join(sql.Identifier(p) for p in [LOCK_SCHEMA, name])

    async def _open(self, *, autocommit: bool = True) -> psycopg.AsyncConnection[Any]:
        """A connection to the database that holds the lock tables (the target's, or defaultdb)."""
        if not self._home:
            return await self.svc.open_raw(autocommit=autocommit)
        kwargs = dict(self.svc.conninfo_kwargs())
        kwargs["dbname"] = self._home[0]
        return await psycopg.AsyncConnection.connect(autocommit=autocommit, **kwargs)

    async def _ensure(self, conn: psycopg.AsyncConnection[Any]) -> None:
        stmts = [
            sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(LOCK_SCHEMA)),
            sql.SQL("CREATE TABLE IF NOT EXISTS {} (table_name TEXT PRIMARY KEY)").format(self._t("table_locks")),
            sql.SQL("CREATE TABLE IF NOT EXISTS {} (table_name TEXT PRIMARY KEY, job TEXT NOT NULL, "
                    "since TIMESTAMPTZ NOT NULL DEFAULT now())").format(self._t("table_lock_owners")),
        ]
        for stmt in stmts:
            for attempt in range(3):
                try:
                    await conn.execute(stmt)
                    break
                except (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateSchema,
                        psycopg.errors.DuplicateTable):
                    if attempt == 2:  # two sessions made it at the same instant: it exists now
                        raise

    async def _make_tables(self, info: psycopg.AsyncConnection[Any]) -> psycopg.AsyncConnection[Any]:
        """The lock tables, on ``info`` or in defaultdb; returns the connection to their database."""
        try:
            await self._ensure(info)
        except psycopg.Error as exc:
            if exc.sqlstate != "42809":
                raise KwtuiError(f"cannot make the table lock on the target: {exc}".splitlines()[0]) from None
            self._home = ["defaultdb"]  # a KWDB time-series database holds no relational table
            await info.close()
            info = await self._open()
            try:
                await self._ensure(info)
            except BaseException:
                await info.close()
                raise
        return info

    async def _owner(self, conn: psycopg.AsyncConnection[Any], key: str) -> str:
        try:
            row = await (await conn.execute(
                sql.SQL("SELECT job, since FROM {} WHERE table_name = %s").format(self._t("table_lock_owners")),
                (key,))).fetchone()
        except psycopg.Error:
            return "another job"
        if row is None:
            return "another job"
        return f"{row[0]}, since {row[1]:%Y-%m-%d %H:%M:%S %Z}".rstrip()

    def _refuse(self, key: str, owner: str) -> TableLocked:
        table = TableName.parse(key).name
        return TableLocked(f"target table {table} is being written by {owner}: refused",
                           hint="two jobs never write one table at once; wait for it to finish or cancel it")

    async def _acquire_pg(self) -> None:
        """PostgreSQL: session advisory locks; the holder is named by its session's application_name
        (pg_locks + pg_stat_activity), so nothing is written on the target."""
        kwargs = dict(self.svc.conninfo_kwargs())
        kwargs["application_name"] = ("kwtui " + holder_text(self.job))[:63]
        lock = await psycopg.AsyncConnection.connect(autocommit=True, **kwargs)
        try:
            for key in self.keys:
                row = await (await lock.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))",
                                                ("kwtui table lock " + key,))).fetchone()
                if not (row and row[0]):
                    raise self._refuse(key, await self._pg_owner(lock, key))
        except BaseException:
            await lock.close()
            raise
        self._conn = lock

    async def _pg_owner(self, conn: psycopg.AsyncConnection[Any], key: str) -> str:
        row = await (await conn.execute(
            "SELECT a.application_name, a.backend_start FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND a.pid <> pg_backend_pid() "
            "AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended(%s, 0)",
            ("kwtui table lock " + key,))).fetchone()
        if row is None or not str(row[0]).startswith("kwtui "):
            return "another job"
        return f"{str(row[0])[len('kwtui '):]}, since {row[1]:%Y-%m-%d %H:%M:%S %Z}".rstrip()

    async def acquire(self) -> TableLock:
        if not self.keys:
            return self
        if self._pg:
            await self._acquire_pg()
            return self
        info = await self._open()
        try:
            if not self._prepared:
                info = await self._make_tables(info)
            wait = sql.SQL("SET statement_timeout = {}").format(sql.Literal(f"{LOCK_WAIT_MS}ms"))
            await info.execute(wait)  # KWDB: even this insert waits for a row another job holds FOR UPDATE
            for key in self.keys:
                try:
                    await info.execute(sql.SQL("INSERT INTO {} (table_name) VALUES (%s) ON CONFLICT DO NOTHING")
                                       .format(self._t("table_locks")), (key,))
                except psycopg.errors.QueryCanceled:
                    await info.execute("SET statement_timeout = 0")
                    raise self._refuse(key, await self._owner(info, key)) from None
            await info.execute("SET statement_timeout = 0")
            lock = await self._open()
            try:
                await lock.execute(wait)
                await lock.set_autocommit(False)
                for key in self.keys:
                    try:
                        await lock.execute(sql.SQL("SELECT table_name FROM {} WHERE table_name = %s FOR UPDATE")
                                           .format(self._t("table_locks")), (key,))
                    except psycopg.errors.QueryCanceled:
                        raise self._refuse(key, await self._owner(info, key)) from None
            except BaseException:
                await lock.close()
                raise
            self._conn = lock
            for key in self.keys:
                await info.execute(sql.SQL(
                    "INSERT INTO {} (table_name, job, since) VALUES (%s, %s, now()) "
                    "ON CONFLICT (table_name) DO UPDATE SET job = excluded.job, since = excluded.since").format(
                    self._t("table_lock_owners")), (key, holder_text(self.job)))
        finally:
            await info.close()
        return self

    async def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if not conn.closed:
                await conn.close()  # ends the session: the advisory lock / the locking transaction goes with it
        except psycopg.Error:
            pass

    async def __aenter__(self) -> TableLock:
        return await self.acquire()

    async def __aexit__(self, *exc: object) -> None:
        await self.release()


__all__ = ["IF_EXISTS", "FAIL", "APPEND", "TRUNCATE", "REPLACE", "check_if_exists", "TargetNotEmpty", "TableLocked",
           "handle_existing", "TableLock", "count_rows", "table_exists"]
