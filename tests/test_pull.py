"""transfer --via-import: PostgreSQL -> KWDB by KWDB's IMPORT pulling the rows kwtui serves (issue 17)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path

import psycopg
import pytest

from kwtui.transfer.pull import SpoolServer

from .test_cli import run


def test_the_spool_server_serves_only_its_prefix(tmp_path: Path) -> None:
    (tmp_path / "n1.0.csv").write_text("1,a\n")
    with SpoolServer(tmp_path) as server:
        assert urllib.request.urlopen(server.url("n1.0.csv")).read() == b"1,a\n"
        assert b"n1.0.csv" in urllib.request.urlopen(server.url("")).read()  # the index KWDB's TS IMPORT reads
        base = server.url("").split("/kwtui-")[0]
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(base + "/n1.0.csv")
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(server.url("../../etc/passwd"))


@pytest.mark.kwdb
def test_via_import_loads_relational_and_ts_tables_exactly(db, kwdb: str, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    with psycopg.connect(db.conninfo, autocommit=True) as conn:
        conn.execute("""CREATE TABLE orders (id int PRIMARY KEY, note text, amount numeric(12,2), b bytea,
                                             at timestamptz, ok boolean)""")
        conn.execute("""INSERT INTO orders SELECT g, CASE g % 5 WHEN 0 THEN NULL WHEN 1 THEN '' WHEN 2 THEN 'NULL'
                          WHEN 3 THEN 'a,"b"' || chr(10) || 'é' ELSE 'x' || g END, g * 1.25,
                          CASE WHEN g % 7 = 0 THEN NULL ELSE decode(md5(g::text), 'hex') END,
                          '1969-12-31 23:00:00+00'::timestamptz + g * interval '1 minute', g % 2 = 0
                        FROM generate_series(1, 30000) g""")
    code, out, err = run(capsys, "transfer", "--source", db.uri, "--target", kwdb, "--table", "public.orders",
                         "--via-import")
    assert code == 0, out + err
    assert "http IMPORT" in out and "30,000 rows" in out
    code, out, err = run(capsys, "validate", "--source", db.uri, "--target", kwdb, "--table", "public.orders")
    assert code == 0, out + err
    # an empty target only: a second run is refused, nothing is doubled
    code, out, err = run(capsys, "transfer", "--source", db.uri, "--target", kwdb, "--table", "public.orders",
                         "--via-import", "--json")
    assert code == 1
    assert json.loads(out.strip().splitlines()[-1])["ok"] is False and "already holds rows" in out
    with psycopg.connect(kwdb) as conn:
        assert conn.execute("SELECT count(*) FROM public.orders").fetchone() == (30000,)


@pytest.mark.kwdb
def test_via_import_into_a_ts_table(db, kwdb: str, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    tsdb = "ts_" + os.urandom(4).hex()
    with psycopg.connect(db.conninfo, autocommit=True) as conn:
        conn.execute("CREATE TABLE readings (ts timestamptz NOT NULL, kwh float8, meter int NOT NULL)")
        conn.execute("""INSERT INTO readings SELECT '2024-01-01'::timestamptz + (g / 10) * interval '1 minute',
                        g * 0.5, g % 10 FROM generate_series(0, 19999) g""")
    kw_ts = kwdb.replace(kwdb.rsplit("/", 1)[1].split("?")[0], tsdb)
    with psycopg.connect(kwdb, autocommit=True) as conn:
        conn.execute(f"CREATE TS DATABASE {tsdb}")
        conn.execute(f"CREATE TABLE {tsdb}.readings (ts TIMESTAMPTZ NOT NULL, kwh FLOAT8) TAGS (meter INT NOT NULL) "
                     "PRIMARY TAGS (meter)")
    try:
        code, out, err = run(capsys, "transfer", "--source", db.uri, "--target", kw_ts, "--table", "public.readings",
                             "--via-import")
        assert code == 0, out + err
        with psycopg.connect(kw_ts) as conn:
            assert conn.execute("SELECT count(*), sum(kwh) FROM readings").fetchone() == (20000, sum(g * 0.5 for g in range(20000)))
    finally:
        with psycopg.connect(kwdb, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {tsdb} CASCADE")


def test_via_import_needs_postgres_to_kwdb(two_dbs: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    src, dst = two_dbs
    code, _, err = run(capsys, "transfer", "--source", src, "--target", dst, "--all", "--via-import")
    assert code == 2 and "needs a KWDB target" in err
