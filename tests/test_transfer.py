"""kwtui transfer: PostgreSQL to PostgreSQL on every path the engine has, checked by checksum."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import psycopg
import pytest
from psycopg import sql

from kwtui.connection import ConnectionService, ConnectTarget
from kwtui.transfer.engine import ProgressEvent, TransferOptions, transfer

from .test_cli import run

if TYPE_CHECKING:
    pass

AWKWARD = """
CREATE TABLE awkward (
    id bigint PRIMARY KEY,
    note text,
    price numeric(14, 4),
    ratio double precision,
    flag boolean,
    ts timestamptz,
    day date,
    raw bytea,
    doc jsonb,
    uid uuid,
    tags text[]
);
INSERT INTO awkward VALUES
 (1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (2, '', 0, 0, false, '1969-07-20 20:17:40+00', '1900-01-01', '', '{}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{}'),
 (3, 'comma, "quote" and ''single''', 123456789.1234, -1.5e-300, true, '2038-01-19 03:14:08+00', '0001-01-01',
    '\\x00ff0a0d2c22', '{"k": [1, "x", null], "é": true}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12', '{a,"b,c"}'),
 (4, E'line\\nbreak\\r\\nand\\ttab and \\\\ backslash', -0.0001, 'NaN', true, '1950-06-01 12:00:00.123456+05:30',
    '2024-02-29', '\\x5c30', '[1, 2]', NULL, '{NULL}'),
 (5, '李雷 Zoë Ægir Дмитрий 🚀', 1e-4, 'Infinity', false, '2024-01-01 00:00:00+00', NULL, '\\x', 'null', NULL, NULL),
 (6, 'NULL', 1, 1, true, NULL, NULL, NULL, '"NULL"', NULL, NULL),
 (7, '\\N', 2, 2, true, NULL, NULL, NULL, NULL, NULL, NULL),
 (8, '  leading and trailing  ', 3, 3, false, NULL, NULL, NULL, NULL, NULL, NULL);
"""


def checksum(conninfo: str, table: str, order: str = "1") -> tuple[int, str]:
    with psycopg.connect(conninfo) as conn:
        q = sql.SQL("SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY {}), '')) FROM {} t").format(
            sql.SQL(order), sql.Identifier(*table.split(".")))
        row = conn.execute(q).fetchone()
        assert row is not None
        return int(row[0]), str(row[1])




def execute(uri: str, text: str) -> None:
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(text)  # type: ignore[arg-type]


async def _transfer(src_uri: str, dst_uri: str, tables: list[str] | None, options: TransferOptions,
                    events: list[ProgressEvent] | None = None):  # type: ignore[no-untyped-def]
    async with ConnectionService(ConnectTarget.from_dsn(src_uri)) as src, \
            ConnectionService(ConnectTarget.from_dsn(dst_uri)) as dst:
        return await transfer(src, dst, tables, options, events.append if events is not None else None)


@pytest.mark.parametrize("options", [
    TransferOptions(),
    TransferOptions(force_keyset=True, page_rows=3),
    TransferOptions(force_insert=True, batch_rows=2),
    TransferOptions(force_keyset=True, force_insert=True, page_rows=2, batch_rows=3),
], ids=["binary-copy", "keyset-copy", "copy-insert", "keyset-insert"])
async def test_awkward_values_exact_on_every_path(two_dbs: tuple[str, str], options: TransferOptions) -> None:
    src, dst = two_dbs
    execute(src, AWKWARD)
    result = await _transfer(src, dst, ["public.awkward"], options)
    assert result.ok, result.tables
    assert result.tables[0].created and result.tables[0].rows == 8
    assert checksum(src, "awkward") == checksum(dst, "awkward")


async def test_text_copy_when_target_types_differ(two_dbs: tuple[str, str]) -> None:
    src, dst = two_dbs
    execute(src, "CREATE TABLE t (id int PRIMARY KEY, v numeric(10,2)); INSERT INTO t SELECT g, g / 3.0 FROM generate_series(1, 100) g")
    execute(dst, "CREATE TABLE t (id bigint PRIMARY KEY, v numeric(12,4))")
    result = await _transfer(src, dst, ["t"], TransferOptions())
    assert result.tables[0].path == "text COPY" and not result.tables[0].created
    assert result.tables[0].rows == 100
    with psycopg.connect(dst) as conn:
        assert conn.execute("select sum(v) from t").fetchone() == conn.execute("select sum(v) from t").fetchone()


async def test_parallel_key_ranges_and_progress(two_dbs: tuple[str, str]) -> None:
    src, dst = two_dbs
    execute(src, "CREATE TABLE big (a int, b text, c int, PRIMARY KEY (a, b));"
                 "INSERT INTO big SELECT g % 1000, 'k' || (g / 1000), g FROM generate_series(1, 60000) g; ANALYZE big")
    events: list[ProgressEvent] = []
    result = await _transfer(src, dst, ["big"], TransferOptions(workers=3, split_rows=1000), events)
    assert result.ok and result.tables[0].rows == 60000
    assert checksum(src, "big", "a, b") == checksum(dst, "big", "a, b")
    assert events and events[-1].done
    with psycopg.connect(dst) as conn:  # the primary key was added after the load
        assert conn.execute("select count(*) from pg_index where indrelid = 'big'::regclass and indisprimary").fetchone() == (1,)


async def test_table_without_key_and_all_tables(two_dbs: tuple[str, str]) -> None:
    src, dst = two_dbs
    execute(src, "CREATE SCHEMA app; CREATE TABLE app.log (line text, n int);"
                 "INSERT INTO app.log SELECT 'x' || g, g FROM generate_series(1, 500) g;"
                 "INSERT INTO app.log VALUES ('dup', 1), ('dup', 1);"
                 "CREATE TABLE public.small (id int PRIMARY KEY); INSERT INTO small VALUES (1), (2);"
                 "CREATE VIEW v AS SELECT 1")
    result = await _transfer(src, dst, None, TransferOptions(force_keyset=True))
    assert result.ok
    assert sorted(t.table for t in result.tables) == ["app.log", "public.small"]
    assert checksum(src, "app.log", "line, n") == checksum(dst, "app.log", "line, n")


async def test_missing_source_table_is_a_usage_error(two_dbs: tuple[str, str]) -> None:
    from kwtui.errors import UsageError

    src, dst = two_dbs
    with pytest.raises(UsageError, match="does not exist"):
        await _transfer(src, dst, ["nope"], TransferOptions())


def test_cli_transfer_json(capsys: pytest.CaptureFixture[str], two_dbs: tuple[str, str]) -> None:
    src, dst = two_dbs
    execute(src, AWKWARD)
    code, out, err = run(capsys, "transfer", "--source", src, "--target", dst, "--table", "awkward", "--json")
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[-1]["event"] == "result" and lines[-1]["ok"] and lines[-1]["rows"] == 8
    assert lines[-1]["tables"][0]["path"] == "binary COPY"
    # a second run into the filled table is refused before a row moves, and says so (exit 1)
    code, out, err = run(capsys, "transfer", "--source", src, "--target", dst, "--table", "awkward")
    assert code == 1 and "already holds 8 rows" in err
    # appending the same rows again fails on the primary key and says so (exit 1)
    code, out, err = run(capsys, "transfer", "--source", src, "--target", dst, "--table", "awkward",
                         "--if-exists", "append")
    assert code == 1 and "duplicate key" in out


def test_cli_transfer_usage_errors(capsys: pytest.CaptureFixture[str], two_dbs: tuple[str, str]) -> None:
    src, dst = two_dbs
    assert run(capsys, "transfer", "--source", src, "--target", dst)[0] == 2  # neither --table nor --all
    assert run(capsys, "transfer", "--source", src, "--target", dst, "--all", "--workers", "0")[0] == 2


async def test_ts_target_reads_each_range_sorted_by_timestamp(two_dbs: tuple[str, str]) -> None:
    """For a KWDB TS target the rows go in timestamp order (here the target's first column,
    set as it would be for a TS table; PostgreSQL stands in for the target's INSERT path)."""
    from kwtui.transfer.engine import Transfer, plan_transfer

    src, dst = two_dbs
    ddl = "CREATE TABLE r (device int NOT NULL, ts timestamptz NOT NULL, v int, PRIMARY KEY (device, ts));"
    execute(src, ddl + "INSERT INTO r SELECT g % 5, timestamptz '2024-01-01' + g * interval '1 minute', g "
                 "FROM generate_series(1, 200) g")
    execute(dst, ddl)
    options = TransferOptions(force_insert=True, page_rows=30, batch_rows=7)
    async with ConnectionService(ConnectTarget.from_dsn(src)) as s, ConnectionService(ConnectTarget.from_dsn(dst)) as d:
        plans = await plan_transfer(s, d, ["r"], options)
        assert plans[0].order_by == []  # an ordinary target: key order
        plans[0].order_by = ["ts", "device"]
        result = await Transfer(s, d, plans, options).run()
    assert result.ok and result.rows == 200
    with psycopg.connect(dst) as conn:
        order = [r[0] for r in conn.execute("SELECT v FROM r ORDER BY ctid").fetchall()]
    assert order == list(range(1, 201))  # time order, not (device, ts) order
