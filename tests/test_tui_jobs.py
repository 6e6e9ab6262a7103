"""The jobs screen: live progress while a transfer runs in the app, cancel, and snapshots."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from kwtui.connection import ConnectionService, ConnectTarget
from kwtui.jobs import COMPLETED, FAILED, JobTable, Journal
from kwtui.profiles import ProfileStore
from kwtui.screens import jobs as jobs_screen
from kwtui.screens.app import KwtuiApp
from kwtui.screens.jobs import JobsScreen
from kwtui.transfer.engine import TransferOptions
from kwtui.transfer.resumable import create_transfer_job

from .test_jobs import fill
from .tui_helpers import wait_for as _wait_for

SIZE = (80, 24)






@pytest.fixture
def journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Journal:
    monkeypatch.setenv("KWTUI_JOURNAL", str(tmp_path / "jobs.db"))
    return Journal(tmp_path / "jobs.db")


def rows_shown(app: KwtuiApp) -> int:
    table = app.screen.query_one("#jobs-table", DataTable)
    return int(str(table.get_row_at(0)[3]).replace(",", "")) if table.row_count else 0


async def test_screen_follows_a_running_transfer_and_cancel_stops_it(two_dbs: tuple[str, str], journal: Journal,
                                                                   profiles_path: Path) -> None:
    src, dst = two_dbs
    fill(src, 300_000)
    # the slow path (keyset SELECT -> batched INSERT), so there is time to watch it and cancel
    options = TransferOptions(force_keyset=True, force_insert=True, batch_rows=200)
    async with ConnectionService(ConnectTarget.from_dsn(src)) as s, ConnectionService(ConnectTarget.from_dsn(dst)) as d:
        job_id = await create_transfer_job(journal, s, d, ["t_pk"], options, batch_rows=10_000)
    app = KwtuiApp(store=ProfileStore(profiles_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("j")  # welcome -> jobs
        assert isinstance(app.screen, JobsScreen)
        await wait_for(pilot, lambda: app.screen.query_one("#jobs-table", DataTable).row_count == 1)
        await pilot.press("r")  # resume the queued job in the app
        await wait_for(pilot, lambda: rows_shown(app) > 0)
        first = rows_shown(app)
        await wait_for(pilot, lambda: rows_shown(app) > first)  # the screen keeps updating
        await pilot.press("c")
        await wait_for(pilot, lambda: journal.get(job_id).status == "cancelled")
    job = journal.get(job_id)
    assert 0 < job.rows < 300_000


def _fixed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs_screen, "duration", lambda s: "1:23")
    monkeypatch.setattr(jobs_screen, "rate", lambda v, unit: f"42 {unit}")
    monkeypatch.setattr(jobs_screen, "clock", lambda at: "12:00:00")


def _job(journal: Journal, status: str, *, rejects: int = 0) -> int:
    tables = [JobTable("public.orders", "public.orders", path="binary COPY", est_rows=300_000,
                       batches=[[None, ["100000"]], [["100000"], ["200000"]], [["200000"], None]]),
              JobTable("public.log", "public.log", path="binary COPY", est_rows=5_000, batches=[[None, None]])]
    job_id = journal.create("transfer", {"label": "src"}, {"label": "prod-kwdb"},
                            ["public.orders", "public.log"], {}, tables)
    journal.start(job_id)
    journal.batch_done(job_id, "public.orders", 0, 100_000, 8_000_000)
    journal.batch_done(job_id, "public.orders", 1, 100_000, 8_000_000, rejects=rejects)
    if status == COMPLETED:
        journal.batch_done(job_id, "public.orders", 2, 100_000, 8_000_000)
        journal.batch_done(job_id, "public.log", 0, 5_000, 100_000)
        journal.table_finished(job_id, "public.orders", COMPLETED)
        journal.table_finished(job_id, "public.log", COMPLETED)
        journal.finish(job_id, COMPLETED)
    elif status == "interrupted":
        journal.heartbeat(job_id, 200_000, 16_000_000, 0)
        with journal._tx() as db:  # a process that died: pid gone, heartbeat old
            db.execute("UPDATE jobs SET pid = 999999, heartbeat = heartbeat - 3600 WHERE id = ?", (job_id,))
    elif status == FAILED:
        journal.table_finished(job_id, "public.orders", FAILED, "duplicate key value violates unique constraint")
        journal.finish(job_id, FAILED, "table public.orders failed")
    else:  # running, in this very process
        journal.heartbeat(job_id, 200_000, 16_000_000, 0)
    return job_id


class JobsApp(KwtuiApp):
    async def open_initial(self) -> None:
        from kwtui.screens.welcome import WelcomeScreen

        self.push_screen(WelcomeScreen())
        self.push_screen(JobsScreen(self.journal, auto_refresh=False))


@pytest.mark.parametrize("status", ["running", "interrupted", COMPLETED])
def test_snapshot_jobs(snap_compare, journal: Journal, monkeypatch: pytest.MonkeyPatch, profiles_path: Path,
                       status: str) -> None:
    """The picture proves, per status: a running, an interrupted ("r resumes it") or a completed job (17
    rejected rows) at 80x24, with its route in full, per-table lines and bars, and the log wrapped."""
    _fixed(monkeypatch)
    _job(journal, status, rejects=17 if status == COMPLETED else 0)
    if status == "running":  # this very process runs it: alive, and its heartbeat never goes stale here
        monkeypatch.setattr("kwtui.jobs.STALE_AFTER", 1e9)
        assert os.getpid()

    async def run_before(pilot: Pilot) -> None:
        await wait_for(pilot, lambda: pilot.app.screen.query_one("#jobs-table", DataTable).row_count == 1)
        await pilot.pause(0.2)

    assert snap_compare(JobsApp(store=ProfileStore(profiles_path)), terminal_size=SIZE, run_before=run_before)


async def test_import_is_a_job_and_its_rejects_can_be_read(db: object, journal: Journal, tmp_path: Path,
                                                         profiles_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from kwtui.screens.jobs import RejectsModal

    from .test_cli import run
    from .test_loader import BAD, DDL, write_file

    db.execute(DDL)  # type: ignore[attr-defined]
    data = tmp_path / "data.csv"
    write_file(data, BAD)
    code, _, err = await asyncio.to_thread(run, capsys, "import", "--dsn", db.uri,  # type: ignore[attr-defined]
                                           "--from", str(data), "--into", "t")
    assert code == 0, err
    job = journal.jobs()[0]
    assert job.kind == "import" and job.status == COMPLETED and job.rows == 995 and job.rejects == 5
    app = KwtuiApp(store=ProfileStore(profiles_path))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("j")
        await wait_for(pilot, lambda: app.screen.query_one("#jobs-table", DataTable).row_count == 1)
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, RejectsModal))
        lines = app.screen.lines  # type: ignore[attr-defined]
        assert any("data.csv:10:" in line for line in lines) and any("data.csv:1000:" in line for line in lines)


async def test_kwdb_jobs_screen_says_it_needs_kwdb(db: object, journal: Journal, profiles_path: Path) -> None:
    from textual.widgets import Static

    from kwtui.screens.native_jobs import NativeJobsScreen

    app = KwtuiApp(target=ConnectTarget.from_dsn(db.uri), store=ProfileStore(profiles_path))  # type: ignore[attr-defined]
    async with app.run_test(size=SIZE) as pilot:
        from kwtui.screens.browse import BrowseScreen

        await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen))
        await pilot.press("f8")
        await wait_for(pilot, lambda: isinstance(app.screen, JobsScreen))
        await pilot.press("k")
        await wait_for(pilot, lambda: isinstance(app.screen, NativeJobsScreen))
        await wait_for(pilot, lambda: "needs a KWDB server" in str(app.screen.query_one("#native-note", Static).render()))
        await pilot.press("p")  # nothing selected: a warning, no crash
        await pilot.pause()
        assert isinstance(app.screen, NativeJobsScreen)


def test_cli_native_jobs_on_postgres_is_a_usage_error(db: object, capsys: pytest.CaptureFixture[str]) -> None:
    from .test_cli import run

    code, _, err = run(capsys, "jobs", "native-list", "--dsn", db.uri)  # type: ignore[attr-defined]
    assert code == 2 and "needs a KWDB server" in err
    code, _, err = run(capsys, "jobs", "native-pause", "123", "--dsn", db.uri)  # type: ignore[attr-defined]
    assert code == 2


async def wait_for(pilot: Pilot, predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    await _wait_for(pilot, predicate, timeout)


def _shaped_job(journal: Journal, tables: int, status: str = COMPLETED) -> int:
    """A job of ``tables`` tables (a migration's copy phase has several, a CLI transfer one)."""
    shapes = [JobTable(f"public.t{i}", f"public.t{i}", path="binary COPY", est_rows=1_000,
                       batches=[[None, None]]) for i in range(tables)]
    job_id = journal.create("transfer", {"label": "src"}, {"label": "dst"}, [t.name for t in shapes], {}, shapes)
    journal.start(job_id)
    for t in shapes:
        journal.batch_done(job_id, t.name, 0, 1_000, 10_000)
        journal.table_finished(job_id, t.name, status)
    journal.finish(job_id, status)
    return job_id


async def test_moving_between_jobs_of_different_table_counts_does_not_crash(journal: Journal,
                                                                           profiles_path: Path) -> None:
    """Issue 13: Home, Down between a 4-table and a 1-table job raised DuplicateIds 'row-t0' (the old
    per-table rows were removed without waiting before the new ones, with the same ids, were mounted)."""
    _shaped_job(journal, 4)
    _shaped_job(journal, 1)
    app = JobsApp(store=ProfileStore(profiles_path))
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one("#jobs-table", DataTable).row_count == 2)
        for key in ("home", "down", "up", "down", "up", "down", "home", "end"):
            await pilot.press(key)
            await pilot.pause(0.05)
        await pilot.pause(0.3)
        assert isinstance(app.screen, JobsScreen)
        job = app.screen.current()
        assert job is not None
        await wait_for(pilot, lambda: str(app.screen.query_one("#job-tables").render()).count("rows") == len(job.tables))
    assert app.return_code in (None, 0)


def test_snapshot_jobs_of_different_shapes(snap_compare, journal: Journal, monkeypatch: pytest.MonkeyPatch,
                                           profiles_path: Path) -> None:
    """The picture proves: three jobs of 4, 1 and 2 tables in one list (the crash of issue 13 was moving
    between such jobs); the 4-table job selected after Home, Down, Up shows each table's line and bar,
    with the footer starting with F1 Help and Quit. At 80x24 the From → To and Tables columns share the
    room left and end in "…" where cut; the progress pane repeats the route in full, and the log wraps."""
    _fixed(monkeypatch)
    _shaped_job(journal, 4)
    _shaped_job(journal, 1, FAILED)
    _job(journal, COMPLETED)

    async def run_before(pilot: Pilot) -> None:
        table = pilot.app.screen.query_one("#jobs-table", DataTable)
        await wait_for(pilot, lambda: table.row_count == 3)
        await pilot.press("home", "down", "down")
        # under load a key can land before the table has focus: the picture is of the third row
        # (the 4-table job) whatever the keys did, once its panel has been drawn
        table.move_cursor(row=2)
        await wait_for(pilot, lambda: "job 1 " in str(pilot.app.screen.query_one("#job-summary", Static).render()))
        await pilot.pause(0.3)

    assert snap_compare(JobsApp(store=ProfileStore(profiles_path)), terminal_size=SIZE, run_before=run_before)


def _long_job(journal: Journal) -> int:
    """A job as a migration's copy phase makes one: long connection labels, several schema-qualified tables."""
    names = ["public.customers", "public.orders", "sales.order_items"]
    shapes = [JobTable(n, n, est_rows=1_000, batches=[[None, None]]) for n in names]
    job_id = journal.create("transfer", {"label": "demo (embedded PostgreSQL)"},
                            {"label": "demo-kwdb"}, names, {}, shapes)
    journal.start(job_id)
    journal.log(job_id, "warning", "table sales.orders_2025: the target already holds 12,345 rows; "
                                   "they were kept and the new rows appended (--if-exists append)")
    journal.finish(job_id, COMPLETED)
    return job_id


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_route_tables_and_log_are_never_cut_without_a_way_to_see_them(
        journal: Journal, profiles_path: Path, size: tuple[int, int]) -> None:
    """Issue 13: the From → To and Tables columns were cut even at 160x48 and log lines were cut.

    At 160x48 both columns hold their whole text; at 80x24 the columns share the room left and the
    progress pane shows the route and every table in full; log lines wrap inside the log pane."""
    _long_job(journal)
    app = JobsApp(store=ProfileStore(profiles_path))
    async with app.run_test(size=size) as pilot:
        table = app.screen.query_one("#jobs-table", DataTable)
        await wait_for(pilot, lambda: table.row_count == 1)
        await pilot.pause(0.2)
        job = app.screen.current()  # type: ignore[attr-defined]
        route = "demo (embedded PostgreSQL) → demo-kwdb"
        widths = [c.width for c in table.columns.values()]
        if size == (160, 48):
            assert widths[5] >= len(route) and widths[6] >= len(", ".join(job.objects))
            assert table.virtual_size.width <= table.size.width  # all of it in view
        else:
            assert table.virtual_size.width <= table.size.width  # nothing pushed off to the right
        summary = " ".join(str(app.screen.query_one("#job-summary", Static).render()).split())
        assert route in summary
        bars = str(app.screen.query_one("#job-tables", Static).render())
        assert all(name in bars for name in job.objects)
        from textual.widgets import RichLog

        log = app.screen.query_one("#job-log", RichLog)
        assert log.virtual_size.width <= log.scrollable_content_region.width  # wrapped, not cut
        assert any("--if-exists append" in line.text for line in log.lines)
