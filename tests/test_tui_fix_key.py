"""A failed job's error modal says the knowledge base's cause and fix, and a key applies the fix:
a transfer that met a lock timeout on a real PostgreSQL target is resumed from the modal (r) and
completes; and its picture at 80x24."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable

from kwtui.connection import ConnectionService, ConnectTarget
from kwtui.jobs import COMPLETED, FAILED, JobTable, Journal
from kwtui.profiles import ProfileStore
from kwtui.screens.jobs import JobsScreen
from kwtui.screens.modals import ErrorModal
from kwtui.transfer.engine import TransferOptions
from kwtui.transfer.resumable import JobRunner, create_transfer_job

from .test_transfer import checksum, execute
from .test_tui_jobs import JobsApp, _fixed
from .tui_helpers import wait_for

SIZE = (80, 24)


@pytest.fixture
def journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Journal:
    monkeypatch.setenv("KWTUI_JOURNAL", str(tmp_path / "jobs.db"))
    return Journal(tmp_path / "jobs.db")


async def test_r_in_the_error_modal_resumes_a_job_that_met_a_lock_timeout(two_dbs: tuple[str, str], journal: Journal,
                                                                          profiles_path: Path) -> None:
    src, dst = two_dbs
    execute(src, "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g "
                 "FROM generate_series(1, 5000) g")
    execute(dst, "CREATE TABLE t (id int PRIMARY KEY, v text)")
    # the source session gives up on a lock after 300 ms (as a production role often does)
    source = ConnectTarget.from_dsn(src + ("&" if "?" in src else "?") + "options=-c%20lock_timeout%3D300")
    async with ConnectionService(source) as s, ConnectionService(ConnectTarget.from_dsn(dst)) as d:
        plans: list = []
        job_id = await create_transfer_job(journal, s, d, ["public.t"], TransferOptions(), plans_out=plans)
        holder = psycopg.connect(src)
        holder.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")  # another session holds the table
        raised: Exception | None = None
        try:
            await JobRunner(journal, job_id, s, d, plans=plans, retry_delays=(0.1,)).run()  # planned before the lock: the copy meets it
        except Exception as exc:  # noqa: BLE001 - the job's failure is in the journal; that is what is checked
            raised = exc
        finally:
            holder.close()  # the lock is gone: the situation can be fixed
    job = journal.get(job_id)
    assert job.status == FAILED and any("lock timeout" in (t.error or "") for t in job.tables), (job, raised)
    app = JobsApp(store=ProfileStore(profiles_path))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen)
                       and app.screen.query_one("#jobs-table", DataTable).row_count == 1)
        await pilot.pause(0.2)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal))
        modal = app.screen
        assert isinstance(modal, ErrorModal)
        assert "Cause: another session held a lock on the table" in modal.message, modal.message
        assert "Fix: " in modal.message and modal.fix_key == "r"
        await pilot.press("r")  # the fix: resume the job, in the app
        await wait_for(pilot, lambda: journal.get(job_id).status == COMPLETED, timeout=60)
    assert checksum(src, "t", "id") == checksum(dst, "t", "id")


def test_snapshot_failed_job_cause_and_fix_key(snap_compare, journal: Journal, monkeypatch: pytest.MonkeyPatch,
                                               profiles_path: Path) -> None:
    """The picture proves: e on a failed job of the jobs screen shows the error modal with the
    server's words, the knowledge base's cause and fix (lock timeout: resume the job), and a green
    'r: Resume the job' button (its key applies it; see the test above) beside OK."""
    _fixed(monkeypatch)
    tables = [JobTable("public.orders", "public.orders", path="binary COPY", est_rows=300_000,
                       batches=[[None, ["100000"]], [["100000"], None]])]
    job_id = journal.create("transfer", {"label": "src"}, {"label": "prod-pg"}, ["public.orders"], {}, tables)
    journal.start(job_id)
    journal.batch_done(job_id, "public.orders", 0, 100_000, 8_000_000)
    journal.table_finished(job_id, "public.orders", FAILED, "canceling statement due to lock timeout")
    journal.finish(job_id, FAILED, "table public.orders failed")

    async def run_before(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, JobsScreen)
                       and pilot.app.screen.query_one("#jobs-table", DataTable).row_count == 1)
        await pilot.pause(0.2)
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ErrorModal))
        await pilot.pause(0.2)

    assert snap_compare(JobsApp(store=ProfileStore(profiles_path)), terminal_size=SIZE, run_before=run_before)


async def test_a_failed_history_phase_offers_r_which_runs_it_again_and_resumes(
        two_dbs: tuple[str, str], journal: Journal, profiles_path: Path, tmp_path: Path) -> None:
    """The historical phase meets a lock timeout on the source (another session holds the table, the
    plan's source URI sets lock_timeout); the modal over the phases screen names cause and fix; once
    the lock is gone, r runs the phase again and its copy completes."""
    from kwtui import migration
    from kwtui.migration import DONE, MigrationPlan, MigrationRunner, MigrationState
    from kwtui.migration import FAILED as PHASE_FAILED

    from .test_tui_phases import PhasesApp, make_plan, screen, states

    src, dst = two_dbs
    execute(src, "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g "
                 "FROM generate_series(1, 5000) g")
    planfile = tmp_path / "t.plan.toml"
    await make_plan(src + "?options=-c%20lock_timeout%3D300", dst, planfile)
    p = MigrationPlan.load(planfile)
    state = MigrationState.load(p, planfile)
    s, d = await migration.open_services(p)
    assert s is not None
    try:
        for key in ("preflight", "schema"):
            rec = await MigrationRunner(p, state, s, d, journal=journal, accept_warnings=True).run_phase(key)
            assert rec.state == DONE, rec.summary
    finally:
        await s.close()
        await d.close()
    holder = psycopg.connect(src)
    holder.execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
    app = PhasesApp(planfile, store=ProfileStore(profiles_path))
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("enter")  # the historical data
            await wait_for(pilot, lambda: isinstance(app.screen, ErrorModal), timeout=60)
            modal = app.screen
            assert isinstance(modal, ErrorModal)
            assert "Historical data failed" in modal.title_text and "lock timeout" in modal.message
            assert "Cause: another session held a lock" in modal.message and modal.fix_key == "r"
            holder.close()  # the blocker finished
            await pilot.press("r")
            await wait_for(pilot, lambda: isinstance(app.screen, type(screen(app))) and states(app)[2] == DONE
                           and screen(app).running_key is None, timeout=60)
    finally:
        holder.close()
    on_disk = MigrationState.load(p, planfile)
    assert on_disk.phase("historical").state == DONE and on_disk.phase("historical").runs == 2
    assert on_disk.phase("historical").data["job"] is not None and PHASE_FAILED not in [
        ph.state for ph in on_disk.phases]
    assert checksum(src, "t", "id") == checksum(dst, "t", "id")
