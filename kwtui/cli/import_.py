"""`kwtui import`: a CSV file, a table export or a database export into a server."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

from kwtui.cli.common import (
    ProgressPrinter,
    _add_csv_args,
    _add_target_args,
    _collector_on,
    _dialect,
    _service,
    _watched,
)
from kwtui.cli.export import _statement_paths
from kwtui.errors import UsageError


def register(sub: Any) -> None:
    """The `import` subcommand and its options."""
    from kwtui.transfer.tables import IF_EXISTS, IF_EXISTS_HELP

    im = sub.add_parser("import", help="import a CSV file, a table export or a database export")
    _add_target_args(im, sub=True)
    im.add_argument("--from", dest="source", required=True,
                    help="a file or directory (with --native: a nodelocal:// path)")
    im.add_argument("--into", help="an existing table (schema.table); with --create: the name of the new table")
    how = im.add_mutually_exclusive_group()
    how.add_argument("--create", action="store_true",
                     help="create the table from the export's meta.sql, named as its CREATE TABLE names it")
    how.add_argument("--database", action="store_true", help="a database export tree: every table")
    im.add_argument("--if-exists", choices=IF_EXISTS, default="fail", help=IF_EXISTS_HELP)
    im.add_argument("--allow-incomplete", action="store_true",
                    help="load an export whose manifest is not marked complete (an interrupted export): "
                         "what is there, and say what was loaded")
    im.add_argument("--columns", help="target columns in file order: a,b,c")
    im.add_argument("--schema", help="put created tables in this schema")
    _add_csv_args(im, export=False)
    im.add_argument("--skip-header", action="store_true", help="the first line of each file holds column names")
    im.add_argument("--reject-file", help="where bad lines go (default: reject.n1.<k>.txt beside the data)")
    im.add_argument("--max-rejects", type=int, help="stop when more lines than this were rejected")
    im.add_argument("--thread-concurrency", type=int, help="with --native: KWDB import threads")
    im.add_argument("--batch-rows", type=int, default=500, help="rows per INSERT where there is no COPY")
    im.add_argument("--batch-bytes", type=int, default=8 << 20,
                    help="bytes of input per committed COPY batch, the unit a resumed import redoes (default 8 MiB)")
    im.add_argument("--workers", type=int, default=max(2, (os.cpu_count() or 2) // 2),
                    help="connections loading batches at once where the server parses the CSV (COPY); "
                         "default: half the cores, at least 2")
    im.add_argument("--native", action="store_true", help="let KWDB run IMPORT itself (server-side files)")
    im.add_argument("--print-sql", action="store_true", help="with --native: print the statement and exit")
    im.add_argument("--stage", metavar="REMOTE_DIR",
                    help="with --native: upload the local --from files into the node's extern directory "
                         "under REMOTE_DIR first (COPY kwdb_internal.file_upload), then IMPORT from there")
    im.add_argument("--json", action="store_true", help="JSON lines of progress, then the result")


def cmd_import(args: argparse.Namespace) -> int:
    from pathlib import Path

    from kwtui.connection import ConnectTarget

    if not (args.into or args.create or args.database):
        raise UsageError("give one of --into TABLE, --create or --database")
    if args.into and args.database:
        raise UsageError("--into goes with a file or a table export, not with --database")
    if args.native and args.into and args.create:
        raise UsageError("with --native, KWDB names the table as meta.sql does: --into goes without --create")
    if args.native and (args.if_exists != "fail" or args.allow_incomplete):
        raise UsageError("--if-exists and --allow-incomplete go with the streamed import (not --native)")
    if args.print_sql and not args.native:
        raise UsageError("--print-sql goes with --native")
    if args.stage and not args.native:
        raise UsageError("--stage goes with --native")
    if args.max_rejects is not None and args.max_rejects < 0:
        raise UsageError("--max-rejects must be 0 or more")
    if args.batch_rows < 1:
        raise UsageError("--batch-rows must be at least 1")
    if args.batch_bytes < 1:
        raise UsageError("--batch-bytes must be at least 1")
    if args.workers < 1:
        raise UsageError("--workers must be at least 1")
    columns = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else None
    if columns is not None and not args.into:
        raise UsageError("--columns goes with --into")
    dialect = _dialect(args, export=False)  # checks the options before anything is touched
    if args.native:
        from kwtui.transfer import native

        _collector_on()
        # the options as the one CSV rule set read them (a --delimiter '\t' is a tab on every path)
        given = {name: getattr(dialect, name) for name in ("delimiter", "enclosed", "escaped", "charset")
                 if getattr(args, name, None) is not None}
        opts = native.ImportOptions(
            **given, nullif=None if args.nullif is None else dialect.nullas,
            thread_concurrency=args.thread_concurrency, batch_rows=args.batch_rows if args.batch_rows != 500 else None)
        from kwtui.transfer import stage

        staged: list[Any] = []
        url = args.source
        if args.stage:
            staged = stage.plan_stage(Path(args.source), args.stage)
            single = len(staged) == 1 and Path(args.source).is_file()
            url = stage.nodelocal_url(staged[0].destination if single else args.stage)
        elif "://" not in args.source:
            raise UsageError("with --native, --from is a nodelocal:// path on the server "
                             "(or add --stage REMOTE_DIR to upload local files first)")
        staged_csv = [stage.nodelocal_url(f.destination) for f in staged if f.destination.lower().endswith(".csv")]

        async def build(svc: Any | None) -> Any:
            """The statement; with a server, a relational target gets the directory's files named."""
            from kwtui.transfer.native_files import import_statement

            return await import_statement(svc, url, into=args.into, create=args.create, database=args.database,
                                          columns=columns, options=opts, staged=staged_csv)

        target = ConnectTarget.resolve(dsn=args.dsn, profile=args.profile) if (
            args.dsn or args.profile or not args.print_sql) else None
        if args.print_sql:
            async def print_only() -> Any:
                if target is None or staged or args.database:
                    return await build(None)
                async with _service(target) as svc:
                    return await build(svc)

            stmt = asyncio.run(print_only())
            for f in staged:
                print(f"-- upload {f.local} ({f.size:,} bytes)\n"
                      f"{stage.upload_statement(f.destination).as_string(None)};")
            print(stmt.sql)
            return 0

        async def run_native() -> Any:
            async with _service(target) as svc:
                if staged:
                    async with svc.autocommit() as conn:
                        await stage.stage_files(conn, staged)
                built = await build(svc)
                res = (await _watched(svc, built, args.json))[0]
                found = await nf.reject_files(svc, _statement_paths(built)) if res.partial else []
                return built, res, found

        from kwtui.transfer import native_files as nf

        stmt, result, found = asyncio.run(run_native())
        rejects = (", ".join(found) or nf.reject_file_hint(_statement_paths(stmt))) if result.partial else None
        partial = None
        if result.partial:  # "succeeded" with rejected rows: a partial load (kwtui.troubleshoot)
            from kwtui.troubleshoot import diagnose

            partial = diagnose(result.note or f"reject_rows {result.reject_rows}")
        if args.json:
            print(json.dumps({"ok": result.complete, "statement": stmt.sql, "status": result.status,
                              "job_id": result.job_id, "rows": result.rows, "reject_rows": result.reject_rows,
                              "abandon_rows": result.abandon_rows, "partial": result.partial,
                              "reject_file": rejects, "note": result.note,
                              **(partial.as_dict() if partial is not None else {})}))
        else:
            print(f"{stmt.sql}\n{result.summary()}" + ("\n" + "\n".join(partial.lines()) if partial is not None else ""))
        if result.partial:
            print(f"error: partial load: KWDB answered {result.status!r} but rejected {result.reject_rows:,} row(s); "
                  f"they are in {rejects} on the server (what was imported stays: a time-series IMPORT has no "
                  "rollback; fix those rows and IMPORT INTO only them)", file=sys.stderr)
        return 0 if result.complete else 1
    if args.thread_concurrency is not None:
        raise UsageError("--thread-concurrency goes with --native (KWDB's own IMPORT)")
    source = Path(args.source)
    if not source.exists():
        raise UsageError(f"{source} does not exist")
    target = ConnectTarget.resolve(dsn=args.dsn, profile=args.profile)
    printer = ProgressPrinter(args.json)

    from kwtui.jobs import Journal
    from kwtui.requests import ImportRequest, run_import

    _collector_on()

    from kwtui.transfer.files import ImportOutcome

    # the one request model: the import wizard builds the same request from its fields
    req = ImportRequest(source, dialect, into=args.into, columns=tuple(columns) if columns is not None else None,
                        create=args.create, database=args.database, schema=args.schema,
                        skip_header=args.skip_header, reject_file=Path(args.reject_file) if args.reject_file else None,
                        max_rejects=args.max_rejects, batch_rows=args.batch_rows, batch_bytes=args.batch_bytes,
                        workers=args.workers, if_exists=args.if_exists, allow_incomplete=args.allow_incomplete).check()
    box = ImportOutcome()
    journal = Journal()

    async def run() -> Any:
        async with _service(target) as svc:
            return await run_import(svc, req, listener=printer, journal=journal, outcome=box)

    return _run_import(run, printer, args.json, journal, box)


def _run_import(run: Any, printer: Any, as_json: bool, journal: Any, box: Any) -> int:
    """Run an import (or its resume) and print its arithmetic; a stop says what landed."""
    try:
        try:
            outcome = asyncio.run(run())
        finally:
            printer.finish()
    except KeyboardInterrupt:
        said = "interrupted"
        if box.job_id is not None:
            job = journal.get(box.job_id)
            said = job.error or f"interrupted: continue with: kwtui jobs resume {box.job_id}"
        print(f"kwtui: {said}", file=sys.stderr)
        return 130
    for note in outcome.notices:
        print(f"note: {note}", file=sys.stderr)
    if as_json:
        print(json.dumps({"event": "result", "ok": True, "job": outcome.job_id, "records": outcome.records,
                          "rows": outcome.rows, "rejects": outcome.rejects,
                          "balanced": outcome.records == outcome.rows + outcome.rejects,
                          "tables": [{"table": t.table, "records": t.records, "rows": t.rows, "bytes": t.bytes,
                                      "rejects": t.rejects, "per_file": t.per_file,
                                      "reject_file": t.reject_file, "created": t.created, "path": t.path,
                                      "files": t.files, "elapsed_s": round(t.elapsed, 3)} for t in outcome.tables]}))
    else:
        for t in outcome.tables:
            rej = f" (see {t.reject_file})" if t.rejects else ""
            made = ", created" if t.created else ""
            print(f"{t.table}: {t.records:,} records read = {t.rows:,} rows loaded + {t.rejects:,} lines "
                  f"rejected{rej}, from {len(t.files)} file(s) in {t.elapsed:.2f} s ({t.path}{made})")
        if outcome.job_id is not None:
            print(f"job {outcome.job_id} completed: {outcome.records:,} records read, {outcome.rows:,} loaded, "
                  f"{outcome.rejects:,} rejected")
    return 0


def _resume_import(journal: Any, job: Any, args: argparse.Namespace) -> int:
    """``kwtui jobs resume N`` of an import: the target from the journal, the files from the job."""
    from kwtui.transfer.files import ImportOutcome
    from kwtui.transfer.importjob import resume_import
    from kwtui.transfer.resumable import target_from_journal

    if args.max_rejects is not None and args.max_rejects < 0:
        raise UsageError("--max-rejects must be 0 or more")
    printer = ProgressPrinter(args.json)
    box = ImportOutcome(job_id=job.id)

    async def run() -> Any:
        async with _service(target_from_journal(job.target)) as svc:
            return await resume_import(journal, job.id, svc, listener=printer, max_rejects=args.max_rejects,
                                       outcome=box)

    return _run_import(run, printer, args.json, journal, box)

