"""The new-migration wizard's preflight step (F4): after source and target are given, the doctor
runs through the core in a worker and shows its checklist before any plan is made (embedded
PostgreSQL, a target whose user may not create: a blocker with its fix)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql
from textual.widgets import DataTable, Input, Static, Switch

from kwtui.profiles import ProfileStore
from kwtui.screens.app import KwtuiApp
from kwtui.screens.doctor import DoctorScreen
from kwtui.screens.migration_wizard import NewMigrationScreen

from .test_transfer import execute
from .tui_helpers import wait_for

if TYPE_CHECKING:
    from .conftest import PgServer

SIZE = (80, 24)


async def test_f4_runs_the_doctor_for_the_wizards_source_and_target(two_dbs: tuple[str, str], pg_server: PgServer,
                                                                    profiles_path: Path) -> None:
    src, dst = two_dbs
    execute(src, "CREATE TABLE items (id int PRIMARY KEY, name text); CREATE TABLE notes (body text)")
    role = "wz_" + uuid.uuid4().hex[:8]
    with psycopg.connect(dst, autocommit=True) as c:
        c.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        c.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    app = KwtuiApp(store=ProfileStore(profiles_path))
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("n")
            assert isinstance(app.screen, NewMigrationScreen)
            wizard = app.screen
            await pilot.press("f4")  # nothing given: said beside the source, no doctor
            await pilot.pause()
            assert isinstance(app.screen, NewMigrationScreen)
            assert "✗" in str(wizard.query_one("#mw-status", Static).render())
            wizard.query_one("#mw-source-uri", Input).value = src
            wizard.query_one("#mw-target-uri", Input).value = pg_server.uri(dst.rsplit("/", 1)[1], role)
            wizard.query_one("#mw-eta", Switch).value = False
            await pilot.pause()
            await pilot.press("f4")
            await wait_for(pilot, lambda: isinstance(app.screen, DoctorScreen))
            doctor = app.screen
            assert isinstance(doctor, DoctorScreen)
            await wait_for(pilot, lambda: doctor.report is not None, timeout=60)
            assert doctor.report is not None
            verdicts = {c.id: c.verdict for c in doctor.report.checks}
            assert verdicts["connect.source"] == "ok" and verdicts["connect.target"] == "ok"
            assert verdicts["privileges.create"] == "blocker" and verdicts["tables.no-pk"] == "warning"
            table = doctor.query_one("#d-checks", DataTable)
            assert "target allows CREATE" in str(table.get_row_at(0)[1])  # blockers first
            assert "fix:" in str(doctor.query_one("#d-detail", Static).render())
            await pilot.press("escape")  # back to the form, which still holds what was typed
            await wait_for(pilot, lambda: isinstance(app.screen, NewMigrationScreen))
            assert app.screen.query_one("#mw-source-uri", Input).value == src
    finally:
        with psycopg.connect(dst, autocommit=True) as c:
            c.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            c.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
