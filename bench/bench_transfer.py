"""Transfer benchmarks: kwtui against psql's COPY, measured in the same run on the same server.

    python bench/bench_transfer.py [--rows 1000000] [--runs 3]

Prints, for 1,000,000 rows of (bigint, timestamptz, text, numeric, bool, md5 text):
  transfer  kwtui transfer PostgreSQL -> PostgreSQL   vs  psql COPY TO STDOUT | psql COPY FROM STDIN
  export    kwtui export to the KWDB layout           vs  psql COPY t TO STDOUT (FORMAT csv)
  import    kwtui import of that CSV (rejects on)     vs  psql \\copy t FROM file CSV
  keyset    keyset SELECT source (as on KWDB) -> CSV  rows/s
  insert    batched INSERT sink (as for KWDB TS)      rows/s
Each ratio is reference time / kwtui time (above 1.0: kwtui is faster). Medians of the runs.
Timings belong here, never in the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from kwtui.connection import ConnectionService, ConnectTarget
from kwtui.embedded import EmbeddedServer, psql_path

TABLE_DDL = """CREATE TABLE t (
    id bigint PRIMARY KEY, ts timestamptz NOT NULL, label text, amount numeric(14,2), flag boolean, digest text)"""
FILL = """INSERT INTO t SELECT g, timestamptz '2024-01-01' + g * interval '1 second', 'label ' || (g % 1000),
    round((g * 1.37)::numeric, 2), g % 2 = 0, md5(g::text) FROM generate_series(1, {rows}) g"""


def median_time(fn: Callable[[], Any], runs: int, before: Callable[[], Any] | None = None) -> float:
    times = []
    for _ in range(runs):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--only", default="", help="comma list: transfer,export,import,keyset,insert")
    ap.add_argument("--rss", action="store_true",
                    help="only measure the peak RSS of kwtui transfer/export/import (use with --rows 10000000)")
    args = ap.parse_args()
    only = set(args.only.split(",")) if args.only else {"transfer", "export", "import", "keyset", "insert"}
    base = Path(tempfile.mkdtemp(prefix="kwtui-bench-"))
    server = EmbeddedServer(base / "pg", settings={"fsync": "off", "synchronous_commit": "off",
                                                    "full_page_writes": "off", "max_wal_size": "'4GB'"}).start()
    psql = str(psql_path())
    env = {**os.environ, "PGHOST": server.host, "PGPORT": str(server.port), "PGUSER": "postgres"}
    try:
        with psycopg.connect(server.conninfo(), autocommit=True) as c:
            for name in ("src", "dst", "ref"):
                c.execute(f"CREATE DATABASE {name}")
        with psycopg.connect(server.conninfo("src"), autocommit=True) as c:
            c.execute(TABLE_DDL)
            c.execute(FILL.format(rows=args.rows))
            c.execute("ANALYZE t")
        with psycopg.connect(server.conninfo("ref"), autocommit=True) as c:
            c.execute(TABLE_DDL)
        print(f"{args.rows:,} rows of (bigint, timestamptz, text, numeric, bool, md5 text); median of {args.runs}")
        if args.rss:
            for argv in (["transfer", "--source", server.uri("src"), "--target", server.uri("dst"), "--table", "t"],
                         ["export", "--dsn", server.uri("src"), "--table", "t", "--to", str(base / "rss-export")],
                         ["import", "--dsn", server.uri("ref"), "--from", str(base / "rss-export"), "--into", "t"]):
                t0 = time.perf_counter()
                code = subprocess.call([sys.executable, "-m", "kwtui", *argv], env=env, stdout=subprocess.DEVNULL)
                peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
                print(f"rss       kwtui {argv[0]:8s} exit {code} in {time.perf_counter() - t0:.1f} s; "
                      f"peak RSS of the kwtui processes so far {peak} MB (target < 150 MB)")
            return 0

        def psql_cmd(db: str, command: str) -> list[str]:
            return [psql, "-X", "-q", "-d", db, "-c", command]

        def reset(db: str) -> Callable[[], None]:
            def go() -> None:
                with psycopg.connect(server.conninfo(db), autocommit=True) as c:
                    c.execute("DROP TABLE IF EXISTS t")
                    if db == "ref":
                        c.execute(TABLE_DDL)
                    c.execute("CHECKPOINT")
            return go

        def kwtui(*argv: str) -> None:
            proc = subprocess.run([sys.executable, "-m", "kwtui", *argv], env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                raise SystemExit(f"kwtui {' '.join(argv)} failed: {proc.stderr.strip()}")

        if "transfer" in only:
            def ref_pipe() -> None:
                out = subprocess.Popen(psql_cmd("src", "COPY t TO STDOUT"), env=env, stdout=subprocess.PIPE)
                subprocess.run(psql_cmd("ref", "COPY t FROM STDIN"), env=env, stdin=out.stdout, check=True)
                out.wait()

            t_ref = median_time(ref_pipe, args.runs, reset("ref"))
            t_kw = median_time(lambda: kwtui("transfer", "--source", server.uri("src"), "--target",
                                             server.uri("dst"), "--table", "t"), args.runs, reset("dst"))
            with psycopg.connect(server.conninfo("dst")) as c:
                n = c.execute("select count(*) from t").fetchone()
            print(f"transfer  kwtui {t_kw:.2f} s  psql|psql {t_ref:.2f} s  ratio {t_ref / t_kw:.2f}x"
                  f"  ({n[0] if n else 0:,} rows landed; target {1.15:.2f}x)")

        csv_dir = base / "export"
        csv_file = base / "t.csv"
        if "export" in only or "import" in only:
            with open(csv_file, "wb") as fh:
                subprocess.run(psql_cmd("src", "COPY t TO STDOUT (FORMAT csv)"), env=env, stdout=fh, check=True)
        if "export" in only:
            def ref_export() -> None:
                with open(base / "ref.csv", "wb") as fh:
                    subprocess.run(psql_cmd("src", "COPY t TO STDOUT (FORMAT csv)"), env=env, stdout=fh, check=True)

            t_ref = median_time(ref_export, args.runs)
            t_kw = median_time(lambda: kwtui("export", "--dsn", server.uri("src"), "--table", "t", "--to",
                                             str(csv_dir)), args.runs,
                               lambda: shutil.rmtree(csv_dir, ignore_errors=True))
            files = sorted(csv_dir.glob("n1.*.csv"))
            print(f"export    kwtui {t_kw:.2f} s  psql COPY csv {t_ref:.2f} s  ratio {t_ref / t_kw:.2f}x"
                  f"  ({len(files)} chunk files; target 0.80x)")
        if "import" in only:
            def ref_import() -> None:
                subprocess.run(psql_cmd("ref", f"\\copy t FROM '{csv_file}' CSV"), env=env, check=True)

            t_ref = median_time(ref_import, args.runs, reset("ref"))
            t_kw = median_time(lambda: kwtui("import", "--dsn", server.uri("ref"), "--from", str(csv_file),
                                             "--into", "t"), args.runs, reset("ref"))
            print(f"import    kwtui {t_kw:.2f} s  psql \\copy {t_ref:.2f} s  ratio {t_ref / t_kw:.2f}x"
                  f"  (rejects on; target 0.80x)")
        if "keyset" in only or "insert" in only:
            asyncio.run(_keyset_and_insert(server, args.rows, only, base))
    finally:
        server.destroy()
        shutil.rmtree(base, ignore_errors=True)
    print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")
    return 0


async def _keyset_and_insert(server: EmbeddedServer, rows: int, only: set[str], base: Path) -> None:
    from kwtui.transfer.engine import TransferOptions, transfer

    src = ConnectionService(ConnectTarget.from_dsn(server.uri("src")))
    await src.connect()
    if "keyset" in only:
        from kwtui.transfer.csvdialect import CsvDialect
        from kwtui.transfer.files import _detail_by_name, export_table

        detail = await _detail_by_name(src, "t")
        t0 = time.perf_counter()
        res = await export_table(src, detail, base / "keyset", CsvDialect(), force_keyset=True)
        dt = time.perf_counter() - t0
        print(f"keyset    keyset SELECT -> KWDB layout CSV {res.rows:,} rows in {dt:.2f} s = {res.rows / dt:,.0f} rows/s"
              " (target 300,000)")
    if "insert" in only:
        dst = ConnectionService(ConnectTarget.from_dsn(server.uri("dst")))
        await dst.connect()
        conn = await dst.open_raw(autocommit=True)
        await conn.execute("DROP TABLE IF EXISTS t")
        await conn.close()
        n = min(rows, 200_000)
        t0 = time.perf_counter()
        opts = TransferOptions(force_insert=True, force_keyset=True, workers=1, batch_rows=1000)
        res = await transfer(src, dst, ["t"], opts)
        dt = time.perf_counter() - t0
        print(f"insert    keyset SELECT -> batched INSERT (1000 rows/statement) {res.rows:,} rows in {dt:.2f} s"
              f" = {res.rows / dt:,.0f} rows/s")
        del n
        await dst.close()
    await src.close()


if __name__ == "__main__":
    raise SystemExit(main())
