"""PostgreSQL -> KWDB: kwtui's paths against KWDB's own IMPORT, measured in the same run.

    python bench/bench_kwdb.py [--rows 1000000] [--runs 3] [--warmup 1] [--only rel,ts] [--streamed]

Starts an embedded PostgreSQL and a KWDB node (../shared/kwdb/server/kwdb-node), fills a
table of 1,000,000 rows of 6 columns (bigint, timestamptz, text, float8, bool, md5 text;
the TS table: timestamptz, 4 data columns, an int primary tag) and prints, for a relational
and a time-series target:
  native    KWDB's IMPORT of the same rows from one CSV file in its extern dir (nodelocal://1)
  pull      kwtui transfer --via-import (PostgreSQL COPY -> spool -> KWDB IMPORT over HTTP)
  streamed  kwtui transfer (COPY / batched INSERT), with --streamed (slow: about 15 s a run)
as rows/s, and the ratio kwtui rows/s / native rows/s (the goal: at least 0.8). Medians, after
uncounted warm-up runs; the two paths take turns at going first. KWDB's automatic statistics
are off on the bench's node: their job after each load would land in the next timed run.
Timings belong here, never in the test suite.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from kwtui.embedded import EmbeddedServer

NODE = Path(__file__).resolve().parents[1].parent / "shared" / "kwdb" / "server" / "kwdb-node"
PG_DDL = {
    "rel": "CREATE TABLE t (id bigint PRIMARY KEY, ts timestamptz NOT NULL, label text, v float8, flag boolean, "
           "digest text)",
    "ts": "CREATE TABLE t (ts timestamptz NOT NULL, v float8, label text, flag boolean, digest text, dev int NOT NULL)",
}
PG_FILL = {
    "rel": "INSERT INTO t SELECT g, timestamptz '2024-01-01' + g * interval '1 second', 'label ' || (g % 1000), "
           "g * 1.37, g % 2 = 0, md5(g::text) FROM generate_series(1, {rows}) g",
    "ts": "INSERT INTO t SELECT timestamptz '2024-01-01' + (g / 100) * interval '1 second', g * 1.37, "
          "'label ' || (g % 1000), g % 2 = 0, md5(g::text), g % 100 FROM generate_series(0, {rows} - 1) g",
}
KW_DDL = {
    "rel": "CREATE TABLE {db}.public.t (id INT8 PRIMARY KEY, ts TIMESTAMPTZ NOT NULL, label STRING, v FLOAT8, "
           "flag BOOL, digest STRING)",
    "ts": "CREATE TABLE {db}.t (ts TIMESTAMPTZ NOT NULL, v FLOAT8, label VARCHAR(64), flag BOOL, digest VARCHAR(64)) "
          "TAGS (dev INT4 NOT NULL) PRIMARY TAGS (dev)",
}


def kw_env() -> dict[str, str]:
    return {**os.environ, "XDG_CACHE_HOME": os.path.expanduser("~/.cache")}


def kwtui(*argv: str) -> None:
    r = subprocess.run([sys.executable, "-m", "kwtui", *argv], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"kwtui {' '.join(argv[:1])} failed: {r.stdout}{r.stderr}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1,
                    help="uncounted runs first: a fresh node works in the background for its first minute or so "
                         "(the first native IMPORT took 7.8 s against 3.1-3.3 s after)")
    ap.add_argument("--only", default="rel,ts")
    ap.add_argument("--streamed", action="store_true", help="also time the streamed transfer (slow)")
    args = ap.parse_args()
    if not NODE.exists():
        print(f"no KWDB server: {NODE} is absent", file=sys.stderr)
        return 2
    # kwtui as installed: pip byte-compiles a package; this machine sets PYTHONDONTWRITEBYTECODE,
    # so without this every kwtui run here would compile its modules again (about 0.1 s)
    import compileall

    root = Path(__file__).resolve().parents[1]
    for pkg in ("kwtui", "screens"):
        compileall.compile_dir(str(root / pkg), quiet=1)
    base = Path(tempfile.mkdtemp(prefix="kwtui-bench-kwdb-"))
    store = base / "store"
    pg = EmbeddedServer(base / "pgdata", settings={"fsync": "off", "synchronous_commit": "off"})
    pg.start()
    started = subprocess.run([str(NODE), "start", str(store)], capture_output=True, text=True, env=kw_env())
    if started.returncode != 0:
        print(started.stderr, file=sys.stderr)
        return 1
    kw = started.stdout.strip().splitlines()[-1]
    try:
        with psycopg.connect(kw, autocommit=True) as k:
            # KWDB refreshes a table's statistics about 10-15 s after a load (1.1 s of both cores
            # for 1,000,000 rows): with the runs back to back, that landed in the middle of
            # whichever run came next (native 2.4 s or 3.9 s for the same IMPORT). Off on this
            # node, so each run is timed alone
            k.execute("SET CLUSTER SETTING sql.stats.automatic_collection.enabled = false")
        for kind in [k for k in args.only.split(",") if k]:
            with psycopg.connect(pg.conninfo(), autocommit=True) as c:
                c.execute("DROP TABLE IF EXISTS t")
                c.execute(PG_DDL[kind])  # type: ignore[arg-type]
                c.execute(PG_FILL[kind].format(rows=args.rows))  # type: ignore[arg-type]
                # settled as a production table is: hint bits set, nothing left for autovacuum to do
                # in the middle of the runs (it read the fresh 1,000,000 rows while they were timed)
                c.execute("VACUUM (FREEZE, ANALYZE) t")
                # the reference's input: the same rows as one CSV file in the node's extern dir
                extern = store / "extern" / f"bench_{kind}"
                extern.mkdir(parents=True, exist_ok=True)
                cols = "ts, v, label, flag, digest, dev" if kind == "ts" else "*"
                with (extern / "n1.0.csv").open("wb") as fh, c.cursor() as cur, \
                        cur.copy(f"COPY (SELECT {cols} FROM t) TO STDOUT (FORMAT csv)") as copy:  # type: ignore[arg-type]  # noqa: S608
                    for block in copy:
                        fh.write(block)
            results: dict[str, list[float]] = {"native": [], "pull": [], "streamed": []}
            for run in range(-args.warmup, args.runs):
                db = f"b{kind}{run + args.warmup}"
                target = kw.replace("/defaultdb?", f"/{db}?")
                # the order alternates, so neither path always runs on a node the other has just loaded
                order = ("native", "pull", "streamed") if run % 2 == 0 else ("pull", "native", "streamed")
                with psycopg.connect(kw, autocommit=True) as k:
                    for label in order:
                        if label == "streamed" and not args.streamed:
                            continue
                        k.execute(f"DROP DATABASE IF EXISTS {db} CASCADE")  # type: ignore[arg-type]
                        k.execute(f"CREATE {'TS ' if kind == 'ts' else ''}DATABASE {db}")  # type: ignore[arg-type]
                        k.execute(KW_DDL[kind].format(db=db))  # type: ignore[arg-type]
                        t0 = time.perf_counter()
                        if label == "native":
                            path = f"nodelocal://1/bench_{kind}" + ("" if kind == "ts" else "/n1.0.csv")
                            k.execute(f"IMPORT INTO {db}.{'' if kind == 'ts' else 'public.'}t CSV DATA "  # type: ignore[arg-type]
                                      f"(\"{path}\")")
                        elif label == "pull":
                            kwtui("transfer", "--source", pg.uri(), "--target", target, "--table", "public.t",
                                  "--via-import")
                        else:
                            kwtui("transfer", "--source", pg.uri(), "--target", target, "--table", "public.t")
                        took = time.perf_counter() - t0
                        if run < 0:
                            print(f"{kind:>3}  warm-up {label}: {took:.2f} s", flush=True)
                        else:
                            results[label].append(took)
                        got = k.execute(f"SELECT count(*) FROM {db}.{'' if kind == 'ts' else 'public.'}t").fetchone()  # type: ignore[arg-type]  # noqa: S608
                        if got is None or got[0] != args.rows:
                            raise SystemExit(f"{label} {kind}: {got} rows, expected {args.rows}")
                    k.execute(f"DROP DATABASE IF EXISTS {db} CASCADE")  # type: ignore[arg-type]
            native = args.rows / statistics.median(results["native"])
            print(f"{kind:>3}  native IMPORT   {native:>10,.0f} rows/s  ({statistics.median(results['native']):.2f} s)"
                  f"  runs: {' '.join(f'{x:.2f}' for x in results['native'])}")
            for label in ("pull", "streamed"):
                if results[label]:
                    rate = args.rows / statistics.median(results[label])
                    print(f"{kind:>3}  kwtui {label:<9} {rate:>10,.0f} rows/s  ({statistics.median(results[label]):.2f} s)"
                          f"  ratio {rate / native:.2f}  runs: {' '.join(f'{x:.2f}' for x in results[label])}")
    finally:
        subprocess.run([str(NODE), "stop", str(store)], capture_output=True, env=kw_env())
        pg.destroy()
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
