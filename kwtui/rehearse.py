"""A rehearsal of a plan (``kwtui run PLAN --rehearse``): a sample of every table, loaded into a
scratch schema on the target, parents before children with the children's foreign keys kept
consistent (a child row comes along only when the parent row it names did), checked (rows and
orphans), timed into an ETA for the real run, then the scratch schema is dropped.

The scratch schema is made by the rehearsal and must not exist before it: nothing of the user's
is ever dropped. Sources: PostgreSQL; targets: PostgreSQL or a relational KWDB database.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from psycopg import sql

from kwtui.errors import KwtuiError, UsageError
from kwtui.names import TableName

#: rows of one table at most in a rehearsal, whatever the percentage
MAX_SAMPLE_ROWS = 100_000
#: rows per INSERT where the target's COPY cannot take the sample as text (KWDB)
INSERT_ROWS = 500


@dataclass
class RehearsedTable:
    table: str
    sample_rows: int = 0
    loaded_rows: int = 0
    full_rows: int = 0
    seconds: float = 0.0
    load_seconds: float = 0.0  # the COPY of the sample alone (the rate the ETA scales)
    orphans: int = 0
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.loaded_rows == self.sample_rows and self.orphans == 0


@dataclass
class Rehearsal:
    scratch: str
    percent: float
    tables: list[RehearsedTable] = field(default_factory=list)
    seconds: float = 0.0
    rows_per_s: float = 0.0
    eta_s: float = 0.0
    dropped: bool = False

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tables)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "scratch": self.scratch, "percent": self.percent, "seconds": round(self.seconds, 3),
                "rows_per_s": round(self.rows_per_s, 1), "eta_s": round(self.eta_s, 3), "dropped": self.dropped,
                "tables": [{**asdict(t), "ok": t.ok} for t in self.tables]}


#: seconds the real run spends setting up one table (measured; the plan's ETA uses the same)
TABLE_SETUP_S = 0.05


def _qt(schema: str, name: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))


async def rehearse(plan: Any, src: Any, dst: Any, *, percent: float = 10.0, scratch: str | None = None,
                   keep: bool = False, say: Callable[[str], None] | None = None) -> Rehearsal:
    from kwtui import plan as planmod

    if not 0 < percent <= 100:
        raise UsageError("--sample is a percentage above 0 and at most 100")
    if src is None or src.info.kind != "postgres":
        raise UsageError("a rehearsal samples a PostgreSQL source (files and KWDB sources: not yet)")
    if plan.target_kind == "kwdb-ts" or dst.info.kind not in ("postgres", "kwdb"):
        raise UsageError("a rehearsal loads relational tables (a time-series target: not yet)")
    scratch = scratch or f"kwtui_rehearsal_{uuid.uuid4().hex[:8]}"
    exists = (await dst.query("SELECT count(*) FROM pg_namespace WHERE nspname = %s", (scratch,))).rows[0][0]
    if exists:
        raise UsageError(f"schema {scratch} exists on the target: name a new one (the rehearsal drops it after)")
    out = Rehearsal(scratch, percent)
    included = {t.table for t in plan.tables if t.include}
    order, _warnings = planmod.order_tables(plan.assessment)
    tables = [ta for ta in order if ta.qualified in included]
    target_kind = "postgres" if dst.info.kind == "postgres" else "kwdb"
    #: table -> column -> the values sampled (only columns that foreign keys reference)
    kept: dict[str, dict[str, set[str]]] = {}
    referenced: dict[str, set[str]] = {}
    for ta in tables:
        for fk in ta.foreign_keys:
            if len(fk.columns) == 1 and fk.ref_table in included:
                referenced.setdefault(fk.ref_table, set()).add(fk.ref_columns[0])
    await dst.query(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(scratch)))
    started = time.perf_counter()
    try:
        for ta in tables:
            rt = RehearsedTable(ta.qualified, full_rows=ta.rows)
            out.tables.append(rt)
            if say:
                say(f"{ta.qualified}: sampling {percent:g}%")
            t0 = time.perf_counter()
            try:
                await _one_table(plan, planmod, src, dst, ta, rt, scratch, target_kind, percent, kept, referenced)
            except KwtuiError as exc:
                rt.error = exc.message
            rt.seconds = time.perf_counter() - t0
        out.seconds = time.perf_counter() - started
        moved = sum(t.loaded_rows for t in out.tables)
        # the load rate, not the whole rehearsal's: sampling by parent keys and the orphan checks are
        # the rehearsal's own work, which the real run does not do
        loading = sum(t.load_seconds for t in out.tables)
        out.rows_per_s = moved / loading if loading > 0 else 0.0
        total = sum(t.full_rows for t in out.tables)
        # plus the real run's set-up of each table (about 50 ms a table in one job, as the plan's ETA counts)
        out.eta_s = (total / out.rows_per_s if out.rows_per_s else 0.0) + TABLE_SETUP_S * len(out.tables)
    finally:
        if not keep:
            with contextlib.suppress(KwtuiError):
                await dst.query(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(scratch)))
                out.dropped = True
    return out


async def _one_table(plan: Any, planmod: Any, src: Any, dst: Any, ta: Any, rt: RehearsedTable, scratch: str,
                     target_kind: str, percent: float, kept: dict[str, dict[str, set[str]]],
                     referenced: dict[str, set[str]]) -> None:
    cols = [c.name for c in ta.columns if c.kind != "generated"]
    mapping = {m.name: m.target_type for m in planmod.column_mapping(plan.assessment, target_kind, ta.qualified,
                                                                   plan.overrides)}
    defs = [sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(mapping.get(c) or "TEXT")) for c in cols]
    if ta.primary_key:
        defs.append(sql.SQL("PRIMARY KEY ({})").format(sql.SQL(", ").join(map(sql.Identifier, ta.primary_key))))
    target = _qt(scratch, ta.name)
    try:
        await dst.query(sql.SQL("CREATE TABLE {} ({})").format(target, sql.SQL(", ").join(defs)))
    except KwtuiError as exc:  # a type the target lacks (an enum, a domain): text stands in for the rehearsal
        rt.notes.append(f"created with text columns ({exc.message})")
        defs = [sql.SQL("{} TEXT").format(sql.Identifier(c)) for c in cols] + defs[len(cols):]
        await dst.query(sql.SQL("CREATE TABLE {} ({})").format(target, sql.SQL(", ").join(defs)))
    # the sample: parents by TABLESAMPLE (repeatable), children by the parents they name
    conds: list[sql.Composable] = []
    params: list[Any] = []
    for fk in ta.foreign_keys:
        parent = kept.get(fk.ref_table)
        if parent is None or fk.ref_table == ta.qualified:
            if fk.ref_table != ta.qualified and fk.ref_table in {t.table for t in plan.tables if t.include}:
                rt.notes.append(f"foreign key {fk.name}: its parent was not sampled")
            continue
        if len(fk.columns) != 1:
            rt.notes.append(f"foreign key {fk.name} has several columns: not followed")
            continue
        conds.append(sql.SQL("({c} IS NULL OR {c}::text = ANY(%s))").format(c=sql.Identifier(fk.columns[0])))
        params.append(sorted(parent.get(fk.ref_columns[0], set())))
    select = sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in cols)
    src_table = _qt(ta.schema, ta.name)
    if conds:
        query = sql.SQL("SELECT {} FROM {} WHERE {} LIMIT {}").format(
            select, src_table, sql.SQL(" AND ").join(conds), sql.Literal(MAX_SAMPLE_ROWS))
    else:
        query = sql.SQL("SELECT {} FROM {} TABLESAMPLE BERNOULLI ({}) REPEATABLE (42) LIMIT {}").format(
            select, src_table, sql.Literal(percent), sql.Literal(MAX_SAMPLE_ROWS))
    rows = (await src.query(query, params or None)).rows
    rt.sample_rows = len(rows)
    conn = await dst.open_raw(autocommit=False)
    t0 = time.perf_counter()  # after the connection opened: the real run opens its few once
    try:
        async with conn.cursor() as cur:
            names = sql.SQL(", ").join(map(sql.Identifier, cols))
            if target_kind == "kwdb":
                # KWDB's COPY FROM refused the demo's text-format rows ("could not parse JSON: ... invalid
                # character 'u' after array element"): parameters, in multi-row INSERTs, as the real run does
                one = sql.SQL("({})").format(sql.SQL(", ").join(sql.Placeholder() * len(cols)))
                for i in range(0, len(rows), INSERT_ROWS):
                    chunk = rows[i:i + INSERT_ROWS]
                    await cur.execute(sql.SQL("INSERT INTO {} ({}) VALUES {}").format(
                        target, names, sql.SQL(", ").join([one] * len(chunk))), [v for r in chunk for v in r])
            else:
                async with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(target, names)) as cp:
                    for r in rows:
                        await cp.write_row(r)
        await conn.commit()
    except Exception as exc:  # noqa: BLE001 - the table's rehearsal failed: say why, go on
        from kwtui.transfer.engine import error_message

        raise KwtuiError(error_message(exc)) from None
    finally:
        await conn.close()
        rt.load_seconds = time.perf_counter() - t0
    rt.loaded_rows = int((await dst.query(sql.SQL("SELECT count(*) FROM {}").format(target))).rows[0][0])
    for col in referenced.get(ta.qualified, set()):
        i = cols.index(col)
        kept.setdefault(ta.qualified, {})[col] = {r[i] for r in rows if r[i] is not None}
    kept.setdefault(ta.qualified, {})
    # orphans among the sampled rows: every single-column foreign key whose parent is in the scratch schema
    for fk in ta.foreign_keys:
        if len(fk.columns) != 1 or fk.ref_table not in kept or fk.ref_table == ta.qualified:
            continue
        pschema, pname = TableName.parse(fk.ref_table)
        n = (await dst.query(sql.SQL(
            "SELECT count(*) FROM {c} x WHERE x.{fc} IS NOT NULL AND NOT EXISTS "
            "(SELECT 1 FROM {p} y WHERE y.{pc}::text = x.{fc}::text)").format(
            c=target, fc=sql.Identifier(fk.columns[0]), p=_qt(scratch, pname),
            pc=sql.Identifier(fk.ref_columns[0])))).rows[0][0]
        rt.orphans += int(n)


def eta_text(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


__all__ = ["Rehearsal", "RehearsedTable", "rehearse", "eta_text", "MAX_SAMPLE_ROWS"]
