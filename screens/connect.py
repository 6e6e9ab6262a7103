"""Connect: saved profiles on the left, a form to add / edit / delete / test one on the right."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Footer, Header, Input, Label, ListItem, ListView, Select, Static

from kwtui.connection import ConnectionService, ConnectTarget
from kwtui.errors import KwtuiError, UsageError
from kwtui.profiles import Profile, ProfileStore, parse_dsn
from kwtui.screens.base import KwScreen
from kwtui.screens.workers import guarded, kwtui_app

SSLMODES = [("(libpq default)", ""), *[(m, m) for m in
            ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")]]

#: (field id, label, placeholder)
FIELDS = (
    ("name", "Name", "e.g. prod-kwdb"),
    ("host", "Host", "localhost or PGHOST"),
    ("port", "Port", "5432 (PostgreSQL) / 26257 (KWDB)"),
    ("user", "User", "PGUSER"),
    ("dbname", "Database", "PGDATABASE"),
    ("certs_dir", "Certs dir", "KWDB: ca.crt, client.<user>.crt/.key"),
    ("sslrootcert", "Root cert", "sslrootcert"),
    ("sslcert", "Client cert", "sslcert"),
    ("sslkey", "Client key", "sslkey"),
    ("application_name", "App name", "kwtui"),
    ("options", "Options", "-c search_path=app"),
)


class ConnectScreen(KwScreen[None]):
    HELP_TITLE = "connect"
    BINDINGS = [
        Binding("ctrl+o", "connect", "Connect"),
        Binding("ctrl+t", "test", "Test"),
        Binding("ctrl+s", "save", "Save"),
        Binding("ctrl+n", "new", "New"),
        Binding("ctrl+x", "delete", "Delete"),
        Binding("ctrl+u", "paste_dsn", "From URI", show=False),
        Binding("escape", "app.pop_screen", "Back"),
    ]

    def __init__(self, store: ProfileStore | None = None, *, focus_profiles: bool = False) -> None:
        super().__init__()
        self.store = store or ProfileStore()
        self.focus_profiles = focus_profiles
        self.profiles: dict[str, Profile] = {}
        self.loaded_name: str | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="connect-body"):
            with Vertical(id="profile-pane") as pane:
                pane.border_title = "Profiles"
                yield ListView(id="profile-list")
            with VerticalScroll(id="form-pane") as form:
                form.border_title = "Connection"
                with Horizontal(classes="form-row"):
                    yield Label("URI")
                    yield Input(id="f-dsn", placeholder="postgresql://user@host:port/db (Enter fills the form)",
                                compact=True)
                for ident, label, placeholder in FIELDS[:5]:
                    with Horizontal(classes="form-row"):
                        yield Label(label)
                        yield Input(id=f"f-{ident}", placeholder=placeholder, compact=True)
                with Horizontal(classes="form-row"):
                    yield Label("Password")
                    yield Input(id="f-password", password=True, compact=True,
                                placeholder="this session only; never saved")
                with Horizontal(classes="form-row"):
                    yield Label("SSL mode")
                    yield Select(SSLMODES, value="", allow_blank=False, id="f-sslmode", compact=True)
                for ident, label, placeholder in FIELDS[5:]:
                    with Horizontal(classes="form-row"):
                        yield Label(label)
                        yield Input(id=f"f-{ident}", placeholder=placeholder, compact=True)
                with Horizontal(id="form-buttons"):
                    yield Button("Connect", id="b-connect", variant="primary", compact=True)
                    yield Button("Test", id="b-test", compact=True)
                    yield Button("Save", id="b-save", variant="success", compact=True)
                    yield Button("Delete", id="b-delete", variant="error", compact=True)
                yield Static("", id="connect-status", classes="muted")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Connect"
        self.reload_profiles()
        if self.focus_profiles and self.profiles:
            self.query_one(ListView).focus()
        else:
            self.query_one("#f-host", Input).focus()

    # -- profile list ----------------------------------------------------------------------

    def reload_profiles(self, select: str | None = None) -> None:
        try:
            self.profiles = self.store.load()
        except KwtuiError as exc:
            self.profiles = {}
            kwtui_app(self).show_error("Cannot read profiles", exc)
        lv = self.query_one(ListView)
        lv.clear()
        lv.append(ListItem(Label("+ new profile"), name=""))
        for name in sorted(self.profiles):
            lv.append(ListItem(Label(f"{escape(name)}\n[dim]{escape(self.profiles[name].describe())}[/dim]"),
                               name=name))
        names = sorted(self.profiles)
        if select in self.profiles:
            index = 1 + names.index(select)
        elif self.focus_profiles and names:
            index = 1  # "open a saved profile": start on the first one
        else:
            index = 0
        self.call_after_refresh(self._highlight, index)

    def _highlight(self, index: int) -> None:
        lv = self.query_one(ListView)
        lv.index = index

    @on(ListView.Selected, "#profile-list")
    def on_profile_selected(self, event: ListView.Selected) -> None:
        name = event.item.name or ""
        if name and name in self.profiles:
            self.fill_form(self.profiles[name])
        else:
            self.action_new()

    @on(ListView.Highlighted, "#profile-list")
    def on_profile_highlighted(self, event: ListView.Highlighted) -> None:
        if event.item is not None and event.item.name and event.item.name in self.profiles:
            self.fill_form(self.profiles[event.item.name])

    # -- form ------------------------------------------------------------------------------

    def _input(self, ident: str) -> Input:
        return self.query_one(f"#f-{ident}", Input)

    def fill_form(self, profile: Profile, password: str | None = None) -> None:
        self.loaded_name = profile.name
        for ident, _label, _ph in FIELDS:
            value = getattr(profile, ident)
            self._input(ident).value = "" if value in (None, "") else str(value)
        self.query_one("#f-sslmode", Select).value = profile.sslmode or ""
        self._input("password").value = password or ""
        self.set_status(f"profile {profile.name!r}: {profile.describe()}")

    def form_profile(self) -> Profile:
        values: dict[str, Any] = {ident: self._input(ident).value.strip() for ident, _l, _p in FIELDS}
        port_text = values.pop("port")
        try:
            port = int(port_text) if port_text else None
        except ValueError:
            raise UsageError(f"port {port_text!r} is not a number") from None
        if port is not None and not 0 < port < 65536:
            raise UsageError(f"port {port} is out of range")
        name = values.pop("name") or "unsaved"
        sslmode = self.query_one("#f-sslmode", Select).value
        return Profile(name=name, port=port, sslmode=str(sslmode or ""), **values)

    def form_target(self) -> ConnectTarget:
        profile = self.form_profile()
        target = ConnectTarget.from_profile(profile)
        password = self._input("password").value
        target.password = password or None
        if profile.name == "unsaved":
            target.profile_name = None
            target.label = profile.describe()
        return target

    def set_status(self, text: str) -> None:
        self.query_one("#connect-status", Static).update(escape(text))

    @on(Input.Submitted, "#f-dsn")
    def on_dsn_submitted(self, event: Input.Submitted) -> None:
        self.action_paste_dsn()

    @on(Button.Pressed)
    def on_button(self, event: Button.Pressed) -> None:
        actions = {"b-connect": self.action_connect, "b-test": self.action_test,
                   "b-save": self.action_save, "b-delete": self.action_delete}
        if event.button.id in actions:
            actions[event.button.id]()

    # -- actions ---------------------------------------------------------------------------

    def action_paste_dsn(self) -> None:
        text = self._input("dsn").value.strip()
        if not text:
            self._input("dsn").focus()
            return
        name = self._input("name").value.strip() or "new"
        try:
            parsed = parse_dsn(name, text)
        except KwtuiError as exc:
            kwtui_app(self).show_error("Not a connection string", exc)
            return
        self._input("dsn").value = ""
        self.fill_form(parsed.profile, parsed.password)
        if parsed.password:
            self.set_status("filled from the URI; its password is kept for this session only, never saved")

    def action_new(self) -> None:
        self.loaded_name = None
        for ident, _l, _p in FIELDS:
            self._input(ident).value = ""
        self._input("application_name").value = "kwtui"
        self._input("password").value = ""
        self.query_one("#f-sslmode", Select).value = ""
        self._input("name").focus()
        self.set_status("new profile: fill in what differs from libpq's defaults (PG* variables)")

    def action_save(self) -> None:
        try:
            profile = self.form_profile()
            if profile.name == "unsaved":
                raise UsageError("give the profile a name before saving it")
            if profile.certs_dir:
                profile.conninfo_params()  # check the certs directory now
            self.store.save(profile)
        except KwtuiError as exc:
            kwtui_app(self).show_error("Cannot save the profile", exc)
            return
        self.reload_profiles(select=profile.name)
        self.loaded_name = profile.name
        self.set_status(f"saved {profile.name!r} to {self.store.path} (mode 0600, no password)")
        self.notify(f"Profile {profile.name!r} saved")

    def action_delete(self) -> None:
        name = self.loaded_name or self._input("name").value.strip()
        if not name or name not in self.profiles:
            self.notify("Select a saved profile to delete", severity="warning")
            return

        def done(yes: bool | None) -> None:
            if not yes:
                return
            try:
                self.store.remove(name)
            except KwtuiError as exc:
                kwtui_app(self).show_error("Cannot delete the profile", exc)
                return
            self.reload_profiles()
            self.action_new()
            self.notify(f"Profile {name!r} deleted")

        from kwtui.screens.modals import ConfirmModal

        self.app.push_screen(ConfirmModal(f"Delete the profile {name!r}? Its keyring entry goes too."), done)

    def action_connect(self) -> None:
        try:
            target = self.form_target()
        except KwtuiError as exc:
            kwtui_app(self).show_error("Cannot connect", exc)
            return
        self.set_status(f"connecting to {target.describe()} ...")
        kwtui_app(self).connect(target)

    def action_test(self) -> None:
        try:
            target = self.form_target()
        except KwtuiError as exc:
            kwtui_app(self).show_error("Cannot test", exc)
            return
        self.set_status(f"testing {target.describe()} ...")
        self.run_test(target)

    @guarded("Connection test failed", exclusive=True, group="test")
    async def run_test(self, target: ConnectTarget) -> None:
        service = ConnectionService(target, password_prompt=kwtui_app(self).prompt_password)
        try:
            info = await service.connect()
        except KwtuiError as exc:
            self.set_status("test failed")
            kwtui_app(self).show_error("Connection test failed", exc)
            return
        except Exception as exc:  # never let a worker die silently
            self.set_status("test failed")
            kwtui_app(self).show_error("Connection test failed", KwtuiError(f"{type(exc).__name__}: {exc}"))
            return
        finally:
            await service.close()
        text = f"OK: {info.label}, {info.deployment}, database {info.database} as {info.user}"
        self.set_status(text)
        self.notify(text, title="Connection test")
