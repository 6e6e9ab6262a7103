"""`kwtui transfer`: copy tables between servers (streamed, or pulled by KWDB's IMPORT)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

from kwtui.cli.common import (
    ProgressPrinter,
    _collector_on,
    _print_job_outcome,
    _services,
    target_from_arg,
)
from kwtui.errors import KwtuiError, UsageError


def register(sub: Any) -> None:
    """The `transfer` subcommand and its options."""
    from kwtui.transfer.tables import IF_EXISTS, IF_EXISTS_HELP

    tr = sub.add_parser("transfer", help="copy tables from one server to another (PostgreSQL or KWDB, either way)")
    tr.add_argument("--source", "-s", required=True, help="profile name or connection URI of the source")
    tr.add_argument("--target", "-t", required=True, help="profile name or connection URI of the target")
    which = tr.add_mutually_exclusive_group(required=True)
    which.add_argument("--table", action="append", metavar="T", help="schema.table (repeat for more)")
    which.add_argument("--all", action="store_true", help="every base table of the source")
    tr.add_argument("--workers", type=int, default=max(2, (os.cpu_count() or 2) // 2),
                    help="key ranges of a table copied at once; default: half the cores, at least 2")
    tr.add_argument("--batch-rows", type=int, default=500, help="rows per INSERT where COPY is not possible")
    tr.add_argument("--chunk-rows", type=int, default=100_000,
                    help="rows per committed key range, the unit a resumed job redoes (default 100000)")
    tr.add_argument("--no-create", action="store_true", help="fail instead of creating missing target tables")
    tr.add_argument("--if-exists", choices=IF_EXISTS, default="fail", help=IF_EXISTS_HELP)
    tr.add_argument("--json", action="store_true", help="JSON lines of progress, then the result")
    tr.add_argument("--via-import", action="store_true",
                    help="PostgreSQL -> KWDB: spool each table as CSV and let KWDB's IMPORT pull it over HTTP from "
                         "this host (several times faster; an empty target table is loaded whole or not at all)")
    tr.add_argument("--serve-host", default="127.0.0.1", metavar="ADDR",
                    help="with --via-import: the address of this host that the KWDB node can reach (default 127.0.0.1)")
    tr.add_argument("--spool-dir", metavar="DIR", help="with --via-import: where the CSV spool goes (default: temp dir)")


def cmd_transfer_pull(args: argparse.Namespace) -> int:
    """``transfer --via-import``: PostgreSQL -> KWDB, KWDB's IMPORT pulls the rows kwtui serves."""
    from pathlib import Path

    from kwtui.jobs import JobTable, Journal, target_record
    from kwtui.transfer.engine import Transfer, TransferOptions, plan_transfer
    from kwtui.transfer.pull import PATH_LABEL, check_pull, pull_table

    source = target_from_arg(args.source)
    target = target_from_arg(args.target)
    journal = Journal()
    _collector_on()

    async def run() -> tuple[int, list[Any], str | None]:
        from kwtui.transfer.tables import TableLock

        async with _services(source, target) as (src, dst):
            check_pull(src, dst)
            options = TransferOptions(create_missing=not args.no_create)
            # the lock tables are made while the plan is read (DDL: 20-90 ms in a new database)
            prepare = asyncio.ensure_future(TableLock.prepare(dst))
            try:
                plans = await plan_transfer(src, dst, None if args.all else args.table, options)
            except BaseException:
                prepare.cancel()
                await asyncio.gather(prepare, return_exceptions=True)
                raise
            try:
                prepared = await prepare
            except Exception:  # noqa: BLE001 (acquire() makes them again and its error goes in the job's record)
                prepared = None
            tables = [JobTable(name=p.label, target=f"{p.target_schema}.{p.target_name}", path=PATH_LABEL,
                               est_rows=p.source.table.est_rows or 0, batches=[]) for p in plans]
            job_id = journal.create("transfer", target_record(source), target_record(target),
                                    [p.label for p in plans], {"via_import": True}, tables)
            journal.start(job_id)
            creator = Transfer(src, dst, plans, options)
            done: list[Any] = []
            total = 0
            for p in plans:
                journal.table_started(job_id, p.label, PATH_LABEL)
                lock = TableLock(dst, [(p.target_schema, p.target_name)], f"job {job_id}", prepared=prepared)
                try:
                    await lock.acquire()  # two jobs never write one target table at once
                    res = await pull_table(src, dst, p, host=args.serve_host, thread_concurrency=args.workers,
                                           spool_root=Path(args.spool_dir) if args.spool_dir else None,
                                           create=creator.create_target)
                except BaseException as exc:
                    message = exc.message if isinstance(exc, KwtuiError) else str(exc) or type(exc).__name__
                    journal.table_finished(job_id, p.label, "failed", message)
                    journal.finish(job_id, "failed", message)
                    return job_id, done, f"{p.label}: {message}"
                finally:
                    await lock.release()
                journal.batch_done(job_id, p.label, 0, res.rows, res.bytes)
                journal.table_finished(job_id, p.label, "completed")
                total += res.rows
                done.append(res)
                if args.json:
                    print(json.dumps({"event": "table", "table": res.table, "target": res.target, "rows": res.rows,
                                      "target_rows": res.target_rows, "spool_s": round(res.spool_s, 3),
                                      "import_s": round(res.import_s, 3), "notices": res.notices}), flush=True)
                else:
                    rate = res.rows / res.elapsed if res.elapsed else 0
                    print(f"{res.table} -> {res.target} ({res.path}): {res.rows:,} rows, {len(res.files)} file(s) "
                          f"spooled in {res.spool_s:.2f} s, imported in {res.import_s:.2f} s ({rate:,.0f} rows/s)")
                    for n in res.notices:
                        print(f"  notice: {n}")
            journal.finish(job_id, "completed")
            return job_id, done, None

    job_id, done, error = asyncio.run(run())
    rows = sum(r.rows for r in done)
    if args.json:
        print(json.dumps({"event": "result", "job": job_id, "ok": error is None, "rows": rows, "error": error}))
    elif error:
        print(f"job {job_id} failed after {len(done)} table(s), {rows:,} rows committed: {error}", file=sys.stderr)
    else:
        print(f"job {job_id} completed: {rows:,} rows")
    return 0 if error is None else 1


def cmd_transfer(args: argparse.Namespace) -> int:
    if args.workers < 1:
        raise UsageError("--workers must be at least 1")
    if args.via_import:  # before the request model's imports (the migration's and plan's modules: 25 ms)
        return cmd_transfer_pull(args)
    from kwtui.jobs import Journal
    from kwtui.requests import TransferRequest, run_transfer

    if args.batch_rows < 1:
        raise UsageError("--batch-rows must be at least 1")
    if args.chunk_rows < 1:
        raise UsageError("--chunk-rows must be at least 1")
    source = target_from_arg(args.source)
    target = target_from_arg(args.target)
    printer = ProgressPrinter(args.json)
    # the request model (kwtui.requests): checked and run by the core, as a screen would
    request = TransferRequest(None if args.all else tuple(args.table), workers=args.workers,
                              batch_rows=args.batch_rows, chunk_rows=args.chunk_rows, create_missing=not args.no_create,
                              if_exists=args.if_exists).check()
    journal = Journal()
    _collector_on()

    def told(job_id: int) -> None:
        if args.json:
            print(json.dumps({"event": "job", "job": job_id}), flush=True)
        elif sys.stderr.isatty():
            print(f"job {job_id} (kwtui jobs show {job_id}; resume after a crash: kwtui jobs resume {job_id})",
                  file=sys.stderr)

    async def run() -> Any:
        async with _services(source, target) as (src, dst):
            return await run_transfer(src, dst, request, journal=journal, listener=printer, on_job=told)

    try:
        outcome = asyncio.run(run())
    finally:
        printer.finish()
    return _print_job_outcome(outcome, args.json)

