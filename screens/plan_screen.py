"""The plan screen: a migration plan to read, edit, save and run.

Top: the requirements and the volume. Then the tables with their strategy; under them, for
the highlighted table, the column mapping (lossy and edited mappings marked) beside the
target DDL, re-rendered after every edit; at the bottom the table's and the plan's notes
and warnings. Every edit goes through :class:`kwtui.migration.MigrationPlan` (set_type,
set_role, set_include, set_watermark); the screen only shows what the plan says.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.coordinate import Coordinate
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Input, Label, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from kwtui import migration
from kwtui.errors import KwtuiError
from kwtui.fmt import seconds_text
from kwtui.migration import MigrationPlan, TableEntry
from kwtui.plan import ROLES, ColumnMap
from kwtui.screens.base import KwModal, KwScreen
from kwtui.screens.modals import ConfirmModal, PathPrompt
from kwtui.screens.wizard import as_error, display_path
from kwtui.screens.workers import guarded, kwtui_app

TABLE_COLUMNS = (("", "inc"), ("Table", "table"), ("Target", "target"), ("Rows", "rows"), ("MB", "mb"),
                 ("Method", "method"), ("Wk", "workers"), ("Batch", "batch"), ("Watermark", "watermark"),
                 ("ETA", "eta"), ("Cx", "complexity"))
MAPPING_COLUMNS = (("Column", "column"), ("Target type", "target"), ("Role", "role"), ("Source type", "source"),
                   ("Note", "note"))
INCLUDED, EXCLUDED = Text("✓", style="bold green"), Text("✗", style="bold red")
EDITED_STYLE, LOSSY_STYLE = "bold cyan", "bold yellow"


# -- formatting (module functions: tests can call them) ------------------------------------------


def short_reference(reference: str) -> str:
    """A source or target as short as it reads: the database of a URI or keyword string, a file name,
    a profile's name (the notes panel shows the whole reference)."""
    if "://" in reference:
        rest = reference.split("://", 1)[1].split("?", 1)[0]
        server, _, db = rest.rsplit("@", 1)[-1].partition("/")
        return db or server or reference
    if "=" in reference:
        parts = dict(p.split("=", 1) for p in reference.split() if "=" in p)
        return parts.get("dbname") or parts.get("service") or reference
    if "/" in reference:
        return Path(reference).name or reference
    return reference


def summary_text(plan: MigrationPlan, *, saved: Path | None = None) -> Text:
    """Two lines: the requirements, then the volume and the ETA."""
    r = plan.requirements
    source = short_reference(r.source) or "?"
    line = Text.assemble((source, "bold"), f" ({r.source_kind}) → ")
    if r.target:
        line.append(short_reference(r.target), style="bold")
        if r.ts_database:  # a mixed plan: the TS database instead of the kind (80 columns)
            line.append(" + TS db ")
            line.append(r.ts_database, style="bold magenta")
        else:
            line.append(f" ({r.target_kind}, {r.deployment}, detected)")
    else:
        line.append(r.target_kind, style="bold")
        line.append(f" ({r.deployment}, not connected)")
    line.append(f" · downtime {r.downtime}")
    included = plan.included
    rows = sum(t.rows for t in included)
    mb = sum(t.bytes for t in included) / 1e6
    n = len(plan.tables)
    line.append(f"\nwrites {'continue' if r.source_writes else 'stopped'} · {len(included)}/{n} "
                f"table{'s' if n != 1 else ''} · {rows:,} rows · {mb:,.1f} MB")
    if plan.eta is not None and plan.eta.rows_per_s > 0:
        total = sum(t.eta_s or 0.0 for t in included)
        line.append(f" · ETA {seconds_text(total)}", style="bold")
    else:
        line.append(" · ETA not measured", style="dim")
    if saved is not None:
        line.append(f" · {display_path(saved)}", style="dim")
    return line


def table_cells(t: TableEntry) -> list[Text]:
    target = Text(t.target, no_wrap=True)
    if t.ts:
        target.append(" TS", style="bold magenta")
    dim = "" if t.include else "dim"
    return [
        INCLUDED if t.include else EXCLUDED,
        Text(t.table, no_wrap=True, style=dim),
        target,
        Text(f"{t.rows:,}", justify="right"),
        Text(f"{t.bytes / 1e6:,.2f}", justify="right"),
        Text(t.method),
        Text(str(t.workers), justify="right"),
        Text(f"{t.batch_rows:,}", justify="right"),
        Text(t.watermark or "-", style="" if t.watermark else "dim"),
        Text(seconds_text(t.eta_s), justify="right"),
        Text(str(t.complexity), justify="right"),
    ]


def mapping_cells(m: ColumnMap) -> list[Text]:
    style = EDITED_STYLE if m.edited else LOSSY_STYLE if m.lossy else ""
    mark = "✎ " if m.edited else "⚠ " if m.lossy else ""
    return [
        Text(m.name, no_wrap=True),
        Text(mark + m.target_type, style=style, no_wrap=True),
        Text(m.role, style="bold magenta" if m.role in ("timestamp", "primary tag", "tag") else ""),
        Text(m.source_type, style="dim", no_wrap=True),
        Text(m.note, style=style or "dim", no_wrap=True),
    ]


def ddl_text(t: TableEntry) -> str:
    parts = [t.create]
    if t.post_load:
        parts.append("-- after the data is loaded:\n" + "\n".join(t.post_load))
    return "\n\n".join(parts)


def notes_text(plan: MigrationPlan, t: TableEntry | None) -> Text:
    out = Text()
    inventory, blocking = None, False
    inv = plan.assessment.inventory
    if inv is not None:
        from kwtui.inventory import unaccepted

        left = len(unaccepted(inv))
        blocking = left > 0
        inventory = (f"{left} object(s) refused on this target block the run: i shows them, a accepts a kind "
                     f"({len(inv.objects)} in the inventory, {len(inv.refused())} refused)\n" if left else
                     f"inventory: {len(inv.objects)} objects, {len(inv.refused())} refused on this target · "
                     "i shows each\n")
        if blocking:  # first, so that the panel's first lines at 80x24 show it
            out.append(inventory, style="bold red")
    if t is not None:
        out.append(f"{t.table}", style="bold")
        out.append(f": {t.method}, {t.workers} worker{'s' if t.workers != 1 else ''}, batch {t.batch_rows:,}")
        if t.reason:
            out.append(f" ({t.reason})")
        out.append("\n")
        out.append(f"watermark {t.watermark or 'none'}: {t.watermark_reason}\n", style="dim")
        for w in t.warnings:
            out.append(f"⚠ {w}\n", style="yellow")
        if not t.include:
            out.append("excluded from the migration (space includes it)\n", style="red")
    if inventory is not None and not blocking:
        out.append(inventory, style="dim")
    for w in plan.warnings:
        out.append(f"⚠ {w}\n", style="yellow")
    for n in plan.notes:
        out.append(f"• {n}\n")
    if plan.eta is not None:
        out.append(f"ETA: {plan.eta.rows_per_s:,.0f} rows/s measured by {plan.eta.method}\n", style="dim")
    r = plan.requirements
    out.append(f"source: {r.source}\ntarget: {r.target or '(not connected: kind ' + r.target_kind + ')'}\n"
               + (f"TS database: {r.ts_database} (TS tables; the schema phase creates it)\n" if r.ts_database else ""),
               style="dim")
    out.rstrip()
    return out


# -- messages ---------------------------------------------------------------------------------------


class PlanSaved(Message):
    def __init__(self, path: Path, then_phases: bool) -> None:
        super().__init__()
        self.path, self.then_phases = path, then_phases


class DdlSaved(Message):
    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path


class SaveFailed(Message):
    def __init__(self, title: str, error: KwtuiError) -> None:
        super().__init__()
        self.title, self.error = title, error


# -- modals ---------------------------------------------------------------------------------------


class TypeModal(KwModal[str | None]):
    """The target type of one column; a type the plan refuses is said here, the modal stays open."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, current: str, apply: Callable[[str], str | None]) -> None:
        super().__init__()
        self.title_text, self.current, self.apply = title, current, apply

    def compose(self) -> ComposeResult:
        with Vertical(id="pl-type-dialog", classes="pl-dialog"):
            yield Label(self.title_text, classes="title")
            yield Input(value=self.current, id="pl-type-input", select_on_focus=False)
            yield Static("", id="pl-type-error")
            yield Static("Enter sets it (empty: back to the mapped type), Esc cancels.", classes="muted")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        problem = self.apply(event.value)
        if problem:
            self.query_one("#pl-type-error", Static).update(Text(f"✗ {problem}", style="bold red"))
            return
        self.dismiss(event.value)

    def on_input_changed(self) -> None:
        self.query_one("#pl-type-error", Static).update("")

    def action_cancel(self) -> None:
        self.dismiss(None)


class ChoiceModal(KwModal[str | None]):
    """One of a few values (a role, a watermark column); Enter picks, Esc cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, choices: list[tuple[str, str]], current: str | None = None) -> None:
        super().__init__()
        self.title_text, self.choices, self.current = title, choices, current

    def compose(self) -> ComposeResult:
        with Vertical(id="pl-choice-dialog", classes="pl-dialog"):
            yield Label(self.title_text, classes="title")
            yield OptionList(*[Option(Text(label), id=f"c{i}") for i, (label, _) in enumerate(self.choices)],
                             id="pl-choices")
            yield Static("Enter picks, Esc cancels.", classes="muted")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        values = [v for _, v in self.choices]
        if self.current in values:
            options.highlighted = values.index(self.current)
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.choices[event.option_index][1])

    def action_cancel(self) -> None:
        self.dismiss(None)


# -- the screen -----------------------------------------------------------------------------------


class PlanScreen(KwScreen[None]):
    HELP_TITLE = "migration plan"
    BINDINGS = [
        Binding("e", "edit_type", "Type"),
        Binding("t", "edit_role", "Role"),
        Binding("space", "toggle_include", "Include"),
        Binding("w", "watermark", "Watermark"),
        Binding("ctrl+s", "save", "Save"),
        Binding("d", "save_ddl", "DDL"),
        Binding("f5", "run_phases", "Phases"),
        Binding("i", "inventory", "Inventory"),
        Binding("r", "run_phases", "Run the phases", show=False),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, plan: MigrationPlan, path: Path | None = None) -> None:
        super().__init__()
        self.plan = plan
        self.path = path
        self.unsaved = path is None  # F5 saves first
        self.edited = False  # escape asks before edits are lost
        self.current: str | None = plan.tables[0].table if plan.tables else None
        self.saving = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="pl-summary")
        tables: DataTable[Any] = DataTable(id="pl-tables", cursor_type="row", zebra_stripes=True)
        tables.border_title = "Tables"
        tables.border_subtitle = "space include · w watermark"
        yield tables
        with Horizontal(id="pl-detail"):
            mapping: DataTable[Any] = DataTable(id="pl-mapping", cursor_type="row", zebra_stripes=True)
            mapping.border_title = "Mapping"
            mapping.border_subtitle = "e type · t role"
            yield mapping
            ddl = TextArea("", id="pl-ddl", read_only=True, language="sql", soft_wrap=True,
                           show_line_numbers=False)
            ddl.border_title = "DDL"
            yield ddl
        with VerticalScroll(id="pl-notes"):
            yield Static("", id="pl-notes-text")
        yield Footer(compact=True, show_command_palette=False)  # ctrl+p still opens it

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """The mapping in focus takes the room: the tables list and the notes shrink (80x24 showed 4
        mapping rows)."""
        self.set_class(event.widget.id in ("pl-mapping", "pl-ddl"), "-mapping-focus")

    def on_mount(self) -> None:
        self.sub_title = "Migration plan"
        self.query_one("#pl-notes", VerticalScroll).border_title = "Notes and warnings"
        tables = self.query_one("#pl-tables", DataTable)
        for label, key in TABLE_COLUMNS:
            tables.add_column(label, key=key)
        mapping = self.query_one("#pl-mapping", DataTable)
        for label, key in MAPPING_COLUMNS:
            mapping.add_column(label, key=key)
        self.fill_tables()
        self.show_summary()
        self.show_table()
        tables.focus()

    # -- showing the plan --------------------------------------------------------------------

    def entry(self) -> TableEntry | None:
        if self.current is None:
            return None
        try:
            return self.plan.entry(self.current)
        except KwtuiError:
            return None

    def show_summary(self) -> None:
        self.query_one("#pl-summary", Static).update(summary_text(self.plan, saved=None if self.unsaved
                                                                  else self.path))

    def fill_tables(self) -> None:
        tables = self.query_one("#pl-tables", DataTable)
        row = tables.cursor_row
        tables.clear()
        for t in self.plan.tables:
            tables.add_row(*table_cells(t), key=t.table)
        n = len(self.plan.tables)
        tables.border_title = f"Tables ({len(self.plan.included)} of {n} included)"
        if n:
            tables.cursor_coordinate = Coordinate(min(max(row, 0), n - 1), 0)

    def show_table(self, keep_column: str | None = None) -> None:
        """Mapping, DDL and notes of the highlighted table; ``keep_column`` stays under the cursor."""
        t = self.entry()
        mapping = self.query_one("#pl-mapping", DataTable)
        ddl = self.query_one("#pl-ddl", TextArea)
        row = mapping.cursor_row
        mapping.clear()
        if t is None:
            ddl.load_text("")
            self.query_one("#pl-notes-text", Static).update(notes_text(self.plan, None))
            return
        maps = self.plan.mapping(t.table)
        for m in maps:
            mapping.add_row(*mapping_cells(m), key=m.name)
        names = [m.name for m in maps]
        if keep_column in names:
            row = names.index(keep_column)
        if maps:
            mapping.cursor_coordinate = Coordinate(min(max(row, 0), len(maps) - 1), 0)
        mapping.border_title = f"Mapping: {t.table}"
        ddl.load_text(ddl_text(t))
        ddl.border_title = f"DDL: {t.target}" + (" (TS)" if t.ts else "")
        self.query_one("#pl-notes-text", Static).update(notes_text(self.plan, t))

    def changed(self, column: str | None = None) -> None:
        """After an edit: everything the edit can touch is shown again."""
        self.unsaved = self.edited = True
        self.fill_tables()
        self.show_summary()
        self.show_table(keep_column=column)

    @on(DataTable.RowHighlighted, "#pl-tables")
    def on_table_highlighted(self, event: DataTable.RowHighlighted) -> None:
        name = event.row_key.value if event.row_key is not None else None
        if name is not None and name != self.current:
            self.current = name
            self.show_table()

    @on(DataTable.RowSelected, "#pl-tables")
    def on_table_selected(self) -> None:
        self.query_one("#pl-mapping", DataTable).focus()

    def column(self) -> ColumnMap | None:
        """The mapping row under the cursor."""
        t = self.entry()
        if t is None:
            return None
        maps = self.plan.mapping(t.table)
        row = self.query_one("#pl-mapping", DataTable).cursor_row
        return maps[row] if 0 <= row < len(maps) else None

    # -- edits -------------------------------------------------------------------------------

    def action_edit_type(self) -> None:
        t, m = self.entry(), self.column()
        if t is None or m is None:
            self.notify("no column to edit", severity="warning")
            return
        table, name = t.table, m.name

        def apply(value: str) -> str | None:
            try:
                self.plan.set_type(table, name, value)
            except KwtuiError as exc:
                return exc.one_line()
            return None

        def done(value: str | None) -> None:
            if value is not None:  # the mapping marks the edit (✎), the DDL shows it
                self.changed(name)

        self.app.push_screen(TypeModal(f"Target type of {table}.{name} ({m.source_type})", m.target_type, apply),
                             done)

    def action_edit_role(self) -> None:
        t, m = self.entry(), self.column()
        if t is None or m is None:
            self.notify("no column to change", severity="warning")
            return
        if self.plan.target_kind != "kwdb-ts":
            self.notify("roles (tag, primary tag, timestamp) exist on a time-series target (kwdb-ts) only",
                        severity="warning")
            return
        table, name = t.table, m.name

        def done(role: str | None) -> None:
            if role is None or role == m.role:
                return
            try:
                self.plan.set_role(table, name, role)
            except KwtuiError as exc:
                kwtui_app(self).show_error("Cannot change the role", exc)
                return
            self.changed(name)

        self.app.push_screen(ChoiceModal(f"Role of {table}.{name}", [(r, r) for r in ROLES],
                                         m.role if m.role in ROLES else None), done)

    def action_toggle_include(self) -> None:
        t = self.entry()
        if t is None:
            return
        self.plan.set_include(t.table, not t.include)
        self.plan.notes = migration.strategy_notes(self.plan)
        self.changed()

    def action_watermark(self) -> None:
        t = self.entry()
        if t is None:
            return
        columns = self.plan.assessment.table(t.table).columns
        choices = [("none: changes are not synced", "")] + [(f"{c.name} ({c.type})", c.name) for c in columns]
        table = t.table

        def done(column: str | None) -> None:
            if column is None:
                return
            try:
                self.plan.set_watermark(table, column)
            except KwtuiError as exc:
                kwtui_app(self).show_error("Cannot set the watermark", exc)
                return
            self.plan.notes = migration.strategy_notes(self.plan)
            self.changed()

        self.app.push_screen(ChoiceModal(f"Watermark column of {table}", choices, t.watermark), done)

    # -- saving ------------------------------------------------------------------------------

    def default_path(self) -> Path:
        return self.path or migration.default_plan_path(self.plan)

    def action_save(self, then_phases: bool = False) -> None:
        if self.saving:
            return

        def chosen(path: str | None) -> None:
            if path:
                self.saving = True
                self.save_plan(Path(path).expanduser(), then_phases)

        self.app.push_screen(PathPrompt("Save the plan (TOML; kwtui run FILE runs it)",
                                        display_path(self.default_path()),
                                        input_id="pl-plan-path"), chosen)

    @guarded("Cannot save the plan", exclusive=True, group="plan-save", thread=True)
    def save_plan(self, path: Path, then_phases: bool) -> None:
        try:
            written = self.plan.save(path)
        except Exception as exc:  # a path that cannot be written: say so
            self.post_message(SaveFailed("Cannot save the plan", as_error(exc)))
            return
        self.post_message(PlanSaved(written, then_phases))

    @on(PlanSaved)
    def on_plan_saved(self, message: PlanSaved) -> None:
        self.saving = False
        self.path = message.path
        self.unsaved = self.edited = False
        self.show_summary()
        self.notify(f"plan saved to {display_path(message.path)}", markup=False)
        if message.then_phases:
            self.open_phases()

    def action_save_ddl(self) -> None:
        base = str(self.default_path())
        default = (base[: -len(".plan.toml")] if base.endswith(".plan.toml") else base.rsplit(".", 1)[0]) \
            + ".ddl.sql"

        def chosen(path: str | None) -> None:
            if path:
                self.save_ddl(Path(path).expanduser(), self.plan.ddl_script())

        self.app.push_screen(PathPrompt("Save the DDL script (every included table)", default,
                                        input_id="pl-ddl-path"), chosen)

    @guarded("Cannot save the DDL script", exclusive=True, group="plan-ddl", thread=True)
    def save_ddl(self, path: Path, script: str) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(script, encoding="utf-8")
        except Exception as exc:
            self.post_message(SaveFailed("Cannot save the DDL script", as_error(exc)))
            return
        self.post_message(DdlSaved(path))

    @on(DdlSaved)
    def on_ddl_saved(self, message: DdlSaved) -> None:
        self.notify(f"DDL written to {display_path(message.path)}", markup=False)

    @on(SaveFailed)
    def on_save_failed(self, message: SaveFailed) -> None:
        self.saving = False
        kwtui_app(self).show_error(message.title, message.error)

    def action_inventory(self) -> None:
        """Every object of the source and its fate (refused ones: accept their loss there)."""
        inv = self.plan.assessment.inventory
        if inv is None:
            self.notify("no inventory: the source is not PostgreSQL (its tables are the whole plan)",
                        severity="warning")
            return
        from kwtui.screens.inventory_screen import InventoryScreen

        def changed() -> None:
            self.unsaved = self.edited = True
            self.show_summary()

        self.app.push_screen(InventoryScreen(inv, self.plan.requirements.accept_loss, changed))

    # -- phases and leaving ------------------------------------------------------------------

    def action_run_phases(self) -> None:
        if not self.plan.included:
            self.notify("no table is included: space includes the highlighted one", severity="warning")
            return
        if self.path is None:
            self.action_save(then_phases=True)
        elif self.unsaved:
            self.saving = True
            self.save_plan(self.path, True)
        else:
            self.open_phases()

    def open_phases(self) -> None:
        try:
            module = importlib.import_module("kwtui.screens.phases")
            screen_class = module.PhasesScreen
        except (ImportError, AttributeError) as exc:
            self.notify(f"phases screen not available ({exc})", severity="warning", markup=False)
            return
        self.app.push_screen(screen_class(self.plan, self.path))

    def action_back(self) -> None:
        if not self.edited:
            self.app.pop_screen()
            return

        def answered(leave: bool | None) -> None:
            if leave:
                self.app.pop_screen()

        self.app.push_screen(ConfirmModal("The plan has edits that are not saved. Leave it anyway?"), answered)
