"""The plan's inventory on screen: i on the plan screen, every object with its fate, losses accepted by key."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import DataTable

from kwtui.inventory import REFUSED, unaccepted
from kwtui.profiles import ProfileStore
from kwtui.screens.inventory_screen import InventoryScreen
from kwtui.screens.plan_screen import PlanScreen

from .test_tui_migration import SIZE, PlanApp, _snap_plan, highlight, snap_db, wait_for  # noqa: F401

__all__ = ["snap_db"]


async def _open_inventory(pilot: Pilot) -> InventoryScreen:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, PlanScreen))
    await pilot.press("i")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, InventoryScreen))
    screen = pilot.app.screen
    assert isinstance(screen, InventoryScreen)
    return screen


def test_inventory_keys_accept_losses_into_the_plan(snap_db: str, profiles_path: Path) -> None:
    plan = _snap_plan(snap_db)  # kwdb-ts target: the TS tables refuse keys and foreign keys
    inv = plan.assessment.inventory
    assert inv is not None and unaccepted(inv)
    asyncio.run(_accept_by_keys(plan, profiles_path))


async def _accept_by_keys(plan: Any, profiles_path: Path) -> None:
    inv = plan.assessment.inventory
    app = PlanApp(plan, store=ProfileStore(profiles_path))
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_inventory(pilot)
        objects = screen.query_one("#inv-objects", DataTable)
        assert objects.row_count == len(inv.objects)
        assert str(objects.get_row_at(0)[0]) == REFUSED  # refusals first
        kinds = sorted({o.kind for o in unaccepted(inv)})
        for kind in kinds:
            row = next(i for i, o in enumerate(screen.rows) if o.kind == kind)
            await highlight(pilot, "#inv-objects", screen.rows[row].name, 2)
            await pilot.press("a")
            await pilot.pause()
        assert not unaccepted(inv) and set(kinds) <= set(plan.requirements.accept_loss)
        await pilot.press("a")  # again: taken back
        await pilot.pause()
        assert unaccepted(inv)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, PlanScreen))
        assert pilot.app.screen.unsaved  # type: ignore[attr-defined]


def test_snapshot_inventory(snap_compare, snap_db: str, profiles_path: Path) -> None:
    """The inventory at 80x24 for a TS target: the counts line, the refused objects first (keys and foreign keys
    a TS table refuses), the foreign keys' loss accepted with one key (dimmed), and under the list the highlighted
    foreign key's reason in full."""
    plan = _snap_plan(snap_db)

    async def run_before(pilot: Pilot) -> None:
        screen = await _open_inventory(pilot)
        fk = next(o for o in screen.rows if o.kind == "foreign key")
        await highlight(pilot, "#inv-objects", fk.name, 2)
        await pilot.press("a")
        await pilot.pause()

    assert snap_compare(PlanApp(plan, store=ProfileStore(profiles_path)), terminal_size=SIZE,
                        run_before=run_before)
