"""Catch-up that cannot miss a commit: the changes since a recorded source snapshot.

No time window below a watermark: a row is found by *who wrote it*, not by a timestamp the
application set.

* PostgreSQL source: the rows whose ``xmin`` (the transaction that wrote the row version)
  was not committed before the recorded snapshot (:func:`kwtui.snapshot.changed_since`), read
  in one new REPEATABLE READ snapshot taken at the start of the catch-up. A transaction that
  started before, wrote, and committed after that start is not visible in the new snapshot
  either, so the next catch-up (whose baseline is the new snapshot) carries it. Updated_at
  values play no part: a commit "7 minutes late" is found like any other.
* KWDB source: KWDB V3.2.1 has no ``crdb_internal_mvcc_timestamp`` (checked on the live
  server: "column does not exist"), so nothing in a row says when it was written. Such tables
  keep the watermark sync (:mod:`kwtui.sync`) and are reconciled in full at cutover; the plan
  says so per table (:func:`method_for`).
* Deletes: by key anti-join, the target's keys in key-ordered chunks, each chunk checked
  against the source in the same snapshot; target rows whose key is gone are deleted.

All tables are read in one source snapshot and written in one target transaction: upserts in
the plan's order (parents first), deletes in reverse (children first), so foreign keys on the
target hold at every statement. The new snapshot becomes the baseline only after that commit.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from kwtui.errors import UsageError
from kwtui.snapshot import SnapshotIdentity, begin_in_snapshot, changed_since
from kwtui.transfer.source import column_list, keyset_rows, qualified, split_name, text_everything

#: target keys checked against the source per query
#: target keys compared with the source per statement (as arrays, one per key column)
ARRAY_CHUNK = 50_000
WRITE_ROWS = 2000

METHOD_PG = "PostgreSQL xmin not committed before the recorded snapshot (sees late commits); deletes by key anti-join"


@dataclass
class ChangeTable:
    """One table of a catch-up: source and target ``schema.table`` names and the key."""

    source: str
    target: str
    key: list[str]
    ts: bool = False  # a KWDB time-series target: no deletes by key


@dataclass
class TableChanges:
    table: str
    target: str
    rows_read: int = 0
    rows_moved: int = 0
    deleted: int = 0
    method: str = ""
    elapsed: float = 0.0


@dataclass
class CatchUp:
    baseline: SnapshotIdentity
    snapshot: SnapshotIdentity  # the new baseline (the snapshot this catch-up read)
    tables: list[TableChanges] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def rows_moved(self) -> int:
        return sum(t.rows_moved + t.deleted for t in self.tables)

    def as_dict(self) -> dict[str, Any]:
        return {"baseline": self.baseline.as_dict(), "snapshot": self.snapshot.as_dict(),
                "rows_moved": self.rows_moved, "elapsed_s": round(self.elapsed, 3),
                "tables": [asdict(t) for t in self.tables]}


def method_for(source_kind: str, key: Sequence[str], watermark: str = "", sees_updates: bool = False) -> tuple[str, str]:
    """(method, why) of the change capture of one table: what the plan says it gets."""
    if source_kind == "csv":
        return "none", "files do not change after the import"
    if not key:
        return "full", ("no key: changed rows cannot be matched; the validation compares the table by content "
                        "at cutover")
    if source_kind == "postgres":
        return "xmin", ("rows written by transactions not committed before the copy's snapshot (xmin, then each "
                        "catch-up's snapshot): sees late commits, needs no updated_at; deletes by key anti-join")
    if watermark and sees_updates:
        return "watermark", (f"KWDB has no MVCC timestamp column: {watermark} finds inserts and updates; the "
                             "cutover reconciles the table in full (late commits, deletes)")
    return "full", ("KWDB has no MVCC timestamp column and " + (f"{watermark} sees inserts only" if watermark else
                    "there is no watermark") + ": the cutover reconciles the table in full")


async def _columns(svc: Any, table: str) -> tuple[str, str, list[tuple[str, str]], Any]:
    from kwtui.sync import _table_detail

    schema, name = split_name(table)
    detail = await _table_detail(svc, schema, name)
    if detail is None:
        raise UsageError(f"table {schema}.{name} does not exist on {svc.target.describe()}")
    return schema, name, [(c.name, c.type) for c in detail.columns], detail


async def catch_up(src: Any, dst: Any, tables: Sequence[ChangeTable], baseline: SnapshotIdentity, *,
                   snapshot: str | None = None, deletes: bool = True,
                   listener: Callable[[str], None] | None = None) -> CatchUp:
    """Apply every change since ``baseline`` to the target; see the module docstring.

    ``snapshot``: an exported PostgreSQL snapshot (or a KWDB timestamp) to read at instead of a
    new one (the historical phase repairs a resumed copy this way)."""
    from kwtui.sync import _target_types, _write_rows

    say = listener or (lambda _m: None)
    started = time.perf_counter()
    kind = src.info.kind
    src_conn = await src.open_raw()
    dst_conn = await dst.open_raw()
    taken = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    try:
        text_everything(src_conn)
        text_everything(dst_conn)
        if kind == "postgres":
            if snapshot:
                await begin_in_snapshot(src_conn, kind, snapshot)
            else:
                await src_conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            row = await (await src_conn.execute("SELECT pg_current_snapshot()::text")).fetchone()
            current = SnapshotIdentity(kind, str(row[0]) if row else "", taken)
            where = changed_since(baseline.ident, current.ident)
        else:
            raise UsageError("the catch-up by snapshot needs a PostgreSQL source (KWDB rows carry no MVCC "
                             "timestamp): use the watermark sync")
        out = CatchUp(baseline, current)
        shapes = []
        async with dst_conn.transaction():
            for t in tables:
                t0 = time.perf_counter()
                schema, name, cols, _ = await _columns(src, t.source)
                tschema, tname, _, tdetail = await _columns(dst, t.target)
                columns = [c for c, _ in cols]
                res = TableChanges(t.source, t.target, method=METHOD_PG)
                out.tables.append(res)
                shapes.append((t, schema, name, cols, tschema, tname, bool(tdetail.table.is_ts), res))
                if not t.key:
                    res.method = "no key: not synced by the catch-up (reconciled in full at cutover)"
                    continue
                say(f"{t.source}: reading the rows changed since {baseline.ident}")
                ttypes = _target_types(tdetail, columns)
                q = sql.SQL("SELECT {} FROM {} WHERE {}").format(column_list(columns), qualified(schema, name), where)
                pending: list[tuple[Any, ...]] = []
                async with src_conn.cursor() as cur:
                    async for r in cur.stream(q, size=WRITE_ROWS):
                        res.rows_read += 1
                        pending.append(tuple(r))
                        if len(pending) >= WRITE_ROWS:
                            res.rows_moved += await _write_rows(dst_conn, dst, bool(tdetail.table.is_ts), tschema,
                                                                tname, columns, t.key, pending, ttypes)
                            pending = []
                res.rows_moved += await _write_rows(dst_conn, dst, bool(tdetail.table.is_ts), tschema, tname,
                                                    columns, t.key, pending, ttypes)
                res.elapsed += time.perf_counter() - t0
            if deletes:
                for t, schema, name, cols, tschema, tname, target_ts, res in reversed(shapes):
                    if not t.key or target_ts or t.ts:
                        continue
                    t0 = time.perf_counter()
                    say(f"{t.source}: looking for deleted keys")
                    res.deleted = await _delete_gone(src_conn, dst_conn, (schema, name), (tschema, tname),
                                                     t.key, dict(cols))
                    res.elapsed += time.perf_counter() - t0
        await src_conn.rollback()
    finally:
        await src_conn.close()
        await dst_conn.close()
    out.elapsed = time.perf_counter() - started
    return out


async def _delete_gone(src_conn: psycopg.AsyncConnection[Any], dst_conn: psycopg.AsyncConnection[Any],
                       src_name: tuple[str, str], dst_name: tuple[str, str], key: Sequence[str],
                       types: dict[str, str]) -> int:
    """Key anti-join: the target's keys in key-ordered chunks; those the source no longer holds
    are deleted (in the caller's target transaction)."""
    from kwtui.sync import delete_by_key

    src_t = qualified(*src_name)
    keys = [sql.Identifier(k) for k in key]
    # the chunk's keys travel as one text array per key column, cast to the column's type on the
    # source: one statement of a few parameters however many keys (a VALUES list of a parameter per
    # key value took about 20 us a key to parse and bind)
    arrays = sql.SQL(", ").join(sql.SQL("CAST(CAST({} AS text[]) AS {}[])").format(sql.Placeholder(), sql.SQL(types[k]))
                                for k in key)
    same = sql.SQL(" AND ").join(sql.SQL("s.{k} = v.{k}").format(k=k) for k in keys)
    q = sql.SQL("SELECT v.kwtui_i FROM unnest({arrays}) WITH ORDINALITY AS v({cols}, kwtui_i) "
                "WHERE NOT EXISTS (SELECT 1 FROM {t} AS s WHERE {same})").format(
        arrays=arrays, cols=sql.SQL(", ").join(keys), t=src_t, same=same)
    gone: list[tuple[Any, ...]] = []
    async for block in keyset_rows(dst_conn, dst_name[0], dst_name[1], list(key), list(key), page=ARRAY_CHUNK):
        rows = block.rows
        params = [[r[j] for r in rows] for j in range(len(key))]
        async with src_conn.cursor() as cur:
            await cur.execute(q, params)
            missing = {int(r[0]) - 1 for r in await cur.fetchall()}
        gone.extend(tuple(r) for i, r in enumerate(rows) if i in missing)
    return await delete_by_key(dst_conn, qualified(*dst_name), key, gone)


__all__ = ["ChangeTable", "TableChanges", "CatchUp", "catch_up", "method_for", "METHOD_PG"]
