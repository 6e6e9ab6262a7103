"""The phased-migration checklist: a saved plan's phases (preflight, the six of the move, the
post-migration tasks), what each did, and running them; a rehearsal on a sample (r).

The screen owns no SQL: a worker opens the plan's services (:func:`kwtui.migration.open_services`),
runs one phase at a time through :class:`kwtui.migration.MigrationRunner`, and posts past-tense
messages; the handlers redraw the checklist from the state the runner keeps beside the plan
(``PLAN.state.json``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.coordinate import Coordinate
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Label, OptionList, Select, Static
from textual.worker import Worker

from kwtui import migration
from kwtui.errors import KwtuiError
from kwtui.migration import (
    DONE,
    FAILED,
    PENDING,
    PHASE_KEYS,
    PHASES,
    RUNNING,
    SKIPPED,
    MigrationPlan,
    MigrationRunner,
    MigrationState,
    PhaseRecord,
)
from kwtui.runbook import ROLLBACK, render_runbook
from kwtui.screens.base import KwScreen
from kwtui.screens.modals import ConfirmModal, PathPrompt
from kwtui.screens.workers import guarded, kwtui_app
from kwtui.transfer.tables import IF_EXISTS_CHOICES

#: the listener's messages reach the status line at most this often (seconds)
STATUS_EVERY = 0.1

ICONS = {DONE: ("✓", "bold green"), FAILED: ("✗", "bold red"), SKIPPED: ("–", "dim"),
         RUNNING: ("⟳", "bold yellow"), PENDING: ("○", "")}

CUTOVER_QUESTION = ("Stop the application's writes to the source now, then run the cutover?\n\n"
                    "It runs a final sync (with delete detection) and a validation, and says what to change "
                    "in the application's connection string. Answer yes only once the writes are stopped.")


def took(seconds: float) -> str:
    """A phase's time taken, short (the snapshots use fixed values from a hand-written state)."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    s = int(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def when(stamp: str, since: str = "") -> str:
    """An ISO time stamp as 'YYYY-MM-DD HH:MM:SS UTC'; only the time when ``since`` is the same day."""
    text = stamp.replace("T", " ").removesuffix("+00:00")
    if since and since[:10] == stamp[:10]:
        return text[11:]
    return text + (" UTC" if stamp.endswith("+00:00") else "")


# -- messages (posted by the worker; the handlers own the UI) ------------------------------------


class PhaseStarted(Message):
    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key


class PhaseProgressed(Message):
    def __init__(self, key: str, text: str) -> None:
        super().__init__()
        self.key, self.text = key, text


class PhaseFinished(Message):
    def __init__(self, record: PhaseRecord) -> None:
        super().__init__()
        self.record = record


class PhasesStopped(Message):
    """The worker ended: after its phases, or cancelled, or on an error (then ``error`` says why)."""

    def __init__(self, *, cancelled: bool = False, error: KwtuiError | None = None) -> None:
        super().__init__()
        self.cancelled, self.error = cancelled, error


class RehearsalFinished(Message):
    def __init__(self, result: Any) -> None:
        super().__init__()
        self.result = result


class RunbookWritten(Message):
    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path


# -- the detail of one phase ------------------------------------------------------------------


def phase_detail(plan: MigrationPlan, state: MigrationState, key: str, *, running: bool = False) -> Text:
    """What the phase does, what ran (details, statements, data) and how to roll it back."""
    rec = state.phase(key)
    n = migration.phase_number(key)
    what = PHASES[PHASE_KEYS.index(key)][2]
    out = Text()
    shown = RUNNING if running else rec.state
    icon, style = ICONS.get(shown, ("?", ""))
    out.append(f"{icon} Phase {n}: {rec.title}", style="bold")
    out.append(f"  ({shown}" + (f", {rec.runs} runs" if rec.runs > 1 else "") + ")\n", style=style or "dim")
    out.append(f"{what[0].upper()}{what[1:]}.\n", style="italic")
    checks = checklist_lines(key, rec)
    if checks:
        out.append("Checklist\n", style="bold")
        for line, line_style in checks:
            out.append(f"  {line}\n", style=line_style)
    advice = list(rec.data.get("advice") or []) if key == "cutover" and rec.state == DONE else []
    if advice:
        out.append("\nSwitch the application now\n", style="bold reverse green")
        for line in advice:
            out.append(line + "\n", style="bold" if line.startswith("  postgresql://") else "")
    if rec.summary:
        out.append("\n")
        out.append(rec.summary + "\n", style="bold red" if rec.state == FAILED else "")
    if rec.started:
        out.append(f"Ran {when(rec.started)} to {when(rec.finished, rec.started) if rec.finished else '…'}"
                   + (f", {took(rec.seconds)}" if rec.finished else "")
                   + (f" (run {rec.runs})" if rec.runs > 1 else "") + "\n", style="dim")
    elif rec.state == PENDING and not running:
        planned = _plan_lines(plan, key)
        if planned:
            out.append("\nWhat it will do\n", style="bold")
            for line in planned:
                out.append(f"  {line}\n")
    details = [d for d in rec.details if d not in advice] if key not in ("preflight", "post-migration") else []
    if details:
        out.append("\nWhat ran\n", style="bold")
        for d in details:
            out.append(f"  {d}\n")
    data = _data_lines(key, rec)
    if data:
        out.append("\nData\n", style="bold")
        for line, line_style in data:
            out.append(f"  {line}\n", style=line_style)
    if rec.statements:
        out.append("\nStatements\n", style="bold")
        for s in rec.statements:
            out.append(s.rstrip() + "\n", style="cyan")
    created = ", ".join(reversed(state.phase("schema").data.get("created", []))) or "(none)"
    job = state.phase("historical").data.get("job", "ID")
    out.append("\nRollback\n", style="bold")
    out.append(ROLLBACK[key].format(created=created, job=job).replace("`", ""))
    return out


def _plan_lines(plan: MigrationPlan, key: str) -> list[str]:
    """What a pending phase will do, from the plan."""
    tables = plan.included
    why = MigrationRunner(plan, MigrationState(plan.id), None, None).skip_reason(key)  # plan only: no I/O
    if why is not None:
        return [f"nothing: it will be skipped ({why})"]
    if key == "preflight":
        return ["connectivity, versions, clock skew, privileges, disk space,",
                "keys, TS candidates, source settings, encodings (read-only)",
                "p runs it; w accepts its warnings (never its blockers)"]
    if key == "post-migration":
        return [f"ANALYZE / CREATE STATISTICS on {len(tables)} table(s)",
                "indexes and keys against the plan; sequence positions",
                "rollback plan, connection strings, monitoring queries: the runbook",
                "t runs it"]
    if key == "schema":
        dbs = list(dict.fromkeys(t.database for t in tables if t.database))
        return [f"create TS database {db}" for db in dbs] + [
            f"create {t.database + '.' if t.database else ''}{t.target}" + (" (time-series)" if t.ts else "")
            for t in tables]
    if key == "historical":
        lines = [f"{t.table} -> {t.database + '.' if t.database else ''}{t.target}: {t.rows:,} rows, {t.method}, "
                 f"{t.workers} worker(s)" for t in tables]
        post = sum(len(t.post_load) for t in tables)
        if post:
            lines.append(f"then {post} index/key statement(s)")
        if plan.eta is not None and plan.eta.total_s:
            lines.append(f"ETA about {took(plan.eta.total_s)} (measured {plan.eta.rows_per_s:,.0f} rows/s)")
        return lines
    if key in ("capture", "catchup"):
        return [f"{t.table}: by {t.watermark}" if t.watermark else f"{t.table}: not synced (no watermark)"
                for t in tables]
    if key == "cutover":
        return ["asks first: are the application's writes to the source stopped?",
                "a final sync with delete detection, then a validation of every table",
                "then says what to change in the application's connection string"]
    return [f"validate {len(tables)} table(s) again (the report is saved beside the plan)",
            "compare the target's row counts with those at cutover"]


_VERDICT_STYLE = {"ok": "green", "done": "green", "warning": "yellow", "blocker": "bold red", "failed": "bold red"}


def checklist_lines(key: str, rec: PhaseRecord) -> list[tuple[str, str]]:
    """The preflight's checks (verdict, evidence, fix) or the post-migration tasks, one line each."""
    lines: list[tuple[str, str]] = []
    items = rec.data.get("checks") if key == "preflight" else rec.data.get("tasks") if key == "post-migration" \
        else None
    rank = {"blocker": 0, "failed": 0, "warning": 1}
    for c in sorted(items or [], key=lambda c: rank.get(c["verdict"], 2)):  # what stops the move first
        mark = {"ok": "✓", "done": "✓", "warning": "!", "blocker": "✗", "failed": "✗"}.get(c["verdict"], "?")
        lines.append((f"{mark} {c['title']}: {c['evidence']}", _VERDICT_STYLE.get(c["verdict"], "")))
        if c.get("fix") and c["verdict"] not in ("ok", "done"):
            lines.append((f"    fix: {c['fix']}", ""))
    if key == "post-migration" and rec.data.get("connection"):
        lines.append((f"new connection string: {rec.data['connection']}", "bold"))
    return lines


def _data_lines(key: str, rec: PhaseRecord) -> list[tuple[str, str]]:
    data = rec.data
    lines: list[tuple[str, str]] = []
    if data.get("job") is not None:
        lines.append((f"transfer job {data['job']} (j: the jobs screen)", ""))
    if "rows" in data:
        lines.append((f"rows: {int(data['rows']):,}", ""))
    if data.get("rejects"):
        lines.append((f"rejected rows: {int(data['rejects']):,}", "yellow"))
    if key == "historical" and data.get("watermarks"):
        at = f" (read {data['watermarks_at']})" if data.get("watermarks_at") else ""
        lines.append((f"watermarks before the copy{at}: "
                      + ", ".join(f"{k} = {v}" for k, v in data["watermarks"].items()), ""))
    for stmt in data.get("post_load_failed", []):
        lines.append((f"failed after the load: {stmt}", "red"))
    syncs = data.get("syncs") or []
    if syncs:
        lines.append((f"{len(syncs)} sync run(s); the last moved {int(syncs[-1].get('rows_moved', 0)):,} rows "
                      f"at {syncs[-1].get('at', '?')}", ""))
    v = data.get("validation")
    if v:
        lines.append(("validation: " + ("equal" if v.get("ok") else "DIFFERENCES"),
                      "bold green" if v.get("ok") else "bold red"))
        counts = v.get("counts", {})
        for table, verdict in v.get("verdicts", {}).items():
            sc, tc = (counts.get(table) or [None, None])[:2]
            lines.append((f"  {table}: {verdict} ({sc if sc is not None else '-'} / "
                          f"{tc if tc is not None else '-'} rows)", "green" if verdict == "equal" else "red"))
    if data.get("report"):
        lines.append((f"report: {data['report']}", ""))
    if data.get("counts_at_cutover"):
        lines.append(("rows at cutover: " + ", ".join(f"{k} {int(n):,}" for k, n in data["counts_at_cutover"].items()),
                      ""))
    return lines


# -- the screen -----------------------------------------------------------------------------


class PhasesScreen(KwScreen[None]):
    """A saved plan's phases as a checklist; Enter runs the next one."""

    HELP_TITLE = "migration phases"
    DEFAULT_CSS = """
    #ph-progress { height: auto; max-height: 3; padding: 0 1; background: $boost; }
    #ph-table { height: 9; }
    #ph-status { height: 1; padding: 0 1; color: $text-muted; }
    #ph-handling { height: 1; padding: 0 1; }
    #ph-handling Label { width: auto; padding: 0 1 0 0; color: $text-muted; }
    #ph-if-exists { width: 40; }
    #ph-detail { height: 1fr; border: round $primary; border-title-color: $accent; padding: 0 1; }
    #ph-detail-text { height: auto; }
    """
    BINDINGS = [
        Binding("f5", "run", "Run"),
        Binding("enter", "run", "Run the next phase (or catch-up again)", show=False, priority=True),
        Binding("a", "run_all", "Run all"),
        Binding("f9", "cancel", "Cancel", show=False),  # the progress line says "F9 cancels" while one runs
        Binding("c", "cancel", "Cancel the running phase", show=False),
        Binding("p", "preflight", "Preflight"),
        Binding("w", "accept_warnings", "Accept the preflight's warnings and run it again", show=False),
        Binding("r", "rehearse", "Rehearse"),
        Binding("t", "post_migration", "Post-migration"),
        Binding("g", "runbook", "Runbook"),
        Binding("j", "app.open_jobs", "Jobs"),
        Binding("pagedown", "scroll_detail(1)", "Scroll the detail down", show=False, priority=True),
        Binding("pageup", "scroll_detail(-1)", "Scroll the detail up", show=False, priority=True),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, plan: MigrationPlan, path: Path) -> None:
        super().__init__()
        self.plan = plan
        self.path = Path(path).expanduser()
        self.load_error: KwtuiError | None = None
        try:
            self.state = MigrationState.load(plan, self.path)
        except KwtuiError as exc:
            self.load_error = exc
            self.state = MigrationState(plan.id)  # not saved: the damaged file stays as it is
        self.worker: Worker[None] | None = None
        self.running_key: str | None = None
        self._last_status = 0.0

    # -- layout ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="ph-body"):
            yield Static("", id="ph-progress")
            yield DataTable(id="ph-table", cursor_type="row", zebra_stripes=False, show_cursor=True)
            with Horizontal(id="ph-handling"):
                # the history's table handling for this run (kwtui run --if-exists); the plan's by default
                yield Label("a target table that holds rows: ")
                yield Select(IF_EXISTS_CHOICES, value=self.plan.requirements.if_exists, allow_blank=False,
                             compact=True, id="ph-if-exists")
            yield Static("", id="ph-status", markup=False)
            with VerticalScroll(id="ph-detail") as detail:
                detail.border_title = "Phase"
                yield Static("", id="ph-detail-text")
        yield Footer()

    def on_mount(self) -> None:
        name = self.plan.name or self.plan.assessment.database or self.plan.id
        self.sub_title = f"Migration {name}"
        table = self.query_one("#ph-table", DataTable)
        for label, width in (("#", 1), (" ", 1), ("Phase", 25), ("Summary", 34), ("Time", 6)):
            table.add_column(label, width=width, key=label)
        self.refresh_checklist()
        nxt = self.state.next_phase()
        table.cursor_coordinate = Coordinate(PHASE_KEYS.index(nxt.key) if nxt else 0, 0)
        table.focus()
        if self.load_error is not None:
            kwtui_app(self).show_error("Cannot read the migration's state", self.load_error)

    # -- drawing -----------------------------------------------------------------------------

    def highlighted(self) -> str:
        row = self.query_one("#ph-table", DataTable).cursor_row
        return PHASE_KEYS[max(0, min(row, len(PHASE_KEYS) - 1))]

    def shown_state(self, rec: PhaseRecord) -> str:
        return RUNNING if rec.key == self.running_key else rec.state

    def refresh_checklist(self) -> None:
        table = self.query_one("#ph-table", DataTable)
        row = table.cursor_row
        table.clear()
        for rec in self.state.phases:
            state = self.shown_state(rec)
            icon, style = ICONS.get(state, ("?", ""))
            summary = rec.summary or ("running …" if state == RUNNING else "")
            time_text = "…" if state == RUNNING else (took(rec.seconds) if rec.finished and rec.state != SKIPPED
                                                      else "")
            table.add_row(str(migration.phase_number(rec.key)), Text(icon, style=style), Text(rec.title, style="bold" if state == RUNNING else ""),
                          Text(summary, style="red" if state == FAILED else "", no_wrap=True, overflow="ellipsis"),
                          Text(time_text, justify="right"), key=rec.key)
        table.cursor_coordinate = Coordinate(max(0, min(row, table.row_count - 1)), 0)
        self.refresh_progress()
        self.refresh_detail()

    def refresh_progress(self) -> None:
        text = Text()
        text.append(migration.progress_text(self.state), style="bold")
        if self.running_key is not None:
            text.append(f"  ⟳ running {self.state.phase(self.running_key).title} (F9 cancels)", style="yellow")
        text.append("\n")
        text.append("Next: ", style="bold")
        text.append(migration.next_action(self.plan, self.state))
        self.query_one("#ph-progress", Static).update(text)

    def refresh_detail(self) -> None:
        key = self.highlighted()
        detail = self.query_one("#ph-detail", VerticalScroll)
        detail.border_title = f"Phase {migration.phase_number(key)} of {len(PHASE_KEYS) - 1}"
        self.query_one("#ph-detail-text", Static).update(
            phase_detail(self.plan, self.state, key, running=key == self.running_key))

    @on(DataTable.RowHighlighted, "#ph-table")
    def on_row_highlighted(self) -> None:
        self.refresh_detail()
        self.query_one("#ph-detail", VerticalScroll).scroll_home(animate=False)

    def set_status(self, text: str, style: str = "") -> None:
        self.query_one("#ph-status", Static).update(Text(text, style=style, no_wrap=True, overflow="ellipsis"))

    # -- actions -----------------------------------------------------------------------------

    def phase_running(self) -> bool:
        return self.worker is not None and not self.worker.is_finished

    def phase_to_run(self) -> str | None:
        """The next pending (or failed) phase, or the catch-up sync again when it is highlighted and done
        (until the cutover: after it the application writes to the target)."""
        hl = self.state.phase(self.highlighted())
        if hl.key == "catchup" and hl.state == DONE and self.state.phase("cutover").state != DONE:
            return "catchup"
        nxt = self.state.next_phase()
        return nxt.key if nxt is not None else None

    def action_run(self) -> None:
        if isinstance(self.focused, Select):  # Enter on the table handling opens it, it runs nothing
            self.focused.action_show_overlay()
            return
        if isinstance(self.focused, OptionList) and isinstance(self.focused.parent, Select):
            # its open list: Enter picks the highlighted choice (this priority binding took Enter from the
            # list, so the choice could not be made by keyboard and Enter ran the phase instead)
            self.focused.action_select()
            return
        if self.phase_running():
            self.notify("a phase is running: wait, or F9 cancels it", severity="warning")
            return
        key = self.phase_to_run()
        if key is None:
            self.notify("every phase is done: g writes the runbook")
            return
        if key == "cutover":
            def answered(yes: bool | None) -> None:
                if yes:
                    self.start([key], confirmed=True)
                else:
                    self.set_status("cutover not started: the writes were not confirmed stopped")

            self.app.push_screen(ConfirmModal(CUTOVER_QUESTION), answered)
            return
        self.start([key])

    def action_run_all(self) -> None:
        if self.phase_running():
            self.notify("a phase is running: wait, or F9 cancels it", severity="warning")
            return
        nxt = self.state.next_phase()
        if nxt is None or PHASE_KEYS.index(nxt.key) >= PHASE_KEYS.index("cutover"):
            self.notify("nothing left before the cutover: Enter runs the next phase")
            return
        self.start(None)

    def action_preflight(self, accept_warnings: bool = False) -> None:
        """p: the doctor's checks for this plan (again); w: the same, its warnings accepted."""
        if self.phase_running():
            self.notify("a phase is running: wait, or F9 cancels it", severity="warning")
            return
        self.query_one("#ph-table", DataTable).cursor_coordinate = Coordinate(0, 0)
        self.start(["preflight"], accept_warnings=accept_warnings)

    def action_accept_warnings(self) -> None:
        if self.state.phase("preflight").data.get("blockers"):
            self.notify("the preflight found blockers: fix them first (warnings only can be accepted)",
                        severity="error")
            return
        self.action_preflight(accept_warnings=True)

    def action_post_migration(self) -> None:
        if self.phase_running():
            self.notify("a phase is running: wait, or F9 cancels it", severity="warning")
            return
        self.query_one("#ph-table", DataTable).cursor_coordinate = Coordinate(PHASE_KEYS.index("post-migration"), 0)
        self.start(["post-migration"])

    def action_rehearse(self) -> None:
        if self.phase_running():
            self.notify("a phase is running: wait, or F9 cancels it", severity="warning")
            return
        self.set_status("⟳ rehearsing on a 10% sample in a scratch schema …", "yellow")
        self.worker = self.run_rehearsal(10.0)

    @guarded("The rehearsal could not run", exclusive=True, group="phases")
    async def run_rehearsal(self, percent: float) -> None:
        from kwtui.rehearse import rehearse

        app: Any = self.app
        src, dst = await migration.open_services(self.plan, getattr(app, "prompt_password", None))
        try:
            result = await rehearse(self.plan, src, dst, percent=percent,
                                    say=lambda m: self.post_message(PhaseProgressed("rehearsal", m)))
        finally:
            for svc in (src, dst):
                if svc is not None:
                    with contextlib.suppress(Exception):
                        await svc.close()
        self.post_message(RehearsalFinished(result))

    @on(RehearsalFinished)
    def on_rehearsal_finished(self, message: RehearsalFinished) -> None:
        from kwtui.rehearse import eta_text

        r = message.result
        text = (f"{'✓' if r.ok else '✗'} rehearsal {r.percent:g}%: {sum(t.loaded_rows for t in r.tables):,} rows "
                f"in {r.seconds:.1f} s; ETA of the real run about {eta_text(r.eta_s)}; scratch "
                + ("dropped" if r.dropped else f"{r.scratch} kept"))
        self.set_status(text, "green" if r.ok else "bold red")
        self.notify(text, severity="information" if r.ok else "error", markup=False)

    def start(self, keys: list[str] | None, *, confirmed: bool = False, accept_warnings: bool = False) -> None:
        if self.load_error is not None:  # running on a fresh state would redo (and double) what ran
            kwtui_app(self).show_error("Cannot run: the migration's state is unreadable",
                                self.load_error)
            return
        self.set_status("connecting …")
        self.worker = self.run_phases(keys, confirmed, accept_warnings)

    def action_cancel(self) -> None:
        if not self.phase_running() or self.worker is None:
            self.notify("no phase is running")
            return
        self.set_status("cancelling …", "yellow")
        self.worker.cancel()

    def action_scroll_detail(self, direction: int) -> None:
        detail = self.query_one("#ph-detail", VerticalScroll)
        if direction > 0:
            detail.scroll_page_down(animate=False)
        else:
            detail.scroll_page_up(animate=False)

    def action_back(self) -> None:
        if not self.phase_running():
            self.app.pop_screen()
            return

        def answered(yes: bool | None) -> None:
            if yes:
                if self.worker is not None:
                    self.worker.cancel()
                self.app.pop_screen()

        self.app.push_screen(ConfirmModal("A phase is running. Cancel it and leave? "
                                          "(It resumes or repeats safely when run again.)"), answered)

    def action_runbook(self) -> None:
        default = str(self.path.with_name(self.path.name + ".runbook.md"))

        def chosen(path: str | None) -> None:
            if path:
                self.write_runbook(Path(path).expanduser())

        self.app.push_screen(PathPrompt("Write the runbook to", default, input_id="ph-runbook-path",
                                        hint="Markdown: the plan, what ran, rollback steps. Enter writes, "
                                             "Esc cancels."), chosen)

    @guarded("Cannot write the runbook", exclusive=True, group="phases-runbook", thread=True)
    def write_runbook(self, path: Path) -> None:
        try:
            text = render_runbook(self.plan, self.state)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        except Exception as exc:  # a file that cannot be written: say so
            error = exc if isinstance(exc, KwtuiError) else KwtuiError(f"{type(exc).__name__}: {exc}")
            self.app.call_from_thread(kwtui_app(self).show_error, "Cannot write the runbook", error)
            return
        self.post_message(RunbookWritten(path))

    @on(RunbookWritten)
    def on_runbook_written(self, message: RunbookWritten) -> None:
        self.notify(f"runbook written to {message.path}", markup=False)

    # -- the worker --------------------------------------------------------------------------

    @guarded("The phase could not run", exclusive=True, group="phases")
    async def run_phases(self, keys: list[str] | None, confirmed: bool, accept_warnings: bool = False) -> None:
        """Run ``keys`` in order (None: every pending phase before the cutover); stop at a failure."""
        app: Any = self.app
        src = dst = None
        try:
            try:
                src, dst = await migration.open_services(self.plan, getattr(app, "prompt_password", None))
                runner = MigrationRunner(self.plan, self.state, src, dst, journal=app.journal,
                                         listener=self._heard, report_dir=self.path.parent,
                                         if_exists=str(self.query_one("#ph-if-exists", Select).value),
                                         accept_warnings=accept_warnings)
                todo = list(keys) if keys is not None else None
                while True:
                    if todo is not None:
                        if not todo:
                            break
                        key = todo.pop(0)
                    else:
                        nxt = self.state.next_phase()
                        if nxt is None or nxt.key == "cutover":
                            break
                        key = nxt.key
                    self.post_message(PhaseStarted(key))
                    rec = await runner.run_phase(key, confirmed=confirmed and key == "cutover")
                    self.post_message(PhaseFinished(rec))
                    if rec.state == FAILED:
                        break
            finally:
                for svc in (src, dst):
                    if svc is not None:
                        with contextlib.suppress(Exception):
                            await svc.close()
        except asyncio.CancelledError:
            self.post_message(PhasesStopped(cancelled=True))
            raise
        except KwtuiError as exc:
            self.post_message(PhasesStopped(error=exc))
            return
        except Exception as exc:  # a worker never dies silently
            self.post_message(PhasesStopped(error=KwtuiError(f"{type(exc).__name__}: {exc}")))
            return
        self.post_message(PhasesStopped())

    def _heard(self, key: str, text: str) -> None:
        """The runner's listener (maybe from a thread): at most about ten status updates a second."""
        now = time.monotonic()
        if now - self._last_status < STATUS_EVERY:
            return
        self._last_status = now
        self.post_message(PhaseProgressed(key, text))

    @on(PhaseStarted)
    def on_phase_started(self, message: PhaseStarted) -> None:
        self.running_key = message.key
        self.set_status(f"⟳ {self.state.phase(message.key).title} …", "yellow")
        self.refresh_checklist()

    @on(PhaseProgressed)
    def on_phase_progressed(self, message: PhaseProgressed) -> None:
        if self.running_key is not None or message.key == "rehearsal":
            self.set_status(f"⟳ [{message.key}] {message.text}", "yellow")

    @on(PhaseFinished)
    def on_phase_finished(self, message: PhaseFinished) -> None:
        rec = message.record
        self.running_key = None
        style = {DONE: "green", FAILED: "bold red", SKIPPED: "dim"}.get(rec.state, "")
        self.set_status(f"{ICONS.get(rec.state, ('', ''))[0]} {rec.title}: {rec.summary or rec.state}", style)
        self.refresh_checklist()
        table = self.query_one("#ph-table", DataTable)
        nxt = self.state.next_phase()
        if rec.state == FAILED or (rec.key == "cutover" and rec.state == DONE) or nxt is None:
            table.cursor_coordinate = Coordinate(PHASE_KEYS.index(rec.key), 0)  # show what went wrong, or the advice
        else:
            table.cursor_coordinate = Coordinate(PHASE_KEYS.index(nxt.key), 0)
        if rec.state == FAILED:
            self.notify(f"{rec.title} failed: run it again when the cause is fixed", severity="error")
            if rec.key != "preflight":  # the preflight's checklist is its own explanation
                self.explain_failure(rec)

    def explain_failure(self, rec: PhaseRecord) -> None:
        """A failed phase whose error the knowledge base knows: the error modal with the cause, the fix
        and, for a fix that resumes (a job, the phase), a key that runs the phase again."""
        from dataclasses import replace

        from kwtui.troubleshoot import Action, diagnose, job_diagnosis

        job = rec.data.get("job")
        d = None
        with contextlib.suppress(KwtuiError, ValueError):
            d = job_diagnosis(kwtui_app(self).journal, int(job)) if job is not None else None
        if d is None:
            d = diagnose(rec.summary.removeprefix("failed: "), context={"job": job} if job is not None else None)
        if d is None:
            return
        if d.action is None and d.entry.action is not None and d.entry.action.id == "resume-job":
            # it stopped before its job existed (or had none): the fix is the phase run again
            d = replace(d, action=Action("rerun-phase", f"Run {rec.title.lower()} again", key="r"))
        kwtui_app(self).show_error(f"{rec.title} failed", rec.summary, diagnosis=d,
                                   on_fix=lambda d, key=rec.key: self.apply_fix(key, d))

    def apply_fix(self, key: str, d: Any) -> None:
        if d.action is not None and d.action.id in ("resume-job", "rerun-phase"):
            self.start([key])  # the phase runs again: its job resumes where it stopped
            return
        if d.action is not None:
            self.notify(f"the fix: {d.action.command or d.action.flag}", markup=False)

    @on(PhasesStopped)
    def on_phases_stopped(self, message: PhasesStopped) -> None:
        was = self.running_key
        self.running_key = None
        if message.cancelled:
            self.set_status(f"✗ {self.state.phase(was).title if was else 'the run'} cancelled: "
                            "run it again to continue", "yellow")
        elif message.error is not None:
            self.set_status(f"✗ {message.error.one_line()}", "red")
            kwtui_app(self).show_error("The phase could not run", message.error)
        self.refresh_checklist()
