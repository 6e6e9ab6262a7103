"""The job journal: every transfer is written down before any data moves.

SQLite in WAL mode in the platformdirs state directory. A job has a kind, a source and a
target (connection parameters without any password), its objects and options, a status,
and per table the planned key ranges ("batches") with what is done. The authority on what
is committed in a PostgreSQL target is the target itself: each batch commits together with
a row in ``kwtui_journal.checkpoints`` in the same target transaction, so a process killed
at any instant leaves a target that says exactly which batches landed (see
:mod:`kwtui.transfer.resumable`). This journal mirrors that for listing and progress.

A job whose process died shows as ``interrupted``: its heartbeat is stale or its pid gone.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kwtui import paths
from kwtui.errors import KwtuiError, UsageError

QUEUED = "queued"
RUNNING = "running"
PAUSED = "paused"
INTERRUPTED = "interrupted"
FAILED = "failed"
COMPLETED = "completed"
CANCELLED = "cancelled"
STATUSES = (QUEUED, RUNNING, PAUSED, INTERRUPTED, FAILED, COMPLETED, CANCELLED)
FINISHED = (FAILED, COMPLETED, CANCELLED)

#: a running job whose heartbeat is older than this is interrupted
STALE_AFTER = 15.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    source TEXT NOT NULL,
    target TEXT NOT NULL,
    objects TEXT NOT NULL,
    options TEXT NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    heartbeat REAL,
    pid INTEGER,
    host TEXT,
    request TEXT,
    error TEXT,
    rows INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,
    rejects INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    records INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS job_tables (
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    target TEXT NOT NULL,
    status TEXT NOT NULL,
    path TEXT NOT NULL DEFAULT '',
    est_rows INTEGER,
    rows INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,
    rejects INTEGER NOT NULL DEFAULT 0,
    records INTEGER NOT NULL DEFAULT 0,
    batches TEXT NOT NULL DEFAULT '[]',
    done_batches TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    started REAL,
    finished REAL,
    PRIMARY KEY (job_id, name)
);
CREATE TABLE IF NOT EXISTS job_log (
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    at REAL NOT NULL,
    level TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS job_log_job ON job_log (job_id, at);
CREATE TABLE IF NOT EXISTS sync_state (
    source TEXT NOT NULL,
    target TEXT NOT NULL,
    table_name TEXT NOT NULL,
    watermark_col TEXT NOT NULL,
    watermark TEXT,
    rows_moved INTEGER NOT NULL DEFAULT 0,
    updated REAL NOT NULL,
    PRIMARY KEY (source, target, table_name, watermark_col)
);
"""


@dataclass
class JobTable:
    name: str
    target: str
    status: str = QUEUED
    path: str = ""
    est_rows: int | None = None
    rows: int = 0
    bytes: int = 0
    rejects: int = 0
    #: imports: records read from the input (rows + rejects when whole)
    records: int = 0
    batches: list[Any] = field(default_factory=list)  # planned key ranges: [lower, upper] (text key values)
    done_batches: list[int] = field(default_factory=list)
    error: str | None = None
    started: float | None = None
    finished: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "target": self.target, "status": self.status, "path": self.path,
                "est_rows": self.est_rows, "rows": self.rows, "bytes": self.bytes, "rejects": self.rejects,
                "records": self.records, "batches": len(self.batches), "done_batches": len(self.done_batches), "error": self.error}


@dataclass
class Job:
    id: int
    kind: str
    status: str
    source: dict[str, Any]
    target: dict[str, Any]
    objects: list[str]
    options: dict[str, Any]
    created: float
    started: float | None = None
    finished: float | None = None
    heartbeat: float | None = None
    pid: int | None = None
    host: str | None = None
    request: str | None = None
    error: str | None = None
    rows: int = 0
    bytes: int = 0
    rejects: int = 0
    attempts: int = 0
    tables: list[JobTable] = field(default_factory=list)
    records: int = 0

    @property
    def elapsed(self) -> float | None:
        if self.started is None:
            return None
        end = self.finished or (self.heartbeat if self.status != RUNNING else time.time())
        return max(0.0, (end or time.time()) - self.started)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "status": self.status, "source": self.source.get("label"),
                "target": self.target.get("label"), "objects": self.objects, "options": self.options,
                "created": self.created, "started": self.started, "finished": self.finished,
                "elapsed_s": None if self.elapsed is None else round(self.elapsed, 3), "pid": self.pid,
                "error": self.error, "rows": self.rows, "bytes": self.bytes, "rejects": self.rejects,
                "records": self.records,
                "attempts": self.attempts, "tables": [t.as_dict() for t in self.tables]}


def target_record(target: Any) -> dict[str, Any]:
    """What the journal keeps of a connection (a ConnectTarget): its libpq parameters, never a password."""
    params = {k: v for k, v in target.params.items() if k not in ("password", "sslpassword")}
    return {"label": target.label, "params": params, "profile": target.profile_name}


def _pid_alive(pid: int | None, host: str | None) -> bool:
    if not pid:
        return False
    if host and host != os.uname().nodename:
        return True  # another machine's process: only the heartbeat can tell
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Journal:
    """The jobs database. Each call opens a short transaction; safe across processes (WAL)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or Path(os.environ.get("KWTUI_JOURNAL") or paths.state_dir() / "jobs.db")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # one connection per thread, kept open: closing the last connection to a WAL database
        # checkpoints it, which made every journal write cost milliseconds
        self._local = threading.local()
        try:
            with self._connect() as db:
                db.executescript(SCHEMA)
                for table in ("jobs", "job_tables"):  # journals written before imports counted records
                    have = {r["name"] for r in db.execute(f"PRAGMA table_info({table})")}
                    if "records" not in have:
                        db.execute(f"ALTER TABLE {table} ADD COLUMN records INTEGER NOT NULL DEFAULT 0")
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError):  # locked, read-only, ...: said where it is met
                raise
            self.close()
            raise KwtuiError(f"the job journal {self.path} cannot be read ({exc}): move the file aside and kwtui "
                             "starts a new journal, or set KWTUI_JOURNAL to another file") from exc

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            db.row_factory = sqlite3.Row
            self._local.db = db
        yield db

    def close(self) -> None:
        """Close this thread's connection (others close when the journal is dropped)."""
        db = getattr(self._local, "db", None)
        if db is not None:
            self._local.db = None
            db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    # -- writing ----------------------------------------------------------------------------

    def create(self, kind: str, source: dict[str, Any], target: dict[str, Any], objects: list[str],
               options: dict[str, Any], tables: list[JobTable]) -> int:
        """Record a job and its planned tables/batches before anything moves."""
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO jobs (kind, status, source, target, objects, options, created) VALUES (?,?,?,?,?,?,?)",
                (kind, QUEUED, json.dumps(source), json.dumps(target), json.dumps(objects), json.dumps(options),
                 time.time()))
            job_id = int(cur.lastrowid or 0)
            for t in tables:
                db.execute(
                    "INSERT INTO job_tables (job_id, name, target, status, path, est_rows, batches)"
                    " VALUES (?,?,?,?,?,?,?)",
                    (job_id, t.name, t.target, QUEUED, t.path, t.est_rows, json.dumps(t.batches)))
        self.log(job_id, "info", f"job created: {kind} of {len(tables)} table(s)")
        return job_id

    def start(self, job_id: int) -> None:
        now = time.time()
        with self._tx() as db:
            db.execute("UPDATE jobs SET status=?, started=COALESCE(started, ?), heartbeat=?, pid=?, host=?,"
                       " request=NULL, error=NULL, attempts=attempts+1, finished=NULL WHERE id=?",
                       (RUNNING, now, now, os.getpid(), os.uname().nodename, job_id))

    def heartbeat(self, job_id: int, rows: int, nbytes: int, rejects: int) -> str | None:
        """Keep the job alive; returns a pending request ("cancel" / "pause") if any."""
        with self._tx() as db:
            db.execute("UPDATE jobs SET heartbeat=?, rows=?, bytes=?, rejects=? WHERE id=?",
                       (time.time(), rows, nbytes, rejects, job_id))
            row = db.execute("SELECT request FROM jobs WHERE id=?", (job_id,)).fetchone()
        return row["request"] if row else None

    def table_started(self, job_id: int, name: str, path: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE job_tables SET status=?, path=?, started=COALESCE(started, ?), error=NULL"
                       " WHERE job_id=? AND name=?", (RUNNING, path, time.time(), job_id, name))

    def batch_done(self, job_id: int, name: str, batch: int, rows: int, nbytes: int, rejects: int = 0, *,
                   records: int = 0) -> None:
        with self._tx() as db:
            row = db.execute("SELECT done_batches FROM job_tables WHERE job_id=? AND name=?", (job_id, name)).fetchone()
            done = set(json.loads(row["done_batches"])) if row else set()
            if batch in done:
                return
            done.add(batch)
            db.execute("UPDATE job_tables SET done_batches=?, rows=rows+?, bytes=bytes+?, rejects=rejects+?,"
                       " records=records+? WHERE job_id=? AND name=?",
                       (json.dumps(sorted(done)), rows, nbytes, rejects, records, job_id, name))

    def set_table_progress(self, job_id: int, name: str, rows: int, nbytes: int, done: list[int], *,
                           records: int | None = None, rejects: int | None = None) -> None:
        """Make the journal agree with what the target says is committed (on resume)."""
        with self._tx() as db:
            db.execute("UPDATE job_tables SET rows=?, bytes=?, done_batches=? WHERE job_id=? AND name=?",
                       (rows, nbytes, json.dumps(sorted(done)), job_id, name))
            if records is not None or rejects is not None:
                db.execute("UPDATE job_tables SET records=COALESCE(?, records), rejects=COALESCE(?, rejects)"
                           " WHERE job_id=? AND name=?", (records, rejects, job_id, name))

    def table_finished(self, job_id: int, name: str, status: str, error: str | None = None) -> None:
        with self._tx() as db:
            db.execute("UPDATE job_tables SET status=?, error=?, finished=? WHERE job_id=? AND name=?",
                       (status, error, time.time(), job_id, name))
        if status == FAILED:
            self._log_advice(job_id, error, name)

    def finish(self, job_id: int, status: str, error: str | None = None) -> None:
        if status not in STATUSES:
            raise ValueError(status)
        with self._tx() as db:
            totals = db.execute("SELECT COALESCE(sum(rows),0) r, COALESCE(sum(bytes),0) b, COALESCE(sum(rejects),0) j,"
                                " COALESCE(sum(records),0) n FROM job_tables WHERE job_id=?", (job_id,)).fetchone()
            db.execute("UPDATE jobs SET status=?, error=?, finished=?, heartbeat=?, request=NULL, rows=?, bytes=?,"
                       " rejects=?, records=? WHERE id=?",
                       (status, error, time.time() if status in FINISHED else None, time.time(),
                        totals["r"], totals["b"], totals["j"], totals["n"], job_id))
        self.log(job_id, "error" if status == FAILED else "info", f"job {status}" + (f": {error}" if error else ""))
        if status == FAILED:
            self._log_advice(job_id, error)

    def _log_advice(self, job_id: int, error: str | None, table: str | None = None) -> None:
        """The failure knowledge base's cause and fix for a failed job or table, as log lines
        (level "advice"), once per job and text (kwtui.troubleshoot)."""
        from kwtui.troubleshoot import job_error_lines

        targets = [t.target for t in self.get(job_id).tables if t.name == table] if table else []
        lines = job_error_lines(error, job_id, self, targets)
        if not lines:
            return
        with self._connect() as db:
            seen = db.execute("SELECT count(*) FROM job_log WHERE job_id=? AND level='advice' AND message=?",
                              (job_id, lines[0])).fetchone()[0]
        if not seen:
            for line in lines:
                self.log(job_id, "advice", line)

    def request(self, job_id: int, what: str) -> None:
        """Ask the running process to "cancel" or "pause" (it checks between batches)."""
        job = self.get(job_id)
        if job.status in FINISHED:
            raise UsageError(f"job {job_id} is {job.status} already")
        with self._tx() as db:
            if job.status == RUNNING:
                db.execute("UPDATE jobs SET request=? WHERE id=?", (what, job_id))
            else:  # nobody runs it: the state changes now
                new = CANCELLED if what == "cancel" else PAUSED
                db.execute("UPDATE jobs SET status=?, request=NULL, finished=? WHERE id=?",
                           (new, time.time() if new == CANCELLED else None, job_id))
        self.log(job_id, "info", f"{what} requested")

    def log(self, job_id: int, level: str, message: str) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO job_log (job_id, at, level, message) VALUES (?,?,?,?)",
                       (job_id, time.time(), level, message))

    # -- incremental sync watermarks (kwtui.sync) ---------------------------------------------

    def get_watermark(self, source: str, target: str, table: str, column: str) -> str | None:
        """The last synced watermark (text form) of a table between two servers, or None."""
        with self._connect() as db:
            row = db.execute("SELECT watermark FROM sync_state WHERE source=? AND target=? AND table_name=?"
                             " AND watermark_col=?", (source, target, table, column)).fetchone()
        return row["watermark"] if row else None

    def set_watermark(self, source: str, target: str, table: str, column: str, watermark: str | None,
                      rows_moved: int = 0) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO sync_state (source, target, table_name, watermark_col, watermark, rows_moved,"
                       " updated) VALUES (?,?,?,?,?,?,?) ON CONFLICT (source, target, table_name, watermark_col)"
                       " DO UPDATE SET watermark=excluded.watermark, rows_moved=excluded.rows_moved,"
                       " updated=excluded.updated",
                       (source, target, table, column, watermark, rows_moved, time.time()))

    # -- reading ----------------------------------------------------------------------------

    def _job(self, db: sqlite3.Connection, row: sqlite3.Row) -> Job:
        job = Job(id=row["id"], kind=row["kind"], status=row["status"], source=json.loads(row["source"]),
                  target=json.loads(row["target"]), objects=json.loads(row["objects"]),
                  options=json.loads(row["options"]), created=row["created"], started=row["started"],
                  finished=row["finished"], heartbeat=row["heartbeat"], pid=row["pid"], host=row["host"],
                  request=row["request"], error=row["error"], rows=row["rows"], bytes=row["bytes"],
                  rejects=row["rejects"], attempts=row["attempts"], records=row["records"])
        for t in db.execute("SELECT * FROM job_tables WHERE job_id=? ORDER BY rowid", (job.id,)):
            job.tables.append(JobTable(name=t["name"], target=t["target"], status=t["status"], path=t["path"],
                                       est_rows=t["est_rows"], rows=t["rows"], bytes=t["bytes"],
                                       rejects=t["rejects"], records=t["records"], batches=json.loads(t["batches"]),
                                       done_batches=json.loads(t["done_batches"]), error=t["error"],
                                       started=t["started"], finished=t["finished"]))
        if job.status == RUNNING:  # a dead process never stays "running"
            if job.tables:
                job.rows = sum(t.rows for t in job.tables)
                job.bytes = sum(t.bytes for t in job.tables)
                job.rejects = sum(t.rejects for t in job.tables)
                job.records = sum(t.records for t in job.tables)
            stale = job.heartbeat is None or time.time() - job.heartbeat > STALE_AFTER
            if stale or not _pid_alive(job.pid, job.host):
                job.status = INTERRUPTED
        return job

    def get(self, job_id: int) -> Job:
        with self._connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
            if row is None:
                raise KwtuiError(f"no job {job_id}", hint="kwtui jobs list shows them")
            return self._job(db, row)

    def jobs(self, limit: int = 100) -> list[Job]:
        with self._connect() as db:
            rows = db.execute("SELECT * FROM jobs ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
            return [self._job(db, r) for r in rows]

    def logs(self, job_id: int, limit: int = 500) -> list[tuple[float, str, str]]:
        with self._connect() as db:
            rows = db.execute("SELECT at, level, message FROM job_log WHERE job_id=? ORDER BY at DESC, rowid DESC"
                              " LIMIT ?", (job_id, limit)).fetchall()
        return [(r["at"], r["level"], r["message"]) for r in reversed(rows)]


def read_head(path: str | Path, max_lines: int = 2000) -> tuple[list[str], bool]:
    """The first ``max_lines`` lines of a text file (a reject file) and whether there is more."""
    lines: list[str] = []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if len(lines) >= max_lines:
                return lines, True
            lines.append(line.rstrip("\n"))
    return lines, False
