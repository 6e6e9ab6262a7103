"""The phases screen: a saved plan's phases run from the checklist (embedded PostgreSQL), and snapshots."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from kwtui import migration, plan
from kwtui.connection import ConnectionService, ConnectTarget
from kwtui.jobs import Journal
from kwtui.migration import DONE, FAILED, PENDING, SKIPPED, MigrationPlan, MigrationState, Requirements
from kwtui.profiles import ProfileStore
from kwtui.screens.app import KwtuiApp
from kwtui.screens.modals import ConfirmModal, ErrorModal, PathPrompt
from kwtui.screens.phases import PhasesScreen
from kwtui.screens.welcome import WelcomeScreen

from .test_migration import SHOP, fetch
from .test_transfer import checksum, execute
from .tui_helpers import wait_for

if TYPE_CHECKING:
    from .conftest import PgServer

SIZE = (80, 24)


@pytest.fixture
def journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Journal:
    monkeypatch.setenv("KWTUI_JOURNAL", str(tmp_path / "jobs.db"))
    return Journal(tmp_path / "jobs.db")


class PhasesApp(KwtuiApp):
    """The app opened straight on a plan's phases (over the welcome screen, as from the palette)."""

    def __init__(self, planfile: Path, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.planfile = planfile

    async def open_initial(self) -> None:
        self.push_screen(WelcomeScreen())
        self.open_phases(MigrationPlan.load(self.planfile), self.planfile)


def screen(app: KwtuiApp) -> PhasesScreen:
    assert isinstance(app.screen, PhasesScreen), app.screen
    return app.screen


def states(app: KwtuiApp) -> list[str]:
    return [p.state for p in screen(app).state.phases]


def detail(app: KwtuiApp) -> str:
    return str(app.screen.query_one("#ph-detail-text", Static).render())


def status(app: KwtuiApp) -> str:
    return str(app.screen.query_one("#ph-status", Static).render())


async def make_plan(src: str, dst: str, planfile: Path) -> MigrationPlan:
    req = Requirements(source=migration.safe_reference(src), target=migration.safe_reference(dst))
    async with ConnectionService(ConnectTarget.from_dsn(src)) as s, \
            ConnectionService(ConnectTarget.from_dsn(dst)) as d:
        p = await migration.plan_migration(req, s, d, eta=False)
    p.save(planfile)
    return p


# -- the walk on two real databases -----------------------------------------------------------


async def test_phases_walk_through_all_six_on_two_databases(two_dbs: tuple[str, str], journal: Journal,
                                                          profiles_path: Path, tmp_path: Path) -> None:
    src, dst = two_dbs
    execute(src, SHOP)
    planfile = tmp_path / "shop.plan.toml"
    await make_plan(src, dst, planfile)
    app = PhasesApp(planfile, store=ProfileStore(profiles_path))
    async with app.run_test(size=SIZE) as pilot:
        assert states(app) == [PENDING] * 8
        assert "0/8 phases done" in str(app.screen.query_one("#ph-progress", Static).render())
        assert "What it will do" in detail(app) and "read-only checks" in detail(app)
        await pilot.press("enter")  # 0. preflight: the doctor's checklist
        await wait_for(pilot, lambda: states(app)[0] == DONE)
        await wait_for(pilot, lambda: screen(app).running_key is None)
        await pilot.press("up")
        assert "✓ source reachable" in detail(app) and "✓ target allows CREATE" in detail(app)
        await pilot.press("down")
        assert "create public.orders" in detail(app)
        await pilot.press("enter")  # 1. schema
        await wait_for(pilot, lambda: states(app)[1] == DONE)
        await pilot.press("enter")  # 2. historical data: a journaled job
        await wait_for(pilot, lambda: states(app)[2] == DONE, timeout=60)
        await wait_for(pilot, lambda: screen(app).running_key is None)
        for t, key in (("customers", "id"), ("orders", "id"), ("readings", "ts, device_id")):
            assert checksum(src, t, key) == checksum(dst, t, key)
        job = screen(app).state.phase("historical").data["job"]
        assert journal.get(int(job)).status == "completed"
        # the cursor followed to the next phase; the done one shows what ran
        await pilot.press("up")
        assert f"transfer job {job}" in detail(app) and "binary COPY" in detail(app)
        assert "Rollback" in detail(app)
        await pilot.press("enter")  # not the next phase under the cursor: Enter runs the next one (capture)
        await wait_for(pilot, lambda: states(app)[3] == DONE)
        await pilot.press("enter")  # 4. catch-up: nothing changed yet
        await wait_for(pilot, lambda: states(app)[4] == DONE)
        await wait_for(pilot, lambda: screen(app).running_key is None)
        assert screen(app).state.phase("catchup").data["rows_moved"] == 0
        # the application writes on: catch-up again, from the highlighted (done) catch-up row
        execute(src, "INSERT INTO customers (id, name) VALUES (201, 'new');"
                     "UPDATE orders SET amount = 0, updated_at = now() WHERE id <= 10")
        table = app.screen.query_one("#ph-table", DataTable)
        assert table.cursor_row == 5  # on the cutover
        await pilot.press("up", "enter")
        await wait_for(pilot, lambda: screen(app).state.phase("catchup").runs == 2 and screen(app).running_key is None)
        assert screen(app).state.phase("catchup").data["rows_moved"] == 11
        # 5. cutover: asks first; yes runs it and shows the connection-string advice
        execute(src, "DELETE FROM orders WHERE id = 77")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        assert "Stop the application's writes to the source now" in app.screen.question  # type: ignore[attr-defined]
        await pilot.press("y")
        await wait_for(pilot, lambda: states(app)[5] == DONE, timeout=60)
        await wait_for(pilot, lambda: screen(app).running_key is None)
        assert table.cursor_row == 5
        text = detail(app)
        assert "Switch the application now" in text and "Point the application at the target" in text
        assert "validation: equal" in text
        assert checksum(src, "orders", "id") == checksum(dst, "orders", "id")
        # 6. validation and monitoring (after the cutover, Enter on the catch-up row no longer syncs again)
        await pilot.press("up", "enter")
        await wait_for(pilot, lambda: states(app)[6] == DONE, timeout=60)
        await wait_for(pilot, lambda: screen(app).running_key is None)
        assert screen(app).state.phase("catchup").runs == 2
        assert "Validation and monitoring" in status(app)
        # 7. post-migration (t): statistics, indexes and keys, sequences; its checklist in the detail
        await pilot.press("t")
        await wait_for(pilot, lambda: states(app)[7] == DONE, timeout=60)
        await wait_for(pilot, lambda: screen(app).running_key is None)
        assert "✓ planner statistics" in detail(app) and "new connection string" in detail(app)
        assert set(states(app)) <= {DONE, SKIPPED}
        assert "8/8 phases done" in str(app.screen.query_one("#ph-progress", Static).render())
        # g writes the runbook where asked
        await pilot.press("g")
        await wait_for(pilot, lambda: isinstance(app.screen, PathPrompt) and bool(app.screen.query_one(Input)))
        prompt = app.screen.query_one(Input)
        assert prompt.value == str(planfile) + ".runbook.md"
        await pilot.press("enter")
        runbook = tmp_path / "shop.plan.toml.runbook.md"
        await wait_for(pilot, lambda: runbook.exists())
    on_disk = MigrationState.load(MigrationPlan.load(planfile), planfile)
    assert all(p.state == DONE for p in on_disk.phases)
    assert "### [x] Phase 6: Validation and monitoring" in runbook.read_text()
    assert "#### Rollback plan (what to point back, what to copy back)" in runbook.read_text()
    assert (tmp_path / "final-validation.md").exists()  # reports beside the plan
    assert fetch(dst, "SELECT count(*) FROM customers")[0][0] == 201


async def test_an_unreachable_target_is_an_error_modal_not_a_traceback(journal: Journal, profiles_path: Path,
                                                                      tmp_path: Path) -> None:
    planfile = tmp_path / "p.plan.toml"
    p = _snapshot_plan()
    p.requirements.source = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2"
    p.save(planfile)
    app = PhasesApp(planfile, store=ProfileStore(profiles_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f5")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal), timeout=30)
        await pilot.press("escape")
        assert states(app) == [PENDING] * 8
        assert "✗" in status(app)


async def test_cancel_stops_a_running_phase_and_it_runs_again(two_dbs: tuple[str, str], journal: Journal,
                                                             profiles_path: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    src, dst = two_dbs
    execute(src, "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a')")
    planfile = tmp_path / "t.plan.toml"
    await make_plan(src, dst, planfile)
    slow = asyncio.Event()

    async def stuck(self: migration.MigrationRunner, rec: migration.PhaseRecord) -> None:
        slow.set()
        await asyncio.sleep(60)

    real = migration.MigrationRunner._schema
    monkeypatch.setattr(migration.MigrationRunner, "_schema", stuck)
    app = PhasesApp(planfile, store=ProfileStore(profiles_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter")  # the preflight
        await wait_for(pilot, lambda: states(app)[0] == DONE and screen(app).running_key is None)
        await pilot.press("enter")
        await wait_for(pilot, lambda: slow.is_set() and screen(app).running_key == "schema")
        assert "⟳" in str(app.screen.query_one("#ph-table", DataTable).get_row_at(1)[1])
        await pilot.press("f9")
        await wait_for(pilot, lambda: screen(app).running_key is None and states(app)[1] == FAILED)
        assert "cancelled" in screen(app).state.phase("schema").summary
        assert "cancelled" in status(app)
        monkeypatch.setattr(migration.MigrationRunner, "_schema", real)
        await pilot.press("enter")  # it runs again
        await wait_for(pilot, lambda: states(app)[1] == DONE)
    on_disk = MigrationState.load(MigrationPlan.load(planfile), planfile)
    assert on_disk.phase("schema").state == DONE and on_disk.phase("schema").runs == 2


# -- without a server: confirmation, snapshots --------------------------------------------------


def _snapshot_plan(*, writes: bool = True) -> MigrationPlan:
    cols = [plan.ColumnInfo("id", "bigint", nullable=False, primary_key=True), plan.ColumnInfo("name", "text"),
            plan.ColumnInfo("updated_at", "timestamp with time zone", nullable=False)]
    a = plan.Assessment("postgres", "shop", tables=[
        plan.TableAssessment("public", "customers", est_rows=2_000, bytes=160_000, columns=list(cols),
                             primary_key=["id"]),
        plan.TableAssessment("public", "orders", est_rows=120_000, bytes=9_600_000, columns=list(cols),
                             primary_key=["id"])])
    req = Requirements("postgresql://app@db.example:5432/shop", target="postgresql://root@kwdb.example:26257/shop",
                       target_kind="kwdb", source_writes=writes)
    p = migration.build_plan(a, req, cores=4)
    p.id, p.created, p.name = "snap0001", "2025-01-02T03:04:05+00:00", "shop"
    return p


def _write_state(planfile: Path, p: MigrationPlan, phases: dict[str, dict[str, object]]) -> None:
    records = []
    for key in migration.PHASE_KEYS:
        records.append({"key": key, "state": PENDING, **phases.get(key, {})})
    MigrationState.path_for(planfile).write_text(json.dumps({"plan_id": p.id, "phases": records}))


def _ran(start: str, end: str, seconds: float, summary: str, **more: object) -> dict[str, object]:
    return {"state": DONE, "started": f"2025-01-02T{start}+00:00", "finished": f"2025-01-02T{end}+00:00",
            "seconds": seconds, "summary": summary, "runs": 1, **more}


MIXED: dict[str, dict[str, object]] = {
    "preflight": _ran("09:59:58", "09:59:59", 1.2, "12 ok, 1 warning(s), 0 blocker(s); warnings accepted"),
    "schema": _ran("10:00:00", "10:00:01", 0.8, "2 table(s) created, 0 kept",
                   details=["public.customers: created", "public.orders: created"],
                   statements=["CREATE TABLE public.customers (id INT8 NOT NULL PRIMARY KEY, name STRING);"],
                   data={"created": ["public.customers", "public.orders"], "kept": []}),
    "historical": _ran("10:00:05", "10:02:17", 132.4, "job 12: 122,000 rows in 2 table(s)",
                       details=["public.customers -> public.customers (streamed): 2,000 rows",
                                "public.orders -> public.orders (streamed): 120,000 rows"],
                       data={"job": 12, "rows": 122_000}),
    "capture": {"state": SKIPPED, "summary": "skipped: the source takes no writes during the move",
                "finished": "2025-01-02T10:02:18+00:00"},
    "catchup": {"state": SKIPPED, "summary": "skipped: the source takes no writes during the move",
                "finished": "2025-01-02T10:02:18+00:00"},
    "cutover": {"state": FAILED, "started": "2025-01-02T10:05:00+00:00", "finished": "2025-01-02T10:05:09+00:00",
                "seconds": 9.2, "runs": 1,
                "summary": "failed: the validation found differences: do not switch the application",
                "details": ["confirmed: the application's writes to the source are stopped",
                            "public.customers -> public.customers: equal (2000 / 2000 rows)",
                            "public.orders -> public.orders: differs (120000 / 119998 rows; 2 differing keys)"],
                "data": {"validation": {"ok": False, "verdicts": {"public.customers": "equal",
                                                                  "public.orders": "differs"},
                                        "counts": {"public.customers": [2000, 2000],
                                                   "public.orders": [120000, 119998]}}}},
}


async def test_declining_the_cutover_runs_nothing(journal: Journal, profiles_path: Path, tmp_path: Path) -> None:
    planfile = tmp_path / "shop.plan.toml"
    p = _snapshot_plan()
    p.save(planfile)
    _write_state(planfile, p, {k: _ran("10:00:00", "10:00:01", 1.0, "ok")
                               for k in ("preflight", "schema", "historical", "capture", "catchup")})
    app = PhasesApp(planfile, store=ProfileStore(profiles_path))
    async with app.run_test(size=SIZE) as pilot:
        assert app.screen.query_one("#ph-table", DataTable).cursor_row == 5  # the next phase: cutover
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, PhasesScreen))
        await pilot.pause(0.2)
        assert screen(app).worker is None and screen(app).running_key is None
        assert "not started" in status(app)
        # a runs everything before the cutover: nothing is left, so it says so and runs nothing
        await pilot.press("a")
        await pilot.pause(0.1)
        assert screen(app).worker is None
    on_disk = MigrationState.load(p, planfile)
    assert on_disk.phase("cutover").state == PENDING and on_disk.phase("cutover").runs == 0


async def test_the_table_handling_is_chosen_by_keyboard_and_enter_in_its_list_runs_nothing(
        journal: Journal, profiles_path: Path, tmp_path: Path) -> None:
    """Tab to "a target table that holds rows", Enter opens it, Down Down Enter picks truncate. The screen's
    Enter (run the next phase) once took the Enter of the open list: the choice could not be made by keyboard
    and each Enter ran the historical phase again (found at 80x24 in tmux)."""
    from textual.widgets import Select

    planfile = tmp_path / "shop.plan.toml"
    p = _snapshot_plan()
    p.save(planfile)
    _write_state(planfile, p, {k: _ran("10:00:00", "10:00:01", 1.0, "ok") for k in ("preflight", "schema")})
    app = PhasesApp(planfile, store=ProfileStore(profiles_path))
    async with app.run_test(size=SIZE) as pilot:
        choice = app.screen.query_one("#ph-if-exists", Select)
        await pilot.press("tab")
        await wait_for(pilot, lambda: app.screen.focused is choice)
        await pilot.press("enter")  # opens the list, runs nothing
        await wait_for(pilot, lambda: choice.expanded)
        await pilot.press("down", "down", "enter")
        await wait_for(pilot, lambda: not choice.expanded)
        assert choice.value == "truncate"
        await pilot.pause(0.1)
        assert screen(app).worker is None and screen(app).running_key is None
    on_disk = MigrationState.load(p, planfile)
    assert on_disk.phase("historical").state == PENDING and on_disk.phase("historical").runs == 0


async def test_a_damaged_state_is_said_and_nothing_runs(journal: Journal, profiles_path: Path,
                                                        tmp_path: Path) -> None:
    planfile = tmp_path / "shop.plan.toml"
    _snapshot_plan().save(planfile)
    MigrationState.path_for(planfile).write_text("{not json")
    app = PhasesApp(planfile, store=ProfileStore(profiles_path))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal))
        assert "damaged" in app.screen.message  # type: ignore[attr-defined]
        await pilot.press("escape")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal))
        await pilot.press("escape")
        assert screen(app).worker is None
    assert MigrationState.path_for(planfile).read_text() == "{not json"


async def test_palette_opens_a_plan_and_a_bad_path_is_an_error(journal: Journal, profiles_path: Path,
                                                               tmp_path: Path) -> None:
    planfile = tmp_path / "shop.plan.toml"
    _snapshot_plan().save(planfile)
    app = KwtuiApp(store=ProfileStore(profiles_path))
    async with app.run_test(size=SIZE) as pilot:
        app.action_open_plan()
        await wait_for(pilot, lambda: isinstance(app.screen, PathPrompt) and bool(app.screen.query_one(Input)))
        assert app.screen.query_one(Input).value.startswith(str(migration.plans_dir()))
        app.screen.query_one(Input).value = str(tmp_path / "missing.plan.toml")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal))
        assert "does not exist" in app.screen.message  # type: ignore[attr-defined]
        await pilot.press("escape")
        app.action_open_plan()
        await wait_for(pilot, lambda: isinstance(app.screen, PathPrompt) and bool(app.screen.query_one(Input)))
        app.screen.query_one(Input).value = str(planfile)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, PhasesScreen))
        assert screen(app).path == planfile
        await pilot.press("escape")
        assert isinstance(app.screen, WelcomeScreen)


def test_snapshot_phases_pending(snap_compare, journal: Journal, profiles_path: Path, tmp_path: Path) -> None:
    """A fresh plan's phases, 0 (preflight) to 7 (post-migration), all pending, the first one's detail (what it will do) and the phase keys in the footer."""
    planfile = tmp_path / "shop.plan.toml"
    _snapshot_plan().save(planfile)
    assert snap_compare(PhasesApp(planfile, store=ProfileStore(profiles_path)), terminal_size=SIZE)


def test_snapshot_phases_done_failed_skipped(snap_compare, journal: Journal, profiles_path: Path,
                                             tmp_path: Path) -> None:
    """Phases done, skipped (with why) and failed: the failed cutover's cause, the next step ("fix the cause and run it again") and the times."""
    planfile = tmp_path / "shop.plan.toml"
    p = _snapshot_plan(writes=False)
    p.save(planfile)
    _write_state(planfile, p, MIXED)

    async def run_before(pilot: Pilot) -> None:
        await pilot.pause()

    assert snap_compare(PhasesApp(planfile, store=ProfileStore(profiles_path)), terminal_size=SIZE,
                        run_before=run_before)


PREFLIGHT_FAILED: dict[str, dict[str, object]] = {
    "preflight": {
        "state": FAILED, "started": "2025-01-02T09:59:58+00:00", "finished": "2025-01-02T09:59:59+00:00",
        "seconds": 1.2, "runs": 1,
        "summary": "preflight found 1 blocker(s): target allows CREATE (CREATE on schema public: no): GRANT "
                   "CREATE ON SCHEMA public TO app",
        "data": {"blockers": ["target allows CREATE"], "warnings": ["tables have a primary key"], "accepted": False,
                 "checks": [
                     {"id": "connect.source", "title": "source reachable", "verdict": "ok",
                      "evidence": "PostgreSQL 16.4 at db.example:5432 as app", "fix": ""},
                     {"id": "tables.no-pk", "title": "tables have a primary key", "verdict": "warning",
                      "evidence": "1 table(s) without a primary key: public.notes",
                      "fix": "ALTER TABLE ... ADD PRIMARY KEY"},
                     {"id": "privileges.create", "title": "target allows CREATE", "verdict": "blocker",
                      "evidence": "CREATE on schema public: no", "fix": "GRANT CREATE ON SCHEMA public TO app"},
                     {"id": "clock-skew", "title": "clocks agree", "verdict": "ok",
                      "evidence": "source and target clocks differ by 0.002 s", "fix": ""}]}},
}


def test_snapshot_phases_preflight_checklist(snap_compare, journal: Journal, profiles_path: Path,
                                             tmp_path: Path) -> None:
    """The picture proves: the phases screen opens on the failed preflight (phase 0, first of the eight
    rows), whose detail is the doctor's checklist with the blocker first and its fix under it, then the
    warning with its fix; the footer offers p Preflight and r Rehearse (t Post-migration is cut at 80
    columns: F1 lists it, see test_help_and_palette_list_preflight_rehearsal_and_post_migration)."""
    planfile = tmp_path / "shop.plan.toml"
    p = _snapshot_plan()
    p.save(planfile)
    _write_state(planfile, p, PREFLIGHT_FAILED)

    async def run_before(pilot: Pilot) -> None:
        await pilot.pause()

    assert snap_compare(PhasesApp(planfile, store=ProfileStore(profiles_path)), terminal_size=SIZE,
                        run_before=run_before)


async def test_preflight_key_blocks_then_accepting_warnings_lets_the_schema_run(
        two_dbs: tuple[str, str], pg_server: PgServer, journal: Journal, profiles_path: Path, tmp_path: Path) -> None:
    import uuid

    import psycopg
    from psycopg import sql

    src, dst = two_dbs
    execute(src, "CREATE TABLE items (id int PRIMARY KEY); CREATE TABLE notes (body text)")
    role = "pft_" + uuid.uuid4().hex[:8]
    with psycopg.connect(dst, autocommit=True) as c:
        c.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        c.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    limited = pg_server.uri(dst.rsplit("/", 1)[1], role)
    planfile = tmp_path / "p.plan.toml"
    await make_plan(src, limited, planfile)
    app = PhasesApp(planfile, store=ProfileStore(profiles_path))
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("p")
            await wait_for(pilot, lambda: states(app)[0] == FAILED and screen(app).running_key is None)
            assert "✗ target allows CREATE" in detail(app) and "fix: " in detail(app)
            await pilot.press("w")  # a blocker cannot be accepted
            await pilot.pause(0.2)
            assert screen(app).worker is None or screen(app).worker.is_finished
            assert states(app)[0] == FAILED
            await pilot.press("enter")  # Enter runs the preflight again: still blocked, the schema does not run
            await wait_for(pilot, lambda: screen(app).state.phase("preflight").runs == 2
                           and screen(app).running_key is None)
            assert states(app)[1] == PENDING
            with psycopg.connect(dst, autocommit=True) as c:
                c.execute(sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(sql.Identifier(role)))
            await pilot.press("p")  # now only the keyless table: a warning, which stops it until accepted
            await wait_for(pilot, lambda: screen(app).state.phase("preflight").runs == 3
                           and screen(app).running_key is None)
            assert states(app)[0] == FAILED and "! tables have a primary key" in detail(app)
            await pilot.press("w")
            await wait_for(pilot, lambda: states(app)[0] == DONE and screen(app).running_key is None)
            assert screen(app).state.phase("preflight").data["accepted"] is True
            await pilot.press("enter")
            await wait_for(pilot, lambda: states(app)[1] == DONE)
    finally:
        with psycopg.connect(dst, autocommit=True) as c:
            c.execute("DROP TABLE IF EXISTS items, notes")
            c.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            c.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


async def test_rehearse_key_reports_an_eta_and_drops_its_scratch(two_dbs: tuple[str, str], journal: Journal,
                                                                 profiles_path: Path, tmp_path: Path) -> None:
    src, dst = two_dbs
    execute(src, SHOP)
    planfile = tmp_path / "shop.plan.toml"
    await make_plan(src, dst, planfile)
    app = PhasesApp(planfile, store=ProfileStore(profiles_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("r")
        await wait_for(pilot, lambda: "rehearsal 10%" in status(app), timeout=60)
        assert "✓" in status(app) and "ETA of the real run about" in status(app) and "scratch dropped" in status(app)
        assert states(app) == [PENDING] * 8  # a rehearsal runs no phase
    assert fetch(dst, "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'kwtui_rehearsal%'")[0][0] == 0


async def test_help_and_palette_list_preflight_rehearsal_and_post_migration(journal: Journal, profiles_path: Path,
                                                                            tmp_path: Path) -> None:
    from kwtui.screens.modals import HelpScreen

    planfile = tmp_path / "shop.plan.toml"
    _snapshot_plan().save(planfile)
    app = PhasesApp(planfile, store=ProfileStore(profiles_path))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, PhasesScreen))
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert {"Preflight", "Rehearse", "Post-migration"} <= set(titles)
        await pilot.press("f1")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        rows = dict((d, k) for k, d in app.screen.rows)  # type: ignore[attr-defined]
        assert rows["Preflight"] == "p" and rows["Rehearse"] == "r" and rows["Post-migration"] == "t"
        assert rows["Accept the preflight's warnings and run it again"] == "w"
