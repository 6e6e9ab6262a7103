"""One consistent view of the source for a whole multi-table copy, and its identity.

PostgreSQL: a :class:`SnapshotHolder` opens one REPEATABLE READ transaction, exports its
snapshot (``pg_export_snapshot()``) and keeps the transaction open for the whole copy; every
worker and table read starts its own REPEATABLE READ transaction with ``SET TRANSACTION
SNAPSHOT``, so all tables are read as of one moment and constraints added after the load hold
while the application writes. The snapshot's identity (``pg_current_snapshot()``:
``xmin:xmax:xip,...``) is recorded: the catch-up (:mod:`kwtui.changes`) finds every row written
by a transaction not visible in it, however late it committed.

KWDB: one timestamp (``cluster_logical_timestamp()``); each reader's transaction starts with
``SET TRANSACTION AS OF SYSTEM TIME`` it (checked on KWDB V3.2.1: a keyset read of several
statements sees the table as of that timestamp).

The watermarks (``max(updated_at)`` and such) are read inside the holder's transaction, so
they belong to the same snapshot.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

#: a pg_snapshot's text: xmin:xmax:xip,xip,...
_PG_SNAPSHOT_FORMAT = "xmin:xmax:xip"


@dataclass
class SnapshotIdentity:
    """What the migration state keeps of a snapshot: its kind and its identity text."""

    kind: str  # postgres | kwdb
    ident: str  # PostgreSQL: pg_current_snapshot() text; KWDB: the HLC timestamp
    taken: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "ident": self.ident, "taken": self.taken}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> SnapshotIdentity | None:
        if not d or not d.get("ident"):
            return None
        return cls(str(d.get("kind", "postgres")), str(d["ident"]), str(d.get("taken", "")))

    def describe(self) -> str:
        if self.kind == "postgres":
            return f"PostgreSQL snapshot {self.ident} ({_PG_SNAPSHOT_FORMAT})"
        return f"KWDB timestamp {self.ident} (AS OF SYSTEM TIME)"


def pg_snapshot_parts(ident: str) -> tuple[int, int, list[int]]:
    """(xmin, xmax, xip) of a pg_snapshot text."""
    xmin, xmax, xip = ident.split(":")
    return int(xmin), int(xmax), [int(x) for x in xip.split(",") if x]


class SnapshotHolder:
    """Holds one source snapshot open; ``exported`` is what workers import (PostgreSQL), or the
    timestamp they read at (KWDB)."""

    def __init__(self, conn: psycopg.AsyncConnection[Any] | None, kind: str, exported: str,
                 identity: SnapshotIdentity) -> None:
        self.conn, self.kind, self.exported, self.identity = conn, kind, exported, identity

    @classmethod
    async def open(cls, src: Any) -> SnapshotHolder:
        kind = src.info.kind if src.info is not None else "postgres"
        taken = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        if kind != "postgres":
            conn = await src.open_raw(autocommit=True)
            try:
                row = await (await conn.execute("SELECT cluster_logical_timestamp()::text")).fetchone()
            finally:
                await conn.close()
            ts = str(row[0]) if row else ""
            return cls(None, kind, ts, SnapshotIdentity(kind, ts, taken))
        conn = await src.open_raw(autocommit=True)
        try:
            await conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            row = await (await conn.execute("SELECT pg_export_snapshot(), pg_current_snapshot()::text")).fetchone()
        except BaseException:
            await conn.close()
            raise
        assert row is not None
        return cls(conn, kind, str(row[0]), SnapshotIdentity(kind, str(row[1]), taken))

    async def scalar(self, query: sql.Composed) -> Any:
        """One value read in the snapshot (PostgreSQL: in the holder's transaction)."""
        if self.conn is None:
            raise RuntimeError("no holder connection")
        row = await (await self.conn.execute(query)).fetchone()
        return row[0] if row else None

    async def close(self) -> None:
        if self.conn is not None:
            conn, self.conn = self.conn, None
            try:
                await conn.execute("ROLLBACK")
            except psycopg.Error:
                pass
            await conn.close()


async def hold_if_possible(src: Any) -> SnapshotHolder | None:
    """A holder, or None where the source cannot export a snapshot (the copy then reads each batch
    in its own transaction, as a single-table copy always could)."""
    try:
        return await SnapshotHolder.open(src)
    except psycopg.Error:
        return None


async def begin_in_snapshot(conn: psycopg.AsyncConnection[Any], kind: str, snapshot: str | None) -> None:
    """Make the transaction psycopg opens on ``conn`` (not autocommit) read as of ``snapshot``.

    Must be the first statements of the transaction."""
    if not snapshot:
        return
    if kind == "postgres":
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        await conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
    else:
        await conn.execute(sql.SQL("SET TRANSACTION AS OF SYSTEM TIME {}").format(sql.Literal(snapshot)))


def changed_since(baseline: str, current: str) -> sql.Composed:
    """PostgreSQL: a WHERE condition true for every row version written by a transaction that was
    not committed before ``baseline`` (a pg_snapshot text), read in a snapshot ``current``.

    ``xmin`` is a 32-bit xid: it is widened to an xid8 with the epoch of ``current``'s xmax
    (the newest an xmin can be); a value above that xmax belongs to the previous epoch. Frozen
    and special xids (below 3) and anything older than 2^32 transactions count as old.

    The condition is ``xid8 >= baseline's xmin``, a superset of "not visible in the baseline":
    pg_current_snapshot() lists top-level xids only, so a row written in a subtransaction of
    a transaction that was in progress at the baseline could look visible. Rows committed
    between the baseline's xmin and xmax may be read again; the writes compare each row with
    the target's and count only those that differ, so the count stays exact.
    """
    base_xmin, _, _ = pg_snapshot_parts(baseline)
    _, top, _ = pg_snapshot_parts(current)
    hi = top & ~0xFFFFFFFF
    x = sql.SQL("xmin::text::bigint")
    full = sql.SQL("(CASE WHEN ({hi} | {x}) > {top} THEN ({hi} | {x}) - 4294967296 ELSE ({hi} | {x}) END)").format(
        hi=sql.Literal(hi), x=x, top=sql.Literal(top))
    return sql.SQL("({x} >= 3 AND {full} >= {base})").format(x=x, full=full, base=sql.Literal(base_xmin))


__all__ = ["SnapshotIdentity", "SnapshotHolder", "hold_if_possible", "begin_in_snapshot", "changed_since",
           "pg_snapshot_parts"]
