"""The moving-window rate of the jobs screen (issue 13: 0 rows/s and no ETA between batches,
negative MB/s after a resume)."""

from __future__ import annotations

from kwtui.rates import RateWindow


def test_rate_and_eta_hold_between_batch_commits() -> None:
    w = RateWindow(window=30)
    # a batch of 10,000 rows commits every 5 s; the screen samples every second
    for t in range(0, 21):
        w.add(float(t), (t // 5) * 10_000, (t // 5) * 1_000_000)
    rates = w.rates()
    assert rates is not None
    rows_s, mb_s = rates
    assert 1_500 < rows_s < 2_500 and mb_s > 0  # not 0 although the last samples did not move
    eta = w.eta(100_000)
    assert eta is not None and eta > 0


def test_counters_going_back_restart_the_window_never_negative() -> None:
    w = RateWindow()
    w.add(0.0, 50_000, 5_000_000)
    w.add(1.0, 60_000, 6_000_000)
    w.add(2.0, 20_000, 2_000_000)  # resumed from a checkpoint: fewer rows than before
    assert w.rates() is None
    w.add(3.0, 25_000, 2_500_000)
    rates = w.rates()
    assert rates is not None and rates[0] == 5_000 and rates[1] == 0.5


def test_a_stalled_job_reports_zero_not_a_negative_rate() -> None:
    w = RateWindow(window=5)
    for t in range(10):
        w.add(float(t), 1_000, 100)
    assert w.rates() == (0.0, 0.0) and w.eta(2_000) is None


def test_a_table_of_a_paused_or_cancelled_job_is_not_running() -> None:
    """Issue 13: after pause or cancel the table line still said "running"."""
    from kwtui.jobs import RUNNING, Job, JobTable
    from kwtui.screens.jobs import table_state

    table = JobTable("public.t", "public.t", status=RUNNING)
    for status in ("paused", "cancelled", "interrupted"):
        job = Job.__new__(Job)
        object.__setattr__(job, "status", status)
        assert table_state(job, table) == status
    job = Job.__new__(Job)
    object.__setattr__(job, "status", RUNNING)
    assert table_state(job, table) == RUNNING


def test_a_jobs_average_counts_active_time_only(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Issue 13: a retried or paused job's average counted the idle gap between its attempts.

    The journal is real (SQLite); only its clock is set, so the attempt lengths are exact."""
    from kwtui import jobs
    from kwtui.jobs import COMPLETED, PAUSED, JobTable, Journal

    clock = [1_000.0]
    monkeypatch.setattr(jobs.time, "time", lambda: clock[0])
    journal = Journal(tmp_path / "jobs.db")
    job_id = journal.create("transfer", {"label": "a"}, {"label": "b"}, ["t"], {}, [JobTable("t", "t")])
    journal.start(job_id)
    clock[0] = 1_010.0
    journal.batch_done(job_id, "t", 0, 10_000, 1_000_000)
    journal.finish(job_id, PAUSED)  # 10 s of work, then paused
    assert journal.get(job_id).elapsed == 10.0
    clock[0] = 5_000.0  # an hour later: still 10 s
    assert journal.get(job_id).elapsed == 10.0
    journal.start(job_id)  # resumed; this attempt dies after 5 s (its last heartbeat), no finish
    clock[0] = 5_005.0
    journal.heartbeat(job_id, 15_000, 1_500_000, 0)
    clock[0] = 9_000.0
    journal.start(job_id)  # retried much later: the dead attempt counts until its heartbeat
    clock[0] = 9_005.0
    journal.batch_done(job_id, "t", 1, 10_000, 1_000_000)
    journal.finish(job_id, COMPLETED)
    job = journal.get(job_id)
    assert job.elapsed == 20.0 and job.rows == 20_000
    assert job.rows / job.elapsed == 1_000.0  # the average the jobs screen shows, not 20,000 / 8,005 s
    journal.close()


def test_the_jobs_screen_average_uses_active_time(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from kwtui import jobs
    from kwtui.jobs import COMPLETED, JobTable, Journal
    from kwtui.screens.jobs import JobsScreen

    clock = [0.0]
    monkeypatch.setattr(jobs.time, "time", lambda: clock[0])
    journal = Journal(tmp_path / "jobs.db")
    job_id = journal.create("transfer", {"label": "a"}, {"label": "b"}, ["t"], {}, [JobTable("t", "t")])
    journal.start(job_id)
    clock[0] = 4.0
    journal.finish(job_id, jobs.FAILED, "boom")
    clock[0] = 1_000.0
    journal.start(job_id)
    clock[0] = 1_004.0
    journal.batch_done(job_id, "t", 0, 8_000, 8_000_000)
    journal.finish(job_id, COMPLETED)
    screen = JobsScreen.__new__(JobsScreen)
    screen.windows = {}
    assert screen.rates(journal.get(job_id)) == (1_000.0, 1.0)
    journal.close()


def test_a_journal_written_before_active_time_still_opens(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """An older jobs.db (no active/run_started columns) gains them when opened; its jobs still read."""
    import sqlite3

    from kwtui.jobs import SCHEMA, Journal

    old = SCHEMA.replace(",\n    active REAL NOT NULL DEFAULT 0,\n    run_started REAL\n", "\n")
    assert "run_started" not in old
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.executescript(old)
        db.execute("INSERT INTO jobs (kind, status, source, target, objects, options, created, started, finished)"
                   " VALUES ('transfer', 'completed', '{}', '{}', '[]', '{}', 0, 10, 40)")
    journal = Journal(path)
    job = journal.jobs()[0]
    assert job.elapsed == 30.0 and job.status == "completed"  # no active time then: its wall time
    journal.close()
