"""`kwtui jobs`: the journal of transfers, and KWDB's own jobs."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from kwtui.cli.common import (
    ProgressPrinter,
    _add_target_args,
    _Parser,
    _print_job_outcome,
    _service,
    format_table,
)
from kwtui.cli.import_ import _resume_import
from kwtui.errors import UsageError


def register(sub: Any) -> None:
    """The `jobs` subcommand and its options."""
    jb = sub.add_parser("jobs", help="the journal of transfers: list, show, resume, cancel; KWDB's own jobs")
    jsub = jb.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=_Parser)
    jl = jsub.add_parser("list", help="jobs, newest first (a dead process's job shows as interrupted)")
    jl.add_argument("--json", action="store_true")
    jl.add_argument("--limit", type=int, default=50)
    js = jsub.add_parser("show", help="one job: tables, batches, rows, log")
    js.add_argument("id", type=int)
    js.add_argument("--json", action="store_true")
    jr = jsub.add_parser("resume", help="resume an interrupted, failed or paused job where it stopped")
    jr.add_argument("id", type=int)
    jr.add_argument("--json", action="store_true")
    jr.add_argument("--max-rejects", type=int, help="an import: a new limit of rejected lines")
    jc = jsub.add_parser("cancel", help="ask a running job to stop (or mark a stopped one cancelled)")
    jc.add_argument("id", type=int)
    jp = jsub.add_parser("pause", help="ask a running job to pause after its current batch")
    jp.add_argument("id", type=int)
    nl = jsub.add_parser("native-list", help="KWDB: SHOW JOBS")
    _add_target_args(nl, sub=True)
    nl.add_argument("--json", action="store_true")
    for verb in ("pause", "resume", "cancel"):
        nv = jsub.add_parser(f"native-{verb}", help=f"KWDB: {verb.upper()} JOB id")
        nv.add_argument("id", type=int)
        nv.add_argument("--wait", type=float, default=60.0,
                        help="seconds to wait for KWDB to get the job there (pause-requested -> paused); default 60")
        _add_target_args(nv, sub=True)


def cmd_jobs(args: argparse.Namespace) -> int:
    from kwtui.jobs import Journal

    journal = Journal()
    if args.action == "list":
        jobs = journal.jobs(args.limit)
        if args.json:
            print(json.dumps([j.as_dict() for j in jobs], indent=2))
        elif not jobs:
            print("no jobs yet")
        else:
            for j in jobs:
                print(f"{j.id:>5}  {j.status:<11} {j.kind:<9} {j.rows:>12,} rows  "
                      + (f"({j.records:,} read, {j.rejects:,} rejected)  " if j.kind == "import" else "")
                      + f"{j.source.get('label', '?')} -> {j.target.get('label', '?')}  {', '.join(j.objects)[:60]}")
        return 0
    if args.action == "show":
        job = journal.get(args.id)
        if args.json:
            doc = job.as_dict()
            doc["log"] = [{"at": at, "level": lv, "message": m} for at, lv, m in journal.logs(job.id)]
            if job.status != "completed":
                from kwtui.troubleshoot import diagnose

                errors = [t.error for t in job.tables if t.error] + ([job.error] if job.error else [])
                found = next((d for d in (diagnose(e, context={"job": job.id}) for e in errors) if d), None)
                doc.update(found.as_dict() if found is not None else {"cause": None, "fix": None, "action": None})
            print(json.dumps(doc, indent=2))
        else:
            print(f"job {job.id}: {job.kind} {job.status}, {job.rows:,} rows, attempts {job.attempts}"
                  + (f", error: {job.error}" if job.error else ""))
            print(f"  from {job.source.get('label')}  to {job.target.get('label')}")
            for t in job.tables:
                if job.kind == "import":
                    print(f"  {t.name}: {t.status}, {t.records:,} records read, {t.rows:,} rows loaded, "
                          f"{t.rejects:,} lines rejected, {len(t.done_batches)} batches committed"
                          + (f" error: {t.error}" if t.error else ""))
                    continue
                print(f"  {t.name} -> {t.target}: {t.status}, {t.rows:,} rows, {len(t.done_batches)}/{len(t.batches)}"
                      f" batches ({t.path})" + (f" error: {t.error}" if t.error else ""))
            for at, level, message in journal.logs(job.id, 20):
                print(f"  {time.strftime('%H:%M:%S', time.localtime(at))} {level:<7} {message}")
        return 0
    if args.action in ("cancel", "pause"):
        journal.request(args.id, args.action)
        print(f"job {args.id}: {args.action} requested")
        return 0
    if args.action == "resume":
        from kwtui.transfer.resumable import JobRunner, target_from_journal

        job = journal.get(args.id)
        if job.status == "running":
            raise UsageError(f"job {job.id} is running (pid {job.pid}); it cannot be resumed twice")
        if job.kind == "import":
            return _resume_import(journal, job, args)
        if args.max_rejects is not None:
            raise UsageError("--max-rejects goes with the resume of an import")
        if job.options.get("via_import"):
            done = [t.name for t in job.tables if t.status == "completed"]
            raise UsageError(f"job {job.id} loaded its tables with KWDB's IMPORT (--via-import), which is whole or "
                             f"nothing per table: run the same transfer --via-import again for the tables not done "
                             f"(done: {', '.join(done) or 'none'}); a table that already holds rows is refused, "
                             "never doubled")
        printer = ProgressPrinter(args.json)

        async def run() -> Any:
            async with _service(target_from_journal(job.source)) as src, \
                    _service(target_from_journal(job.target)) as dst:
                return await JobRunner(journal, job.id, src, dst, printer).run()

        try:
            outcome = asyncio.run(run())
        finally:
            printer.finish()
        return _print_job_outcome(outcome, args.json)
    return _cmd_native_jobs(args)


def _cmd_native_jobs(args: argparse.Namespace) -> int:
    """KWDB's own jobs (IMPORT/EXPORT run by the server): SHOW JOBS, PAUSE/RESUME/CANCEL JOB."""
    from kwtui.connection import ConnectTarget
    from kwtui.fmt import jsonable
    from kwtui.transfer import native

    target = ConnectTarget.resolve(dsn=args.dsn, profile=args.profile)
    if args.action != "native-list":
        from kwtui.transfer.native_watch import control_native_job

        action = args.action.split("-", 1)[1]
        native.pause_job(args.id)  # a bad id is a usage error before any connection

        async def control() -> str:
            async with _service(target) as svc:
                if svc.info is not None and svc.info.kind != "kwdb":
                    raise UsageError("KWDB job control needs a KWDB server (this one is PostgreSQL)")
                return await control_native_job(svc, action, args.id, wait=args.wait)

        status = asyncio.run(control())
        print(f"job {args.id}: {status}")
        if action == "resume" and status == "running":
            print("it runs in the background on the server now: kwtui jobs native-list shows how it ends")
        if action == "cancel" and status != "canceled":
            print("KWDB rolls it back now: kwtui jobs native-list says canceled when it is done")
        return 0

    async def run() -> Any:
        async with _service(target) as svc:
            if svc.info is not None and svc.info.kind != "kwdb":
                raise UsageError("KWDB job control needs a KWDB server (this one is PostgreSQL)")
            return await svc.query(native.show_jobs().sql)

    res = asyncio.run(run())
    jobs = native.parse_show_jobs(res.columns, res.rows)
    if args.json:
        print(json.dumps([jsonable(j.__dict__) for j in jobs], indent=2))
    else:
        print(format_table(res.columns, res.rows))
    return 0

