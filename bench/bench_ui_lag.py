"""Is the TUI responsive while a 1,000,000-row transfer runs in it?

    python bench/bench_ui_lag.py [--rows 1000000]

Runs the app headless (App.run_test) with the jobs screen open and a journaled transfer of
--rows rows running in the same event loop (as the console runs it), and measures:
  * the event loop's lag: a callback scheduled every 10 ms, how late it ran (max, p99);
  * key handling: the time from pressing a key to its action running (max of 20 presses).
Target: input handled within 100 ms. Timings belong here, not in the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import psycopg

from kwtui.connection import ConnectionService, ConnectTarget
from kwtui.embedded import EmbeddedServer
from kwtui.jobs import Journal
from kwtui.transfer.engine import TransferOptions
from kwtui.transfer.resumable import JobRunner, create_transfer_job


async def measure(server: EmbeddedServer, rows: int, base: Path) -> None:
    from kwtui.screens.app import KwtuiApp
    from kwtui.screens.jobs import JobsScreen

    journal = Journal(base / "jobs.db")
    src = ConnectionService(ConnectTarget.from_dsn(server.uri("src")))
    dst = ConnectionService(ConnectTarget.from_dsn(server.uri("dst")))
    await src.connect()
    await dst.connect()
    job_id = await create_transfer_job(journal, src, dst, ["t"], TransferOptions())
    app = KwtuiApp()
    lags: list[float] = []
    key_times: list[float] = []
    async with app.run_test(size=(80, 24)) as pilot:
        screen = JobsScreen(journal)
        app.push_screen(screen)
        await pilot.pause()
        runner = JobRunner(journal, job_id, src, dst)
        task = asyncio.create_task(runner.run())
        loop = asyncio.get_running_loop()

        async def ticker() -> None:
            while not task.done():
                t0 = loop.time()
                await asyncio.sleep(0.01)
                lags.append(loop.time() - t0 - 0.01)

        tick = asyncio.create_task(ticker())
        handled: list[float] = []
        original = screen.action_refresh

        def instrumented() -> None:
            handled.append(time.perf_counter())
            original()

        screen.action_refresh = instrumented  # type: ignore[method-assign]
        pressed = 0
        while not task.done():
            await asyncio.sleep(0.2)
            if pressed < 20:
                before = len(handled)
                t0 = time.perf_counter()
                asyncio.create_task(pilot.press("f5"))  # the key goes through the app's input path
                while len(handled) == before and time.perf_counter() - t0 < 5:
                    await asyncio.sleep(0.001)
                if len(handled) > before:
                    key_times.append(handled[-1] - t0)
                pressed += 1
        outcome = await task
        await tick
    lags.sort()
    p99 = lags[int(len(lags) * 0.99)] if lags else 0.0
    print(f"transfer of {outcome.rows:,} rows in the app's loop: {outcome.status}")
    print(f"event loop lag while it ran: max {max(lags) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
          f"median {statistics.median(lags) * 1000:.1f} ms over {len(lags)} ticks (target: input within 100 ms)")
    if key_times:
        print(f"key press to handled: max {max(key_times) * 1000:.1f} ms, median "
              f"{statistics.median(key_times) * 1000:.1f} ms over {len(key_times)} presses")
    await src.close()
    await dst.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="kwtui-uilag-"))
    server = EmbeddedServer(base / "pg", settings={"fsync": "off", "synchronous_commit": "off"}).start()
    try:
        with psycopg.connect(server.conninfo(), autocommit=True) as c:
            c.execute("CREATE DATABASE src")
            c.execute("CREATE DATABASE dst")
        with psycopg.connect(server.conninfo("src"), autocommit=True) as c:
            c.execute("CREATE TABLE t (id bigint PRIMARY KEY, v text, n numeric(12,2))")
            c.execute("INSERT INTO t SELECT g, md5(g::text), g / 7.0 FROM generate_series(1, %s) g", (args.rows,))
            c.execute("ANALYZE t")
        asyncio.run(measure(server, args.rows, base))
    finally:
        server.destroy()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
