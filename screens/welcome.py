"""The first screen: what kwtui does, and where to go from here."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Footer, Header, OptionList, Static
from textual.widgets.option_list import Option

from kwtui.screens.base import KwScreen
from kwtui.screens.workers import kwtui_app

WELCOME_TEXT = (
    "[b]kwtui[/b] moves data into and out of [b]KWDB[/b] (KaiwuDB) without losing a row. "
    "Plan a migration from PostgreSQL or CSV files, run it with KWDB's own IMPORT/EXPORT or "
    "streamed by kwtui, watch every job, and prove the result row by row."
)

CHOICES = (
    ("connect", "c", "Connect to a server", "host, port, user, TLS or a KWDB certs directory"),
    ("profiles", "p", "Open a saved profile", "pick one of your saved connections"),
    ("demo", "d", "Start the demo", "embedded PostgreSQL with sample shop and meter data"),
    ("migration", "n", "Start a new migration", "the guided plan: source, target, strategy"),
    ("jobs", "j", "Jobs", "every transfer: progress, cancel, pause, resume"),
    ("validate", "v", "Validate", "prove two tables match, down to the differing rows"),
    ("doctor", "o", "Doctor", "preflight checks: privileges, keys, TS candidates, disks"),
)


class WelcomeScreen(KwScreen[None]):
    HELP_TITLE = "welcome"
    BINDINGS = [
        Binding("c", "choose('connect')", "Connect"),
        Binding("p", "choose('profiles')", "Profiles"),
        Binding("d", "choose('demo')", "Demo"),
        Binding("n", "choose('migration')", "New migration"),
        Binding("j", "app.open_jobs", "Jobs"),
        Binding("v", "app.open_validation", "Validate"),
        Binding("o", "app.open_doctor", "Doctor"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="welcome-body"):
            yield Static(WELCOME_TEXT, id="welcome-text")
            yield OptionList(
                *[Option(f"[b]{key}[/b]  {label}  [dim]{hint}[/dim]", id=ident)
                  for ident, key, label, hint in CHOICES],
                id="welcome-menu",
            )
            yield Static("", id="welcome-status")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "kwtui"
        self.sub_title = "KWDB migration console"
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self.action_choose(event.option.id)

    def action_choose(self, choice: str) -> None:
        app = kwtui_app(self)
        if choice == "connect":
            app.action_open_connect()
        elif choice == "profiles":
            app.action_open_connect(focus_profiles=True)
        elif choice == "demo":
            app.action_start_demo()
        elif choice == "migration":
            app.action_new_migration()
        elif choice == "jobs":
            app.action_open_jobs()
        elif choice == "validate":
            app.action_open_validation()
        elif choice == "doctor":
            app.action_open_doctor()

    def set_status(self, text: str) -> None:
        self.query_one("#welcome-status", Static).update(text)
