"""The transfer engine: server to server, with bounded memory and parallel workers.

For each table it picks the fastest path both ends allow and says which:

* PostgreSQL -> PostgreSQL, same column types: binary COPY blocks passed through untouched
  (no per-row Python); other types: text COPY blocks.
* PostgreSQL -> KWDB relational: text COPY blocks (KWDB takes COPY FROM STDIN, not binary).
* anything -> KWDB time-series: rows, multi-row INSERT in batches (TS tables have no COPY).
* KWDB -> anything: keyset-paginated SELECT (KWDB has no COPY TO and no server-side cursor).

A large table with a key is cut into key ranges found by sampling the key, and the ranges
run in parallel workers, each range in one target transaction. Progress goes out as small
immutable events, at most ten a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from kwtui.catalog import TableDetail
from kwtui.connection import ConnectionService
from kwtui.errors import KwtuiError, UsageError
from kwtui.transfer.progress import Listener, Progress, ProgressEvent
from kwtui.transfer.sink import CopyIn, InsertSink, copy_in_statement
from kwtui.transfer.source import (
    BINARY,
    ROWS,
    TEXT,
    Block,
    column_list,
    copy_out,
    copy_out_statement,
    key_range_condition,
    keyset_rows,
    qualified,
    select_query,
    split_name,
)

QUEUE_DEPTH = 4


# -- events: kwtui.transfer.progress (ProgressEvent, Progress, Listener), re-exported here --------


# -- plan -------------------------------------------------------------------------------------


@dataclass
class TablePlan:
    source: TableDetail
    target_schema: str
    target_name: str
    columns: list[str]
    key: list[str]
    path: str = ""  # what the engine will do, for the user
    create: bool = False
    target_ts: bool = False
    same_types: bool = False
    #: read order for a TS target: its timestamp first (KWDB writes time-ordered rows fastest)
    order_by: list[str] = field(default_factory=list)
    #: an existing KWDB time-series target's own CREATE TABLE (--if-exists replace makes it again so)
    target_ddl: str = ""

    @property
    def label(self) -> str:
        return self.source.table.qualified


@dataclass
class TransferOptions:
    workers: int = 1
    #: tables above this estimated size are cut into key ranges
    split_rows: int = 200_000
    page_rows: int = 10_000
    batch_rows: int = 500
    create_missing: bool = True
    #: test and fallback switches: read with keyset SELECT / write with INSERT even where COPY works
    force_keyset: bool = False
    force_insert: bool = False
    #: a target table that already holds rows: fail | append | truncate | replace (kwtui.transfer.tables)
    if_exists: str = "fail"


@dataclass
class TableResult:
    table: str
    target: str
    rows: int = 0
    bytes: int = 0
    elapsed: float = 0.0
    path: str = ""
    created: bool = False
    error: str | None = None


@dataclass
class TransferResult:
    tables: list[TableResult] = field(default_factory=list)
    elapsed: float = 0.0

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    @property
    def ok(self) -> bool:
        return all(t.error is None for t in self.tables)


async def plan_transfer(src: ConnectionService, dst: ConnectionService, tables: Sequence[str] | None,
                        options: TransferOptions) -> list[TablePlan]:
    """Read the source tables (all base tables of all schemas when ``tables`` is None) and match targets."""
    assert src.dialect is not None and dst.dialect is not None
    if tables is None:
        names: list[tuple[str, str]] = []
        for sch in await src.dialect.list_schemas(src):
            for t in await src.dialect.list_tables(src, sch.name):
                if t.kind in ("table", "ts table", "partitioned table"):
                    names.append((t.schema, t.name))
    else:
        names = [split_name(n) for n in tables]
    if not names:
        raise UsageError("no tables to transfer")
    plans = []
    target_cache: dict[str, dict[str, Any]] = {}
    for schema, name in names:
        listed = {t.name: t for t in await src.dialect.list_tables(src, schema)}
        if name not in listed:
            raise UsageError(f"source table {schema}.{name} does not exist")
        detail = await src.dialect.table_detail(src, listed[name])
        columns = [c.name for c in detail.columns]
        if detail.table.is_ts:  # a TS row is identified by its timestamp and primary tags
            key = [detail.columns[0].name, *detail.primary_tags]
        else:
            key = detail.primary_key
        tschema = schema if dst.info and dst.info.kind == "postgres" else "public"
        if tschema not in target_cache:
            try:
                target_cache[tschema] = {t.name: t for t in await dst.dialect.list_tables(dst, tschema, facts=False)}
            except KwtuiError:
                target_cache[tschema] = {}
        existing = target_cache[tschema].get(name)
        plan = TablePlan(detail, tschema, name, columns, list(key))
        if existing is None:
            if not options.create_missing:
                raise UsageError(f"target table {tschema}.{name} does not exist (creation is off)")
            plan.create = True
            plan.same_types = True
        else:
            # no DDL (about 95 ms on KWDB): a TS table's is read if --if-exists replace drops it
            tdetail = await dst.dialect.table_detail(dst, existing, with_ddl=False)
            plan.target_ts = existing.is_ts
            if existing.is_ts and tdetail.columns and tdetail.columns[0].name in columns:
                # loaded sorted by time, then by the source's key, or (a keyless source) the target's
                # primary tags (before: a keyless source was read unsorted)
                first = tdetail.columns[0].name
                then = key or [c.name for c in tdetail.columns if c.primary_tag and c.name in columns]
                plan.order_by = [first, *[k for k in then if k != first]]
            tcols = {c.name: c.type for c in tdetail.columns}
            missing = [c for c in columns if c not in tcols]
            if missing:
                raise UsageError(f"target table {tschema}.{name} lacks columns: {', '.join(missing)}")
            plan.same_types = all(tcols[c.name] == c.type for c in detail.columns)
            # a column the target computes itself (GENERATED ALWAYS AS (expr) STORED) takes no values
            plan.columns = [c for c in plan.columns if not any(
                t.name == c and (t.default or "").startswith("GENERATED ALWAYS AS (") for t in tdetail.columns)]
        plan.path = choose_path(src, dst, plan, options)
        plans.append(plan)
    return plans


def is_bytes_type(type_text: str) -> bool:
    """bytea (PostgreSQL), BYTES / BYTEA / VARBYTES(n) (KWDB)."""
    base = type_text.strip().lower().split("(")[0].strip()
    return base in ("bytea", "bytes", "varbytes")


def choose_path(src: ConnectionService, dst: ConnectionService, plan: TablePlan, options: TransferOptions) -> str:
    assert src.dialect is not None and dst.dialect is not None
    read_copy = src.dialect.caps.copy_to_stdout and not options.force_keyset
    # KWDB's COPY FROM reads '\x4142' as the text escape of one byte then '42': a bytes value
    # sent as its hex text would be stored as those characters, and it cannot read an array
    # ('{1,2}': syntax error) (both checked on KWDB V3.2.1); so tables with bytes or array
    # columns go to KWDB by INSERT, where the text is cast to the column's type
    bytes_into_kwdb = dst.dialect.kind == "kwdb" and any(
        is_bytes_type(c.type) or c.type.strip().endswith("[]") or c.type.strip().upper().startswith("ARRAY")
        for c in plan.source.columns if c.name in plan.columns)
    write_copy = (dst.dialect.caps.copy_from_stdin and not plan.target_ts and not options.force_insert
                  and not bytes_into_kwdb)
    same_kind = src.dialect.kind == dst.dialect.kind == "postgres"
    if read_copy and write_copy:
        return "binary COPY" if same_kind and plan.same_types else "text COPY"
    reader = "COPY rows" if read_copy else "keyset SELECT"
    writer = "COPY rows" if write_copy else "batched INSERT"
    why = " (bytes or array columns: KWDB's COPY cannot take them)" if bytes_into_kwdb and not plan.target_ts else ""
    return f"{reader} -> {writer}{why}"


# -- DDL for missing targets ------------------------------------------------------------------


def create_table_statement(plan: TablePlan, target_kind: str, *, with_key: bool = True) -> sql.Composed:
    """CREATE TABLE on the target: columns, NOT NULL, defaults that stand alone, primary key.

    Secondary indexes and foreign keys are left for after the load (faster, and a subset of
    tables may not hold the referenced rows yet). A KWDB TS source becomes an ordinary table
    with the tag columns last and a primary key on the timestamp plus the primary tags.
    """
    detail = plan.source
    cols = []
    for c in detail.columns:
        type_text = c.type
        if target_kind == "postgres":
            type_text = kwdb_to_pg_type(type_text)
        parts = [sql.Identifier(c.name), sql.SQL(type_text)]
        if c.default and not c.default.startswith("GENERATED") and "nextval(" not in c.default \
                and "unique_rowid" not in c.default:
            parts.append(sql.SQL("DEFAULT " + c.default))
        if not c.nullable:
            parts.append(sql.SQL("NOT NULL"))
        cols.append(sql.SQL(" ").join(parts))
    if plan.key and with_key:
        cols.append(sql.SQL("PRIMARY KEY ({})").format(column_list(plan.key)))
    return sql.SQL("CREATE TABLE {} ({})").format(qualified(plan.target_schema, plan.target_name),
                                                  sql.SQL(", ").join(cols))


_KWDB_TYPES = {
    "INT2": "smallint", "INT4": "integer", "INT8": "bigint", "FLOAT4": "real", "FLOAT8": "double precision",
    "BOOL": "boolean", "VARBYTES": "bytea", "BYTES": "bytea", "STRING": "text", "GEOMETRY": "text",
}


def add_key_statement(plan: TablePlan) -> sql.Composed:
    return sql.SQL("ALTER TABLE {} ADD PRIMARY KEY ({})").format(
        qualified(plan.target_schema, plan.target_name), column_list(plan.key))


def kwdb_to_pg_type(type_text: str) -> str:
    """KWDB-only type names to PostgreSQL (NCHAR/NVARCHAR -> char/varchar, VARBYTES -> bytea, ...)."""
    upper = type_text.upper()
    if upper.endswith("[]"):  # KWDB arrays: STRING[] -> text[] (the element mapped like a column)
        return kwdb_to_pg_type(type_text[:-2]) + "[]"
    base = upper.split("(")[0].strip()
    if base in _KWDB_TYPES:
        return _KWDB_TYPES[base]
    if base in ("NCHAR", "NVARCHAR"):
        return type_text[1:]
    if base.startswith("TIMESTAMP"):
        return type_text.lower()
    return type_text


# -- running ----------------------------------------------------------------------------------


async def sample_ranges(conn: psycopg.AsyncConnection[Any], plan: TablePlan,
                        parts: int) -> list[tuple[tuple[Any, ...] | None, tuple[Any, ...] | None]]:
    """Cut the key space into ``parts`` ranges at sampled key values (any orderable key)."""
    if parts <= 1 or not plan.key:
        return [(None, None)]
    t = plan.source.table
    keys = column_list(plan.key)
    q2 = sql.SQL(
        "WITH s AS (SELECT {keys} FROM {t} TABLESAMPLE SYSTEM (2) REPEATABLE (7)),"
        " n AS (SELECT {keys}, ntile({n}) OVER (ORDER BY {keys}) AS part FROM s)"
        " SELECT DISTINCT ON (part) {keys} FROM n WHERE part < {n} ORDER BY part, {keys_desc}"
    ).format(keys=keys, t=qualified(t.schema, t.name), n=sql.Literal(parts),
             keys_desc=sql.SQL(", ").join(sql.SQL("{} DESC").format(sql.Identifier(k)) for k in plan.key))
    async with conn.cursor() as cur:
        await cur.execute(q2)
        bounds = [tuple(r) for r in await cur.fetchall()]
    await conn.rollback()
    edges: list[tuple[Any, ...] | None] = [None, *bounds, None]
    ranges = [(edges[i], edges[i + 1]) for i in range(len(edges) - 1)]
    return [r for r in ranges if r[0] is None or r[1] is None or r[0] != r[1]]


@dataclass
class RangeTally:
    """What one attempt at a key range added to the progress counters (rows, bytes)."""

    rows: int = 0
    bytes: int = 0


class Transfer:
    """Moves the rows of planned tables from one server to another."""

    def __init__(self, src: ConnectionService, dst: ConnectionService, plans: list[TablePlan],
                 options: TransferOptions | None = None, listener: Listener | None = None) -> None:
        self.src, self.dst = src, dst
        self.plans = plans
        self.options = options or TransferOptions()
        self.progress = Progress(listener, tables_total=len(plans))
        self._cancel = asyncio.Event()
        self._thread_cancel = threading.Event()
        self._idle_pairs: list[Any] = []
        self._warming: list[asyncio.Future[None]] = []
        self._closed = False
        self._bytes_per_row: dict[str, float] = {}
        for plan in plans:
            t = plan.source.table
            if t.est_rows and t.size_bytes and t.est_rows > 0:
                self._bytes_per_row[plan.label] = max(1.0, t.size_bytes / t.est_rows * 0.6)

    def cancel(self) -> None:
        self._cancel.set()
        self._thread_cancel.set()

    def close(self) -> None:
        """Close the connections kept for the batches."""
        self._closed = True  # a warm-up still connecting closes its pair itself
        while self._idle_pairs:
            self._idle_pairs.pop().close()

    def warm_up(self, workers: int = 1) -> None:
        """Open the workers' source and target connections in the background (call it before
        creating tables and such): the first batches then find them open."""
        if self._warming or not any(p.path in ("binary COPY", "text COPY") for p in self.plans):
            return
        from kwtui.transfer.pump import PumpConnections

        def connect(pair: PumpConnections) -> None:  # in a thread
            try:
                pair.ensure()
            except BaseException:
                pair.close()  # the batch opens its own and reports what is wrong
                raise
            if self._closed:
                pair.close()
            else:
                self._idle_pairs.append(pair)

        for _ in range(max(1, workers)):
            pair = PumpConnections(self.src.conninfo_kwargs(), self.dst.conninfo_kwargs())
            future = asyncio.ensure_future(asyncio.to_thread(connect, pair))
            # a failure is the first batch's to report (it connects again): never "never retrieved"
            future.add_done_callback(lambda f: None if f.cancelled() else f.exception())
            self._warming.append(future)

    async def _warmed(self) -> None:
        if self._warming:
            await asyncio.gather(*self._warming, return_exceptions=True)

    async def run(self) -> TransferResult:
        from kwtui.transfer.tables import TableLock

        result = TransferResult()
        started = time.perf_counter()
        lock = TableLock(self.dst, [(p.target_schema, p.target_name) for p in self.plans], "a transfer")
        try:
            await lock.acquire()
            for plan in self.plans:
                result.tables.append(await self.run_table(plan))
                self.progress.tables_done += 1
        finally:
            await lock.release()
            self.close()
        result.elapsed = time.perf_counter() - started
        self.progress.emit(done=True, phase="done")
        return result

    async def run_table(self, plan: TablePlan) -> TableResult:
        res = TableResult(plan.label, f"{plan.target_schema}.{plan.target_name}", path=plan.path)
        self.progress.table = plan.label
        self.progress.total_rows = plan.source.table.est_rows
        started = time.perf_counter()
        rows_before, bytes_before = self.progress.rows, self.progress.bytes
        try:
            handled = await self.prepare_target(plan)
            if handled:
                self.progress.emit(phase="create", message=handled)
            # a table we create on PostgreSQL gets its primary key after the load: building the
            # index once is much faster than maintaining it row by row
            key_after = plan.create and bool(plan.key) and self.dst.info is not None \
                and self.dst.info.kind == "postgres"
            if plan.create:
                self.progress.emit(phase="create", message=f"creating {res.target}")
                await self.create_target(plan, with_key=not key_after)
                res.created = True
            est = plan.source.table.est_rows or 0
            parts = self.options.workers if est >= self.options.split_rows and plan.key else 1
            ranges: list[tuple[tuple[Any, ...] | None, tuple[Any, ...] | None]] = [(None, None)]
            if parts > 1 and self.src.dialect is not None and self.src.dialect.caps.copy_to_stdout:
                conn = await self.src.open_raw()
                try:
                    ranges = await sample_ranges(conn, plan, parts)
                finally:
                    await conn.close()
            sem = asyncio.Semaphore(max(1, self.options.workers))
            snapshot, holder = await self._export_snapshot(len(ranges))
            try:
                async def one(r: tuple[Any, Any]) -> None:
                    async with sem:
                        await self.copy_range(plan, r[0], r[1], snapshot)

                await asyncio.gather(*(one(r) for r in ranges))
            finally:
                if holder is not None:
                    await holder.close()
            if key_after:
                self.progress.emit(phase="index", message=f"adding the primary key of {res.target}")
                conn = await self.dst.open_raw(autocommit=True)
                try:
                    await conn.execute(add_key_statement(plan))
                finally:
                    await conn.close()
        except (psycopg.Error, KwtuiError) as exc:
            res.error = error_message(exc)
            self.progress.emit(phase="failed", message=res.error)
        res.rows = self.progress.rows - rows_before
        res.bytes = self.progress.bytes - bytes_before
        res.elapsed = time.perf_counter() - started
        return res

    async def _export_snapshot(self, ranges: int) -> tuple[str | None, psycopg.AsyncConnection[Any] | None]:
        """PostgreSQL: one exported snapshot so parallel ranges read one consistent state."""
        if ranges <= 1 or self.src.info is None or self.src.info.kind != "postgres":
            return None, None
        holder = await self.src.open_raw(autocommit=True)  # else psycopg's own BEGIN comes first
        await holder.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        row = await (await holder.execute("SELECT pg_export_snapshot()")).fetchone()
        return (str(row[0]) if row else None), holder

    async def prepare_target(self, plan: TablePlan, mode: str | None = None) -> str:
        """The table handling (``options.if_exists``) of an existing target table, before any row
        moves: refuses a table that holds rows (``fail``), empties it, or drops it (``replace``:
        ``plan.create`` is then set, so the caller creates it again). Returns what was done."""
        from kwtui.transfer.tables import REPLACE, check_if_exists, handle_existing

        if plan.create:
            return ""
        mode = check_if_exists(mode or self.options.if_exists)

        if mode == REPLACE and plan.target_ts and not plan.target_ddl:  # read before the drop
            from kwtui.catalog import TS_TABLE, Table

            assert self.dst.dialect is not None
            detail = await self.dst.dialect.table_detail(
                self.dst, Table(plan.target_schema, plan.target_name, TS_TABLE), with_ddl=True)
            plan.target_ddl = detail.ddl

        async def dropped() -> None:
            if plan.target_ts and plan.target_ddl:  # a TS table stays one: its own DDL, not the source's
                conn = await self.dst.open_raw(autocommit=True)
                try:
                    await conn.execute(plan.target_ddl.rstrip().rstrip(";"))  # type: ignore[arg-type]
                finally:
                    await conn.close()
                return
            plan.create = True  # made again by the caller, with the key after the load where it can

        return await handle_existing(self.dst, plan.target_schema, plan.target_name, mode, is_ts=plan.target_ts,
                                     recreate=dropped if mode == REPLACE else None)

    async def create_target(self, plan: TablePlan, *, with_key: bool = True) -> None:
        assert self.dst.info is not None
        stmt = create_table_statement(plan, self.dst.info.kind, with_key=with_key)
        if self.dst.info.kind == "postgres" and self.src.info is not None and self.src.info.kind == "postgres" \
                and not getattr(self, "_types_made", False):
            from kwtui.inventory_run import make_types

            await make_types(self.src, self.dst)  # the enums, domains... its columns use (once per transfer)
            self._types_made = True
        conn = await self.dst.open_raw(autocommit=True)
        try:
            if plan.target_schema != "public" and self.dst.info.kind == "postgres":
                await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(plan.target_schema)))
            await conn.execute(stmt)
        finally:
            await conn.close()

    async def _blocks(self, conn: psycopg.AsyncConnection[Any], plan: TablePlan, fmt: str,
                      lower: Any, upper: Any) -> AsyncIterator[Block]:
        t = plan.source.table
        if fmt in (BINARY, TEXT):
            # COPY takes no parameters: the range bounds go in as literals
            where = key_range_condition(plan.key, lower, upper, literal=True)[0] if plan.key else None
            query = select_query(t.schema, t.name, plan.columns, where=where)
            async for block in copy_out(conn, copy_out_statement(query, fmt), fmt):
                yield block
        elif plan.order_by and self.src.dialect is not None and self.src.dialect.caps.copy_to_stdout:
            # a TS target from PostgreSQL: one streamed read of the range, sorted by the timestamp
            from kwtui.transfer.source import query_rows

            where = key_range_condition(plan.key, lower, upper, literal=True)[0] if plan.key else None
            async for block in query_rows(conn, select_query(t.schema, t.name, plan.columns, where=where,
                                                             order_by=plan.order_by), page=self.options.page_rows):
                yield block
        elif plan.key:
            async for block in keyset_rows(conn, t.schema, t.name, plan.columns, plan.key,
                                           page=self.options.page_rows, lower=lower, upper=upper):
                yield block
        else:
            from kwtui.transfer.source import query_rows

            async for block in query_rows(conn, select_query(t.schema, t.name, plan.columns),
                                          page=self.options.page_rows):
                yield block

    async def _pump_range(self, plan: TablePlan, fmt: str, lower: Any, upper: Any, snapshot: str | None,
                          checkpoint: sql.Composed | None, tally: RangeTally) -> int:
        """Bytes from COPY TO to COPY FROM in a thread (no per-row Python at all)."""
        from kwtui.transfer.pump import pump

        t = plan.source.table
        where = key_range_condition(plan.key, lower, upper, literal=True)[0] if plan.key else None
        out_stmt = copy_out_statement(select_query(t.schema, t.name, plan.columns, where=where), fmt)
        in_stmt = copy_in_statement(plan.target_schema, plan.target_name, plan.columns, fmt)
        loop = asyncio.get_running_loop()
        # rows are counted by the target at the end of the range; meanwhile bytes drive progress,
        # with rows estimated from the table's bytes per row
        per_row = self._bytes_per_row.get(plan.label)

        estimated = [0]

        def on_bytes(n: int) -> None:
            est = int(n / per_row) if per_row else 0
            estimated[0] += est
            loop.call_soon_threadsafe(self._add, tally, est, n)

        def before_commit(conn: psycopg.Connection[Any], rows: int) -> None:
            if checkpoint is not None:
                conn.execute(checkpoint, {"rows": rows})

        from kwtui.transfer.pump import PumpConnections

        # a worker's connections live across its batches (opening two connections per batch adds up)
        await self._warmed()
        conns = self._idle_pairs.pop() if self._idle_pairs else PumpConnections(
            self.src.conninfo_kwargs(), self.dst.conninfo_kwargs())
        try:
            rows, _nbytes = await asyncio.to_thread(
                pump, self.src.conninfo_kwargs(), self.dst.conninfo_kwargs(), out_stmt, in_stmt,
                snapshot=snapshot, on_bytes=on_bytes, cancel=self._thread_cancel, before_commit=before_commit,
                conns=conns)
        finally:
            self._idle_pairs.append(conns)
        # replace the estimate by the exact count (after the queued estimates have landed)
        loop.call_soon(self._add, tally, rows - estimated[0], 0)
        await asyncio.sleep(0)
        return rows

    def _add(self, tally: RangeTally, rows: int, nbytes: int) -> None:
        tally.rows += rows
        tally.bytes += nbytes
        self.progress.add(rows, nbytes)

    async def copy_range(self, plan: TablePlan, lower: Any, upper: Any, snapshot: str | None = None,
                         checkpoint: sql.Composed | None = None, tally: RangeTally | None = None) -> int:
        """One key range in one target transaction (with ``checkpoint`` run inside it, before the
        commit). Returns the rows committed (``tally``, if given, gets the rows and bytes it
        added to the progress). On failure nothing of the range is committed and what this
        attempt added to the progress is taken back (other ranges may run meanwhile), so a
        retry counts each row once."""
        tally = tally if tally is not None else RangeTally()
        try:
            return await self._copy_range(plan, lower, upper, snapshot, checkpoint, tally)
        except BaseException:
            await asyncio.sleep(0)  # let queued progress updates of this attempt land first
            self.progress.rows -= tally.rows
            self.progress.bytes -= tally.bytes
            tally.rows = tally.bytes = 0
            raise

    async def _copy_range(self, plan: TablePlan, lower: Any, upper: Any, snapshot: str | None,
                          checkpoint: sql.Composed | None, tally: RangeTally) -> int:
        fmt = BINARY if plan.path == "binary COPY" else TEXT if plan.path == "text COPY" else ROWS
        if fmt != ROWS:
            return await self._pump_range(plan, fmt, lower, upper, snapshot, checkpoint, tally)
        committed = 0
        src_conn = await self.src.open_raw()
        dst_conn = await self.dst.open_raw()
        queue: asyncio.Queue[Block | None] = asyncio.Queue(maxsize=QUEUE_DEPTH)
        try:
            if snapshot and self.src.info is not None:  # every range of a copy reads one snapshot
                from kwtui.snapshot import begin_in_snapshot

                await begin_in_snapshot(src_conn, self.src.info.kind, snapshot)

            async def reader() -> None:
                try:
                    async for block in self._blocks(src_conn, plan, fmt, lower, upper):
                        if self._cancel.is_set():
                            raise asyncio.CancelledError
                        await queue.put(block)
                finally:
                    await queue.put(None)

            read_task = asyncio.create_task(reader())
            try:
                async with dst_conn.transaction():
                    if "INSERT" in plan.path:
                        sink = InsertSink(dst_conn, plan.target_schema, plan.target_name, plan.columns,
                                          batch_rows=self.options.batch_rows)
                        while (block := await queue.get()) is not None:
                            await sink.write(block)
                            self._add(tally, block.nrows, block.nbytes)
                        committed = sink.rows
                    else:
                        stmt = copy_in_statement(plan.target_schema, plan.target_name, plan.columns, fmt)
                        async with CopyIn(dst_conn, stmt) as copy:
                            while (block := await queue.get()) is not None:
                                await copy.write(block)
                                self._add(tally, block.nrows, block.nbytes)
                        committed = copy.rows
                    if checkpoint is not None:
                        await dst_conn.execute(checkpoint, {"rows": committed})
            finally:
                if not read_task.done():
                    read_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await read_task
        finally:
            await src_conn.close()
            await dst_conn.close()
        return committed


def error_message(exc: BaseException) -> str:
    if isinstance(exc, KwtuiError):
        return exc.message
    if isinstance(exc, psycopg.Error) and exc.diag.message_primary:
        ctx = f" ({exc.diag.context.strip().splitlines()[0]})" if exc.diag.context else ""
        return f"{exc.diag.message_primary}{ctx}"
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


async def transfer(src: ConnectionService, dst: ConnectionService, tables: Sequence[str] | None = None,
                   options: TransferOptions | None = None, listener: Listener | None = None) -> TransferResult:
    options = options or TransferOptions()
    plans = await plan_transfer(src, dst, tables, options)
    return await Transfer(src, dst, plans, options, listener).run()


__all__ = [
    "ProgressEvent", "Progress", "TablePlan", "TransferOptions", "TableResult", "TransferResult",
    "Transfer", "plan_transfer", "transfer", "create_table_statement",
]
