"""Validation benchmark: kwtui's checksum bisection against data-diff 0.11.2, in the same run.

    python bench/bench_validate.py [--rows 1000000] [--runs 3] [--skip-data-diff]

Builds two tables of ``--rows`` rows (bigint key, timestamptz, text, numeric, boolean, md5
text) in two databases of an embedded PostgreSQL (fsync off) with three differences: one
changed row, one row missing in the target, one extra row in the target. Then it times

* kwtui: ``validate --level checksum`` through the core API, in this process (median of runs);
* data-diff 0.11.2: installed at run time into a virtualenv inside the bench's temporary
  directory (``pip install data-diff==0.11.2 --no-deps`` plus the few packages it imports),
  driven through its Python API (``connect_to_table`` / ``diff_tables``, all columns
  compared, its defaults otherwise) in a child process (median of runs);

prints ``validate 1M rows, 3 differences: kwtui X s, data-diff Y s, ratio Y/X`` and the keys
each tool found, and the peak RSS (ru_maxrss) of a child process that runs only the kwtui
validation (``python -m kwtui validate ...``); run with ``--rows 10000000`` for the
10-million-row memory figure. The server is stopped and the temporary directory removed at
the end, whatever happens. Timings belong here, never in the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import psycopg

from kwtui.connection import ConnectionService, ConnectTarget
from kwtui.embedded import EmbeddedServer, exit_cleanly_on_sigterm
from kwtui.validate import ValidateOptions, validate

TABLE_DDL = """CREATE TABLE t (
    id bigint PRIMARY KEY, ts timestamptz NOT NULL, label text, amount numeric(14,2), flag boolean, digest text)"""
FILL = """INSERT INTO t SELECT g, timestamptz '2024-01-01' + g * interval '1 second', 'label ' || (g % 1000),
    round((g * 1.37)::numeric, 2), g % 2 = 0, md5(g::text) FROM generate_series(1, {rows}) g"""
EXTRA_COLUMNS = ("ts", "label", "amount", "flag", "digest")

#: data-diff 0.11.2 with --no-deps, plus what it imports on the PostgreSQL path (found by trial;
#: its declared dbt-core dependency is only for the dbt integration and is left out)
DATA_DIFF_PACKAGES = [
    "attrs>=23.1", "click>=8.1", "dsnparse<0.2", "keyring", "mashumaro[msgpack]>=2.9,<3.11", "pydantic<2",
    "rich", "tabulate>=0.9", "toml>=0.10.2", "typing-extensions>=4.0.1", "urllib3<2", "packaging", "requests",
    "psycopg2-binary",
]

DATA_DIFF_SCRIPT = textwrap.dedent("""
    import json, sys, time
    import data_diff

    uri, runs, extra = sys.argv[1], int(sys.argv[2]), tuple(sys.argv[3].split(","))
    times, found = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        t1 = data_diff.connect_to_table(uri + "/src", "t", "id")
        t2 = data_diff.connect_to_table(uri + "/dst", "t", "id")
        diff = list(data_diff.diff_tables(t1, t2, extra_columns=extra))
        times.append(time.perf_counter() - t0)
        found = [[sign, str(row[0])] for sign, row in diff]
        for t in (t1, t2):
            try:
                t.database.close()
            except Exception:
                pass
    print(json.dumps({"times": times, "found": found}))
""")


def build(server: EmbeddedServer, rows: int) -> tuple[int, int, int]:
    """src and dst databases; dst differs by one changed, one missing and one extra row."""
    with psycopg.connect(server.conninfo(), autocommit=True) as c:
        c.execute("CREATE DATABASE src")
    with psycopg.connect(server.conninfo("src"), autocommit=True) as c:
        c.execute(TABLE_DDL)
        c.execute(FILL.format(rows=rows))  # type: ignore[arg-type]
        c.execute("VACUUM ANALYZE t")
    with psycopg.connect(server.conninfo(), autocommit=True) as c:
        c.execute("CREATE DATABASE dst TEMPLATE src")
    changed, missing, extra = rows // 3, rows // 2, rows + 1
    with psycopg.connect(server.conninfo("dst"), autocommit=True) as c:
        c.execute("UPDATE t SET label = 'changed' WHERE id = %s", (changed,))
        c.execute("DELETE FROM t WHERE id = %s", (missing,))
        c.execute("INSERT INTO t VALUES (%s, now(), 'extra', 1, true, 'x')", (extra,))
        c.execute("VACUUM ANALYZE t")
    return changed, missing, extra


async def kwtui_once(server: EmbeddedServer) -> tuple[float, list[tuple[str, str]]]:
    t0 = time.perf_counter()
    async with ConnectionService(ConnectTarget.from_dsn(server.uri("src"))) as s, \
            ConnectionService(ConnectTarget.from_dsn(server.uri("dst"))) as d:
        result = await validate(s, d, ["public.t"], ValidateOptions(level="checksum"))
    elapsed = time.perf_counter() - t0
    t = result.tables[0]
    if t.error:
        raise SystemExit(f"kwtui validate failed: {t.error}")
    return elapsed, [(diff.kind, str(diff.key["id"])) for diff in t.differences]


def data_diff_keys(found: list[list[str]]) -> list[tuple[str, str]]:
    """data-diff's -/+ rows as kinds: both signs = changed, '-' only = missing, '+' only = extra."""
    signs: dict[str, set[str]] = {}
    for sign, key in found:
        signs.setdefault(key, set()).add(sign)
    out = []
    for key, s in signs.items():
        kind = "changed" if s == {"-", "+"} else "missing_in_target" if s == {"-"} else "extra_in_target"
        out.append((kind, key))
    return sorted(out, key=lambda kv: ("changed", "missing_in_target", "extra_in_target").index(kv[0]))


def install_data_diff(base: Path) -> tuple[Path | None, str]:
    venv = base / "ddvenv"
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, text=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, "--no-deps", "data-diff==0.11.2"], check=True, capture_output=True, text=True,
                       timeout=600)
        subprocess.run([*pip, *DATA_DIFF_PACKAGES], check=True, capture_output=True, text=True, timeout=600)
        probe = subprocess.run([str(venv / "bin" / "python"), "-c", "import data_diff; data_diff.connect_to_table, data_diff.diff_tables"],
                               capture_output=True, text=True, timeout=120)
        if probe.returncode != 0:
            return None, "data-diff does not import: " + (probe.stderr.strip().splitlines() or ["?"])[-1]
    except subprocess.CalledProcessError as exc:
        tail = (exc.stderr or exc.stdout or "").strip().splitlines()[-2:]
        return None, f"installing data-diff failed: {' '.join(tail) or exc}"
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"installing data-diff failed: {exc}"
    return venv / "bin" / "python", ""


def run_data_diff(python: Path, server: EmbeddedServer, runs: int, base: Path) -> tuple[float | None, Any, str]:
    script = base / "run_data_diff.py"
    script.write_text(DATA_DIFF_SCRIPT)
    # data-diff's PostgreSQL driver insists on a password in the URI; the server trusts loopback
    uri = f"postgresql://postgres:unused@{server.host}:{server.port}"
    proc = subprocess.run([str(python), str(script), uri, str(runs), ",".join(EXTRA_COLUMNS)],
                          capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return None, None, f"data-diff failed: {tail}"
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    return statistics.median(data["times"]), data_diff_keys(data["found"]), ""


def kwtui_peak_rss(server: EmbeddedServer, base: Path) -> tuple[int, float, int, str]:
    """ru_maxrss (kB) of a child that runs only ``kwtui validate``: (kB, seconds, exit code, output)."""
    cmd = [sys.executable, "-m", "kwtui", "validate", "--source", server.uri("src"), "--target", server.uri("dst"),
           "--table", "public.t", "--level", "checksum"]
    with open(base / "rss_run.txt", "w+", encoding="utf-8") as fh:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        _pid, status, usage = os.wait4(proc.pid, 0)  # this child's own resource usage
        elapsed = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        fh.seek(0)
        out = fh.read()
    return usage.ru_maxrss, elapsed, proc.returncode, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--skip-data-diff", action="store_true", help="time kwtui only")
    args = ap.parse_args()
    exit_cleanly_on_sigterm()
    base = Path(tempfile.mkdtemp(prefix="kwtui-bench-validate-"))
    server = EmbeddedServer(base / "pg", settings={"fsync": "off", "synchronous_commit": "off",
                                                    "full_page_writes": "off", "max_wal_size": "'4GB'"})
    try:
        server.start()
        label = f"{args.rows / 1e6:g}M" if args.rows >= 1_000_000 else f"{args.rows:,}"
        t0 = time.perf_counter()
        changed, missing, extra = build(server, args.rows)
        print(f"built 2 x {args.rows:,} rows in {time.perf_counter() - t0:.1f} s; differences: changed id={changed},"
              f" missing id={missing}, extra id={extra}", flush=True)

        dd_python: Path | None = None
        why = "skipped (--skip-data-diff)"
        if not args.skip_data_diff:
            dd_python, why = install_data_diff(base)

        # runs alternate between the tools, so background work of the server (checkpoints,
        # autovacuum after the load) and of the machine weighs on both alike
        with psycopg.connect(server.conninfo(), autocommit=True) as c:
            c.execute("CHECKPOINT")
        kw_times: list[float] = []
        dd_times: list[float] = []
        kw_keys: list[tuple[str, str]] = []
        dd_keys = None
        for _ in range(args.runs):
            elapsed, kw_keys = asyncio.run(kwtui_once(server))
            kw_times.append(elapsed)
            if dd_python is not None:
                t, keys, why = run_data_diff(dd_python, server, 1, base)
                if t is None:
                    dd_python = None
                else:
                    dd_times.append(t)
                    dd_keys = keys
        t_kw = statistics.median(kw_times)
        t_dd = statistics.median(dd_times) if dd_times and dd_python is not None else None

        if t_dd is not None:
            print(f"validate {label} rows, 3 differences: kwtui {t_kw:.2f} s, data-diff {t_dd:.2f} s, "
                  f"ratio {t_dd / t_kw:.2f}")
        else:
            print(f"validate {label} rows, 3 differences: kwtui {t_kw:.2f} s, data-diff not run: {why}")
        print("kwtui found:     " + ", ".join(f"{k} id={key}" for k, key in kw_keys))
        if dd_keys is not None:
            print("data-diff found: " + ", ".join(f"{k} id={key}" for k, key in dd_keys))
        print(f"kwtui runs: {', '.join(f'{t:.2f}' for t in kw_times)} s"
              + (f"; data-diff runs: {', '.join(f'{t:.2f}' for t in dd_times)} s (alternating; medians)"
                 if t_dd is not None else ""))

        rss_kb, elapsed, code, out = kwtui_peak_rss(server, base)
        verdict = out.strip().splitlines()[0] if out.strip() else "(no output)"
        print(f"kwtui validate peak RSS for {args.rows:,} rows: {rss_kb / 1024:.0f} MB (ru_maxrss of the child; "
              f"{elapsed:.2f} s, exit {code}: {verdict})")
        return 0
    finally:
        server.destroy()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
