"""`kwtui doctor`: read-only preflight checks."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from kwtui.cli.common import (
    _terminal_password_prompt,
    target_from_arg,
)
from kwtui.errors import UsageError


def register(sub: Any) -> None:
    """The `doctor` subcommand and its options."""
    dr = sub.add_parser("doctor", help="preflight checks before a migration (read-only): each with a verdict "
                        "(ok / warning / blocker), the evidence and the fix; exit 1 on a blocker")
    dr.add_argument("plan", nargs="?", help="a saved plan (kwtui plan --save): its source, target and tables")
    dr.add_argument("--source", "-s", help="profile name or connection URI of the source")
    dr.add_argument("--target", "-t", help="profile name or connection URI of the target")
    dr.add_argument("--table", action="append", metavar="T", help="schema.table to check (repeat; default: all)")
    dr.add_argument("--ts", action="append", metavar="T:COL", default=[],
                    help="a time-series candidate and its primary tag(s): schema.table:device[,tag2]")
    dr.add_argument("--cdc", action="store_true", help="change capture is planned (the source keeps taking writes)")
    dr.add_argument("--export-dir", help="where export files will go (free disk is checked; default: here)")
    dr.add_argument("--files", help="CSV file or folder to be imported: its charset is checked")
    dr.add_argument("--charset", default="UTF-8", help="the files' charset (default UTF-8)")
    dr.add_argument("--extern-dir", help="the KWDB node's extern directory, where it is mounted on this machine")
    dr.add_argument("--long-tx", type=float, default=300.0, metavar="SECONDS",
                    help="a source transaction open longer than this is reported (default 300)")
    dr.add_argument("--json", action="store_true", help="print the checks as one JSON document")


def cmd_doctor(args: argparse.Namespace) -> int:
    from kwtui import doctor

    if not (args.plan or args.source or args.target):
        raise UsageError("kwtui doctor needs --source, --target or a plan file")
    if args.long_tx < 0:
        raise UsageError("--long-tx must be 0 or more seconds")
    opts = doctor.DoctorOptions(tables=list(args.table or []), ts=[doctor.parse_ts_spec(s) for s in args.ts],
                                cdc=args.cdc, export_dir=args.export_dir, files=args.files, charset=args.charset,
                                extern_dir=args.extern_dir, long_tx_seconds=args.long_tx)
    plan = None
    source = target_from_arg(args.source) if args.source else None
    target = target_from_arg(args.target) if args.target else None
    if args.plan:
        from kwtui.migration import MigrationPlan

        plan = MigrationPlan.load(args.plan)
        psrc, pdst = doctor.plan_sides(plan)
        source, target = source or psrc, target or pdst
        doctor.options_from_plan(plan, opts)
    report = asyncio.run(doctor.run_doctor(source, target, opts, plan=plan,
                                           password_prompt=_terminal_password_prompt))
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        print("\n".join(doctor.render_text(report)))
    return report.exit_code

