"""Validation PostgreSQL -> KWDB time-series table, against PostgreSQL -> PostgreSQL, in the same run.

    python bench/bench_validate_kwdb.py [--rows 1000000] [--runs 3]

Starts an embedded PostgreSQL and a KWDB node (../shared/kwdb/server/kwdb-node) and fills
bench_kwdb.py's time-series table (timestamptz, float8 up to 1.37e6, two texts, a bool, an int
primary tag; the key is (ts, dev)) in PostgreSQL. kwtui then loads it into a KWDB TS table
(``transfer --via-import``) and into a second PostgreSQL database (``transfer``). It times
``kwtui validate`` at the checksum level:
  kwdb   PostgreSQL vs the KWDB TS table
  pg     PostgreSQL vs the PostgreSQL copy (the reference)
and prints both (medians), the ratio kwdb / pg, and the method and the number of segments that
differed, which must be 0: a segment that differs only in how the two servers print a value
sends the table to the slow row-by-row merge. Measured when this bench was written (1,000,000 rows,
2 cores): before, 107 s (merge: 35 of 110 segments differed, KWDB prints a float8 from 1e6 up in
scientific form), ratio 78; with the float text rewritten, about 45 s (checksum, but KWDB scanned
the whole table for each segment's row comparison); with the leading key column's own bounds too,
10.1-10.7 s against 1.3-1.5 s, ratio 7.0. Timings belong here, never in the test suite.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_kwdb import KW_DDL, NODE, PG_DDL, PG_FILL, kw_env, kwtui  # noqa: E402

from kwtui.embedded import EmbeddedServer  # noqa: E402


def validate(source: str, target: str) -> tuple[float, dict]:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "kwtui", "validate", "--source", source, "--target", target,
                        "--table", "public.t", "--key", "ts,dev", "--json"], capture_output=True, text=True)
    took = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"validate failed: {r.stdout[-2000:]}{r.stderr[-2000:]}")
    return took, json.loads(r.stdout.strip().splitlines()[-1])["tables"][0]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if not NODE.exists():
        print(f"no KWDB server: {NODE} is absent", file=sys.stderr)
        return 2
    base = Path(tempfile.mkdtemp(prefix="kwtui-bench-vkwdb-"))
    store = base / "store"
    pg = EmbeddedServer(base / "pgdata", settings={"fsync": "off", "synchronous_commit": "off"})
    pg.start()
    started = subprocess.run([str(NODE), "start", str(store)], capture_output=True, text=True, env=kw_env())
    try:
        if started.returncode != 0:
            print(started.stderr, file=sys.stderr)
            return 1
        kw = started.stdout.strip().splitlines()[-1]
        with psycopg.connect(kw, autocommit=True) as k:
            k.execute("SET CLUSTER SETTING sql.stats.automatic_collection.enabled = false")
            k.execute("CREATE TS DATABASE v")
            k.execute(KW_DDL["ts"].format(db="v"))  # type: ignore[arg-type]
        with psycopg.connect(pg.conninfo(), autocommit=True) as c:
            c.execute(PG_DDL["ts"])  # type: ignore[arg-type]
            c.execute(PG_FILL["ts"].format(rows=args.rows))  # type: ignore[arg-type]
            c.execute("ALTER TABLE t ADD PRIMARY KEY (ts, dev)")
            c.execute("VACUUM (FREEZE, ANALYZE) t")
            c.execute("CREATE DATABASE copy")
        kw_target = kw.replace("/defaultdb?", "/v?")
        pg_target = pg.uri("copy")
        kwtui("transfer", "--source", pg.uri(), "--target", kw_target, "--table", "public.t", "--via-import")
        kwtui("transfer", "--source", pg.uri(), "--target", pg_target, "--table", "public.t")
        times: dict[str, list[float]] = {"kwdb": [], "pg": []}
        last: dict[str, dict] = {}
        for run in range(args.runs):
            for label, target in (("kwdb", kw_target), ("pg", pg_target))[::1 if run % 2 == 0 else -1]:
                took, table = validate(pg.uri(), target)
                times[label].append(took)
                last[label] = table
                print(f"run {run + 1} {label}: {took:.2f} s ({table['method']}, "
                      f"{table['stats'].get('segments_differing', 0)} segment(s) differing)", flush=True)
        kw_s, pg_s = statistics.median(times["kwdb"]), statistics.median(times["pg"])
        print(f"validate {args.rows:,} TS rows, checksum: PostgreSQL->KWDB {kw_s:.2f} s "
              f"({args.rows / kw_s:,.0f} rows/s, method {last['kwdb']['method']}, "
              f"{last['kwdb']['stats'].get('segments_differing', 0)} differing of "
              f"{last['kwdb']['stats'].get('segments', 0)} segments); PostgreSQL->PostgreSQL {pg_s:.2f} s; "
              f"ratio {kw_s / pg_s:.2f}")
        return 0
    finally:
        subprocess.run([str(NODE), "stop", str(store)], capture_output=True, env=kw_env())
        pg.destroy()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
