"""Routes that later releases fill (the new-migration wizard)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

MIGRATION_TEXT = """\
[b]New migration[/b]

The guided wizard will ask what a migration specialist asks first:
  - the source (PostgreSQL, KWDB or CSV files) and the target,
  - the target's deployment type (single node, single-replica, multi-replica),
  - the data volume, the downtime the business accepts,
  - whether the source keeps taking writes during the move,
and lead to a plan you can run, watch and validate.

It is not built yet. Today: connect to a server (c on the welcome screen) or try
the demo (d), and use the headless CLI: kwtui --help."""


class NewMigrationScreen(Screen[None]):
    HELP_TITLE = "new migration"
    BINDINGS = [Binding("escape", "app.pop_screen", "Back")]

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="placeholder-body"):
            yield Static(MIGRATION_TEXT)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "New migration"
