"""The new-migration wizard: what a migration specialist asks first, on one screen.

The source (PostgreSQL, KWDB or CSV files: a saved profile, a URI or a path), the target
(a profile, a URI, or only its kind), the target's deployment type, the downtime the
business accepts, whether the source keeps taking writes, time-series suggestions and a
measured ETA. F5 assesses the source in a worker (:func:`kwtui.migration.plan_migration`)
and opens the plan screen. No password ever goes into the plan: a URI is kept without it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Footer, Header, Input, Select, Static, Switch

from kwtui import migration
from kwtui.connection import ConnectionService, ConnectTarget
from kwtui.errors import KwtuiError, UsageError
from kwtui.plan import DEPLOYMENTS
from kwtui.profiles import ProfileStore, conninfo_text
from kwtui.screens.base import KwScreen
from kwtui.screens.plan_screen import PlanScreen
from kwtui.screens.wizard import FieldRow, as_error, compact_input
from kwtui.screens.workers import guarded, kwtui_app

SOURCE_KIND_CHOICES = [("PostgreSQL", "postgres"), ("KWDB", "kwdb"), ("CSV files", "csv")]
TARGET_KIND_CHOICES = [("KWDB relational", "kwdb"), ("KWDB time-series", "kwdb-ts"), ("PostgreSQL", "postgres")]
DOWNTIME_CHOICES = [(migration.DOWNTIME_TEXT[d], d) for d in migration.DOWNTIMES]
DEPLOYMENT_CHOICES = [(d, d) for d in DEPLOYMENTS]

SERVER_PLACEHOLDER = "or a URI: postgresql://user@host:port/db"
CSV_PLACEHOLDER = "a CSV file, a folder of CSV files or a KWDB export"
SOURCE_HELP = "a saved profile or a URI; no password is ever kept in the plan"
CSV_HELP = "read on this machine; plain CSV columns are TEXT until you type them"
TARGET_HELP = "optional; without one the plan is made for the target kind below"
DEPLOYMENT_HELP = "detected when connected to a target"
VOLUME_TEXT = "measured when connected: rows and MB per table on the plan screen"


# -- messages (the worker posts them; the handlers own the screen) -------------------------------


class PlanProgressed(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class PlanMade(Message):
    def __init__(self, plan: migration.MigrationPlan) -> None:
        super().__init__()
        self.plan = plan


class PlanFailed(Message):
    def __init__(self, error: KwtuiError) -> None:
        super().__init__()
        self.error = error


# -- what the worker needs ---------------------------------------------------------------------


@dataclass
class PlanRequest:
    requirements: migration.Requirements
    source: ConnectTarget | None  # None: CSV files
    target: ConnectTarget | None  # None: only the target kind
    eta: bool
    source_password: str | None = None  # the app's connection to the same server, reused


def split_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def same_server(a: ConnectTarget, b: ConnectTarget) -> bool:
    keys = ("host", "port", "user", "dbname")
    return all(str(a.params.get(k) or "") == str(b.params.get(k) or "") for k in keys)


class NewMigrationScreen(KwScreen[None]):
    HELP_TITLE = "new migration"
    BINDINGS = [
        Binding("f5", "make_plan", "Make the plan"),
        Binding("f4", "preflight", "Preflight"),
        Binding("ctrl+enter", "make_plan", "Make the plan", show=False),
        Binding("escape", "app.pop_screen", "Back"),
    ]

    def __init__(self, store: ProfileStore | None = None) -> None:
        super().__init__()
        self.store = store
        self.profiles: list[str] = []
        self.running = False
        self.wanted_profiles: dict[str, str] = {}  # side -> profile to select once the list is loaded

    # -- layout ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="mw-form"):
            yield Static("What the migration needs: source, target, downtime. F5 makes the plan.",
                         classes="step-title")
            yield FieldRow("source kind", Select(SOURCE_KIND_CHOICES, value="postgres", allow_blank=False,
                                                 id="mw-source-kind", compact=True, classes="field-select"),
                           "PostgreSQL, KWDB or CSV files", id="mw-row-source-kind")
            yield FieldRow("source", self._endpoint("source"), SOURCE_HELP, id="mw-row-source", below=True)
            yield FieldRow("tables", compact_input(id="mw-tables", classes="field-name",
                                                   placeholder="every table of the source"),
                           "or a comma list: schema.table, …", id="mw-row-tables")
            yield FieldRow("target", self._endpoint("target"), TARGET_HELP, id="mw-row-target", below=True)
            yield FieldRow("target kind", Select(TARGET_KIND_CHOICES, value="kwdb", allow_blank=False,
                                                 id="mw-target-kind", compact=True, classes="field-select"),
                           "a connected server's kind wins", id="mw-row-target-kind")
            yield FieldRow("deployment", Select(DEPLOYMENT_CHOICES, value="single node", allow_blank=False,
                                                id="mw-deployment", compact=True, classes="field-select"),
                           DEPLOYMENT_HELP, id="mw-row-deployment")
            yield FieldRow("data volume", Static(VOLUME_TEXT, id="mw-volume", classes="mw-volume"), "",
                           id="mw-row-volume")
            yield FieldRow("downtime", Select(DOWNTIME_CHOICES, value="minutes", allow_blank=False,
                                              id="mw-downtime", compact=True, classes="field-select"),
                           "what the business accepts", id="mw-row-downtime")
            yield FieldRow("source writes", self._switch("mw-writes"),
                           "the source keeps taking writes during the move", id="mw-row-writes")
            yield FieldRow("TS tables", self._switch("mw-ts"),
                           "propose time-series tables (timestamp, device id)", id="mw-row-ts")
            yield FieldRow("measure ETA", self._switch("mw-eta"),
                           "a sample transfer of ≤20,000 rows, dropped after", id="mw-row-eta")
            with Horizontal(id="mw-run-row"):
                yield Button("Make the plan F5", id="mw-run", variant="primary", compact=True)
                yield Static("", id="mw-status")
        yield Footer()

    @staticmethod
    def _endpoint(side: str) -> Horizontal:
        return Horizontal(
            Select[str]([], prompt="profile…", id=f"mw-{side}-profile", classes="mw-profile", compact=True),
            Input(id=f"mw-{side}-uri", classes="mw-uri", compact=True, select_on_focus=False,
                  placeholder=SERVER_PLACEHOLDER),
            classes="mw-endpoint",
        )

    @staticmethod
    def _switch(ident: str, value: bool = True) -> Horizontal:
        """A one-line switch with its state in words beside it (colour alone is not enough)."""
        return Horizontal(Switch(value, id=ident, classes="mw-switch", animate=False),
                          Static("yes" if value else "no", id=f"{ident}-text", classes="mw-switch-text"),
                          classes="mw-switch-box")

    def on_mount(self) -> None:
        self.sub_title = "New migration"
        if self.store is None:
            self.store = getattr(self.app, "store", None) or ProfileStore()
        self.prefill()
        self.load_profiles()
        self.query_one("#mw-source-kind", Select).focus()

    def prefill(self) -> None:
        """The source from the app's connection (and, in the demo, the demo's empty target database)."""
        service: ConnectionService | None = getattr(self.app, "service", None)
        if service is not None:
            if service.info is not None:
                self.query_one("#mw-source-kind", Select).value = \
                    "kwdb" if service.info.kind == "kwdb" else "postgres"
            self._prefill_side("source", service.target)
            if getattr(self.app, "is_demo", False):  # the demo's empty database is the natural target
                self._prefill_side("target", service.target.with_database("target"))

    def _prefill_side(self, side: str, target: ConnectTarget) -> None:
        if target.profile_name:
            self.wanted_profiles[side] = target.profile_name
            return
        params = {k: v for k, v in target.params.items() if k != "application_name"}  # kwtui sets that itself
        with contextlib.suppress(KwtuiError):
            self.query_one(f"#mw-{side}-uri", Input).value = migration.safe_reference(conninfo_text(params))

    @guarded("Cannot read the profiles", exclusive=True, group="migration-profiles", thread=True)
    def load_profiles(self) -> None:
        try:
            assert self.store is not None
            names = self.store.names()
        except Exception as exc:  # a damaged profiles file: say so, the URI fields still work
            self.app.call_from_thread(kwtui_app(self).show_error,
                                      "Cannot read the profiles", as_error(exc))
            return
        self.app.call_from_thread(self.set_profiles, names)

    def set_profiles(self, names: list[str]) -> None:
        self.profiles = names
        for side in ("source", "target"):
            select = self.query_one(f"#mw-{side}-profile", Select)
            keep = select.value
            select.set_options([(name, name) for name in names])
            wanted = self.wanted_profiles.pop(side, None)
            if wanted in names:
                select.value = wanted
            elif keep in names:
                select.value = keep

    # -- the form reacting -------------------------------------------------------------------

    @on(Select.Changed, ".mw-profile")
    def on_profile_changed(self, event: Select.Changed) -> None:
        if event.value != Select.NULL and event.select.id:
            side = event.select.id.split("-")[1]
            self.query_one(f"#mw-{side}-uri", Input).value = ""  # a profile replaces a typed URI
            self.row(side).set_error(None)

    @on(Input.Changed, ".mw-uri")
    def on_uri_changed(self, event: Input.Changed) -> None:
        if event.input.id:
            side = event.input.id.split("-")[1]
            self.row(side).set_error(None)
            if event.value.strip():
                self.query_one(f"#mw-{side}-profile", Select).clear()  # a typed URI replaces a profile

    @on(Switch.Changed, ".mw-switch")
    def on_switch_changed(self, event: Switch.Changed) -> None:
        if event.switch.id:
            self.query_one(f"#{event.switch.id}-text", Static).update("yes" if event.value else "no")

    @on(Input.Changed, "#mw-tables")
    def on_tables_changed(self) -> None:
        self.query_one("#mw-row-tables", FieldRow).set_error(None)

    @on(Select.Changed, "#mw-source-kind")
    def on_source_kind_changed(self, event: Select.Changed) -> None:
        csv = event.value == "csv"
        self.query_one("#mw-source-profile", Select).display = not csv
        uri = self.query_one("#mw-source-uri", Input)
        uri.placeholder = CSV_PLACEHOLDER if csv else SERVER_PLACEHOLDER
        row = self.row("source")
        row.set_label("source path" if csv else "source")
        row.set_help(CSV_HELP if csv else SOURCE_HELP)
        row.set_error(None)
        writes = self.query_one("#mw-writes", Switch)
        writes.disabled = csv
        if csv:
            writes.value = False
        self.query_one("#mw-ts", Switch).disabled = csv
        kind = self.query_one("#mw-target-kind", Select)
        if event.value == "kwdb" and kind.value != "postgres":
            kind.value = "postgres"  # out of KWDB, as `kwtui plan` does
        elif event.value != "kwdb" and kind.value == "postgres":
            kind.value = "kwdb"

    def row(self, side: str) -> FieldRow:
        return self.query_one(f"#mw-row-{side}", FieldRow)

    # -- reading the form --------------------------------------------------------------------

    def _endpoint_target(self, side: str) -> tuple[str, ConnectTarget] | None:
        """(reference kept in the plan, target to connect) of a side; None when it is empty."""
        uri = self.query_one(f"#mw-{side}-uri", Input).value.strip()
        profile = self.query_one(f"#mw-{side}-profile", Select).value
        if uri:
            try:
                reference = migration.safe_reference(uri)
                return reference, ConnectTarget.from_dsn(uri)
            except KwtuiError as exc:
                raise UsageError(f"{exc.message}; e.g. postgresql://user@host:port/db") from None
        if isinstance(profile, str):
            assert self.store is not None
            return profile, ConnectTarget.from_profile(self.store.get(profile))
        return None

    def read_form(self) -> PlanRequest:
        """The request from the form; a UsageError names the wrong field (shown beside it)."""
        source_kind = str(self.query_one("#mw-source-kind", Select).value)
        source_ref = ""
        source: ConnectTarget | None = None
        try:
            if source_kind == "csv":
                text = self.query_one("#mw-source-uri", Input).value.strip()
                if not text:
                    raise UsageError("type the path of a CSV file, a folder of CSV files or a KWDB export")
                path = Path(text).expanduser()
                if not path.exists():
                    raise UsageError(f"{text}: no such file or folder")
                source_ref = str(path.resolve())
            else:
                got = self._endpoint_target("source")
                if got is None:
                    raise UsageError("choose a profile or type a URI for the source")
                source_ref, source = got
        except KwtuiError as exc:
            self.row("source").set_error(exc.message)
            raise
        try:
            got = self._endpoint_target("target")
        except KwtuiError as exc:
            self.row("target").set_error(exc.message)
            raise
        target_ref, target = got if got is not None else ("", None)
        tables_text = self.query_one("#mw-tables", Input).value
        tables = split_list(tables_text)
        bad = [t for t in tables if len(t.split()) != 1]
        if bad:
            message = f"{bad[0]!r}: table names separated by commas (schema.table)"
            self.query_one("#mw-row-tables", FieldRow).set_error(message)
            raise UsageError(message)
        req = migration.Requirements(
            source=source_ref, source_kind=source_kind, target=target_ref,
            target_kind=str(self.query_one("#mw-target-kind", Select).value),
            deployment=str(self.query_one("#mw-deployment", Select).value),
            downtime=str(self.query_one("#mw-downtime", Select).value),
            source_writes=self.query_one("#mw-writes", Switch).value, tables=tables,
            ts_suggest=self.query_one("#mw-ts", Switch).value)
        req.check()
        password = None
        service: ConnectionService | None = getattr(self.app, "service", None)
        if source is not None and service is not None and same_server(source, service.target):
            password = service._password  # the same server the app is connected to: same credentials
        return PlanRequest(req, source, target, self.query_one("#mw-eta", Switch).value, password)

    # -- making the plan ---------------------------------------------------------------------

    def set_status(self, text: str | Text, *, error: bool = False) -> None:
        status = self.query_one("#mw-status", Static)
        status.set_class(error, "-error")
        status.update(text)

    def action_make_plan(self) -> None:
        if self.running:
            self.notify("the plan is being made", severity="warning")
            return
        try:
            request = self.read_form()
        except KwtuiError as exc:
            self.set_status(Text(f"✗ {exc.one_line()}"), error=True)
            self.app.bell()
            return
        self.running = True
        self.query_one("#mw-run", Button).disabled = True
        self.set_status(Text("⟳ connecting …"))
        self.make_plan(request)

    def action_preflight(self) -> None:
        """F4: the doctor's read-only checks of this source and target, before the plan is made (the
        doctor screen connects through the core, in a worker; Esc comes back here)."""
        from kwtui.doctor import DoctorOptions
        from kwtui.screens.doctor import DoctorScreen

        try:
            request = self.read_form()
        except KwtuiError as exc:
            self.set_status(Text(f"✗ {exc.one_line()}"), error=True)
            self.app.bell()
            return
        req = request.requirements
        csv = req.source_kind == "csv"
        options = DoctorOptions(tables=list(req.tables), cdc=req.source_writes and not csv,
                                target_kind=req.target_kind, files=req.source if csv else None)
        self.app.push_screen(DoctorScreen("" if csv else req.source, req.target, options=options, run_now=True))

    @on(Button.Pressed, "#mw-run")
    def on_run_pressed(self) -> None:
        self.action_make_plan()

    @guarded("Cannot make the plan", exclusive=True, group="migration-plan")
    async def make_plan(self, request: PlanRequest) -> None:
        prompt = getattr(self.app, "prompt_password", None)
        services: list[ConnectionService] = []
        try:
            try:
                src = dst = None
                req = request.requirements
                if request.source is not None:
                    src = ConnectionService(request.source, password_prompt=prompt)
                    if request.source_password and not src._password:
                        src._password = request.source_password
                    services.append(src)
                    self.post_message(PlanProgressed(f"connecting to the source {request.source.label}"))
                    info = await src.connect()
                    req.source_kind = "kwdb" if info.kind == "kwdb" else "postgres"  # what the server is
                if request.target is not None:
                    dst = ConnectionService(request.target, password_prompt=prompt)
                    services.append(dst)
                    self.post_message(PlanProgressed(f"connecting to the target {request.target.label}"))
                    await dst.connect()
                plan = await migration.plan_migration(req, src, dst, eta=request.eta, listener=self._progressed)
            finally:
                for svc in services:
                    with contextlib.suppress(Exception):
                        await svc.close()
        except KwtuiError as exc:
            self.post_message(PlanFailed(exc))
            return
        except Exception as exc:  # a worker never dies silently
            self.post_message(PlanFailed(as_error(exc)))
            return
        self.post_message(PlanMade(plan))

    def _progressed(self, text: str) -> None:
        self.post_message(PlanProgressed(text))

    @on(PlanProgressed)
    def on_plan_progressed(self, message: PlanProgressed) -> None:
        if self.running:
            self.set_status(Text(f"⟳ {message.text} …"))

    @on(PlanFailed)
    def on_plan_failed(self, message: PlanFailed) -> None:
        self.running = False
        self.query_one("#mw-run", Button).disabled = False
        self.set_status(Text(f"✗ {message.error.one_line()}"), error=True)
        kwtui_app(self).show_error("Cannot make the plan", message.error)

    @on(PlanMade)
    def on_plan_made(self, message: PlanMade) -> None:
        self.running = False
        self.query_one("#mw-run", Button).disabled = False
        p = message.plan
        r = p.requirements
        if r.target:  # the server said what it is: show it here too
            self.query_one("#mw-deployment", Select).value = r.deployment
            self.query_one("#mw-row-deployment", FieldRow).set_help(f"detected: {r.deployment}")
            self.query_one("#mw-target-kind", Select).value = r.target_kind
        rows = sum(t.rows for t in p.tables)
        mb = sum(t.bytes for t in p.tables) / 1e6
        self.query_one("#mw-volume", Static).update(
            f"{len(p.tables)} table{'s' if len(p.tables) != 1 else ''}, {rows:,} rows, {mb:,.1f} MB")
        self.set_status(Text(f"✓ plan made: {len(p.tables)} tables (F5 makes it again)"))
        self.app.push_screen(PlanScreen(p))


__all__ = ["NewMigrationScreen", "PlanRequest", "PlanMade", "PlanFailed", "PlanProgressed"]
