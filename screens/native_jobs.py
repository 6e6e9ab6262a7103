"""KWDB's own jobs (the IMPORT/EXPORT the server runs): SHOW JOBS, PAUSE / RESUME / CANCEL JOB."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Static

from kwtui.errors import KwtuiError
from kwtui.screens.base import KwScreen
from kwtui.screens.workers import guarded, kwtui_app


class NativeJobsLoaded(Message):
    def __init__(self, jobs: list[Any], note: str = "") -> None:
        super().__init__()
        self.jobs, self.note = jobs, note


class NativeJobsScreen(KwScreen[None]):
    HELP_TITLE = "KWDB jobs"
    DEFAULT_CSS = """
    #native-jobs { height: 1fr; border: round $primary; border-title-color: $accent; }
    #native-note { height: auto; padding: 0 1; }
    """
    BINDINGS = [
        Binding("p", "control('pause')", "Pause job"),
        Binding("r", "control('resume')", "Resume job"),
        Binding("c", "control('cancel')", "Cancel job"),
        Binding("f5", "refresh", "Refresh"),
        Binding("escape", "app.pop_screen", "Back"),
    ]

    def __init__(self, service: Any) -> None:
        super().__init__()
        self.service = service
        self.jobs: list[Any] = []

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical():
            yield Static("", id="native-note")
            table: DataTable[Any] = DataTable(id="native-jobs", cursor_type="row", zebra_stripes=True)
            table.border_title = "KWDB jobs (SHOW JOBS)"
            yield table
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "KWDB jobs"
        table = self.query_one(DataTable)
        for label, width in (("Job id", 20), ("Type", 8), ("Status", 10), ("Done", 6), ("Description", 60)):
            table.add_column(label, width=width)
        self.action_refresh()
        self.set_interval(2.0, self.action_refresh)

    def action_refresh(self) -> None:
        self.load()

    @guarded("Cannot list KWDB's jobs", exclusive=True, group="native-jobs")
    async def load(self) -> None:
        from kwtui.transfer.native_watch import list_native_jobs

        if self.service is None:
            self.post_message(NativeJobsLoaded([], "Not connected: connect to a KWDB server first."))
            return
        try:
            jobs = await list_native_jobs(self.service)
        except KwtuiError as exc:
            self.post_message(NativeJobsLoaded([], exc.message))
            return
        except Exception as exc:  # never die silently
            self.post_message(NativeJobsLoaded([], f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(NativeJobsLoaded(jobs))

    @on(NativeJobsLoaded)
    def on_loaded(self, message: NativeJobsLoaded) -> None:
        self.jobs = message.jobs
        self.query_one("#native-note", Static).update(
            Text(message.note or "p pause · r resume · c cancel the selected job (KWDB runs it; kwtui asks)"))
        table = self.query_one(DataTable)
        row = table.cursor_row
        table.clear()
        for j in message.jobs:
            done = "-" if j.fraction_completed is None else f"{j.fraction_completed * 100:.0f}%"
            table.add_row(Text(str(j.job_id)), Text(j.job_type or ""), Text(j.status or ""), done,
                          Text((j.description or "").replace("\n", " ")), key=str(j.job_id))
        if message.jobs:
            from textual.coordinate import Coordinate

            table.cursor_coordinate = Coordinate(min(row, len(message.jobs) - 1), 0)

    def action_control(self, action: str) -> None:
        table = self.query_one(DataTable)
        if not self.jobs or table.row_count == 0:
            self.notify("No KWDB job selected", severity="warning")
            return
        job = self.jobs[min(table.cursor_row, len(self.jobs) - 1)]
        self.send(action, str(job.job_id))

    @guarded("The KWDB job command failed", group="native-control")
    async def send(self, action: str, job_id: str) -> None:
        from kwtui.transfer.native_watch import control_native_job

        try:
            status = await control_native_job(self.service, action, job_id)
        except KwtuiError as exc:
            kwtui_app(self).show_error(f"Cannot {action} KWDB job {job_id}", exc)
            return
        except Exception as exc:
            kwtui_app(self).show_error(f"Cannot {action} KWDB job {job_id}",
                                KwtuiError(f"{type(exc).__name__}: {exc}"))
            return
        self.notify(f"KWDB job {job_id}: {status}")
        self.load()
