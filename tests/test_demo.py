"""The demo data set: what ``seed`` creates, and ``start_demo`` seeding only once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from psycopg import sql

import kwtui.demo
from kwtui.demo import DATABASES, SEED_VERSION, marker_path, start_demo

if TYPE_CHECKING:  # annotations only, so pytest does not try to collect TestDb
    from .conftest import PgServer

REAL_SEED = kwtui.demo.seed


@pytest.fixture(scope="module")
def seeded(pg_server: PgServer) -> Iterator[PgServer]:
    """shop/meters/target on the session server (this module is their only user), dropped afterwards."""
    REAL_SEED(pg_server.conninfo(), meters=20, steps=50)
    try:
        yield pg_server
    finally:
        with psycopg.connect(pg_server.conninfo(), autocommit=True) as conn:
            for name in DATABASES:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def one(pg: PgServer, dbname: str, query: str) -> Any:
    with psycopg.connect(pg.conninfo(dbname)) as conn:
        row = conn.execute(query).fetchone()  # type: ignore[arg-type]
    assert row is not None
    return row[0]


def test_seed_creates_three_databases(seeded: PgServer) -> None:
    with psycopg.connect(seeded.conninfo(), autocommit=True) as conn:
        names = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
    assert set(DATABASES) <= names
    assert one(seeded, "target", "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0


def test_seed_row_counts(seeded: PgServer) -> None:
    assert one(seeded, "meters", "SELECT count(*) FROM readings") == 1000
    assert one(seeded, "meters", "SELECT count(*) FROM meters") == 20
    assert one(seeded, "meters", "SELECT count(DISTINCT ts) FROM readings") == 50
    assert one(seeded, "shop", "SELECT count(*) FROM customers") == 2000
    assert one(seeded, "shop", "SELECT count(*) FROM products") == 500
    assert one(seeded, "shop", "SELECT count(*) FROM orders") == 20000
    assert one(seeded, "shop", "SELECT count(*) FROM order_items") == 60000
    # order totals were computed from their items
    assert one(seeded, "shop", "SELECT count(*) FROM orders WHERE total = 0") == 0


def test_seed_foreign_keys_and_keys(seeded: PgServer) -> None:
    with psycopg.connect(seeded.conninfo("shop")) as conn:
        fks = set(conn.execute(
            "SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint WHERE contype = 'f'"
        ).fetchall())
        orphans = conn.execute(
            "SELECT count(*) FROM order_items i LEFT JOIN orders o ON o.id = i.order_id WHERE o.id IS NULL"
        ).fetchone()
    assert fks == {("orders", "customers"), ("order_items", "orders"), ("order_items", "products")}
    assert orphans == (0,)
    pk = one(seeded, "meters",
             "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'readings'::regclass AND contype = 'p'")
    assert pk == "PRIMARY KEY (meter_id, ts)"
    assert one(seeded, "shop", "SELECT obj_description('customers'::regclass, 'pg_class')").startswith("People")


def test_seed_awkward_values(seeded: PgServer) -> None:
    with psycopg.connect(seeded.conninfo("shop")) as conn:
        def count(where: str) -> int:
            row = conn.execute(f"SELECT count(*) FROM customers WHERE {where}").fetchone()  # type: ignore[arg-type]
            assert row is not None
            return int(row[0])

        assert count("note LIKE E'%\\n%'") > 0  # a newline inside a value
        assert count("note LIKE E'%\\r\\n%'") > 0
        assert count("note LIKE E'%\\t%'") > 0
        assert count("note LIKE '%\"%'") > 0  # double quotes
        assert count("note IS NULL") > 0
        assert count("note = ''") > 0
        assert count("note = 'NULL'") > 0  # the text NULL is not a NULL
        assert count("email IS NULL") > 0
        assert count("email = ''") > 0  # an empty string is not a NULL either
        assert count("name ~ '[^\\x01-\\x7e]'") > 0  # non-ASCII names
        assert count("name LIKE '%,%'") > 0
        assert count("position(E'\\\\x00'::bytea in avatar) > 0") > 0  # bytea holding a zero byte
        assert count("avatar = ''::bytea") > 0
        assert count("avatar IS NULL") > 0
        assert count("jsonb_typeof(prefs -> 'tags') = 'array'") > 0
        assert count("prefs IS NULL") > 0

        names = {r[0].split(" #")[0] for r in conn.execute("SELECT name FROM customers")}
        assert {"李雷", "Zoë O'Brien", "Дмитрий", 'Ægir "the brewer"'} <= names
        row = conn.execute("SELECT avatar, prefs FROM customers WHERE id = 2").fetchone()
        assert row is not None
        avatar, prefs = row
        assert isinstance(avatar, bytes) and avatar.endswith(b"\x00\xff")
        assert prefs["tags"] == ["a,b", 'q"uote', 2]
        assert conn.execute("SELECT count(*) FROM products WHERE weight_kg IS NULL").fetchone() != (0,)


def test_start_demo_seeds_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def small_seed(conninfo: str, **kwargs: Any) -> None:
        calls.append(conninfo)
        REAL_SEED(conninfo, meters=5, steps=10, progress=kwargs.get("progress"))

    monkeypatch.setattr(kwtui.demo, "seed", small_seed)
    base = tmp_path / "demo"
    messages: list[str] = []
    first = start_demo(base=base, progress=messages.append)
    servers = [first.server]
    try:
        assert first.seeded_now is True
        assert first.server.started_here
        assert len(calls) == 1
        assert json.loads(marker_path(base).read_text())["version"] == SEED_VERSION
        assert any("seeding" in m for m in messages)
        with psycopg.connect(first.conninfo("meters")) as conn:
            assert conn.execute("SELECT count(*) FROM readings").fetchone() == (50,)
        with psycopg.connect(first.conninfo()) as conn:  # shop by default
            assert conn.execute("SELECT current_database()").fetchone() == ("shop",)

        second = start_demo(base=base)
        servers.append(second.server)
        assert second.seeded_now is False
        assert second.seed_seconds == 0.0
        assert second.server.port == first.server.port  # the running server was reused
        assert not second.server.started_here
        assert len(calls) == 1
        with psycopg.connect(second.conninfo("meters")) as conn:
            assert conn.execute("SELECT count(*) FROM readings").fetchone() == (50,)

        # stopped and started again: the data is still there, nothing is seeded
        first.server.stop()
        assert first.server.running_port() is None
        third = start_demo(base=base)
        servers.append(third.server)
        assert third.seeded_now is False and third.server.started_here
        assert len(calls) == 1
        with psycopg.connect(third.conninfo("shop")) as conn:
            assert conn.execute("SELECT count(*) FROM customers").fetchone() == (2000,)

        # the cluster went away but the marker stayed: seed again rather than show empty databases
        third.server.destroy()
        assert marker_path(base).exists()
        fourth = start_demo(base=base)
        servers.append(fourth.server)
        assert fourth.seeded_now is True
        assert len(calls) == 2
        with psycopg.connect(fourth.conninfo("meters")) as conn:
            assert conn.execute("SELECT count(*) FROM readings").fetchone() == (50,)
    finally:
        for server in servers:
            server.stop()
    assert all(server.running_port() is None for server in servers)


def _alive(pid: int) -> bool:
    """A running process (a zombie waiting for its parent to reap it has stopped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _spawn_demo(env: dict[str, str]) -> Any:
    """``kwtui --demo`` on a pseudo-terminal of 80x24, as a user starts it."""
    import fcntl
    import os
    import pty
    import struct
    import subprocess
    import sys
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "kwtui", "--demo"], stdin=slave, stdout=slave, stderr=slave,
                            env=env, close_fds=True)
    os.close(slave)
    return proc, master


def test_demo_port_is_kept_and_a_killed_runs_server_is_stopped(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 13: after kill -9 the next ``kwtui --demo`` silently reused the orphaned server and
    never stopped it; the port changed between restarts (a saved demo profile stopped working)."""
    import os
    import time

    from kwtui.embedded import EmbeddedServer

    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_STATE_HOME": str(tmp_path / "state"),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    base = tmp_path / "data" / "kwtui" / "demo"
    monkeypatch.setattr(kwtui.demo, "seed", lambda conninfo, **kw: REAL_SEED(conninfo, meters=2, steps=5))
    first = start_demo(base=base)  # seeded here, small, so the spawned demo only starts it
    port = first.server.port
    assert port is not None and (base / "port").read_text() == str(port)
    first.server.stop()
    pgdata = EmbeddedServer(base / "pgdata")
    proc, master = _spawn_demo(env)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:  # until the spawned kwtui has its server up and says it owns it
            owner = base / "owner.json"
            if owner.exists() and json.loads(owner.read_text())["pid"] == proc.pid and pgdata.running_port():
                break
            assert proc.poll() is None, "kwtui --demo exited"
            time.sleep(0.2)
        assert pgdata.running_port() == port  # the same port as the run before: a saved profile still works
        proc.kill()  # kill -9 of the process we spawned, nothing else
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        os.close(master)
    orphan_pid = int((base / "pgdata" / "postmaster.pid").read_text().split()[0])
    assert pgdata.running_port() == port  # the orphan: nobody will stop it
    again = start_demo(base=base)
    try:
        assert "killed kwtui" in again.orphan and "stopped" in again.orphan
        assert not _alive(orphan_pid)
        assert int((base / "pgdata" / "postmaster.pid").read_text().split()[0]) != orphan_pid
        assert again.server.started_here and again.server.port == port  # ours now: stopped on quit
    finally:
        again.server.stop()
    assert pgdata.running_port() is None


def test_demo_port_taken_by_another_program_is_replaced_and_kept(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    monkeypatch.setattr(kwtui.demo, "seed", lambda conninfo, **kw: REAL_SEED(conninfo, meters=2, steps=5))
    base = tmp_path / "demo"
    base.mkdir()
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        (base / "port").write_text(str(taken))
        info = start_demo(base=base)
        try:
            assert info.server.port != taken
            kept = (base / "port").read_text()
            assert kept == str(info.server.port)
        finally:
            info.server.stop()
    second = start_demo(base=base)  # the other program is gone: the kept port stays
    try:
        assert str(second.server.port) == kept and second.orphan == ""
    finally:
        second.server.stop()
