"""The import wizard: source -> layout (or CSV dialect) -> target -> options -> preview -> run.

The source is a plain CSV file, a folder of CSV files, a table export (meta.sql + n1.*.csv)
or a database export tree. A plain CSV is shown parsed, its first rows per column, and
parsed again as the dialect changes. The target is an existing table (with a column
mapping checked against it), a table created from meta.sql, or a whole database tree.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.text import Text
from textual import on
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import (
    Checkbox,
    ContentSwitcher,
    DataTable,
    DirectoryTree,
    Input,
    Label,
    RadioButton,
    RadioSet,
    Select,
    Static,
    TextArea,
)

from kwtui import fmt
from kwtui.catalog import Table, TableDetail
from kwtui.errors import KwtuiError
from kwtui.fmt import human_bytes
from kwtui.requests import ImportRequest, run_import
from kwtui.screens.wizard import (
    FieldRow,
    ProgressPanel,
    TablesListed,
    WizardScreen,
    as_error,
    compact_input,
    decode_char,
    display_path,
    native_reason,
    parse_int,
)
from kwtui.screens.workers import guarded, kwtui_app
from kwtui.transfer import native
from kwtui.transfer.csvdialect import CsvDialect, Record, iter_records, read_header
from kwtui.transfer.files import ImportOutcome, meta_table_name
from kwtui.transfer.layout import Layout, read_layout
from kwtui.transfer.tables import FAIL, IF_EXISTS_CHOICES

SAMPLE_ROWS = 5
NAME_LIKE = re.compile(r"[A-Za-z_][A-Za-z0-9_ ]{0,62}")
MAX_CELL = 24
DEFAULT_BATCH_ROWS = 500
TABLE_KINDS = ("table", "ts table", "partitioned table")

# -- messages ----------------------------------------------------------------------------------


class LayoutRead(Message):
    def __init__(self, text: str, layout: Layout, total_bytes: int, advance: bool) -> None:
        super().__init__()
        self.text, self.layout, self.total_bytes, self.advance = text, layout, total_bytes, advance


class LayoutFailed(Message):
    def __init__(self, text: str, error: KwtuiError) -> None:
        super().__init__()
        self.text, self.error = text, error


class SampleParsed(Message):
    def __init__(self, key: tuple[Any, ...], header: list[str] | None, records: list[Record],
                 error: str | None = None) -> None:
        super().__init__()
        self.key, self.header, self.records, self.error = key, header, records, error


class DetailLoaded(Message):
    def __init__(self, name: str, detail: TableDetail | None, error: KwtuiError | None = None) -> None:
        super().__init__()
        self.name, self.detail, self.error = name, detail, error


class ImportFinished(Message):
    def __init__(self, outcome: ImportOutcome) -> None:
        super().__init__()
        self.outcome = outcome


class NativeImportFinished(Message):
    def __init__(self, statement: native.NativeStatement, result: native.NativeResult) -> None:
        super().__init__()
        self.statement, self.result = statement, result


def _cell(value: str | None) -> Text:
    """A parsed field: NULL and the empty string look different; long text is cut."""
    if value is None:
        return Text("NULL", style="dim italic")
    if value == "":
        return Text('""', style="dim")
    text = value.replace("\n", "\\n")
    return Text(text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…", no_wrap=True)


def check_columns(names: list[str], detail: TableDetail, field_count: int | None) -> tuple[list[str], list[str]]:
    """(errors, warnings) of a target column list against the table and the file's field count."""
    errors: list[str] = []
    warnings: list[str] = []
    known = {c.name: c for c in detail.columns}
    unknown = [n for n in names if n not in known]
    if unknown:
        lower = {c.lower(): c for c in known}
        hints = [f"{n} (did you mean {lower[n.lower()]}?)" if n.lower() in lower else n for n in unknown]
        errors.append(f"not a column of {detail.table.qualified}: {', '.join(hints)}")
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        errors.append(f"listed twice: {', '.join(dups)}")
    if field_count and len(names) != field_count:
        errors.append(f"the file has {field_count} fields a line, {len(names)} columns are given")
    required = [c.name for c in detail.columns if c.name not in names and not c.nullable and not c.default]
    if required:
        warnings.append(f"not loaded, NOT NULL without a default: {', '.join(required)} (rows would be rejected)")
    return errors, warnings


class ImportWizard(WizardScreen):
    HELP_TITLE = "import wizard"
    STEPS = [("source", "Source"), ("layout", "Layout"), ("target", "Target"), ("options", "Options"),
             ("preview", "Preview"), ("run", "Run")]

    def __init__(self, database: str, table: Table | None = None, *, start: str = ".") -> None:
        super().__init__()
        self.database = database
        self.initial_table = table
        self.start = start
        self.lay: Layout | None = None
        self.lay_text = ""
        self.source: Path | None = None
        self.total_bytes = 0
        self.dialect: CsvDialect | None = None
        self.header: list[str] | None = None
        self.field_count: int | None = None
        self.sample_key: tuple[Any, ...] | None = None
        self.tables: dict[str, Table] | None = None
        self.detail: TableDetail | None = None
        self.columns_edited = False
        self.target = "into"
        self.native = False
        self.statement: native.NativeStatement | None = None
        self.native_path_edited = False
        self.header_guessed = False
        self.header_was_guessed = False

    # -- layout --------------------------------------------------------------------------------

    def compose_steps(self) -> Iterable[Widget]:
        with Vertical(id="step-source", classes="step"):
            yield Static("File or directory to import", classes="step-title")
            yield FieldRow("path", compact_input(id="f-source", classes="field-wide",
                                                 placeholder="a CSV file, a table export or a database export"),
                           "Tab: the tree below (Enter opens a folder or picks a file)",
                           id="row-source", below=True)
            yield DirectoryTree(self.start, id="source-tree")
        with Vertical(id="step-layout", classes="step"):
            yield Static("What it holds", classes="step-title")
            yield Static("", id="layout-summary", classes="step-note")
            with Horizontal(classes="dialect-line"):
                yield Label("delimiter", classes="dialect-label")
                yield compact_input(",", id="f-delimiter", classes="dialect-input")
                yield Label("enclosed", classes="dialect-label")
                yield compact_input('"', id="f-enclosed", classes="dialect-input")
                yield Label("escaped", classes="dialect-label")
                yield compact_input('"', id="f-escaped", classes="dialect-input")
            with Horizontal(classes="dialect-line"):
                yield Label("nullif", classes="dialect-label")
                yield compact_input("", id="f-nullif", classes="dialect-input", placeholder="empty")
                yield Label("charset", classes="dialect-label")
                yield compact_input("UTF-8", id="f-charset", classes="dialect-input")
                yield Checkbox("skip header", id="f-header", compact=True)
            yield Static("", id="dialect-error")
            yield DataTable(id="sample-table", zebra_stripes=True, cursor_type="none")
            yield Static("", id="sample-note", classes="step-note")
        with Vertical(id="step-target", classes="step"):
            yield Static("Where it goes", id="target-title", classes="step-title")
            with RadioSet(id="target-kind"):
                yield RadioButton("into an existing table", value=True, id="target-into")
                yield RadioButton("create the table from meta.sql", id="target-create")
                yield RadioButton("the whole database tree (creates every table)", id="target-database")
            with ContentSwitcher(initial="pane-into", id="target-panes"):
                with Vertical(id="pane-into"):
                    yield FieldRow("table", Select([], prompt="choose a table", compact=True, id="f-table",
                                                   classes="field-select"),
                                   "", id="row-table")
                    yield FieldRow("columns", compact_input(id="f-columns", classes="field-wide",
                                                            placeholder="every column, in table order"),
                                   "target columns in file order, a comma list", id="row-columns", below=True)
                    yield Static("", id="columns-check")
                with Vertical(id="pane-create"):
                    yield FieldRow("schema", compact_input("public", id="f-create-schema"),
                                   "the schema of the new table", id="row-create-schema")
                    yield Static("", id="create-note", classes="step-note")
                with Vertical(id="pane-database"):
                    yield FieldRow("schema", compact_input("", id="f-db-schema", placeholder="as exported"),
                                   "empty: each table keeps its schema", id="row-db-schema")
                    yield Static("", id="database-note", classes="step-note")
            yield FieldRow("if it holds rows", Select(IF_EXISTS_CHOICES, value=FAIL, allow_blank=False, compact=True,
                                                      id="f-if-exists", classes="field-select"),
                           "a target table that already holds rows", id="row-if-exists")
        with Vertical(id="step-options", classes="step"):
            yield Static("Options", classes="step-title")
            yield FieldRow("reject file", compact_input(id="f-reject", classes="field-wide",
                                                        placeholder="reject.n1.<k>.txt beside the data"),
                           "bad lines go here, with line number and reason", id="row-reject", below=True)
            yield FieldRow("max rejects", compact_input(id="f-max-rejects", placeholder="no limit"),
                           "stop after more bad lines than this", id="row-max-rejects")
            yield FieldRow("batch rows", compact_input(str(DEFAULT_BATCH_ROWS), id="f-batch-rows"),
                           "rows per INSERT where there is no COPY", id="row-batch-rows")
            with RadioSet(id="import-path"):
                yield RadioButton("streamed: kwtui reads the files here and loads the rows", value=True,
                                  id="import-streamed")
                yield RadioButton("native: KWDB reads server-side files (nodelocal://)", id="import-native")
            yield FieldRow("KWDB path", compact_input(id="f-native-path", classes="field-wide"),
                           "where KWDB sees these files: nodelocal://<node>/<dir>", id="row-native-path",
                           below=True)
            yield Static("", id="import-availability", classes="step-note")
            yield Checkbox("load an incomplete export (its manifest is not marked complete)",
                           id="f-allow-incomplete", compact=True)
        with Vertical(id="step-preview", classes="step"):
            yield Static("Check before it runs", id="preview-title", classes="step-title")
            yield Static("", id="preview-note", classes="step-note")
            yield TextArea("", read_only=True, id="preview-text", soft_wrap=True, show_line_numbers=False)
        with Vertical(id="step-run", classes="step"):
            yield Static("Run", classes="step-title")
            yield ProgressPanel(id="run-panel", by_bytes=True)

    def on_mount(self) -> None:
        super().on_mount()
        self.sub_title = f"import · {self.database}"
        self.query_one("#target-title", Static).update(f"Where it goes (database {escape(self.database)})")
        self.query_one("#row-native-path").display = False
        tree = self.query_one("#source-tree", DirectoryTree)
        tree.root.set_label(str(Path(self.start).resolve()))
        self.list_tables()

    # -- tables of the target database -----------------------------------------------------------

    @guarded("Cannot list the tables", group="tables", exclusive=True)
    async def list_tables(self) -> None:
        explorer = getattr(self.app, "explorer", None)
        if explorer is None:
            self.post_message(TablesListed(self.database, [], KwtuiError("not connected")))
            return
        try:
            tables: list[Table] = []
            for schema in await explorer.schemas(self.database):
                tables.extend(await explorer.tables(self.database, schema.name, refresh=True))
        except Exception as exc:  # shown on the target step; never silent
            self.post_message(TablesListed(self.database, [], as_error(exc)))
            return
        self.post_message(TablesListed(self.database, tables))

    @on(TablesListed)
    def on_tables_listed(self, message: TablesListed) -> None:
        if message.error is not None:
            self.tables = {}
            self.query_one("#columns-check", Static).update(
                f"[red]cannot list the tables of {escape(self.database)}: {escape(message.error.message)}[/]")
            return
        self.tables = {t.qualified: t for t in message.tables if t.kind in TABLE_KINDS}
        self.fill_table_select()

    def fill_table_select(self) -> None:
        if self.tables is None:
            return
        select = self.query_one("#f-table", Select)
        current = select.value if isinstance(select.value, str) else None
        with self.prevent(Select.Changed):
            select.set_options([(name, name) for name in self.tables])
        wanted = current
        if wanted is None and self.initial_table is not None and self.initial_table.qualified in self.tables:
            wanted = self.initial_table.qualified
        if wanted is None and self.lay is not None and self.lay.tables:
            stem = self.lay.tables[0].name
            wanted = next((n for n, t in self.tables.items() if t.name == stem), None)
        if wanted is not None and wanted in self.tables:
            select.value = wanted
            self.load_detail(wanted)

    # -- step 1: source --------------------------------------------------------------------------

    def source_text(self) -> str:
        return self.query_one("#f-source", Input).value.strip()

    @on(Input.Changed, "#f-source")
    def on_source_changed(self, event: Input.Changed) -> None:
        self.query_one("#row-source", FieldRow).set_error(None)

    @on(Input.Submitted, "#f-source")
    def on_source_submitted(self) -> None:
        self.action_next()

    @on(DirectoryTree.FileSelected, "#source-tree")
    def on_file_picked(self, event: DirectoryTree.FileSelected) -> None:
        self.query_one("#f-source", Input).value = display_path(event.path)

    @on(DirectoryTree.DirectorySelected, "#source-tree")
    def on_directory_picked(self, event: DirectoryTree.DirectorySelected) -> None:
        self.query_one("#f-source", Input).value = display_path(event.path)

    @guarded("Cannot read the source", thread=True, exclusive=True, group="layout")
    def read_source(self, text: str, advance: bool) -> None:
        try:
            layout = read_layout(Path(text).expanduser())
            total = sum(f.stat().st_size for f in layout.data_files if f.is_file())
        except Exception as exc:  # a wrong path is shown beside the field
            self.post_message(LayoutFailed(text, as_error(exc)))
            return
        self.post_message(LayoutRead(text, layout, total, advance))

    @on(LayoutRead)
    def on_layout_read(self, message: LayoutRead) -> None:
        if message.text != self.source_text():
            return
        self.lay, self.lay_text = message.layout, message.text
        self.source = Path(message.text).expanduser()
        self.total_bytes = message.total_bytes
        self.header, self.field_count, self.sample_key = None, None, None
        self.detail = None
        self.columns_edited = False
        self.native_path_edited = False
        self.header_guessed = False
        self.header_was_guessed = False
        self.target = self.default_target()
        if message.advance and self.step_name == "source":
            self.show_step(self.step + 1)

    @on(LayoutFailed)
    def on_layout_failed(self, message: LayoutFailed) -> None:
        if message.text != self.source_text():
            return
        self.query_one("#row-source", FieldRow).set_error(message.error.message)
        self.set_status(f"✗ {message.error.message}", error=True)

    def action_next(self) -> None:
        if self.step_name == "source" and not self.running:
            text = self.source_text()
            if not text:
                self.query_one("#row-source", FieldRow).set_error("give a file or a directory")
                self.set_status("✗ give a file or a directory", error=True)
                return
            if self.lay is None or self.lay_text != text:
                self.set_status("reading…")
                self.read_source(text, True)
                return
        super().action_next()

    # -- step 2: layout and dialect --------------------------------------------------------------

    def layout_summary(self) -> str:
        lay = self.lay
        assert lay is not None and self.source is not None
        where = escape(display_path(self.source))
        size = human_bytes(self.total_bytes)
        files = len(lay.data_files)
        if lay.kind == "file":
            text = f"A CSV file: {where} ({size})"
        elif lay.kind == "files":
            text = f"A folder of {files} CSV files ({size}): they all go into one table"
        elif lay.kind == "table":
            t = lay.tables[0]
            engine = "time-series" if t.is_ts else "relational"
            cols = f"{len(t.columns)} columns, " if t.columns else ""
            meta = "meta.sql + " if t.ddl else ""
            text = (f"A table export of [b]{escape(t.name)}[/b] ({engine}, {cols}{meta}{files} data file(s), "
                    f"{size})")
        else:
            engine = "time-series" if lay.is_ts else "relational"
            text = (f"A database export of [b]{escape(lay.database or '?')}[/b] ({engine}): "
                    f"{len(lay.tables)} table(s), {files} data file(s), {size}")
        for w in lay.warnings[:2]:
            text += f"\n[yellow]! {escape(w)}[/]"
        return text

    def build_dialect(self) -> CsvDialect:
        return CsvDialect(
            delimiter=decode_char(self.query_one("#f-delimiter", Input).value),
            enclosed=self.query_one("#f-enclosed", Input).value,
            escaped=self.query_one("#f-escaped", Input).value,
            nullas=self.query_one("#f-nullif", Input).value,
            charset=self.query_one("#f-charset", Input).value.strip() or "UTF-8",
            header=self.query_one("#f-header", Checkbox).value)

    def reparse(self) -> None:
        """Check the dialect (the error inline) and parse the first records again with it."""
        error = self.query_one("#dialect-error", Static)
        try:
            self.dialect = self.build_dialect()
        except KwtuiError as exc:
            self.dialect = None
            error.update(f"[red]✗ {escape(exc.message)}[/]")
            error.display = True
            return
        error.update("")
        error.display = False
        lay = self.lay
        if lay is None:
            return
        if lay.kind == "database":
            self.show_tables_of_layout()
            return
        first = next(iter(lay.data_files), None)
        if first is None:
            self.query_one("#sample-note", Static).update("[yellow]no data files: nothing to load[/]")
            return
        key = (str(first), self.dialect)
        self.sample_key = key
        self.parse_sample(key, first, self.dialect)

    @guarded("Cannot read the sample", thread=True, exclusive=True, group="sample")
    def parse_sample(self, key: tuple[Any, ...], path: Path, dialect: CsvDialect) -> None:
        try:
            header = None
            with open(path, "rb") as fh:
                if dialect.header:
                    header, _ = read_header(fh, dialect)
                    fh.seek(0)
                records = list(itertools.islice(iter_records(fh, dialect), SAMPLE_ROWS))
        except Exception as exc:  # shown under the grid
            self.post_message(SampleParsed(key, None, [], as_error(exc).message))
            return
        self.post_message(SampleParsed(key, header, records))

    @on(SampleParsed)
    def on_sample_parsed(self, message: SampleParsed) -> None:
        if message.key != self.sample_key:
            return
        grid = self.query_one("#sample-table", DataTable)
        grid.clear(columns=True)
        note = self.query_one("#sample-note", Static)
        if message.error is not None:
            note.update(f"[red]✗ {escape(message.error)}[/]")
            return
        records = message.records
        if self.guess_header(records):
            return  # parsed again with the header skipped
        good = [r for r in records if r.fields is not None]
        width = max((len(r.fields or []) for r in good), default=1)
        self.field_count = len(good[0].fields or []) if good else None
        self.header = message.header
        names: list[str] = [str(i + 1) for i in range(width)]
        layout_cols = self.lay.tables[0].column_names if self.lay and self.lay.tables else []
        if message.header and len(message.header) == width:
            names = message.header
        elif len(layout_cols) == width:
            names = layout_cols
        grid.add_column("line")
        for name in names:
            grid.add_column(name)
        for r in records:
            if r.fields is not None:
                cells = [_cell(v) for v in r.fields] + [Text("")] * (width - len(r.fields))
                grid.add_row(Text(str(r.line), style="dim"), *cells[:width])
            else:
                error = Text(r.error or "?", style="red")
                grid.add_row(Text(str(r.line), style="red"), error, *[Text("")] * (width - 1))
        bad = len(records) - len(good)
        file = self.lay.data_files[0] if self.lay else Path()
        text = f"first {len(records)} record(s) of {escape(display_path(file))}, {width} field(s)"
        if bad:
            text += f" · [red]{bad} do not parse: they would be rejected[/]"
        if self.header_was_guessed and message.header:
            text += "\n[yellow]skip header is on: the first line looks like column names[/]"
        if not records:
            text = f"{escape(display_path(file))} is empty"
        note.update(text)

    def guess_header(self, records: list[Record]) -> bool:
        """Once per source: a plain CSV whose first line looks like column names gets 'skip header'."""
        if self.header_guessed or self.lay is None or self.lay.kind not in ("file", "files"):
            return False
        self.header_guessed = True
        if self.dialect is None or self.dialect.header or len(records) < 2:
            return False
        first, second = records[0].fields, records[1].fields
        if not first or not second or len(first) != len(second):
            return False
        if all(f and NAME_LIKE.fullmatch(f) for f in first) and not all(f and NAME_LIKE.fullmatch(f) for f in second):
            self.header_was_guessed = True
            self.query_one("#f-header", Checkbox).value = True
            return True
        return False

    def show_tables_of_layout(self) -> None:
        assert self.lay is not None
        self.sample_key = None
        grid = self.query_one("#sample-table", DataTable)
        grid.clear(columns=True)
        grid.add_columns("table", "engine", "columns", "files")
        for t in self.lay.tables:
            grid.add_row(Text(t.qualified_name), "time-series" if t.is_ts else "relational",
                         str(len(t.columns)) if t.columns else "?", str(len(t.data_files)))
        self.query_one("#sample-note", Static).update(f"{len(self.lay.tables)} table(s) in the export")

    @on(Input.Changed, ".dialect-input")
    @on(Checkbox.Changed, "#f-header")
    def on_dialect_changed(self) -> None:
        if self.step_name == "layout":
            self.reparse()

    def check_layout(self) -> str | None:
        if self.dialect is None:
            try:
                self.dialect = self.build_dialect()
            except KwtuiError as exc:
                return exc.message
        return None

    # -- step 3: target --------------------------------------------------------------------------

    def default_target(self) -> str:
        lay = self.lay
        if lay is None:
            return "into"
        if lay.kind == "database":
            return "database"
        if lay.kind == "table" and lay.tables and lay.tables[0].ddl:
            return "create"
        return "into"

    def target_problem(self, kind: str) -> str | None:
        """Why ``kind`` does not fit this source (None: it does)."""
        lay = self.lay
        if lay is None:
            return "no source"
        if kind == "into" and lay.kind == "database":
            return "not for a database export"
        if kind == "create" and not (lay.kind == "table" and lay.tables and lay.tables[0].ddl):
            return "needs a table export with meta.sql"
        if kind == "database" and lay.kind != "database":
            return "needs a database export"
        return None

    def prepare_target(self) -> None:
        labels = {"into": "into an existing table", "create": "create the table from meta.sql",
                  "database": "the whole database tree (creates every table)"}
        for kind, label in labels.items():
            button = self.query_one(f"#target-{kind}", RadioButton)
            problem = self.target_problem(kind)
            button.label = label if problem is None else f"{label} — {problem}"
            button.disabled = problem is not None
        with self.prevent(RadioSet.Changed):
            self.query_one(f"#target-{self.target}", RadioButton).value = True
        self.query_one("#target-panes", ContentSwitcher).current = f"pane-{self.target}"
        lay = self.lay
        if lay is not None and self.target == "create" and lay.tables:
            box = self.query_one("#f-create-schema", Input)
            if not box.value.strip():
                box.value = lay.tables[0].schema or "public"
        self.fill_table_select()
        self.update_target_notes()

    @on(RadioSet.Changed, "#target-kind")
    def on_target_changed(self, event: RadioSet.Changed) -> None:
        self.target = (event.pressed.id or "target-into").removeprefix("target-")
        self.query_one("#target-panes", ContentSwitcher).current = f"pane-{self.target}"
        self.set_status("")
        self.update_target_notes()

    @on(Select.Changed, "#f-table")
    def on_table_chosen(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.detail = None
            self.columns_edited = False
            self.query_one("#columns-check", Static).update("[dim]reading the table's columns…[/]")
            self.load_detail(event.value)

    @guarded("Cannot read the table", group="detail", exclusive=True)
    async def load_detail(self, name: str) -> None:
        explorer = getattr(self.app, "explorer", None)
        table = (self.tables or {}).get(name)
        if explorer is None or table is None:
            return
        try:
            detail = await explorer.detail(self.database, table)
        except Exception as exc:  # shown under the columns
            self.post_message(DetailLoaded(name, None, as_error(exc)))
            return
        self.post_message(DetailLoaded(name, detail))

    @on(DetailLoaded)
    def on_detail_loaded(self, message: DetailLoaded) -> None:
        if self.query_one("#f-table", Select).value != message.name:
            return
        if message.error is not None or message.detail is None:
            err = message.error.message if message.error else "?"
            self.query_one("#columns-check", Static).update(f"[red]✗ {escape(err)}[/]")
            return
        self.detail = message.detail
        if not self.columns_edited:
            box = self.query_one("#f-columns", Input)
            with box.prevent(Input.Changed):
                box.value = ", ".join(self.default_columns(message.detail))
        self.update_columns_check()

    def default_columns(self, detail: TableDetail) -> list[str]:
        lay = self.lay
        if lay is not None and lay.tables and lay.tables[0].column_names:
            return lay.tables[0].column_names
        if self.header:
            return self.header
        names = [c.name for c in detail.columns]
        if self.field_count and self.field_count < len(names):
            return names[: self.field_count]
        return names

    def column_names(self) -> list[str]:
        text = self.query_one("#f-columns", Input).value
        return [c.strip() for c in text.split(",") if c.strip()]

    @on(Input.Changed, "#f-columns")
    def on_columns_changed(self) -> None:
        self.columns_edited = True
        self.update_columns_check()

    def update_columns_check(self) -> list[str]:
        out = self.query_one("#columns-check", Static)
        if self.detail is None:
            return ["choose the table (its columns are checked against the file)"]
        names = self.column_names() or [c.name for c in self.detail.columns]
        errors, warnings = check_columns(names, self.detail, self.field_count)
        lines = [f"[red]✗ {escape(e)}[/]" for e in errors] + [f"[yellow]! {escape(w)}[/]" for w in warnings]
        if not errors:
            fields = f"{self.field_count} fields a line → " if self.field_count else ""
            lines.insert(0, f"[green]✓[/] {fields}{escape(', '.join(names))}")
        out.update("\n".join(lines))
        return errors

    def target_schema(self) -> str | None:
        if self.target == "create":
            return self.query_one("#f-create-schema", Input).value.strip() or "public"
        if self.target == "database":
            return self.query_one("#f-db-schema", Input).value.strip() or None
        return None

    @on(Input.Changed, "#f-create-schema, #f-db-schema")
    def on_schema_changed(self) -> None:
        self.update_target_notes()

    def existing(self, names: list[str]) -> list[str]:
        return [n for n in names if self.tables and n in self.tables]

    def created_names(self) -> list[str]:
        lay = self.lay
        if lay is None:
            return []
        schema = self.target_schema()
        if self.target == "create":
            return [f"{schema}.{meta_table_name(lay.tables[0])}"] if lay.tables else []  # as meta.sql names it
        on_pg = native_reason(self.app) is not None
        names = []
        for t in lay.tables:
            sch = schema or t.schema or "public"
            if lay.is_ts and on_pg and not schema:
                sch = lay.database or "public"
            names.append(f"{sch}.{t.name}")
        return names

    def update_target_notes(self) -> None:
        lay = self.lay
        if lay is None:
            return
        if self.target == "create" and lay.tables:
            t = lay.tables[0]
            name = self.created_names()[0]
            key = f", then adds the key ({', '.join(t.key_columns)})" if t.key_columns else ""
            text = (f"creates {escape(name)} from meta.sql ({len(t.columns)} columns) and loads "
                    f"{len(t.data_files)} file(s){escape(key)}")
            if self.existing([name]):
                text += f"\n{escape(name)} exists already: 'if it holds rows' says what happens to its rows"
            self.query_one("#create-note", Static).update(text)
        elif self.target == "database":
            names = self.created_names()
            shown = ", ".join(names[:6]) + (f" … ({len(names)})" if len(names) > 6 else "")
            text = f"creates {len(names)} table(s): {escape(shown)}"
            clash = self.existing(names)
            if clash:
                text += f"\nexist already: {escape(', '.join(clash))} ('if it holds rows' says what happens to their rows)"
            self.query_one("#database-note", Static).update(text)

    def check_target(self) -> str | None:
        problem = self.target_problem(self.target)
        if problem:
            return problem
        if self.target == "into":
            if not isinstance(self.query_one("#f-table", Select).value, str):
                return "choose the table to load into"
            if self.detail is None:
                return "still reading the table's columns"
            errors = self.update_columns_check()
            return f"columns: {errors[0]}" if errors else None
        clash = self.existing(self.created_names())
        if clash and self.native:  # KWDB's IMPORT ... CREATE cannot load an existing table
            return f"{', '.join(clash)} exist(s) already: choose 'into an existing table' or another schema"
        # streamed: an existing table is loaded as it is, its rows handled as 'if it holds rows' says
        return None

    # -- step 4: options -------------------------------------------------------------------------

    @on(RadioSet.Changed, "#import-path")
    def on_import_path_changed(self, event: RadioSet.Changed) -> None:
        self.native = event.pressed.id == "import-native"
        self.update_path_widgets()

    def update_path_widgets(self) -> None:
        self.query_one("#row-native-path").display = self.native
        self.query_one("#row-reject").display = not self.native
        self.query_one("#row-max-rejects").display = not self.native
        avail = self.query_one("#import-availability", Static)
        reason = native_reason(self.app)
        if not self.native:
            avail.update("Streamed works on KWDB and PostgreSQL; bad lines go to the reject file." if reason
                         else "Streamed: the files are here. Native: they are on the KWDB nodes (fastest).")
        elif reason is None:
            avail.update("KWDB reads the files itself and writes rejects beside them.")
        else:
            avail.update(f"[yellow]Native is not available: {escape(reason)}. You can still build and "
                         "preview the statement.[/]")
        box = self.query_one("#f-native-path", Input)
        if self.native and not self.native_path_edited and self.source is not None:
            with box.prevent(Input.Changed):
                box.value = f"nodelocal://1/{self.source.name}"

    @on(Input.Changed, "#f-native-path")
    def on_native_path_changed(self) -> None:
        self.native_path_edited = True
        self.query_one("#row-native-path", FieldRow).set_error(None)

    @on(Input.Changed, "#f-max-rejects, #f-batch-rows, #f-reject")
    def on_option_changed(self) -> None:
        self.check_options(show=True)

    def max_rejects(self) -> int | None:
        return parse_int(self.query_one("#f-max-rejects", Input).value, "max rejects", low=0)

    def batch_rows(self) -> int:
        n = parse_int(self.query_one("#f-batch-rows", Input).value, "batch rows", low=1, blank=DEFAULT_BATCH_ROWS)
        return DEFAULT_BATCH_ROWS if n is None else n

    def check_options(self, *, show: bool = True) -> str | None:
        problems: dict[str, str | None] = {"max-rejects": None, "batch-rows": None, "native-path": None}
        try:
            self.max_rejects()
        except ValueError as exc:
            problems["max-rejects"] = str(exc)
        try:
            self.batch_rows()
        except ValueError as exc:
            problems["batch-rows"] = str(exc)
        if self.native and problems["batch-rows"] is None:
            try:
                self.statement = self.build_statement()
            except KwtuiError as exc:
                problems["native-path"] = exc.message
        if show:
            for ident, problem in problems.items():
                self.query_one(f"#row-{ident}", FieldRow).set_error(problem)
        return next((p for p in problems.values() if p), None)

    def native_options(self) -> native.ImportOptions:
        d = self.dialect or CsvDialect()
        batch = self.batch_rows()
        return native.ImportOptions(
            delimiter=None if d.delimiter == "," else d.delimiter,
            enclosed=None if d.enclosed == '"' else d.enclosed,
            escaped=None if d.escaped == '"' else d.escaped,
            nullif=d.nullas or None,
            charset=None if d.charset == "UTF-8" else d.charset,
            batch_rows=None if batch == DEFAULT_BATCH_ROWS else batch)

    def build_statement(self) -> native.NativeStatement:
        path = self.query_one("#f-native-path", Input).value.strip()
        if not path.startswith(("nodelocal://", "http://", "https://")):
            raise native.NativeOptionError("KWDB reads server-side files: give nodelocal://<node>/<path>")
        if self.dialect is not None and self.dialect.header:
            raise native.NativeOptionError("KWDB's IMPORT cannot skip a header line: use streamed, or remove it")
        opts = self.native_options()
        if self.target == "into":
            value = self.query_one("#f-table", Select).value
            schema, name = str(value).split(".", 1)
            cols = self.column_names() or None
            return native.import_into((self.database, schema, name), [path], columns=cols, options=opts)
        if self.target == "create":
            return native.import_table_create_using(path.rstrip("/") + "/meta.sql", [path], options=opts)
        return native.import_database(path, options=opts)

    # -- step 5: preview -------------------------------------------------------------------------

    def plan_text(self) -> str:
        lay, d = self.lay, self.dialect
        assert lay is not None and d is not None and self.source is not None
        files = lay.data_files
        lines = [f"Load {display_path(self.source)} ({len(files)} file(s), {human_bytes(self.total_bytes)}) "
                 f"into the database {self.database}"]
        if self.target == "into":
            cols = self.column_names()
            lines.append(f"  into {self.query_one('#f-table', Select).value}"
                         + (f" ({', '.join(cols)})" if cols else " (every column)"))
        elif self.target == "create":
            lines.append(f"  creates {self.created_names()[0]} from meta.sql, loads it, then adds its key")
        else:
            for name in self.created_names()[:8]:
                lines.append(f"  creates and loads {name}")
        on_pg = native_reason(self.app) is not None
        how = ("COPY: the server parses the CSV; bad lines are bisected out" if on_pg
               else f"multi-row INSERT of {self.batch_rows()} rows")
        reject = self.query_one("#f-reject", Input).value.strip()
        limit = self.max_rejects()
        nulls = "an unquoted empty field" if not d.nullas else repr(d.nullas)
        lines += [
            f"  with {how}",
            "",
            f"bad lines → {display_path(Path(reject).expanduser()) if reject else 'reject.n1.<k>.txt beside the data'}"
            f"; {'stop after ' + format(limit, ',') + ' of them' if limit is not None else 'never stop for them'}",
            f"delimiter {d.delimiter!r} · enclosed {d.enclosed!r} · escaped {d.escaped!r} · charset {d.charset}",
            f"NULL is {nulls} · header line {'skipped' if d.header else 'none'}",
        ]
        return "\n".join(lines)

    def fill_preview(self) -> None:
        text = self.query_one("#preview-text", TextArea)
        note = self.query_one("#preview-note", Static)
        title = self.query_one("#preview-title", Static)
        if self.native:
            title.update("The statement KWDB will run")
            try:
                self.statement = self.build_statement()
            except KwtuiError as exc:
                self.statement = None
                note.update(f"[red]✗ {escape(exc.message)}[/]")
                text.text = ""
                return
            reason = native_reason(self.app)
            note.update("Sent as it is, in autocommit. ctrl+n runs it." if reason is None else
                        f"[yellow]{escape(reason)}: it cannot run here. Run it on a KWDB server, or go back "
                        "(ctrl+b) and choose streamed.[/]")
            text.language = "sql"
            text.text = self.statement.preview()
        else:
            title.update("What kwtui will load")
            note.update("ctrl+n starts the import.")
            text.language = None
            text.text = self.plan_text()

    def check_preview(self) -> str | None:
        if self.native:
            if self.statement is None:
                return "the statement cannot be built: go back and fix the options"
            reason = native_reason(self.app)
            if reason is not None:
                return f"{reason}: the statement cannot run here (ctrl+b, then choose streamed)"
        return None

    # -- steps -----------------------------------------------------------------------------------

    def enter_step(self, name: str) -> None:
        if name == "source":
            if not self.source_text():
                return
        elif name == "layout":
            self.query_one("#layout-summary", Static).update(self.layout_summary())
            self.reparse()
        elif name == "target":
            self.prepare_target()
        elif name == "options":
            self.update_path_widgets()
            self.check_options(show=False)
        elif name == "preview":
            self.fill_preview()

    def focus_step(self, name: str) -> None:
        if name == "source" and not self.source_text():
            self.query_one("#f-source", Input).focus()
            return
        super().focus_step(name)

    def check_step(self, name: str) -> str | None:
        if name == "layout":
            return self.check_layout()
        if name == "target":
            return self.check_target()
        if name == "options":
            return self.check_options()
        if name == "preview":
            return self.check_preview()
        return None

    # -- step 6: run -----------------------------------------------------------------------------

    def start_run(self) -> None:
        panel = self.query_one(ProgressPanel)
        self.running = True
        self.refresh_bindings()
        if self.native:
            assert self.statement is not None
            panel.start(f"KWDB runs: {escape(self.statement.sql)}", None)
            self.set_status("KWDB is importing; it reports when the whole import is done")
            self.run_native_import(self.statement)
            return
        assert self.source is not None and self.dialect is not None
        d = self.dialect
        dialect = CsvDialect(d.delimiter, d.enclosed, d.escaped, d.nullas, d.charset)  # the loader skips the header
        reject = self.query_one("#f-reject", Input).value.strip()
        kwargs: dict[str, Any] = {
            "skip_header": d.header, "reject_file": Path(reject).expanduser() if reject else None,
            "max_rejects": self.max_rejects(), "batch_rows": self.batch_rows(), "listener": self.listener,
            "if_exists": str(self.query_one("#f-if-exists", Select).value),
            "allow_incomplete": self.query_one("#f-allow-incomplete", Checkbox).value,
        }
        if self.target == "into":
            kwargs["into"] = str(self.query_one("#f-table", Select).value)
            kwargs["columns"] = self.column_names() or None
        elif self.target == "create":
            kwargs["create"] = True
            kwargs["schema"] = self.target_schema()
        else:
            kwargs["database"] = True
            kwargs["schema"] = self.target_schema()
        panel.start(f"Importing {escape(display_path(self.source))} into {escape(self.database)}",
                    self.total_bytes, by_bytes=True)
        self.set_status("importing…")
        self.run_streamed_import(self.source, dialect, kwargs)

    @guarded("The import failed", group="run", exclusive=True)
    async def run_streamed_import(self, source: Path, dialect: CsvDialect, kwargs: dict[str, Any]) -> None:
        # the request the CLI's `kwtui import` builds from its options, run by the same core function:
        # a journaled job, on the jobs screen (F8) with its progress, resumable as the CLI's
        listener = kwargs.pop("listener", None)
        if kwargs.get("columns") is not None:
            kwargs["columns"] = tuple(kwargs["columns"])
        req = ImportRequest(source, dialect, **kwargs).check()
        journal = kwtui_app(self).journal
        outcome = await self.with_own_connection(
            self.database, lambda svc: run_import(svc, req, listener=listener, journal=journal))
        self.post_message(ImportFinished(outcome))

    @guarded("KWDB's IMPORT failed", group="run", exclusive=True)
    async def run_native_import(self, statement: native.NativeStatement) -> None:
        result = await self.with_own_connection(self.database, lambda svc: self.run_native(svc, statement))
        self.post_message(NativeImportFinished(statement, result))

    def _done(self) -> None:
        self.running = False
        self.finished = True
        self.refresh_bindings()
        explorer = getattr(self.app, "explorer", None)
        if explorer is not None:
            explorer.forget()  # new tables and rows: the browse tree lists afresh on F5

    @on(ImportFinished)
    def on_import_finished(self, message: ImportFinished) -> None:
        self._done()
        out = message.outcome
        lines = []
        for t in out.tables:
            made = ", table created" if t.created else ""
            lines.append(f"[b]{escape(t.table)}[/]: {t.rows:,} rows from {len(t.files)} file(s) in "
                         f"{fmt.ms(t.elapsed)}{made}")
            lines.append(f"  loaded with {escape(t.path)}")
            if t.rejects:
                lines.append(f"  [red]{t.rejects:,} rejected[/] → reject file "
                             f"{escape(display_path(t.reject_file))}")
        for note in out.notices[:3]:
            lines.append(f"[yellow]note: {escape(note)}[/]")
        self.query_one(ProgressPanel).finished("\n".join(lines), self.last_event)
        rejected = f", [red]{out.rejects:,} rejected[/]" if out.rejects else ""
        self.set_status(f"[green]✓ imported {out.rows:,} rows[/]{rejected} · Esc closes")
        self.notify(f"imported {out.rows:,} rows" + (f", {out.rejects:,} rejected" if out.rejects else ""))

    @on(NativeImportFinished)
    def on_native_import_finished(self, message: NativeImportFinished) -> None:
        self._done()
        r = message.result
        lines = [escape(r.summary())]
        if r.note:
            lines.append(f"[yellow]{escape(r.note)}[/]")
        self.query_one(ProgressPanel).finished("\n".join(lines))
        mark = "[green]✓" if r.ok else "[red]✗"
        self.set_status(f"{mark} {escape(r.summary())}[/] · Esc closes")
