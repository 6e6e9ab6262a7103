"""The kwtui App: screen registry, global bindings, command palette, connection lifecycle."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from textual import on
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from kwtui import __version__
from kwtui.connection import ConnectionService, ConnectTarget
from kwtui.errors import KwtuiError
from kwtui.explorer import Explorer
from kwtui.profiles import ProfileStore
from kwtui.screens import textual_fixes
from kwtui.screens.browse import BrowseScreen
from kwtui.screens.connect import ConnectScreen
from kwtui.screens.console import ConsoleScreen
from kwtui.screens.export_wizard import ExportWizard
from kwtui.screens.import_wizard import ImportWizard
from kwtui.screens.messages import Connected, ConnectFailed, DemoStarted
from kwtui.screens.modals import ErrorModal, HelpScreen, PasswordModal
from kwtui.screens.welcome import WelcomeScreen
from kwtui.screens.workers import WorkerFailed, guarded
from kwtui.styles import APP_CSS


class KwtuiApp(App[int]):
    TITLE = "kwtui"
    SUB_TITLE = "KWDB migration console"
    CSS_PATH = str(APP_CSS)
    BINDINGS = [
        Binding("f1", "help", "Help"),
        Binding("question_mark", "help", "Help", show=False),
        Binding("ctrl+q", "quit", "Quit"),
        Binding("f8", "open_jobs", "Jobs"),  # one key, one meaning: F8 is Jobs on every screen
    ]

    def __init__(self, *, target: ConnectTarget | None = None, store: ProfileStore | None = None,
                 demo: bool = False) -> None:
        textual_fixes.apply()
        super().__init__()
        self.initial_target = target
        self.store = store or ProfileStore()
        self.service: ConnectionService | None = None
        self.runners: dict[int, Any] = {}
        self._journal: Any = None
        self.explorer: Explorer | None = None
        self.demo_info: Any = None
        self.is_demo = demo

    @property
    def journal(self) -> Any:
        """The job journal, opened on first use (a local SQLite file)."""
        if self._journal is None:
            from kwtui.jobs import Journal

            self._journal = Journal()
        return self._journal

    # -- lifecycle --------------------------------------------------------------------------

    async def on_mount(self) -> None:
        await self.open_initial()

    async def open_initial(self) -> None:
        """The first screens: welcome, then connect when a target was given (tests override this)."""
        self.push_screen(WelcomeScreen())
        if self.initial_target is not None:
            self.connect(self.initial_target)

    async def on_unmount(self) -> None:
        if self.explorer is not None:
            with contextlib.suppress(Exception):
                await self.explorer.close()
        if self.service is not None:
            with contextlib.suppress(Exception):
                await self.service.close()
        if self.demo_info is not None:
            self.demo_info.server.stop()

    # -- errors and prompts -----------------------------------------------------------------

    def show_error(self, title: str, error: KwtuiError | str, detail: str | None = None, *,
                   committed: str | None = None, next_step: str | None = None) -> None:
        self.push_screen(ErrorModal(title, error, detail, committed=committed, next_step=next_step))

    @on(WorkerFailed)
    def on_worker_failed(self, message: WorkerFailed) -> None:
        """The one place a worker's failure is shown: every screen's ``@guarded`` workers end here."""
        self.show_error(message.title, message.error, committed=message.committed, next_step=message.next_step)

    async def prompt_password(self, label: str) -> str | None:
        """Called from a worker by the connection service when the server wants a password."""
        return await self.push_screen_wait(PasswordModal(label))

    # -- connecting -------------------------------------------------------------------------

    def connect(self, target: ConnectTarget) -> None:
        self.notify(f"Connecting to {target.label} ...", timeout=2)
        self._connect_worker(target)

    @guarded("Cannot connect", exclusive=True, group="connect")
    async def _connect_worker(self, target: ConnectTarget) -> None:
        service = ConnectionService(target, password_prompt=self.prompt_password)
        try:
            info = await service.connect()
            databases = await service.list_databases()
        except KwtuiError as exc:
            await service.close()
            self.post_message(ConnectFailed(target, exc))
            return
        except Exception as exc:  # a worker never dies silently
            await service.close()
            self.post_message(ConnectFailed(target, KwtuiError(f"{type(exc).__name__}: {exc}")))
            return
        self.post_message(Connected(service, info, databases))

    @on(Connected)
    async def on_connected(self, message: Connected) -> None:
        if self.service is not None and self.service is not message.service:
            with contextlib.suppress(Exception):
                await self.service.close()
        if self.explorer is not None:
            await self.explorer.close()
        self.service = message.service
        self.explorer = Explorer(message.service)
        self._pop_to_welcome()
        where = message.service.target.label
        if where != message.service.target.describe():
            where = f"{where} ({message.service.target.describe()})"
        self.push_screen(BrowseScreen(self.explorer, message.info, message.databases, where))

    @on(ConnectFailed)
    def on_connect_failed(self, message: ConnectFailed) -> None:
        self.show_error("Cannot connect", message.error)

    def disconnect(self) -> None:
        """Back to the welcome screen at once (no screen can open on a closing connection), then
        close the connections in a worker."""
        explorer, service = self.explorer, self.service
        self.explorer = None
        self.service = None
        self._pop_to_welcome()
        self._disconnect_worker(explorer, service)

    @guarded("Disconnecting failed", exclusive=True, group="disconnect")
    async def _disconnect_worker(self, explorer: Explorer | None, service: ConnectionService | None) -> None:
        if explorer is not None:
            with contextlib.suppress(Exception):
                await explorer.close()
        if service is not None:
            with contextlib.suppress(Exception):
                await service.close()

    def _pop_to_welcome(self) -> None:
        while len(self.screen_stack) > 2 or (
            len(self.screen_stack) == 2 and not isinstance(self.screen, WelcomeScreen)
        ):
            self.pop_screen()

    # -- console ----------------------------------------------------------------------------

    def open_console(self, database: str) -> None:
        """The SQL console on ``database``, on a connection of its own (so cancel and paging never block browsing)."""
        if self.service is None:
            return
        self._console_worker(database)

    @guarded("Cannot open the console", exclusive=True, group="console")
    async def _console_worker(self, database: str) -> None:
        assert self.service is not None
        target = self.service.target.with_database(database) if database else self.service.target
        service = ConnectionService(target, password_prompt=self.prompt_password)
        service._password = self.service._password  # same server, same credentials
        try:
            await service.connect()
        except Exception as exc:
            await service.close()
            self.show_error("Cannot open the console", exc if isinstance(exc, KwtuiError) else KwtuiError(str(exc)))
            return
        self.push_screen(ConsoleScreen(service, database or (service.info.database if service.info else "")))

    # -- export and import ------------------------------------------------------------------

    def _browse_target(self) -> tuple[str, Any]:
        """(database, table or None) under the browse tree's cursor, else the connected database."""
        for screen in reversed(self.screen_stack):
            if isinstance(screen, BrowseScreen):
                return screen.transfer_target()
        return (self.service.info.database if self.service and self.service.info else ""), None

    def open_export_wizard(self) -> None:
        if self.service is None or self.explorer is None:
            self.notify("Connect first: export reads from the connected server", severity="warning")
            return
        database, table = self._browse_target()
        self.push_screen(ExportWizard(database, table))

    def open_import_wizard(self) -> None:
        if self.service is None or self.explorer is None:
            self.notify("Connect first: import writes into the connected server", severity="warning")
            return
        database, table = self._browse_target()
        self.push_screen(ImportWizard(database, table))

    # -- jobs -------------------------------------------------------------------------------

    def action_open_jobs(self) -> None:
        from kwtui.screens.jobs import JobsScreen

        if isinstance(self.screen, JobsScreen):
            return
        try:
            journal = self.journal
        except KwtuiError as exc:  # a damaged journal file: said, never a crash
            self.show_error("Cannot open the jobs", exc)
            return
        self.push_screen(JobsScreen(journal))

    # -- validation -------------------------------------------------------------------------

    def action_open_validation(self) -> None:
        from kwtui.screens.validate import ValidationScreen

        if isinstance(self.screen, ValidationScreen):
            return
        try:
            journal = self.journal
        except KwtuiError as exc:
            self.show_error("Cannot open the validation", exc)
            return
        self.push_screen(ValidationScreen(self.store, journal))

    # -- doctor (preflight checks) ------------------------------------------------------------

    def action_open_doctor(self) -> None:
        from kwtui.screens.doctor import DoctorScreen

        if isinstance(self.screen, DoctorScreen):
            return
        self.push_screen(DoctorScreen())

    def resume_job(self, job_id: int) -> None:
        """Resume a journaled job in this process; the jobs screen follows it through the journal."""
        self._resume_worker(job_id)

    @guarded("The job stopped", group="jobs")
    async def _resume_worker(self, job_id: int) -> None:
        from kwtui.transfer.resumable import JobRunner, target_from_journal

        try:
            job = self.journal.get(job_id)
            if job.kind == "import":  # its source is files, not a server
                await self._resume_import(job_id, target_from_journal(job.target))
                return
            src = ConnectionService(target_from_journal(job.source), password_prompt=self.prompt_password)
            dst = ConnectionService(target_from_journal(job.target), password_prompt=self.prompt_password)
            try:
                await src.connect()
                await dst.connect()
                runner = JobRunner(self.journal, job_id, src, dst)
                self.runners[job_id] = runner
                outcome = await runner.run()
            finally:
                self.runners.pop(job_id, None)
                await src.close()
                await dst.close()
        except KwtuiError as exc:
            self.show_error(f"Job {job_id} stopped", exc)
            return
        except Exception as exc:  # a worker never dies silently
            self.show_error(f"Job {job_id} stopped", KwtuiError(f"{type(exc).__name__}: {exc}"))
            return
        self.notify(f"job {job_id} {outcome.status}: {outcome.rows:,} rows",
                    severity="information" if outcome.status == "completed" else "warning")

    async def _resume_import(self, job_id: int, target: Any) -> None:
        from kwtui.transfer.importjob import resume_import

        dst = ConnectionService(target, password_prompt=self.prompt_password)
        try:
            await dst.connect()
            out = await resume_import(self.journal, job_id, dst)
        finally:
            await dst.close()
        self.notify(f"job {job_id} completed: {out.records:,} records read = {out.rows:,} rows loaded + "
                    f"{out.rejects:,} lines rejected", severity="information")

    # -- migration phases -------------------------------------------------------------------

    def open_phases(self, plan: Any, path: str | Path) -> None:
        """The phases checklist of a saved plan (its state lives beside it, PATH.state.json)."""
        from kwtui.screens.phases import PhasesScreen

        self.push_screen(PhasesScreen(plan, Path(path).expanduser()))

    def action_open_plan(self) -> None:
        """Ask for a saved plan file (default: the newest in the plans folder) and open its phases."""
        from kwtui.migration import MigrationPlan, plans_dir
        from kwtui.screens.modals import PathPrompt

        folder = plans_dir()
        saved = sorted(folder.glob("*.plan.toml"), key=lambda f: f.stat().st_mtime)
        default = str(saved[-1]) if saved else f"{folder}/"

        def chosen(path: str | None) -> None:
            if not path:
                return
            try:
                plan = MigrationPlan.load(path)
            except KwtuiError as exc:
                self.show_error("Cannot open the plan", exc)
                return
            except OSError as exc:
                self.show_error("Cannot open the plan", KwtuiError(f"{path}: {exc.strerror or exc}"))
                return
            self.open_phases(plan, path)

        self.push_screen(PathPrompt("Open a migration plan", default, input_id="plan-path",
                                    hint="A plan saved by kwtui plan --save or the wizard. Enter opens, "
                                         "Esc cancels."), chosen)

    # -- actions ----------------------------------------------------------------------------

    def action_open_connect(self, focus_profiles: bool = False) -> None:
        self.push_screen(ConnectScreen(self.store, focus_profiles=focus_profiles))

    def action_new_migration(self) -> None:
        from kwtui.screens.migration_wizard import NewMigrationScreen

        self.push_screen(NewMigrationScreen(self.store))

    def action_start_demo(self) -> None:
        if self.demo_info is not None:
            self.connect(self._demo_target(self.demo_info))
            return
        screen = self.screen
        if isinstance(screen, WelcomeScreen):
            screen.set_status("Starting the demo: embedded PostgreSQL, first start seeds about 1M rows ...")
        self._demo_worker()

    @guarded("Cannot start the demo", exclusive=True, group="demo", thread=True)
    def _demo_worker(self) -> None:
        try:
            from kwtui.demo import start_demo

            info = start_demo(progress=lambda m: self.call_from_thread(self._demo_progress, m))
        except KwtuiError as exc:
            self.call_from_thread(self.show_error, "Cannot start the demo", exc)
            return
        except Exception as exc:
            self.call_from_thread(self.show_error, "Cannot start the demo",
                                  KwtuiError(f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(DemoStarted(info))

    def _demo_progress(self, text: str) -> None:
        if isinstance(self.screen, WelcomeScreen):
            self.screen.set_status(f"demo: {text}")

    @on(DemoStarted)
    def on_demo_started(self, message: DemoStarted) -> None:
        self.demo_info = message.demo
        self.is_demo = True
        self.connect(self._demo_target(message.demo))

    @staticmethod
    def _demo_target(demo: Any) -> ConnectTarget:
        target = ConnectTarget.from_dsn(demo.conninfo("shop"))
        target.label = "demo (embedded PostgreSQL)"
        return target

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            self.pop_screen()
            return
        rows: list[tuple[str, str]] = []
        seen: set[tuple[str, str]] = set()
        # The screen's and the app's own actions first, then those of the focused widget.
        actives = sorted(self.screen.active_bindings.values(),
                         key=lambda a: 0 if isinstance(a.node, Screen | App) else 1)
        for active in actives:
            binding = active.binding
            if not binding.description:
                continue
            item = (self.get_key_display(binding), binding.description)
            if item not in seen:
                seen.add(item)
                rows.append(item)
        where = getattr(self.screen, "HELP_TITLE", None) or self.screen.__class__.__name__
        self.push_screen(HelpScreen(where, rows))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Connect", "Open the connect screen: profiles and a form", self.action_open_connect)
        yield SystemCommand("Demo", "Start the embedded demo server and connect to it", self.action_start_demo)
        yield SystemCommand("New migration", "Start the guided migration wizard", self.action_new_migration)
        yield SystemCommand("Open a migration plan…", "Run a saved plan's phases: a checklist, one phase at a time",
                            self.action_open_plan)
        yield SystemCommand("Help", "List every key binding of this screen", self.action_help)
        yield SystemCommand("Jobs", "Every journaled transfer: progress, cancel, pause, resume", self.action_open_jobs)
        yield SystemCommand("Doctor…", "Preflight checks before a migration: privileges, keys, TS candidates, "
                            "settings, disks (read-only)", self.action_open_doctor)
        yield SystemCommand("Validate…", "Prove that tables match: row counts, aggregates, checksums to the row",
                            self.action_open_validation)
        if self.service is not None:
            yield SystemCommand("SQL console", "Open the SQL console on the connected database (read mode)",
                                lambda: self.open_console(self._browse_target()[0]))
            yield SystemCommand("Export…", "Export a table or a database to CSV files (streamed or native)",
                                self.open_export_wizard)
            yield SystemCommand("Import…", "Import a CSV file, a table export or a database export",
                                self.open_import_wizard)
            yield SystemCommand("Disconnect", "Close the connection, back to the welcome screen", self.disconnect)
        yield SystemCommand("About", f"kwtui {__version__}", lambda: self.notify(f"kwtui {__version__}"))


def run_app(*, target: ConnectTarget | None = None, demo: bool = False) -> int:
    app = KwtuiApp(target=target, demo=demo)
    app.run()
    return int(app.return_code or 0)
