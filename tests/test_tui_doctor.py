"""The doctor screen: reached from the welcome screen and the palette, runs the checks on real
servers, shows the checklist (blockers first) and the fix of the highlighted check."""

from __future__ import annotations

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from kwtui.doctor import BLOCKER, OK, WARNING, Check, DoctorReport
from kwtui.screens.app import KwtuiApp
from kwtui.screens.doctor import DoctorScreen
from kwtui.screens.welcome import WelcomeScreen

from .test_doctor import scene  # noqa: F401 - a fixture
from .tui_helpers import wait_for

SIZE = (80, 24)


def sample_report() -> DoctorReport:
    """What the doctor found on a source with a keyless table, NULL devices, an open transaction,
    a target without CREATE and a full scratch disk (the evidence of a real run, fixed for the snapshot)."""
    return DoctorReport([
        Check("connect.source", "source reachable", OK, "PostgreSQL 18.1 (primary) at 127.0.0.1:5432/shop as "
              "migrator, database shop", side="source"),
        Check("connect.target", "target reachable", OK, "KWDB 3.2.1 (single node) at 10.0.0.5:26257/defaultdb as "
              "loader", side="target"),
        Check("tables.no-pk", "tables have a primary key", WARNING, "1 table(s) without a primary key: public.nokey",
              "add a primary key (ALTER TABLE ... ADD PRIMARY KEY): without one a table moves as one batch",
              side="source"),
        Check("ts.public.readings", "TS candidate public.readings", BLOCKER,
              "ts is a timestamp and device_id looks like a device id; 5 row(s) with a NULL primary tag device_id "
              "(e.g. id=40; id=80)",
              "backfill device_id (UPDATE public.readings SET device_id = <device> WHERE device_id IS NULL) or "
              "leave those rows out of the TS table (WHERE device_id IS NOT NULL)", side="source"),
        Check("source.long-tx", "no long-running transactions", WARNING,
              "1 transaction(s) open over 300 s: pid 4242 (app, idle in transaction) open 912 s",
              "end them or wait: they hold back vacuum and the snapshot a consistent copy reads", side="source"),
        Check("privileges.create", "target allows CREATE", BLOCKER,
              "CREATE on database defaultdb: no; CREATE on schema public: no",
              "GRANT CREATE ON SCHEMA public TO loader (or connect as the owner)", side="target"),
        Check("disk.export", "disk space for exports", BLOCKER,
              "0 B free at /scratch, the source's tables take 1.2 GB",
              "free at least 1.8 GB there or export to a larger disk (--to)", side="local"),
        Check("clock-skew", "clocks agree", OK, "source and target clocks differ by 0.004 s"),
        Check("encoding", "encodings agree", OK, "source UTF8, target UTF8"),
    ])


class DoctorApp(KwtuiApp):
    async def open_initial(self) -> None:
        self.push_screen(WelcomeScreen())
        self.push_screen(DoctorScreen(report=sample_report()))


def test_snapshot_doctor_checklist(snap_compare) -> None:  # type: ignore[no-untyped-def]
    """The doctor's checklist at 80x24: blockers first, then warnings, then ok, each with its evidence; the highlighted check's evidence and fix in full below; the counts."""
    assert snap_compare(DoctorApp(), terminal_size=SIZE)


def test_snapshot_doctor_a_warning_highlighted(snap_compare) -> None:  # type: ignore[no-untyped-def]
    """Down past the blockers: the first warning's evidence and fix shown in full under the list."""
    async def run_before(pilot: Pilot) -> None:
        await pilot.press("down", "down", "down")  # past the blockers: the first warning
        await pilot.pause()

    assert snap_compare(DoctorApp(), terminal_size=SIZE, run_before=run_before)


async def test_reached_from_the_welcome_screen_and_the_palette() -> None:
    app = KwtuiApp()
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, WelcomeScreen))
        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, DoctorScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, WelcomeScreen))
        commands = [c.title for c in app.get_system_commands(app.screen)]
        assert "Doctor…" in commands


async def test_runs_the_checks_on_real_servers(scene: dict[str, str]) -> None:  # noqa: F811
    app = KwtuiApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, WelcomeScreen))
        app.action_open_doctor()
        await wait_for(pilot, lambda: isinstance(app.screen, DoctorScreen))
        screen = app.screen
        assert isinstance(screen, DoctorScreen)
        await wait_for(pilot, lambda: bool(screen.query("#d-source")))
        screen.query_one("#d-source", Input).value = scene["source"]
        screen.query_one("#d-target", Input).value = scene["target"]
        await pilot.press("f5")
        await wait_for(pilot, lambda: screen.report is not None and not screen.running, timeout=30)
        table = screen.query_one("#d-checks", DataTable)
        first = [str(c) for c in table.get_row_at(0)]
        assert first[0] == "BLOCK"
        titles = {str(table.get_row_at(i)[1]) for i in range(table.row_count)}
        assert {"target allows CREATE", "TS candidate public.readings", "tables have a primary key"} <= titles
        detail = str(screen.query_one("#d-detail", Static).render())
        assert "fix:" in detail


@pytest.mark.parametrize("verdicts", [[OK, OK], [WARNING, OK]])
def test_report_exit_codes(verdicts: list[str]) -> None:
    report = DoctorReport([Check(f"c{i}", "t", v, "e") for i, v in enumerate(verdicts)])
    assert report.exit_code == 0
    report.checks.append(Check("b", "t", BLOCKER, "e"))
    assert report.exit_code == 1 and report.verdict == BLOCKER
