"""`kwtui run`: execute a saved migration plan phase by phase (and rehearse it)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from typing import Any

from kwtui.cli.common import (
    _service,
    _terminal_password_prompt,
    target_from_arg,
)
from kwtui.errors import UsageError


def register(sub: Any) -> None:
    """The `run` subcommand and its options."""
    from kwtui.transfer.tables import IF_EXISTS, IF_EXISTS_HELP

    rn = sub.add_parser("run", help="execute a saved migration plan phase by phase (kwtui plan --save PLANFILE)")
    rn.add_argument("planfile", help="the plan (TOML) written by kwtui plan --save or the plan screen")
    phase_keys = ["preflight", "schema", "historical", "capture", "catchup", "cutover", "validation",
                  "post-migration"]
    rn.add_argument("--phase", choices=phase_keys, help="run only this phase (its earlier phases must be done)")
    rn.add_argument("--through", choices=phase_keys, help="run the pending phases up to this one")
    rn.add_argument("--accept-warnings", action="store_true",
                    help="go on past the preflight's warnings (never past its blockers)")
    rn.add_argument("--yes", action="store_true",
                    help="confirm the cutover: the application's writes to the source are stopped")
    rn.add_argument("--runbook", metavar="FILE", help="write the runbook here (default: PLANFILE.runbook.md)")
    rn.add_argument("--status", action="store_true", help="only show the phases and the next action")
    rn.add_argument("--if-exists", choices=IF_EXISTS,
                    help="this run's table handling for the history (default: the plan's, else fail): " + IF_EXISTS_HELP)
    rn.add_argument("--json", action="store_true", help="print the phases as JSON")
    rn.add_argument("--keep-bookkeeping", action="store_true",
                    help="keep kwtui's own schema (kwtui_journal: checkpoints, locks) on the target after the "
                         "cutover (default: removed once the validation is equal)")
    rn.add_argument("--target", "-t", metavar="T",
                    help="the target (profile or URI) for a plan made without one; it is saved into the plan")
    rn.add_argument("--rehearse", action="store_true",
                    help="rehearse: a sample of each table (foreign keys kept consistent) into a scratch schema on "
                         "the target, checked and timed into an ETA, then dropped; the phases are not touched")
    rn.add_argument("--sample", type=float, default=10.0, metavar="PCT", help="with --rehearse: percent (default 10)")
    rn.add_argument("--scratch", metavar="SCHEMA", help="with --rehearse: the scratch schema (must not exist)")
    rn.add_argument("--keep-scratch", action="store_true", help="with --rehearse: keep the scratch schema")


def cmd_run(args: argparse.Namespace) -> int:
    if args.rehearse:
        return _cmd_rehearse(args)
    from contextlib import AsyncExitStack
    from dataclasses import asdict
    from pathlib import Path

    from kwtui import migration
    from kwtui.jobs import Journal
    from kwtui.runbook import render_runbook

    p = migration.MigrationPlan.load(args.planfile)
    state = migration.MigrationState.load(p, args.planfile)
    runbook = Path(args.runbook) if args.runbook else Path(args.planfile).expanduser().with_name(
        Path(args.planfile).name + ".runbook.md")

    def show() -> None:
        if args.json:
            print(json.dumps({"plan": p.id, "phases": [asdict(r) for r in state.phases],
                              "next": migration.next_action(p, state)}, default=str))
            return
        for r in state.phases:
            print(f"  {migration.phase_number(r.key)}. [{r.state:8s}] {r.title}" + (f": {r.summary}" if r.summary else ""))
        print(f"\n{migration.progress_text(state)}. {migration.next_action(p, state)}")

    if args.status:
        show()
        return 0
    if args.target:
        if p.requirements.target and migration.safe_reference(args.target) != p.requirements.target:
            raise UsageError(f"the plan already has the target {p.requirements.target}",
                             hint="make a new plan for another target: kwtui plan ... --save FILE")
        if not p.requirements.target:
            p.requirements.target = migration.safe_reference(args.target)
            p.save(args.planfile)
    if not p.requirements.target:
        raise UsageError("the plan has no target: give one with kwtui run PLANFILE --target T")
    journal = Journal()

    def say(key: str, message: str) -> None:
        if not args.json:
            print(f"[{key}] {message}", file=sys.stderr, flush=True)

    async def run() -> Any:
        async with AsyncExitStack() as stack:
            src = None
            if p.requirements.source_kind != "csv":
                src = await stack.enter_async_context(_service(target_from_arg(p.requirements.source)))
            dst = await stack.enter_async_context(_service(target_from_arg(p.requirements.target)))
            runner = migration.MigrationRunner(p, state, src, dst, journal=journal, listener=say,
                                               report_dir=runbook.parent, if_exists=args.if_exists,
                                               keep_bookkeeping=args.keep_bookkeeping,
                                               accept_warnings=args.accept_warnings)
            if args.phase:
                return [await runner.run_phase(args.phase, confirmed=args.yes)]
            return await runner.run_all(through=args.through, confirmed=args.yes)

    try:
        ran = asyncio.run(run())
    finally:
        runbook.write_text(render_runbook(p, state), encoding="utf-8")
    for r in ran:
        if not args.json:
            print(f"phase {migration.phase_number(r.key)} {r.title}: {r.state}"
                  + (f" ({r.summary})" if r.summary else "") + f" in {r.seconds:.2f} s")
            for d in r.details:
                print(f"    {d}")
    show()
    print(f"runbook written to {runbook}", file=sys.stderr)
    return 1 if any(r.state == migration.FAILED for r in ran) else 0


def _cmd_rehearse(args: argparse.Namespace) -> int:
    from kwtui.migration import MigrationPlan, open_services
    from kwtui.rehearse import eta_text, rehearse

    if args.phase or args.through or args.yes:
        raise UsageError("--rehearse runs no phase: drop --phase/--through/--yes")
    plan = MigrationPlan.load(args.planfile)
    if args.target:
        from kwtui.migration import safe_reference

        plan.requirements.target = safe_reference(args.target)

    async def run() -> Any:
        src, dst = await open_services(plan, password_prompt=_terminal_password_prompt)
        try:
            return await rehearse(plan, src, dst, percent=args.sample, scratch=args.scratch, keep=args.keep_scratch,
                                  say=None if args.json else lambda m: print(f"kwtui: {m}", file=sys.stderr))
        finally:
            for svc in (src, dst):
                if svc is not None:
                    with contextlib.suppress(Exception):
                        await svc.close()

    r = asyncio.run(run())
    if args.json:
        print(json.dumps(r.as_dict(), ensure_ascii=False, indent=2))
    else:
        for t in r.tables:
            state = "ok" if t.ok else f"FAILED: {t.error}" if t.error else f"{t.orphans} orphan(s)" \
                if t.orphans else f"{t.loaded_rows}/{t.sample_rows} rows landed"
            print(f"{t.table}: {t.sample_rows:,} of {t.full_rows:,} rows in {t.seconds:.2f} s, {state}"
                  + "".join(f"; {n}" for n in t.notes))
        print(f"rehearsal {'ok' if r.ok else 'FAILED'}: {r.rows_per_s:,.0f} rows/s; ETA of the real run about "
              f"{eta_text(r.eta_s)}; scratch schema {r.scratch} {'dropped' if r.dropped else 'kept'}")
    return 0 if r.ok else 1

