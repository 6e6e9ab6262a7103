"""The export wizard: what -> path -> options -> destination -> preview -> run.

Streamed: kwtui reads the rows and writes ``meta.sql`` + ``n1.<k>.csv`` on this machine.
Native: KWDB runs ``EXPORT INTO CSV "nodelocal://..."`` and writes the files on its nodes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rich.markup import escape
from textual import on
from textual.containers import Vertical
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Checkbox, Input, RadioButton, RadioSet, Select, Static, TextArea

from kwtui import fmt
from kwtui.catalog import Table
from kwtui.errors import KwtuiError
from kwtui.fmt import human_bytes
from kwtui.requests import ExportRequest, run_export
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
from kwtui.transfer.csvdialect import CsvDialect
from kwtui.transfer.engine import split_name
from kwtui.transfer.files import ExportedTable
from kwtui.transfer.layout import check_empty

DEFAULT_CHUNK_ROWS = 100_000

#: option fields of step 3: (id, label, default, help)
OPTION_FIELDS = [
    ("delimiter", "delimiter", ",", "field separator: one character (\\t for tab)"),
    ("enclosed", "enclosed", '"', "quote around a field that needs it: \" or '"),
    ("escaped", "escaped", '"', "escapes the quote inside a field: \" or \\"),
    ("nullas", "nullas", "", "how NULL is written (empty: an unquoted empty field)"),
    ("charset", "charset", "UTF-8", "UTF-8, GBK, GB18030 or BIG5"),
    ("chunk_rows", "chunk_rows", str(DEFAULT_CHUNK_ROWS), "rows per n1.<k>.csv file, 0..100000 (0: one file)"),
]

CONTENTS = [("meta.sql and data", "both"), ("meta_only: meta.sql only", "meta"), ("data_only: CSV only", "data")]


class ExportFinished(Message):
    def __init__(self, results: list[ExportedTable]) -> None:
        super().__init__()
        self.results = results


class NativeExportFinished(Message):
    def __init__(self, statement: native.NativeStatement, result: native.NativeResult) -> None:
        super().__init__()
        self.statement, self.result = statement, result


class ExportWizard(WizardScreen):
    HELP_TITLE = "export wizard"
    STEPS = [("what", "What"), ("path", "Path"), ("options", "Options"), ("dest", "Destination"),
             ("preview", "Preview"), ("run", "Run")]

    def __init__(self, database: str, table: Table | None = None) -> None:
        super().__init__()
        self.database = database
        self.initial_table = table
        self.kind = "table" if table is not None else "database"
        self.native = False
        self.tables: dict[str, Table] | None = None  # qualified name -> Table, of self.listed_for
        self.listed_for = ""
        self.field_errors: dict[str, str] = {}
        self.combined_error: str | None = None
        self.dialect: CsvDialect | None = None
        self.options: native.ExportOptions | None = None
        self.statement: native.NativeStatement | None = None
        self.dest_values = {"streamed": "", "native": ""}
        self.list_error: tuple[str, str] | None = None  # (database, why its tables cannot be listed)
        self._list_timer: Timer | None = None

    # -- layout --------------------------------------------------------------------------------

    def compose_steps(self) -> Iterable[Widget]:
        table_name = self.initial_table.qualified if self.initial_table is not None else ""
        with Vertical(id="step-what", classes="step"):
            yield Static("What to export", classes="step-title")
            with RadioSet(id="what-kind", classes="inline-radio"):
                yield RadioButton("a table", value=self.kind == "table", id="what-table")
                yield RadioButton("a whole database", value=self.kind == "database", id="what-database")
            yield FieldRow("database", compact_input(self.database, id="f-database", classes="field-name"),
                           "where the table is", id="row-database")
            yield FieldRow("table", compact_input(table_name, id="f-table", placeholder="schema.table",
                                                   classes="field-name"),
                           "→ completes a name", id="row-table")
            yield Static("", id="what-summary", classes="step-note")
        with Vertical(id="step-path", classes="step"):
            yield Static("How to export", classes="step-title")
            with RadioSet(id="path-kind"):
                yield RadioButton("streamed: kwtui writes the files on this machine", value=True, id="path-streamed")
                yield RadioButton("native: KWDB writes server-side files under nodelocal://", id="path-native")
            yield Static("When: [b]streamed[/] if you need the files here or the server is PostgreSQL; "
                         "[b]native[/] for big KWDB tables (fastest; the files stay on the KWDB nodes).",
                         classes="step-note")
            yield Static("", id="path-availability", classes="step-note spaced")
        with Vertical(id="step-options", classes="step"):
            yield Static("Format and options", id="options-title", classes="step-title")
            for ident, label, default, help_text in OPTION_FIELDS:
                yield FieldRow(label, compact_input(default, id=f"f-{ident}"), help_text, id=f"row-{ident}")
            yield FieldRow("column_name", Checkbox("", id="f-column_name", compact=True),
                           "write a header line with the column names", id="row-column_name")
            yield FieldRow("contents", Select(CONTENTS, value="both", allow_blank=False, compact=True,
                                              id="f-contents", classes="field-select"),
                           "meta_only, data_only or both", id="row-contents")
        with Vertical(id="step-dest", classes="step"):
            yield Static("Where to write", classes="step-title")
            yield FieldRow("directory", compact_input(id="f-dest", classes="field-wide"), "", id="row-dest",
                           below=True)
            yield Static("", id="dest-note", classes="step-note")
        with Vertical(id="step-preview", classes="step"):
            yield Static("Check before it runs", id="preview-title", classes="step-title")
            yield Static("", id="preview-note", classes="step-note")
            yield TextArea("", read_only=True, id="preview-text", soft_wrap=True, show_line_numbers=False)
        with Vertical(id="step-run", classes="step"):
            yield Static("Run", classes="step-title")
            yield ProgressPanel(id="run-panel")

    def on_mount(self) -> None:
        super().on_mount()
        self.sub_title = f"export · {self.database}"
        self.query_one("#row-table").display = self.kind == "table"
        self.list_tables(self.database)

    # -- step 1: what ----------------------------------------------------------------------------

    @guarded("Cannot list the tables", group="tables", exclusive=True)
    async def list_tables(self, database: str) -> None:
        explorer = getattr(self.app, "explorer", None)
        if explorer is None:
            self.post_message(TablesListed(database, [], KwtuiError("not connected")))
            return
        try:
            tables: list[Table] = []
            for schema in await explorer.schemas(database):
                tables.extend(await explorer.tables(database, schema.name))
        except Exception as exc:  # shown in the summary line; the worker never dies silently
            self.post_message(TablesListed(database, [], as_error(exc)))
            return
        self.post_message(TablesListed(database, tables))

    @on(TablesListed)
    def on_tables_listed(self, message: TablesListed) -> None:
        if message.database != self.query_one("#f-database", Input).value.strip():
            return
        summary = self.query_one("#what-summary", Static)
        if message.error is not None:
            self.tables = None
            self.list_error = (message.database, message.error.message)
            summary.update(f"[yellow]cannot list the tables of {escape(message.database)}: "
                           f"{escape(message.error.message)}[/]")
            return
        self.tables = {t.qualified: t for t in message.tables}
        self.listed_for = message.database
        self.list_error = None
        self.query_one("#f-table", Input).suggester = SuggestFromList(list(self.tables), case_sensitive=False)
        self.update_summary()

    def update_summary(self) -> None:
        summary = self.query_one("#what-summary", Static)
        if self.tables is None:
            summary.update("[dim]listing tables…[/]")
            return
        if self.kind == "database":
            base = [t for t in self.tables.values() if t.kind in ("table", "ts table", "partitioned table")]
            rows = sum(t.est_rows or 0 for t in base)
            summary.update(f"{escape(self.listed_for)}: {len(base)} table(s), ~{rows:,} rows; "
                           "views are not exported")
            return
        t = self.selected_table()
        if t is None:
            summary.update("")
            return
        bits = [t.kind]
        if t.est_rows is not None:
            bits.append(f"~{t.est_rows:,} rows")
        if t.size_bytes is not None:
            bits.append(human_bytes(t.size_bytes))
        summary.update(f"{escape(t.qualified)} · {escape(' · '.join(bits))}")

    def table_name(self) -> str:
        """The table as schema.table (a bare name is in public)."""
        text = self.query_one("#f-table", Input).value.strip()
        if not text:
            return ""
        schema, name = split_name(text)
        return f"{schema}.{name}"

    def selected_table(self) -> Table | None:
        if self.tables is None:
            return None
        return self.tables.get(self.table_name())

    @on(RadioSet.Changed, "#what-kind")
    def on_kind_changed(self, event: RadioSet.Changed) -> None:
        self.kind = "table" if event.pressed.id == "what-table" else "database"
        self.query_one("#row-table").display = self.kind == "table"
        self.update_summary()

    @on(Input.Changed, "#f-database")
    def on_database_changed(self, event: Input.Changed) -> None:
        self.tables = None
        self.list_error = None
        self.update_summary()
        if self._list_timer is not None:
            self._list_timer.stop()
        name = event.value.strip()
        if name:  # list once typing pauses, not on every key
            self._list_timer = self.set_timer(0.4, lambda: self.list_tables(name))

    @on(Input.Changed, "#f-table")
    def on_table_changed(self, event: Input.Changed) -> None:
        self.query_one("#row-table", FieldRow).set_error(None)
        self.update_summary()

    def check_what(self) -> str | None:
        database = self.query_one("#f-database", Input).value.strip()
        if not database:
            return "give the database"
        if self.list_error is not None and self.list_error[0] == database:
            return f"cannot open the database {database}: {self.list_error[1]}"
        self.database = database
        self.sub_title = f"export · {database}"
        if self.kind == "database":
            return None
        name = self.table_name()
        row = self.query_one("#row-table", FieldRow)
        if not name:
            row.set_error("give the table as schema.table")
            return "give the table as schema.table"
        if self.tables is not None and self.listed_for == database and name not in self.tables:
            row.set_error(f"no table {name} in {database}")
            return f"there is no table {name} in the database {database}"
        return None

    # -- step 2: path ----------------------------------------------------------------------------

    @on(RadioSet.Changed, "#path-kind")
    def on_path_changed(self, event: RadioSet.Changed) -> None:
        self.native = event.pressed.id == "path-native"

    def availability(self) -> str:
        reason = native_reason(self.app)
        if reason is None:
            return "[green]This server is KWDB: both paths work.[/]"
        return (f"[yellow]Native is not available: {escape(reason)}. You can still build and preview "
                "the statement (to run it on a KWDB server).[/]")

    # -- step 3: options -------------------------------------------------------------------------

    def raw(self, ident: str) -> str:
        return self.query_one(f"#f-{ident}", Input).value

    def contents(self) -> str:
        value = self.query_one("#f-contents", Select).value
        return value if isinstance(value, str) else "both"

    def column_name(self) -> bool:
        return self.query_one("#f-column_name", Checkbox).value

    def build_options(self, values: dict[str, str]) -> tuple[CsvDialect | None, native.ExportOptions | None]:
        """The dialect (streamed) or the EXPORT options (native) from field texts; raises UsageError/ValueError."""
        delimiter = decode_char(values.get("delimiter", ","))
        enclosed = values.get("enclosed", '"')
        escaped = values.get("escaped", '"')
        nullas = values.get("nullas", "")
        charset = values.get("charset", "UTF-8").strip() or "UTF-8"
        chunk_rows = parse_int(values.get("chunk_rows", ""), "chunk_rows", low=0, high=DEFAULT_CHUNK_ROWS,
                               blank=DEFAULT_CHUNK_ROWS)
        contents = values.get("contents", "both")
        header = values.get("column_name") == "1"
        if self.native:
            opts = native.ExportOptions(
                chunk_rows=None if chunk_rows == DEFAULT_CHUNK_ROWS else chunk_rows,
                delimiter=None if delimiter == "," else delimiter,
                enclosed=None if enclosed == '"' else enclosed,
                escaped=None if escaped == '"' else escaped,
                nullas=nullas or None,
                charset=None if charset.upper().replace("-", "") == "UTF8" else charset,
                column_name=header, meta_only=contents == "meta", data_only=contents == "data")
            opts.validate()
            return None, opts
        dialect = CsvDialect(delimiter=delimiter, enclosed=enclosed, escaped=escaped, nullas=nullas,
                             charset=charset, header=header)
        return dialect, None

    def validate_options(self, changed: str | None = None) -> None:
        """Each field alone (its error next to it), then all together (next to the last change)."""
        defaults = {ident: default for ident, _, default, _ in OPTION_FIELDS}
        values = {ident: self.raw(ident) for ident, *_ in OPTION_FIELDS}
        self.field_errors = {}
        for ident, *_ in OPTION_FIELDS:
            try:
                self.build_options({**defaults, ident: values[ident]})
            except (KwtuiError, ValueError) as exc:
                self.field_errors[ident] = exc.message if isinstance(exc, KwtuiError) else str(exc)
        self.combined_error = None
        self.dialect, self.options = None, None
        if not self.field_errors:
            try:
                self.dialect, self.options = self.build_options(
                    {**values, "contents": self.contents(), "column_name": "1" if self.column_name() else ""})
            except (KwtuiError, ValueError) as exc:
                self.combined_error = exc.message if isinstance(exc, KwtuiError) else str(exc)
        where = changed if changed in values else "delimiter"
        for ident, *_ in OPTION_FIELDS:
            error = self.field_errors.get(ident)
            if error is None and self.combined_error and ident == where:
                error = self.combined_error
            self.query_one(f"#row-{ident}", FieldRow).set_error(error)

    @on(Input.Changed, "#step-options Input")
    def on_option_changed(self, event: Input.Changed) -> None:
        ident = (event.input.id or "").removeprefix("f-")
        self.validate_options(ident)

    @on(Checkbox.Changed, "#f-column_name")
    @on(Select.Changed, "#f-contents")
    def on_option_toggled(self) -> None:
        self.validate_options()

    def check_options(self) -> str | None:
        self.validate_options()
        if self.field_errors:
            return next(iter(self.field_errors.values()))
        return self.combined_error

    # -- step 4: destination ---------------------------------------------------------------------

    def default_dest(self) -> str:
        name = self.database if self.kind == "database" else split_name(self.table_name())[1]
        if self.native:
            return f"nodelocal://1/{name}"
        return str(Path("export") / name)

    def check_dest(self) -> str | None:
        value = self.query_one("#f-dest", Input).value.strip()
        row = self.query_one("#row-dest", FieldRow)
        problem: str | None = None
        if not value:
            problem = "give where the files go"
        elif self.native:
            if not value.startswith(("nodelocal://", "http://", "https://")):
                problem = "a native export writes on the server: give nodelocal://<node>/<dir>"
            else:
                try:
                    native.quote_path(value)
                except KwtuiError as exc:
                    problem = exc.message
        else:
            if "://" in value:
                problem = "a streamed export writes here: give a local directory (nodelocal:// is native)"
            else:
                try:
                    check_empty(Path(value).expanduser())
                except KwtuiError as exc:
                    problem = exc.message
        row.set_error(problem)
        return problem

    @on(Input.Changed, "#f-dest")
    def on_dest_changed(self, event: Input.Changed) -> None:
        self.dest_values["native" if self.native else "streamed"] = event.value
        self.query_one("#row-dest", FieldRow).set_error(None)
        self.update_dest_note()

    def update_dest_note(self) -> None:
        value = self.query_one("#f-dest", Input).value.strip()
        note = self.query_one("#dest-note", Static)
        if self.native:
            note.update("KWDB writes under its extern dir on node <node> (nodelocal://1/items: node 1, "
                        "directory items). The directory must not exist or be empty.")
        elif value:
            note.update(f"kwtui writes into {escape(display_path(Path(value).expanduser()))}/ on this machine "
                        "(it must not exist or be empty).")
        else:
            note.update("")

    # -- step 5: preview -------------------------------------------------------------------------

    def dest(self) -> str:
        return self.query_one("#f-dest", Input).value.strip()

    def build_statement(self) -> native.NativeStatement:
        if self.kind == "database":
            return native.export_database(self.dest(), self.database, options=self.options)
        schema, name = split_name(self.table_name())
        return native.export_table(self.dest(), (self.database, schema, name), options=self.options)

    def plan_text(self) -> str:
        assert self.dialect is not None
        d = self.dialect
        chunk = parse_int(self.raw("chunk_rows"), "chunk_rows", low=0, high=DEFAULT_CHUNK_ROWS,
                          blank=DEFAULT_CHUNK_ROWS) or 0
        contents = self.contents()
        out = display_path(Path(self.dest()).expanduser())
        svc = getattr(self.app, "service", None)
        copy = svc is not None and svc.dialect is not None and svc.dialect.caps.copy_to_stdout
        how = ("COPY ... TO STDOUT: the server formats the CSV" if copy
               else "keyset SELECT pages, formatted to CSV by kwtui")
        lines = []
        if self.kind == "table":
            t = self.selected_table()
            rows = t.est_rows if t is not None else None
            lines.append(f"Export {self.table_name()} (database {self.database}) into {out}/")
            if contents != "data":
                lines.append("  meta.sql       CREATE TABLE in KWDB's dialect")
            if contents != "meta":
                files = "1 file" if not chunk or not rows else f"~{max(1, math.ceil(rows / chunk)):,} file(s)"
                per = "all rows in one file" if not chunk else f"{chunk:,} rows per file"
                est = f"~{rows:,} rows, " if rows is not None else ""
                lines.append(f"  n1.0.csv …     {est}{per} ({files})")
        else:
            tables = [t for t in (self.tables or {}).values() if t.kind in ("table", "ts table", "partitioned table")]
            lines.append(f"Export the database {self.database} into {out}/")
            if contents != "data":
                lines.append("  meta.sql                     CREATE DATABASE")
            for t in tables[:12]:
                est = f"~{t.est_rows:,} rows" if t.est_rows is not None else ""
                lines.append(f"  {t.schema}/{t.name}/".ljust(31) + f"meta.sql + n1.*.csv {est}".rstrip())
            if len(tables) > 12:
                lines.append(f"  … and {len(tables) - 12} more tables")
        nulls = "an unquoted empty field" if not d.nullas else repr(d.nullas)
        lines += [
            "",
            f"delimiter {d.delimiter!r} · enclosed {d.enclosed!r} · escaped {d.escaped!r} · charset {d.charset}",
            f"NULL as {nulls} · header line: {'yes' if d.header else 'no'} · "
            f"{ {'both': 'meta.sql and data', 'meta': 'meta.sql only', 'data': 'data only'}[contents]}",
            f"rows read with {how}",
        ]
        return "\n".join(lines)

    def fill_preview(self) -> None:
        text = self.query_one("#preview-text", TextArea)
        note = self.query_one("#preview-note", Static)
        title = self.query_one("#preview-title", Static)
        self.statement = None
        if self.native:
            title.update("The statement KWDB will run")
            try:
                self.statement = self.build_statement()
            except KwtuiError as exc:
                note.update(f"[red]✗ {escape(exc.message)}[/]")
                text.text = ""
                return
            reason = native_reason(self.app)
            if reason is None:
                note.update("Sent as it is, in autocommit; KWDB writes the files on its nodes. ctrl+n runs it.")
            else:
                note.update(f"[yellow]{escape(reason)}: it cannot run here. Run it on a KWDB server, or go "
                            "back (ctrl+b) and choose streamed.[/]")
            text.language = "sql"
            text.text = self.statement.preview()
        else:
            title.update("What kwtui will write")
            note.update("ctrl+n starts the export.")
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
        if name == "what":
            self.update_summary()
        elif name == "path":
            self.query_one("#path-availability", Static).update(self.availability())
        elif name == "options":
            where = "native: options of KWDB's EXPORT" if self.native else "streamed: kwtui writes the CSV"
            self.query_one("#options-title", Static).update(f"Format and options ({where})")
            self.query_one("#row-nullas", FieldRow).set_help(
                "how NULL is written: NULL, null, Null, \\N or empty" if self.native
                else "how NULL is written (empty: an unquoted empty field)")
            self.validate_options()
        elif name == "dest":
            which = "native" if self.native else "streamed"
            box = self.query_one("#f-dest", Input)
            row = self.query_one("#row-dest", FieldRow)
            row.set_label("KWDB path" if self.native else "directory")
            row.set_help("nodelocal://<node>/<dir>" if self.native else "an empty or new directory")
            with box.prevent(Input.Changed):
                box.value = self.dest_values[which] or self.default_dest()
            row.set_error(None)
            self.update_dest_note()
        elif name == "preview":
            self.fill_preview()

    def check_step(self, name: str) -> str | None:
        if name == "what":
            return self.check_what()
        if name == "options":
            return self.check_options()
        if name == "dest":
            return self.check_dest()
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
            self.set_status("KWDB is exporting; it reports when the whole export is done")
            self.run_native_export(self.statement)
            return
        assert self.dialect is not None
        what = self.table_name() if self.kind == "table" else f"database {self.database}"
        out = Path(self.dest()).expanduser()
        t = self.selected_table() if self.kind == "table" else None
        total = t.est_rows if t is not None else None
        if self.kind == "database" and self.tables:
            total = sum(x.est_rows or 0 for x in self.tables.values()) or None
        panel.start(f"Exporting {escape(what)} → {escape(display_path(out))}/", total)
        self.set_status("exporting…")
        chunk = parse_int(self.raw("chunk_rows"), "chunk_rows", low=0, high=DEFAULT_CHUNK_ROWS,
                          blank=DEFAULT_CHUNK_ROWS)
        self.run_streamed_export(self.kind, self.database, self.table_name(), out, self.dialect,
                                 DEFAULT_CHUNK_ROWS if chunk is None else chunk, self.contents())

    @guarded("The export failed", group="run", exclusive=True)
    async def run_streamed_export(self, kind: str, database: str, table: str, out: Path, dialect: CsvDialect,
                                  chunk_rows: int, contents: str) -> None:
        # the request the CLI's `kwtui export` builds from its options, run by the same core
        # function: a journaled job, on the jobs screen (F8) while it runs
        req = ExportRequest(out, dialect, database=None if kind == "table" else database,
                            table=table if kind == "table" else None, chunk_rows=chunk_rows,
                            meta=contents != "data", data=contents != "meta").check()
        journal = kwtui_app(self).journal

        async def export(svc: Any) -> list[ExportedTable]:
            return await run_export(svc, req, listener=self.listener, journal=journal)

        results = await self.with_own_connection(database, export)
        self.post_message(ExportFinished(results))

    @guarded("KWDB's EXPORT failed", group="run", exclusive=True)
    async def run_native_export(self, statement: native.NativeStatement) -> None:
        result = await self.with_own_connection(self.database, lambda svc: self.run_native(svc, statement))
        self.post_message(NativeExportFinished(statement, result))

    @on(ExportFinished)
    def on_export_finished(self, message: ExportFinished) -> None:
        self.running = False
        self.finished = True
        self.refresh_bindings()
        lines = []
        for r in message.results:
            files = ", ".join(r.files) if len(r.files) <= 3 else f"{r.files[0]} … {r.files[-1]}"
            meta = "meta.sql, " if (Path(r.directory) / "meta.sql").exists() else ""
            lines.append(f"[b]{escape(r.table)}[/]: {r.rows:,} rows, {len(r.files)} data file(s), "
                         f"{human_bytes(r.bytes)} in {fmt.ms(r.elapsed)}")
            lines.append(f"  → {escape(display_path(r.directory))}/  {escape(meta + files)}")
        total = sum(r.rows for r in message.results)
        if len(message.results) != 1:
            lines.insert(0, f"{len(message.results)} tables, {total:,} rows")
        self.query_one(ProgressPanel).finished("\n".join(lines), self.last_event)
        self.set_status(f"[green]✓ exported {total:,} rows[/] · Esc closes")
        self.notify(f"exported {total:,} rows")

    @on(NativeExportFinished)
    def on_native_export_finished(self, message: NativeExportFinished) -> None:
        self.running = False
        self.finished = True
        self.refresh_bindings()
        r = message.result
        lines = [escape(r.summary())]
        for f in r.files[:8]:
            lines.append(f"  {escape(f.name)}: {f.rows if f.rows is not None else '?'} rows, "
                         f"node {f.node_id}, {f.file_num} file(s)")
        self.query_one(ProgressPanel).finished("\n".join(lines))
        mark = "[green]✓" if r.ok else "[red]✗"
        self.set_status(f"{mark} {escape(r.summary())}[/] · Esc closes")
