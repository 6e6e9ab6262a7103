"""Benchmark: opening a database with 5,000 tables in the browse tree.

Starts its own embedded PostgreSQL in a temporary directory, creates 5,000 tables over
5 schemas, ANALYZEs, then times what the browse tree needs on opening the database
(Explorer.schemas + Explorer.tables for every schema, on a new per-database connection)
against psql's ``\\dt+ *.*`` on the same database. Prints the figures; asserts nothing.

    /work/venv/bin/python bench/bench_browse.py
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from kwtui.connection import ConnectionService, ConnectTarget
from kwtui.embedded import EmbeddedServer, exit_cleanly_on_sigterm, psql_path
from kwtui.explorer import Explorer

TABLES = 5000
SCHEMAS = 5
RUNS = 5
DBNAME = "browse_bench"

# one server-side loop per schema: CREATE TABLE + COMMENT for each table
_CREATE = """
DO $$
BEGIN
  FOR i IN 1..{per} LOOP
    EXECUTE format('CREATE TABLE %I.%I (id bigint PRIMARY KEY, name text, '
                   'created timestamptz NOT NULL DEFAULT now())', '{schema}', 't' || lpad(i::text, 5, '0'));
    IF i % 10 = 0 THEN
      EXECUTE format('COMMENT ON TABLE %I.%I IS %L', '{schema}', 't' || lpad(i::text, 5, '0'), 'table ' || i);
    END IF;
  END LOOP;
END
$$
"""


def create_database(server: EmbeddedServer) -> float:
    started = time.perf_counter()
    with psycopg.connect(server.conninfo(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {DBNAME}")
    with psycopg.connect(server.conninfo(DBNAME), autocommit=True) as conn:
        per = TABLES // SCHEMAS
        for k in range(1, SCHEMAS + 1):
            schema = f"s{k}"
            conn.execute(f"CREATE SCHEMA {schema}")
            conn.execute(_CREATE.format(per=per, schema=schema))
        # a few rows in some tables, so estimates and sizes are not all zero
        conn.execute("INSERT INTO s1.t00001 SELECT i, 'n' || i FROM generate_series(1, 1000) AS i")
        conn.execute("ANALYZE")
        count = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname LIKE 's_' AND c.relkind = 'r'").fetchone()
    assert count is not None and count[0] == TABLES, count
    return time.perf_counter() - started


async def browse_once(main: ConnectionService) -> tuple[float, float, int]:
    """(seconds to the schemas, seconds to schemas + every schema's tables, tables listed)."""
    explorer = Explorer(main)
    try:
        started = time.perf_counter()
        schemas = await explorer.schemas(DBNAME)  # opens the per-database connection
        first = time.perf_counter() - started
        listed = 0
        for schema in schemas:
            listed += len(await explorer.tables(DBNAME, schema.name, refresh=True))
        return first, time.perf_counter() - started, listed
    finally:
        await explorer.close()


async def browse(server: EmbeddedServer) -> tuple[list[float], list[float], int]:
    firsts, totals, listed = [], [], 0
    async with ConnectionService(ConnectTarget.from_dsn(server.uri("postgres"))) as main:
        await browse_once(main)  # warm-up (catalog caches of the server, imports)
        for _ in range(RUNS):
            first, total, listed = await browse_once(main)
            firsts.append(first)
            totals.append(total)
    return firsts, totals, listed


def psql_once(server: EmbeddedServer) -> float:
    env = {**os.environ, "PGUSER": "postgres"}
    env.pop("PGPASSWORD", None)
    cmd = [str(psql_path()), "-X", "-q", "-h", server.host, "-p", str(server.port), "-d", DBNAME,
           "-c", r"\dt+ *.*", "-o", os.devnull]
    started = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdin=subprocess.DEVNULL, capture_output=True)
    return time.perf_counter() - started


def main() -> int:
    exit_cleanly_on_sigterm()
    base = Path(tempfile.mkdtemp(prefix="kwtui-bench-"))
    server = EmbeddedServer(base / "pgdata", settings={
        "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
        "max_locks_per_transaction": "2048",
    })
    try:
        server.start()
        setup = create_database(server)
        print(f"setup: {TABLES} tables in {SCHEMAS} schemas created and analysed in {setup:.1f} s", flush=True)
        firsts, totals, listed = asyncio.run(browse(server))
        assert listed == TABLES, listed
        psql_once(server)  # warm-up
        reference = [psql_once(server) for _ in range(RUNS)]
        ours = statistics.median(totals)
        ref = statistics.median(reference)
        print(f"browse {TABLES} tables: schemas+tables {ours:.3f} s (median of {RUNS}); "
              rf"reference psql \dt+ *.*: {ref:.3f} s; ratio {ref / ours:.1f}x (psql time / kwtui time)")
        print(f"time to first rows (schemas of the database, incl. connecting): "
              f"{statistics.median(firsts):.3f} s (median of {RUNS})")
        print("runs (s): kwtui " + " ".join(f"{t:.3f}" for t in totals)
              + " | psql " + " ".join(f"{t:.3f}" for t in reference))
    finally:
        server.destroy()
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
