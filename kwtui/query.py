"""Running what the user typed: the read/write guard, then the statements, streaming reads.

Used by the SQL console and by ``kwtui query``. Read mode (the default) refuses writes,
adds ``LIMIT 20`` to a SELECT without a limit and sends every read through
:mod:`kwtui.guard` (the server parses it alone, the catalog judges its functions, it runs
in a READ ONLY transaction that is rolled back, under a statement timeout). Write mode runs
writes in autocommit after a confirmation the caller obtained (``confirmed=True``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from kwtui.connection import ConnectionService, ResultStream
from kwtui.errors import KwtuiError, UsageError
from kwtui.guard import DEFAULT_TIMEOUT, CheckedRead, ReadRefused, default_timeout
from kwtui.sqlsafety import EMPTY, READ, Guarded, classify, guard

#: rows fetched from a write statement's RETURNING at most
MAX_WRITE_ROWS = 1000


class WriteRefused(UsageError):
    """A write in read mode, or a write that was not confirmed (CLI exit code 2)."""


@dataclass
class Outcome:
    """One statement that ran to completion."""

    text: str
    verb: str
    status: str
    rowcount: int
    elapsed: float


@dataclass
class Execution:
    """What running an input produced: finished statements, and a stream for a final read."""

    guarded: Guarded
    outcomes: list[Outcome] = field(default_factory=list)
    stream: ResultStream | None = None
    columns: list[str] = field(default_factory=list)
    rows: list[tuple[object, ...]] = field(default_factory=list)  # RETURNING rows of a final write
    started: float = field(default_factory=time.perf_counter)
    checked: CheckedRead | None = None  # the read-mode guard's verdict on the final read

    @property
    def notice(self) -> str | None:
        return self.guarded.notice


class QueryRunner:
    def __init__(self, service: ConnectionService, *, limit: int = 20, timeout: float | None | str = "default") -> None:
        self.service = service
        self.limit = limit
        self.auto_limit = True
        #: statement timeout of read mode, in seconds (None or 0: none); by default 300 s or
        #: KWTUI_STATEMENT_TIMEOUT
        self.timeout: float | None = default_timeout() if timeout == "default" else timeout  # type: ignore[assignment]
        #: the statement ``run_reads`` is on (where an error points), else None
        self.current: str | None = None

    def prepare(self, text: str, *, write_mode: bool) -> Guarded:
        """Classify; raise WriteRefused when the input may not run in this mode."""
        if not text.strip():
            raise UsageError("nothing to run: the SQL text is empty")
        guarded = guard(text, limit=self.limit) if self.auto_limit else _no_limit(text)
        if guarded.is_write and not write_mode:
            raise WriteRefused(guarded.refusal or "this is a write: switch to write mode to run it")
        return guarded

    async def run(self, guarded: Guarded, *, write_mode: bool, confirmed: bool = False,
                  chunk: int = 500) -> Execution:
        """Run a prepared input. Writes need ``write_mode`` and ``confirmed``."""
        if guarded.is_write and not write_mode:
            raise WriteRefused(guarded.refusal or "this is a write: switch to write mode to run it")
        if guarded.is_write and not confirmed:
            raise WriteRefused(f"not confirmed: {guarded.summary}")
        ex = Execution(guarded)
        statements = list(guarded.statements)
        if not statements:
            raise UsageError("nothing to run: only comments")
        single = len(statements) == 1
        for i, st in enumerate(statements):
            last = i == len(statements) - 1
            text = guarded.sql if single else st.text
            if last and st.kind == READ and not write_mode:
                # read mode: the guard decides (server parse, catalog), then READ ONLY + rollback
                checked = await self.service.check_read(st.text, limit=self.limit if self.auto_limit else None)
                ex.checked = checked
                ex.stream = await self.service.open_stream(checked.sql, read_only=True, chunk=chunk,
                                                           timeout=self.timeout or None, cleanup=checked.cleanup)
                ex.columns = ex.stream.columns
                break
            if last and st.kind == READ:
                ex.stream = await self.service.open_stream(text, chunk=chunk)
                ex.columns = ex.stream.columns
                break
            res = await self.service.query(text, max_rows=MAX_WRITE_ROWS if last else 0, retry=False)
            ex.outcomes.append(Outcome(st.text, st.verb, res.status, res.rowcount, res.elapsed))
            if last and res.columns:
                ex.columns, ex.rows = res.columns, res.rows
        return ex

    def prepare_reads(self, text: str) -> list[Guarded]:
        """Read mode's "Run all": every statement classified on its own, in order.

        Each piece goes through the same guard as a lone statement (one statement per
        check, never weakened); ``WriteRefused`` names the first one read mode refuses,
        before anything runs.
        """
        statements = read_statements(text)
        if len(statements) < 2:
            return [self.prepare(text, write_mode=False)]
        out = []
        for number, st in enumerate(statements, 1):
            try:
                out.append(self.prepare(st, write_mode=False))
            except WriteRefused as exc:
                raise WriteRefused(_named(number, len(statements), st, exc.message), hint=exc.hint) from None
        return out

    async def run_reads(self, steps: list[Guarded], *, chunk: int = 500) -> tuple[list[ReadStep], Execution]:
        """Run prepared reads one after another, each through the server-side read guard.

        Every statement but the last gives its first page (counted, then closed); the last
        one's ``Execution`` is returned with its stream open. Stops at the first statement
        the guard or the server refuses, naming it (``ReadRefused`` / the query's error);
        ``current`` is then that statement.
        """
        done: list[ReadStep] = []
        total = len(steps)
        for number, g in enumerate(steps, 1):
            text = g.statements[0].text if g.statements else g.sql
            self.current = text
            try:
                ex = await self.run(g, write_mode=False, chunk=chunk)
            except ReadRefused as exc:
                raise ReadRefused(_named(number, total, text, exc.message), by=exc.by, hint=exc.hint) from None
            except KwtuiError as exc:
                if total > 1:
                    exc.message = _named(number, total, text, exc.message)
                raise
            if number == total:
                return done, ex
            rows, more = 0, False
            if ex.stream is not None:
                try:
                    rows = len(await ex.stream.next_page(chunk))
                    more = not ex.stream.done
                finally:
                    await ex.stream.close()
            done.append(ReadStep(number, text, rows, more, time.perf_counter() - ex.started))
        raise UsageError("nothing to run: only comments")


@dataclass
class ReadStep:
    """One statement of a read-mode "Run all" that ran: its text and how many rows it gave."""

    number: int
    text: str
    rows: int
    more: bool  # the statement had more rows than were fetched (only the first page is read)
    elapsed: float

    def line(self) -> str:
        return f"#{self.number} {self.rows:,}{'+' if self.more else ''} row{'s' * (self.rows != 1 or self.more)}"


def short_statement(text: str, width: int = 40) -> str:
    """A statement on one line, cut at ``width`` characters, to name it in a message."""
    one = " ".join(text.split())
    return one if len(one) <= width else one[: width - 1] + "…"


def read_statements(text: str) -> list[str]:
    """The statements of ``text`` (comment-only pieces dropped), each to be guarded on its own."""
    return [st.text for st in classify(text) if st.kind != EMPTY]


def _named(number: int, total: int, text: str, message: str) -> str:
    return f"statement {number} of {total} ({short_statement(text)}): {message}"


def _no_limit(text: str) -> Guarded:
    """The guard's classification without the automatic LIMIT (console toggle)."""
    from dataclasses import replace

    g = guard(text)
    if g.limit_added:
        g = replace(g, sql=text, limit_added=False, notice=None)
    return g


async def save_csv(service: ConnectionService, text: str, path: str, *, read_only: bool = True,
                   header: bool = True, chunk: int = 5000, timeout: float | None = DEFAULT_TIMEOUT,
                   limit: int | None = None) -> int:
    """Run ``text`` again and stream its rows to a CSV file (NULL empty, '' quoted). Returns rows.

    ``read_only``: through the read-mode guard first (``limit`` as the console's automatic one).
    """
    from kwtui.fmt import csv_line

    if read_only:
        checked = await service.check_read(text, limit=limit)
        stream = await service.open_stream(checked.sql, read_only=True, chunk=chunk, timeout=timeout or None,
                                           cleanup=checked.cleanup)
    else:
        stream = await service.open_stream(text, chunk=chunk)
    rows = 0
    try:
        with open(path, "w", encoding="utf-8", newline="") as fh:
            if header and stream.columns:
                fh.write(csv_line(stream.columns))
            while not stream.done:
                page = await stream.next_page(chunk)
                fh.writelines(csv_line(r) for r in page)
                rows += len(page)
    finally:
        await stream.close()
    return rows


def statement_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of each statement of ``text`` (sqlparse's split, located in the text)."""
    import sqlparse

    spans: list[tuple[int, int]] = []
    pos = 0
    for part in sqlparse.split(text):
        stripped = part.strip()
        if not stripped:
            continue
        start = text.find(stripped, pos)
        if start < 0:  # sqlparse normalised something: fall back to a rough cursor
            start = pos
        end = start + len(stripped)
        spans.append((start, end))
        pos = end
    return spans


def statement_at(text: str, offset: int) -> str:
    """The statement under the cursor: the one whose span holds ``offset``, else the one before it."""
    spans = statement_spans(text)
    if not spans:
        return ""
    chosen = spans[0]
    for start, end in spans:
        if start <= offset:
            chosen = (start, end)
    return text[chosen[0]:chosen[1]]
