"""The async connection service shared by every screen and CLI command.

One :class:`ConnectionService` wraps a psycopg 3 ``AsyncConnection`` (and, for jobs that
need several, an ``AsyncConnectionPool``). It connects, detects the server (KWDB or
PostgreSQL, version, KWDB deployment type), reconnects after a dropped connection,
cancels the running statement and switches to autocommit on request.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg
from psycopg import sql

from kwtui.catalog import Database
from kwtui.dialects import Dialect, dialect_for
from kwtui.errors import ConnectError, KwtuiError
from kwtui.profiles import PASSWORD_SOURCES_HINT, Profile, ProfileStore, keyring_get, parse_dsn

Query = str | sql.SQL | sql.Composed
PasswordPrompt = Callable[[str], Awaitable[str | None]]

SINGLE_NODE = "single node"
SINGLE_REPLICA = "single-replica cluster"
MULTI_REPLICA = "multi-replica cluster"


# -- targets --------------------------------------------------------------------------------


@dataclass
class ConnectTarget:
    """Where to connect: libpq parameters (never stored with a password) and a label."""

    params: dict[str, Any]
    label: str
    profile_name: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def from_profile(cls, profile: Profile) -> ConnectTarget:
        return cls(params=profile.conninfo_params(), label=profile.name, profile_name=profile.name)

    @classmethod
    def from_dsn(cls, dsn: str) -> ConnectTarget:
        parsed = parse_dsn("dsn", dsn)
        return cls(
            params=parsed.profile.conninfo_params(),
            label=parsed.profile.describe(),
            password=parsed.password,
        )

    @classmethod
    def resolve(cls, *, dsn: str | None = None, profile: str | None = None,
                store: ProfileStore | None = None) -> ConnectTarget:
        """From --dsn, --profile, or (neither) the PG* environment alone."""
        if dsn and profile:
            from kwtui.errors import UsageError

            raise UsageError("give either --dsn or --profile, not both")
        if profile:
            return cls.from_profile((store or ProfileStore()).get(profile))
        if dsn:
            return cls.from_dsn(dsn)
        return cls(params={"application_name": "kwtui"}, label="PG* environment")

    def describe(self) -> str:
        p = self.params
        host = p.get("host") or os.environ.get("PGHOST") or "localhost"
        port = p.get("port") or os.environ.get("PGPORT") or ""
        db = p.get("dbname") or os.environ.get("PGDATABASE") or ""
        hostport = f"{host}:{port}" if port and not str(host).startswith("/") else str(host)
        return f"{hostport}/{db}" if db else hostport

    def with_database(self, dbname: str) -> ConnectTarget:
        return replace(self, params={**self.params, "dbname": dbname})


# -- server detection -----------------------------------------------------------------------


@dataclass(frozen=True)
class ServerInfo:
    kind: str  # "kwdb" | "postgres"
    version: str  # "2.1.0", "18.1"
    version_string: str  # what version() said
    deployment: str  # SINGLE_NODE / SINGLE_REPLICA / MULTI_REPLICA, or "primary"/"standby" on PostgreSQL
    database: str = ""
    user: str = ""
    nodes: int | None = None
    replicas: int | None = None

    @property
    def label(self) -> str:
        name = "KWDB" if self.kind == "kwdb" else "PostgreSQL"
        return f"{name} {self.version}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "version": self.version,
            "version_string": self.version_string,
            "deployment": self.deployment,
            "database": self.database,
            "user": self.user,
            "nodes": self.nodes,
            "replicas": self.replicas,
        }


_KWDB_RE = re.compile(r"^\s*(?:KaiwuDB|KWDB)\b[^\d]*v?(\d+(?:\.\d+)*(?:[-.\w]*)?)", re.IGNORECASE)
_PG_RE = re.compile(r"^\s*PostgreSQL\s+(\d+(?:\.\d+)*\w*)")


def parse_version(version_string: str, parameters: dict[str, str] | None = None) -> tuple[str, str]:
    """(kind, version) from ``SELECT version()`` and the connection's ParameterStatus values."""
    parameters = parameters or {}
    reported = parameters.get("kwdb_version", "").strip()
    if reported:
        # KWDB V3.2.1 sends its whole version() text here ('KaiwuDB V3.2.1-28-g... (x86_64...)'),
        # not the bare number the documentation showed: the number is taken from either form
        m = _KWDB_RE.match(reported) or re.match(r"^v?(\d+(?:\.\d+)*)", reported, re.IGNORECASE)
        return "kwdb", _release(m.group(1)) if m else reported
    m = _KWDB_RE.match(version_string)
    if m:
        return "kwdb", _release(m.group(1))
    m = _PG_RE.match(version_string)
    if m:
        return "postgres", m.group(1)
    # A server that speaks the protocol but says something else: treat as PostgreSQL-like.
    return "postgres", parameters.get("server_version", version_string.split(" ")[0] or "?")


def _release(version: str) -> str:
    """'3.2.1-28-ga5c90efc1-dirty' -> '3.2.1': a source build's git-describe suffix is not the
    release ('2.1.0-rc.1' stays as it is)."""
    return re.sub(r"(?:-\d+-g[0-9a-f]+)?(?:-dirty)?$", "", version)


def deployment_type(nodes: int | None, replicas: int | None) -> str:
    """KWDB deployment from live node count and the default replication factor."""
    if not nodes or nodes <= 1:
        return SINGLE_NODE
    if replicas is not None and replicas <= 1:
        return SINGLE_REPLICA
    return MULTI_REPLICA


_NUM_REPLICAS_RE = re.compile(r"num_replicas\s*=\s*(\d+)", re.IGNORECASE)


def parse_num_replicas(rows: Sequence[Sequence[Any]]) -> int | None:
    """``SHOW ZONE CONFIGURATION FOR RANGE default``: find num_replicas in any column."""
    for row in rows:
        for value in row:
            m = _NUM_REPLICAS_RE.search(str(value))
            if m:
                return int(m.group(1))
    return None


# -- errors ---------------------------------------------------------------------------------


def connect_error(exc: BaseException, target: ConnectTarget, password: str | None = None) -> ConnectError:
    """Turn a libpq connection failure into one clear line."""
    raw = str(exc)
    if password:
        raw = raw.replace(password, "***")
    lines = [ln.strip() for ln in raw.splitlines() if ln.strip()]
    text = " ".join(lines)
    where = target.describe()
    user = target.params.get("user") or os.environ.get("PGUSER") or ""
    low = text.lower()
    if "password authentication failed" in low or "authentication failed" in low:
        return ConnectError(f"wrong password for user {user or '(default)'} at {where}", detail=text)
    if "no password supplied" in low or "fe_sendauth" in low:
        return ConnectError(f"{where} asks a password for user {user or '(default)'}",
                            detail=text, hint=PASSWORD_SOURCES_HINT)
    if "ssl" in low or "certificate" in low or "tls" in low:
        return ConnectError(f"TLS failure connecting to {where}: {_server_part(lines)}", detail=text)
    if "does not exist" in low and "database" in low:
        return ConnectError(f"{_server_part(lines)}", detail=text)
    if "connection refused" in low or "could not connect" in low or "timeout" in low \
            or "no such file or directory" in low or "could not translate host name" in low \
            or "name or service not known" in low:
        return ConnectError(f"cannot reach the server at {where}: {_server_part(lines)}", detail=text)
    return ConnectError(f"cannot connect to {where}: {_server_part(lines)}", detail=text)


def _server_part(lines: list[str]) -> str:
    """The useful tail of libpq's message ('... failed: Connection refused')."""
    if not lines:
        return "unknown error"
    first = lines[0]
    if "failed:" in first:
        first = first.rsplit("failed:", 1)[1].strip()
    if first.lower().startswith("connection failed:"):
        first = first.split(":", 1)[1].strip()
    return first.rstrip(".") or lines[0]


class QueryError(KwtuiError):
    """The server refused a statement; carries its message and position."""

    def __init__(self, message: str, *, sqlstate: str | None = None, position: int | None = None,
                 detail: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, detail=detail, hint=hint)
        self.sqlstate = sqlstate
        self.position = position


def query_error(exc: psycopg.Error) -> QueryError:
    diag = exc.diag
    primary = diag.message_primary or str(exc).strip().splitlines()[0]
    pos = None
    if diag.statement_position:
        try:
            pos = int(diag.statement_position)
        except ValueError:
            pos = None
    message = f"{diag.severity or 'ERROR'}: {primary}"
    if pos is not None:
        message += f" (at character {pos})"
    return QueryError(message, sqlstate=diag.sqlstate, position=pos, detail=diag.message_detail,
                      hint=diag.message_hint)


# -- results --------------------------------------------------------------------------------


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    status: str = ""
    rowcount: int = -1
    elapsed: float = 0.0
    notices: list[str] = field(default_factory=list)


# -- the service ----------------------------------------------------------------------------


class ConnectionService:
    """One connection (plus an optional pool) to one server, used from asyncio code."""

    def __init__(self, target: ConnectTarget, *, password_prompt: PasswordPrompt | None = None,
                 connect_timeout: int = 10) -> None:
        self.target = target
        self.password_prompt = password_prompt
        self.connect_timeout = connect_timeout
        self.info: ServerInfo | None = None
        self.dialect: Dialect | None = None
        self.reconnects = 0
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._password: str | None = target.password
        self._lock = asyncio.Lock()
        self._notices: list[str] = []

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.closed

    def conninfo_kwargs(self) -> dict[str, Any]:
        kwargs = dict(self.target.params)
        kwargs.setdefault("connect_timeout", str(self.connect_timeout))
        kwargs.setdefault("application_name", "kwtui")
        if self._password:
            kwargs["password"] = self._password
        return kwargs

    async def _open(self) -> psycopg.AsyncConnection[Any]:
        if self._password is None and self.target.profile_name:
            self._password = keyring_get(self.target.profile_name)
        try:
            conn = await psycopg.AsyncConnection.connect(autocommit=True, **self.conninfo_kwargs())
        except psycopg.OperationalError as exc:
            err = connect_error(exc, self.target, self._password)
            needs_secret = "asks a password" in err.message or "wrong password" in err.message
            if needs_secret and self.password_prompt is not None:
                typed = await self.password_prompt(f"Password for {self.target.label}")
                if typed:
                    self._password = typed
                    try:
                        conn = await psycopg.AsyncConnection.connect(autocommit=True, **self.conninfo_kwargs())
                    except psycopg.OperationalError as exc2:
                        raise connect_error(exc2, self.target, self._password) from None
                else:
                    raise err from None
            else:
                raise err from None
        conn.add_notice_handler(self._on_notice)
        return conn

    def _on_notice(self, diag: psycopg.errors.Diagnostic) -> None:
        self._notices.append(f"{diag.severity}: {diag.message_primary}")

    async def connect(self) -> ServerInfo:
        self._conn = await self._open()
        self.info = await detect_server(self._conn)
        self.dialect = dialect_for(self.info.kind)
        if self.info.kind == "kwdb":
            await kwdb_session(self._conn)
        return self.info

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def reconnect(self) -> None:
        if self._conn is not None and not self._conn.closed:
            await self._conn.close()
        self._conn = await self._open()
        if self.info is not None and self.info.kind == "kwdb":
            await kwdb_session(self._conn)
        self.reconnects += 1

    async def __aenter__(self) -> ConnectionService:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _require(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None:
            raise ConnectError("not connected")
        return self._conn

    @property
    def _kind(self) -> str:
        return self.info.kind if self.info is not None else "postgres"

    async def check_read(self, text: str, *, limit: int | None = 20) -> Any:
        """Read mode's guard (:func:`kwtui.guard.check_read`) on this connection: a ``CheckedRead``.

        Raises ``guard.ReadRefused`` (exit 2) or the statement's own error; nothing of it runs.
        """
        from kwtui.guard import check_read

        async with self._lock:
            conn = self._require()
            if conn.closed:
                await self.reconnect()
                conn = self._require()
            try:
                return await check_read(conn, text, kind=self._kind, limit=limit)
            except psycopg.OperationalError as exc:
                if conn.closed or conn.broken:
                    await self.reconnect()
                    raise ConnectError("the connection dropped while the statement was checked; it was reopened",
                                       hint="run the statement again") from None
                raise query_error(exc) from None
            except psycopg.Error as exc:
                raise query_error(exc) from None

    @property
    def backend_pid(self) -> int | None:
        return self._conn.info.backend_pid if self._conn is not None and not self._conn.closed else None

    # -- running statements ---------------------------------------------------------------

    async def query(self, query: Query, params: Sequence[Any] | dict[str, Any] | None = None, *,
                    max_rows: int | None = None, read_only: bool = False, retry: bool = True,
                    timeout: float | None = None, cleanup: Sequence[str] = ()) -> QueryResult:
        """Run one statement and fetch (at most ``max_rows``) rows.

        The connection runs in autocommit; ``read_only`` wraps the statement in a READ ONLY
        transaction that is always rolled back (``guard.read_transaction``: with ``timeout``
        seconds of statement timeout, then ``cleanup``). A connection that dropped is reopened
        and, when ``retry`` is true (the caller says the statement is safe to repeat), the
        statement re-run once.
        """
        async with self._lock:
            if self._conn is None or self._conn.closed:
                if self._conn is None:
                    raise ConnectError("not connected")
                await self.reconnect()
            try:
                return await self._run(query, params, max_rows=max_rows, read_only=read_only, timeout=timeout,
                                       cleanup=cleanup)
            except psycopg.OperationalError as exc:
                conn = self._conn
                if conn is not None and (conn.closed or conn.broken):
                    await self.reconnect()
                    if retry:
                        return await self._run(query, params, max_rows=max_rows, read_only=read_only,
                                               timeout=timeout, cleanup=cleanup)
                    raise ConnectError("the connection dropped while the statement ran; it was reopened",
                                       hint="run the statement again") from None
                raise query_error(exc) from None
            except psycopg.Error as exc:
                raise query_error(exc) from None

    async def _run(self, query: Query, params: Any, *, max_rows: int | None, read_only: bool,
                   timeout: float | None = None, cleanup: Sequence[str] = ()) -> QueryResult:
        conn = self._require()
        self._notices = []
        started = time.perf_counter()
        async with conn.cursor() as cur:
            if read_only:
                from kwtui.guard import read_transaction  # here: the guard and sqlparse cost 10 ms to import

                async with read_transaction(conn, kind=self._kind, timeout=timeout, cleanup=cleanup):
                    await cur.execute(query, params)
                    columns, rows = await _fetch(cur, max_rows)
            else:
                await cur.execute(query, params)
                columns, rows = await _fetch(cur, max_rows)
            return QueryResult(
                columns=columns,
                rows=rows,
                status=cur.statusmessage or "",
                rowcount=cur.rowcount,
                elapsed=time.perf_counter() - started,
                notices=list(self._notices),
            )

    async def open_stream(self, query: Query, params: Sequence[Any] | dict[str, Any] | None = None, *,
                          read_only: bool = False, chunk: int = 500, timeout: float | None = None,
                          cleanup: Sequence[str] = ()) -> ResultStream:
        """Start a statement whose rows are read page by page (never all at once).

        Works on PostgreSQL and KWDB alike (libpq chunked-rows mode, no server-side cursor).
        The service's lock is held until the stream is closed, so give a console its own
        service. ``read_only`` runs the statement in a READ ONLY transaction that is rolled
        back when the stream ends (see :meth:`query` for ``timeout`` and ``cleanup``).
        """
        await self._lock.acquire()
        stream: ResultStream | None = None
        try:
            if self._conn is None:
                raise ConnectError("not connected")
            if self._conn.closed:
                await self.reconnect()
            stream = ResultStream(self, self._require(), query, params, read_only=read_only, chunk=chunk,
                                  timeout=timeout, cleanup=cleanup)
            await stream._start()
        except BaseException:
            if stream is None or not stream.closed:  # a started stream releases the lock itself
                self._lock.release()
            raise
        return stream

    async def cancel(self) -> None:
        """Ask the server to stop the statement that is running now (does not wait for the lock)."""
        conn = self._conn
        if conn is not None and not conn.closed:
            await conn.cancel_safe()

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """The raw connection in autocommit (KWDB IMPORT/EXPORT refuse to run in a transaction)."""
        async with self._lock:
            conn = self._require()
            if conn.closed:
                await self.reconnect()
                conn = self._require()
            previous = conn.autocommit
            if not previous:
                await conn.set_autocommit(True)
            try:
                yield conn
            finally:
                if not previous and not conn.closed:
                    await conn.set_autocommit(False)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        async with self._lock:
            conn = self._require()
            async with conn.transaction():
                yield conn

    async def open_raw(self, *, autocommit: bool = False) -> psycopg.AsyncConnection[Any]:
        """A new, separate connection to the same server and database (for transfer workers)."""
        try:
            conn = await psycopg.AsyncConnection.connect(autocommit=autocommit, **self.conninfo_kwargs())
        except psycopg.OperationalError as exc:
            raise connect_error(exc, self.target, self._password) from None
        if self.info is not None and self.info.kind == "kwdb":
            await kwdb_session(conn)
        return conn

    async def pool(self, min_size: int = 1, max_size: int = 4) -> Any:
        """A connection pool to the same server for jobs that need several connections."""
        from psycopg_pool import AsyncConnectionPool

        kwargs = self.conninfo_kwargs()
        p: AsyncConnectionPool[Any] = AsyncConnectionPool(
            "", kwargs=kwargs, min_size=min_size, max_size=max_size, open=False
        )
        await p.open(wait=True)
        return p

    # -- catalog shortcuts ------------------------------------------------------------------

    async def list_databases(self) -> list[Database]:
        if self.dialect is None:
            raise ConnectError("not connected")
        result = await self.query(self.dialect.list_databases_query())
        return self.dialect.parse_databases(result.columns, result.rows)


class ResultStream:
    """The rows of one running statement, fetched in pages. Close it when done."""

    def __init__(self, service: ConnectionService, conn: psycopg.AsyncConnection[Any], query: Query,
                 params: Any, *, read_only: bool, chunk: int, timeout: float | None = None,
                 cleanup: Sequence[str] = ()) -> None:
        self._service = service
        self._conn = conn
        self._query = query
        self._params = params
        self._read_only = read_only
        self._timeout = timeout
        self._cleanup = cleanup
        self._chunk = max(1, chunk)
        self._cur: psycopg.AsyncCursor[Any] | None = None
        self._rows: AsyncIterator[Any] | None = None
        self._tx: Any = None
        self._peek: tuple[Any, ...] | None = None
        self.columns: list[str] = []
        self.status = ""
        self.fetched = 0
        self.done = False
        self.closed = False
        self.started = time.perf_counter()
        self.first_page_elapsed: float | None = None
        self.elapsed = 0.0

    async def _start(self) -> None:
        try:
            if self._read_only:
                from kwtui.guard import read_transaction

                self._tx = read_transaction(self._conn, kind=self._service._kind, timeout=self._timeout,
                                            cleanup=self._cleanup)
                await self._tx.__aenter__()
            self._cur = self._conn.cursor()
            self._rows = self._cur.stream(self._query, self._params, size=self._chunk).__aiter__()
            # Read the first row now so errors surface here and the description is known.
            try:
                self._peek = tuple(await self._rows.__anext__())
            except StopAsyncIteration:
                self._peek = None
                self.done = True
            desc = self._cur.description
            self.columns = [d.name for d in desc] if desc else []
            self.status = self._cur.statusmessage or ""
            if self.done and not self.columns:  # psycopg's stream keeps no description without a row
                self.columns = await self._describe()
        except psycopg.Error as exc:
            await self._finish(exc)
            raise query_error(exc) from None
        except BaseException as exc:
            await self._finish(exc)
            raise
        finally:
            self.first_page_elapsed = time.perf_counter() - self.started
            self.elapsed = self.first_page_elapsed
        if self.done:
            await self._finish(None)

    async def _describe(self) -> list[str]:
        """The column names of an empty result: the statement parsed and described again, not run."""
        from psycopg import generators, pq

        if self._params:
            return []
        query = self._query
        text = query if isinstance(query, str | bytes) else query.as_string(self._conn)
        raw = text if isinstance(text, bytes) else text.encode(self._conn.info.encoding)
        try:
            async with self._conn.lock:
                self._conn.pgconn.send_prepare(b"", raw)
                await self._conn.wait(generators.execute(self._conn.pgconn))
                self._conn.pgconn.send_describe_prepared(b"")
                results = await self._conn.wait(generators.execute(self._conn.pgconn))
        except psycopg.Error:
            return []
        for res in results:
            if res.status == pq.ExecStatus.COMMAND_OK and res.nfields:
                enc = self._conn.info.encoding
                return [(res.fname(i) or b"?column?").decode(enc, "replace") for i in range(res.nfields)]
        return []

    async def next_page(self, size: int = 500) -> list[tuple[Any, ...]]:
        """Up to ``size`` more rows; an empty list once the result is exhausted."""
        if self.closed:
            return []
        out: list[tuple[Any, ...]] = []
        if self._peek is not None:
            out.append(self._peek)
            self._peek = None
        assert self._rows is not None
        try:
            while len(out) < size and not self.done:
                try:
                    out.append(tuple(await self._rows.__anext__()))
                except StopAsyncIteration:
                    self.done = True
        except psycopg.Error as exc:
            await self._finish(exc)
            raise query_error(exc) from None
        self.fetched += len(out)
        self.elapsed = time.perf_counter() - self.started
        if self.done:
            if self._cur is not None:
                self.status = self._cur.statusmessage or self.status
            if not self.status and self.columns:
                self.status = f"SELECT {self.fetched}"
            await self._finish(None)
        return out

    async def _finish(self, exc: BaseException | None) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            if self._rows is not None and not self.done:
                with contextlib.suppress(Exception):
                    await self._rows.aclose()  # type: ignore[attr-defined]
            if self._cur is not None:
                with contextlib.suppress(Exception):
                    await self._cur.close()
            if self._tx is not None:
                with contextlib.suppress(Exception):
                    if exc is None and self.done:
                        await self._tx.__aexit__(None, None, None)
                    else:  # an error or closed early: roll the read-only transaction back
                        reason = exc if exc is not None else RuntimeError("stream closed early")
                        await self._tx.__aexit__(type(reason), reason, None)
        finally:
            self._service._lock.release()

    async def close(self) -> None:
        """Stop reading (the server-side statement is cancelled if it still runs)."""
        await self._finish(None)


async def _fetch(cur: psycopg.AsyncCursor[Any], max_rows: int | None) -> tuple[list[str], list[tuple[Any, ...]]]:
    if cur.description is None:
        return [], []
    columns = [d.name for d in cur.description]
    if max_rows == 0:
        return columns, []
    if max_rows is None:
        rows = await cur.fetchall()
    else:
        rows = await cur.fetchmany(max_rows)
    return columns, [tuple(r) for r in rows]


async def detect_server(conn: psycopg.AsyncConnection[Any]) -> ServerInfo:
    """KWDB or PostgreSQL, version and deployment type."""
    async with conn.cursor() as cur:
        await cur.execute("SELECT version(), current_database(), current_user")
        row = await cur.fetchone()
    assert row is not None
    version_string, database, user = str(row[0]), str(row[1]), str(row[2])
    params = {k: conn.info.parameter_status(k) or "" for k in ("kwdb_version", "server_version")}
    params = {k: v for k, v in params.items() if v}
    kind, version = parse_version(version_string, params)
    if kind == "postgres":
        async with conn.cursor() as cur:
            await cur.execute("SELECT pg_is_in_recovery()")
            rec = await cur.fetchone()
        deployment = "standby" if rec and rec[0] else "primary"
        return ServerInfo(kind, version, version_string, deployment, database, user)
    nodes: int | None = None
    replicas: int | None = None
    try:
        async with conn.cursor() as cur:
            await cur.execute("SELECT count(*) FROM kwdb_internal.gossip_nodes WHERE is_live")
            r = await cur.fetchone()
            nodes = int(r[0]) if r else None
            await cur.execute("SHOW ZONE CONFIGURATION FOR RANGE default")
            replicas = parse_num_replicas(await cur.fetchall())
    except psycopg.Error:
        pass  # not an admin: deployment from what we could read
    return ServerInfo(kind, version, version_string, deployment_type(nodes, replicas), database, user,
                      nodes, replicas)


async def kwdb_session(conn: psycopg.AsyncConnection[Any]) -> None:
    """What every kwtui session on KWDB needs: floats printed exactly, timestamps that load.

    KWDB's default extra_float_digits is 0, which prints a FLOAT8 with 15 digits (4/3 read
    back as 1.33333333333333): every value read as text (transfer from KWDB, export, sync,
    validation) lost precision. With 3 it prints the shortest exact form, as PostgreSQL does
    from 1 up (checked on V3.2.1: 1.3333333333333333, 0.30000000000000004, 5e-324).
    """
    in_tx = conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE
    await conn.execute("SET extra_float_digits = 3")
    if not conn.autocommit and not in_tx:
        await conn.commit()  # a session setting: not to be lost with the caller's first rollback
    kwdb_timestamps(conn)


_NANOS = re.compile(rb"(\.\d{6})\d+")


def kwdb_timestamps(conn: psycopg.AsyncConnection[Any] | psycopg.Connection[Any]) -> None:
    """KWDB prints now() with nanoseconds ('...34.477039716+00:00'), which psycopg cannot
    load: on a KWDB connection, timestamps are loaded with the fraction cut to microseconds
    (what Python's datetime holds)."""
    from psycopg.types.datetime import TimestampLoader, TimestamptzLoader

    class _Tz(TimestamptzLoader):
        def load(self, data: Any) -> Any:
            return super().load(_NANOS.sub(rb"\1", bytes(data)))

    class _Ts(TimestampLoader):
        def load(self, data: Any) -> Any:
            return super().load(_NANOS.sub(rb"\1", bytes(data)))

    conn.adapters.register_loader("timestamptz", _Tz)
    conn.adapters.register_loader("timestamp", _Ts)


def run_sync(coro: Awaitable[Any]) -> Any:
    """Run a coroutine from synchronous code (the CLI)."""
    async def _wrap() -> Any:
        return await coro

    return asyncio.run(_wrap())
