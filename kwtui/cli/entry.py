"""The ``kwtui`` command: no subcommand opens the TUI; subcommands run headless.

One module per subcommand (kwtui/cli/<command>.py), each registering its own options next to its
handler. Exit codes: 0 success, 1 runtime error (one clear line on stderr), 2 usage error.
``--debug`` shows the traceback of a runtime error. Importing this package does not import
Textual: the TUI is loaded only when it is about to run."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from kwtui import __version__
from kwtui.cli import doctor as _doctor
from kwtui.cli import export as _export
from kwtui.cli import import_ as _import
from kwtui.cli import jobs as _jobs
from kwtui.cli import plan as _plan
from kwtui.cli import post_migrate as _post_migrate
from kwtui.cli import profile as _profile
from kwtui.cli import query as _query
from kwtui.cli import run as _run
from kwtui.cli import sync as _sync
from kwtui.cli import transfer as _transfer
from kwtui.cli import validate as _validate
from kwtui.cli.common import (
    DATA_COMMANDS,
    _add_target_args,
    _collector_on,
    _Parser,
)
from kwtui.errors import KwtuiError, UsageError

#: subcommand -> (register its options, run it)
COMMANDS: dict[str, tuple[Callable[[Any], None], Callable[[argparse.Namespace], int]]] = {
    "profile": (_profile.register, _profile.cmd_profile),
    "transfer": (_transfer.register, _transfer.cmd_transfer),
    "jobs": (_jobs.register, _jobs.cmd_jobs),
    "export": (_export.register, _export.cmd_export),
    "import": (_import.register, _import.cmd_import),
    "validate": (_validate.register, _validate.cmd_validate),
    "plan": (_plan.register, _plan.cmd_plan),
    "sync": (_sync.register, _sync.cmd_sync),
    "run": (_run.register, _run.cmd_run),
    "doctor": (_doctor.register, _doctor.cmd_doctor),
    "post-migrate": (_post_migrate.register, _post_migrate.cmd_post_migrate),
    "query": (_query.register, _query.cmd_query),
}


def build_parser() -> argparse.ArgumentParser:
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
    for register, _handler in COMMANDS.values():
        register(sub)
    return parser


#: set by main() when the command that ran may end the process at once
fast_exit = False


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
        if args.command in COMMANDS:
            return COMMANDS[args.command][1](args)
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
