"""`kwtui plan`: assess a source and write a migration plan."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

from kwtui.cli.common import (
    _service,
    format_table,
    target_from_arg,
)
from kwtui.errors import UsageError


def register(sub: Any) -> None:
    """The `plan` subcommand and its options."""
    from kwtui.transfer.tables import IF_EXISTS, IF_EXISTS_HELP

    pl = sub.add_parser("plan", help="assess a source for a migration: tables, findings, DDL for the target, "
                        "time-series suggestions, strategy")
    pl.add_argument("--source", "-s", required=True, help="profile name or connection URI of the source")
    ptgt = pl.add_mutually_exclusive_group()
    ptgt.add_argument("--target", "-t", help="profile name or URI of the target (its kind decides the DDL)")
    ptgt.add_argument("--target-kind", choices=["kwdb", "kwdb-ts", "postgres"],
                      help="the DDL to write without connecting to a target (default: kwdb from PostgreSQL, "
                           "postgres from KWDB)")
    pl.add_argument("--table", action="append", metavar="T", help="only these schema.table (repeat for more)")
    pl.add_argument("--ts-suggest", action="store_true",
                    help="measure device-id columns and propose time-series tables")
    pl.add_argument("--ts-database", metavar="NAME",
                    help="KWDB target: the TS database the time-series tables go to (default <target db>_ts; "
                         "the schema phase creates it)")
    pl.add_argument("--via-import", choices=["auto", "always", "never"], default="auto",
                    help="PostgreSQL -> KWDB: let KWDB's IMPORT pull the rows kwtui serves (auto: tables from "
                         "100,000 rows; default auto)")
    pl.add_argument("--serve-host", metavar="HOST", default="",
                    help="with via-import: the address of this host the KWDB node reaches (default 127.0.0.1)")
    pl.add_argument("--exact", action="store_true", help="count rows exactly (count(*)) instead of estimates")
    pl.add_argument("--ddl", metavar="FILE", help="write the translated DDL to FILE")
    pl.add_argument("--report", metavar="FILE", help="write the plan as a Markdown report")
    pl.add_argument("--json", action="store_true", help="print the plan as one JSON document")
    pl.add_argument("--save", metavar="PLANFILE",
                    help="save the whole migration plan (TOML) for kwtui run PLANFILE and the phases screen")
    pl.add_argument("--source-kind", choices=["postgres", "kwdb", "csv"],
                    help="csv: --source is a file, a folder of CSV files or a KWDB export (default: detected)")
    pl.add_argument("--deployment", choices=["single node", "single-replica", "multi-replica"],
                    help="the target's deployment (detected when --target is given; default single node)")
    pl.add_argument("--downtime", choices=["hours", "minutes", "seconds"], default="minutes",
                    help="downtime the business accepts at cutover (default minutes)")
    pl.add_argument("--no-source-writes", action="store_true",
                    help="the source takes no writes during the move (no change capture or catch-up sync)")
    pl.add_argument("--if-exists", choices=IF_EXISTS, default="fail",
                    help="with --save: the plan's table handling when the history is copied: " + IF_EXISTS_HELP)
    pl.add_argument("--accept-loss", action="append", metavar="WHAT",
                    help="accept that these refused objects are not created on the target (recorded in the plan): "
                         "kinds (view,function,trigger,...), families (type, constraint), object names "
                         "(public.my_view) or all; comma-separated or repeated")
    pl.add_argument("--inventory", action="store_true",
                    help="list every object of the inventory, the created ones too")
    pl.add_argument("--eta", action="store_true",
                    help="measure a short sample transfer (into a scratch table on --target) for the ETA")


def cmd_plan(args: argparse.Namespace) -> int:
    from pathlib import Path

    from kwtui import plan

    source_kind = args.source_kind or ("csv" if Path(args.source).expanduser().exists()
                                       and "://" not in args.source else None)
    if args.save or source_kind == "csv":
        return _cmd_plan_save(args, source_kind)
    source = target_from_arg(args.source)
    target = target_from_arg(args.target) if args.target else None

    async def run() -> Any:
        async with _service(source) as src:
            kind = args.target_kind
            ts_db = args.ts_database or ""
            if target is not None:
                async with _service(target) as dst:
                    kind = "kwdb" if dst.info.kind == "kwdb" else "postgres"
                    if kind == "kwdb" and (args.ts_suggest or ts_db):
                        ts_db = ts_db or f"{dst.info.database or 'defaultdb'}_ts"
            if kind is None:
                kind = "postgres" if src.info.kind == "kwdb" else "kwdb"
            assessment = await plan.assess(src, tables=args.table, exact=args.exact)
            if not assessment.tables:
                raise UsageError("the source has no tables to plan")
            if args.ts_suggest:
                await plan.suggest_ts(assessment, src)
            if ts_db and kind == "kwdb" and assessment.ts_suggestions:
                kind = "kwdb-ts"
            return kind, assessment, ts_db if kind == "kwdb-ts" else ""

    kind, assessment, ts_db = asyncio.run(run())
    translation = plan.translate_ddl(assessment, kind, suggested_only=bool(ts_db))
    if assessment.inventory is not None:
        from kwtui.inventory import accept_loss

        accept_loss(assessment.inventory, _accepted(args))
    choices, order_warnings = plan.strategy(assessment, kind, cores=os.cpu_count() or 2,
                                            deployment=args.deployment,
                                            via_import=args.via_import if assessment.server_kind == "postgres"
                                            else "never")
    translation.warnings += order_warnings
    if args.ddl:
        Path(args.ddl).write_text(translation.script(), encoding="utf-8")
        print(f"DDL written to {args.ddl}", file=sys.stderr)
    if args.report:
        Path(args.report).write_text(plan.render_markdown(assessment, translation, choices), encoding="utf-8")
        print(f"report written to {args.report}", file=sys.stderr)
    if args.json:
        from dataclasses import asdict

        print(json.dumps({**assessment.as_dict(), "target_kind": kind, "pre_data": translation.pre,
                          "post_data": translation.post, "accept_loss": _accepted(args),
                          "ddl": [asdict(t) for t in translation.tables], "warnings": translation.warnings,
                          "strategy": [asdict(c) for c in choices]}, ensure_ascii=False, default=str))
        return 0
    print(f"Source: {assessment.database} ({assessment.server_kind}), {len(assessment.tables)} table(s); "
          f"target kind: {kind}\n")
    print(format_table(["table", "kind", "rows", "MB", "cols", "PK", "FKs", "indexes", "sequences", "score"],
                       [[t.qualified, t.kind, f"{t.rows:,}", f"{(t.bytes or 0) / 1e6:.2f}", len(t.columns),
                         ", ".join(t.primary_key) or "-", len(t.foreign_keys), len(t.indexes),
                         "; ".join(t.sequences) or "-", t.complexity] for t in assessment.tables]))
    _print_findings(assessment, args)
    if args.ts_suggest:
        print("\nTime-series suggestions:" if assessment.ts_suggestions else "\nTime-series suggestions: none")
        for s in assessment.ts_suggestions:
            print(f"  {s.table}: timestamp {s.timestamp}, primary tag {s.primary_tag}, tags {', '.join(s.tags)}, "
                  f"data {', '.join(s.data_columns) or '-'}; {s.devices:,} devices, "
                  f"{s.rows_per_device:,.1f} rows per device")
    print("\nStrategy (load order):")
    for i, c in enumerate(choices, 1):
        print(f"  {i}. {c.table}: {c.method}, workers {c.workers}, chunk_rows {c.chunk_rows:,}, "
              f"batch_rows {c.batch_rows} ({c.reason})")
    if ts_db:
        ts_tables = [t.table for t in translation.tables if t.ts]
        print(f"\nTS database: {ts_db} (CREATE TS DATABASE {ts_db}) holds {', '.join(ts_tables) or 'no table'}; "
              "the other tables go to the target's relational database")
    print(f"\nDDL ({kind}):\n")
    print(translation.script())
    return 0


def _accepted(args: argparse.Namespace) -> list[str]:
    return [w.strip() for a in (getattr(args, "accept_loss", None) or []) for w in a.split(",") if w.strip()]


def _print_findings(assessment: Any, args: argparse.Namespace) -> None:
    """The findings (each with its advice), the rows hint and the inventory with every object's fate."""
    print("\nFindings:" if assessment.findings else "\nFindings: none")
    for f in assessment.findings:
        print(f"  [{f.construct}] {f.table or '(database)'}: {f.detail}\n      -> {f.advice}")
    never = [t.qualified for t in assessment.tables if t.exact_rows is None and t.est_rows is None]
    if never:
        print(f"\nrows 0 is an estimate: {', '.join(never)} never analysed (run ANALYZE on the source, or plan "
              "with --exact to count them)")
    if assessment.inventory is not None:
        from kwtui.inventory import render_text

        print()
        print(render_text(assessment.inventory, created=bool(getattr(args, "inventory", False))))


def _cmd_plan_save(args: argparse.Namespace, source_kind: str | None) -> int:
    """kwtui plan --save: the whole migration plan (requirements, mapping, strategy, ETA) to a file."""
    from contextlib import AsyncExitStack
    from pathlib import Path

    from kwtui import migration

    req = migration.Requirements(
        source=migration.safe_reference(args.source), source_kind=source_kind or "postgres",
        target=migration.safe_reference(args.target) if args.target else "",
        target_kind=args.target_kind or "kwdb", deployment=args.deployment or "single node",
        downtime=args.downtime, source_writes=not args.no_source_writes, tables=list(args.table or []),
        ts_suggest=args.ts_suggest or args.target_kind == "kwdb-ts", if_exists=args.if_exists,
        accept_loss=_accepted(args), ts_database=args.ts_database or "", via_import=args.via_import,
        serve_host=args.serve_host)
    if source_kind == "csv":
        req.source = str(Path(args.source).expanduser().resolve())
    req.check()

    async def run() -> Any:
        async with AsyncExitStack() as stack:
            src = None
            if req.source_kind != "csv":
                src = await stack.enter_async_context(_service(target_from_arg(args.source)))
                if args.source_kind is None:
                    req.source_kind = "kwdb" if src.info.kind == "kwdb" else "postgres"
                if req.source_kind == "kwdb" and not args.target_kind and not args.target:
                    req.target_kind = "postgres"
            dst = await stack.enter_async_context(_service(target_from_arg(args.target))) if args.target else None
            return await migration.plan_migration(
                req, src, dst, exact=args.exact, eta=args.eta,
                listener=lambda m: print(f"kwtui plan: {m}", file=sys.stderr) if not args.json else None)

    p = asyncio.run(run())
    if p.assessment.inventory is not None:
        from kwtui.inventory import accept_loss

        unknown = accept_loss(p.assessment.inventory, req.accept_loss)
        if unknown:
            print(f"kwtui plan: --accept-loss {', '.join(unknown)}: no refused object matches", file=sys.stderr)
    if args.save:
        path = p.save(args.save)
        print(f"plan written to {path} (run it: kwtui run {path})", file=sys.stderr)
    if args.ddl:
        Path(args.ddl).write_text(p.ddl_script(), encoding="utf-8")
        print(f"DDL written to {args.ddl}", file=sys.stderr)
    if args.report:
        from kwtui.runbook import render_runbook

        Path(args.report).write_text(render_runbook(p, migration.MigrationState(p.id)), encoding="utf-8")
        print(f"report written to {args.report}", file=sys.stderr)
    if args.json:
        print(json.dumps(p.as_dict(), ensure_ascii=False, default=str))
        return 0
    r = p.requirements
    print(f"Migration plan {p.id}: {r.source} ({r.source_kind}) -> {r.target or r.target_kind} ({r.target_kind}, "
          f"{r.deployment}); downtime {r.downtime}; source writes: {'yes' if r.source_writes else 'no'}\n")
    if r.ts_database:
        print(f"Databases: TS tables in the TS database {r.ts_database} (the schema phase creates it), the rest in "
              f"{p.target_database()}\n")
    print(format_table(["#", "table", "target", "rows", "MB", "method", "workers", "batch", "watermark", "ETA"],
                       [[i, t.table, (f"{t.database}." if t.database else "") + t.target + (" (TS)" if t.ts else ""), f"{t.rows:,}", f"{t.bytes / 1e6:.2f}",
                         t.method, t.workers, t.batch_rows, t.watermark or "-",
                         "-" if t.eta_s is None else f"{t.eta_s:.1f} s"] for i, t in enumerate(p.included, 1)]))
    print("\nStrategy:")
    for n in p.notes:
        print(f"  - {n}")
    if p.eta:
        print(f"\nETA {p.eta.total_s:.1f} s from {p.eta.sample_rows:,} sample rows of {p.eta.sample_table or '-'} "
              f"({p.eta.rows_per_s:,.0f} rows/s; {p.eta.method})")
    if p.warnings:
        print("\nWarnings:")
        for w in p.warnings:
            print(f"  - {w}")
    _print_findings(p.assessment, args)
    print(f"\nDDL ({p.target_kind}):\n")
    print(p.ddl_script())
    return 0

