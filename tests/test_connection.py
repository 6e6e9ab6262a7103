"""Server detection, the connection service and its failure modes, against a real PostgreSQL."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from kwtui.catalog import RELATIONAL, TIME_SERIES, Database
from kwtui.connection import (
    MULTI_REPLICA,
    SINGLE_NODE,
    SINGLE_REPLICA,
    ConnectionService,
    ConnectTarget,
    QueryError,
    deployment_type,
    parse_num_replicas,
    parse_version,
)
from kwtui.dialects import KwdbDialect, PostgresDialect, dialect_for
from kwtui.embedded import free_port
from kwtui.errors import ConnectError, UsageError
from kwtui.profiles import Profile, ProfileStore

from .conftest import PW_PASSWORD, PW_USER

if TYPE_CHECKING:  # imported for annotations only, so pytest does not try to collect TestDb
    from .conftest import PgServer, TestDb

# -- version strings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version_string", "kind", "version"),
    [
        ("PostgreSQL 18.6 on x86_64-pc-linux-gnu, compiled by gcc (GCC) 12.2.0, 64-bit", "postgres", "18.6"),
        ("PostgreSQL 9.6.24 on x86_64-pc-linux-gnu, compiled by gcc 4.8.5, 64-bit", "postgres", "9.6.24"),
        ("PostgreSQL 16.4 (Debian 16.4-1.pgdg120+1) on x86_64-pc-linux-gnu, compiled by gcc (Debian 12.2.0-14) "
         "12.2.0, 64-bit", "postgres", "16.4"),
        ("PostgreSQL 17beta1 on aarch64-unknown-linux-gnu", "postgres", "17beta1"),
        ("KaiwuDB 2.0.4 (x86_64-linux-gnu, built 2024/08/29 08:05:02, go1.16.15, gcc 9.4.0)", "kwdb", "2.0.4"),
        ("KWDB 2.2.0 (aarch64-linux-gnu, built 2025/03/11 02:10:45, go1.19.2, gcc 11.4.0)", "kwdb", "2.2.0"),
        ("KaiwuDB v3.0.0 (x86_64-linux-gnu, built 2025/06/01 10:00:00, go1.22, gcc 11.4.0)", "kwdb", "3.0.0"),
        ("  KaiwuDB 2.1.0-rc.1 (x86_64-linux-gnu)", "kwdb", "2.1.0-rc.1"),
        # what the live V3.2.1 source build says (its describe suffix is not the release)
        ("KaiwuDB V3.2.1-28-ga5c90efc1-dirty (x86_64-linux-gnu, built 2026/12/03 08:16:38, go1.22.10, gcc 12.2.0)",
         "kwdb", "3.2.1"),
    ],
)
def test_parse_version(version_string: str, kind: str, version: str) -> None:
    assert parse_version(version_string) == (kind, version)


def test_parse_version_prefers_kwdb_parameter_status() -> None:
    # KWDB reports server_version 9.5.0; the kwdb_version parameter says what it really is
    params = {"kwdb_version": "v2.1.0", "server_version": "9.5.0"}
    assert parse_version("PostgreSQL 9.5.0 on x86_64", params) == ("kwdb", "2.1.0")
    assert parse_version("KaiwuDB 2.1.0 (x86_64-linux-gnu)", {"kwdb_version": "2.1.0"}) == ("kwdb", "2.1.0")
    # the live V3.2.1 node puts its whole version() text in kwdb_version
    full = "KaiwuDB V3.2.1-28-ga5c90efc1-dirty (x86_64-linux-gnu, built 2026/12/03 08:16:38, go1.22.10, gcc 12.2.0)"
    assert parse_version("PostgreSQL 9.5.0", {"kwdb_version": full}) == ("kwdb", "3.2.1")


def test_parse_version_unknown_server_is_postgres_like() -> None:
    assert parse_version("SomethingDB 1.0", {"server_version": "13.0"}) == ("postgres", "13.0")
    assert parse_version("SomethingDB 1.0") == ("postgres", "SomethingDB")


# -- deployment type -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nodes", "replicas", "expected"),
    [
        (1, 3, SINGLE_NODE),
        (1, 1, SINGLE_NODE),
        (1, None, SINGLE_NODE),
        (None, None, SINGLE_NODE),
        (3, 1, SINGLE_REPLICA),
        (3, 3, MULTI_REPLICA),
        (5, 5, MULTI_REPLICA),
        (3, None, MULTI_REPLICA),
    ],
)
def test_deployment_type(nodes: int | None, replicas: int | None, expected: str) -> None:
    assert deployment_type(nodes, replicas) == expected


def _zone_sql(replicas: int) -> str:
    return (
        "ALTER RANGE default CONFIGURE ZONE USING\n"
        "\trange_min_bytes = 134217728,\n"
        "\trange_max_bytes = 536870912,\n"
        "\tgc.ttlseconds = 90000,\n"
        f"\tnum_replicas = {replicas},\n"
        "\tconstraints = '[]',\n"
        "\tlease_preferences = '[]'"
    )


def test_parse_num_replicas() -> None:
    # SHOW ZONE CONFIGURATION FOR RANGE default: target | raw_config_sql
    assert parse_num_replicas([("RANGE default", _zone_sql(3))]) == 3
    assert parse_num_replicas([("RANGE default", _zone_sql(1))]) == 1
    # older servers: zone_id | zone_name | config_sql
    assert parse_num_replicas([(0, ".default", _zone_sql(5))]) == 5
    assert parse_num_replicas([("RANGE default", "ALTER RANGE default CONFIGURE ZONE USING gc.ttlseconds = 1")]) is None
    assert parse_num_replicas([]) is None
    assert deployment_type(3, parse_num_replicas([("RANGE default", _zone_sql(1))])) == SINGLE_REPLICA


# -- dialects --------------------------------------------------------------------------------


def test_kwdb_parse_databases_from_recorded_output() -> None:
    # from `show databases with comment` (imp_exp_comment master): over the wire a NULL comment
    # arrives as None, the kwbase shell prints it as NULL; both mean "no comment".
    columns = ["database_name", "engine_type", "comment"]
    rows = [
        ("defaultdb", "RELATIONAL", None),
        ("postgres", "RELATIONAL", "NULL"),
        ("system", "RELATIONAL", None),
        ("test", "TIME SERIES", "database for comment"),
    ]
    dbs = KwdbDialect().parse_databases(columns, rows)
    assert dbs == [
        Database("defaultdb", RELATIONAL, None, None),
        Database("postgres", RELATIONAL, None, None),
        Database("system", RELATIONAL, None, None),
        Database("test", TIME_SERIES, None, "database for comment"),
    ]
    assert [d.is_ts for d in dbs] == [False, False, False, True]


def test_kwdb_parse_databases_without_comment_column() -> None:
    # plain SHOW DATABASES: database_name | engine_type, in upper case from some drivers
    dbs = KwdbDialect().parse_databases(["DATABASE_NAME", "ENGINE_TYPE"], [("def", "TIME SERIES"), ("rdb", "RELATIONAL")])
    assert [(d.name, d.engine, d.comment) for d in dbs] == [("def", TIME_SERIES, None), ("rdb", RELATIONAL, None)]


def test_dialect_for() -> None:
    assert isinstance(dialect_for("kwdb"), KwdbDialect)
    assert isinstance(dialect_for("postgres"), PostgresDialect)
    assert KwdbDialect().caps.time_series and not PostgresDialect().caps.time_series
    with pytest.raises(ValueError):
        dialect_for("oracle")


# -- targets ---------------------------------------------------------------------------------


def test_target_resolve(profiles_path: Path) -> None:
    store = ProfileStore(profiles_path)
    store.save(Profile(name="p", host="h", port=5433, user="u", dbname="d"))
    t = ConnectTarget.resolve(profile="p", store=store)
    assert t.params["host"] == "h" and t.profile_name == "p" and t.password is None
    assert t.describe() == "h:5433/d"
    t = ConnectTarget.resolve(dsn="postgresql://u:pw@h2:1/d2")
    assert t.password == "pw" and "pw" not in repr(t) and "pw" not in t.describe()
    assert t.with_database("other").params["dbname"] == "other"
    with pytest.raises(UsageError):
        ConnectTarget.resolve(dsn="host=h", profile="p", store=store)


# -- live: the service -----------------------------------------------------------------------


def _target(db: TestDb) -> ConnectTarget:
    return ConnectTarget.from_dsn(db.uri)


async def test_connect_detects_postgres(db: TestDb) -> None:
    async with ConnectionService(_target(db)) as svc:
        info = svc.info
        assert info is not None
        assert info.kind == "postgres"
        assert info.deployment == "primary"
        assert info.database == db.name
        assert info.user == "postgres"
        assert info.version_string.startswith("PostgreSQL ")
        assert info.version_string.startswith(f"PostgreSQL {info.version}")
        assert info.label == f"PostgreSQL {info.version}"
        assert isinstance(svc.dialect, PostgresDialect)
        assert svc.connected and svc.backend_pid
        names = [d.name for d in await svc.list_databases()]
        assert db.name in names and "postgres" in names
    assert not svc.connected


async def test_query_result(db: TestDb) -> None:
    db.execute("CREATE TABLE t (id int PRIMARY KEY, name text)")
    async with ConnectionService(_target(db)) as svc:
        r = await svc.query("INSERT INTO t SELECT g, 'n' || g FROM generate_series(1, 5) g")
        assert r.columns == [] and r.rows == [] and r.status == "INSERT 0 5" and r.rowcount == 5
        r = await svc.query("SELECT id, name FROM t WHERE id > %s ORDER BY id", [2])
        assert r.columns == ["id", "name"]
        assert r.rows == [(3, "n3"), (4, "n4"), (5, "n5")]
        assert r.status == "SELECT 3"
        r = await svc.query("SELECT id FROM t ORDER BY id", max_rows=2)
        assert r.rows == [(1,), (2,)]
        r = await svc.query("DO $$ BEGIN RAISE NOTICE 'hello %', 42; END $$")
        assert r.notices == ["NOTICE: hello 42"]


async def test_sql_error_carries_server_message_and_position(db: TestDb) -> None:
    async with ConnectionService(_target(db)) as svc:
        with pytest.raises(QueryError) as info:
            await svc.query("SELECT * FROM nope")
        err = info.value
        assert 'relation "nope" does not exist' in err.message
        assert err.sqlstate == "42P01"
        assert err.position == 15
        assert "15" in err.one_line()
        # the connection is still usable afterwards
        assert (await svc.query("select 1")).rows == [(1,)]


async def test_read_only_refuses_writes(db: TestDb) -> None:
    db.execute("CREATE TABLE t (id int)")
    async with ConnectionService(_target(db)) as svc:
        with pytest.raises(QueryError) as info:
            await svc.query("INSERT INTO t VALUES (1)", read_only=True)
        assert "read-only transaction" in info.value.message
        assert info.value.sqlstate == "25006"
        assert (await svc.query("SELECT count(*) FROM t", read_only=True)).rows == [(0,)]
        await svc.query("INSERT INTO t VALUES (1)")
    assert db.execute("SELECT count(*) FROM t") == [(1,)]


async def test_dropped_connection_reconnects(db: TestDb) -> None:
    async with ConnectionService(_target(db)) as svc:
        pid = svc.backend_pid
        assert pid
        with db.connect(autocommit=True) as other:
            assert other.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone() == (True,)
        r = await svc.query("select 1")
        assert r.rows == [(1,)]
        assert svc.reconnects == 1
        assert svc.backend_pid != pid


async def test_dropped_connection_without_retry(db: TestDb) -> None:
    async with ConnectionService(_target(db)) as svc:
        with db.connect(autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s)", [svc.backend_pid])
        with pytest.raises(ConnectError, match="dropped"):
            await svc.query("select 1", retry=False)
        assert svc.reconnects == 1
        assert (await svc.query("select 2")).rows == [(2,)]


async def test_cancel_running_statement(db: TestDb) -> None:
    async with ConnectionService(_target(db)) as svc:
        task = asyncio.create_task(svc.query("select pg_sleep(30)"))
        await asyncio.sleep(0.5)
        assert not task.done()
        await svc.cancel()
        with pytest.raises(QueryError) as info:
            await asyncio.wait_for(task, timeout=15)  # a guard: cancelling must not wait out the sleep
        assert info.value.sqlstate == "57014"
        assert "cancel" in info.value.message.lower()
        assert (await svc.query("select 3")).rows == [(3,)]
        assert svc.reconnects == 0


async def test_cancel_when_idle_is_harmless(db: TestDb) -> None:
    async with ConnectionService(_target(db)) as svc:
        await svc.cancel()
        assert (await svc.query("select 1")).rows == [(1,)]


async def test_autocommit_context(db: TestDb) -> None:
    async with ConnectionService(_target(db)) as svc:
        async with svc.autocommit() as conn:
            assert conn.autocommit
            await conn.execute("CREATE TABLE made_in_autocommit (id int)")
        async with svc.transaction() as conn:
            await conn.execute("INSERT INTO made_in_autocommit VALUES (1)")
        with pytest.raises(RuntimeError):
            async with svc.transaction() as conn:
                await conn.execute("INSERT INTO made_in_autocommit VALUES (2)")
                raise RuntimeError("roll back")
    assert db.execute("SELECT id FROM made_in_autocommit") == [(1,)]


async def test_pool_gives_working_connections(db: TestDb) -> None:
    async with ConnectionService(_target(db)) as svc:
        pool = await svc.pool(min_size=1, max_size=2)
        try:
            async with pool.connection() as c1, pool.connection() as c2:
                r1 = await (await c1.execute("SELECT current_database(), pg_backend_pid()")).fetchone()
                r2 = await (await c2.execute("SELECT current_database(), pg_backend_pid()")).fetchone()
            assert r1[0] == r2[0] == db.name
            assert r1[1] != r2[1] != svc.backend_pid
        finally:
            await pool.close()


async def test_query_before_connect_is_an_error(db: TestDb) -> None:
    svc = ConnectionService(_target(db))
    with pytest.raises(ConnectError, match="not connected"):
        await svc.query("select 1")
    with pytest.raises(ConnectError, match="not connected"):
        await svc.list_databases()


# -- live: passwords and reachability --------------------------------------------------------


def _pw_target(pg_server: PgServer, db: TestDb, password: str | None = None) -> ConnectTarget:
    secret = f":{password}" if password is not None else ""
    return ConnectTarget.from_dsn(f"postgresql://{PW_USER}{secret}@{pg_server.host}:{pg_server.port}/{db.name}")


async def test_right_password_connects(pg_server: PgServer, db: TestDb) -> None:
    async with ConnectionService(_pw_target(pg_server, db, PW_PASSWORD)) as svc:
        assert svc.info is not None and svc.info.user == PW_USER


async def test_wrong_password(pg_server: PgServer, db: TestDb) -> None:
    svc = ConnectionService(_pw_target(pg_server, db, "not-the-password"))
    with pytest.raises(ConnectError) as info:
        await svc.connect()
    text = info.value.one_line()
    assert "wrong password" in text
    assert PW_USER in text
    assert "not-the-password" not in text and "not-the-password" not in (info.value.detail or "")


async def test_missing_password_says_how_to_supply_it(pg_server: PgServer, db: TestDb) -> None:
    svc = ConnectionService(_pw_target(pg_server, db))
    with pytest.raises(ConnectError) as info:
        await svc.connect()
    text = info.value.one_line()
    assert "asks a password" in text
    assert "PGPASSWORD" in text and "pgpass" in text


async def test_password_prompt_supplies_password(pg_server: PgServer, db: TestDb) -> None:
    asked: list[str] = []

    async def prompt(label: str) -> str | None:
        asked.append(label)
        return PW_PASSWORD

    async with ConnectionService(_pw_target(pg_server, db), password_prompt=prompt) as svc:
        assert svc.info is not None and svc.info.user == PW_USER
    assert len(asked) == 1 and "Password" in asked[0]


async def test_password_prompt_after_wrong_password(pg_server: PgServer, db: TestDb) -> None:
    async def prompt(label: str) -> str | None:
        return PW_PASSWORD

    async with ConnectionService(_pw_target(pg_server, db, "wrong"), password_prompt=prompt) as svc:
        assert svc.info is not None and svc.info.user == PW_USER


async def test_password_prompt_declined(pg_server: PgServer, db: TestDb) -> None:
    async def prompt(label: str) -> str | None:
        return None

    with pytest.raises(ConnectError, match="asks a password"):
        await ConnectionService(_pw_target(pg_server, db), password_prompt=prompt).connect()


async def test_unreachable_server() -> None:
    port = free_port()  # the socket is closed again: nobody listens there
    svc = ConnectionService(ConnectTarget.from_dsn(f"postgresql://postgres@127.0.0.1:{port}/postgres"))
    with pytest.raises(ConnectError) as info:
        await svc.connect()
    text = info.value.one_line()
    assert "cannot reach" in text
    assert f"127.0.0.1:{port}" in text
    assert "\n" not in text


async def test_missing_database(pg_server: PgServer) -> None:
    svc = ConnectionService(ConnectTarget.from_dsn(pg_server.uri("no_such_db_here")))
    with pytest.raises(ConnectError, match='database "no_such_db_here" does not exist'):
        await svc.connect()


async def test_pgpassword_env(pg_server: PgServer, db: TestDb, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGPASSWORD", PW_PASSWORD)
    async with ConnectionService(_pw_target(pg_server, db)) as svc:
        assert svc.info is not None and svc.info.user == PW_USER


async def test_pgpass_file(pg_server: PgServer, db: TestDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"127.0.0.1:{pg_server.port}:*:{PW_USER}:{PW_PASSWORD}\n")
    os.chmod(pgpass, 0o600)
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    async with ConnectionService(_pw_target(pg_server, db)) as svc:
        assert svc.info is not None and svc.info.user == PW_USER


async def test_profile_target_connects(pg_server: PgServer, db: TestDb, profiles_path: Path) -> None:
    store = ProfileStore(profiles_path)
    store.save(Profile(name="local", host=pg_server.host, port=pg_server.port, user="postgres", dbname=db.name))
    async with ConnectionService(ConnectTarget.resolve(profile="local", store=store)) as svc:
        assert svc.info is not None and svc.info.database == db.name
        r = await svc.query("SELECT current_setting('application_name')")
        assert r.rows == [("kwtui",)]



async def test_profile_password_from_keyring(pg_server: PgServer, db: TestDb, profiles_path: Path) -> None:
    import keyring

    from kwtui.profiles import add_profile_from_dsn

    from .test_profiles import MemoryKeyring

    previous = keyring.get_keyring()
    keyring.set_keyring(MemoryKeyring())
    try:
        store = ProfileStore(profiles_path)
        add_profile_from_dsn(store, "pw", f"postgresql://{PW_USER}:{PW_PASSWORD}@{pg_server.host}:{pg_server.port}/{db.name}")
        assert PW_PASSWORD not in profiles_path.read_text()
        async with ConnectionService(ConnectTarget.resolve(profile="pw", store=store)) as svc:
            assert svc.info is not None and svc.info.user == PW_USER
    finally:
        keyring.set_keyring(previous)


async def test_pg_environment_only(pg_server: PgServer, db: TestDb, monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither --dsn nor --profile: libpq takes everything from PG* variables."""
    monkeypatch.setenv("PGHOST", pg_server.host)
    monkeypatch.setenv("PGPORT", str(pg_server.port))
    monkeypatch.setenv("PGUSER", "postgres")
    monkeypatch.setenv("PGDATABASE", db.name)
    async with ConnectionService(ConnectTarget.resolve()) as svc:
        assert svc.info is not None and svc.info.database == db.name


async def test_service_file(pg_server: PgServer, db: TestDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                            profiles_path: Path) -> None:
    """A profile that names only a pg_service.conf entry (password from the service file's peer: pgpass)."""
    services = tmp_path / "pg_service.conf"
    services.write_text(f"[kwsvc]\nhost={pg_server.host}\nport={pg_server.port}\nuser={PW_USER}\ndbname={db.name}\n")
    pgpass = tmp_path / "pgpass"
    pgpass.write_text(f"{pg_server.host}:{pg_server.port}:*:{PW_USER}:{PW_PASSWORD}\n")
    pgpass.chmod(0o600)
    monkeypatch.setenv("PGSERVICEFILE", str(services))
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    store = ProfileStore(profiles_path)
    store.save(Profile(name="svc", service="kwsvc"))
    async with ConnectionService(ConnectTarget.resolve(profile="svc", store=store)) as svc:
        assert svc.info is not None and svc.info.user == PW_USER and svc.info.database == db.name
