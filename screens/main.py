"""After connecting: the server and its databases (the browser and console build on this)."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from kwtui.catalog import Database
from kwtui.connection import ConnectionService, ServerInfo
from kwtui.errors import KwtuiError
from kwtui.fmt import human_bytes
from kwtui.screens.messages import DatabasesLoaded


def server_summary(info: ServerInfo, where: str) -> str:
    kind = "KWDB" if info.kind == "kwdb" else "PostgreSQL"
    lines = [
        f"[b]{kind} {info.version}[/b]  ·  {info.deployment}  ·  {where}",
        f"[dim]{info.version_string}[/dim]",
        f"connected to database [b]{info.database}[/b] as [b]{info.user}[/b]",
    ]
    return "\n".join(lines)


class MainScreen(Screen[None]):
    HELP_TITLE = "server and databases"
    BINDINGS = [
        Binding("r", "refresh", "Refresh"),
        Binding("ctrl+d", "disconnect", "Disconnect"),
        Binding("escape", "disconnect", "Back", show=False),
    ]

    def __init__(self, service: ConnectionService | None, info: ServerInfo, databases: list[Database],
                 where: str) -> None:
        super().__init__()
        self.service = service
        self.info = info
        self.databases = databases
        self.where = where

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical():
            banner = Static(server_summary(self.info, self.where), id="server-banner")
            banner.border_title = "Server"
            yield banner
            table: DataTable[str] = DataTable(id="databases", cursor_type="row", zebra_stripes=True)
            table.border_title = "Databases"
            yield table
            yield Static("Schema browser and SQL console: coming next. ? lists every key.", id="main-hint")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"{self.info.label} · {self.where}"
        table = self.query_one("#databases", DataTable)
        table.add_column("Database", key="name")
        table.add_column("Engine", key="engine")
        table.add_column("Size", key="size")
        table.add_column("Comment", key="comment")
        self.show_databases(self.databases)
        table.focus()

    def show_databases(self, databases: list[Database]) -> None:
        self.databases = databases
        table = self.query_one("#databases", DataTable)
        table.clear()
        for d in databases:
            marker = "time-series" if d.is_ts else "relational"
            table.add_row(d.name, marker, human_bytes(d.size_bytes), d.comment or "", key=d.name)
        table.border_subtitle = f"{len(databases)} database{'s' if len(databases) != 1 else ''}"

    def action_refresh(self) -> None:
        if self.service is None:
            return
        self.load_databases()

    @work(exclusive=True, group="databases")
    async def load_databases(self) -> None:
        assert self.service is not None
        try:
            databases = await self.service.list_databases()
        except KwtuiError as exc:
            self.app.show_error("Cannot list databases", exc)  # type: ignore[attr-defined]
            return
        except Exception as exc:
            self.app.show_error("Cannot list databases", KwtuiError(f"{type(exc).__name__}: {exc}"))  # type: ignore[attr-defined]
            return
        self.post_message(DatabasesLoaded(databases))

    @on(DatabasesLoaded)
    def on_databases_loaded(self, message: DatabasesLoaded) -> None:
        self.show_databases(message.databases)
        self.notify(f"{len(message.databases)} databases")

    def action_disconnect(self) -> None:
        self.app.disconnect()  # type: ignore[attr-defined]
