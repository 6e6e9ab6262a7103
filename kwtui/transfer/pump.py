"""COPY TO STDOUT -> COPY FROM STDIN passed through as bytes, in a worker thread.

psycopg's async COPY reader pays an await per row (COPY sends one protocol message a
row); its sync reader in a thread is about 2.5 times faster and leaves the event loop
free. Blocks of 64 KB are handed to the target's COPY, so the rows are never
looked at in Python.
"""

from __future__ import annotations

import contextlib
import select
import threading
from collections.abc import Callable, Generator, Iterator
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg import pq, sql

BLOCK = 1 << 20
#: server to server: small blocks, so the target starts early and has little left when the source
#: ends (each batch fills and drains that pipeline once)
PUMP_BLOCK = 64 * 1024
#: the pump reports progress in steps of this many bytes
REPORT_BYTES = 1 << 20
#: largest COPY FROM message
MESSAGE = 256 * 1024


class Cancelled(Exception):
    pass


def _wait_readable(pgconn: Any, cancel: threading.Event | None, *, timeout: float | None = None) -> None:
    """Wait until the server has sent something (or the cancel flag is set, or ``timeout`` passed)."""
    waited = 0.0
    while True:
        ready, _, _ = select.select([pgconn.socket], [], [], 0.5)
        if ready:
            pgconn.consume_input()
            return
        waited += 0.5
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        if timeout is not None and waited >= timeout:
            raise psycopg.OperationalError(f"no answer from the server in {timeout:g} s")


def _start_copy(conn: psycopg.Connection[Any], statement: sql.Composed, expected: pq.ExecStatus,
                cancel: threading.Event | None) -> None:
    """Send a COPY statement and wait until the server is in the ``expected`` COPY state."""
    pgconn = conn.pgconn
    pgconn.send_query(statement.as_bytes(conn))
    while pgconn.is_busy():
        _wait_readable(pgconn, cancel)
    res = pgconn.get_result()
    if res is None or res.status != expected:
        while pgconn.get_result() is not None:
            pass
        if res is not None and res.status == pq.ExecStatus.FATAL_ERROR:
            raise pg_errors.error_from_result(res, encoding=conn.info.encoding)
        raise psycopg.OperationalError(f"{statement.as_string(conn)[:60]}... did not start")


def _last_result(pgconn: Any, *, timeout: float, quiet: bool) -> Any:
    """Read the results that follow a COPY; the last one (None if none). ``quiet``: a wait that
    fails or a connection still in COPY OUT ends the loop instead of raising (clean-up paths)."""
    final = None
    for _ in range(1000):  # bounded: a connection stuck in COPY must not spin forever
        if pgconn.is_busy():
            try:
                _wait_readable(pgconn, None, timeout=timeout)
            except Exception:
                if not quiet:
                    raise
                break
            continue
        r = pgconn.get_result()
        if r is None or (quiet and r.status == pq.ExecStatus.COPY_OUT):
            break
        final = r
    return final


def copy_out_blocks(conn: psycopg.Connection[Any], statement: sql.Composed,
                    cancel: threading.Event | None = None, *, block: int = BLOCK, rows_per_block: int = 0,
                    counts: list[int] | None = None,
                    count_rows: bool = True) -> Generator[tuple[bytes, int], None, None]:
    """COPY TO STDOUT read straight from libpq (PQgetCopyData, async mode) as ``(bytes, rows)``
    blocks of about ``block`` bytes of whole rows.

    PostgreSQL sends one protocol message per row, so rows are counted exactly for free, and
    with ``rows_per_block`` no block crosses a multiple of that many rows (exact file chunks).
    About twice as cheap per row as psycopg's Copy iterator. The connection is used by this
    thread alone and is left idle (or in a failed transaction) afterwards, as psycopg expects.
    ``counts``, when given, receives the server's row count (the COPY command tag).
    ``count_rows=False`` (without ``rows_per_block``): blocks come with 0 rows, a little less
    work per row for callers that only pass the bytes on.
    """
    pgconn = conn.pgconn
    encoding = conn.info.encoding
    _start_copy(conn, statement, pq.ExecStatus.COPY_OUT, cancel)
    get = pgconn.get_copy_data
    # rows are appended to one bytearray: each row's libpq buffer is copied once and freed at
    # once (a list of the row buffers joined per block costs about twice the CPU per row)
    buf = bytearray()
    extend = buf.extend
    rows = 0  # rows in buf
    limit = rows_per_block if rows_per_block > 0 else 1 << 62
    room = limit  # rows up to the next multiple of rows_per_block
    ended = False
    try:
        if not count_rows and rows_per_block <= 0:
            while True:
                nbytes, data = get(1)
                if nbytes > 0:
                    extend(data)
                    if len(buf) >= block:
                        yield bytes(buf), 0
                        buf.clear()
                        if cancel is not None and cancel.is_set():
                            raise Cancelled()
                elif nbytes == 0:
                    _wait_readable(pgconn, cancel)
                else:
                    ended = True
                    if buf:
                        yield bytes(buf), 0
                    break
        while not ended:
            nbytes, data = get(1)
            if nbytes > 0:
                extend(data)
                rows += 1
                if rows == room or len(buf) >= block:
                    room = limit if rows == room else room - rows
                    yield bytes(buf), rows
                    buf.clear()
                    rows = 0
                    if cancel is not None and cancel.is_set():  # also while the server streams
                        raise Cancelled()
            elif nbytes == 0:
                _wait_readable(pgconn, cancel)
            else:
                ended = True
                break
        if rows:
            yield bytes(buf), rows
    finally:
        if not ended:  # stopped early (an error on the other side, a cancel): stop the server, drain
            with contextlib.suppress(Exception):
                conn.cancel_safe(timeout=5)
            with contextlib.suppress(Exception):
                while pgconn.get_copy_data(0)[0] >= 0:  # blocking reads until the COPY ends
                    pass
        final = _last_result(pgconn, timeout=30, quiet=True)
    if final is not None and final.status == pq.ExecStatus.FATAL_ERROR and ended:
        raise pg_errors.error_from_result(final, encoding=encoding)
    if counts is not None and final is not None and final.command_tuples is not None:
        counts.append(int(final.command_tuples))


def raw_copy_out(conn: psycopg.Connection[Any], statement: sql.Composed,
                 cancel: threading.Event | None = None, *, block: int = BLOCK,
                 counts: list[int] | None = None) -> Iterator[bytes]:
    """:func:`copy_out_blocks` without the row counts."""
    for data, _rows in copy_out_blocks(conn, statement, cancel, block=block, counts=counts):
        yield data


class RawCopyIn:
    """COPY FROM STDIN written straight to libpq in non-blocking mode, from the same thread
    that reads (no writer thread, no queue): PQputCopyData, then flush when the socket is ready."""

    def __init__(self, conn: psycopg.Connection[Any], statement: sql.Composed,
                 cancel: threading.Event | None = None) -> None:
        self.conn = conn
        self.pgconn = conn.pgconn
        self.cancel = cancel
        self.rows = -1
        _start_copy(conn, statement, pq.ExecStatus.COPY_IN, cancel)
        self.pgconn.nonblocking = 1

    def _flush(self) -> None:
        pg = self.pgconn
        while pg.flush() == 1:
            readable, _, _ = select.select([pg.socket], [pg.socket], [], 0.5)
            if readable:
                pg.consume_input()  # the server may have sent an error: keep reading it
            if self.cancel is not None and self.cancel.is_set():
                raise Cancelled()

    def write(self, data: bytes) -> None:
        pg = self.pgconn
        view = memoryview(data)
        # the server takes a COPY message whole before it parses any of it: big data goes in
        # messages of MESSAGE bytes, so it parses the first while the next ones arrive
        for start in range(0, len(view), MESSAGE):
            part = view[start:start + MESSAGE]
            while pg.put_copy_data(part) == 0:
                self._flush()
            self._flush()

    def finish(self, error: str | None = None) -> int:
        pg = self.pgconn
        while pg.put_copy_end(error.encode() if error else None) == 0:
            self._flush()
        self._flush()
        pg.nonblocking = 0
        final = _last_result(pg, timeout=600, quiet=False)
        if final is not None and final.status == pq.ExecStatus.FATAL_ERROR:
            raise pg_errors.error_from_result(final, encoding=self.conn.info.encoding)
        if final is not None and final.command_tuples is not None:
            self.rows = int(final.command_tuples)
        return self.rows


class PumpConnections:
    """A source and a target connection kept open across batches (one pair per worker)."""

    def __init__(self, src_kwargs: dict[str, Any], dst_kwargs: dict[str, Any]) -> None:
        self.src_kwargs, self.dst_kwargs = src_kwargs, dst_kwargs
        self.src: psycopg.Connection[Any] | None = None
        self.dst: psycopg.Connection[Any] | None = None

    def ensure(self) -> tuple[psycopg.Connection[Any], psycopg.Connection[Any]]:
        need_src = self.src is None or self.src.closed or self.src.broken
        need_dst = self.dst is None or self.dst.closed or self.dst.broken
        if need_src and need_dst:  # both at once: the source in a helper thread
            box: list[Any] = []

            def connect_src() -> None:
                try:
                    box.append(psycopg.connect(**self.src_kwargs))
                except BaseException as exc:
                    box.append(exc)

            helper = threading.Thread(target=connect_src, name="kwtui-connect", daemon=True)
            helper.start()
            try:
                self.dst = psycopg.connect(**self.dst_kwargs)
            finally:
                helper.join()
                if box and isinstance(box[0], psycopg.Connection):
                    self.src = box[0]
            if box and isinstance(box[0], BaseException):
                raise box[0]
        elif need_src:
            self.src = psycopg.connect(**self.src_kwargs)
        elif need_dst:
            self.dst = psycopg.connect(**self.dst_kwargs)
        assert self.src is not None and self.dst is not None
        return self.src, self.dst

    def close(self) -> None:
        for conn in (self.src, self.dst):
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()
        self.src = self.dst = None


def pump(src_kwargs: dict[str, Any], dst_kwargs: dict[str, Any], copy_out: sql.Composed, copy_in: sql.Composed,
         *, snapshot: str | None = None, on_bytes: Callable[[int], None] | None = None,
         cancel: threading.Event | None = None,
         before_commit: Callable[[psycopg.Connection[Any], int], None] | None = None,
         target_setup: Callable[[psycopg.Connection[Any]], None] | None = None,
         conns: PumpConnections | None = None) -> tuple[int, int]:
    """Copy one query's rows into one table in one target transaction. Returns (rows, bytes).

    ``snapshot``: a PostgreSQL exported snapshot, so parallel ranges see one consistent state.
    ``before_commit``: runs in the target transaction after the COPY (checkpoints go there).
    ``conns``: reuse these connections (they are closed on any error, reopened next time).
    """
    own = conns is None
    pair = conns or PumpConnections(src_kwargs, dst_kwargs)
    try:
        src, dst = pair.ensure()
        rows, total = _pump_on(src, dst, copy_out, copy_in, snapshot, on_bytes, cancel, before_commit,
                               target_setup)
    except BaseException:
        pair.close()  # a failed batch may leave either side mid-protocol: start clean next time
        raise
    if own:
        pair.close()
    return rows, total


def _pump_on(src: psycopg.Connection[Any], dst: psycopg.Connection[Any], copy_out: sql.Composed,
             copy_in: sql.Composed, snapshot: str | None, on_bytes: Callable[[int], None] | None,
             cancel: threading.Event | None,
             before_commit: Callable[[psycopg.Connection[Any], int], None] | None,
             target_setup: Callable[[psycopg.Connection[Any]], None] | None) -> tuple[int, int]:
    total = 0
    with src.transaction():
        if snapshot:
            src.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            src.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
        with dst.transaction():
            if target_setup is not None:
                target_setup(dst)
            writer = RawCopyIn(dst, copy_in, cancel)
            # closed explicitly on any error, so the source COPY is stopped and drained before the
            # source transaction ends (a connection left mid-COPY cannot roll back)
            unreported = 0  # bytes not yet given to on_bytes (which wakes the event loop: once a MB)
            with contextlib.closing(copy_out_blocks(src, copy_out, cancel, block=PUMP_BLOCK,
                                                    count_rows=False)) as blocks:
                try:
                    for data, _n in blocks:
                        writer.write(data)
                        total += len(data)
                        unreported += len(data)
                        if unreported >= REPORT_BYTES and on_bytes is not None:
                            on_bytes(unreported)
                            unreported = 0
                except BaseException as exc:
                    with contextlib.suppress(Exception):
                        writer.finish(error=f"kwtui: {type(exc).__name__}")
                    raise
            if unreported and on_bytes is not None:
                on_bytes(unreported)
            rows = writer.finish()
            if before_commit is not None:
                before_commit(dst, rows)
    return rows, total
