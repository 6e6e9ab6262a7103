"""The doctor: preflight checks as a checklist (verdict, check, evidence), the fix of the
highlighted check below it. The checks run in the core (kwtui.doctor); this screen only
shows them."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.coordinate import Coordinate
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Header, Input, Label, Static

from kwtui.doctor import BLOCKER, OK, WARNING, DoctorOptions, DoctorReport, doctor_for
from kwtui.errors import KwtuiError
from kwtui.screens.workers import guarded

VERDICT_TEXT = {OK: Text("ok", style="bold green"), WARNING: Text("warn", style="bold yellow"),
                BLOCKER: Text("BLOCK", style="bold red")}


def summary_text(report: DoctorReport) -> Text:
    n = report.counts()
    text = Text()
    text.append(f"{n[BLOCKER]} blocker(s)", style="bold red" if n[BLOCKER] else "dim")
    text.append(", ")
    text.append(f"{n[WARNING]} warning(s)", style="bold yellow" if n[WARNING] else "dim")
    text.append(f", {n[OK]} ok")
    return text


class DoctorScreen(Screen[None]):
    """Source and target (a profile name or a URI), F5 runs the checks."""

    HELP_TITLE = "doctor"
    BINDINGS = [
        Binding("f5", "run_checks", "Run checks"),
        Binding("escape", "app.pop_screen", "Back"),
    ]
    DEFAULT_CSS = """
    DoctorScreen .d-row { height: 1; margin: 0 1; }
    DoctorScreen .d-row Label { width: 8; }
    DoctorScreen .d-row Input { width: 1fr; }
    DoctorScreen #d-run { margin-left: 1; min-width: 10; }
    DoctorScreen #d-checks { height: 1fr; border: round $primary 60%; }
    DoctorScreen #d-detail { height: 5; margin: 0 1; }
    DoctorScreen #d-summary { height: 1; margin: 0 1; }
    """

    def __init__(self, source: str = "", target: str = "", report: DoctorReport | None = None,
                 options: DoctorOptions | None = None, *, run_now: bool = False) -> None:
        super().__init__()
        self.run_now = run_now  # the new-migration wizard's preflight: check at once
        self.source_text = source
        self.target_text = target
        self.report = report
        self.options = options
        self.running = False

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(classes="d-row"):
            yield Label("Source")
            yield Input(self.source_text, id="d-source", compact=True, select_on_focus=False,
                        placeholder="profile or postgresql://user@host:port/db")
        with Horizontal(classes="d-row"):
            yield Label("Target")
            yield Input(self.target_text, id="d-target", compact=True, select_on_focus=False,
                        placeholder="profile or postgresql://root@host:26257/defaultdb")
            yield Button("Run F5", id="d-run", variant="primary", compact=True)
        checks: DataTable[Any] = DataTable(id="d-checks", cursor_type="row", zebra_stripes=True)
        checks.border_title = "Checklist"
        yield checks
        yield Static("", id="d-detail")
        yield Static(Text("Give a source and/or a target, then F5: read-only checks.", style="dim"), id="d-summary")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Doctor: preflight checks"
        table = self.query_one("#d-checks", DataTable)
        table.add_column("", key="verdict", width=5)
        table.add_column("Check", key="check", width=28)
        # the evidence fills the rest of the row (no sideways scrolling); the detail below has it whole
        table.add_column("Evidence", key="evidence", width=max(20, self.app.size.width - 43))
        if self.report is not None:
            self.show_report(self.report)
        else:
            self.query_one("#d-source", Input).focus()
            if self.run_now:
                self.action_run_checks()

    def show_report(self, report: DoctorReport) -> None:
        self.report = report
        table = self.query_one("#d-checks", DataTable)
        table.clear()
        # blockers first, then warnings, then what is fine
        order = {BLOCKER: 0, WARNING: 1, OK: 2}
        for i, c in enumerate(sorted(report.checks, key=lambda c: order[c.verdict])):
            table.add_row(VERDICT_TEXT[c.verdict], Text(c.title, no_wrap=True, overflow="ellipsis"),
                          Text(" ".join(c.evidence.split()), no_wrap=True, overflow="ellipsis"), key=f"{i}:{c.id}")
        self.query_one("#d-summary", Static).update(summary_text(report))
        if report.checks:
            table.cursor_coordinate = Coordinate(0, 0)
            table.focus()
            self._detail(0)

    def _detail(self, row: int) -> None:
        if self.report is None:
            return
        order = {BLOCKER: 0, WARNING: 1, OK: 2}
        checks = sorted(self.report.checks, key=lambda c: order[c.verdict])
        if not 0 <= row < len(checks):
            return
        c = checks[row]
        text = Text()
        text.append(f"{c.title}: ", style="bold")
        text.append(c.evidence)
        if c.fix and c.verdict != OK:
            text.append("\nfix: ", style="bold green")
            text.append(c.fix)
        self.query_one("#d-detail", Static).update(text)

    @on(DataTable.RowHighlighted, "#d-checks")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._detail(event.cursor_row)

    @on(Button.Pressed, "#d-run")
    def _run_pressed(self) -> None:
        self.action_run_checks()

    def action_run_checks(self) -> None:
        if self.running:
            return
        source = self.query_one("#d-source", Input).value.strip()
        target = self.query_one("#d-target", Input).value.strip()
        if not source and not target:
            self.query_one("#d-summary", Static).update(Text("Give a source, a target or both.", style="bold red"))
            return
        self.running = True
        self.query_one("#d-summary", Static).update(Text("checking…", style="dim"))
        self._run(source, target)

    @guarded("The checks could not run", exclusive=True, group="doctor")
    async def _run(self, source: str, target: str) -> None:
        try:
            report = await doctor_for(source, target, self.options,
                                      password_prompt=getattr(self.app, "prompt_password", None))
        except KwtuiError as exc:
            self.query_one("#d-summary", Static).update(Text(exc.one_line(), style="bold red"))
            return
        finally:
            self.running = False
        self.show_report(report)
