"""Streamed export to and import from files in KWDB's export layout.

Export: ``meta.sql`` + ``n1.<k>.csv`` chunks of ``chunk_rows`` records. On PostgreSQL the
server writes the CSV itself (``COPY ... TO STDOUT (FORMAT csv, ...)``) one key range per
chunk, so kwtui only moves bytes to files; where there is no COPY TO (KWDB) the rows come
from keyset SELECT pages and are formatted here.

Import: the files of a layout (or plain CSV files) go into tables with COPY where the
target has it (the server parses; bad records are bisected out to the reject file) and
with batched INSERT where it does not (KWDB time-series tables).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from kwtui.catalog import TableDetail
from kwtui.connection import ConnectionService
from kwtui.errors import UsageError
from kwtui.transfer.chunks import PART_SUFFIX, check_empty, chunk_name, copy_options, write_atomic
from kwtui.transfer.csvdialect import CsvDialect
from kwtui.transfer.progress import Listener, Progress
from kwtui.transfer.pump import copy_out_blocks
from kwtui.transfer.source import column_list, keyset_rows, qualified, select_query, split_name

DEFAULT_CHUNK_ROWS = 100_000


@dataclass
class ExportedTable:
    table: str
    directory: str
    rows: int = 0
    bytes: int = 0
    files: list[str] = field(default_factory=list)
    elapsed: float = 0.0


def csv_copy_options(dialect: CsvDialect) -> sql.Composed:
    """COPY TO options that make the server write the KWDB CSV dialect (no header: files carry none)."""
    return copy_options(dialect, header=False)


def _copy_to_chunks(kwargs: dict[str, Any], statement: sql.Composed, out_dir: Path, chunk_rows: int,
                    cancel: threading.Event | None, on_bytes: Any, header: bytes = b"",
                    read_only: tuple[str, float | None, Sequence[str]] | None = None) -> tuple[int, int, list[str]]:
    """One COPY TO STDOUT cut into ``n1.<k>.csv`` files of exactly ``chunk_rows`` rows (0: one file).

    Each file is written under a temporary name and renamed when complete, so a file with its
    final name is always whole. Returns (rows, bytes, file names). ``read_only`` (server kind,
    timeout, cleanup statements): the COPY runs in a READ ONLY transaction that is rolled back.
    """
    rows = size = 0
    names: list[str] = []
    index = 0
    in_chunk = 0
    fh: Any = None
    tmp: Path | None = None

    def close_chunk() -> None:
        nonlocal fh, tmp, index, in_chunk
        if fh is not None and tmp is not None:
            fh.close()
            final = out_dir / chunk_name(index)
            os.replace(tmp, final)
            names.append(final.name)
            index += 1
        fh, tmp, in_chunk = None, None, 0

    try:
        with psycopg.connect(**kwargs) as conn:
            if read_only is not None:
                from kwtui.guard import begin_read_sync

                begin_read_sync(conn, kind=read_only[0], timeout=read_only[1])
            for block, n in copy_out_blocks(conn, statement, cancel, rows_per_block=chunk_rows):
                if fh is None:
                    tmp = out_dir / (chunk_name(index) + PART_SUFFIX)
                    fh = open(tmp, "wb")  # noqa: SIM115 (closed by close_chunk)
                    fh.write(header)
                fh.write(block)
                rows += n
                size += len(block)
                in_chunk += n
                on_bytes(len(block), n)
                if chunk_rows and in_chunk >= chunk_rows:
                    close_chunk()
            if read_only is not None:
                conn.rollback()  # read mode: never committed
                for stmt in read_only[2]:
                    conn.execute(sql.SQL(stmt))  # type: ignore[arg-type]  # the guard's own constants
                conn.rollback()
        if fh is not None or not names:  # the last chunk; an empty table still gets n1.0.csv
            if fh is None:
                tmp = out_dir / (chunk_name(index) + PART_SUFFIX)
                fh = open(tmp, "wb")  # noqa: SIM115
                fh.write(header)
            close_chunk()
    except BaseException:
        if fh is not None:
            fh.close()
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise
    return rows, size, names


async def export_table(svc: ConnectionService, detail: TableDetail, out_dir: Path, dialect: CsvDialect, *,
                       chunk_rows: int = DEFAULT_CHUNK_ROWS, ddl: str | None = None, meta: bool = True,
                       data: bool = True, progress: Progress | None = None, force_keyset: bool = False,
                       cancel: threading.Event | None = None) -> ExportedTable:
    """Write ``meta.sql`` and the CSV chunks of one table into ``out_dir`` (which must be empty)."""
    check_empty(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t = detail.table
    res = ExportedTable(t.qualified, str(out_dir))
    started = time.perf_counter()
    if meta:
        write_atomic(out_dir / "meta.sql", ((ddl or detail.ddl).rstrip().rstrip(";") + ";\n").encode())
    if not data:
        return res
    columns = [c.name for c in detail.columns]
    key = [detail.columns[0].name, *detail.primary_tags] if t.is_ts else detail.primary_key
    progress = progress or Progress(None)
    progress.table = t.qualified
    progress.total_rows = t.est_rows
    loop = asyncio.get_running_loop()
    assert svc.dialect is not None
    if svc.dialect.caps.copy_to_stdout and not force_keyset:
        # one COPY, a sequential scan; the server formats the CSV and every row is one
        # protocol message, so files are cut at exact row counts without parsing anything
        stmt = sql.SQL("COPY ({}) TO STDOUT ({})").format(
            select_query(t.schema, t.name, columns), csv_copy_options(dialect))

        def on_bytes(nbytes: int, nrows: int) -> None:
            loop.call_soon_threadsafe(progress.add, nrows, nbytes)

        header = (dialect.header_line(columns) + "\n").encode(dialect.python_codec) if dialect.header else b""
        rows, size, names = await asyncio.to_thread(_copy_to_chunks, svc.conninfo_kwargs(), stmt, out_dir,
                                                    chunk_rows, cancel, on_bytes, header)
        res.rows, res.bytes, res.files = rows, size, names
    else:
        await _export_rows(svc, detail, columns, key, out_dir, dialect, chunk_rows, progress, res)
    res.elapsed = time.perf_counter() - started
    return res


async def _export_rows(svc: ConnectionService, detail: TableDetail, columns: list[str], key: list[str],
                       out_dir: Path, dialect: CsvDialect, chunk_rows: int, progress: Progress,
                       res: ExportedTable) -> None:
    """Keyset SELECT pages formatted to CSV here (servers without COPY TO, such as KWDB).

    Values arrive as the server's text (see ``text_everything``), so they are written as printed.
    """
    if not key:
        raise UsageError(f"{detail.table.qualified} has no key: keyset export needs one (use --native)")
    await _rows_to_chunks(svc, lambda conn: keyset_rows(conn, detail.table.schema, detail.table.name, columns, key),
                          out_dir, dialect, chunk_rows, progress, res, columns if dialect.header else None)


async def _rows_to_chunks(svc: ConnectionService, blocks: Callable[[Any], AsyncIterator[Any]], out_dir: Path,
                          dialect: CsvDialect, chunk_rows: int, progress: Progress, res: ExportedTable,
                          column_names: list[str] | None = None) -> None:
    """Row blocks (read on a connection of their own) formatted to CSV chunks here."""
    from kwtui.transfer.layout import ChunkWriter

    conn = await svc.open_raw(autocommit=True)
    try:
        with ChunkWriter(out_dir, dialect, chunk_rows=chunk_rows, column_names=column_names,
                         check_empty=False) as writer:
            async for block in blocks(conn):
                writer.write_rows(block.rows)
                progress.add(block.nrows, 0)
            res.rows, res.bytes = writer.rows, writer.bytes
        res.files = [Path(f).name for f in writer.files]  # after close: the last chunk is finished there
    finally:
        await conn.close()


# -- DDL for meta.sql ----------------------------------------------------------------------------


def kwdb_meta_ddl(detail: TableDetail) -> str:
    """A CREATE TABLE that KWDB's ``IMPORT TABLE CREATE USING`` takes, for a PostgreSQL table.

    Same shape as KWDB writes: bare table name, one column a line, NULL / NOT NULL, defaults
    that stand alone, ``CONSTRAINT "primary" PRIMARY KEY (...)``. Sequences and identity
    become plain columns (the exported values are kept as they are).
    """
    from kwtui.transfer.idents import quote_ident

    if detail.table.is_ts or (detail.ddl.upper().lstrip().startswith("CREATE TABLE") and "TAGS" in detail.ddl.upper()):
        return detail.ddl.rstrip().rstrip(";")  # a KWDB table: its own DDL is what KWDB wrote
    lines = []
    for c in detail.columns:
        parts = [quote_ident(c.name), _kwdb_type(c.type)]
        if c.default and not c.default.startswith("GENERATED") and "nextval(" not in c.default:
            parts.append(f"DEFAULT {c.default}")
        parts.append("NULL" if c.nullable else "NOT NULL")
        lines.append("\t" + " ".join(parts))
    if detail.primary_key:
        keys = ", ".join(quote_ident(k) + " ASC" for k in detail.primary_key)
        lines.append(f'\tCONSTRAINT "primary" PRIMARY KEY ({keys})')
    return f"CREATE TABLE {quote_ident(detail.table.name)} (\n" + ",\n".join(lines) + "\n)"


def _kwdb_type(pg_type: str) -> str:
    """PostgreSQL type names KWDB's parser does not know, spelled as it does."""
    t = pg_type.strip()
    low = t.lower()
    if low.startswith("character varying"):
        return "VARCHAR" + t[len("character varying"):]
    if low.startswith("character"):
        return "CHAR" + t[len("character"):]
    if low == "double precision":
        return "FLOAT8"
    if low.startswith("timestamp") and "with time zone" in low:
        return "TIMESTAMPTZ" + (low[low.index("("):low.index(")") + 1] if "(" in low else "")
    if low.startswith("timestamp"):
        return "TIMESTAMP" + (low[low.index("("):low.index(")") + 1] if "(" in low else "")
    if low.startswith("time") and "with time zone" in low:
        return "TIMETZ"
    return t.upper() if t.replace(" ", "").isalnum() else t


async def _detail_by_name(svc: ConnectionService, name: str) -> TableDetail:
    assert svc.dialect is not None
    schema, table = split_name(name)
    listed = {t.name: t for t in await svc.dialect.list_tables(svc, schema)}
    if table not in listed:
        raise UsageError(f"table {schema}.{table} does not exist")
    return await svc.dialect.table_detail(svc, listed[table])


async def export_named_table(svc: ConnectionService, name: str, out_dir: Path, dialect: CsvDialect, *,
                             chunk_rows: int = DEFAULT_CHUNK_ROWS, meta: bool = True, data: bool = True,
                             listener: Listener | None = None) -> ExportedTable:
    detail = await _detail_by_name(svc, name)
    progress = Progress(listener, tables_total=1)
    res = await export_table(svc, detail, out_dir, dialect, chunk_rows=chunk_rows, ddl=kwdb_meta_ddl(detail),
                             meta=meta, data=data, progress=progress)
    progress.tables_done = 1
    progress.emit(done=True, phase="done")
    return res


async def export_database(svc: ConnectionService, database: str, out_dir: Path, dialect: CsvDialect, *,
                          chunk_rows: int = DEFAULT_CHUNK_ROWS, meta: bool = True, data: bool = True,
                          listener: Listener | None = None) -> list[ExportedTable]:
    """A database tree as KWDB writes it: ``meta.sql`` (CREATE DATABASE) and ``<schema>/<table>/``."""
    check_empty(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    db_svc = svc
    own = False
    if svc.info is not None and database != svc.info.database:
        db_svc = ConnectionService(svc.target.with_database(database), password_prompt=svc.password_prompt)
        db_svc._password = svc._password
        await db_svc.connect()
        own = True
    try:
        assert db_svc.dialect is not None
        tables = []
        for schema in await db_svc.dialect.list_schemas(db_svc):
            for t in await db_svc.dialect.list_tables(db_svc, schema.name):
                if t.kind in ("table", "ts table", "partitioned table"):
                    tables.append(t)
        progress = Progress(listener, tables_total=len(tables))
        from kwtui.transfer.idents import quote_ident

        root = [f"CREATE DATABASE {quote_ident(database)};\n"]
        results = []
        for t in tables:
            detail = await db_svc.dialect.table_detail(db_svc, t)
            res = await export_table(db_svc, detail, out_dir / t.schema / t.name, dialect, chunk_rows=chunk_rows,
                                     ddl=kwdb_meta_ddl(detail), meta=meta, data=data,
                                     progress=progress)
            results.append(res)
            progress.tables_done += 1
        if meta:
            write_atomic(out_dir / "meta.sql", ("".join(root)).encode())
        progress.emit(done=True, phase="done")
        return results
    finally:
        if own:
            await db_svc.close()


# -- import --------------------------------------------------------------------------------------


@dataclass
class ImportedTable:
    table: str
    files: list[str] = field(default_factory=list)
    rows: int = 0
    bytes: int = 0
    rejects: int = 0
    reject_file: str | None = None
    created: bool = False
    path: str = ""
    elapsed: float = 0.0


@dataclass
class ImportOutcome:
    tables: list[ImportedTable] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    @property
    def rejects(self) -> int:
        return sum(t.rejects for t in self.tables)


def postgres_create_from_layout(table: Any, schema: str, *, with_key: bool = True) -> sql.Composed:
    """A KWDB table of an export (its meta.sql) as a PostgreSQL CREATE TABLE.

    A TS table becomes an ordinary table: data columns, then the tag columns, and a primary
    key on the timestamp and the primary tags. KWDB-only defaults (unique_rowid()) are dropped.
    """
    from kwtui.transfer.engine import kwdb_to_pg_type

    cols = []
    for c in table.columns:
        parts = [sql.Identifier(c.name), sql.SQL(kwdb_to_pg_type(c.type))]
        if c.default and "unique_rowid" not in c.default.lower() and "nextval" not in c.default.lower():
            parts.append(sql.SQL("DEFAULT " + c.default))
        if c.not_null:
            parts.append(sql.SQL("NOT NULL"))
        cols.append(sql.SQL(" ").join(parts))
    key = table.key_columns
    if key and with_key:
        cols.append(sql.SQL("PRIMARY KEY ({})").format(column_list(key)))
    return sql.SQL("CREATE TABLE {} ({})").format(qualified(schema, table.name), sql.SQL(", ").join(cols))


async def import_path(svc: ConnectionService, source: Path, dialect: CsvDialect, *, into: str | None = None,
                      columns: list[str] | None = None, create: bool = False, database: bool = False,
                      schema: str | None = None, skip_header: bool = False, reject_file: Path | None = None,
                      max_rejects: int | None = None, batch_rows: int = 500,
                      listener: Listener | None = None, cancel: threading.Event | None = None,
                      journal: Any = None, workers: int = 1) -> ImportOutcome:
    """Load a file, a table export or a database export into the connected database.

    With a ``journal`` the import is recorded as a job (tables, rows, rejects, the reject
    file), so the jobs screen lists it and shows its rejects. ``workers``: connections
    loading a table's batches at once where the server parses (COPY).
    """
    from kwtui.transfer.layout import read_layout
    from kwtui.transfer.loader import default_reject_path

    if not source.exists():
        raise UsageError(f"{source} does not exist")
    layout = read_layout(source)
    out = ImportOutcome(notices=list(layout.warnings))
    assert svc.dialect is not None and svc.info is not None
    on_pg = svc.info.kind == "postgres"
    jobs: list[tuple[str, str, Any, bool, list[Path]]] = []  # (schema, table, layout table, create, files)
    if into:
        if database or create:
            raise UsageError("give one of --into, --create, --database")
        sch, name = split_name(into)
        jobs.append((sch, name, None, False, list(layout.data_files)))
    elif create:
        if layout.kind != "table" or len(layout.tables) != 1:
            raise UsageError(f"--create needs a table export (meta.sql + n1.*.csv); {source} holds a {layout.kind}")
        t = layout.tables[0]
        jobs.append((schema or t.schema or "public", t.name, t, True, list(t.data_files)))
    elif database:
        if layout.kind != "database":
            raise UsageError(f"--database needs a database export tree; {source} holds a {layout.kind}")
        for t in layout.tables:
            sch = schema or t.schema or "public"
            if layout.is_ts and on_pg and not schema:
                sch = layout.database or "public"
            jobs.append((sch, t.name, t, True, list(t.data_files)))
        if layout.is_ts and on_pg:
            out.notices.append(f"CREATE TS DATABASE {layout.database}: PostgreSQL has no time-series databases; "
                               f"its tables go to the schema {jobs[0][0] if jobs else layout.database} as ordinary "
                               "tables (tags last, key on timestamp + primary tags)")
    else:
        raise UsageError("give one of --into TABLE, --create or --database")
    rej = reject_file or default_reject_path(source)
    job_id: int | None = None
    if journal is not None:
        from kwtui.jobs import JobTable, target_record

        job_id = journal.create(
            "import", {"label": str(source)}, target_record(svc.target), [f"{j[0]}.{j[1]}" for j in jobs],
            {"reject_file": str(rej), "source": str(source)},
            [JobTable(name=f"{j[0]}.{j[1]}", target=f"{j[0]}.{j[1]}", batches=[[None, None]]) for j in jobs])
        journal.start(job_id)
    beat = [0.0]

    def listen(ev: Any) -> None:
        if listener is not None:
            listener(ev)
        if journal is not None and job_id is not None and ev.elapsed - beat[0] >= 1.0:
            beat[0] = ev.elapsed
            journal.heartbeat(job_id, ev.rows, ev.bytes, ev.rejects)

    progress = Progress(listen, tables_total=len(jobs))
    loop = asyncio.get_running_loop()
    try:
        await _import_tables(svc, jobs, out, progress, loop, rej, dialect, columns, skip_header, max_rejects,
                             batch_rows, cancel, on_pg, journal, job_id, workers)
    except BaseException as exc:
        if journal is not None and job_id is not None:
            from kwtui.transfer.engine import error_message

            journal.finish(job_id, "failed", error_message(exc))
        raise
    if journal is not None and job_id is not None:
        journal.finish(job_id, "completed")
    progress.emit(done=True, phase="done")
    return out


async def _import_tables(svc: ConnectionService, jobs: list[Any], out: ImportOutcome, progress: Progress,
                         loop: asyncio.AbstractEventLoop, rej: Path, dialect: CsvDialect,
                         columns: list[str] | None, skip_header: bool,
                         max_rejects: int | None, batch_rows: int, cancel: threading.Event | None, on_pg: bool,
                         journal: Any, job_id: int | None, workers: int = 1) -> None:
    assert svc.dialect is not None
    for sch, name, ltable, make, files in jobs:
        if journal is not None and job_id is not None:
            journal.table_started(job_id, f"{sch}.{name}", "import")
        started = time.perf_counter()
        res = ImportedTable(f"{sch}.{name}", files=[str(f) for f in files])
        progress.table = res.table
        if make:
            await _create_target(svc, sch, name, ltable, out)
            res.created = True
        target_ts = False
        if not make:
            listed = {t.name: t for t in await svc.dialect.list_tables(svc, sch)}
            if name not in listed:
                raise UsageError(f"target table {sch}.{name} does not exist (use --create to make it from meta.sql)")
            target_ts = listed[name].is_ts
        use_copy = svc.dialect.caps.copy_from_stdin and on_pg and not target_ts
        res.path = "COPY (server parses the CSV)" if use_copy else "batched INSERT"

        def on_progress(rows: int, nbytes: int, rejects: int) -> None:
            loop.call_soon_threadsafe(_bump, progress, rows, nbytes, rejects)

        from kwtui.transfer.loader import CsvLoader, InsertLoader

        cols = columns or (ltable.column_names if ltable is not None else None)
        kwargs: dict[str, Any] = {"skip_header": skip_header, "max_rejects": max_rejects, "reject_path": rej,
                                  "on_progress": on_progress, "cancel": cancel}
        if use_copy:
            loader: CsvLoader = CsvLoader(svc.conninfo_kwargs(), sch, name, cols, dialect, workers=workers, **kwargs)
        else:
            loader = InsertLoader(svc.conninfo_kwargs(), sch, name, cols, dialect, batch_rows=batch_rows, **kwargs)
        try:
            result = await asyncio.to_thread(loader.load, files)
        finally:
            progress.tables_done += 1
        if make and ltable is not None and ltable.key_columns and on_pg:
            conn = await svc.open_raw(autocommit=True)
            try:
                await conn.execute(sql.SQL("ALTER TABLE {} ADD PRIMARY KEY ({})").format(
                    qualified(sch, name), column_list(ltable.key_columns)))
            finally:
                await conn.close()
        res.rows, res.bytes, res.rejects = result.rows, result.bytes, result.rejects
        res.reject_file = result.reject_file
        res.elapsed = time.perf_counter() - started
        out.tables.append(res)
        if journal is not None and job_id is not None:
            journal.batch_done(job_id, res.table, 0, res.rows, res.bytes, res.rejects)
            journal.table_finished(job_id, res.table, "completed")


def _bump(progress: Progress, rows: int, nbytes: int, rejects: int) -> None:
    progress.rejects = rejects
    progress.add(rows, nbytes)


async def _create_target(svc: ConnectionService, schema: str, name: str, ltable: Any, out: ImportOutcome) -> None:
    assert svc.info is not None
    conn = await svc.open_raw(autocommit=True)
    try:
        if svc.info.kind == "postgres":
            if schema != "public":
                await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
            # the key is added after the load (faster); a duplicate key then fails loudly
            await conn.execute(postgres_create_from_layout(ltable, schema, with_key=False))
            if ltable.is_ts:
                out.notices.append(f"{ltable.name}: a KWDB time-series table, created as an ordinary table "
                                   f"{schema}.{name} (tags {', '.join(c.name for c in ltable.tag_columns)} last)")
        else:
            if not ltable.ddl:
                raise UsageError(f"{name}: the export has no meta.sql to create the table from")
            await conn.execute(ltable.ddl)  # KWDB: its own DDL, as written by EXPORT
    finally:
        await conn.close()


async def export_query(svc: ConnectionService, query_text: str, out_dir: Path, dialect: CsvDialect, *,
                       chunk_rows: int = DEFAULT_CHUNK_ROWS, listener: Listener | None = None,
                       timeout: float | None = None) -> ExportedTable:
    """The rows of a SELECT into CSV chunks (as KWDB's EXPORT ... FROM SELECT: no meta.sql).

    The query goes through read mode's guard (:mod:`kwtui.guard`: one read statement, parsed
    alone by the server, its functions judged by the catalog) before anything runs; then the
    text the server parsed runs inside ``COPY (\n...\n) TO STDOUT`` where the server has COPY
    TO, else streamed, in a READ ONLY transaction that is rolled back (``timeout`` seconds).
    """
    from kwtui.guard import parse_read, read_transaction
    from kwtui.transfer.source import query_rows

    parse_read(query_text, limit=None)  # refused by parsing: nothing is sent at all
    checked = await svc.check_read(query_text, limit=None)
    text = checked.text
    kind = svc.info.kind if svc.info is not None else "postgres"
    check_empty(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    res = ExportedTable("query", str(out_dir))
    progress = Progress(listener, tables_total=1)
    progress.table = "query"
    started = time.perf_counter()
    loop = asyncio.get_running_loop()
    assert svc.dialect is not None
    if svc.dialect.caps.copy_to_stdout:
        # the text parsed alone as one statement, between line breaks: nothing in it can close the COPY
        stmt = sql.SQL("COPY (\n{}\n) TO STDOUT ({})").format(sql.SQL(text), csv_copy_options(dialect))  # noqa: S608

        def on_bytes(nbytes: int, nrows: int) -> None:
            loop.call_soon_threadsafe(progress.add, nrows, nbytes)

        rows, size, names = await asyncio.to_thread(_copy_to_chunks, svc.conninfo_kwargs(), stmt, out_dir,
                                                    chunk_rows, None, on_bytes, b"", (kind, timeout, checked.cleanup))
        res.rows, res.bytes, res.files = rows, size, names
    else:
        async def read_only_rows(conn: Any) -> AsyncIterator[Any]:
            async with read_transaction(conn, kind=kind, timeout=timeout, cleanup=checked.cleanup):
                async for block in query_rows(conn, sql.SQL(text)):  # noqa: S608 (checked by the guard)
                    yield block

        await _rows_to_chunks(svc, read_only_rows, out_dir, dialect, chunk_rows, progress, res)
    res.elapsed = time.perf_counter() - started
    progress.tables_done = 1
    progress.emit(done=True, phase="done")
    return res
