"""`kwtui validate`: counts, aggregates and checksums between two tables."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from kwtui.cli.common import (
    ProgressPrinter,
    _service,
    target_from_arg,
)
from kwtui.errors import UsageError


def register(sub: Any) -> None:
    """The `validate` subcommand and its options."""
    vl = sub.add_parser("validate", help="prove that tables match: row counts, column aggregates, or checksums "
                        "down to the differing rows")
    vl.add_argument("--source", "-s", required=True, help="profile name or connection URI of the source")
    vl.add_argument("--target", "-t", required=True, help="profile name or connection URI of the target")
    vwhich = vl.add_mutually_exclusive_group(required=True)
    vwhich.add_argument("--table", action="append", metavar="T", help="schema.table (repeat for more)")
    vwhich.add_argument("--all", action="store_true", help="every base and TS table of the source")
    vl.add_argument("--key", help="key columns a,b (default: the primary key; TS tables: timestamp + primary tags)")
    vl.add_argument("--level", default="checksum", choices=["count", "aggregate", "checksum"],
                    help="count: row counts; aggregate: per-column count/nulls/min/max/sum/distinct; "
                    "checksum (default): segment checksums, then the differing rows")
    vl.add_argument("--max-diffs", type=int, default=20, help="differing keys shown per kind and table (default 20)")
    vl.add_argument("--workers", type=int, default=2, help="connection pairs hashing segments at once (default 2)")
    vl.add_argument("--no-references", action="store_true", help="skip the foreign-key orphan checks")
    vl.add_argument("--json", action="store_true", help="JSON lines of progress, then the result")
    vl.add_argument("--report", metavar="FILE", help="also write a report: .md, .json or .html")


def cmd_validate(args: argparse.Namespace) -> int:
    from kwtui.requests import ValidateRequest, run_validate
    from kwtui.validate import render_text, report_format, write_report

    key = tuple(k.strip() for k in args.key.split(",") if k.strip()) if args.key else None
    if args.key is not None and not key:
        raise UsageError("--key needs column names: --key a,b")
    if args.report:
        report_format(args.report)  # a wrong extension is a usage error before anything runs
    # the one request model: the validation screen builds the same request from its fields
    req = ValidateRequest(None if args.all else tuple(args.table), key=key, level=args.level,
                          max_diffs=args.max_diffs, workers=args.workers,
                          check_references=not args.no_references).check()
    source = target_from_arg(args.source)
    target = target_from_arg(args.target)
    printer = ProgressPrinter(args.json)

    def listener(ev: Any) -> None:
        if args.json or not printer.tty:
            printer(ev)
            return
        line = f"{ev.table or 'validate'}: {ev.phase}  {ev.message}  {ev.rows:,} rows checked".replace("    ", "  ")
        pad = max(0, printer.width - len(line))
        printer.width = len(line)
        print("\r" + line + " " * pad, end="", file=sys.stderr, flush=True)

    async def run() -> Any:
        async with _service(source) as src, _service(target) as dst:
            return await run_validate(src, dst, req, listener=listener)

    try:
        result = asyncio.run(run())
    finally:
        printer.finish()
    if args.report:
        path = write_report(result, args.report)
        print(f"report written to {path}", file=sys.stderr)
    if args.json:
        print(json.dumps({"event": "result", **result.as_dict()}, ensure_ascii=False))
    else:
        print(render_text(result))
    return 0 if result.ok else 1

