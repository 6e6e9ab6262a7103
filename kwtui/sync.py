"""Incremental sync by a watermark column (updated_at, a sequence id, or a TS timestamp).

One run copies the source rows whose watermark is above the last synced watermark minus an
overlap window (rows committed late with an older watermark are caught on the next run),
with upsert semantics on the target:

* PostgreSQL: ``INSERT ... ON CONFLICT (key) DO UPDATE ... WHERE (target row) IS DISTINCT
  FROM (excluded row)``, so rows already identical are neither written nor counted;
* KWDB relational: ``UPSERT`` of the rows that differ from the target's (compared as text);
* KWDB time-series: plain ``INSERT`` of the rows that differ (timestamp + primary tags dedupe).

A second run with no change therefore moves 0 rows. The source is read in one REPEATABLE
READ snapshot (the new watermark is the snapshot's maximum), the target written in one
transaction, and the watermark goes into the journal only after that commit: a crash in
between re-reads a little more next time, nothing is lost. Without a stored watermark the
target's own maximum is the start (after an initial ``kwtui transfer``). With one, the target
is checked first: when its own maximum of the watermark column is below the stored watermark
(rows lost on the target, e.g. deleted there) or it is empty, the run starts from the target's
value (or from the start) instead, and the result's ``notice`` says so.

Optional delete detection compares the key sets of both sides and deletes target rows whose
key is gone from the source. Values move as text (untyped literals); identifiers go through
psycopg.sql only.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from psycopg import sql

from kwtui.connection import ConnectionService
from kwtui.errors import UsageError
from kwtui.transfer.engine import split_name
from kwtui.transfer.source import column_list, qualified, text_everything

#: default overlap windows: temporal watermarks re-read this interval, numeric ones this many units
DEFAULT_INTERVAL = "5 minutes"
DEFAULT_COUNT = 1000
PAGE_ROWS = 5000
MAX_PARAMS = 60_000

_TEMPORAL = ("timestamp", "date", "time")
_NUMERIC = ("smallint", "integer", "bigint", "numeric", "decimal", "int2", "int4", "int8", "real",
            "double precision", "float4", "float8")


@dataclass
class SyncResult:
    table: str
    target: str
    rows_moved: int
    watermark_before: str | None
    watermark_after: str | None
    deleted: int = 0
    rows_read: int = 0
    lower_bound: str | None = None
    method: str = ""
    elapsed: float = 0.0
    #: set when the run did not start where the journal said (the target was behind it)
    notice: str | None = None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["elapsed_s"] = round(d.pop("elapsed"), 3)
        return d


def _base(type_text: str) -> str:
    return type_text.lower().split("(")[0].strip()


async def _table_detail(svc: ConnectionService, schema: str, name: str) -> Any:
    assert svc.dialect is not None
    listed = {t.name: t for t in await svc.dialect.list_tables(svc, schema)}
    if name not in listed:
        return None
    return await svc.dialect.table_detail(svc, listed[name])


async def _source_columns(src: ConnectionService, table: str) -> tuple[str, str, Any, list[str]]:
    """(schema, name, detail, columns) of a source table; UsageError when it does not exist."""
    schema, name = split_name(table)
    detail = await _table_detail(src, schema, name)
    if detail is None:
        raise UsageError(f"source table {schema}.{name} does not exist")
    # a generated column (GENERATED ALWAYS AS (expr) STORED) is computed by the target: never written
    return schema, name, detail, [c.name for c in detail.columns
                                  if not (c.default or "").startswith("GENERATED ALWAYS AS (")]


async def _scalar(conn: psycopg.AsyncConnection[Any], query: sql.Composed, params: Sequence[Any] = ()) -> Any:
    async with conn.cursor() as cur:
        await cur.execute(query, params or None)
        row = await cur.fetchone()
    return row[0] if row else None


def overlap_lower_bound(watermark_type: str, overlap: str | int | None) -> tuple[sql.Composed, list[Any]]:
    """SELECT text of ``last - overlap`` for a watermark of ``watermark_type`` (the ``%s`` is the last value)."""
    base = _base(watermark_type)
    if base.startswith(_TEMPORAL):
        window = str(overlap) if overlap is not None else DEFAULT_INTERVAL
        if isinstance(overlap, int):
            window = f"{overlap} seconds"
        return (sql.SQL("SELECT (CAST(%s AS {t}) - CAST(%s AS interval))::text").format(t=sql.SQL(watermark_type)),
                [window])
    if base in _NUMERIC:
        count = int(overlap) if overlap is not None else DEFAULT_COUNT
        return sql.SQL("SELECT (CAST(%s AS {t}) - %s)::text").format(t=sql.SQL(watermark_type)), [count]
    raise UsageError(f"watermark column of type {watermark_type}: use a timestamp, date or number column")


def upsert_statement(schema: str, table: str, columns: Sequence[str], key: Sequence[str], nrows: int) -> sql.Composed:
    """PostgreSQL: multi-row INSERT ... ON CONFLICT (key) DO UPDATE only where the row differs."""
    one = sql.SQL("({})").format(sql.SQL(", ").join(sql.Placeholder() * len(columns)))
    values = sql.SQL(", ").join([one] * nrows)
    rest = [c for c in columns if c not in key]
    head = sql.SQL("INSERT INTO {} AS kw_t ({}) VALUES {} ON CONFLICT ({})").format(
        qualified(schema, table), column_list(columns), values, column_list(key))
    if not rest:
        return head + sql.SQL(" DO NOTHING")
    sets = sql.SQL(", ").join(sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in rest)
    # compared as text: works for types without an equality operator (json, point, ...)
    mine = sql.SQL(", ").join(sql.SQL("kw_t.{}::text").format(sql.Identifier(c)) for c in rest)
    theirs = sql.SQL(", ").join(sql.SQL("EXCLUDED.{}::text").format(sql.Identifier(c)) for c in rest)
    row = "ROW({})" if len(rest) > 1 else "({})"
    return head + sql.SQL(" DO UPDATE SET {} WHERE {} IS DISTINCT FROM {}").format(
        sets, sql.SQL(row).format(mine), sql.SQL(row).format(theirs))


def plain_statement(verb: str, schema: str, table: str, columns: Sequence[str], nrows: int) -> sql.Composed:
    """KWDB: ``UPSERT INTO`` (relational) or ``INSERT INTO`` (time-series) of ``nrows`` rows."""
    one = sql.SQL("({})").format(sql.SQL(", ").join(sql.Placeholder() * len(columns)))
    return sql.SQL(verb + " INTO {} ({}) VALUES {}").format(
        qualified(schema, table), column_list(columns), sql.SQL(", ").join([one] * nrows))


def _key_in(key: Sequence[str], nkeys: int) -> sql.Composed:
    if len(key) == 1:
        return sql.SQL("{} IN ({})").format(sql.Identifier(key[0]), sql.SQL(", ").join(sql.Placeholder() * nkeys))
    one = sql.SQL("({})").format(sql.SQL(", ").join(sql.Placeholder() * len(key)))
    return sql.SQL("({}) IN ({})").format(column_list(key), sql.SQL(", ").join([one] * nkeys))


def _target_types(tdetail: Any, columns: Sequence[str]) -> list[str]:
    """The target's type of each column (as its catalog prints it), for the server-side comparison."""
    by_name = {c.name: c.type for c in tdetail.columns}
    return [by_name.get(c) or "STRING" for c in columns]


async def _changed_rows(dst_conn: psycopg.AsyncConnection[Any], schema: str, table: str, columns: Sequence[str],
                        key: Sequence[str], rows: list[tuple[Any, ...]],
                        types: Sequence[str]) -> list[tuple[Any, ...]]:
    """The rows that are not in the target as they are, for targets without ON CONFLICT WHERE.

    The target compares: each source value (its text) is cast to the target column's type and
    compared with IS NOT DISTINCT FROM, so values printed differently by the two servers
    (timestamps, floats, bytes, JSON) but equal count as unchanged (a text comparison re-sent
    the whole overlap window on every sync into KWDB).
    """
    if not rows:
        return []
    idx = sql.Identifier("kwtui_row")
    cols = [sql.Identifier(c) for c in columns]
    one = sql.SQL("({})").format(sql.SQL(", ").join(
        [sql.Placeholder()] + [sql.SQL("CAST({} AS {})").format(sql.Placeholder(), sql.SQL(t)) for t in types]))
    same = sql.SQL(" AND ").join(
        sql.SQL("t.{c} = v.{c}" if name in key else "t.{c} IS NOT DISTINCT FROM v.{c}").format(c=c)
        for name, c in zip(columns, cols, strict=True))
    q = sql.SQL("SELECT v.{i} FROM (VALUES {vals}) AS v({i}, {cols}) "
                "WHERE NOT EXISTS (SELECT 1 FROM {t} AS t WHERE {same})").format(
        i=idx, vals=sql.SQL(", ").join([one] * len(rows)), cols=sql.SQL(", ").join(cols),
        t=qualified(schema, table), same=same)
    params: list[Any] = []
    for n, r in enumerate(rows):
        params.append(n)
        params.extend(r)
    async with dst_conn.cursor() as cur:
        await cur.execute(q, params)
        changed = {int(r[0]) for r in await cur.fetchall()}
    return [r for n, r in enumerate(rows) if n in changed]


async def sync_table(src: ConnectionService, dst: ConnectionService, table: str, watermark_col: str, *,
                     key: Sequence[str] | None = None, overlap: str | int | None = None, journal: Any = None,
                     delete_detection: bool = False, page_rows: int = PAGE_ROWS, full: bool = False) -> SyncResult:
    """One incremental sync of ``table`` (``schema.table``) from ``src`` to ``dst``; see the module docstring.

    ``full`` reconciles the whole table (every source row read, the changed ones upserted; the
    journal's watermark is left alone): for tables whose watermark cannot see updates.
    """
    assert src.info is not None and dst.info is not None
    started = time.perf_counter()
    schema, name, detail, columns = await _source_columns(src, table)
    types = {c.name: c.type for c in detail.columns}
    if watermark_col not in types:
        raise UsageError(f"{schema}.{name} has no column {watermark_col}", hint=f"columns: {', '.join(columns)}")
    if key:
        key = list(key)
    elif detail.table.is_ts:
        key = [columns[0], *detail.primary_tags]
    else:
        key = detail.primary_key
    if not key:
        raise UsageError(f"{schema}.{name} has no primary key: give the key columns with --key a,b")
    bad = [k for k in key if k not in types]
    if bad:
        raise UsageError(f"key column(s) {', '.join(bad)} not in {schema}.{name}")
    tschema = schema if dst.info.kind == "postgres" else "public"
    tdetail = await _table_detail(dst, tschema, name)
    if tdetail is None:
        raise UsageError(f"target table {tschema}.{name} does not exist",
                         hint="create and fill it first with kwtui transfer")
    missing = [c for c in columns if c not in {tc.name for tc in tdetail.columns}]
    if missing:
        raise UsageError(f"target table {tschema}.{name} lacks columns: {', '.join(missing)}")
    target_ts = bool(tdetail.table.is_ts)
    ttypes = _target_types(tdetail, columns)
    if dst.info.kind == "postgres":
        method = "INSERT ... ON CONFLICT DO UPDATE WHERE IS DISTINCT FROM"
    elif target_ts:
        method = "INSERT (TS: timestamp + primary tags dedupe) of changed rows"
    else:
        method = "UPSERT of changed rows"
    src_table, dst_table = qualified(schema, name), qualified(tschema, name)
    wm = sql.Identifier(watermark_col)
    ident = (src.target.describe(), dst.target.describe(), f"{schema}.{name}", watermark_col)
    before = journal.get_watermark(*ident) if journal is not None and not full else None
    result = SyncResult(f"{schema}.{name}", f"{tschema}.{name}", 0, before, before, method=method)

    src_conn = await src.open_raw()
    dst_conn = await dst.open_raw()
    try:
        text_everything(src_conn)
        text_everything(dst_conn)
        if before is None and not full:  # first sync after an initial transfer: the target's own high-water mark
            before = await _scalar(dst_conn, sql.SQL("SELECT max({})::text FROM {}").format(wm, dst_table))
            result.watermark_before = before
            await dst_conn.rollback()
        elif before is not None and not full:
            before = await _target_behind(dst_conn, dst_table, tdetail, watermark_col, before, result)
        lower = None
        if before is not None:
            q, extra = overlap_lower_bound(types[watermark_col], overlap)
            lower = await _scalar(src_conn, q, [before, *extra])
            await src_conn.rollback()
        result.lower_bound = lower
        if src.info.kind == "postgres":
            # the first statement of psycopg's implicit transaction: one snapshot for max() and rows
            await src_conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        after = await _scalar(src_conn, sql.SQL("SELECT max({})::text FROM {}").format(wm, src_table))
        where = sql.SQL(" WHERE {} > {}").format(wm, sql.Literal(lower)) if lower is not None else sql.SQL("")
        select = sql.SQL("SELECT {} FROM {}{} ORDER BY {}").format(column_list(columns), src_table, where, wm)
        batch = max(1, min(page_rows, MAX_PARAMS // max(1, len(columns))))
        async with dst_conn.transaction():
            pending: list[tuple[Any, ...]] = []

            async def flush() -> None:
                rows = pending[:]
                pending.clear()
                result.rows_moved += await _write_rows(dst_conn, dst, target_ts, tschema, name, columns, key, rows,
                                                       ttypes)

            async with src_conn.cursor() as cur:
                async for row in cur.stream(select, size=min(batch, 2000)):
                    result.rows_read += 1
                    pending.append(tuple(row))
                    if len(pending) >= batch:
                        await flush()
            await flush()
            if delete_detection:
                result.deleted = await _delete_missing(src_conn, dst_conn, src_table, dst_table, key)
        await src_conn.rollback()
    finally:
        await src_conn.close()
        await dst_conn.close()
    result.watermark_after = after if after is not None else before
    if journal is not None and not full:
        journal.set_watermark(*ident, result.watermark_after, result.rows_moved)
    result.elapsed = time.perf_counter() - started
    return result


async def _target_behind(dst_conn: psycopg.AsyncConnection[Any], dst_table: sql.Composed, tdetail: Any,
                         watermark_col: str, stored: str, result: SyncResult) -> str | None:
    """Where this run starts: the stored watermark, unless the target's own maximum of the
    watermark column is below it (rows above it are gone from the target) or the target is
    empty; then the target's value (None: from the start), with a notice in ``result``."""
    wm = sql.Identifier(watermark_col)
    ttype = next((c.type for c in tdetail.columns if c.name == watermark_col), None)
    if ttype is None:
        return stored
    q = sql.SQL("SELECT max({wm})::text, CASE WHEN max({wm}) < CAST(%s AS {t}) THEN 1 ELSE 0 END FROM {tbl}").format(
        wm=wm, t=sql.SQL(ttype), tbl=dst_table)
    async with dst_conn.cursor() as cur:
        await cur.execute(q, [stored])
        row = await cur.fetchone()
    await dst_conn.rollback()
    target_max, behind = (row[0], str(row[1]) == "1") if row else (None, False)
    if target_max is None:
        result.notice = (f"the target table {result.target} is empty although the stored watermark of "
                         f"{watermark_col} is {stored}: synced from the start")
    elif behind:
        result.notice = (f"the target is behind the stored watermark of {watermark_col} ({stored}): its own "
                         f"maximum is {target_max}, so rows above it are missing there; synced from the "
                         "target's value")
    else:
        return stored
    result.watermark_before = target_max
    return target_max


async def _write_rows(dst_conn: psycopg.AsyncConnection[Any], dst: ConnectionService, target_ts: bool, tschema: str,
                      name: str, columns: Sequence[str], key: Sequence[str], rows: list[tuple[Any, ...]],
                      types: Sequence[str] = ()) -> int:
    """Upsert ``rows`` into the target; returns the rows written (identical rows are skipped)."""
    if not rows:
        return 0
    on_pg = dst.info is not None and dst.info.kind == "postgres"
    if on_pg:
        stmt = upsert_statement(tschema, name, columns, key, len(rows))
    else:
        rows = await _changed_rows(dst_conn, tschema, name, columns, key, rows, types)
        if not rows:
            return 0
        stmt = plain_statement("INSERT" if target_ts else "UPSERT", tschema, name, columns, len(rows))
    async with dst_conn.cursor() as cur:
        await cur.execute(stmt, [v for r in rows for v in r])
        return max(0, cur.rowcount) if on_pg else len(rows)


async def repair_rows(src: ConnectionService, dst: ConnectionService, table: str, key: Sequence[str],
                      upsert_keys: Sequence[Sequence[Any]], delete_keys: Sequence[Sequence[Any]]) -> SyncResult:
    """Make the target rows of the given keys equal to the source's: re-read and upsert
    ``upsert_keys`` (changed or missing rows), delete ``delete_keys`` (rows gone from the source).

    The keys come from a validation, which pinpoints the differing rows far faster than
    reading the whole table; one target transaction.
    """
    assert src.info is not None and dst.info is not None
    started = time.perf_counter()
    schema, name, _, columns = await _source_columns(src, table)
    tschema = schema if dst.info.kind == "postgres" else "public"
    tdetail = await _table_detail(dst, tschema, name)
    if tdetail is None:
        raise UsageError(f"target table {tschema}.{name} does not exist")
    target_ts = bool(tdetail.table.is_ts)
    ttypes = _target_types(tdetail, columns)
    result = SyncResult(f"{schema}.{name}", f"{tschema}.{name}", 0, None, None, method="repair of the differing keys")
    src_table, dst_table = qualified(schema, name), qualified(tschema, name)
    per = max(1, MAX_PARAMS // max(1, len(columns), len(key)))
    src_conn = await src.open_raw()
    dst_conn = await dst.open_raw()
    try:
        text_everything(src_conn)
        text_everything(dst_conn)
        async with dst_conn.transaction():
            for i in range(0, len(upsert_keys), per):
                chunk = [tuple(k) for k in upsert_keys[i:i + per]]
                async with src_conn.cursor() as cur:
                    await cur.execute(sql.SQL("SELECT {} FROM {} WHERE {}").format(
                        column_list(columns), src_table, _key_in(key, len(chunk))), [v for k in chunk for v in k])
                    rows = [tuple(r) for r in await cur.fetchall()]
                result.rows_read += len(rows)
                result.rows_moved += await _write_rows(dst_conn, dst, target_ts, tschema, name, columns, key, rows,
                                                       ttypes)
            result.deleted += await delete_by_key(dst_conn, dst_table, key, delete_keys)
        await src_conn.rollback()
    finally:
        await src_conn.close()
        await dst_conn.close()
    result.elapsed = time.perf_counter() - started
    return result


async def delete_by_key(dst_conn: psycopg.AsyncConnection[Any], dst_table: sql.Composed, key: Sequence[str],
                      keys: Sequence[Sequence[Any]]) -> int:
    """DELETE the target rows of ``keys`` (in the caller's transaction), as many a statement as the
    protocol's parameter limit allows; the rows deleted."""
    deleted = 0
    per = max(1, MAX_PARAMS // max(1, len(key)))
    for i in range(0, len(keys), per):
        chunk = [tuple(k) for k in keys[i:i + per]]
        async with dst_conn.cursor() as cur:
            await cur.execute(sql.SQL("DELETE FROM {} WHERE {}").format(dst_table, _key_in(key, len(chunk))),
                              [v for k in chunk for v in k])
            deleted += max(0, cur.rowcount)
    return deleted


async def _delete_missing(src_conn: psycopg.AsyncConnection[Any], dst_conn: psycopg.AsyncConnection[Any],
                          src_table: sql.Composed, dst_table: sql.Composed, key: Sequence[str]) -> int:
    """Delete target rows whose key is gone from the source (key sets compared as text)."""
    q = sql.SQL("SELECT {} FROM {}")
    keys = column_list(key)
    async with src_conn.cursor() as cur:
        source_keys = {tuple(r) async for r in cur.stream(q.format(keys, src_table))}
    async with dst_conn.cursor() as cur:
        gone = [tuple(r) async for r in cur.stream(q.format(keys, dst_table)) if tuple(r) not in source_keys]
    return await delete_by_key(dst_conn, dst_table, key, gone)


__all__ = ["SyncResult", "sync_table", "repair_rows", "upsert_statement", "overlap_lower_bound"]
