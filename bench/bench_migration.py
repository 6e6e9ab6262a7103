"""A whole PostgreSQL -> PostgreSQL migration of Pagila against pg_dump | pg_restore, same data, same server.

    python bench/bench_migration.py [--rentals 200000] [--runs 1]

The source is Pagila (tests/data/pagila-schema.sql + pagila-objects.sql: every object kind)
with ``--rentals`` more rentals and as many payments (spread over the payment partitions).
Timed, each into a fresh database on the same embedded server:

  kwtui     kwtui plan --source S --target T --save P  &&  kwtui run P --yes
            (all six phases: schema, copy, indexes/keys/objects, change capture, catch-up,
            cutover with its validation, final validation)
  dump      pg_dump -Fc S | pg_restore -d T          (schema, data, indexes, objects; no validation)
  dump+j2   pg_dump -Fd -j 2 S, then pg_restore -j 2 (directory format, two jobs each)

Also prints kwtui's time per phase (from its own output). Timings belong here, never in tests.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql

from kwtui.embedded import EmbeddedServer, bin_dir

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"

MORE = """
INSERT INTO public.inventory (film_id, store_id) SELECT 1 + g % 20, 1 FROM generate_series(1, {n}) g;
INSERT INTO public.rental (rental_date, inventory_id, customer_id, staff_id, return_date)
SELECT timestamptz '2022-01-01' + g * (interval '180 days' / {n}), 20 + g, 1 + g % 10, 1,
       timestamptz '2022-01-03' + g * (interval '180 days' / {n})
FROM generate_series(1, {n}) g;
INSERT INTO public.payment (customer_id, staff_id, rental_id, amount, payment_date)
SELECT 1 + g % 10, 1, 20 + g, (g % 1000) / 100.0 + 0.99, timestamptz '2022-01-02' + g * (interval '180 days' / {n})
FROM generate_series(1, {n}) g;
ANALYZE;
"""


def sh(cmd: list[str] | str, env: dict[str, str] | None = None, shell: bool = False) -> str:
    out = subprocess.run(cmd, shell=shell, check=True, capture_output=True, text=True, env=env)  # noqa: S602
    return out.stdout + out.stderr


def fresh(admin: str, name: str) -> None:
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rentals", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="kwtui-bench-mig-"))
    server = EmbeddedServer(base / "pgdata", settings={"fsync": "off", "synchronous_commit": "off"}).start()
    env = {**os.environ, "XDG_DATA_HOME": str(base / "data"), "XDG_CONFIG_HOME": str(base / "config"),
           "XDG_STATE_HOME": str(base / "state"), "XDG_CACHE_HOME": str(base / "cache")}
    try:
        admin = server.uri("postgres")
        fresh(admin, "pagila")
        src = server.uri("pagila")
        with psycopg.connect(src, autocommit=True) as conn:
            conn.execute((DATA / "pagila-schema.sql").read_text())  # type: ignore[arg-type]
            conn.execute((DATA / "pagila-objects.sql").read_text())  # type: ignore[arg-type]
            conn.execute(MORE.format(n=args.rentals))  # type: ignore[arg-type]
            rows = conn.execute("SELECT (SELECT count(*) FROM rental) + (SELECT count(*) FROM payment) + "
                                "(SELECT count(*) FROM inventory)").fetchone()[0]  # type: ignore[index]
            size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]  # type: ignore[index]
        print(f"source: Pagila, {rows:,} rows in rental + payment + inventory, database {size / 1e6:.1f} MB")
        kw, dump, dumpj, phases = [], [], [], {}
        for i in range(args.runs):
            fresh(admin, f"t_kwtui_{i}")
            plan = base / f"p{i}.toml"
            t0 = time.perf_counter()
            sh([sys.executable, "-m", "kwtui", "plan", "--source", src, "--target", server.uri(f"t_kwtui_{i}"),
                "--save", str(plan)], env)
            out = sh([sys.executable, "-m", "kwtui", "run", str(plan), "--yes"], env)
            kw.append(time.perf_counter() - t0)
            for m in re.finditer(r"^phase \d (.+?): (\w+).* in ([\d.]+) s$", out, re.MULTILINE):
                phases.setdefault(m.group(1), []).append(float(m.group(3)))
                if m.group(2) != "done":
                    print(f"kwtui phase {m.group(1)}: {m.group(2)}", file=sys.stderr)
            fresh(admin, f"t_dump_{i}")
            t0 = time.perf_counter()
            sh(f"{bin_dir() / 'pg_dump'} -Fc '{src}' | {bin_dir() / 'pg_restore'} --exit-on-error -d "
               f"'{server.uri(f't_dump_{i}')}'", shell=True)
            dump.append(time.perf_counter() - t0)
            fresh(admin, f"t_dumpj_{i}")
            d = base / f"dump{i}"
            t0 = time.perf_counter()
            sh([str(bin_dir() / "pg_dump"), "-Fd", "-j", "2", "-f", str(d), src])
            sh([str(bin_dir() / "pg_restore"), "--exit-on-error", "-j", "2", "-d", server.uri(f"t_dumpj_{i}"), str(d)])
            dumpj.append(time.perf_counter() - t0)
        k, p, j = statistics.median(kw), statistics.median(dump), statistics.median(dumpj)
        print(f"kwtui plan --save && kwtui run --yes : {k:6.2f} s")
        for name, secs in phases.items():
            print(f"    {name:28s} {statistics.median(secs):6.2f} s")
        print(f"pg_dump -Fc | pg_restore              : {p:6.2f} s   (kwtui / pg_dump = {k / p:.2f})")
        print(f"pg_dump -Fd -j2; pg_restore -j2       : {j:6.2f} s   (kwtui / pg_dump -j2 = {k / j:.2f})")
    finally:
        server.destroy()
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
