"""Bytes into KWDB arrive as bytes (issue 17): KWDB's COPY FROM kept the hex text of bytea."""

from __future__ import annotations

import os

import psycopg
import pytest

from .test_cli import run

pytestmark = pytest.mark.kwdb


def test_bytea_transfer_pg_to_kwdb_is_exact(db, kwdb: str, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    values = [os.urandom(16), b"", b"\x00\xff\\x41\t\n\r\"',", None, bytes(range(256)), b"\\x4142"]
    with psycopg.connect(db.conninfo, autocommit=True) as conn:
        conn.execute("CREATE TABLE blobs (id int PRIMARY KEY, b bytea, note text)")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO blobs VALUES (%s, %s, %s)",
                            [(i, v, f"n{i}") for i, v in enumerate(values)])
            cur.executemany("INSERT INTO blobs VALUES (%s, %s, 'bulk')",
                            [(100 + i, os.urandom(i % 40)) for i in range(2000)])
    code, out, err = run(capsys, "transfer", "--source", db.uri, "--target", kwdb, "--table", "public.blobs")
    assert code == 0, err
    assert "INSERT" in out  # the path says how bytes go to KWDB
    with psycopg.connect(db.conninfo) as s, psycopg.connect(kwdb) as d:
        src = s.execute("SELECT id, b, note FROM blobs ORDER BY id").fetchall()
        dst = d.execute("SELECT id, b, note FROM public.blobs ORDER BY id").fetchall()
    assert [(i, bytes(b) if b is not None else None, n) for i, b, n in dst] == \
        [(i, bytes(b) if b is not None else None, n) for i, b, n in src]
    code, out, err = run(capsys, "validate", "--source", db.uri, "--target", kwdb, "--table", "public.blobs")
    assert code == 0, out + err


def test_arrays_transfer_pg_to_kwdb(db, kwdb: str, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    """KWDB's COPY cannot read arrays ('{1,2}': syntax error): they go by INSERT and arrive exact.
    One KWDB difference stays: a quoted "NULL" element of a text array becomes NULL there;
    kwtui cannot carry it, and validation says so (it is never silent)."""
    with psycopg.connect(db.conninfo, autocommit=True) as conn:
        conn.execute("CREATE TABLE arrs (id int PRIMARY KEY, a int[], t text[])")
        conn.execute("""INSERT INTO arrs VALUES (1, '{1,2,NULL}', '{"a,b","c\\"d",NULL,"é ü"}'), (2, '{}', '{}'),
                        (3, NULL, NULL), (4, '{-2147483648,2147483647}', '{"","{}"}')""")
    code, out, err = run(capsys, "transfer", "--source", db.uri, "--target", kwdb, "--table", "public.arrs")
    assert code == 0 and "INSERT" in out, out + err
    code, out, err = run(capsys, "validate", "--source", db.uri, "--target", kwdb, "--table", "public.arrs")
    assert code == 0, out + err
    with psycopg.connect(db.conninfo, autocommit=True) as conn:
        conn.execute("""INSERT INTO arrs VALUES (5, '{1}', '{"NULL"}')""")
    with psycopg.connect(kwdb, autocommit=True) as conn:
        conn.execute("DELETE FROM public.arrs")
    code, out, err = run(capsys, "transfer", "--source", db.uri, "--target", kwdb, "--table", "public.arrs")
    assert code == 0, out + err
    code, out, err = run(capsys, "validate", "--source", db.uri, "--target", kwdb, "--table", "public.arrs")
    assert code == 1 and "id=5" in out


def test_floats_read_from_kwdb_are_exact(db, kwdb: str, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    """KWDB printed FLOAT8 with 15 digits (extra_float_digits 0): a KWDB -> PostgreSQL transfer
    turned 4/3 into 1.33333333333333, silently. Every kwtui session on KWDB now asks for 3."""
    values = [1 / 3, 4 / 3, 0.1 + 0.2, 5e-324, 1.7976931348623157e308, -2.5e-17, 123456789.12345678]
    with psycopg.connect(kwdb, autocommit=True) as conn:
        conn.execute("CREATE TABLE fl (id INT PRIMARY KEY, d FLOAT8)")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO fl VALUES (%s, %s)", list(enumerate(values)))
    code, out, err = run(capsys, "transfer", "--source", kwdb, "--target", db.uri, "--table", "public.fl")
    assert code == 0, out + err
    with psycopg.connect(db.conninfo) as conn:
        got = [r[0] for r in conn.execute("SELECT d FROM fl ORDER BY id").fetchall()]
    assert got == values
    code, out, err = run(capsys, "validate", "--source", kwdb, "--target", db.uri, "--table", "public.fl")
    assert code == 0, out + err
