"""The plan's inventory: every object of the source and its fate on the target (i on the plan screen).

One line of counts (created / translated / refused, and the refusals still blocking the run),
then one row per object: its kind, its name, its fate and the translation or the reason with the
manual step. Refused objects first. ``a`` accepts the loss of every object of the highlighted
one's kind, ``o`` of that object alone (again: taken back); both go into the plan's
``accept_loss`` through :func:`kwtui.inventory.toggle_accept`, saved with the plan.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Footer, Header, Static

from kwtui.inventory import CREATED, REFUSED, TRANSLATED, DbObject, Inventory, toggle_accept, unaccepted
from kwtui.screens.base import KwScreen

FATE_STYLE = {CREATED: "green", TRANSLATED: "yellow", REFUSED: "bold red"}
_ORDER = {REFUSED: 0, TRANSLATED: 1, CREATED: 2}


def ordered(inv: Inventory) -> list[DbObject]:
    """Refused first, then translated, then created; in inventory order within each."""
    return sorted(inv.objects, key=lambda o: _ORDER.get(o.fate, 3))


def counts_text(inv: Inventory) -> Text:
    n = {f: sum(1 for o in inv.objects if o.fate == f) for f in (CREATED, TRANSLATED, REFUSED)}
    left = len(unaccepted(inv))
    line = Text.assemble(f"{len(inv.objects)} objects · ", (f"{n[CREATED]} created", "green"), " · ",
                         (f"{n[TRANSLATED]} translated", "yellow"), " · ", (f"{n[REFUSED]} refused", "bold red"))
    if left:
        line.append(f"\n{left} refused not accepted: they block the run (a accepts a kind, o one object)",
                    style="bold red")
    elif n[REFUSED]:
        line.append("\nevery refused object's loss is accepted", style="green")
    else:
        line.append("\nnothing is lost on this target", style="green")
    return line


def row_cells(o: DbObject) -> tuple[Any, ...]:
    fate = Text(o.fate + (" (accepted)" if o.accepted else ""), style="dim" if o.accepted else FATE_STYLE[o.fate])
    return fate, o.kind, o.name


def detail_text(o: DbObject | None) -> Text:
    """The highlighted object: the translation, or the reason and the manual step; then what it is."""
    if o is None:
        return Text("")
    out = Text.assemble((f"{o.kind} {o.name}: ", "bold"), (o.fate, FATE_STYLE[o.fate]))
    if o.note:
        out.append(f" · {o.note}")
    if o.detail and o.detail != o.note:
        out.append(f"\n{o.detail}", style="dim")
    return out


class InventoryScreen(KwScreen[None]):
    HELP_TITLE = "inventory"
    BINDINGS = [
        Binding("a", "accept_kind", "Accept kind"),
        Binding("o", "accept_object", "Accept object"),
        Binding("escape", "back", "Back"),
    ]
    DEFAULT_CSS = """
    InventoryScreen #inv-counts { height: 2; padding: 0 1; }
    InventoryScreen #inv-objects { height: 1fr; }
    InventoryScreen #inv-detail { height: 6; border: round $primary; padding: 0 1; }
    """

    def __init__(self, inventory: Inventory, accepted: list[str], on_change: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.inventory, self.accepted, self.on_change = inventory, accepted, on_change
        self.rows = ordered(inventory)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(counts_text(self.inventory), id="inv-counts")
        table: DataTable[Any] = DataTable(id="inv-objects", cursor_type="row", zebra_stripes=True)
        table.border_title = f"Inventory for a {self.inventory.target_kind} target"
        yield table
        detail = Static("", id="inv-detail")
        detail.border_title = "Translation, or why not and what to do"
        yield detail
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.sub_title = "Inventory"
        table = self.query_one("#inv-objects", DataTable)
        for label in ("Fate", "Kind", "Object"):
            table.add_column(label, key=label)
        self.fill()
        table.focus()

    def fill(self) -> None:
        table = self.query_one("#inv-objects", DataTable)
        row = table.cursor_row
        table.clear()
        for i, o in enumerate(self.rows):
            table.add_row(*row_cells(o), key=str(i))
        if self.rows:
            table.cursor_coordinate = Coordinate(min(max(row, 0), len(self.rows) - 1), 0)
        self.query_one("#inv-counts", Static).update(counts_text(self.inventory))
        self.query_one("#inv-detail", Static).update(detail_text(self.current()))

    def on_data_table_row_highlighted(self) -> None:
        self.query_one("#inv-detail", Static).update(detail_text(self.current()))

    def current(self) -> DbObject | None:
        row = self.query_one("#inv-objects", DataTable).cursor_row
        return self.rows[row] if 0 <= row < len(self.rows) else None

    def _toggle(self, entry: str, what: str) -> None:
        now = toggle_accept(self.inventory, self.accepted, entry)
        self.notify(f"loss of {what} {'accepted' if now else 'no longer accepted'}", markup=False)
        if self.on_change is not None:
            self.on_change()
        self.fill()

    def action_accept_kind(self) -> None:
        o = self.current()
        if o is None or o.fate != REFUSED:
            self.notify("only a refused object's loss needs accepting", severity="warning")
            return
        self._toggle(o.kind, f"every {o.kind}")

    def action_accept_object(self) -> None:
        o = self.current()
        if o is None or o.fate != REFUSED:
            self.notify("only a refused object's loss needs accepting", severity="warning")
            return
        self._toggle(o.name, o.name)

    def action_back(self) -> None:
        self.app.pop_screen()
