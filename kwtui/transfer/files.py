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
import re
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
from kwtui.errors import KwtuiError, UsageError
from kwtui.transfer.chunks import PART_SUFFIX, check_empty, chunk_name, copy_options, write_atomic
from kwtui.transfer.csvdialect import CsvDialect
from kwtui.transfer.manifest import ManifestTable, ManifestWriter, check_space, disk_full
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
                    read_only: tuple[str, float | None, Sequence[str]] | None = None,
                    on_chunk: Callable[[str, int, int, str], None] | None = None) -> tuple[int, int, list[str]]:
    """One COPY TO STDOUT cut into ``n1.<k>.csv`` files of exactly ``chunk_rows`` rows (0: one file).

    Each file is written under a temporary name and renamed when complete, so a file with its
    final name is always whole; ``on_chunk`` then gets its name, records, bytes and sha256 (the
    manifest). Returns (rows, bytes, file names). ``read_only`` (server kind, timeout, cleanup
    statements): the COPY runs in a READ ONLY transaction that is rolled back. Without
    ``on_chunk`` nothing is hashed (SHA-256 costs 0.05 s of CPU per 100 MB, a share of the
    cores the --via-import IMPORT runs on).
    """
    from kwtui.transfer.manifest import Sha256Writer

    rows = size = 0
    names: list[str] = []
    index = 0
    in_chunk = 0
    fh: Any = None
    tmp: Path | None = None
    sha = Sha256Writer()

    def close_chunk() -> None:
        nonlocal fh, tmp, index, in_chunk, sha
        if fh is not None and tmp is not None:
            fh.close()
            final = out_dir / chunk_name(index)
            os.replace(tmp, final)
            names.append(final.name)
            if on_chunk is not None:
                on_chunk(final.name, in_chunk, sha.bytes, sha.hexdigest())
            index += 1
        fh, tmp, in_chunk, sha = None, None, 0, Sha256Writer()

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
                    sha.update(header)
                fh.write(block)
                if on_chunk is not None:
                    sha.update(block)
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
                sha.update(header)
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
                       cancel: threading.Event | None = None, manifest: ManifestWriter | None = None,
                       command: str | None = None) -> ExportedTable:
    """Write ``meta.sql`` and the CSV chunks of one table into ``out_dir`` (which must be empty).

    The export's manifest (:mod:`kwtui.transfer.manifest`) is written first as incomplete and
    last as complete; ``manifest`` is a database export's, else this table export has its own.
    Its free disk space is checked against the table size first.
    """
    check_empty(out_dir)
    own = manifest is None
    if own:
        if data:
            check_space(out_dir, detail.table.size_bytes, f"the export of {detail.table.qualified}")
        manifest = ManifestWriter(out_dir, "table", command).begin()
    assert manifest is not None
    out_dir.mkdir(parents=True, exist_ok=True)
    entry = manifest.table(detail.table.qualified, out_dir, header=dialect.header)
    try:
        res = await _export_table(svc, detail, out_dir, dialect, chunk_rows=chunk_rows, ddl=ddl, meta=meta,
                                  data=data, progress=progress, force_keyset=force_keyset, cancel=cancel,
                                  manifest=manifest, entry=entry)
    except BaseException as exc:
        manifest.failed(exc)
        full = disk_full(exc, out_dir, entry.rows)
        if full is not None:
            raise full from None
        raise
    manifest.table_done(entry)
    if own:
        manifest.finish()
    return res


async def _export_table(svc: ConnectionService, detail: TableDetail, out_dir: Path, dialect: CsvDialect, *,
                        chunk_rows: int, ddl: str | None, meta: bool, data: bool, progress: Progress | None,
                        force_keyset: bool, cancel: threading.Event | None, manifest: ManifestWriter,
                        entry: ManifestTable) -> ExportedTable:
    t = detail.table
    res = ExportedTable(t.qualified, str(out_dir))
    started = time.perf_counter()
    if meta:
        write_atomic(out_dir / "meta.sql", ((ddl or detail.ddl).rstrip().rstrip(";") + ";\n").encode())
    if not data:
        return res

    def on_chunk(name: str, rows: int, nbytes: int, sha256: str) -> None:
        manifest.chunk_done(entry, name, rows, nbytes, sha256)
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
                                                    chunk_rows, cancel, on_bytes, header, None, on_chunk)
        res.rows, res.bytes, res.files = rows, size, names
    else:
        await _export_rows(svc, detail, columns, key, out_dir, dialect, chunk_rows, progress, res, on_chunk)
    res.elapsed = time.perf_counter() - started
    return res


async def _export_rows(svc: ConnectionService, detail: TableDetail, columns: list[str], key: list[str],
                       out_dir: Path, dialect: CsvDialect, chunk_rows: int, progress: Progress,
                       res: ExportedTable, on_chunk: Callable[[str, int, int, str], None] | None = None) -> None:
    """Keyset SELECT pages formatted to CSV here (servers without COPY TO, such as KWDB).

    Values arrive as the server's text (see ``text_everything``), so they are written as printed.
    """
    if not key:
        raise UsageError(f"{detail.table.qualified} has no key: keyset export needs one (use --native)")
    await _rows_to_chunks(svc, lambda conn: keyset_rows(conn, detail.table.schema, detail.table.name, columns, key),
                          out_dir, dialect, chunk_rows, progress, res, columns if dialect.header else None,
                          on_chunk)


async def _rows_to_chunks(svc: ConnectionService, blocks: Callable[[Any], AsyncIterator[Any]], out_dir: Path,
                          dialect: CsvDialect, chunk_rows: int, progress: Progress, res: ExportedTable,
                          column_names: list[str] | None = None,
                          on_chunk: Callable[[str, int, int, str], None] | None = None) -> None:
    """Row blocks (read on a connection of their own) formatted to CSV chunks here."""
    from kwtui.transfer.layout import ChunkWriter

    conn = await svc.open_raw(autocommit=True)
    try:
        with ChunkWriter(out_dir, dialect, chunk_rows=chunk_rows, column_names=column_names,
                         check_empty=False, on_chunk=on_chunk) as writer:
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
                             listener: Listener | None = None, command: str | None = None) -> ExportedTable:
    detail = await _detail_by_name(svc, name)
    progress = Progress(listener, tables_total=1)
    res = await export_table(svc, detail, out_dir, dialect, chunk_rows=chunk_rows, ddl=kwdb_meta_ddl(detail),
                             meta=meta, data=data, progress=progress, command=command)
    progress.tables_done = 1
    progress.emit(done=True, phase="done")
    return res


async def export_database(svc: ConnectionService, database: str, out_dir: Path, dialect: CsvDialect, *,
                          chunk_rows: int = DEFAULT_CHUNK_ROWS, meta: bool = True, data: bool = True,
                          listener: Listener | None = None, command: str | None = None) -> list[ExportedTable]:
    """A database tree as KWDB writes it: ``meta.sql`` (CREATE DATABASE) and ``<schema>/<table>/``,
    with one manifest at its root (written first as incomplete, last as complete)."""
    check_empty(out_dir)
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
            if schema.name == "kwtui_journal":
                continue  # kwtui's own bookkeeping on a target (checkpoints, table locks): not user data
            for t in await db_svc.dialect.list_tables(db_svc, schema.name):
                if t.kind in ("table", "ts table", "partitioned table"):
                    tables.append(t)
        progress = Progress(listener, tables_total=len(tables))
        from kwtui.transfer.idents import quote_ident

        details = [await db_svc.dialect.table_detail(db_svc, t) for t in tables]
        if data:
            check_space(out_dir, sum(d.table.size_bytes or 0 for d in details), f"the export of database {database}")
        manifest = ManifestWriter(out_dir, "database", command).begin()
        root = [f"CREATE DATABASE {quote_ident(database)};\n"]
        results = []
        for detail in details:
            t = detail.table
            res = await export_table(db_svc, detail, out_dir / t.schema / t.name, dialect, chunk_rows=chunk_rows,
                                     ddl=kwdb_meta_ddl(detail), meta=meta, data=data,
                                     progress=progress, manifest=manifest)
            results.append(res)
            progress.tables_done += 1
        if meta:
            write_atomic(out_dir / "meta.sql", ("".join(root)).encode())
        manifest.finish()
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
    #: records read from the input (a header excluded): rows + rejects, or the import failed
    records: int = 0
    per_file: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass
class ImportOutcome:
    tables: list[ImportedTable] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    job_id: int | None = None

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    @property
    def records(self) -> int:
        return sum(t.records for t in self.tables)

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
                      journal: Any = None, workers: int = 1, outcome: ImportOutcome | None = None,
                      batch_bytes: int | None = None, if_exists: str = "fail",
                      allow_incomplete: bool = False) -> ImportOutcome:
    """Load a file, a table export or a database export into the connected database.

    With a ``journal`` the import is a resumable job (see :mod:`kwtui.transfer.importjob`):
    recorded before any row moves, each batch committed with its checkpoint on the target,
    so ``kwtui jobs resume N`` finishes it after a crash. ``workers``: connections loading a
    table's batches at once where the server parses (COPY). Every record read is loaded or
    rejected (per file and in total), or the import fails saying what it committed.
    ``outcome`` (optional) is filled as tables finish, so a caller knows what landed even
    when the import stops.

    Before anything is loaded: the export's manifest (complete? chunks as exported?;
    ``allow_incomplete`` loads an export that did not finish), then, under a lock per target
    table, ``if_exists`` (fail | append | truncate | replace) for a target that holds rows.
    """
    from kwtui.jobs import JobTable, target_record
    from kwtui.transfer.importjob import ImportRun, dialect_options, fingerprints, plan_import
    from kwtui.transfer.layout import read_layout
    from kwtui.transfer.loader import default_reject_path, open_reject_file
    from kwtui.transfer.tables import TableLock, check_if_exists

    out = outcome if outcome is not None else ImportOutcome()
    assert svc.dialect is not None and svc.info is not None
    check_if_exists(if_exists)
    if not source.exists():
        raise UsageError(f"{source} does not exist")
    check = _check_export(read_layout(source), source, dialect, allow_incomplete, out)
    targets = plan_import(svc, source, into=into, create=create, database=database, schema=schema,
                          notices=out.notices)
    for t in targets:  # preconditions, before the job exists: the target tables
        if not t.create and not any(x.name == t.name for x in await svc.dialect.list_tables(svc, t.schema)):
            raise UsageError(f"target table {t.label} does not exist (use --create to make it from meta.sql)")
    rej = (reject_file or default_reject_path(source)).absolute()
    existed = rej.exists()
    open_reject_file(rej).close()  # a precondition: refused before any row moves
    if not existed:
        rej.unlink()  # made again when the import starts; an import without rejects leaves none
    lock = TableLock(svc, [(t.schema, t.name) for t in targets], f"an import of {source}")
    await lock.acquire()
    try:
        targets = await _handle_import_targets(svc, targets, if_exists, out)
        job_id: int | None = None
        if journal is not None:
            options = {"reject_file": str(rej), "source": str(source.absolute()), "into": into, "create": create,
                       "database": database, "schema": schema, "columns": columns, "skip_header": skip_header,
                       "max_rejects": max_rejects, "batch_rows": batch_rows, "workers": workers,
                       "batch_bytes": batch_bytes, "dialect": dialect_options(dialect),
                       "sizes": fingerprints(targets)}
            job_id = journal.create(
                "import", {"label": str(source.absolute()), "path": str(source.absolute())},
                target_record(svc.target), [t.label for t in targets], options,
                [JobTable(name=t.label, target=t.label, batches=[[None, None]]) for t in targets])
            out.job_id = job_id
        run = ImportRun(svc, dialect, targets, reject_path=rej, columns=columns, skip_header=skip_header,
                        max_rejects=max_rejects, batch_rows=batch_rows, workers=workers, listener=listener,
                        cancel=cancel, journal=journal, job_id=job_id, outcome=out, batch_bytes=batch_bytes)
        result: ImportOutcome = await run.run()
    finally:
        await lock.release()
    if not check.complete:
        result.notices.append(f"loaded {result.rows:,} rows from an incomplete export ({check.verified} chunk(s) "
                              "verified by its manifest): the export had not finished")
    return result


def meta_table_name(t: Any) -> str:
    """The table a table export's meta.sql creates (its folder's name when it has none)."""
    from kwtui.transfer.layout import parse_create_table

    if t.ddl:
        try:
            return parse_create_table(t.ddl).name
        except ValueError:
            pass
    return str(t.name)


_CREATE_NAME = re.compile(r'^(\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?)((?:"(?:[^"]|"")*"|[^\s(."]+)'
                          r'(?:\.(?:"(?:[^"]|"")*"|[^\s(."]+))*)', re.IGNORECASE)


def renamed_table(t: Any, name: str) -> Any:
    """A layout table as ``name`` (its CREATE TABLE too, for servers that run meta.sql as it is)."""
    from dataclasses import replace

    from kwtui.transfer.idents import quote_ident

    if t.name == name and (not t.ddl or meta_table_name(t) == name):
        return t
    ddl = _CREATE_NAME.sub(lambda m: m.group(1) + quote_ident(name), t.ddl, count=1) if t.ddl else t.ddl
    return replace(t, name=name, ddl=ddl)


def _check_export(layout: Any, source: Path, dialect: CsvDialect, allow_incomplete: bool, out: ImportOutcome) -> Any:
    """The export's manifest, checked before anything is loaded (kwtui.transfer.manifest)."""
    from kwtui.transfer.manifest import check_import

    check = check_import(layout, source, dialect, allow_incomplete=allow_incomplete)
    out.notices.extend(check.notices)
    return check


async def _handle_import_targets(svc: ConnectionService, targets: list[Any], if_exists: str,
                                 out: ImportOutcome) -> list[Any]:
    """The table handling (--if-exists) of each target that exists, before any row is loaded
    (under the table lock). A table --create or --database would make but that exists is loaded
    as it is (``replace``: dropped first, then made from meta.sql)."""
    from dataclasses import replace

    from kwtui.transfer.tables import REPLACE, check_if_exists, handle_existing

    mode = check_if_exists(if_exists)
    assert svc.dialect is not None
    listed: dict[str, dict[str, Any]] = {}
    handled = []
    for t in targets:
        if t.schema not in listed:
            try:
                listed[t.schema] = {x.name: x for x in await svc.dialect.list_tables(svc, t.schema)}
            except KwtuiError:
                listed[t.schema] = {}
        existing = listed[t.schema].get(t.name)
        if existing is not None:
            ltable = t.layout
            can_make = ltable is not None and bool(ltable.ddl or svc.info is not None and svc.info.kind == "postgres")

            async def recreate() -> None:
                pass  # made again from meta.sql by the load (create stays True)

            done = await handle_existing(svc, t.schema, t.name, mode, is_ts=existing.is_ts,
                                         recreate=recreate if can_make else None)
            if done:
                out.notices.append(done)
            t = replace(t, create=bool(t.create and mode == REPLACE) if can_make else False)
        handled.append(t)
    return handled


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
                       timeout: float | None = None, command: str | None = None) -> ExportedTable:
    """The rows of a SELECT into CSV chunks (as KWDB's EXPORT ... FROM SELECT: no meta.sql).

    The query goes through read mode's guard (:mod:`kwtui.guard`: one read statement, parsed
    alone by the server, its functions judged by the catalog) before anything runs; then the
    text the server parsed runs inside ``COPY (\n...\n) TO STDOUT`` where the server has COPY
    TO, else streamed, in a READ ONLY transaction that is rolled back (``timeout`` seconds).
    """
    from kwtui.guard import parse_read

    parse_read(query_text, limit=None)  # refused by parsing: nothing is sent at all
    checked = await svc.check_read(query_text, limit=None)
    text = checked.text
    kind = svc.info.kind if svc.info is not None else "postgres"
    check_empty(out_dir)
    manifest = ManifestWriter(out_dir, "query", command).begin()
    entry = manifest.table("query", out_dir)  # COPY writes no header line for a query
    try:
        res = await _export_query(svc, text, out_dir, dialect, chunk_rows, listener, manifest, entry,
                                  kind, timeout, checked.cleanup)
    except BaseException as exc:
        manifest.failed(exc)
        full = disk_full(exc, out_dir, entry.rows)
        if full is not None:
            raise full from None
        raise
    manifest.table_done(entry)
    manifest.finish()
    return res


async def _export_query(svc: ConnectionService, text: str, out_dir: Path, dialect: CsvDialect, chunk_rows: int,
                        listener: Listener | None, manifest: ManifestWriter, entry: ManifestTable,
                        kind: str, timeout: float | None, cleanup: Sequence[str]) -> ExportedTable:
    """``export_query``'s rows, the guard's verdict already given: in a READ ONLY transaction rolled back."""
    from kwtui.guard import read_transaction
    from kwtui.transfer.source import query_rows

    def on_chunk(name: str, rows: int, nbytes: int, sha256: str) -> None:
        manifest.chunk_done(entry, name, rows, nbytes, sha256)

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
                                                    chunk_rows, None, on_bytes, b"", read_only=(kind, timeout, cleanup),
                                                    on_chunk=on_chunk)
        res.rows, res.bytes, res.files = rows, size, names
    else:
        async def read_only_rows(conn: Any) -> AsyncIterator[Any]:
            async with read_transaction(conn, kind=kind, timeout=timeout, cleanup=cleanup):
                async for block in query_rows(conn, sql.SQL(text)):  # noqa: S608 (checked by the guard)
                    yield block

        await _rows_to_chunks(svc, read_only_rows, out_dir, dialect, chunk_rows, progress, res, None, on_chunk)
    res.elapsed = time.perf_counter() - started
    progress.tables_done = 1
    progress.emit(done=True, phase="done")
    return res
