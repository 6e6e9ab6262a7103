"""Every value type through every PostgreSQL <-> KWDB path, on the live KWDB (issue 17).

One PostgreSQL table holds a column per type (bytea, numeric, timestamp, timestamptz, timestamptz(3),
interval, json, jsonb, int[], text[], uuid, inet, bool, text, float8) and rows with the edge values (NULL vs ''
vs 'NULL', non-ASCII text, bytes 0x00..0xff, pre-1970 times, negative intervals). Each path runs once per
module (fixture ``paths``); each test then compares one column on one path, value by value:

- ``pg->kwdb``: ``kwtui transfer`` PostgreSQL -> KWDB (creates the table);
- ``kwdb->pg``: ``kwtui transfer`` of that KWDB table back into a new PostgreSQL database;
- ``export->import``: ``kwtui export`` of the PostgreSQL table (KWDB's layout), ``kwtui import --create`` into KWDB;
- ``export->native``: the same files in the node's extern dir, KWDB's own IMPORT (``kwtui import --native``);
- ``sync``: ``kwtui sync`` PostgreSQL -> an empty KWDB copy of the table (by the id watermark).

Validation PostgreSQL vs KWDB runs on the transferred table and must say equal on the checksum path with no
segment fetched for normalisation (``test_validation_compares_values_on_the_checksum_path``).
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg import sql

from kwtui.cli import main

from .conftest import KwdbNode, PgServer

pytestmark = pytest.mark.kwdb

COLUMNS = ["b", "n", "ts", "tz", "tz3", "iv", "j", "jb", "ai", "ta", "u", "ip", "bo", "t", "f"]
DDL = """CREATE TABLE matrix (id int PRIMARY KEY, b bytea, n numeric(30, 10), ts timestamp, tz timestamptz,
    tz3 timestamptz(3), iv interval, j json, jb jsonb, ai int[], ta text[], u uuid, ip inet, bo boolean, t text,
    f float8)"""
ROWS: list[tuple[Any, ...]] = [
    (1, bytes(range(256)), Decimal("12345678901234567890.0123456789"), "2024-02-29 23:59:59.123456",
     "2024-02-29 23:59:59.123456+05:30", "2024-01-01 00:00:00.123+00", "1 year 2 mons 3 days 04:05:06.789",
     '{"a": [1, 2.5, "é"], "b": null}', '{"z": {"y": [true, false]}, "a": "ü 漢"}', [1, None, 3],
     ["a,b", 'c"d', "é ü", ""], uuid.UUID("12345678-1234-5678-1234-567812345678"), "192.168.0.1/24", True,
     "é ü 漢字 🎉", 1234567.8),
    (2, b"", Decimal("-0.0000000001"), "1969-12-31 23:59:59.999999", "1900-01-01 00:00:00+00",
     "1969-12-31 23:59:59.999+00", "-00:00:01", "[]", "{}", [], [], uuid.UUID(int=0), "::1", False, "", 1e-05),
    (3, None, None, None, None, None, None, None, None, None, None, None, None, None, None, None),
    (4, b"NULL", Decimal("0"), "2000-01-01 00:00:00", "2038-01-19 03:14:08+00", "2038-01-19 03:14:08+00",
     "100 days", '"text"', "[1, \"two\", 3.0]", [-2147483648, 2147483647], ["NULL-ish", "{}"],
     uuid.UUID("ffffffff-ffff-ffff-ffff-ffffffffffff"), "10.0.0.1", True, "NULL", 123456789012345.6),
    (5, b"\x00\\x41\t\n\r\"',", Decimal("99999999999999999999.9999999999"), "2024-06-01 12:00:00.5",
     "2024-06-01 12:00:00.000001+00", "2024-06-01 12:00:00+00", "00:00:00", "1.25", "null", [0], ["line\nbreak"],
     uuid.UUID("0a0b0c0d-0e0f-1011-1213-141516171819"), "2001:db8::/32", False, 'line\nbreak, "quoted", \\ back',
     -2345678.25),
]
PATHS = ["pg->kwdb", "kwdb->pg", "export->import", "export->native", "sync"]
ARRAYS = ("ai", "ta")


def cli(*argv: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue() + err.getvalue()


def _exec(uri: str, text: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(uri, autocommit=True) as conn:
        cur = conn.execute(text, params)  # type: ignore[call-overload]
        return cur.fetchall() if cur.description else []


def _uri(base: str, db: str) -> str:
    return base.replace("/defaultdb?", f"/{db}?").replace("/postgres?", f"/{db}?") if "?" in base \
        else base.rsplit("/", 1)[0] + f"/{db}"


def canon(col: str, v: Any) -> Any:
    """A value as Python compares it across servers (json parsed, bytes as bytes, inet as a network)."""
    if v is None:
        return None
    if col == "b":
        return bytes(v)
    if col in ("j", "jb"):
        return v  # psycopg parses json and jsonb on both servers
    if col == "n":
        return Decimal(v).normalize()
    if col == "ip":
        return ipaddress.ip_interface(str(v)) if "/" in str(v) or ":" in str(v) or "." in str(v) else v
    if col == "u":
        return uuid.UUID(str(v))
    return v


def fetch(uri: str, table: str = "matrix", columns: list[str] = COLUMNS) -> dict[int, dict[str, Any]]:
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in ["id", *columns])
    q = sql.SQL("SELECT {} FROM {} ORDER BY id").format(cols, sql.Identifier(*table.split(".")))
    with psycopg.connect(uri) as conn:
        # KWDB's sessions print a FLOAT8 with 15 digits by default (extra_float_digits 0): 123456789012345.6
        # read back as 123456789012346 although the stored value is exact
        conn.execute("SET extra_float_digits = 3")
        rows = conn.execute(q).fetchall()
    return {r[0]: {c: canon(c, v) for c, v in zip(columns, r[1:], strict=True)} for r in rows}


@pytest.fixture(scope="module")
def paths(pg_server: PgServer, kwdb_node: KwdbNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        dict[str, Any]]:
    """Run every path once: {"source": rows, path: rows or the error text, "validate": json}."""
    tag = uuid.uuid4().hex[:8]
    pg_src, pg_back = f"tm_src_{tag}", f"tm_back_{tag}"
    kw = {p: f"tm_{i}_{tag}" for i, p in enumerate(["pg->kwdb", "export->import", "export->native", "sync"])}
    for name in (pg_src, pg_back):
        _exec(pg_server.uri(), f"CREATE DATABASE {name}")
    for name in kw.values():
        _exec(kwdb_node.uri, f"CREATE DATABASE {name}")
    src = pg_server.uri(pg_src)
    kwuri = {p: _uri(kwdb_node.uri, n) for p, n in kw.items()}
    out: dict[str, Any] = {}
    try:
        _exec(src, DDL)
        with psycopg.connect(src, autocommit=True) as conn, conn.cursor() as cur:
            cur.executemany("INSERT INTO matrix VALUES (" + ", ".join(["%s"] * 16) + ")", ROWS)
        out["source"] = fetch(src)

        def step(path: str, code_text: tuple[int, str], uri: str, table: str = "matrix",
                 columns: list[str] = COLUMNS) -> None:
            code, text = code_text
            out[path] = fetch(uri, table, columns) if code == 0 else text
            out[path + " output"] = text

        step("pg->kwdb", cli("transfer", "--source", src, "--target", kwuri["pg->kwdb"], "--table",
                             "public.matrix"), kwuri["pg->kwdb"], "public.matrix")
        step("kwdb->pg", cli("transfer", "--source", kwuri["pg->kwdb"], "--target", pg_server.uri(pg_back),
                             "--table", "public.matrix"), pg_server.uri(pg_back))
        export_dir = kwdb_node.extern / f"tm_export_{tag}"
        code, text = cli("export", "--dsn", src, "--table", "public.matrix", "--to", str(export_dir))
        out["export output"] = text
        assert code == 0, text
        step("export->import", cli("import", "--dsn", kwuri["export->import"], "--from", str(export_dir),
                                   "--create"), kwuri["export->import"], "public.matrix")
        # KWDB's IMPORT of kwtui's files: refused for the table with arrays (said, never silent) ...
        out["native arrays"] = cli("import", "--dsn", kwuri["export->native"], "--native", "--create",
                                   "--from", f"nodelocal://1/{export_dir.name}")
        # ... and exact for every other type (the same rows without the array columns)
        plain = [c for c in COLUMNS if c not in ARRAYS]
        _exec(src, "CREATE TABLE matrix_na AS SELECT id, " + ", ".join(plain) + " FROM matrix;"
                   "ALTER TABLE matrix_na ADD PRIMARY KEY (id)")
        na_dir = kwdb_node.extern / f"tm_export_na_{tag}"
        code, text = cli("export", "--dsn", src, "--table", "public.matrix_na", "--to", str(na_dir))
        assert code == 0, text
        step("export->native", cli("import", "--dsn", kwuri["export->native"], "--native", "--create",
                                   "--from", f"nodelocal://1/{na_dir.name}"),
             kwuri["export->native"], "public.matrix_na", plain)
        # sync into an empty table of the transfer's shape: every row is new above the watermark
        code, text = cli("transfer", "--source", src, "--target", kwuri["sync"], "--table", "public.matrix")
        assert code == 0, text
        _exec(kwuri["sync"], "DELETE FROM public.matrix WHERE true")
        step("sync", cli("sync", "--source", src, "--target", kwuri["sync"], "--table", "public.matrix",
                         "--watermark", "id"), kwuri["sync"], "public.matrix")
        code, text = cli("validate", "--source", src, "--target", kwuri["pg->kwdb"], "--table", "public.matrix",
                         "--json")
        out["validate"] = (code, text)
        yield out
    finally:
        for name in (pg_src, pg_back):
            _exec(pg_server.uri(), f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        for name in kw.values():
            _exec(kwdb_node.uri, f"DROP DATABASE IF EXISTS {name} CASCADE")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("column", COLUMNS)
def test_value_type_through_path(paths: dict[str, Any], column: str, path: str) -> None:
    got = paths[path]
    assert isinstance(got, dict), f"{path} failed: {got}"
    if column in ARRAYS and path == "export->native":
        # KWDB's IMPORT reads arrays only as ARRAY[...] (its own EXPORT's form): kwtui refuses, saying why
        code, text = paths["native arrays"]
        assert code != 0 and "array column(s) ai, ta" in text and "without --native" in text, text
        assert "Traceback" not in text
        return
    want = {i: r[column] for i, r in paths["source"].items()}
    have = {i: r[column] for i, r in got.items()}
    assert have == want, f"{column} through {path}: " + "; ".join(
        f"id {i}: {want.get(i)!r} -> {have.get(i)!r}" for i in sorted(want) if want.get(i) != have.get(i))


def test_validation_compares_values_on_the_checksum_path(paths: dict[str, Any]) -> None:
    """PostgreSQL vs KWDB after the transfer: equal, by segment checksums alone (no segment's rows were
    fetched to compare printed forms: the canonical texts are the same on both servers)."""
    code, text = paths["validate"]
    result = json.loads(text.strip().splitlines()[-1])
    table = result["tables"][0]
    assert code == 0 and table["verdict"] == "equal", text
    assert table["method"] == "checksum", table
    assert not table["stats"].get("segments_equal_after_normalisation"), table["stats"]
