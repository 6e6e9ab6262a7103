"""Browse facts read from the live KWDB node (V3.2.1) through kwtui/dialects/kwdb.py.

Recorded on the node: ``SHOW TABLES`` has no ``estimated_row_count`` (columns: table_name,
table_type[, comment]); a TS table's comment is an empty string; SHOW COLUMNS' ``indices`` is an
array and lists the TS timestamp under ``primary``; automatic statistics (``system.table_statistics``)
exist for relational tables only; ``kwdb_internal.ranges.range_size`` counts relational data, while
TS data lives in the TS engine (its ranges hold a few bytes of metadata).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest

from kwtui.catalog import RELATIONAL, TIME_SERIES, TS_TABLE
from kwtui.connection import ConnectionService, ConnectTarget

from .conftest import KwdbNode

pytestmark = pytest.mark.kwdb


@pytest.fixture
async def dbs(kwdb_node: KwdbNode) -> AsyncIterator[tuple[str, str]]:
    rel, ts = "br_" + uuid.uuid4().hex[:8], "bt_" + uuid.uuid4().hex[:8]
    with psycopg.connect(kwdb_node.uri, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {rel}")
        conn.execute(f"COMMENT ON DATABASE {rel} IS 'master data'")
        conn.execute(f"CREATE TS DATABASE {ts}")
        conn.execute(f"CREATE TABLE {rel}.meters (id INT8 PRIMARY KEY, name STRING NOT NULL, site STRING)")
        conn.execute(f"CREATE INDEX meters_site ON {rel}.meters (site)")
        conn.execute(f"COMMENT ON TABLE {rel}.meters IS 'every meter'")
        conn.execute(f"INSERT INTO {rel}.meters SELECT g, 'm' || g::STRING, 's' || (g % 7)::STRING "
                     "FROM generate_series(1, 5000) AS g")
        conn.execute(f"CREATE STATISTICS s FROM {rel}.meters")
        conn.execute(f'CREATE TABLE {ts}.readings (ts TIMESTAMPTZ NOT NULL, kwh FLOAT8, "Volt" INT4) '
                     f'TAGS (meter_id INT8 NOT NULL, "Zone" VARCHAR(20) NOT NULL, site VARCHAR(40)) '
                     f'PRIMARY TAGS (meter_id, "Zone")')
        conn.execute(f"INSERT INTO {ts}.readings VALUES ('2025-01-01 00:00:00+00', 1.5, 230, 1, 'Z1', 'a'), "
                     "('2025-01-01 00:01:00+00', 1.7, 231, 1, 'Z1', 'a')")
    try:
        yield rel, ts
    finally:
        with psycopg.connect(kwdb_node.uri, autocommit=True) as conn:
            for name in (rel, ts):
                conn.execute(f"DROP DATABASE IF EXISTS {name} CASCADE")


async def _service(uri: str, database: str) -> ConnectionService:
    svc = ConnectionService(ConnectTarget.resolve(dsn=uri.replace("/defaultdb?", f"/{database}?")))
    await svc.connect()
    return svc


async def test_databases_tables_and_ts_facts(dbs: tuple[str, str], kwdb_node: KwdbNode) -> None:
    rel, ts = dbs
    svc = await _service(kwdb_node.uri, rel)
    try:
        assert svc.dialect is not None and svc.dialect.kind == "kwdb"
        by_name = {d.name: d for d in await svc.list_databases()}
        assert by_name[rel].engine == RELATIONAL and by_name[rel].comment == "master data"
        assert by_name[ts].engine == TIME_SERIES and by_name[ts].comment is None
        assert [s.name for s in await svc.dialect.list_schemas(svc)] == ["public"]
        (meters,) = await svc.dialect.list_tables(svc, "public")
        assert (meters.name, meters.kind, meters.comment) == ("meters", "table", "every meter")
        assert meters.est_rows == 5000  # the newest statistic, not SHOW TABLES (it has no estimate)
        assert meters.size_bytes is None or meters.size_bytes >= 0  # ranges shared with other tables: unknown
        detail = await svc.dialect.table_detail(svc, meters)
        assert detail.primary_key == ["id"] and detail.tags == []
        assert [(c.name, c.nullable) for c in detail.columns] == [("id", False), ("name", False), ("site", True)]
        assert {i.name: (i.columns, i.unique, i.primary) for i in detail.indexes} == {
            "primary": (("id",), True, True), "meters_site": (("site",), False, False)}
    finally:
        await svc.close()

    svc = await _service(kwdb_node.uri, ts)
    try:
        assert svc.dialect is not None
        (readings,) = await svc.dialect.list_tables(svc, "public")
        assert (readings.name, readings.kind, readings.comment) == ("readings", TS_TABLE, None)
        assert readings.est_rows is None and readings.size_bytes is None  # KWDB keeps no statistic of TS data
        detail = await svc.dialect.table_detail(svc, readings)
        assert [c.name for c in detail.columns] == ["ts", "kwh", "Volt", "meter_id", "Zone", "site"]
        assert detail.tags == ["meter_id", "Zone", "site"]
        assert detail.primary_tags == ["meter_id", "Zone"]
        assert [c.type for c in detail.columns][:1] == ["TIMESTAMPTZ(3)"]
        assert "PRIMARY TAGS(meter_id, \"Zone\")" in detail.ddl.replace("PRIMARY TAGS (", "PRIMARY TAGS(")
        assert detail.indexes == []
        # without the DDL (about 95 ms) and comments: the primary tags come from SHOW TAGS
        light = await svc.dialect.table_detail(svc, readings, with_ddl=False)
        assert light.ddl == "" and light.primary_tags == ["meter_id", "Zone"]
        assert [(c.name, c.type, c.nullable, c.is_tag) for c in light.columns] == \
            [(c.name, c.type, c.nullable, c.is_tag) for c in detail.columns]
        preview = await svc.query(svc.dialect.preview_query(readings), read_only=True)
        assert len(preview.rows) == 2
    finally:
        await svc.close()
