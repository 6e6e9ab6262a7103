"""Jobs: every journaled transfer, live progress of the selected one, and its controls."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from rich.markup import escape
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.coordinate import Coordinate
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Label, RichLog, Sparkline, Static

from kwtui.errors import KwtuiError
from kwtui.jobs import COMPLETED, FAILED, INTERRUPTED, PAUSED, RUNNING, Job, Journal
from kwtui.rates import RateWindow
from kwtui.screens.base import KwModal, KwScreen
from kwtui.screens.workers import guarded, kwtui_app

REFRESH = 1.0
HISTORY = 60

STATUS_STYLE = {RUNNING: "bold green", COMPLETED: "green", FAILED: "bold red", INTERRUPTED: "bold yellow",
                PAUSED: "yellow", "cancelled": "dim", "queued": "cyan"}


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def bar(done: int, total: int, width: int = 24) -> str:
    """A text progress bar with its percentage (deterministic, no timers)."""
    total = max(1, total)
    frac = min(1.0, max(0.0, done / total))
    full = int(frac * width)
    return f"[green]{'━' * full}[/][dim]{'━' * (width - full)}[/] {frac * 100:5.1f}%"


def table_state(job: Job, table: Any) -> str:
    """A table's state as the job's controls left it: a table still marked running in a job that
    was paused, cancelled or whose process is gone shows the job's state, not "running"."""
    if table.status == RUNNING and job.status != RUNNING:
        return job.status
    return str(table.status)


def clock(at: float) -> str:
    """A log line's time of day (tests replace it for stable snapshots)."""
    return time.strftime("%H:%M:%S", time.localtime(at))


def rate(value: float, unit: str) -> str:
    """Rates for the screen (tests replace it for stable snapshots)."""
    if unit == "MB/s":
        return f"{value:,.1f} MB/s"
    return f"{value:,.0f} {unit}"


class Throughput(Sparkline):
    """Rows/s over the last minute. Renders nothing while it has no width (Textual's sparkline
    divides by its width)."""

    def render(self) -> Any:
        if self.size.width <= 0:
            return ""
        return super().render()


@dataclass
class Sample:
    at: float
    rows: int
    bytes: int


class RejectsRead(Message):
    def __init__(self, path: str, lines: list[str], more: bool) -> None:
        super().__init__()
        self.path, self.lines, self.more = path, lines, more


class RejectsModal(KwModal[None]):
    """The reject file of a job: file:line: column: reason, then the raw line."""

    BINDINGS = [Binding("escape", "dismiss_none", "Close"), Binding("q", "dismiss_none", "Close", show=False)]
    DEFAULT_CSS = """
    RejectsModal { align: center middle; }
    #rejects-box { width: 95%; height: 90%; border: thick $warning; background: $panel; padding: 0 1; }
    #rejects-log { height: 1fr; }
    """

    def __init__(self, path: str, lines: list[str], more: bool) -> None:
        super().__init__()
        self.path, self.lines, self.more = path, lines, more

    def compose(self) -> ComposeResult:
        with Vertical(id="rejects-box"):
            yield Label(f"Rejected rows: {escape(self.path)}", classes="title")
            yield RichLog(id="rejects-log", wrap=False, markup=False, highlight=False)
            yield Static("(first lines only: open the file for the rest)" if self.more else "Esc closes.",
                         classes="muted")

    def on_mount(self) -> None:
        log = self.query_one(RichLog)
        for line in self.lines:
            log.write(Text(line))

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


def route(job: Job) -> str:
    return f"{job.source.get('label', '?')} → {job.target.get('label', '?')}"


#: the first five columns' widths, and each column's padding (1 each side)
_FIXED = 4 + 11 + 8 + 11 + 7 + 7 * 2


def route_tables_widths(jobs: list[Job], screen_width: int) -> tuple[int, int]:
    """Widths of the From → To and Tables columns: what they hold when it fits the terminal, else
    the room left shared in proportion (the detail pane shows both in full, wrapped)."""
    want_route = max([len("From → To")] + [len(route(j)) for j in jobs])
    want_tables = max([len("Tables")] + [len(", ".join(j.objects)) for j in jobs])
    room = max(16, screen_width - 2 - 1 - _FIXED)  # the border, the scrollbar
    if want_route + want_tables <= room:
        return want_route, want_tables
    r = max(8, min(want_route, room * want_route // (want_route + want_tables)))
    return r, max(8, room - r)


class JobsLoaded(Message):
    def __init__(self, jobs: list[Job], logs: list[tuple[float, str, str]]) -> None:
        super().__init__()
        self.jobs, self.logs = jobs, logs


class JobsScreen(KwScreen[None]):
    HELP_TITLE = "jobs"
    DEFAULT_CSS = """
    #jobs-body { height: 1fr; }
    #jobs-table { height: 7; border: round $primary; border-title-color: $accent; }
    #job-detail { height: 1fr; }
    #job-progress { width: 1fr; border: round $primary; border-title-color: $accent; padding: 0 1; }
    #job-log { width: 40%; border: round $primary; border-title-color: $accent; }
    #job-summary { height: auto; }
    #job-overall { margin: 0 0 0 0; }
    #job-spark { height: 2; margin: 0 0 1 0; }
    #job-tables { height: auto; }
    """
    BINDINGS = [
        Binding("c", "cancel_job", "Cancel"),
        Binding("p", "pause_job", "Pause"),
        Binding("r", "resume_job", "Resume"),
        Binding("v", "view_rejects", "Rejects"),
        Binding("e", "explain", "Why it failed: cause, fix and its key", show=False),
        Binding("k", "native_jobs", "KWDB jobs"),
        Binding("f5", "refresh", "Refresh"),
        Binding("escape", "app.pop_screen", "Back"),
    ]

    def __init__(self, journal: Journal | None = None, *, auto_refresh: bool = True) -> None:
        super().__init__()
        self.journal = journal or Journal()
        self.live = auto_refresh  # (not "auto_refresh": that is a Textual widget setting)
        self.jobs: list[Job] = []
        self.selected: int | None = None
        self.samples: dict[int, deque[Sample]] = {}
        self.windows: dict[int, RateWindow] = {}
        self.widths: tuple[int, int] = (0, 0)  # of the From → To and Tables columns

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="jobs-body"):
            table: DataTable[Any] = DataTable(id="jobs-table", cursor_type="row", zebra_stripes=True)
            table.border_title = "Jobs"
            yield table
            with Horizontal(id="job-detail"):
                with VerticalScroll(id="job-progress") as left:
                    left.border_title = "Progress"
                    yield Static("", id="job-summary")
                    yield Static("", id="job-overall")
                    yield Throughput([], id="job-spark")
                    yield Static("", id="job-tables")
                log = RichLog(id="job-log", wrap=True, markup=True, min_width=10)  # wrap at the pane, not 78
                log.border_title = "Log"
                yield log
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Jobs"
        self.action_refresh()
        if self.live:
            self.set_interval(REFRESH, self.action_refresh)
        self.query_one("#jobs-table", DataTable).focus()

    # -- loading -----------------------------------------------------------------------------

    def action_refresh(self) -> None:
        self.load()

    @guarded("Cannot load the jobs", exclusive=True, group="jobs", thread=True)
    def load(self) -> None:
        try:
            jobs = self.journal.jobs(100)
            job_id = self.selected if self.selected is not None else (jobs[0].id if jobs else None)
            logs = self.journal.logs(job_id, 200) if job_id is not None else []
        except Exception as exc:  # the journal is a local file: say what is wrong, do not die
            self.app.call_from_thread(kwtui_app(self).show_error, "Cannot read the job journal",
                                      KwtuiError(f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(JobsLoaded(jobs, logs))

    @on(JobsLoaded)
    def on_jobs_loaded(self, message: JobsLoaded) -> None:
        now = time.time()
        self.jobs = message.jobs
        for job in message.jobs:
            hist = self.samples.setdefault(job.id, deque(maxlen=HISTORY))
            if hist and (job.rows < hist[-1].rows or job.bytes < hist[-1].bytes):
                hist.clear()  # resumed from a checkpoint: the counters went back
            if job.status == RUNNING:
                self.windows.setdefault(job.id, RateWindow()).add(now, job.rows, job.bytes)
            if not hist or hist[-1].rows != job.rows or job.status == RUNNING:
                hist.append(Sample(now, job.rows, job.bytes))
        table = self.query_one("#jobs-table", DataTable)
        cursor = table.cursor_row
        widths = route_tables_widths(message.jobs, self.app.size.width)
        if widths != self.widths or not table.columns:  # the last two columns size to content and terminal
            self.widths = widths
            table.clear(columns=True)
            for label, width in (("Job", 4), ("Status", 11), ("Kind", 8), ("Rows", 11), ("Elapsed", 7),
                                 ("From → To", widths[0]), ("Tables", widths[1])):
                table.add_column(label, width=width)
        else:
            table.clear()
        for job in message.jobs:
            status = Text(job.status, style=STATUS_STYLE.get(job.status, ""))
            table.add_row(str(job.id), status, job.kind, f"{job.rows:,}", duration(job.elapsed),
                          Text(route(job), overflow="ellipsis", no_wrap=True),
                          Text(", ".join(job.objects), overflow="ellipsis", no_wrap=True), key=str(job.id))
        if message.jobs:
            if self.selected is None:
                self.selected = message.jobs[0].id
            index = next((i for i, j in enumerate(message.jobs) if j.id == self.selected), min(cursor, len(message.jobs) - 1))
            table.cursor_coordinate = Coordinate(max(0, index), 0)
        self.show_detail(message.logs)

    @on(DataTable.RowHighlighted, "#jobs-table")
    def on_job_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value is not None:
            job_id = int(event.row_key.value)
            if job_id != self.selected:
                self.selected = job_id
                self.load()

    # -- detail ------------------------------------------------------------------------------

    def current(self) -> Job | None:
        return next((j for j in self.jobs if j.id == self.selected), None)

    def rates(self, job: Job) -> tuple[float, float]:
        """While it runs: over a moving window (kwtui.rates), so batch commits do not swing it to 0;
        else the job's average. Never negative."""
        window = self.windows.get(job.id)
        if job.status == RUNNING and window is not None:
            r = window.rates()
            if r is not None:
                return r
        if job.elapsed:
            return max(0.0, job.rows / job.elapsed), max(0.0, job.bytes / 1e6 / job.elapsed)
        return 0.0, 0.0

    def show_detail(self, logs: list[tuple[float, str, str]]) -> None:
        job = self.current()
        summary = self.query_one("#job-summary", Static)
        box = self.query_one("#job-tables", Static)
        if job is None:
            summary.update("No jobs yet. `kwtui transfer` starts one; it is journaled before any data moves.")
            return
        rows_s, mb_s = self.rates(job)
        total = sum(t.est_rows or 0 for t in job.tables) or None
        eta = None
        if job.status == RUNNING and total and rows_s > 0:
            eta = max(0.0, (total - job.rows) / rows_s)  # the windowed rate: kept between batches
        lines = [
            f"[b]job {job.id}[/b] {escape(job.kind)} · [{STATUS_STYLE.get(job.status, '')}]{job.status}[/]"
            f" · attempt {job.attempts}",
            escape(route(job)),  # in full here: the list's columns may be cut at 80x24
            f"{job.rows:,} rows · {rate(rows_s, 'rows/s')} · {rate(mb_s, 'MB/s')} · elapsed {duration(job.elapsed)}"
            + (f" · ETA {duration(eta)}" if eta is not None else ""),
        ]
        if job.kind == "import":  # every record read is loaded or rejected
            lines.append(f"{job.records:,} records read = {job.rows:,} rows loaded + {job.rejects:,} lines rejected")
        elif job.rejects:
            lines.append(f"[yellow]{job.rejects:,} rejected rows[/]")
        if job.error:
            lines.append(f"[red]{escape(job.error)}[/]")
        if job.status == INTERRUPTED:
            lines.append("[yellow]its process is gone: r resumes it where it stopped[/]")
        summary.update("\n".join(lines))
        batches = sum(len(t.batches) for t in job.tables) or 1
        done = sum(len(t.done_batches) for t in job.tables)
        self.query_one("#job-overall", Static).update(
            bar(done if job.status != COMPLETED else batches, batches) + f" {done}/{batches} batches")
        hist = self.samples.get(job.id) or deque()
        speeds = [max(0.0, (b.rows - a.rows) / (b.at - a.at)) for a, b in zip(list(hist), list(hist)[1:], strict=False)
                  if b.at > a.at]
        self.query_one("#job-spark", Throughput).data = speeds if len(speeds) >= 2 else []
        self._table_bars(box, job)
        log = self.query_one("#job-log", RichLog)
        log.clear()
        for at, level, message in logs:
            style = {"error": "red", "warning": "yellow"}.get(level, "dim")
            log.write(f"[{style}]{clock(at)}[/] {escape(message)}")

    def _table_bars(self, box: Static, job: Job) -> None:
        """One line of name, state and rows, then a bar, per table: a single widget updated in
        place (mounting rows with ids per table raced the removal of the previous job's rows)."""
        lines = []
        for t in job.tables:
            err = f" [red]{escape(t.error)}[/]" if t.error else ""
            lines.append(f"{escape(t.name)} · {table_state(job, t)} · {t.rows:,} rows{err}")
            lines.append(bar(len(t.done_batches), len(t.batches)) + f" {len(t.done_batches)}/{len(t.batches)}")
        box.update("\n".join(lines))

    def on_resize(self) -> None:
        if self.is_mounted:
            self.load()

    # -- actions -----------------------------------------------------------------------------

    def _request(self, what: str) -> None:
        job = self.current()
        if job is None:
            return
        try:
            self.journal.request(job.id, what)
        except KwtuiError as exc:
            kwtui_app(self).show_error(f"Cannot {what} job {job.id}", exc)
            return
        self.notify(f"job {job.id}: {what} requested")
        self.load()

    def action_cancel_job(self) -> None:
        self._request("cancel")

    def action_pause_job(self) -> None:
        self._request("pause")

    def action_native_jobs(self) -> None:
        from kwtui.screens.native_jobs import NativeJobsScreen

        self.app.push_screen(NativeJobsScreen(getattr(self.app, "service", None)))

    def action_view_rejects(self) -> None:
        job = self.current()
        path = (job.options or {}).get("reject_file") if job is not None else None
        if job is None or not job.rejects or not path:
            self.notify("This job rejected no rows", severity="information")
            return
        self.read_rejects(str(path))

    @guarded("Cannot read the reject file", thread=True, group="rejects")
    def read_rejects(self, path: str) -> None:
        from kwtui.jobs import read_head

        try:
            lines, more = read_head(path)
        except OSError as exc:
            self.app.call_from_thread(kwtui_app(self).show_error, "Cannot read the reject file",
                                      KwtuiError(f"{path}: {exc.strerror or exc}"))
            return
        self.post_message(RejectsRead(path, lines, more))

    @on(RejectsRead)
    def on_rejects_read(self, message: RejectsRead) -> None:
        self.app.push_screen(RejectsModal(message.path, message.lines, message.more))

    def action_explain(self) -> None:
        """e: the failed job's cause and fix from the knowledge base; its action's key applies it."""
        from kwtui.troubleshoot import job_diagnosis

        job = self.current()
        errors = [t.error for t in job.tables if t.error] if job is not None else []
        if job is None or not (job.error or errors):
            self.notify("this job has no error", severity="information")
            return
        try:
            d = job_diagnosis(self.journal, job.id)
        except KwtuiError as exc:
            kwtui_app(self).show_error("Cannot read the job journal", exc)
            return
        kwtui_app(self).show_error(f"Job {job.id} {job.status}", errors[0] if errors else str(job.error),
                                   diagnosis=d, on_fix=lambda d, job_id=job.id: self.apply_fix(d, job_id))

    def apply_fix(self, d: Any, job_id: int) -> None:
        """The action of a diagnosis, applied: resume the job (or the earlier one it names), open the
        rejects; others are a flag of the command that failed, which is said."""
        from kwtui.troubleshoot import action_job

        action = d.action
        if action is None:
            return
        if action.id == "resume-job":
            target = action_job(d, job_id)
            kwtui_app(self).resume_job(target)
            self.notify(f"job {target}: resuming (failed and unfinished tables run again)")
        elif action.id == "open-rejects":
            self.action_view_rejects()
        else:
            self.notify(f"run the command again with {action.flag}" if action.flag else str(action.command),
                        markup=False)

    def action_resume_job(self) -> None:
        job = self.current()
        if job is None:
            return
        if job.status in (RUNNING, COMPLETED, "cancelled"):
            self.notify(f"job {job.id} is {job.status}: nothing to resume", severity="warning")
            return
        if job.kind not in ("transfer", "import"):
            self.notify(f"job {job.id} is an {job.kind}: run it again instead", severity="warning")
            return
        kwtui_app(self).resume_job(job.id)
        self.notify(f"job {job.id}: resuming (failed and unfinished tables run again)")
