"""How a value looks in a grid, the same on every screen, and the cell viewer for long values.

NULL is a dim ``∅``, never the text 'NULL' (a migration must tell the two apart); numbers are
right-aligned; text is never read as markup; newlines show as ``\\n``. Enter on a cell opens
:class:`CellViewer` with the whole value.
"""

from __future__ import annotations

import decimal
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Label, Static, TextArea

from kwtui.fmt import text_value
from kwtui.screens.base import KwModal

NULL_MARK = "∅"
NULL_STYLE = "dim italic"


def is_number(value: Any) -> bool:
    return isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool)


def cell(value: Any, limit: int | None = None) -> Text:
    """A grid cell: a dim ∅ for NULL, numbers right-aligned, at most ``limit`` characters (…)."""
    if value is None:
        return Text(NULL_MARK, style=NULL_STYLE, no_wrap=True)
    text = text_value(value).replace("\n", "\\n")
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return Text(text, no_wrap=True, justify="right" if is_number(value) else "left")


def full_text(value: Any) -> str:
    """The whole value, for the viewer and for copying (NULL is not the text 'NULL')."""
    return "" if value is None else text_value(value)


class CellViewer(KwModal[None]):
    """The whole value of one cell: Esc closes, c copies it."""

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("q", "close", "Close", show=False),
        Binding("enter", "close", "Close", show=False),
        Binding("c", "copy", "Copy"),
    ]
    DEFAULT_CSS = """
    CellViewer { align: center bottom; }
    #cell-box { width: 100%; height: auto; max-height: 60%; border: thick $primary; background: $panel;
                padding: 0 1; }
    #cell-text { height: auto; max-height: 6; border: none; padding: 0; }
    """

    def __init__(self, where: str, value: Any) -> None:
        super().__init__()
        self.where = where
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical(id="cell-box"):
            yield Label(self.where, classes="title", markup=False)
            if self.value is None:
                yield Static(Text.assemble((NULL_MARK, NULL_STYLE), " NULL: no value (not the text 'NULL')"),
                             id="cell-null")
            text = full_text(self.value)
            yield TextArea(text, read_only=True, soft_wrap=True, show_line_numbers=False, id="cell-text")
            yield Static(f"{len(text):,} characters · {type(self.value).__name__ if self.value is not None else 'NULL'}"
                         " · c copies · Esc closes", classes="muted", markup=False)

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(full_text(self.value))
        self.notify("value copied to the clipboard")

    def action_close(self) -> None:
        self.dismiss(None)
