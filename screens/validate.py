"""Validation: pick a source and a target, run counts / aggregates / checksums, read the verdicts,
drill down into a table's differing rows side by side, save the report."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.coordinate import Coordinate
from textual.message import Message
from textual.widgets import Button, DataTable, Footer, Header, Input, Label, Select, Static

from kwtui.connection import ConnectionService, ConnectTarget
from kwtui.errors import KwtuiError, UsageError
from kwtui.fmt import text_value
from kwtui.jobs import COMPLETED, Job, Journal
from kwtui.profiles import ProfileStore, conninfo_text
from kwtui.requests import ValidateRequest, run_validate
from kwtui.screens.base import KwScreen
from kwtui.screens.cells import CellViewer, full_text, is_number
from kwtui.screens.cells import cell as grid_cell
from kwtui.screens.modals import PathPrompt
from kwtui.screens.workers import guarded, kwtui_app
from kwtui.transfer.engine import ProgressEvent
from kwtui.validate import (
    AGGREGATE,
    CHANGED,
    CHECKSUM,
    COUNT,
    DIFFERS,
    EQUAL,
    ERROR,
    EXTRA_IN_TARGET,
    MISSING,
    MISSING_IN_TARGET,
    TableValidation,
    ValidationResult,
    report_format,
    write_report,
)

DEFAULT_REPORT = "validation-report.html"
#: display width of a value in the drill-down at most
MAX_VALUE = 40

VERDICT_STYLE = {EQUAL: "bold green", DIFFERS: "bold red", MISSING: "bold yellow", ERROR: "bold magenta"}
KIND_TEXT = {CHANGED: "changed", MISSING_IN_TARGET: "missing in target", EXTRA_IN_TARGET: "extra in target"}
KIND_STYLE = {CHANGED: "yellow", MISSING_IN_TARGET: "red", EXTRA_IN_TARGET: "cyan", "aggregate": "magenta",
              "orphan": "red"}
LEVEL_CHOICES = [("checksum", CHECKSUM), ("aggregate", AGGREGATE), ("count", COUNT)]


def keyword_conninfo(params: dict[str, str]) -> str:
    """A libpq keyword string (host='h' port='5432' ...): values quoted, \\ and ' escaped."""
    def quote(v: str) -> str:
        return "'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'"

    return " ".join(f"{k}={quote(v)}" for k, v in params.items())


def value_text(value: Any, limit: int = MAX_VALUE) -> Text:
    """One value as plain Text (never markup), on one line, cut at ``limit`` characters; NULL a dim ∅,
    numbers right-aligned (as in every grid: screens/cells.py)."""
    if value is None or is_number(value):
        return grid_cell(value, limit)
    text = ("true" if value else "false") if isinstance(value, bool) else text_value(value)
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return Text(text, no_wrap=True)


def cell(value: Any, limit: int) -> Text:
    """A drill-down value: styled Text as it is, a plain value cut at ``limit`` characters."""
    return value if isinstance(value, Text) else value_text(value, limit)


def drill_rows(t: TableValidation) -> list[tuple[Text, Text, Text, Any, Any]]:
    """(key, kind, column, source, target) for every differing row, aggregate and orphan of a table."""
    rows: list[tuple[Text, Text, Text, Any, Any]] = []
    absent = Text("(absent)", style="dim")
    for d in t.differences:
        key = value_text(d.key_text(), 30)
        kind = Text(KIND_TEXT.get(d.kind, d.kind), style=KIND_STYLE.get(d.kind, ""))
        if d.kind == CHANGED:
            for c in d.columns:
                rows.append((key, kind, value_text(c.column, 24), c.source, c.target))
        else:
            here = ", ".join(f"{c.column}={text_value(c.source if d.kind == MISSING_IN_TARGET else c.target)}"
                             for c in d.columns)
            rows.append((key, kind, Text("(row)", style="dim"),
                         here if d.kind == MISSING_IN_TARGET else absent,
                         absent if d.kind == MISSING_IN_TARGET else here))
    for a in t.differing_aggregates:
        rows.append((Text("-"), Text("aggregate", style=KIND_STYLE["aggregate"]),
                     value_text(f"{a.column}.{a.metric}", 24), a.source, a.target))
    for r in t.references:
        if not r.orphans:
            continue
        where = value_text(f"{', '.join(r.columns)} → {r.parent}", 24)
        for e in r.examples or [{}]:
            key = value_text(", ".join(f"{k}={text_value(v)}" for k, v in e.items()) or "-", 30)
            rows.append((key, Text("orphan", style=KIND_STYLE["orphan"]), where, Text(""),
                         Text(f"{r.orphans:,} without a parent", style="dim")))
    return rows


def count_text(n: int | None) -> Text:
    if n is None:
        return Text("-", style="dim", justify="right")
    return Text(f"{n:,}", style="dim" if n == 0 else "", justify="right")


def split_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def job_choice(job: Job) -> str:
    """A finished job in the job picker (labels only, never connection strings)."""
    n = len(job.tables)
    return (f"#{job.id} {job.source.get('label', '?')} → {job.target.get('label', '?')} "
            f"({n} table{'s' if n != 1 else ''})")


# -- what a run needs -----------------------------------------------------------------------------


@dataclass
class Endpoint:
    """One side as picked on the screen: a typed URI wins over a profile; a job's side otherwise."""

    uri: str = ""
    profile: str | None = None
    journal: dict[str, Any] | None = None  # the side of a finished job, as the journal keeps it

    def resolve(self, store: ProfileStore, side: str) -> ConnectTarget:
        if self.uri:
            return ConnectTarget.from_dsn(self.uri)
        if self.profile:
            return ConnectTarget.from_profile(store.get(self.profile))
        if self.journal is not None:
            from kwtui.transfer.resumable import target_from_journal

            return target_from_journal(self.journal)
        raise UsageError(f"choose a profile or type a URI for the {side}")


@dataclass
class ValidationRequest:
    source: Endpoint
    target: Endpoint
    tables: list[str]  # empty: every table of the source
    key: tuple[str, ...] | None
    level: str
    targets: dict[str, str] = field(default_factory=dict)  # source table -> target table (from a job)


# -- messages (workers post them; the handlers own the screen's state) ---------------------------


class ChoicesLoaded(Message):
    def __init__(self, profiles: list[str], jobs: list[Job]) -> None:
        super().__init__()
        self.profiles, self.jobs = profiles, jobs


class ValidationProgressed(Message):
    def __init__(self, event: ProgressEvent) -> None:
        super().__init__()
        self.event = event


class ValidationFinished(Message):
    def __init__(self, result: ValidationResult) -> None:
        super().__init__()
        self.result = result


class ValidationFailed(Message):
    def __init__(self, error: KwtuiError) -> None:
        super().__init__()
        self.error = error


class ReportSaved(Message):
    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path


# -- the report path prompt ------------------------------------------------------------------------


class ReportPathModal(PathPrompt):
    def __init__(self, default: str) -> None:
        super().__init__("Save the validation report (.html, .md or .json)", default, input_id="report-path")


# -- the screen ------------------------------------------------------------------------------------


class ValidationScreen(KwScreen[None]):
    HELP_TITLE = "validation"
    DEFAULT_CSS = """
    #v-form { height: auto; padding: 0 1; }
    .v-row { height: 1; }
    .v-row Label { width: 8; }
    .v-row Label.v-small { width: 7; padding: 0 1; }
    .v-row Input, .v-row Select { background: $boost; }
    .v-row Select.v-profile { width: 24; margin-right: 1; }
    .v-row Input.v-uri { width: 1fr; }
    #v-job { width: 1fr; }
    #v-tables { width: 1fr; }
    #v-key { width: 12; }
    #v-level { width: 14; }
    #v-run-row { height: 1; }
    #v-run { min-width: 10; margin-right: 1; }
    #v-progress { width: 1fr; color: $text-muted; }
    #v-verdicts { height: auto; max-height: 8; border: round $primary; border-title-color: $accent; }
    #v-diffs { height: 1fr; border: round $primary; border-title-color: $accent; }
    #v-notes { height: auto; max-height: 3; padding: 0 1; color: $text-muted; }
    """
    BINDINGS = [
        Binding("f5", "run", "Run"),
        Binding("ctrl+r", "run", "Run", show=False),
        Binding("ctrl+s", "save_report", "Save report"),
        Binding("escape", "app.pop_screen", "Back"),
    ]

    def __init__(self, store: ProfileStore | None = None, journal: Journal | None = None) -> None:
        super().__init__()
        self.store = store or ProfileStore()
        self.journal = journal or Journal()
        self.profiles: list[str] = []
        self.finished_jobs: dict[int, Job] = {}
        self.job_sides: tuple[dict[str, Any], dict[str, Any]] | None = None
        self.job_targets: dict[str, str] = {}
        self.result: ValidationResult | None = None
        self.shown: TableValidation | None = None
        self.running = False

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="v-form"):
            for side, title in (("source", "Source"), ("target", "Target")):
                with Horizontal(classes="v-row"):
                    yield Label(title)
                    yield Select[str]([], prompt="profile…", id=f"v-{side}-profile", classes="v-profile",
                                      compact=True)
                    yield Input(id=f"v-{side}-uri", classes="v-uri", compact=True, select_on_focus=False,
                                placeholder="or a URI: postgresql://user@host:port/db")
            with Horizontal(classes="v-row"):
                yield Label("Job")
                yield Select[int]([], prompt="or the tables of a finished transfer job…", id="v-job", compact=True)
            with Horizontal(classes="v-row"):
                yield Label("Tables")
                yield Input(id="v-tables", compact=True, select_on_focus=False,
                            placeholder="all tables of the source")
                yield Label("Key", classes="v-small")
                yield Input(id="v-key", compact=True, select_on_focus=False, placeholder="primary")
                yield Label("Level", classes="v-small")
                yield Select(LEVEL_CHOICES, value=CHECKSUM, allow_blank=False, id="v-level", compact=True)
            with Horizontal(id="v-run-row"):
                yield Button("Run F5", id="v-run", variant="primary", compact=True)
                yield Static(Text("Pick a source and a target, then F5."), id="v-progress")
        verdicts: DataTable[Any] = DataTable(id="v-verdicts", cursor_type="row", zebra_stripes=True)
        verdicts.border_title = "Verdicts"
        yield verdicts
        diffs: DataTable[Any] = DataTable(id="v-diffs", cursor_type="row", zebra_stripes=True)
        diffs.border_title = "Differences"
        yield diffs
        yield Static("", id="v-notes")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Validate"
        verdicts = self.query_one("#v-verdicts", DataTable)
        for label in ("Table", "Verdict", "Source", "Target", "Changed", "Missing", "Extra", "Method"):
            verdicts.add_column(label, key=label.lower())
        diffs = self.query_one("#v-diffs", DataTable)
        for label in ("Key", "Kind", "Column", "Source", "Target"):
            diffs.add_column(label, key=label.lower())
        self.load_choices()
        self.offer_current_connection()
        self.query_one("#v-source-profile", Select).focus()

    def offer_current_connection(self) -> None:
        """Connected: the source starts as the current connection (its parameters, never a password)."""
        service = kwtui_app(self).service
        box = self.query_one("#v-source-uri", Input)
        if service is None or box.value.strip():
            return
        params = {k: str(v) for k, v in service.target.params.items() if k != "password" and v not in (None, "")}
        box.value = keyword_conninfo(params)
        self.set_progress(Text(f"source: the current connection, {service.target.label}", style="dim"))

    # -- profiles and finished jobs ----------------------------------------------------------

    @guarded("Cannot list the choices", exclusive=True, group="validate-choices", thread=True)
    def load_choices(self) -> None:
        try:
            profiles = self.store.names()
            jobs = [j for j in self.journal.jobs(200) if j.kind == "transfer" and j.status == COMPLETED]
        except Exception as exc:  # local files: say what is wrong, never die silently
            error = exc if isinstance(exc, KwtuiError) else KwtuiError(f"{type(exc).__name__}: {exc}")
            self.app.call_from_thread(kwtui_app(self).show_error,
                                      "Cannot read the profiles or the job journal", error)
            return
        self.post_message(ChoicesLoaded(profiles, jobs))

    @on(ChoicesLoaded)
    def on_choices_loaded(self, message: ChoicesLoaded) -> None:
        self.profiles = message.profiles
        self.finished_jobs = {j.id: j for j in message.jobs}
        for side in ("source", "target"):
            select = self.query_one(f"#v-{side}-profile", Select)
            keep = select.value
            select.set_options([(name, name) for name in message.profiles])
            if keep in message.profiles:
                select.value = keep
        self.query_one("#v-job", Select).set_options([(job_choice(j), j.id) for j in message.jobs])

    @on(Select.Changed, ".v-profile")
    def on_profile_changed(self, event: Select.Changed) -> None:
        if event.value != Select.NULL and event.select.id:
            side = event.select.id.split("-")[1]
            self.query_one(f"#v-{side}-uri", Input).value = ""  # a profile replaces a typed URI

    @on(Input.Changed, ".v-uri")
    def on_uri_changed(self, event: Input.Changed) -> None:
        if event.value.strip() and event.input.id:
            side = event.input.id.split("-")[1]
            self.query_one(f"#v-{side}-profile", Select).clear()  # a typed URI replaces a profile

    @on(Select.Changed, "#v-job")
    def on_job_changed(self, event: Select.Changed) -> None:
        job = self.finished_jobs.get(event.value) if isinstance(event.value, int) else None
        if job is None:
            self.job_sides, self.job_targets = None, {}
            return
        self.job_sides = (job.source, job.target)
        for side, data in (("source", job.source), ("target", job.target)):
            select = self.query_one(f"#v-{side}-profile", Select)
            uri = self.query_one(f"#v-{side}-uri", Input)
            if data.get("profile") and data["profile"] in self.profiles:
                uri.value = ""
                select.value = data["profile"]
            else:
                uri.value = conninfo_text(data.get("params") or {})
        tables = [t for t in job.tables if t.status == COMPLETED] or job.tables
        self.job_targets = {t.name: t.target for t in tables}
        self.query_one("#v-tables", Input).value = ", ".join(t.name for t in tables)

    # -- running -----------------------------------------------------------------------------

    def endpoint(self, side: str) -> Endpoint:
        uri = self.query_one(f"#v-{side}-uri", Input).value.strip()
        profile = self.query_one(f"#v-{side}-profile", Select).value
        journal = None
        if self.job_sides is not None:
            journal = self.job_sides[0 if side == "source" else 1]
        return Endpoint(uri=uri, profile=profile if isinstance(profile, str) else None, journal=journal)

    def request(self) -> ValidationRequest:
        key_text = self.query_one("#v-key", Input).value
        key = tuple(split_list(key_text)) or None
        if key_text.strip() and key is None:
            raise UsageError("the key override needs column names: a, b")
        level = self.query_one("#v-level", Select).value
        return ValidationRequest(source=self.endpoint("source"), target=self.endpoint("target"),
                                 tables=split_list(self.query_one("#v-tables", Input).value), key=key,
                                 level=level if isinstance(level, str) else CHECKSUM,
                                 targets=dict(self.job_targets))

    def action_run(self) -> None:
        if self.running:
            self.notify("a validation is running", severity="warning")
            return
        try:
            request = self.request()
        except KwtuiError as exc:
            kwtui_app(self).show_error("Cannot validate", exc)
            return
        self.running = True
        self.result = self.shown = None
        self.query_one("#v-verdicts", DataTable).clear()
        self.query_one("#v-diffs", DataTable).clear()
        self.query_one("#v-diffs", DataTable).border_title = "Differences"
        self.query_one("#v-notes", Static).update("")
        self.set_progress(Text("connecting …"))
        self.run_validation(request)

    @on(Button.Pressed, "#v-run")
    def on_run_pressed(self) -> None:
        self.action_run()

    @guarded("Validation stopped", exclusive=True, group="validate")
    async def run_validation(self, request: ValidationRequest) -> None:
        prompt = getattr(self.app, "prompt_password", None)
        services: list[ConnectionService] = []
        try:
            try:
                src = ConnectionService(request.source.resolve(self.store, "source"), password_prompt=prompt)
                services.append(src)
                dst = ConnectionService(request.target.resolve(self.store, "target"), password_prompt=prompt)
                services.append(dst)
                await src.connect()
                await dst.connect()
                # the request `kwtui validate` builds from its options, run by the same core function
                req = ValidateRequest(tuple(request.tables) or None, key=request.key, level=request.level,
                                      targets=tuple(request.targets.items()))
                result = await run_validate(src, dst, req, listener=self._progressed)
            finally:
                for svc in services:
                    with contextlib.suppress(Exception):
                        await svc.close()
        except KwtuiError as exc:
            self.post_message(ValidationFailed(exc))
            return
        except Exception as exc:  # a worker never dies silently
            self.post_message(ValidationFailed(KwtuiError(f"{type(exc).__name__}: {exc}")))
            return
        self.post_message(ValidationFinished(result))

    def _progressed(self, event: ProgressEvent) -> None:
        """The validation's listener (already rate-limited to about ten events a second)."""
        self.post_message(ValidationProgressed(event))

    def set_progress(self, text: Text) -> None:
        self.query_one("#v-progress", Static).update(text)

    @on(ValidationProgressed)
    def on_progressed(self, message: ValidationProgressed) -> None:
        if not self.running:
            return
        ev = message.event
        line = Text.assemble(("⟳ ", "bold"), (ev.table or "validate", "bold"), f": {ev.phase}")
        if ev.message:
            line.append(f"  {ev.message}")
        if ev.tables_total:
            line.append(f"  ({ev.tables_done}/{ev.tables_total} tables)", style="dim")
        self.set_progress(line)

    @on(ValidationFailed)
    def on_failed(self, message: ValidationFailed) -> None:
        self.running = False
        self.set_progress(Text("validation stopped: " + message.error.one_line(), style="red"))
        kwtui_app(self).show_error("Validation stopped", message.error)

    @on(ValidationFinished)
    def on_finished(self, message: ValidationFinished) -> None:
        self.running = False
        result = self.result = message.result
        counts = {k: v for k, v in result.verdict_counts().items() if v}
        n = len(result.tables)
        line = Text(f"{n} table{'s' if n != 1 else ''}: ")
        for i, (verdict, count) in enumerate(counts.items()):
            if i:
                line.append(", ")
            line.append(f"{count} {verdict}", style=VERDICT_STYLE.get(verdict, ""))
        if result.warnings:
            line.append(f", {result.warnings} warning{'s' if result.warnings != 1 else ''}", style="yellow")
        line.append("  ctrl+s saves the report", style="dim")
        self.set_progress(line)
        table = self.query_one("#v-verdicts", DataTable)
        table.clear()
        for i, t in enumerate(result.tables):
            name = t.table if t.target == t.table else f"{t.table} → {t.target}"
            compared = t.verdict in (EQUAL, DIFFERS)
            table.add_row(Text(name, no_wrap=True), Text(t.verdict, style=VERDICT_STYLE.get(t.verdict, "")),
                          count_text(t.source_rows), count_text(t.target_rows),
                          *(count_text(t.diff_counts.get(kind, 0) if compared else None)
                            for kind in (CHANGED, MISSING_IN_TARGET, EXTRA_IN_TARGET)),
                          Text(t.method or t.level), key=str(i))
        table.border_title = f"Verdicts ({result.level}; rows in the source and the target)"
        first = next((i for i, t in enumerate(result.tables) if t.verdict != EQUAL), 0)
        if result.tables:
            table.cursor_coordinate = Coordinate(first, 0)
            self.show_table(first)
        table.focus()

    # -- drill-down --------------------------------------------------------------------------

    @on(DataTable.RowHighlighted, "#v-verdicts")
    def on_verdict_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value is not None:
            self.show_table(int(event.row_key.value))

    @on(DataTable.RowSelected, "#v-diffs")
    def on_difference_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a difference: both values whole, one above the other, in the cell viewer."""
        rows = getattr(self, "drill", [])
        if not 0 <= event.cursor_row < len(rows):
            return
        key, kind, col, source, target = rows[event.cursor_row]

        def whole(value: Any) -> str:
            if value is None:
                return "∅ NULL (no value)"
            return value.plain if isinstance(value, Text) else full_text(value)

        text = f"source:\n{whole(source)}\n\ntarget:\n{whole(target)}"
        self.app.push_screen(CellViewer(f"{key.plain} · {kind.plain} · {col.plain}", text))

    @on(DataTable.RowSelected, "#v-verdicts")
    def on_verdict_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key is not None and event.row_key.value is not None:
            self.show_table(int(event.row_key.value))
            self.query_one("#v-diffs", DataTable).focus()

    def on_resize(self) -> None:
        if self.result is not None and self.shown is not None:
            index = self.result.tables.index(self.shown)
            self.shown = None  # the value columns follow the new width
            self.call_after_refresh(self.show_table, index)

    def show_table(self, index: int) -> None:
        if self.result is None or not 0 <= index < len(self.result.tables):
            return
        t = self.result.tables[index]
        if self.shown is t:
            return
        self.shown = t
        diffs = self.query_one("#v-diffs", DataTable)
        diffs.clear()
        rows = drill_rows(t)
        fixed = sum(max([len(label)] + [len(r[i]) for r in rows]) for i, label in enumerate(("Key", "Kind", "Column")))
        # the two value columns share what the key, kind and column leave (borders, padding, scrollbar)
        width = diffs.size.width or 80
        limit = max(12, (width - 4 - 10 - fixed) // 2)
        self.drill = rows
        for key, kind, col, source, target in rows:
            diffs.add_row(key, kind, col, cell(source, limit), cell(target, limit))
        shown = sum(t.diff_counts.values())
        title = f"Differences: {t.table}"
        if shown > len(t.differences):
            title += f" (first {len(t.differences)} of {shown:,})"
        diffs.border_title = title
        notes: list[str] = []
        if t.error:
            notes.append(f"error: {t.error}")
        notes.extend(f"warning: {w}" for w in t.warnings)  # checks that could not run, with their reason
        for r in t.references:
            if r.orphans:
                notes.append(f"foreign key {r.constraint}: {r.orphans:,} orphan row{'s' if r.orphans != 1 else ''} "
                             "in the target")
        notes.extend(f"note: {n}" for n in t.notes)
        if not notes and t.verdict == EQUAL:
            notes.append("equal: nothing differs")
        self.query_one("#v-notes", Static).update(Text("\n".join(notes)))

    # -- the report --------------------------------------------------------------------------

    def action_save_report(self) -> None:
        if self.result is None:
            self.notify("run a validation first: F5", severity="warning")
            return
        result = self.result

        def chosen(path: str | None) -> None:
            if not path:
                return
            try:
                report_format(path)
            except KwtuiError as exc:
                kwtui_app(self).show_error("Cannot save the report", exc)
                return
            self.save_report(result, path)

        self.app.push_screen(ReportPathModal(DEFAULT_REPORT), chosen)

    @guarded("Cannot save the report", exclusive=True, group="validate-report", thread=True)
    def save_report(self, result: ValidationResult, path: str) -> None:
        try:
            written = write_report(result, Path(path).expanduser())
        except Exception as exc:  # a file that cannot be written: say so
            error = exc if isinstance(exc, KwtuiError) else KwtuiError(f"{type(exc).__name__}: {exc}")
            self.app.call_from_thread(kwtui_app(self).show_error, "Cannot save the report", error)
            return
        self.post_message(ReportSaved(written))

    @on(ReportSaved)
    def on_report_saved(self, message: ReportSaved) -> None:
        self.notify(f"report written to {message.path}", markup=False)
