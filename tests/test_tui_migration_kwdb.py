"""The demo's walk on a live KWDB: the meter readings migrated PG -> KWDB TS from the wizard to the runbook (80x24)."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, Static, Switch

from kwtui import migration, plan
from kwtui.demo import METERS_SQL
from kwtui.migration import DONE, FAILED, MigrationPlan, MigrationState, Requirements
from kwtui.profiles import ProfileStore
from kwtui.screens.app import KwtuiApp
from kwtui.screens.inventory_screen import InventoryScreen
from kwtui.screens.migration_wizard import NewMigrationScreen
from kwtui.screens.modals import ConfirmModal, PathPrompt
from kwtui.screens.phases import PhasesScreen
from kwtui.screens.plan_screen import PlanScreen

from .conftest import TestDb
from .test_transfer import execute
from .test_tui_phases import PhasesApp, detail, journal  # noqa: F401  (journal: the fixture)
from .tui_helpers import wait_for

SIZE = (80, 24)


def _kwdb_query(uri: str, query: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(uri, autocommit=True) as conn:
        cur = conn.execute(query)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


@pytest.mark.kwdb
async def test_demo_meter_readings_to_kwdb_ts_from_the_wizard_to_the_runbook(
        db: TestDb, kwdb: str, profiles_path: Path, tmp_path: Path,
        journal: migration.Any) -> None:  # noqa: F811
    """The walk of ``kwtui --demo --kwdb`` on the fixtures: the demo's meters database (METERS_SQL, 20 meters x
    50 steps), n on the welcome screen, the wizard with a KWDB target, the plan naming the TS database, every phase
    (cutover confirmed), the runbook."""
    execute(db.uri, METERS_SQL.format(meters=20, steps=50))
    ts_db = kwdb.split("/")[-1].split("?")[0] + "_ts"
    planfile = tmp_path / "meters.plan.toml"
    app = KwtuiApp(store=ProfileStore(profiles_path))
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("n")
            assert isinstance(app.screen, NewMigrationScreen)
            wizard = app.screen
            wizard.query_one("#mw-source-uri", Input).value = db.uri
            wizard.query_one("#mw-target-uri", Input).value = kwdb
            wizard.query_one("#mw-eta", Switch).value = False
            assert wizard.query_one("#mw-ts", Switch).value  # TS suggestions are on by default
            await pilot.pause()
            await pilot.press("f5")
            await wait_for(pilot, lambda: isinstance(app.screen, PlanScreen), timeout=60)
            screen = app.screen
            assert isinstance(screen, PlanScreen)
            p = screen.plan
            assert p.target_kind == "kwdb-ts" and p.requirements.ts_database == ts_db
            assert p.entry("public.readings").ts and p.entry("public.readings").database == ts_db
            assert not p.entry("public.meters").ts and p.entry("public.meters").database == ""
            summary = str(screen.query_one("#pl-summary", Static).render())
            assert f"+ TS db {ts_db}" in summary and "2/2 tables" in summary and "1,020 rows" in summary  # 20 meters + 1,000 readings
            # the inventory: what KWDB does not take; the demo's table comment is refused on KWDB (kwtui does
            # not carry comments there yet): the user accepts that loss, the key and the ts index are translated
            await pilot.press("i")
            await wait_for(pilot, lambda: isinstance(app.screen, InventoryScreen))
            refused = [o for o in p.assessment.inventory.objects if o.fate == "refused"]  # type: ignore[union-attr]
            assert [o.kind for o in refused] == ["comment"], [(o.kind, o.name) for o in refused]
            await pilot.press("a")
            await pilot.pause()
            assert p.requirements.accept_loss == ["comment"]
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, PlanScreen))
            await pilot.press("f5")  # phases: save the plan first
            await wait_for(pilot, lambda: isinstance(app.screen, PathPrompt))
            app.screen.query_one(Input).value = str(planfile)
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, PhasesScreen), timeout=30)
            await pilot.press("down")  # past the preflight (phase 0) to the schema phase
            await pilot.pause()
            assert f"create TS database {ts_db}" in detail(app)
            assert f"create {ts_db}.public.readings (time-series)" in detail(app)
            phases = app.screen
            assert isinstance(phases, PhasesScreen)
            await pilot.press("w")  # 0. preflight: the node's environment warnings (open-file limit) accepted
            await wait_for(pilot, lambda: phases.state.phase("preflight").state == DONE and phases.running_key is None,
                           timeout=60)
            await pilot.press("a")  # run all: up to the cutover
            await wait_for(pilot, lambda: phases.running_key is None and (
                phases.state.phase("catchup").state == DONE or any(r.state == FAILED for r in phases.state.phases)),
                timeout=120)
            assert phases.state.phase("catchup").state == DONE, [(r.key, r.summary) for r in phases.state.phases]
            await pilot.press("enter")  # the cutover asks first
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), timeout=30)
            await pilot.press("y")
            await wait_for(pilot, lambda: phases.state.phase("cutover").state == DONE and phases.running_key is None,
                           timeout=120)
            assert "Switch the application now" in detail(app)
            await pilot.press("down", "enter")  # 6. validation and monitoring
            await wait_for(pilot, lambda: phases.state.phase("validation").state == DONE
                           and phases.running_key is None, timeout=120)
            await pilot.press("t")  # 7. post-migration: statistics, keys, connection strings, rollback plan
            await wait_for(pilot, lambda: all(r.state == DONE for r in phases.state.phases)
                           and phases.running_key is None, timeout=120)
            assert "8/8 phases done" in str(app.screen.query_one("#ph-progress", Static).render())
            await pilot.press("g")
            await wait_for(pilot, lambda: isinstance(app.screen, PathPrompt) and bool(app.screen.query_one(Input)))
            await pilot.press("enter")
            runbook = tmp_path / "meters.plan.toml.runbook.md"
            await wait_for(pilot, lambda: runbook.exists())
    finally:
        _kwdb_query(kwdb, f"DROP DATABASE IF EXISTS {ts_db} CASCADE")
    st = MigrationState.load(MigrationPlan.load(planfile), planfile)
    assert st.phase("validation").data["validation"]["verdicts"] == {"public.meters": "equal",
                                                                     "public.readings": "equal"}
    text = runbook.read_text()
    assert f"time-series tables in the TS database `{ts_db}`" in text and "### [x] Phase 6" in text


def _mixed_plan() -> MigrationPlan:
    """The demo's meters database planned for a KWDB target with --ts-suggest (no I/O: fixed for the snapshot)."""
    cols = [plan.ColumnInfo("ts", "timestamp with time zone", nullable=False),
            plan.ColumnInfo("meter_id", "character varying(16)", nullable=False),
            plan.ColumnInfo("site", "text", nullable=False), plan.ColumnInfo("power", "double precision")]
    a = plan.Assessment("postgres", "meters", tables=[
        plan.TableAssessment("public", "meters", est_rows=1_000, bytes=130_000, primary_key=["meter_id"],
                             columns=[plan.ColumnInfo("meter_id", "character varying(16)", nullable=False,
                                                      primary_key=True), plan.ColumnInfo("site", "text")]),
        plan.TableAssessment("public", "readings", est_rows=1_000_000, bytes=115_500_000, columns=cols,
                             primary_key=["meter_id", "ts"])],
        ts_suggestions=[plan.TsSuggestion("public.readings", "ts", "meter_id", ["meter_id", "site"], ["power"],
                                          1_000, 1_000_000, "ts is a NOT NULL timestamptz")])
    req = Requirements("meters-pg", target="demo-kwdb", target_kind="kwdb-ts", ts_database="defaultdb_ts")
    p = migration.build_plan(a, req, cores=4)
    p.id, p.created, p.name = "snap0002", "2025-01-02T03:04:05+00:00", "meters"
    return p


def test_snapshot_phases_of_a_mixed_kwdb_plan(snap_compare, journal: migration.Any,  # noqa: F811
                                              profiles_path: Path, tmp_path: Path) -> None:
    """The phases screen of the demo's PG -> KWDB TS plan: phase 1 says it creates the TS database defaultdb_ts
    and the readings TS table in it, the meters table in the relational database (80x24)."""
    planfile = tmp_path / "meters.plan.toml"
    p = _mixed_plan()
    assert p.entry("public.readings").method == "streamed"  # TS: via-import only when asked (no gain measured)
    p.save(planfile)

    async def run_before(pilot: migration.Any) -> None:
        await pilot.press("down")  # phase 1, the schema phase
        await pilot.pause()

    assert snap_compare(PhasesApp(planfile, store=ProfileStore(profiles_path)), terminal_size=SIZE,
                        run_before=run_before)
