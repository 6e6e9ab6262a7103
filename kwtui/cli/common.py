"""What the kwtui commands share: argument groups, prompts, services, progress and outcome printing."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import sys
import threading
from collections.abc import AsyncIterator, Sequence
from typing import Any


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


def _collector_on() -> None:
    """Turn the garbage collector back on, once the imports are done (``python -m kwtui``
    starts with it off). The objects that exist by now live as long as the process: frozen,
    no collection has to walk them again."""
    import gc

    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def _confirm(summary: str) -> bool:
    if not sys.stdin.isatty():
        return False
    print(f"About to run: {summary}", file=sys.stderr)
    answer = input("Proceed? [y/N] ").strip().lower()
    return answer in ("y", "yes")


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

