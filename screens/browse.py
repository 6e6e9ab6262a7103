"""Browse: databases -> schemas -> tables -> columns and indexes; DDL and a preview of a table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import (
    DataTable,
    Footer,
    Header,
    Input,
    Static,
    TabbedContent,
    TabPane,
    TextArea,
    Tree,
)
from textual.widgets.tree import NodeID, TreeNode

from kwtui import fmt
from kwtui.catalog import Database, Schema, Table, TableDetail
from kwtui.connection import QueryResult, ServerInfo
from kwtui.errors import KwtuiError
from kwtui.explorer import Explorer, filter_tables
from kwtui.fmt import human_bytes
from kwtui.screens.base import KwScreen
from kwtui.screens.cells import CellViewer, cell
from kwtui.screens.workers import guarded, kwtui_app

MAX_CELL = 40


@dataclass(frozen=True)
class NodeData:
    kind: str  # "database" | "schema" | "table" | "group" | "column" | "index" | "more"
    database: str
    schema: str = ""
    table: Table | None = None


# -- messages ------------------------------------------------------------------------------


class SchemasLoaded(Message):
    def __init__(self, node: TreeNode[NodeData], schemas: list[Schema]) -> None:
        super().__init__()
        self.node, self.schemas = node, schemas


class TablesLoaded(Message):
    def __init__(self, node: TreeNode[NodeData], tables: list[Table]) -> None:
        super().__init__()
        self.node, self.tables = node, tables


class DetailLoaded(Message):
    def __init__(self, node: TreeNode[NodeData] | None, detail: TableDetail) -> None:
        super().__init__()
        self.node, self.detail = node, detail


class PreviewLoaded(Message):
    def __init__(self, table: Table, result: QueryResult) -> None:
        super().__init__()
        self.table, self.result = table, result


class BrowseFailed(Message):
    def __init__(self, title: str, error: KwtuiError) -> None:
        super().__init__()
        self.title, self.error = title, error


def _err(exc: BaseException) -> KwtuiError:
    return exc if isinstance(exc, KwtuiError) else KwtuiError(f"{type(exc).__name__}: {exc}")


# -- labels ----------------------------------------------------------------------------------


def database_label(d: Database, current: bool) -> str:
    engine = "[b magenta]TS[/]" if d.is_ts else "[dim]rel[/]"
    size = f" [dim]{human_bytes(d.size_bytes)}[/]" if d.size_bytes is not None else ""
    mark = " [green]●[/]" if current else ""
    return f"{_esc(d.name)} {engine}{size}{mark}"


def table_label(t: Table) -> str:
    kind = {"ts table": "[magenta]TS[/] ", "view": "[cyan]view[/] ", "materialized view": "[cyan]mview[/] ",
            "partitioned table": "[yellow]part[/] ", "foreign table": "[dim]fdw[/] "}.get(t.kind, "")
    if t.kind in ("view", "foreign table"):
        return f"{kind}{_esc(t.name)}"
    rows = f"~{t.est_rows:,}" if t.est_rows is not None else "?"
    size = f" {human_bytes(t.size_bytes)}" if t.size_bytes is not None else ""
    return f"{kind}{_esc(t.name)} [dim]{rows} rows{size}[/]"


def _esc(text: str) -> str:
    return text.replace("[", r"\[")


def _cell(value: Any) -> Text:
    """A cell as plain Text (never markup), cut to MAX_CELL characters with newlines shown; NULL a dim ∅."""
    return cell(value, MAX_CELL)


class BrowseScreen(KwScreen[None]):
    HELP_TITLE = "browse"
    BINDINGS = [
        Binding("slash", "filter", "Filter", show=False),
        Binding("f2", "console", "SQL"),
        Binding("f3", "next_tab", "Next tab", show=False),
        Binding("f5", "refresh", "Refresh", show=False),
        Binding("f6", "export", "Export"),
        Binding("f7", "import", "Import"),
        Binding("ctrl+d", "disconnect", "Disconnect", show=False),
    ]

    def __init__(self, explorer: Explorer | None, info: ServerInfo, databases: list[Database], where: str) -> None:
        super().__init__()
        self.explorer = explorer
        self.info = info
        self.databases = databases
        self.where = where
        self.tables_by_node: dict[NodeID, list[Table]] = {}
        self.selected: tuple[str, Table] | None = None
        self.filter_text = ""
        self.preview_rows: list[tuple[Any, ...]] = []  # the values behind the preview grid (cell viewer)
        self.preview_columns: list[str] = []

    # -- layout ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        kind = "KWDB" if self.info.kind == "kwdb" else "PostgreSQL"
        yield Static(f"[b]{kind} {self.info.version}[/b] · {self.info.deployment} · {_esc(self.where)}",
                     id="server-line")
        with Horizontal(id="browse-body"):
            with Vertical(id="tree-pane"):
                yield Input(placeholder="/ filter tables", id="tree-filter", compact=True, select_on_focus=False)
                tree: Tree[NodeData] = Tree("databases", id="db-tree")
                tree.show_root = False
                tree.guide_depth = 2
                yield tree
            with TabbedContent(id="table-tabs"):
                with TabPane("Details", id="details"):
                    yield Static("Select a table in the tree.", id="table-title")
                    yield DataTable(id="columns-table", cursor_type="row", zebra_stripes=True)
                with TabPane("DDL", id="ddl"):
                    yield TextArea.code_editor("", language="sql", read_only=True, id="ddl-text")
                with TabPane("Preview", id="preview"):
                    yield DataTable(id="preview-table", zebra_stripes=True)
                    yield Static("", id="preview-status", classes="muted")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"{self.info.label} · {self.where}"
        self.show_databases(self.databases)
        self.query_one("#db-tree", Tree).focus()

    # -- tree --------------------------------------------------------------------------------

    def show_databases(self, databases: list[Database]) -> None:
        self.databases = databases
        tree: Tree[NodeData] = self.query_one("#db-tree", Tree)
        tree.clear()
        self.tables_by_node.clear()
        current = self.info.database
        current_node = None
        for d in databases:
            node = tree.root.add(database_label(d, d.name == current), data=NodeData("database", d.name))
            node.allow_expand = True
            if d.name == current:
                current_node = node
        if current_node is not None:
            current_node.expand()  # open the connected database right away
            self.call_after_refresh(self._select_node, current_node)

    def _select_node(self, node: TreeNode[NodeData]) -> None:
        tree: Tree[NodeData] = self.query_one("#db-tree", Tree)
        if node.line >= 0:
            tree.cursor_line = node.line

    @on(Tree.NodeExpanded, "#db-tree")
    def on_node_expanded(self, event: Tree.NodeExpanded[NodeData]) -> None:
        node = event.node
        data = node.data
        if data is None or node.children or self.explorer is None:
            return
        if data.kind == "database":
            node.add_leaf("[dim]loading…[/]", data=NodeData("more", data.database))
            self.load_schemas(node)
        elif data.kind == "schema":
            node.add_leaf("[dim]loading…[/]", data=NodeData("more", data.database))
            self.load_tables(node)
        elif data.kind == "table" and data.table is not None:
            node.add_leaf("[dim]loading…[/]", data=NodeData("more", data.database))
            self.load_detail(node, data.database, data.table)

    @guarded("Cannot list the schemas", group="tree")
    async def load_schemas(self, node: TreeNode[NodeData]) -> None:
        assert self.explorer is not None and node.data is not None
        try:
            schemas = await self.explorer.schemas(node.data.database)
        except Exception as exc:
            self.post_message(BrowseFailed(f"Cannot open database {node.data.database}", _err(exc)))
            self.post_message(SchemasLoaded(node, []))
            return
        self.post_message(SchemasLoaded(node, schemas))

    @on(SchemasLoaded)
    def on_schemas_loaded(self, message: SchemasLoaded) -> None:
        node = message.node
        node.remove_children()
        db = node.data.database if node.data else ""
        for s in message.schemas:
            count = f" [dim]({s.table_count})[/]" if s.table_count is not None else ""
            child = node.add(f"{_esc(s.name)}{count}", data=NodeData("schema", db, s.name))
            child.allow_expand = True
        if len(message.schemas) <= 3:  # small databases: show the tables straight away
            for child in node.children:
                child.expand()

    @guarded("Cannot list the tables", group="tree")
    async def load_tables(self, node: TreeNode[NodeData], refresh: bool = False) -> None:
        assert self.explorer is not None and node.data is not None
        try:
            tables = await self.explorer.tables(node.data.database, node.data.schema, refresh=refresh)
        except Exception as exc:
            self.post_message(BrowseFailed(f"Cannot list tables of {node.data.schema}", _err(exc)))
            tables = []
        self.post_message(TablesLoaded(node, tables))

    @on(TablesLoaded)
    def on_tables_loaded(self, message: TablesLoaded) -> None:
        self.tables_by_node[message.node.id] = message.tables
        self.fill_tables(message.node)

    def fill_tables(self, node: TreeNode[NodeData]) -> None:
        tables = filter_tables(self.tables_by_node.get(node.id, []), self.filter_text)
        node.remove_children()
        db = node.data.database if node.data else ""
        for t in tables:
            child = node.add(table_label(t), data=NodeData("table", db, t.schema, t))
            child.allow_expand = True
        if not tables:
            node.add_leaf("[dim](no tables)[/]" if not self.filter_text else "[dim](no match)[/]",
                          data=NodeData("more", db))
        self.call_after_refresh(self.fit_tree)

    def fit_tree(self) -> None:
        """The tree pane as wide as its widest line (row counts and sizes included), at most half the
        screen; the details keep the rest."""
        tree = self.query_one("#db-tree", Tree)
        widest = max([tree.virtual_size.width] + [len(self.query_one("#tree-filter", Input).placeholder or "")])
        room = max(26, self.app.size.width // 2)
        self.query_one("#tree-pane").styles.width = min(room, max(26, widest + 3))  # border, scrollbar

    @on(Tree.NodeHighlighted, "#db-tree")
    def on_node_highlighted(self, event: Tree.NodeHighlighted[NodeData]) -> None:
        data = event.node.data
        if data is not None and data.kind == "table" and data.table is not None:
            if self.selected != (data.database, data.table):
                self.selected = (data.database, data.table)
                self.query_one("#table-title", Static).update(f"[b]{_esc(data.table.qualified)}[/b] loading…")
                self.load_detail(None, data.database, data.table)
                self.load_preview(data.database, data.table)

    @guarded("Cannot read the table", group="detail", exclusive=True)
    async def load_detail(self, node: TreeNode[NodeData] | None, database: str, table: Table) -> None:
        assert self.explorer is not None
        try:
            detail = await self.explorer.detail(database, table)
        except Exception as exc:
            self.post_message(BrowseFailed(f"Cannot read {table.qualified}", _err(exc)))
            return
        self.post_message(DetailLoaded(node, detail))

    @on(DetailLoaded)
    def on_detail_loaded(self, message: DetailLoaded) -> None:
        d = message.detail
        if message.node is not None:
            node = message.node
            node.remove_children()
            cols = node.add(f"columns [dim]({len(d.columns)})[/]", data=NodeData("group", "", ""))
            for c in d.columns:
                flags = f" [yellow]{c.flags()}[/]" if c.flags() else ""
                cols.add_leaf(f"{_esc(c.name)} [dim]{_esc(c.type)}[/]{flags}", data=NodeData("column", ""))
            cols.expand()
            if d.indexes:
                idx = node.add(f"indexes [dim]({len(d.indexes)})[/]", data=NodeData("group", "", ""))
                for ix in d.indexes:
                    kind = "PK" if ix.primary else ("unique" if ix.unique else "")
                    idx.add_leaf(f"{_esc(ix.name)} [dim]({', '.join(ix.columns)}) {kind}[/]",
                                 data=NodeData("index", ""))
        if self.selected is None or self.selected[1] != d.table:
            return
        t = d.table
        bits = [t.kind]
        if t.est_rows is not None:
            bits.append(f"~{t.est_rows:,} rows")
        if t.size_bytes is not None:
            bits.append(human_bytes(t.size_bytes))
        if d.primary_key:
            bits.append("key " + ", ".join(d.primary_key))
        if d.primary_tags:
            bits.append("primary tags " + ", ".join(d.primary_tags))
        comment = f"\n[dim]{_esc(t.comment)}[/]" if t.comment else ""
        self.query_one("#table-title", Static).update(f"[b]{_esc(t.qualified)}[/b] · {_esc(' · '.join(bits))}{comment}")
        table = self.query_one("#columns-table", DataTable)
        # the names column as wide as the table's column names: long index names end in "…" (Enter
        # shows a line whole), so the types beside them are not pushed out of view
        table.clear(columns=True)
        table.add_column("Column", width=max([6] + [len(c.name) for c in d.columns]))
        table.add_columns("Type", "Null", "Key / tag", "Default")
        for c in d.columns:
            key = "PK" if c.primary_key else ""
            if c.primary_tag:
                key = (key + " primary tag").strip()
            elif c.is_tag:
                key = (key + " tag").strip()
            table.add_row(Text(c.name), Text(c.type), "yes" if c.nullable else "no", key, _cell(c.default or ""))
        for ix in d.indexes:
            table.add_row(Text(f"index: {ix.name}", overflow="ellipsis", no_wrap=True), Text(", ".join(ix.columns)),
                          "", "primary" if ix.primary else ("unique" if ix.unique else ""), "")
        self.query_one("#ddl-text", TextArea).text = d.ddl

    @guarded("Cannot read the first rows", group="preview", exclusive=True)
    async def load_preview(self, database: str, table: Table) -> None:
        assert self.explorer is not None
        try:
            result = await self.explorer.preview(database, table)
        except Exception as exc:
            self.post_message(PreviewLoaded(table, QueryResult([], [], status=f"preview failed: {exc}")))
            return
        self.post_message(PreviewLoaded(table, result))

    @on(PreviewLoaded)
    def on_preview_loaded(self, message: PreviewLoaded) -> None:
        if self.selected is None or self.selected[1] != message.table:
            return
        grid = self.query_one("#preview-table", DataTable)
        grid.clear(columns=True)
        res = message.result
        for name in res.columns:
            grid.add_column(name)
        self.preview_rows = [tuple(r) for r in res.rows]
        self.preview_columns = list(res.columns)
        for row in res.rows:
            grid.add_row(*[_cell(v) for v in row])
        status = res.status if not res.columns else f"first {len(res.rows)} rows · {fmt.ms(res.elapsed)}"
        self.query_one("#preview-status", Static).update(_esc(status))

    @on(DataTable.RowSelected, "#columns-table")
    def on_column_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a column of the details: the whole line (a long type or default is cut in the grid)."""
        table = event.data_table
        cells = [str(v) for v in table.get_row_at(event.cursor_row)]
        names = [str(c.label) for c in table.columns.values()]
        text = "\n".join(f"{n}: {v}" for n, v in zip(names, cells, strict=False) if v)
        self.app.push_screen(CellViewer(cells[0] if cells else "column", text))

    @on(DataTable.CellSelected, "#preview-table")
    def on_preview_cell_selected(self, event: DataTable.CellSelected) -> None:
        """Enter on a preview cell: its whole value (the grid cuts long ones)."""
        row, col = event.coordinate.row, event.coordinate.column
        if 0 <= row < len(self.preview_rows) and 0 <= col < len(self.preview_rows[row]):
            self.app.push_screen(CellViewer(f"{self.preview_columns[col]} · row {row + 1}", self.preview_rows[row][col]))

    @on(BrowseFailed)
    def on_browse_failed(self, message: BrowseFailed) -> None:
        kwtui_app(self).show_error(message.title, message.error)

    # -- filter ------------------------------------------------------------------------------

    def action_filter(self) -> None:
        self.query_one("#tree-filter", Input).focus()

    @on(Input.Changed, "#tree-filter")
    def on_filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        tree: Tree[NodeData] = self.query_one("#db-tree", Tree)
        for node_id in list(self.tables_by_node):
            node = tree.get_node_by_id(node_id)
            self.fill_tables(node)

    @on(Input.Submitted, "#tree-filter")
    def on_filter_submitted(self, event: Input.Submitted) -> None:
        self.query_one("#db-tree", Tree).focus()

    def on_key(self, event: Any) -> None:
        """Type-to-filter: a printable key pressed in the tree goes to the filter box; Esc clears it."""
        tree = self.query_one("#db-tree", Tree)
        box_ = self.query_one("#tree-filter", Input)
        if event.key == "escape" and box_.value:
            box_.value = ""
            tree.focus()
            event.stop()
            return
        if self.focused is tree and event.character and event.character.isprintable() \
                and event.character not in "/ " and len(event.character) == 1:
            box = self.query_one("#tree-filter", Input)
            box.focus()
            box.value += event.character
            box.cursor_position = len(box.value)
            event.stop()

    # -- actions -----------------------------------------------------------------------------

    def action_next_tab(self) -> None:
        tabs = self.query_one("#table-tabs", TabbedContent)
        order = ["details", "ddl", "preview"]
        tabs.active = order[(order.index(tabs.active) + 1) % 3] if tabs.active in order else "details"

    def action_refresh(self) -> None:
        if self.explorer is None:
            return
        self.explorer.forget()
        self.refresh_databases()

    @guarded("Cannot list the databases", group="tree", exclusive=True)
    async def refresh_databases(self) -> None:
        assert self.explorer is not None
        try:
            databases = await self.explorer.databases()
        except Exception as exc:
            self.post_message(BrowseFailed("Cannot list databases", _err(exc)))
            return
        self.app.call_later(self.show_databases, databases)
        self.notify(f"{len(databases)} databases")

    def action_console(self) -> None:
        database = self.selected[0] if self.selected else self.info.database
        kwtui_app(self).open_console(database)

    def transfer_target(self) -> tuple[str, Table | None]:
        """What export/import start from: the table or database under the cursor, else the selection."""
        node = self.query_one("#db-tree", Tree).cursor_node
        data = node.data if node is not None else None
        if data is not None and data.kind == "table" and data.table is not None:
            return data.database, data.table
        if data is not None and data.kind in ("database", "schema") and data.database:
            return data.database, None
        return self.selected if self.selected else (self.info.database, None)

    def action_export(self) -> None:
        kwtui_app(self).open_export_wizard()

    def action_import(self) -> None:
        kwtui_app(self).open_import_wizard()

    def action_disconnect(self) -> None:
        kwtui_app(self).disconnect()
