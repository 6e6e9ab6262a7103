"""`kwtui export`: a table, a query or a database to files in KWDB's export layout."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import Any

from kwtui.cli.common import (
    ProgressPrinter,
    _add_csv_args,
    _add_target_args,
    _add_timeout_arg,
    _collector_on,
    _dialect,
    _service,
    _watched,
)
from kwtui.errors import UsageError


def register(sub: Any) -> None:
    """The `export` subcommand and its options."""
    ex = sub.add_parser("export", help="export a table, a query or a database to files in KWDB's export layout")
    _add_target_args(ex, sub=True)
    what = ex.add_mutually_exclusive_group(required=True)
    what.add_argument("--table", help="schema.table")
    what.add_argument("--query", help="a SELECT (native EXPORT ... FROM SELECT)")
    what.add_argument("--database", help="every table of a database (KWDB database tree)")
    ex.add_argument("--to", required=True, help="an empty directory (with --native: a nodelocal:// path)")
    ex.add_argument("--fresh-dir", action="store_true",
                    help="write into a fresh directory beside --to named with the time (TO-YYYYmmddTHHMMSS)")
    _add_csv_args(ex, export=True)
    ex.add_argument("--chunk-rows", type=int, help="rows per n1.<k>.csv file, 0..100000 (default 100000; 0: one file)")
    ex.add_argument("--column-name", action="store_true", help="write a header line of column names")
    only = ex.add_mutually_exclusive_group()
    only.add_argument("--meta-only", action="store_true", help="only meta.sql (the DDL)")
    only.add_argument("--data-only", action="store_true", help="only the data files")
    ex.add_argument("--format", choices=["csv", "sql"], default="csv",
                    help="with --native: csv (default) or sql (KWDB writes INSERT statements)")
    ex.add_argument("--native", action="store_true", help="let KWDB run EXPORT itself (server-side files)")
    ex.add_argument("--print-sql", action="store_true", help="with --native: print the statement and exit")
    ex.add_argument("--json", action="store_true", help="JSON lines of progress, then the result")
    _add_timeout_arg(ex, "with --query: the query's statement timeout in seconds (0: none)", 0)


async def _bytes_tables_left_out(svc: Any, database: str, exported: Sequence[str]) -> list[str]:
    """Tables with byte columns that a SQL-format database export left out of its answer.

    Recorded on the live node (V3.2.1): ``EXPORT INTO SQL ... FROM DATABASE`` writes only meta.sql for
    a table with a BYTES column, leaves it out of the answer and still succeeds."""
    from psycopg import sql

    res = await svc.query(sql.SQL(
        "SELECT DISTINCT table_schema, table_name FROM {}.information_schema.columns "
        "WHERE data_type ILIKE {} AND table_schema NOT IN ('information_schema', 'pg_catalog', 'kwdb_internal') "
        "ORDER BY 1, 2").format(sql.Identifier(database), sql.Literal("%byte%")))
    from kwtui.names import TableName

    done = {TableName.parse(t).name for t in exported}
    return [f"{database}.{schema}.{table}" for schema, table in res.rows if f"{schema}.{table}" not in done]


def _statement_paths(stmt: Any) -> list[str]:
    from kwtui.transfer.native_watch import statement_paths

    return [p for p in statement_paths(stmt) if not p.endswith("meta.sql")]


def cmd_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from kwtui.connection import ConnectTarget

    if args.chunk_rows is not None and not 0 <= args.chunk_rows <= 100_000:
        raise UsageError("--chunk-rows must be between 0 and 100000 (0: one file)")
    if args.print_sql and not args.native:
        raise UsageError("--print-sql goes with --native")
    if args.format != "csv" and not args.native:
        raise UsageError("--format sql goes with --native (KWDB's own EXPORT)")
    dialect = _dialect(args, export=True)  # checks the options before anything is touched
    if args.fresh_dir:  # the knowledge base's fix for "export path ... is not empty"
        from kwtui.troubleshoot import fresh_dir

        args.to = fresh_dir(args.to)
        print(f"kwtui: exporting into {args.to}", file=sys.stderr)
    if args.native:
        from kwtui.transfer import native

        _collector_on()
        opts = native.ExportOptions(
            chunk_rows=args.chunk_rows, delimiter=args.delimiter, enclosed=args.enclosed, escaped=args.escaped,
            nullas=args.nullas, column_name=args.column_name, meta_only=args.meta_only,
            data_only=args.data_only, charset=args.charset)
        if args.table:
            stmt = native.export_table(args.to, args.table, fmt=args.format, options=opts)
        elif args.query:
            from kwtui.guard import parse_read

            parse_read(args.query, limit=None)  # one read statement, or refused (exit 2) before anything
            stmt = native.export_select(args.to, args.query, fmt=args.format, options=opts)
        else:
            stmt = native.export_database(args.to, args.database, fmt=args.format, options=opts)
        if args.print_sql:
            print(stmt.sql)
            return 0
        target = ConnectTarget.resolve(dsn=args.dsn, profile=args.profile)

        async def run_native() -> Any:
            nonlocal stmt
            async with _service(target) as svc:
                if args.query:  # the read guard on the server itself, then the text it parsed alone
                    checked = await svc.check_read(args.query, limit=None)
                    stmt = native.export_select(args.to, checked.text, fmt=args.format, options=opts)
                res = (await _watched(svc, stmt, args.json))[0]
                skipped: list[str] = []
                if args.database and args.format == "sql" and res.shape == "export_files" and not args.meta_only:
                    skipped = await _bytes_tables_left_out(svc, args.database, res.tables)
                return res, skipped

        result, skipped = asyncio.run(run_native())
        print(json.dumps({"ok": result.ok and not skipped, "statement": stmt.sql, "status": result.status,
                          "rows": result.rows, "tables": list(result.tables), "skipped": skipped})
              if args.json else f"{stmt.sql}\n{result.summary()}")
        if skipped:
            print(f"error: KWDB answered success but wrote no data for {', '.join(skipped)}: their BYTES/VARBYTES "
                  "columns cannot be exported as SQL (only meta.sql was written); export them with --format csv",
                  file=sys.stderr)
        return 0 if result.ok and not skipped else 1
    chunk_rows = 100_000 if args.chunk_rows is None else args.chunk_rows
    if dialect.header is False and args.column_name:
        from dataclasses import replace

        dialect = replace(dialect, header=True)
    target = ConnectTarget.resolve(dsn=args.dsn, profile=args.profile)
    out = Path(args.to)
    printer = ProgressPrinter(args.json)

    from kwtui.jobs import Journal
    from kwtui.requests import ExportRequest, run_export
    from kwtui.transfer.manifest import command_text

    # the one request model: the export wizard builds the same request from its fields
    req = ExportRequest(out, dialect, database=None if (args.query or args.table) else args.database,
                        table=args.table, query=args.query, chunk_rows=chunk_rows, meta=not args.data_only,
                        data=not args.meta_only, timeout=args.statement_timeout or None,
                        command=command_text(getattr(args, "argv", None))).check()
    _collector_on()

    async def run() -> Any:
        async with _service(target) as svc:
            return await run_export(svc, req, listener=printer, journal=Journal())

    results = asyncio.run(run())
    printer.finish()
    if args.json:
        print(json.dumps({"event": "result", "ok": True, "rows": sum(r.rows for r in results),
                          "tables": [{"table": r.table, "directory": r.directory, "rows": r.rows, "bytes": r.bytes,
                                      "files": r.files, "elapsed_s": round(r.elapsed, 3)} for r in results]}))
    else:
        for r in results:
            print(f"{r.table}: {r.rows:,} rows, {len(r.files)} file(s), {r.bytes / 1e6:.1f} MB in "
                  f"{r.elapsed:.2f} s -> {r.directory}")
    return 0

