"""The ``kwtui`` command: no subcommand opens the TUI; subcommands run headless.

Exit codes: 0 success, 1 runtime error (one clear line on stderr), 2 usage error.
``--debug`` shows the traceback of a runtime error. Importing this module does not
import Textual: the TUI is loaded only when it is about to run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import importlib
import json
import os
import sys
import threading
import time
import traceback
from collections.abc import AsyncIterator, Sequence
from typing import Any

from kwtui import __version__
from kwtui.errors import KwtuiError, UsageError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse's own usage errors: exit 2
        self.print_usage(sys.stderr)
        self.exit(2, f"kwtui: error: {message}\n")


def _add_target_args(p: argparse.ArgumentParser, *, required: bool = False, sub: bool = False) -> None:
    # In a subcommand the defaults are suppressed, so `kwtui --profile p query ...` keeps the
    # --profile given before the subcommand instead of having it overwritten with None.
    default = argparse.SUPPRESS if sub else None
    g = p.add_mutually_exclusive_group(required=required)
    g.add_argument("--dsn", default=default, help="libpq URI or keyword string (postgresql://user@host:port/db)")
    g.add_argument("--profile", "-p", default=default, help="name of a saved profile")


def _add_csv_args(p: argparse.ArgumentParser, *, export: bool) -> None:
    p.add_argument("--delimiter", help="field separator, one character (default ,)")
    p.add_argument("--enclosed", help="quote character: \" or ' (default \")")
    p.add_argument("--escaped", help="escape character inside quotes: \" or \\ (default \")")
    if export:
        p.add_argument("--nullas", help="text written for NULL (default: an empty unquoted field)")
    else:
        p.add_argument("--nullif", help="text read as NULL (default: an empty unquoted field)")
    p.add_argument("--charset", help="UTF-8 (default), GBK, GB18030 or BIG5")


def _dialect(args: argparse.Namespace, *, export: bool) -> Any:
    from kwtui.transfer.csvdialect import CsvDialect

    kwargs: dict[str, Any] = {}
    for name in ("delimiter", "enclosed", "escaped", "charset"):
        value = getattr(args, name, None)
        if value is not None:
            kwargs[name] = value.encode().decode("unicode_escape") if name == "delimiter" else value
    null = getattr(args, "nullas" if export else "nullif", None)
    if null is not None:
        kwargs["nullas"] = null
    return CsvDialect(**kwargs)


def build_parser() -> argparse.ArgumentParser:
    from kwtui.transfer.tables import IF_EXISTS, IF_EXISTS_HELP

    parser = _Parser(
        prog="kwtui",
        description="Plan, run, watch and prove data migrations into and out of KWDB (KaiwuDB). "
        "Without a command, opens the terminal console.",
    )
    parser.add_argument("--version", action="version", version=f"kwtui {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    _add_target_args(parser)
    parser.add_argument("--demo", action="store_true",
                        help="open the console on an embedded PostgreSQL with sample data")
    parser.add_argument("--reset", action="store_true", help="with --demo: seed the demo data afresh")
    parser.add_argument("--kwdb", action="store_true",
                        help="with --demo: also start the shared KWDB with the smart-meter sample (profile demo-kwdb)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    prof = sub.add_parser("profile", help="manage saved connection profiles")
    psub = prof.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=_Parser)
    add = psub.add_parser("add", help="save a profile (a password given in --dsn goes to the keyring or is dropped)")
    add.add_argument("name")
    add.add_argument("--dsn", help="libpq URI or keyword string")
    add.add_argument("--host")
    add.add_argument("--port", type=int)
    add.add_argument("--user")
    add.add_argument("--dbname", "--database", dest="dbname")
    add.add_argument("--sslmode", choices=["disable", "allow", "prefer", "require", "verify-ca", "verify-full"])
    add.add_argument("--sslrootcert")
    add.add_argument("--sslcert")
    add.add_argument("--sslkey")
    add.add_argument("--certs-dir", help="KWDB certificate directory (ca.crt, client.<user>.crt/.key)")
    add.add_argument("--application-name")
    add.add_argument("--options", help="libpq options, e.g. '-c search_path=app'")
    add.add_argument("--service", help="a service name from pg_service.conf")
    add.add_argument("--replace", action="store_true", help="overwrite a profile of the same name")
    lst = psub.add_parser("list", help="list saved profiles")
    lst.add_argument("--json", action="store_true")
    rm = psub.add_parser("remove", help="delete a saved profile (and its keyring entry)")
    rm.add_argument("name")
    test = psub.add_parser("test", help="connect and print server kind, version and deployment type")
    test.add_argument("name", nargs="?", help="profile name (or use --dsn)")
    test.add_argument("--dsn")
    test.add_argument("--json", action="store_true")

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

    pm = sub.add_parser("post-migrate", help="after the load: statistics, the plan's indexes and keys on the target, "
                        "sequences, the new connection string, a rollback plan and monitoring queries (PLAN.post.md)")
    pm.add_argument("plan", help="the saved plan (kwtui plan --save)")
    pm.add_argument("--no-analyze", action="store_true", help="do not refresh the planner statistics")
    pm.add_argument("--json", action="store_true", help="print the tasks as one JSON document")

    q = sub.add_parser("query", help="run SQL: reads by default; writes need --write (and --yes or a confirmation)")
    _add_target_args(q, sub=True)
    q.add_argument("--json", action="store_true", help='print {"columns": [...], "rows": [[...]], "notice": ...}')
    q.add_argument("--write", action="store_true", help="write mode: allow statements that change data or settings")
    q.add_argument("--yes", "-y", action="store_true", help="with --write: do not ask for confirmation")
    q.add_argument("--statement-timeout", type=_seconds, default=None, metavar="SECONDS",
                   help="read mode's statement timeout in seconds, 0: none (default 300, or "
                        "KWTUI_STATEMENT_TIMEOUT, which sets the console's too)")
    q.add_argument("sql", help="the SQL text")
    return parser


# -- helpers ------------------------------------------------------------------------------


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= value <= 7 * 86400:
        raise argparse.ArgumentTypeError("seconds between 0 (no limit) and 604800")
    return value


def _add_timeout_arg(p: argparse.ArgumentParser, help_text: str, default: float) -> None:
    p.add_argument("--statement-timeout", type=_seconds, default=default, metavar="SECONDS",
                   help=f"{help_text} (default {default:g})")


def null_mark() -> str:
    """How NULL reads in a text table: a dim ∅ on a colour terminal, ∅ when piped (never the text
    'NULL', which a value can be), <null> when stdout cannot encode ∅."""
    import os

    encoding = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        "∅".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return "<null>"
    if sys.stdout.isatty() and not os.environ.get("NO_COLOR"):
        return "\x1b[2m∅\x1b[0m"
    return "∅"


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], *, widths: list[int] | None = None,
                 header: bool = True, with_widths: bool = False, null: str | None = None) -> Any:
    """An aligned text table (cells cut at 60 characters, newlines shown as \\n); NULL is ``null``
    (default :func:`null_mark`), numbers are right-aligned."""
    import decimal

    from kwtui.fmt import text_value

    mark = null_mark() if null is None else null
    visible = "∅" if mark.startswith("\x1b") else mark  # its width on screen
    cells = [[visible if v is None else text_value(v).replace("\n", "\\n") for v in row] for row in rows]
    nulls = [[v is None for v in row] for row in rows]
    numeric = [[isinstance(v, int | float | decimal.Decimal) and not isinstance(v, bool) for v in row] for row in rows]
    if widths is None:
        widths = [len(c) for c in columns]
        for row in cells:
            for i, v in enumerate(row):
                widths[i] = min(max(widths[i], len(v)), 60)

    def fmt(vals: Sequence[str], is_null: Sequence[bool] = (), is_num: Sequence[bool] = ()) -> str:
        out = []
        for i, v in enumerate(vals):
            cut = v[:60]
            text = cut.rjust(widths[i]) if i < len(is_num) and is_num[i] else cut.ljust(widths[i])
            if i < len(is_null) and is_null[i] and mark != visible:
                text = text.replace(visible, mark, 1)
            out.append(text)
        return " | ".join(out).rstrip()

    lines = [fmt(columns), "-+-".join("-" * w for w in widths)] if header else []
    lines += [fmt(r, n, k) for r, n, k in zip(cells, nulls, numeric, strict=True)]
    text = "\n".join(lines)
    return (text, widths) if with_widths else text


_PROMPT_LOCK = threading.Lock()


def _getpass_one_at_a_time(prompt: str) -> str:
    with _PROMPT_LOCK:  # two servers connecting at once ask one after the other
        return getpass.getpass(prompt)


async def _terminal_password_prompt(label: str) -> str | None:
    if not sys.stdin.isatty():
        return None
    return await asyncio.to_thread(_getpass_one_at_a_time, f"{label}: ")


def _service(target: Any) -> Any:
    from kwtui.connection import ConnectionService

    return ConnectionService(target, password_prompt=_terminal_password_prompt)


@contextlib.asynccontextmanager
async def _services(source: Any, target: Any) -> AsyncIterator[tuple[Any, Any]]:
    """Source and target services, connected at the same time."""
    src, dst = _service(source), _service(target)
    try:
        for outcome in await asyncio.gather(src.connect(), dst.connect(), return_exceptions=True):
            if isinstance(outcome, BaseException):
                raise outcome
        yield src, dst
    finally:
        for svc in (src, dst):
            with contextlib.suppress(Exception):
                await svc.close()


#: the data commands: ``python -m kwtui`` starts them with the garbage collector off and
#: ends them without tearing the interpreter down (see kwtui/__main__.py)
DATA_COMMANDS = ("transfer", "export", "import")
#: set by main() when the command that ran may end the process at once
fast_exit = False


def _collector_on() -> None:
    """Turn the garbage collector back on, once the imports are done (``python -m kwtui``
    starts with it off). The objects that exist by now live as long as the process: frozen,
    no collection has to walk them again."""
    import gc

    if not gc.isenabled():
        gc.freeze()
        gc.enable()


# -- commands ---------------------------------------------------------------------------


def cmd_profile(args: argparse.Namespace) -> int:
    from kwtui.profiles import Profile, ProfileStore, add_profile_from_dsn

    store = ProfileStore()
    if args.action == "add":
        if args.dsn:
            fields = [f for f in ("host", "port", "user", "dbname") if getattr(args, f)]
            if fields:
                raise UsageError(f"give either --dsn or --{fields[0]} and friends, not both")
            result = add_profile_from_dsn(store, args.name, args.dsn, replace=args.replace)
            profile = result.profile
            for msg in result.messages:
                print(f"note: {msg}", file=sys.stderr)
        else:
            profile = Profile(
                name=args.name, host=args.host or "", port=args.port, user=args.user or "",
                dbname=args.dbname or "", sslmode=args.sslmode or "", sslrootcert=args.sslrootcert or "",
                sslcert=args.sslcert or "", sslkey=args.sslkey or "", certs_dir=args.certs_dir or "",
                application_name=args.application_name or "kwtui", options=args.options or "",
                service=args.service or "",
            )
            if profile.certs_dir:
                profile.conninfo_params()  # checks the directory now, not at first connect
            store.save(profile, replace=args.replace)
        print(f"saved profile {profile.name!r}: {profile.describe()} ({store.path})")
        return 0
    if args.action == "list":
        profiles = store.load()
        if args.json:
            print(json.dumps([{"name": p.name, **p.to_toml()} for p in profiles.values()], indent=2))
        elif not profiles:
            print(f"no saved profiles ({store.path}); add one with: kwtui profile add NAME --dsn URI")
        else:
            width = max(len(n) for n in profiles)
            for name in sorted(profiles):
                print(f"{name.ljust(width)}  {profiles[name].describe()}")
        return 0
    if args.action == "remove":
        store.remove(args.name)
        print(f"removed profile {args.name!r}")
        return 0
    if args.action == "test":
        if bool(args.name) == bool(args.dsn):
            raise UsageError("give a profile name or --dsn")
        from kwtui.connection import ConnectTarget

        target = ConnectTarget.resolve(dsn=args.dsn, profile=args.name, store=store)

        async def run() -> Any:
            async with _service(target) as svc:
                return svc.info

        info = asyncio.run(run())
        if args.json:
            print(json.dumps(info.as_dict(), indent=2))
        else:
            kind = "KWDB" if info.kind == "kwdb" else "PostgreSQL"
            print(f"server:     {kind}\nversion:    {info.version}\ndeployment: {info.deployment}\n"
                  f"database:   {info.database}\nuser:       {info.user}")
        return 0
    raise UsageError(f"unknown profile action {args.action}")


def _confirm(summary: str) -> bool:
    if not sys.stdin.isatty():
        return False
    print(f"About to run: {summary}", file=sys.stderr)
    answer = input("Proceed? [y/N] ").strip().lower()
    return answer in ("y", "yes")


def cmd_query(args: argparse.Namespace) -> int:
    from kwtui.connection import ConnectTarget
    from kwtui.fmt import jsonable
    from kwtui.guard import default_timeout
    from kwtui.query import QueryRunner, WriteRefused

    if not args.sql.strip():
        raise UsageError("the SQL text is empty")
    target = ConnectTarget.resolve(dsn=args.dsn, profile=args.profile)

    async def run() -> int:
        async with _service(target) as svc:
            given = args.statement_timeout
            runner = QueryRunner(svc, timeout=default_timeout(strict=True) if given is None else (given or None))
            guarded = runner.prepare(args.sql, write_mode=args.write)  # WriteRefused: exit 2
            confirmed = not guarded.is_write or args.yes
            if guarded.is_write and not confirmed:
                confirmed = await asyncio.to_thread(_confirm, guarded.summary)
                if not confirmed:
                    raise WriteRefused(f"not confirmed: {guarded.summary}",
                                       hint="add --yes to run it without asking")
            ex = await runner.run(guarded, write_mode=args.write, confirmed=confirmed)
            notices = [guarded.notice] if guarded.notice else []
            rows: list[Any] = list(ex.rows)
            columns = ex.columns
            started = ex.started
            if ex.stream is not None:
                stream = ex.stream
                try:
                    if args.json:
                        while not stream.done:
                            rows.extend(await stream.next_page(5000))
                    else:
                        first = True
                        widths: list[int] | None = None
                        while not stream.done:
                            page = await stream.next_page(5000)
                            if first:
                                text, widths = format_table(columns, page, with_widths=True)
                                print(text)
                                first = False
                            elif page:
                                print(format_table(columns, page, widths=widths, header=False))
                        if first and columns:  # no row at all: the headers still show
                            print(format_table(columns, []))
                finally:
                    await stream.close()
                count = stream.fetched
                status = stream.status
            else:
                count = len(rows)
                status = ex.outcomes[-1].status if ex.outcomes else ""
            notices += [n for o in [svc._notices] for n in o]
            elapsed = time.perf_counter() - started
            notice = "; ".join(notices) or None
            if args.json:
                print(json.dumps({"columns": columns, "rows": [jsonable(list(r)) for r in rows],
                                  "notice": notice}, ensure_ascii=False))
                return 0
            if ex.stream is None:
                for o in ex.outcomes:
                    print(o.status or o.verb)
                if columns:
                    print(format_table(columns, rows))
            extra = f"; {notice}" if notice else ""
            if columns:
                print(f"({count} row{'s' if count != 1 else ''}, {elapsed * 1000:.0f} ms{extra})")
            elif notice:
                print(f"({notice})")
            del status
            return 0

    return asyncio.run(run())


def target_from_arg(text: str) -> Any:
    """A --source/--target value: a URI or keyword string, else a saved profile's name."""
    from kwtui.connection import ConnectTarget

    if "://" in text or "=" in text:
        return ConnectTarget.from_dsn(text)
    return ConnectTarget.resolve(profile=text)


class ProgressPrinter:
    """One progress line on a TTY (rewritten in place), JSON lines with --json, nothing otherwise."""

    def __init__(self, json_lines: bool) -> None:
        self.json = json_lines
        self.tty = sys.stderr.isatty()
        self.width = 0

    def __call__(self, ev: Any) -> None:
        if self.json:
            print(json.dumps({"event": "progress", "table": ev.table, "phase": ev.phase, "rows": ev.rows,
                              "bytes": ev.bytes, "rejects": ev.rejects, "rows_per_s": round(ev.rows_per_s),
                              "mb_per_s": round(ev.mb_per_s, 2), "eta_s": None if ev.eta is None else round(ev.eta, 1),
                              "elapsed_s": round(ev.elapsed, 2), "message": ev.message}), flush=True)
            return
        if not self.tty:
            return
        eta = "" if ev.eta is None else f"  ETA {int(ev.eta) // 60}:{int(ev.eta) % 60:02d}"
        rejects = f"  {ev.rejects:,} rejected" if ev.rejects else ""
        line = (f"{ev.table or 'transfer'}: {ev.rows:,} rows  {ev.rows_per_s:,.0f} rows/s  "
                f"{ev.mb_per_s:.1f} MB/s{eta}{rejects}")
        if ev.phase in ("create", "failed") and ev.message:
            line = f"{ev.table}: {ev.message}"
        pad = max(0, self.width - len(line))
        self.width = len(line)
        print("\r" + line + " " * pad, end="", file=sys.stderr, flush=True)

    def finish(self) -> None:
        if self.tty and not self.json and self.width:
            print(file=sys.stderr)


def _job_diagnosis(outcome: Any) -> Any:
    """The knowledge-base entry of a failed job: its first failed table's error, else the job's."""
    from kwtui.jobs import Journal
    from kwtui.troubleshoot import diagnose, rerun_diagnosis

    errors = [(t["error"], t.get("target")) for t in outcome.tables if t.get("error")] + (
        [(outcome.error, None)] if outcome.error else [])
    for error, target in errors:
        d = diagnose(error, context={"job": outcome.job_id})
        if d is not None:
            return rerun_diagnosis(d, Journal(), outcome.job_id, [target] if target else [])
    return None


def _print_job_outcome(outcome: Any, as_json: bool) -> int:
    # a job that did not complete says what it committed (above, per table), why, and how to go on
    nxt = None if outcome.status == "completed" else f"kwtui jobs resume {outcome.job_id}"
    d = _job_diagnosis(outcome) if outcome.status != "completed" else None
    if as_json:
        print(json.dumps({"event": "result", "job": outcome.job_id, "status": outcome.status,
                          "ok": outcome.status == "completed", "rows": outcome.rows, "error": outcome.error,
                          "tables": outcome.tables, "next": nxt,
                          **(d.as_dict() if d is not None else {"cause": None, "fix": None, "action": None})}))
    else:
        for t in outcome.tables:
            state = f"FAILED: {t['error']}" if t["error"] else t["status"]
            print(f"{t['name']} -> {t['target']} ({t['path']}): {t['rows']:,} rows, "
                  f"{t['done_batches']}/{t['batches']} batches, {state}")
        print(f"job {outcome.job_id} {outcome.status}: {outcome.rows:,} rows"
              + (" committed" if nxt else "") + (f" ({outcome.error})" if outcome.error else ""))
        if d is not None:
            print("\n".join(d.lines()))
        if nxt:
            print(f"to go on once the cause is fixed: {nxt}")
    return 0 if outcome.status == "completed" else 1


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
        async with _services(source, target) as (src, dst):
            check_pull(src, dst)
            options = TransferOptions(create_missing=not args.no_create)
            plans = await plan_transfer(src, dst, None if args.all else args.table, options)
            tables = [JobTable(name=p.label, target=f"{p.target_schema}.{p.target_name}", path=PATH_LABEL,
                               est_rows=p.source.table.est_rows or 0, batches=[]) for p in plans]
            job_id = journal.create("transfer", target_record(source), target_record(target),
                                    [p.label for p in plans], {"via_import": True}, tables)
            journal.start(job_id)
            creator = Transfer(src, dst, plans, options)
            done: list[Any] = []
            total = 0
            from kwtui.transfer.tables import TableLock

            for p in plans:
                journal.table_started(job_id, p.label, PATH_LABEL)
                lock = TableLock(dst, [(p.target_schema, p.target_name)], f"job {job_id}")
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
    from kwtui.jobs import Journal
    from kwtui.requests import TransferRequest
    from kwtui.transfer.resumable import JobRunner, create_transfer_job

    if args.workers < 1:
        raise UsageError("--workers must be at least 1")
    if args.via_import:
        return cmd_transfer_pull(args)
    if args.batch_rows < 1:
        raise UsageError("--batch-rows must be at least 1")
    if args.chunk_rows < 1:
        raise UsageError("--chunk-rows must be at least 1")
    source = target_from_arg(args.source)
    target = target_from_arg(args.target)
    printer = ProgressPrinter(args.json)
    # the request model's check and options (kwtui.requests); the run below stays here
    options = TransferRequest(None if args.all else tuple(args.table), workers=args.workers,
                              batch_rows=args.batch_rows, chunk_rows=args.chunk_rows, create_missing=not args.no_create,
                              if_exists=args.if_exists).check().options()
    journal = Journal()
    _collector_on()

    async def run() -> Any:
        async with _services(source, target) as (src, dst):
            plans: list[Any] = []
            job_id = await create_transfer_job(journal, src, dst, None if args.all else args.table, options,
                                               batch_rows=args.chunk_rows, plans_out=plans)
            if args.json:
                print(json.dumps({"event": "job", "job": job_id}), flush=True)
            elif sys.stderr.isatty():
                print(f"job {job_id} (kwtui jobs show {job_id}; resume after a crash: kwtui jobs resume {job_id})",
                      file=sys.stderr)
            from kwtui.snapshot import hold_if_possible

            holder = await hold_if_possible(src)  # every table of the job read as of one moment
            try:
                return await JobRunner(journal, job_id, src, dst, printer, plans=plans,
                                       snapshot=holder.exported if holder else None).run()
            finally:
                if holder is not None:
                    await holder.close()

    try:
        outcome = asyncio.run(run())
    finally:
        printer.finish()
    return _print_job_outcome(outcome, args.json)


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


async def _watched(svc: Any, stmt: Any, as_json: bool) -> Any:
    """A native statement, with its KWDB job's progress (SHOW JOBS) as JSON lines or a TTY line."""
    from kwtui.transfer.native_watch import run_native_watched

    def show(p: Any) -> None:
        frac = "?" if p.fraction is None else f"{p.fraction * 100:.0f}%"
        if as_json:
            print(json.dumps({"event": "native-progress", "job": p.job_id, "status": p.status,
                              "fraction_completed": p.fraction, "elapsed_s": round(p.elapsed, 1)}), flush=True)
        elif sys.stderr.isatty():
            print(f"\rKWDB job {p.job_id or '?'}: {p.status or 'running'} {frac}  "
                  f"(kwtui jobs native-pause|native-cancel {p.job_id or 'ID'})", end="", file=sys.stderr, flush=True)

    try:
        return await run_native_watched(svc, stmt, show)
    finally:
        if sys.stderr.isatty() and not as_json:
            print(file=sys.stderr)


async def _bytes_tables_left_out(svc: Any, database: str, exported: Sequence[str]) -> list[str]:
    """Tables with byte columns that a SQL-format database export left out of its answer.

    Recorded on the live node (V3.2.1): ``EXPORT INTO SQL ... FROM DATABASE`` writes only meta.sql for
    a table with a BYTES column, leaves it out of the answer and still succeeds."""
    from psycopg import sql

    res = await svc.query(sql.SQL(
        "SELECT DISTINCT table_schema, table_name FROM {}.information_schema.columns "
        "WHERE data_type ILIKE {} AND table_schema NOT IN ('information_schema', 'pg_catalog', 'kwdb_internal') "
        "ORDER BY 1, 2").format(sql.Identifier(database), sql.Literal("%byte%")))
    done = {t.split(".", 1)[-1] for t in exported}
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


def cmd_post_migrate(args: argparse.Namespace) -> int:
    from kwtui.aftercare import post_path, run_aftercare
    from kwtui.migration import MigrationPlan, open_services

    plan = MigrationPlan.load(args.plan)

    async def run() -> Any:
        src, dst = await open_services(plan, password_prompt=_terminal_password_prompt)
        try:
            return await run_aftercare(plan, src, dst, analyze=not args.no_analyze)
        finally:
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


def cmd_tui(args: argparse.Namespace) -> int:
    from kwtui.connection import ConnectTarget

    if args.reset and not args.demo:
        raise UsageError("--reset only goes with --demo")
    target = None
    demo = None
    kwdb_demo: Any = None
    if args.demo:
        if args.dsn or args.profile:
            raise UsageError("--demo opens its own server; drop --dsn/--profile")
        from kwtui.demo import start_demo
        from kwtui.embedded import exit_cleanly_on_sigterm

        exit_cleanly_on_sigterm()
        say = lambda m: print(f"kwtui demo: {m}", file=sys.stderr)  # noqa: E731
        demo = start_demo(reset=args.reset, progress=say)
        target = ConnectTarget.from_dsn(demo.conninfo("shop"))
        target.label = "demo (embedded PostgreSQL)"
        if args.kwdb:
            kwdb_demo = _start_kwdb_demo(args.reset, say)
    elif args.kwdb:
        raise UsageError("--kwdb goes with --demo")
    elif args.dsn or args.profile:
        target = ConnectTarget.resolve(dsn=args.dsn, profile=args.profile)
    # Loaded by name so the core keeps no import of the UI layer (see the import-linter contract).
    app_module = importlib.import_module("kwtui.screens.app")
    try:
        return int(app_module.run_app(target=target, demo=demo is not None, notice=demo.orphan if demo else "") or 0)
    finally:
        if demo is not None:
            demo.server.stop()
        if kwdb_demo is not None:
            print("kwtui demo: stopping KWDB", file=sys.stderr)
            kwdb_demo.stop()


def _start_kwdb_demo(reset: bool, say: Any) -> Any:
    """The KWDB half of the demo, and a saved profile for it; None (with the reason said) without KWDB."""
    from kwtui.demo import KWDB_PROFILE, start_kwdb_demo
    from kwtui.errors import KwtuiError
    from kwtui.profiles import ProfileStore, add_profile_from_dsn

    try:
        kw = start_kwdb_demo(reset=reset, progress=say)
    except KwtuiError as exc:
        say(f"no KWDB for this demo: {exc.one_line()}")
        return None
    add_profile_from_dsn(ProfileStore(), KWDB_PROFILE, kw.uri, replace=True)
    say(f"KWDB is up with rdb and tsdb: {kw.uri} (profile {KWDB_PROFILE}: connect with it, or migrate into it)")
    return kw


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors: argparse's own exit code
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    args.argv = list(argv) if argv is not None else sys.argv[1:]  # the export's manifest records the command
    debug = args.debug or bool(os.environ.get("KWTUI_DEBUG"))
    global fast_exit
    fast_exit = args.command in DATA_COMMANDS
    if not fast_exit:
        _collector_on()
    try:
        if args.command == "profile":
            return cmd_profile(args)
        if args.command == "query":
            return cmd_query(args)
        if args.command == "transfer":
            return cmd_transfer(args)
        if args.command == "jobs":
            return cmd_jobs(args)
        if args.command == "export":
            return cmd_export(args)
        if args.command == "import":
            return cmd_import(args)
        if args.command == "validate":
            return cmd_validate(args)
        if args.command == "plan":
            return cmd_plan(args)
        if args.command == "sync":
            return cmd_sync(args)
        if args.command == "run":
            return cmd_run(args)
        if args.command == "doctor":
            return cmd_doctor(args)
        if args.command == "post-migrate":
            return cmd_post_migrate(args)
        return cmd_tui(args)
    except KwtuiError as exc:
        if debug:
            traceback.print_exc()
        print(f"kwtui: {'usage error: ' if exc.exit_code == 2 else ''}{exc.one_line()}", file=sys.stderr)
        _explain(exc, args, usage=exc.exit_code == 2)
        return exc.exit_code
    except KeyboardInterrupt:
        print("kwtui: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # never a traceback unless asked
        import sqlite3

        if debug:
            traceback.print_exc()
        elif isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
            print("kwtui: the job journal is locked by another kwtui process that stands still in the middle of "
                  "a write (stopped with Ctrl+Z, or hung): let it go on or end it, then see `kwtui jobs list` "
                  "for what this command did", file=sys.stderr)
        else:
            print(f"kwtui: unexpected error: {type(exc).__name__}: {exc} (run with --debug for details)",
                  file=sys.stderr)
        _explain(exc, args)
        return 1


def _explain(exc: BaseException, args: argparse.Namespace, *, usage: bool = False) -> None:
    """The knowledge base's cause and fix under a failed command's error (kwtui.troubleshoot);
    with --json also one JSON object on stdout: error, cause, fix, action. A usage error is
    explained only where a flag fixes it (e.g. --fresh-dir)."""
    from kwtui.troubleshoot import diagnose

    d = diagnose(exc, context={"verb": args.command})
    if usage and (d is None or d.action is None or not d.action.flag):
        return
    if getattr(args, "json", False):
        message = exc.one_line() if isinstance(exc, KwtuiError) else str(exc)
        doc: dict[str, Any] = {"event": "error", "ok": False, "error": message,
                               "sqlstate": getattr(exc, "sqlstate", None), "kb": None, "cause": None, "fix": None,
                               "action": None}
        if d is not None:
            doc.update(d.as_dict())
        print(json.dumps(doc, ensure_ascii=False))
    if d is not None:
        print("\n".join(d.lines()), file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
