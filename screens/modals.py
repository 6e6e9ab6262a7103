"""One generic error modal, the password prompt and the help screen."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, DataTable, Input, Label, Static

from kwtui.errors import KwtuiError
from kwtui.screens.base import KwModal
from kwtui.troubleshoot import Diagnosis


class ErrorModal(KwModal[None]):
    """Shows any error: one clear line, then the server's own words. With a knowledge-base
    ``diagnosis`` it says the cause and the fix; when the fix is mechanical and the caller can
    apply it (``on_fix``), the action's key (r, f, t, ...) applies it."""

    DEFAULT_CSS = """
    #error-buttons { height: auto; }
    #error-buttons Button { margin-right: 2; }
    """
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("enter", "close", "Close", show=False),
    ]

    def __init__(self, title: str, error: KwtuiError | str, detail: str | None = None, *,
                 committed: str | None = None, next_step: str | None = None,
                 diagnosis: Diagnosis | None = None, on_fix: Callable[[Diagnosis], None] | None = None) -> None:
        super().__init__()
        self.title_text = title
        if isinstance(error, KwtuiError):
            self.message = error.message
            hint = f"\nHint: {error.hint}" if error.hint else ""
            self.message += hint
            self.detail = detail or error.detail
        else:
            self.message = str(error)
            self.detail = detail
        if committed:
            self.message += f"\nCommitted: {committed}"
        if next_step:
            self.message += f"\nNext: {next_step}"
        self.diagnosis = diagnosis
        if diagnosis is not None:
            self.message += f"\nCause: {diagnosis.cause}\nFix: {diagnosis.fix}"
        action = diagnosis.action if diagnosis is not None else None
        self.on_fix = on_fix if action is not None and action.key else None
        self.fix_key = action.key if self.on_fix is not None and action is not None else None
        if self.fix_key is not None and action is not None:
            self._bindings.bind(self.fix_key, "fix", action.label)
            self.add_class("-fixable")

    def compose(self) -> ComposeResult:
        with Vertical(id="error-dialog"):
            yield Label(self.title_text, id="error-title")
            yield Static(self.message, id="error-message", markup=False)
            if self.detail and " ".join(self.detail.split()) not in " ".join(self.message.split()):
                with VerticalScroll(id="error-detail"):
                    yield Static(f"Server said: {self.detail}", markup=False)
            if self.fix_key is not None and self.diagnosis is not None and self.diagnosis.action is not None:
                with Horizontal(id="error-buttons"):
                    yield Button(f"{self.fix_key}: {self.diagnosis.action.label}", variant="success",
                                 id="error-fix")
                    yield Button("OK", variant="error", id="error-ok")
            else:
                yield Button("OK", variant="error", id="error-ok")

    def on_mount(self) -> None:
        self.query_one("#error-ok", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "error-fix":
            self.action_fix()
            return
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)

    def action_fix(self) -> None:
        """Close, then let the caller apply the diagnosis's action."""
        fix, diagnosis = self.on_fix, self.diagnosis
        self.dismiss(None)
        if fix is not None and diagnosis is not None:
            fix(diagnosis)


class PasswordModal(KwModal[str | None]):
    """Asks a password for one connection; it is never written anywhere."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label

    def compose(self) -> ComposeResult:
        with Vertical(id="password-dialog"):
            yield Label(self.label, classes="title")
            yield Static("Used for this connection only; kwtui never saves it.", classes="muted")
            yield Input(password=True, id="password-input", placeholder="password")
            yield Button("Connect", variant="primary", id="password-ok")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(self.query_one(Input).value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class HelpScreen(KwModal[None]):
    """Every key binding that works where the user is, with what it does."""

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("q", "close", "Close", show=False),
        Binding("f1", "close", "Close", show=False),
    ]

    def __init__(self, where: str, bindings: Iterable[tuple[str, str]]) -> None:
        super().__init__()
        self.where = where
        self.rows = list(bindings)

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog"):
            yield Label(f"Keys: {self.where}", classes="title")
            yield DataTable(id="help-table", cursor_type="row", zebra_stripes=True)
            yield Static("Esc closes. Ctrl+P opens the command palette.", classes="muted")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Key", "Action")
        for key, description in self.rows:
            table.add_row(key, description)
        table.focus()

    def action_close(self) -> None:
        self.dismiss(None)


class ConfirmModal(KwModal[bool]):
    """Asks yes/no before something that cannot be undone."""

    BINDINGS = [
        Binding("escape", "answer(False)", "No"),
        Binding("n", "answer(False)", "No", show=False),
        Binding("y", "answer(True)", "Yes"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="password-dialog"):
            yield Static(self.question, markup=False)
            yield Button("Yes (y)", variant="error", id="confirm-yes")
            yield Button("No (n)", id="confirm-no")

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm-yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class PathPrompt(KwModal[str | None]):
    """Asks for a file path (Enter takes it, Esc cancels); dismisses with the path or None."""

    BINDINGS = [Binding("escape", "dismiss_none", "Cancel")]

    def __init__(self, title: str, default: str, *, input_id: str = "path-input",
                 hint: str = "Enter saves, Esc cancels.") -> None:
        super().__init__()
        self.title_text, self.default, self.input_id, self.hint = title, default, input_id, hint

    def compose(self) -> ComposeResult:
        with Vertical(id="password-dialog"):
            yield Label(self.title_text, classes="title")
            yield Input(value=self.default, id=self.input_id)
            yield Static(self.hint, classes="muted")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
