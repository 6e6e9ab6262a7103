"""What the export and import wizards share: steps, inline field errors, progress, messages.

A wizard shows one step at a time under a step indicator; ``ctrl+n`` (or F10) goes on when
the step is valid, ``ctrl+b`` (or F9: ctrl+b is tmux's prefix) goes back, ``Esc`` leaves
(not while a transfer runs). The last step runs the transfer in a worker; progress events from the core arrive as
``TransferProgressed`` messages and only ``@on`` handlers touch the widgets.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import ContentSwitcher, Footer, Header, Input, Label, ProgressBar, Static

from kwtui import fmt
from kwtui.connection import ConnectionService
from kwtui.errors import ConnectError, KwtuiError
from kwtui.fmt import human_bytes
from kwtui.screens.base import KwScreen
from kwtui.screens.workers import WorkerFailed
from kwtui.screens.workers import as_error as as_error  # (re-exported: the wizards use it)
from kwtui.transfer.engine import ProgressEvent

# -- messages (past tense: workers post them, @on handlers own the UI) -----------------------


class TransferProgressed(Message):
    def __init__(self, event: ProgressEvent) -> None:
        super().__init__()
        self.event = event


class TablesListed(Message):
    """The tables of a database (for pickers and checks), or why they could not be listed."""

    def __init__(self, database: str, tables: list[Any], error: KwtuiError | None = None) -> None:
        super().__init__()
        self.database, self.tables, self.error = database, tables, error


# -- small formatting helpers (module functions, so tests can monkeypatch them) ---------------


def rate_text(event: ProgressEvent) -> str:
    """Throughput of a progress event: '12,345 rows/s · 3.4 MB/s'."""
    return f"{event.rows_per_s:,.0f} rows/s · {event.mb_per_s:.1f} MB/s"


def eta_text(eta: float | None) -> str:
    """Time left: 'ETA 12 s', 'ETA 3 min', 'ETA -' when unknown."""
    if eta is None:
        return "ETA -"
    if eta < 60:
        return f"ETA {eta:.0f} s"
    return f"ETA {eta / 60:.0f} min"


def display_path(path: str | os.PathLike[str] | None) -> str:
    """A local path as short as it reads well: relative to the working directory, else ~/..."""
    if path is None:
        return "-"
    p = Path(path)
    try:
        absolute = p if p.is_absolute() else Path.cwd() / p
        return str(absolute.relative_to(Path.cwd())) or "."
    except ValueError:
        pass
    home = str(Path.home())
    text = str(p)
    if home != "/" and text.startswith(home + os.sep):
        return "~" + text[len(home):]
    return text


def decode_char(value: str) -> str:
    r"""A one-character option as typed: '\t' or 'tab' is a tab, '\\' a backslash."""
    text = value
    if text.lower() in ("tab", "\\t"):
        return "\t"
    if text in ("\\\\",):
        return "\\"
    if text.startswith("\\") and len(text) == 2 and text[1] in "nr0":
        return text.encode().decode("unicode_escape")
    return text


def parse_int(text: str, name: str, *, low: int, high: int | None = None, blank: int | None = None) -> int | None:
    """An integer field: None when blank (returns ``blank``); ValueError with a sentence when wrong."""
    t = text.strip().replace("_", "").replace(",", "")
    if not t:
        return blank
    try:
        number = int(t)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {text.strip()!r}") from None
    if number < low or (high is not None and number > high):
        raise ValueError(f"{name} must be between {low} and {high}" if high is not None
                         else f"{name} must be {low} or more")
    return number


def native_reason(app: Any) -> str | None:
    """None when the connected server runs KWDB's own IMPORT/EXPORT; else why not."""
    svc: ConnectionService | None = getattr(app, "service", None)
    if svc is None or svc.dialect is None or svc.info is None:
        return "not connected"
    if svc.dialect.caps.native_import_export:
        return None
    name = "PostgreSQL" if svc.info.kind == "postgres" else svc.info.kind
    return f"native IMPORT/EXPORT needs a KWDB server; this server is {name}"


async def open_service(app: Any, database: str) -> ConnectionService:
    """A connection of its own for one transfer (a long native statement must not block browsing)."""
    base: ConnectionService | None = getattr(app, "service", None)
    if base is None:
        raise ConnectError("not connected")
    current = base.info.database if base.info else ""
    target = base.target.with_database(database) if database and database != current else base.target
    svc = ConnectionService(target, password_prompt=base.password_prompt)
    svc._password = base._password  # same server, same credentials
    try:
        await svc.connect()
    except BaseException:
        await svc.close()
        raise
    return svc


async def close_quietly(svc: Any) -> None:
    try:
        await svc.close()
    except Exception:  # closing a broken connection: nothing left to do
        pass


# -- widgets -----------------------------------------------------------------------------------


class StepIndicator(Static):
    """'1 What › 2 Path › 3 Options …' with the current step highlighted."""

    def show(self, titles: list[str], current: int) -> None:
        parts = []
        for i, title in enumerate(titles):
            text = f"{i + 1} {escape(title)}"
            if i == current:
                parts.append(f"[b reverse] {text} [/]")
            elif i < current:
                parts.append(f"[green]{text}[/]")
            else:
                parts.append(f"[dim]{text}[/]")
        self.update(" › ".join(parts))


class FieldRow(Vertical):
    """label | input | help; the help turns into the field's error when it is wrong.

    ``below=True`` puts the help under a wide input instead of beside it.
    """

    def __init__(self, label: str, field: Widget, help_text: str, *, id: str | None = None,
                 below: bool = False) -> None:
        super().__init__(id=id, classes="field-row -below" if below else "field-row")
        self.label_text = label
        self.field = field
        self.help_text = help_text
        self.below = below

    def compose(self) -> ComposeResult:
        with Horizontal(classes="field-line"):
            yield Label(self.label_text, classes="field-label")
            yield self.field
            if not self.below:
                yield Static(self.help_text, classes="field-help", markup=False)
        if self.below:
            yield Static(self.help_text, classes="field-help", markup=False)

    def set_error(self, error: str | None) -> None:
        help_widget = self.query_one(".field-help", Static)
        help_widget.set_class(error is not None, "-error")
        help_widget.update(f"✗ {error}" if error else self.help_text)

    def set_help(self, text: str) -> None:
        self.help_text = text
        help_widget = self.query_one(".field-help", Static)
        if not help_widget.has_class("-error"):
            help_widget.update(text)

    def set_label(self, text: str) -> None:
        self.query_one(".field-label", Label).update(text)


def compact_input(value: str = "", *, id: str, placeholder: str = "", classes: str = "field-input") -> Input:
    return Input(value=value, id=id, placeholder=placeholder, compact=True, classes=classes, select_on_focus=False)


class ProgressPanel(Widget):
    """A progress bar with rows, rows/s, MB/s and ETA; then the result text below it."""

    def __init__(self, *, by_bytes: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.by_bytes = by_bytes
        self.total: int | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="run-what")
        yield ProgressBar(total=None, show_eta=False, id="run-bar")
        yield Static("", id="run-stats")
        yield Static("", id="run-result")

    def start(self, what: str, total: int | None, *, by_bytes: bool = False) -> None:
        self.by_bytes = by_bytes
        self.total = total if total else None
        self.query_one("#run-what", Static).update(what)
        bar = self.query_one("#run-bar", ProgressBar)
        bar.update(total=self.total, progress=0)
        self.query_one("#run-stats", Static).update("starting…")
        self.query_one("#run-result", Static).update("")

    def progressed(self, event: ProgressEvent) -> None:
        bar = self.query_one("#run-bar", ProgressBar)
        done = event.bytes if self.by_bytes else event.rows
        if self.total:
            bar.update(total=max(self.total, done), progress=done)
        self.query_one("#run-stats", Static).update(self.stats(event))

    def stats(self, event: ProgressEvent) -> str:
        total = self.total if not self.by_bytes and not event.done else None
        rows = f"{event.rows:,} rows" + (f" of ~{total:,}" if total else "")
        if self.by_bytes:
            of_total = f" of {human_bytes(self.total)}" if self.total and not event.done else ""
            rows += f" · {human_bytes(event.bytes)}{of_total}"
        bits = [rows, rate_text(event)]
        if event.rejects:
            bits.append(f"[red]{event.rejects:,} rejected[/]")
        if event.tables_total > 1:
            bits.append(f"table {min(event.tables_done + 1, event.tables_total)}/{event.tables_total}")
        if not event.done:
            bits.append(eta_text(self.eta(event)))
        return " · ".join(bits)

    def eta(self, event: ProgressEvent) -> float | None:
        """Seconds left against this panel's total (rows, or bytes for an import)."""
        done = event.bytes if self.by_bytes else event.rows
        if not self.total or done <= 0 or event.elapsed <= 0:
            return None
        return max(0.0, (self.total - done) / (done / event.elapsed))

    def finished(self, result: str, event: ProgressEvent | None = None) -> None:
        bar = self.query_one("#run-bar", ProgressBar)
        bar.update(total=1, progress=1)
        if event is not None:
            self.query_one("#run-stats", Static).update(self.stats(event) + f" · done in {fmt.ms(event.elapsed)}")
        else:
            self.query_one("#run-stats", Static).update("done")
        self.query_one("#run-result", Static).update(result)

    def failed(self, message: str) -> None:
        self.query_one("#run-stats", Static).update(f"[red]failed: {escape(message)}[/]")


# -- the wizard base ---------------------------------------------------------------------------


class WizardScreen(KwScreen[None]):
    """Steps in a ContentSwitcher (ids ``step-<name>``), Back/Next with a check per step."""

    #: (name, title) of each step; the last one is "run"
    STEPS: ClassVar[list[tuple[str, str]]] = []
    TITLE_TEXT = "wizard"

    BINDINGS = [
        Binding("ctrl+b,f9", "back", "Back", priority=True),
        Binding("ctrl+n,f10", "next", "Next", priority=True),
        Binding("escape", "leave", "Leave"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.step = 0
        self.running = False
        self.finished = False
        self.last_event: ProgressEvent | None = None

    # -- layout --------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        yield StepIndicator("", id="wizard-steps")
        with ContentSwitcher(initial=f"step-{self.STEPS[0][0]}", id="wizard-body"):
            yield from self.compose_steps()
        yield Static("", id="wizard-status")
        yield Footer()

    def compose_steps(self) -> Iterable[Widget]:
        raise NotImplementedError

    def on_mount(self) -> None:
        self.show_step(0)

    @property
    def step_name(self) -> str:
        return self.STEPS[self.step][0]

    def show_step(self, index: int) -> None:
        self.step = index
        name = self.step_name
        self.query_one(StepIndicator).show([t for _, t in self.STEPS], index)
        self.query_one("#wizard-body", ContentSwitcher).current = f"step-{name}"
        self.set_status("")
        self.enter_step(name)
        self.call_after_refresh(self.focus_step, name)
        self.refresh_bindings()

    def focus_step(self, name: str) -> None:
        container = self.query_one(f"#step-{name}")
        for widget in container.query("Input, RadioSet, Select, DataTable, DirectoryTree, Checkbox, TextArea"):
            if widget.focusable and widget.display and not widget.disabled:
                widget.focus()
                return

    def set_status(self, text: str, *, error: bool = False) -> None:
        status = self.query_one("#wizard-status", Static)
        status.set_class(error, "-error")
        status.update(text)

    # -- hooks -----------------------------------------------------------------------------------

    def enter_step(self, name: str) -> None:
        """Fill a step as it opens (defaults that depend on earlier steps)."""

    def check_step(self, name: str) -> str | None:
        """Why the user cannot go on from step ``name`` (None: they can)."""
        return None

    def start_run(self) -> None:
        """Next on the step before "run": start the transfer."""

    # -- actions ---------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("back", "next") and self.finished:
            return False  # done: only Esc is left
        if action == "back":
            return None if self.running or self.step == 0 else True
        if action == "next":
            return None if self.running or self.step_name == "run" else True
        return True

    def action_next(self) -> None:
        if self.running or self.step_name == "run":
            return
        problem = self.check_step(self.step_name)
        if problem:
            self.set_status(f"✗ {problem}", error=True)
            self.app.bell()
            return
        if self.STEPS[self.step + 1][0] == "run":
            self.show_step(self.step + 1)
            self.start_run()
            return
        self.show_step(self.step + 1)

    def action_back(self) -> None:
        if self.running or self.step == 0 or self.finished:
            return
        self.show_step(self.step - 1)

    def action_leave(self) -> None:
        if self.running:
            self.notify("A transfer is running: wait for it to finish", severity="warning")
            return
        self.app.pop_screen()

    async def with_own_connection(self, database: str,
                                  job: Callable[[ConnectionService], Awaitable[Any]]) -> Any:
        """Run ``job`` on a connection of its own to ``database``, closed after. A failure goes
        up as it is: the run workers are ``@guarded``, so it reaches the app's error handler."""
        svc = await open_service(self.app, database)
        try:
            return await job(svc)
        finally:
            await close_quietly(svc)

    async def run_native(self, svc: ConnectionService, statement: Any) -> Any:
        """A native IMPORT/EXPORT, watched through SHOW JOBS; says which KWDB job to pause or cancel."""
        from kwtui.transfer.native_watch import run_native_watched

        seen: list[str] = []

        def on_job(p: Any) -> None:  # SHOW JOBS found KWDB's job for this statement
            if p.job_id and p.job_id not in seen:
                seen.append(p.job_id)
                self.notify(f"KWDB job {p.job_id} is running: Jobs (F8), then k, pauses or cancels it")

        result, _job = await run_native_watched(svc, statement, on_job)
        return result

    @on(WorkerFailed)
    def on_run_failed(self, message: WorkerFailed) -> None:
        """A run (or any worker of this wizard) failed: the wizard can go back; the app shows the error."""
        if not self.running:
            return
        self.running = False
        self.refresh_bindings()
        self.query_one(ProgressPanel).failed(message.error.message)
        self.set_status("✗ failed: ctrl+b goes back to change something, Esc leaves", error=True)
        if message.committed is None:
            message.committed = self.committed_text()
        if message.next_step is None:
            message.next_step = "Ctrl+B goes back to change something and run again; Esc leaves the wizard."

    def committed_text(self) -> str | None:
        """What the failed run had done, from its last progress event (None when nothing is known)."""
        event = self.last_event
        if event is None:
            return "nothing reported: it failed before its first progress report"
        return f"{event.rows:,} rows reported done before the failure (its last progress report)"

    @on(TransferProgressed)
    def on_transfer_progressed(self, message: TransferProgressed) -> None:
        self.last_event = message.event
        if self.running:
            self.query_one(ProgressPanel).progressed(message.event)

    def listener(self, event: ProgressEvent) -> None:
        """Given to the core: called on the event loop, at most about ten times a second."""
        self.post_message(TransferProgressed(event))
