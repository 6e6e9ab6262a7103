"""The SQL console: an editor, a streaming result grid, read/write modes, history, CSV, copy."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Footer, Header, Label, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from kwtui import fmt
from kwtui.connection import ConnectionService, QueryError, ResultStream
from kwtui.errors import KwtuiError
from kwtui.guard import ReadRefused
from kwtui.history import History, HistoryEntry
from kwtui.query import Execution, QueryRunner, WriteRefused, save_csv, statement_at
from kwtui.screens.base import KwModal, KwScreen
from kwtui.screens.cells import CellViewer, cell, full_text
from kwtui.screens.modals import PathPrompt
from kwtui.screens.workers import guarded, kwtui_app
from kwtui.sqlsafety import Guarded

PAGE = 500
#: the grid keeps at most this many rows; past it, save to CSV to get everything
MAX_GRID_ROWS = 50_000
#: display width of a column at most; the cell keeps its whole value for copying
MAX_WIDTH = 40


def _cell(value: Any) -> Text:
    """A cell as plain Text (never markup): a dim ∅ for NULL, numbers right-aligned."""
    return cell(value)


# -- messages ------------------------------------------------------------------------------


class RunFinished(Message):
    def __init__(self, execution: Execution, page: list[tuple[Any, ...]]) -> None:
        super().__init__()
        self.execution, self.page = execution, page


class RunFailed(Message):
    def __init__(self, text: str, error: KwtuiError) -> None:
        super().__init__()
        self.text, self.error = text, error


class PageLoaded(Message):
    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        super().__init__()
        self.rows = rows


class CsvSaved(Message):
    def __init__(self, path: str, rows: int) -> None:
        super().__init__()
        self.path, self.rows = path, rows


# -- small modals --------------------------------------------------------------------------


class HistoryModal(KwModal[str | None]):
    BINDINGS = [Binding("escape", "dismiss_none", "Close")]

    def __init__(self, entries: list[HistoryEntry]) -> None:
        super().__init__()
        self.entries = entries

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog"):
            yield Label("History (Enter puts it in the editor)", classes="title")
            yield OptionList(*[Option(_history_line(e)) for e in self.entries] or [Option("(empty)")],
                             id="history-list")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if self.entries:
            self.dismiss(self.entries[event.option_index].sql)
        else:
            self.dismiss(None)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


def _history_line(e: HistoryEntry) -> str:
    one = " ".join(e.sql.split())
    one = one if len(one) <= 60 else one[:59] + "…"
    rows = f" · {e.rows} rows" if e.rows is not None else ""
    return f"{one.replace('[', chr(92) + '[')} [dim]{e.database}{rows} · {e.status}[/]"


class SaveCsvModal(PathPrompt):
    def __init__(self, default: str) -> None:
        super().__init__("Save the result as CSV (the statement runs again, streamed to the file)", default,
                         input_id="csv-path")


# -- the console -----------------------------------------------------------------------------


class ResultGrid(DataTable[str]):
    """The result grid; copies go to the terminal's clipboard with OSC 52 (works over SSH)."""

    BINDINGS = [
        Binding("c", "copy_cell", "Copy cell"),
        Binding("r", "copy_row", "Copy row"),
    ]

    def _raw_row(self) -> tuple[Any, ...] | None:
        rows: list[tuple[Any, ...]] = getattr(self.screen, "raw_rows", [])
        return rows[self.cursor_row] if 0 <= self.cursor_row < len(rows) else None

    def action_copy_cell(self) -> None:
        row = self._raw_row()
        if row is None or not 0 <= self.cursor_column < len(row):
            return
        self.app.copy_to_clipboard(full_text(row[self.cursor_column]))
        self.notify("cell copied to the clipboard")

    def action_copy_row(self) -> None:
        row = self._raw_row()
        if row is None:
            return
        self.app.copy_to_clipboard("\t".join(full_text(v) for v in row))
        self.notify("row copied (tab separated)")



class ConsoleScreen(KwScreen[None]):
    HELP_TITLE = "SQL console"
    BINDINGS = [
        Binding("f5", "run_current", "Run"),
        Binding("f6", "run_all", "Run all", priority=True),
        Binding("f9", "cancel", "Cancel"),
        Binding("ctrl+w", "toggle_write", "Write mode", priority=True),  # F8 is Jobs on every screen
        Binding("ctrl+l", "toggle_limit", "Auto LIMIT", show=False),
        Binding("f4", "history", "History"),
        Binding("ctrl+s", "save_csv", "Save CSV"),
        Binding("ctrl+n", "clear", "Clear editor", show=False),
        Binding("f2", "back", "Browse"),
        Binding("escape", "back", "Back", show=False),
    ]

    def __init__(self, service: ConnectionService | None, database: str, *, history: History | None = None,
                 initial_sql: str = "") -> None:
        super().__init__()
        self.service = service
        self.database = database
        self.history = history or History()
        self.runner = QueryRunner(service) if service is not None else None
        self.write_mode = False
        self.stream: ResultStream | None = None
        self.last_sql: str | None = None
        self.last_guarded: Guarded | None = None
        self.raw_rows: list[tuple[Any, ...]] = []  # the values behind the grid (viewer, copies)
        self.raw_columns: list[str] = []
        self.loading_more = False
        self.initial_sql = initial_sql
        self.running = False

    def compose(self) -> ComposeResult:
        yield Header()
        editor = TextArea.code_editor(self.initial_sql, language="sql", id="sql-editor", tab_behavior="focus",
                                      soft_wrap=True)
        editor.border_title = "SQL"
        yield editor
        yield Static("", id="console-status")
        grid = ResultGrid(id="result-grid", zebra_stripes=True)
        grid.border_title = "Result"
        yield grid
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"SQL console · {self.database}"
        self.update_status("Read mode: writes are refused; a SELECT without LIMIT gets LIMIT 20. Ctrl+W: write mode.")
        self.query_one("#sql-editor", TextArea).focus()

    async def on_unmount(self) -> None:
        if self.stream is not None:
            await self.stream.close()
        if self.service is not None:
            await self.service.close()

    # -- status ------------------------------------------------------------------------------

    def mode_text(self) -> str:
        mode = "[b red]WRITE[/]" if self.write_mode else "[b green]READ[/]"
        limit = "" if self.runner is None or self.runner.auto_limit else " · auto LIMIT off"
        timeout = ""
        if not self.write_mode and self.runner is not None:
            timeout = f" · timeout {self.runner.timeout:g} s" if self.runner.timeout else " · no timeout"
        return f"{mode} · {escape(self.database)}{limit}{timeout}"

    def update_status(self, text: str) -> None:
        self.query_one("#console-status", Static).update(f"{self.mode_text()} · {text}")

    # -- running -----------------------------------------------------------------------------

    def editor_text(self) -> str:
        return self.query_one("#sql-editor", TextArea).text

    def current_statement(self) -> str:
        editor = self.query_one("#sql-editor", TextArea)
        if editor.selected_text.strip():
            return editor.selected_text
        row, col = editor.cursor_location
        lines = editor.text.split("\n")
        offset = sum(len(line) + 1 for line in lines[:row]) + col
        return statement_at(editor.text, offset)

    def action_run_current(self) -> None:
        self.start(self.current_statement())

    def action_run_all(self) -> None:
        self.start(self.editor_text())

    def start(self, text: str) -> None:
        if self.runner is None:
            return
        if self.running:
            self.notify("A statement is running: F9 cancels it", severity="warning")
            return
        try:
            guarded = self.runner.prepare(text, write_mode=self.write_mode)
        except WriteRefused as exc:
            self.update_status(f"[red]refused[/]: {escape(exc.message)}")
            self.history.add(HistoryEntry(sql=text, database=self.database, status="refused"))
            kwtui_app(self).show_error("Refused in read mode", exc.message + "\nCtrl+W switches to write mode.")
            return
        except KwtuiError as exc:
            self.update_status(escape(exc.message))
            return
        if guarded.is_write:
            from kwtui.screens.modals import ConfirmModal

            def answer(yes: bool | None) -> None:
                if yes:
                    self.update_status("running… (F9 cancels)")
                    self.run_statements(text, guarded, True)
                else:
                    self.update_status("not run")

            self.app.push_screen(ConfirmModal(f"This will change data or settings:\n{guarded.summary}\n\nRun it?"),
                                 answer)
            return
        self.update_status("running… (F9 cancels)")
        self.run_statements(text, guarded, False)

    @guarded("The statement failed", group="run", exclusive=True)
    async def run_statements(self, text: str, guarded: Guarded, confirmed: bool) -> None:
        assert self.runner is not None
        self.running = True
        if self.stream is not None:
            await self.stream.close()
            self.stream = None
        try:
            ex = await self.runner.run(guarded, write_mode=self.write_mode, confirmed=confirmed, chunk=PAGE)
            page = await ex.stream.next_page(PAGE) if ex.stream is not None else []
        except Exception as exc:
            self.running = False
            self.post_message(RunFailed(text, exc if isinstance(exc, KwtuiError) else KwtuiError(str(exc))))
            return
        self.running = False
        self.last_sql, self.last_guarded = text, guarded
        self.post_message(RunFinished(ex, page))

    @on(RunFinished)
    def on_run_finished(self, message: RunFinished) -> None:
        ex = message.execution
        grid = self.query_one("#result-grid", DataTable)
        grid.clear(columns=True)
        self.stream = ex.stream
        rows = message.page if ex.stream is not None else ex.rows
        self.raw_rows = [tuple(r) for r in rows]
        self.raw_columns = list(ex.columns)
        cells = [[_cell(v) for v in row] for row in rows]
        for i, name in enumerate(ex.columns):
            widest = max([len(name)] + [r[i].cell_len for r in cells[:200]])
            grid.add_column(name, width=min(max(widest, 4), MAX_WIDTH))
        for row in cells:
            grid.add_row(*row)
        parts = []
        if ex.stream is not None:
            s = ex.stream
            more = "" if s.done else "+ (more as you scroll)"
            parts.append(f"{grid.row_count:,}{more} rows in {fmt.ms(s.first_page_elapsed)}")
            status = s.status
        else:
            status = "; ".join(o.status or o.verb for o in ex.outcomes)
            parts.append(escape(status or "done"))
            parts.append(fmt.ms(sum(o.elapsed for o in ex.outcomes)))
        if ex.notice:
            parts.append(f"[yellow]{escape(ex.notice)}[/]")
        self.update_status(" · ".join(parts))
        # what the user typed, not the statement as rewritten (LIMIT 20 added)
        self.history.add(HistoryEntry(sql=self.last_sql or ex.guarded.sql, database=self.database,
                                      status=status or "ok", rows=grid.row_count if ex.columns else None))

    @on(RunFailed)
    def on_run_failed(self, message: RunFailed) -> None:
        err = message.error
        if isinstance(err, ReadRefused):
            self.update_status(f"[red]refused[/]: {escape(err.message)}")
            self.history.add(HistoryEntry(sql=message.text, database=self.database, status="refused"))
            kwtui_app(self).show_error("Refused in read mode", err.message + "\nCtrl+W switches to write mode.")
            return
        where = ""
        if isinstance(err, QueryError) and err.position:
            where = f" (line {message.text[: err.position].count(chr(10)) + 1})"
            self._point_at(message.text, err.position)
        self.update_status(f"[red]{escape(err.message)}{where}[/]")
        cancelled = isinstance(err, QueryError) and err.sqlstate == "57014"
        self.history.add(HistoryEntry(sql=message.text, database=self.database, status="error"))
        detail = "\n".join(x for x in (err.detail, f"Hint: {err.hint}" if err.hint else None) if x)
        title = "Statement cancelled" if cancelled else "The server refused the statement"
        kwtui_app(self).show_error(title, err.message + where, detail or None)

    def _point_at(self, text: str, position: int) -> None:
        editor = self.query_one("#sql-editor", TextArea)
        full = editor.text
        base = full.find(text)
        if base < 0:
            return
        offset = base + position - 1
        before = full[:offset]
        row = before.count("\n")
        col = offset - (before.rfind("\n") + 1)
        editor.cursor_location = (row, col)

    # -- paging ------------------------------------------------------------------------------

    @on(DataTable.CellSelected, "#result-grid")
    def on_cell_selected(self, event: DataTable.CellSelected) -> None:
        """Enter on a cell: its whole value in the cell viewer."""
        row, col = event.coordinate.row, event.coordinate.column
        if 0 <= row < len(self.raw_rows) and 0 <= col < len(self.raw_rows[row]):
            name = self.raw_columns[col] if col < len(self.raw_columns) else f"column {col + 1}"
            self.app.push_screen(CellViewer(f"{name} · row {row + 1}", self.raw_rows[row][col]))

    @on(DataTable.CellHighlighted, "#result-grid")
    def on_cell_highlighted(self, event: DataTable.CellHighlighted) -> None:
        self.maybe_load_more(event.coordinate.row)

    @on(DataTable.RowHighlighted, "#result-grid")
    def on_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.maybe_load_more(event.cursor_row)

    def maybe_load_more(self, row: int) -> None:
        """Fetch the next page when the cursor comes near the last loaded row."""
        grid = self.query_one("#result-grid", DataTable)
        if self.stream is None or self.stream.done or self.loading_more:
            return
        if row >= grid.row_count - 20:
            if grid.row_count >= MAX_GRID_ROWS:
                self.update_status(f"{grid.row_count:,} rows shown (the grid's limit): Ctrl+S saves them all")
                return
            self.loading_more = True
            self.load_more()

    @guarded("Cannot fetch more rows", group="page", exclusive=True)
    async def load_more(self) -> None:
        try:
            assert self.stream is not None
            rows = await self.stream.next_page(PAGE)
        except Exception:  # the statement ran; its later rows could not be read: "Cannot fetch more rows"
            self.loading_more = False
            self.update_status("[red]the rest of the result could not be read[/]: the rows shown are kept")
            with contextlib.suppress(Exception):
                if self.stream is not None:
                    await self.stream.close()
            self.stream = None
            raise
        self.post_message(PageLoaded(rows))

    @on(PageLoaded)
    def on_page_loaded(self, message: PageLoaded) -> None:
        grid = self.query_one("#result-grid", DataTable)
        for row in message.rows:
            self.raw_rows.append(tuple(row))
            grid.add_row(*[_cell(v) for v in row])
        self.loading_more = False
        done = self.stream is None or self.stream.done
        self.update_status(f"{grid.row_count:,}{'' if done else '+'} rows")

    # -- other actions -----------------------------------------------------------------------

    async def action_cancel(self) -> None:
        if self.service is None:
            return
        if self.running:
            await self.service.cancel()
            self.update_status("cancel sent: the server stops the statement")
        elif self.stream is not None and not self.stream.done:
            await self.stream.close()
            self.update_status("stopped reading the result")
        else:
            self.notify("Nothing is running")

    def action_toggle_write(self) -> None:
        self.write_mode = not self.write_mode
        if self.write_mode:
            self.update_status("[red]write mode[/]: writes run after a confirmation, in autocommit")
        else:
            self.update_status("back to read mode")

    def action_toggle_limit(self) -> None:
        if self.runner is not None:
            self.runner.auto_limit = not self.runner.auto_limit
            self.update_status(f"automatic LIMIT {'on' if self.runner.auto_limit else 'off'}")

    def action_history(self) -> None:
        def chosen(sql: str | None) -> None:
            if sql:
                editor = self.query_one("#sql-editor", TextArea)
                editor.text = sql
                editor.focus()

        self.app.push_screen(HistoryModal(self.history.entries(200)), chosen)

    def action_save_csv(self) -> None:
        if self.last_guarded is None or self.stream is None and not self.query_one("#result-grid", DataTable).columns:
            self.notify("Run a query first", severity="warning")
            return
        default = str(Path.cwd() / "result.csv")

        def chosen(path: str | None) -> None:
            if path:
                self.update_status(f"saving to {escape(path)}…")
                self.save_to(path)

        self.app.push_screen(SaveCsvModal(default), chosen)

    @guarded("Cannot save the result", group="run", exclusive=True)
    async def save_to(self, path: str) -> None:
        assert self.service is not None and self.last_guarded is not None
        if self.stream is not None:
            await self.stream.close()
            self.stream = None
        self.running = True
        try:
            g = self.last_guarded
            if not self.write_mode and len(g.statements) == 1:  # the whole result, not the automatic LIMIT's rows
                rows = await save_csv(self.service, g.statements[0].text, path, read_only=True,
                                      timeout=self.runner.timeout if self.runner else None)
            else:
                rows = await save_csv(self.service, g.sql, path, read_only=not self.write_mode)
        except Exception:  # the one error modal, titled "Cannot save the result" (not "the server refused")
            self.update_status(f"not saved to {escape(path)}")
            raise
        finally:
            self.running = False
        self.post_message(CsvSaved(path, rows))

    @on(CsvSaved)
    def on_csv_saved(self, message: CsvSaved) -> None:
        self.update_status(f"saved {message.rows:,} rows to {escape(message.path)}")
        self.notify(f"{message.rows:,} rows saved to {message.path}")

    def action_clear(self) -> None:
        editor = self.query_one("#sql-editor", TextArea)
        editor.text = ""
        editor.focus()

    def action_back(self) -> None:
        self.app.pop_screen()
