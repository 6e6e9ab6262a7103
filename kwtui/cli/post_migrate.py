"""`kwtui post-migrate`: the tasks after the load."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from typing import Any

from kwtui.cli.common import (
    _terminal_password_prompt,
)


def register(sub: Any) -> None:
    """The `post-migrate` subcommand and its options."""
    pm = sub.add_parser("post-migrate", help="after the load: statistics, the plan's indexes and keys on the target, "
                        "sequences, the new connection string, a rollback plan and monitoring queries (PLAN.post.md)")
    pm.add_argument("plan", help="the saved plan (kwtui plan --save)")
    pm.add_argument("--no-analyze", action="store_true", help="do not refresh the planner statistics")
    pm.add_argument("--json", action="store_true", help="print the tasks as one JSON document")


def cmd_post_migrate(args: argparse.Namespace) -> int:
    from kwtui.aftercare import post_path, run_aftercare
    from kwtui.migration import MigrationPlan, MigrationRunner, MigrationState, open_services

    plan = MigrationPlan.load(args.plan)

    async def run() -> Any:
        src, dst = await open_services(plan, password_prompt=_terminal_password_prompt)
        databases = MigrationRunner(plan, MigrationState(plan.id), src, dst)  # a mixed plan's TS database
        try:
            return await run_aftercare(plan, src, dst, analyze=not args.no_analyze, target_of=databases.target_of)
        finally:
            await databases.close_ts()
            for svc in (src, dst):
                if svc is not None:
                    with contextlib.suppress(Exception):
                        await svc.close()

    report = asyncio.run(run())
    out = post_path(args.plan)
    out.write_text(report.markdown(plan.name or plan.id), encoding="utf-8")
    if args.json:
        print(json.dumps({**report.as_dict(), "written": str(out)}, ensure_ascii=False, indent=2))
    else:
        for t in report.tasks:
            print(f"[{t.verdict:>7}] {t.title}: {t.evidence}")
            for stmt in t.statements if t.verdict not in ("ok", "done") else []:
                print(f"          {stmt}")
        print(f"new connection string: {report.connection}")
        print(f"rollback plan and monitoring queries: {out}")
    return 0 if report.ok else 1

