"""`kwtui query`: run SQL; reads by default through the read guard, writes with --write."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from kwtui.cli.common import (
    _add_target_args,
    _confirm,
    _seconds,
    _service,
    format_table,
)
from kwtui.errors import UsageError


def register(sub: Any) -> None:
    """The `query` subcommand and its options."""
    q = sub.add_parser("query", help="run SQL: reads by default; writes need --write (and --yes or a confirmation)")
    _add_target_args(q, sub=True)
    q.add_argument("--json", action="store_true", help='print {"columns": [...], "rows": [[...]], "notice": ...}')
    q.add_argument("--write", action="store_true", help="write mode: allow statements that change data or settings")
    q.add_argument("--yes", "-y", action="store_true", help="with --write: do not ask for confirmation")
    q.add_argument("--statement-timeout", type=_seconds, default=None, metavar="SECONDS",
                   help="read mode's statement timeout in seconds, 0: none (default 300, or "
                        "KWTUI_STATEMENT_TIMEOUT, which sets the console's too)")
    q.add_argument("sql", help="the SQL text")


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

