"""PostgreSQL -> KWDB at the speed of KWDB's own IMPORT: kwtui serves the rows, KWDB pulls them.

The streamed path (COPY / INSERT into KWDB) moves about 70,000 rows a second here; KWDB's
IMPORT reads CSV several times faster, and it reads ``http://`` sources (checked on V3.2.1:
a file list for a relational table; for a time-series table a directory, which KWDB lists
from an HTML index). So for each table:

1. PostgreSQL formats the rows itself (``COPY (SELECT ...) TO STDOUT`` in KWDB's CSV dialect,
   the columns in the target's order, a TS table's rows sorted by time) into ``n1.<k>.csv``
   chunks of exact row counts in a private spool directory (the same files ``kwtui export``
   writes, which KWDB's IMPORT takes with every value exact);
2. a small HTTP server on this host (``--serve-host``, loopback by default; a random path
   prefix) serves that directory, and only for the time of the import;
3. ``IMPORT INTO`` runs on KWDB (autocommit) and kwtui checks the arithmetic: the rows KWDB
   says it imported must be the rows spooled, with no rejected or abandoned line, and the
   table must hold them (a TS table may hold fewer: KWDB keeps one row per timestamp and
   primary tags, which is said).

A relational IMPORT is atomic (it rolls back when it fails), so a table is loaded whole or
not at all; the target must be empty before (refused otherwise, nothing is guessed), and a
job resumed after a crash redoes a table whose target is still empty and marks done a table
whose target already holds exactly the spooled rows. The spool is removed afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import html
import http.server
import io
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from psycopg import sql

from kwtui.connection import ConnectionService
from kwtui.errors import KwtuiError, UsageError
from kwtui.transfer.csvdialect import CsvDialect
from kwtui.transfer.engine import TablePlan

PATH_LABEL = "http IMPORT (KWDB pulls the rows)"


@dataclass
class PullResult:
    table: str
    target: str
    rows: int = 0  # rows spooled from the source = rows KWDB imported
    target_rows: int = 0  # rows the target holds afterwards
    bytes: int = 0
    files: list[str] = field(default_factory=list)
    spool_s: float = 0.0
    import_s: float = 0.0
    notices: list[str] = field(default_factory=list)
    path: str = PATH_LABEL

    @property
    def elapsed(self) -> float:
        return self.spool_s + self.import_s


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Files (and the HTML index KWDB reads for a directory) under one random prefix."""

    prefix = "/"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        pass

    def translate_path(self, path: str) -> str:
        if path.split("?")[0] == self.prefix.rstrip("/"):  # the directory without its slash (then a redirect)
            return super().translate_path("/")
        if not path.startswith(self.prefix):
            return os.path.join(self.directory, ".kwtui-not-served")  # 404: nothing outside the prefix
        return super().translate_path("/" + path[len(self.prefix):])

    def list_directory(self, path: str | os.PathLike[str]) -> Any:
        """A bare index, one link per CSV file (KWDB's TS IMPORT read the stock index's file twice)."""
        names = sorted(n for n in os.listdir(path) if n.endswith(".csv"))
        links = "".join(f'<a href="{html.escape(n)}">{html.escape(n)}</a>\n' for n in names)
        body = f"<html><body>\n{links}</body></html>\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return io.BytesIO(body)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # KWDB closes a download it has read enough of (a reset mid-file): not an error of ours


class SpoolServer:
    """An HTTP server for one directory, on ``host`` (a free port), in a thread of its own."""

    def __init__(self, root: Path, host: str = "127.0.0.1") -> None:
        self.root = root
        self.host = host
        self.token = secrets.token_hex(8)
        handler = type("_Handler", (_QuietHandler,), {"prefix": f"/kwtui-{self.token}/"})
        self.httpd = _Server((host, 0), functools.partial(handler, directory=str(root)))
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="kwtui-spool", daemon=True)

    def url(self, relative: str = "") -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.httpd.server_address[1]}/kwtui-{self.token}/{relative}"

    def __enter__(self) -> SpoolServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextlib.contextmanager
def spool_dir(root: Path | None = None) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="kwtui-pull-", dir=str(root) if root else None))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


async def _target_columns(dst: ConnectionService, plan: TablePlan) -> list[str]:
    conn = await dst.open_raw(autocommit=True)
    try:
        cur = await conn.execute(sql.SQL("SELECT * FROM {} LIMIT 0").format(
            sql.Identifier(plan.target_schema, plan.target_name)))
        return [d.name for d in cur.description or []]
    finally:
        await conn.close()


async def _count(dst: ConnectionService, plan: TablePlan) -> int:
    conn = await dst.open_raw(autocommit=True)
    try:
        cur = await conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
            sql.Identifier(plan.target_schema, plan.target_name)))
        row = await cur.fetchone()
        return int(row[0]) if row else 0
    finally:
        await conn.close()


def check_pull(src: ConnectionService, dst: ConnectionService) -> None:
    """The pull path needs a PostgreSQL source (COPY TO) and a KWDB target (IMPORT)."""
    if src.info is None or dst.info is None or src.dialect is None:
        raise UsageError("not connected")
    if not src.dialect.caps.copy_to_stdout or src.info.kind != "postgres":
        raise UsageError("--via-import needs a PostgreSQL source (its COPY TO writes the files KWDB pulls)")
    if dst.info.kind != "kwdb":
        raise UsageError("--via-import needs a KWDB target (its IMPORT pulls the files)")


async def pull_table(src: ConnectionService, dst: ConnectionService, plan: TablePlan, *, host: str = "127.0.0.1",
                     spool_root: Path | None = None, chunk_rows: int = 100_000,
                     thread_concurrency: int | None = None, create: Any = None,
                     on_progress: Any = None) -> PullResult:
    """One table, PostgreSQL -> KWDB by IMPORT over HTTP (see the module's text).

    ``create``: an async callable that creates the missing target (the engine's), used when
    ``plan.create``. ``on_progress(rows, bytes)`` is called while the spool is written.
    """
    from kwtui.transfer.files import _copy_to_chunks, csv_copy_options
    from kwtui.transfer.native import ImportOptions, import_into, parse_result
    from kwtui.transfer.source import select_query

    check_pull(src, dst)
    res = PullResult(plan.label, f"{plan.target_schema}.{plan.target_name}")
    if plan.create and create is not None:
        await create(plan)
    if await _count(dst, plan):
        raise UsageError(f"{res.target} already holds rows: --via-import loads an empty table only "
                         "(empty it, or transfer without --via-import)")
    target_cols = await _target_columns(dst, plan)
    by_lower = {c.lower(): c for c in plan.columns}
    missing = [c for c in target_cols if c.lower() not in by_lower]
    if missing:
        raise UsageError(f"{res.target}: the source has no column {', '.join(missing)}")
    columns = [by_lower[c.lower()] for c in target_cols]
    t = plan.source.table
    query = select_query(t.schema, t.name, columns, order_by=plan.order_by or None)
    stmt = sql.SQL("COPY ({}) TO STDOUT ({})").format(query, csv_copy_options(CsvDialect()))
    loop = asyncio.get_running_loop()

    def on_bytes(nbytes: int, nrows: int) -> None:
        if on_progress is not None:
            loop.call_soon_threadsafe(on_progress, nrows, nbytes)

    with spool_dir(spool_root) as spool:
        started = time.perf_counter()
        rows, size, names = await asyncio.to_thread(_copy_to_chunks, src.conninfo_kwargs(), stmt, spool,
                                                    chunk_rows, None, on_bytes, b"")
        res.rows, res.bytes, res.files = rows, size, names
        res.spool_s = time.perf_counter() - started
        started = time.perf_counter()
        with SpoolServer(spool, host) as server:
            opts = ImportOptions(thread_concurrency=thread_concurrency) if thread_concurrency else None
            if plan.target_ts:  # KWDB's TS IMPORT takes a directory (it reads the HTML index)
                # with thread_concurrency above 1, KWDB V3.2.1's TS IMPORT read rows more than once
                # (1,000 rows: 2,000 'imported' with 2 threads, 3,250 with 4; dedup hid the copies)
                native = import_into((plan.target_schema, plan.target_name), server.url(""))
            else:
                native = import_into((plan.target_schema, plan.target_name), [server.url(n) for n in names],
                                     options=opts)
            async with dst.autocommit() as conn:
                cur = await conn.execute(native.sql)  # type: ignore[arg-type]  # built and quoted by native
                columns_out = [d.name for d in cur.description or []]
                result = parse_result(columns_out, await cur.fetchall())
        res.import_s = time.perf_counter() - started
    imported = result.rows
    rejected = result.reject_rows + result.abandon_rows
    res.target_rows = await _count(dst, plan)
    if not result.ok or rejected or imported != res.rows:
        raise KwtuiError(f"{res.target}: KWDB's IMPORT took {imported if imported is not None else '?'} of "
                         f"{res.rows:,} rows ({rejected} rejected or abandoned; status {result.status}); "
                         f"the table holds {res.target_rows:,} rows",
                         hint="transfer this table without --via-import to see the bad rows")
    if res.target_rows != res.rows:
        if plan.target_ts and res.target_rows < res.rows:
            res.notices.append(f"{res.target}: {res.rows - res.target_rows:,} rows share a timestamp and primary "
                               "tags with another: KWDB keeps one of each")
        else:
            raise KwtuiError(f"{res.target}: {res.rows:,} rows imported but the table holds {res.target_rows:,}")
    return res
