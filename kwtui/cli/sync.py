"""`kwtui sync`: incremental sync of one table by a watermark column."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from kwtui.cli.common import (
    _service,
    target_from_arg,
)
from kwtui.errors import UsageError


def register(sub: Any) -> None:
    """The `sync` subcommand and its options."""
    sy = sub.add_parser("sync", help="incremental sync of one table by a watermark column (upsert; repeatable)")
    sy.add_argument("--source", "-s", required=True, help="profile name or connection URI of the source")
    sy.add_argument("--target", "-t", required=True, help="profile name or connection URI of the target")
    sy.add_argument("--table", required=True, help="schema.table")
    sy.add_argument("--watermark", required=True, metavar="COL",
                    help="a column that grows with every change: updated_at, a sequence id, the TS timestamp")
    sy.add_argument("--key", help="key columns a,b (default: the primary key)")
    sy.add_argument("--overlap", help="re-read window below the last watermark, safe against late commits "
                    "(an interval such as '5 minutes' or a number for numeric watermarks; default 5 minutes / 1000)")
    sy.add_argument("--delete-detection", action="store_true",
                    help="delete target rows whose key is gone from the source (compares the key sets)")
    sy.add_argument("--json", action="store_true", help='print the result as JSON ("rows_moved": N, ...)')


def cmd_sync(args: argparse.Namespace) -> int:
    from kwtui.jobs import Journal
    from kwtui.sync import sync_table

    key = [k.strip() for k in args.key.split(",") if k.strip()] if args.key else None
    if args.key is not None and not key:
        raise UsageError("--key needs column names: --key a,b")
    overlap: Any = args.overlap
    if overlap is not None and overlap.strip().lstrip("-").isdigit():
        overlap = int(overlap)
    source = target_from_arg(args.source)
    target = target_from_arg(args.target)
    journal = Journal()

    async def run() -> Any:
        async with _service(source) as src, _service(target) as dst:
            return await sync_table(src, dst, args.table, args.watermark, key=key, overlap=overlap,
                                    journal=journal, delete_detection=args.delete_detection)

    result = asyncio.run(run())
    if args.json:
        print(json.dumps({"event": "result", "ok": True, **result.as_dict()}, ensure_ascii=False))
    else:
        deleted = f", {result.deleted:,} deleted" if args.delete_detection else ""
        print(f"{result.table} -> {result.target}: {result.rows_moved:,} rows moved ({result.rows_read:,} read "
              f"above {result.lower_bound or 'the start'}){deleted}; watermark {result.watermark_before} -> "
              f"{result.watermark_after} in {result.elapsed:.2f} s ({result.method})")
        if result.notice:
            print(f"notice: {result.notice}")
    return 0

