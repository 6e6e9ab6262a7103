"""Rehearsal benchmark: the ETA of ``kwtui run PLAN --rehearse --sample 10`` against the real run.

    python bench/bench_rehearsal.py [--sample 10] [--target URI] [--runs 1]

Starts an embedded PostgreSQL (fsync off) in a temporary directory and seeds it with the demo's
data (:func:`kwtui.demo.seed`: ``shop`` with customers, products, orders and order_items; the
meters database kept tiny). Then, through the real CLI in child processes (``python -m kwtui``):

1. ``kwtui plan --source .../shop --target T --save PLAN`` (T: the demo's empty ``target``
   database, or ``--target`` e.g. a KWDB database URI);
2. ``kwtui run PLAN --rehearse --sample 10 --json``: the rehearsal's ETA for the real run;
3. ``kwtui run PLAN --through historical --accept-warnings --json``: the real preflight, schema
   and historical phases; the historical phase's recorded time is the real figure the ETA predicts.

Prints the ETA, the real time and the ratio (real / ETA). With ``--runs N`` the rehearsal and the
real run are repeated on fresh targets (the demo's target database is dropped and made again;
a ``--target`` is used as given, once). The server is stopped and the directory removed at the
end. Timings belong here, never in the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from kwtui.demo import seed
from kwtui.embedded import EmbeddedServer, exit_cleanly_on_sigterm


def kwtui(env: dict[str, str], *args: str) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", "kwtui", *args], env=env, capture_output=True, text=True,
                          check=False)
    if proc.returncode not in (0,):
        raise SystemExit(f"kwtui {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    out = proc.stdout.strip()
    return json.loads(out) if out.startswith("{") else {"text": out}


def fresh_target(server: EmbeddedServer) -> None:
    with psycopg.connect(server.conninfo("postgres"), autocommit=True) as c:
        c.execute("DROP DATABASE IF EXISTS target WITH (FORCE)")
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier("target")))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sample", type=float, default=10.0, help="the rehearsal's percentage (default 10)")
    ap.add_argument("--target", help="a target URI instead of the demo's target database (e.g. KWDB)")
    ap.add_argument("--runs", type=int, default=1, help="repeat rehearsal + real run (default 1)")
    args = ap.parse_args()
    exit_cleanly_on_sigterm()
    base = Path(tempfile.mkdtemp(prefix="kwtui-bench-rehearsal-"))
    server = EmbeddedServer(base / "pg", settings={"fsync": "off", "synchronous_commit": "off",
                                                    "full_page_writes": "off"}).start()
    env = {**os.environ, "KWTUI_JOURNAL": str(base / "jobs.db"), "XDG_DATA_HOME": str(base / "data"),
           "XDG_CONFIG_HOME": str(base / "config"), "XDG_STATE_HOME": str(base / "state")}
    try:
        seed(server.conninfo("postgres"), meters=1, steps=1)
        source = server.uri("shop")
        with psycopg.connect(source) as c:
            counts = {t: c.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))).fetchone()[0]
                      for t in ("customers", "products", "orders", "order_items")}
        total = sum(counts.values())
        print(f"source: the demo's shop, {total:,} rows ({', '.join(f'{k} {v:,}' for k, v in counts.items())})")
        etas, reals = [], []
        for run in range(1, (1 if args.target else args.runs) + 1):
            target = args.target or server.uri("target")
            if not args.target:
                fresh_target(server)
            plan = base / f"shop-{run}.plan.toml"
            # what KWDB cannot hold (the demo's comments, on KWDB) is accepted as lost: the bench
            # times the copy, and `kwtui run` stops at the schema phase until the loss is accepted
            kwtui(env, "plan", "--source", source, "--target", target, "--save", str(plan), "--accept-loss", "all")
            r = kwtui(env, "run", str(plan), "--rehearse", "--sample", f"{args.sample:g}", "--json")
            if not r["ok"] or not r["dropped"]:
                raise SystemExit(f"rehearsal not clean: {r}")
            sampled = sum(t["sample_rows"] for t in r["tables"])
            real = kwtui(env, "run", str(plan), "--through", "historical", "--accept-warnings", "--json")
            phases = {p["key"]: p for p in real["phases"]}
            hist = phases["historical"]
            if hist["state"] != "done":
                raise SystemExit(f"the real run failed: {hist['summary']}")
            etas.append(float(r["eta_s"]))
            reals.append(float(hist["seconds"]))
            print(f"run {run}: rehearsal {args.sample:g}% = {sampled:,} rows in {r['seconds']:.2f} s "
                  f"({r['rows_per_s']:,.0f} rows/s), ETA {r['eta_s']:.2f} s; real historical phase "
                  f"{hist['seconds']:.2f} s ({hist['data'].get('rows', 0):,} rows; preflight "
                  f"{phases['preflight']['seconds']:.2f} s, schema {phases['schema']['seconds']:.2f} s); "
                  f"real / ETA = {hist['seconds'] / r['eta_s']:.2f}")
        eta, real_s = statistics.median(etas), statistics.median(reals)
        print(f"rehearsal ETA {eta:.2f} s, real historical phase {real_s:.2f} s, ratio real/ETA {real_s / eta:.2f}"
              + (f" (medians of {len(etas)} runs)" if len(etas) > 1 else ""))
        return 0
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
