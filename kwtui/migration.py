"""A whole migration: the requirements, a saved plan, and its six phases run one by one.

The new-migration wizard (or ``kwtui plan --save``) gathers what a migration specialist asks
first (:class:`Requirements`), the source is assessed (:mod:`kwtui.plan`), and
:func:`build_plan` turns both into a :class:`MigrationPlan`: per table the target DDL (from
the mapping the user may edit), the strategy with its reasons, the watermark column for the
incremental sync, and an ETA measured on a short sample transfer (:func:`measure_eta`).

The plan is saved as TOML (no password is ever in it: sources and targets are profile names
or URIs without one). ``kwtui run PLANFILE`` and the phases screen execute it through
:class:`MigrationRunner`, phase by phase:

1. schema: the plan's CREATE TABLE statements on the target (existing tables are kept); a mixed
   KWDB plan (``Requirements.ts_database``) first creates its TS database and puts the TS tables
   there, the others in the target's relational database (each phase works on both);
2. historical data: a journaled transfer job per target database (resumable), all reading one
   source snapshot, tables planned ``via-import`` loaded by KWDB's IMPORT pulling from kwtui
   (:mod:`kwtui.transfer.pull`), or, from files, an import; then the indexes and foreign keys (a
   failed one fails the phase, naming the offending rows);
3. change capture set-up: the copy's snapshot (and its watermarks) become the sync state;
4. catch-up sync: every change since that snapshot (PostgreSQL: :func:`kwtui.changes.catch_up`,
   per target database, all reading one snapshot; KWDB: :func:`kwtui.sync.sync_table` by
   watermark); repeatable, 0 rows when equal;
5. cutover: after the user stopped writes, a final sync (with delete detection), the
   validation, and what to change in the application's connection string;
6. validation and monitoring: a full validation with a saved report, and row counts
   compared with those at cutover.

The history is read as of one source snapshot (:mod:`kwtui.snapshot`), whose identity is the
baseline of the catch-up (:mod:`kwtui.changes`: on PostgreSQL by xmin, so late commits are
never missed; deletes by key anti-join). What ran is kept in the journal (SQLite,
:class:`MigrationState`: a :class:`PhaseRecord` per phase, each target object's state, the
current snapshot); :func:`kwtui.runbook.render_runbook` writes the runbook from both.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from psycopg import sql

from kwtui import plan as planmod
from kwtui.errors import KwtuiError, UsageError
from kwtui.names import TableName, pg_ident
from kwtui.plan import Assessment, ColumnInfo, TableAssessment

PLAN_VERSION = 1

#: (key, title, what it does)
PHASES: tuple[tuple[str, str, str], ...] = (
    ("preflight", "Preflight", "the doctor's read-only checks; blockers stop the schema phase"),
    ("schema", "Schema", "create the target tables from the plan's DDL"),
    ("historical", "Historical data", "copy every row as of now (journaled, resumable), then indexes and keys"),
    ("capture", "Change capture set-up", "record each table's watermark at the copy's snapshot"),
    ("catchup", "Catch-up sync", "copy rows changed since the watermark (repeat until the lag is small)"),
    ("cutover", "Cutover", "writes stopped: final sync, validation, switch the application"),
    ("validation", "Validation and monitoring", "full validation report; row counts since cutover"),
    ("post-migration", "Post-migration", "statistics, indexes and keys, sequences, rollback plan, connection "
     "strings, monitoring queries"),
)
PHASE_KEYS = tuple(p[0] for p in PHASES)
#: a full reconciliation repairs at most this many differing rows by key; more: the table is re-read whole
REPAIR_MAX_KEYS = 100_000
PENDING, RUNNING, DONE, FAILED, SKIPPED = "pending", "running", "done", "failed", "skipped"
#: a table's method when KWDB's IMPORT pulls the rows kwtui serves (:mod:`kwtui.transfer.pull`)
VIA_IMPORT = planmod.VIA_IMPORT


def phase_number(key: str) -> int:
    """The number a phase is shown with: preflight is 0, the schema 1, ..., post-migration 7."""
    return PHASE_KEYS.index(key)

SOURCE_KINDS = ("postgres", "kwdb", "csv")
DOWNTIMES = ("hours", "minutes", "seconds")
DOWNTIME_TEXT = {"hours": "hours (a maintenance window)", "minutes": "minutes", "seconds": "seconds (near zero)"}

_WATERMARK_NAMES = re.compile(r"^(updated|modified|changed|last_modified|last_update|last_updated|mtime|"
                              r"updated_at|modified_at|changed_at|update_time|modify_time|last_modified_at)$",
                              re.IGNORECASE)


# -- requirements and plan ------------------------------------------------------------------------


@dataclass
class Requirements:
    """What the wizard asks first."""

    source: str  # profile name or URI (no password), or the CSV path
    source_kind: str = "postgres"  # postgres | kwdb | csv
    target: str = ""  # profile name or URI; "" = not connected yet
    target_kind: str = "kwdb"  # kwdb | kwdb-ts | postgres
    deployment: str = "single node"  # single node | single-replica | multi-replica (detected when connected)
    downtime: str = "minutes"  # hours | minutes | seconds
    source_writes: bool = True  # the source keeps taking writes during the move
    tables: list[str] = field(default_factory=list)  # empty: all
    ts_suggest: bool = True
    #: a target table that already holds rows when the history is copied: fail | append | truncate | replace
    if_exists: str = "fail"
    #: refused objects whose loss the user accepts: kinds (view, function, ...), families or object names
    accept_loss: list[str] = field(default_factory=list)
    #: KWDB target: the TS database the time-series tables go to ("" = all in the target's database)
    ts_database: str = ""
    #: PostgreSQL -> KWDB: when KWDB's IMPORT pulls the rows (auto: big tables | always | never)
    via_import: str = "auto"
    #: with via-import: the address of this host the KWDB node reaches ("" = 127.0.0.1)
    serve_host: str = ""

    def check(self) -> None:
        if self.source_kind not in SOURCE_KINDS:
            raise UsageError(f"source kind {self.source_kind!r}: one of {', '.join(SOURCE_KINDS)}")
        if self.target_kind not in planmod.TARGET_KINDS:
            raise UsageError(f"target kind {self.target_kind!r}: one of {', '.join(planmod.TARGET_KINDS)}")
        if self.deployment not in planmod.DEPLOYMENTS:
            raise UsageError(f"deployment {self.deployment!r}: one of {', '.join(planmod.DEPLOYMENTS)}")
        if self.via_import not in planmod.VIA_IMPORT_MODES:
            raise UsageError(f"via-import {self.via_import!r}: one of {', '.join(planmod.VIA_IMPORT_MODES)}")
        if self.downtime not in DOWNTIMES:
            raise UsageError(f"downtime {self.downtime!r}: one of {', '.join(DOWNTIMES)}")
        if not self.source:
            raise UsageError("the migration needs a source")
        from kwtui.transfer.tables import check_if_exists

        self.if_exists = check_if_exists(self.if_exists)
        if self.source_kind == "csv":
            self.source_writes = False


@dataclass
class TableEntry:
    """One table of the plan, as it will run."""

    table: str  # source schema.table (for files: the table the files hold)
    target: str  # target schema.table
    include: bool = True
    rows: int = 0
    bytes: int = 0
    complexity: int = 1
    key: list[str] = field(default_factory=list)
    ts: bool = False
    create: str = ""
    post_load: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    method: str = "streamed"
    workers: int = 1
    chunk_rows: int = 100_000
    batch_rows: int = 500
    thread_concurrency: int = 1
    reason: str = ""
    watermark: str = ""  # "" = none
    watermark_reason: str = ""
    sees_updates: bool = False  # the watermark moves on updates too (updated_at), not only on inserts
    eta_s: float | None = None
    files: list[str] = field(default_factory=list)  # CSV source: the data files
    database: str = ""  # "" = the target's database; else the TS database this table goes to


@dataclass
class Eta:
    sample_table: str = ""
    sample_rows: int = 0
    sample_seconds: float = 0.0
    rows_per_s: float = 0.0
    total_s: float = 0.0
    method: str = ""  # how it was measured
    measured_at: str = ""


@dataclass
class MigrationPlan:
    requirements: Requirements
    assessment: Assessment
    tables: list[TableEntry] = field(default_factory=list)
    overrides: dict[str, dict[str, str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # strategy-wide choices, each with its reason
    eta: Eta | None = None
    pre_data: list[str] = field(default_factory=list)  # schema phase, before the tables (kwtui.inventory)
    post_data: list[str] = field(default_factory=list)  # historical phase, after the tables' post-load
    cutover_data: list[str] = field(default_factory=list)  # cutover, once validation is equal: enable triggers
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    name: str = ""
    created: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))

    @property
    def target_kind(self) -> str:
        return self.requirements.target_kind

    def entry(self, table: str) -> TableEntry:
        for t in self.tables:
            if t.table == table:
                return t
        raise UsageError(f"{table} is not in the plan", hint=", ".join(t.table for t in self.tables))

    @property
    def included(self) -> list[TableEntry]:
        return [t for t in self.tables if t.include]

    def mapping(self, table: str) -> list[planmod.ColumnMap]:
        kind = self.target_kind
        if self.requirements.ts_database and self.assessment.suggestion(table) is None:
            kind = "kwdb"  # a mixed plan: a table without a TS suggestion stays relational
        return planmod.column_mapping(self.assessment, kind, table, self.overrides)

    # -- edits (the plan screen); each one re-renders the DDL ---------------------------------

    def set_type(self, table: str, column: str, target_type: str) -> None:
        ta = self.assessment.table(table)
        if not any(c.name == column for c in ta.columns):
            raise UsageError(f"{table} has no column {column}")
        target_type = " ".join(target_type.split())
        if not target_type:
            self.overrides.get(table, {}).pop(column, None)
        else:
            if not re.fullmatch(r"[A-Za-z][\w ]*(\(\s*\d+(\s*,\s*\d+)?\s*\))?(\[\])?", target_type):
                raise UsageError(f"{target_type!r} does not look like a type (e.g. VARCHAR(64), FLOAT8, INT8)")
            self.overrides.setdefault(table, {})[column] = target_type.upper() \
                if self.target_kind != "postgres" else target_type
        self.rebuild()

    def set_role(self, table: str, column: str, role: str) -> None:
        if self.target_kind != "kwdb-ts":
            raise UsageError("tags and primary tags only exist on a time-series target (kwdb-ts)")
        try:
            planmod.set_ts_role(self.assessment, table, column, role)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        self.rebuild()

    def set_include(self, table: str, include: bool) -> None:
        self.entry(table).include = include

    def set_watermark(self, table: str, column: str) -> None:
        e = self.entry(table)
        if column and not any(c.name == column for c in self.assessment.table(table).columns):
            raise UsageError(f"{table} has no column {column}")
        e.sees_updates = bool(column and _WATERMARK_NAMES.match(column))
        e.watermark, e.watermark_reason = column, (
            ("set by hand: " + ("catches inserts and updates" if e.sees_updates else
                                "treated as insert-only; updates and deletes are reconciled in full at cutover"))
            if column else "none: reconciled in full at cutover" if e.key else "none: changes are not synced")

    def rebuild(self) -> None:
        """Re-derive DDL and strategy from the assessment, the edits and the requirements."""
        keep = {t.table: t for t in self.tables}
        fresh = build_plan(self.assessment, self.requirements, overrides=self.overrides)
        for t in fresh.tables:
            old = keep.get(t.table)
            if old is not None:
                t.include, t.watermark, t.watermark_reason = old.include, old.watermark, old.watermark_reason
                t.sees_updates = old.sees_updates
                t.eta_s, t.files = old.eta_s, old.files
        self.tables, self.warnings, self.notes = fresh.tables, fresh.warnings, fresh.notes
        self.pre_data, self.post_data, self.cutover_data = fresh.pre_data, fresh.post_data, fresh.cutover_data

    def ddl_script(self) -> str:
        from types import SimpleNamespace

        tables: list[Any] = list(self.included)
        dbs = list(dict.fromkeys(t.database for t in tables if t.database))
        if dbs:  # a mixed plan: say where each TS table goes
            tables = [SimpleNamespace(create=f"CREATE TS DATABASE {planmod._q(db)};", post_load=[]) for db in dbs] + [
                SimpleNamespace(create=f"-- in the TS database {t.database}:\n{t.create}", post_load=t.post_load)
                if t.database else t for t in tables]
        return planmod.ddl_script(f"-- kwtui migration plan {self.name or self.id}: target kind {self.target_kind}",
                                  self.warnings, tables, self.pre_data, self.post_data)

    def target_database(self) -> str:
        """The target's (relational) database name, as far as the plan's reference says."""
        with contextlib.suppress(Exception):
            return str(connect_target(self.requirements.target).params.get("dbname") or "defaultdb")
        return "the target's database"

    # -- saving ----------------------------------------------------------------------------

    def as_dict(self) -> dict[str, Any]:
        return {
            "kwtui_plan": PLAN_VERSION, "id": self.id, "name": self.name, "created": self.created,
            "requirements": asdict(self.requirements), "notes": self.notes, "warnings": self.warnings,
            "eta": asdict(self.eta) if self.eta else None, "overrides": self.overrides,
            "tables": [asdict(t) for t in self.tables], "assessment": self.assessment.as_dict(),
            "pre_data": self.pre_data, "post_data": self.post_data, "cutover_data": self.cutover_data,
        }

    def to_toml(self) -> str:
        import tomli_w

        return ("# kwtui migration plan: kwtui run THIS_FILE executes it phase by phase.\n"
                "# Edit the tables' create/post_load, include or watermark here or in the plan screen.\n"
                + tomli_w.dumps(_toml_clean(self.as_dict()), multiline_strings=True))

    def save(self, path: str | Path) -> Path:
        from kwtui.transfer.layout import write_atomic

        p = Path(path).expanduser()
        p.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(p, self.to_toml().encode("utf-8"), fsync=False)
        return p

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MigrationPlan:
        if data.get("kwtui_plan") != PLAN_VERSION:
            raise UsageError(f"not a kwtui plan (version {data.get('kwtui_plan')!r}; expected {PLAN_VERSION})")
        req = Requirements(**{k: v for k, v in data["requirements"].items() if k in Requirements.__dataclass_fields__})
        fields_ = TableEntry.__dataclass_fields__
        tables = [TableEntry(**{k: v for k, v in t.items() if k in fields_}) for t in data.get("tables", [])]
        eta = Eta(**data["eta"]) if data.get("eta") else None
        return cls(req, planmod.assessment_from_dict(data.get("assessment", {})), tables,
                   {k: dict(v) for k, v in (data.get("overrides") or {}).items()}, list(data.get("warnings", [])),
                   list(data.get("notes", [])), eta, list(data.get("pre_data", [])), list(data.get("post_data", [])),
                   list(data.get("cutover_data", [])), data.get("id") or uuid.uuid4().hex[:12], data.get("name", ""), data.get("created", ""))

    @classmethod
    def load(cls, path: str | Path) -> MigrationPlan:
        import tomllib

        p = Path(path).expanduser()
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UsageError(f"plan file {p} does not exist", hint="make one: kwtui plan ... --save FILE") from None
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"plan file {p} is not valid TOML: {exc}") from None
        try:
            return cls.from_dict(data)
        except (KeyError, TypeError) as exc:
            raise UsageError(f"plan file {p} is incomplete or damaged: {exc}") from None


def _toml_clean(value: Any) -> Any:
    """TOML has no null: drop None values (the dataclass defaults bring them back)."""
    if isinstance(value, dict):
        return {str(k): _toml_clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_toml_clean(v) for v in value if v is not None]
    return value


# -- building a plan --------------------------------------------------------------------------


def suggest_watermark(ta: TableAssessment,
                      suggestion: planmod.TsSuggestion | None = None) -> tuple[str, str, bool]:
    """(column, reason, sees updates): the column the incremental sync finds new and changed rows by."""
    for c in ta.columns:
        if _WATERMARK_NAMES.match(c.name) and (planmod.is_timestamp(c.type) or "date" in c.type.lower()):
            return c.name, f"{c.name} ({c.type}) is set on every write: catches inserts and updates", True
    if ta.is_ts and ta.columns:
        return ta.columns[0].name, "the TS timestamp: rows arrive in time order; catches inserts", False
    if suggestion is not None:
        return suggestion.timestamp, f"the TS timestamp {suggestion.timestamp}: catches inserts (not updates)", False
    ident = [c for c in ta.columns if c.identity and c.name in ta.primary_key]
    if ident:
        return ident[0].name, (f"{ident[0].name} grows with every insert (sequence/identity): catches inserts only; "
                               "updates and deletes are reconciled in full at cutover"), False
    ts_nn = [c for c in ta.columns if planmod.is_timestamp(c.type) and not c.nullable]
    if ts_nn and not ta.primary_key:
        return ts_nn[0].name, f"{ts_nn[0].name} is a NOT NULL timestamp: catches inserts in time order", False
    return "", ("no updated_at, sequence or timestamp column: reconciled in full at cutover" if ta.primary_key
                else "no watermark and no key: changes after the copy are not synced"), False


def build_plan(assessment: Assessment, req: Requirements, *, overrides: dict[str, dict[str, str]] | None = None,
               cores: int | None = None) -> MigrationPlan:
    """The plan from an assessment and the requirements (pure; no I/O)."""
    overrides = {k: dict(v) for k, v in (overrides or {}).items()}
    cores = cores or os.cpu_count() or 2
    kind = req.target_kind
    translation = planmod.translate_ddl(assessment, kind, overrides, suggested_only=bool(req.ts_database))
    choices, order_warnings = planmod.strategy(assessment, kind, cores=cores, deployment=req.deployment,
                                               via_import=req.via_import if req.source_kind == "postgres" else "never")
    by_table = {c.table: c for c in choices}
    out = MigrationPlan(req, assessment, overrides=overrides, pre_data=list(translation.pre),
                        post_data=list(translation.post), cutover_data=list(translation.cutover))
    out.warnings = list(translation.warnings) + order_warnings
    if assessment.inventory is not None:
        from kwtui.inventory import accept_loss

        accept_loss(assessment.inventory, req.accept_loss)
    for ddl in translation.tables:
        ta = assessment.table(ddl.table)
        ch = by_table[ddl.table]
        if ddl.ts:
            sug = assessment.suggestion(ta.qualified)
            roles = planmod.ts_roles(ta, sug)
            key = [roles[0], *roles[2]] if not isinstance(roles, str) else list(ta.primary_key)
        elif ta.is_ts and ta.columns:
            key = [ta.columns[0].name] + [c.name for c in ta.columns if c.primary_tag]
        else:
            key = list(ta.primary_key)
        wm, why, sees = suggest_watermark(ta, assessment.suggestion(ta.qualified))
        target = ddl.target if kind == "postgres" else f"public.{ta.name}"
        if kind != "postgres":
            ddl_create = ddl.create.replace(f"{planmod._qt(ta.schema, ta.name)}", planmod._qt("public", ta.name), 1)
            post = [s.replace(planmod._qt(ta.schema, ta.name), planmod._qt("public", ta.name)) for s in ddl.post_load]
        else:
            ddl_create, post = ddl.create, list(ddl.post_load)
        out.tables.append(TableEntry(
            table=ta.qualified, target=target, rows=ta.rows, bytes=ta.bytes or 0, complexity=ta.complexity,
            key=key, ts=ddl.ts, create=ddl_create, post_load=post, warnings=list(ddl.warnings), method=ch.method,
            workers=ch.workers, chunk_rows=ch.chunk_rows, batch_rows=ch.batch_rows,
            thread_concurrency=ch.thread_concurrency, reason=ch.reason, watermark=wm, watermark_reason=why,
            sees_updates=sees, database=req.ts_database if ddl.ts and kind == "kwdb-ts" else ""))
    out.notes = strategy_notes(out)
    return out


def strategy_notes(p: MigrationPlan) -> list[str]:
    """Migration-wide choices with their reasons (downtime, writes, deployment, order)."""
    r = p.requirements
    notes = []
    if r.source_kind == "csv":
        notes.append("source is files: schema, then an import per table; no change capture (files do not change)")
    elif not r.source_writes:
        notes.append("the source takes no writes during the move: copy once, validate, switch "
                     "(phases 3 and 4 are skipped)")
    elif r.downtime == "hours":
        notes.append("writes continue but a maintenance window of hours is allowed: copy the history now, then "
                     "stop writes and run one catch-up sync in the window")
    else:
        notes.append(f"writes continue and downtime must stay within {r.downtime}: copy the history while the "
                     "application runs, sync the changes by watermark until the lag is small, then a short "
                     "cutover (final sync + validation) while writes are stopped")
    full = [t.table for t in p.included if t.key and not t.sees_updates]
    blind = [t.table for t in p.included if not t.key and not t.watermark]
    if r.source_writes and r.source_kind != "csv":
        from kwtui.changes import method_for

        groups: dict[tuple[str, str], list[str]] = {}
        for t in p.included:
            groups.setdefault(method_for(r.source_kind, t.key, t.watermark, t.sees_updates), []).append(t.table)
        for (method, why), names in groups.items():
            notes.append(f"change capture of {', '.join(names)}: {method}: {why}")
    if r.source_kind == "postgres":
        full = []  # the catch-up by xmin sees updates and deletes without an updated_at column
        blind = [t.table for t in p.included if not t.key]
    if r.source_kind == "kwdb":
        full = [t.table for t in p.included if t.key]
    if r.source_writes and full:
        notes.append(f"{', '.join(full)}: " + ("KWDB rows carry no MVCC timestamp and a watermark cannot see late "
                                               "commits or deletes" if r.source_kind == "kwdb" else
                                               "no updated_at-like column, so the watermark sees inserts only")
                     + ": at cutover these are reconciled in full (every row compared, changed rows upserted, deleted "
                     "rows removed), which adds to the downtime")
    if r.source_writes and blind:
        notes.append(f"{', '.join(blind)}: no key and no watermark: changes after the copy are not synced; "
                     "the validation compares them by content")
    if r.deployment == "multi-replica":
        notes.append("multi-replica target: every row is written to each replica; batches are halved and "
                     "IMPORT concurrency kept at most 4 per node")
    elif r.deployment == "single-replica":
        notes.append("single-replica cluster: no redundancy during the load; take a backup before cutover")
    ts_in = [t.table for t in p.included if t.database]
    if ts_in:
        notes.append(f"{', '.join(ts_in)} go to the TS database {r.ts_database} (the schema phase creates it: "
                     f"CREATE TS DATABASE); the other tables to the target's relational database")
    if any(t.ts for t in p.included):
        notes.append("time-series tables are loaded in timestamp order (KWDB writes time-ordered rows fastest) "
                     "with multi-row INSERT, since TS tables have no COPY")
    fks = [t.table for t in p.included if any(s.startswith("ALTER TABLE") for s in t.post_load)]
    if fks:
        notes.append(f"parents before children; foreign keys of {', '.join(fks)} are added after the load")
    pulled = [t.table for t in p.included if t.method == VIA_IMPORT]
    if pulled:
        notes.append(f"{', '.join(pulled)}: KWDB's IMPORT pulls the rows kwtui serves over HTTP (the node must reach "
                     f"{r.serve_host or '127.0.0.1'}); each target table must be empty")
    big = [t for t in p.included if t.method == "native IMPORT"]
    if big:
        notes.append(f"native IMPORT for {', '.join(t.table for t in big)}: export to files, place them in the "
                     "server's extern directory (kwtui export; --stage), IMPORT INTO with thread_concurrency "
                     f"{big[0].thread_concurrency}; kwtui run streams them instead when the files are not staged")
    return notes


def deployment_of(info: Any) -> str:
    """The plan's deployment name from a connected server's info (PostgreSQL: a single node)."""
    text = str(getattr(info, "deployment", "") or "")
    if getattr(info, "kind", "") != "kwdb":
        return "single node"
    if text.startswith("multi"):
        return "multi-replica"
    if text.startswith("single-replica"):
        return "single-replica"
    return "single node"


def safe_reference(text: str) -> str:
    """A source/target as the plan file keeps it: a profile name, a path, or a URI without its password."""
    if "://" in text or "=" in text:
        from psycopg import conninfo

        from kwtui.profiles import SECRET_KEYS, conninfo_text

        try:
            params = conninfo.conninfo_to_dict(text)
        except Exception:
            raise UsageError("not a valid connection string") from None
        params = {k: v for k, v in params.items() if k not in SECRET_KEYS and v not in (None, "")}
        return _uri(params) or conninfo_text(params)
    return text


def _uri(params: dict[str, Any]) -> str:
    host = params.get("host")
    if not host or str(host).startswith("/"):
        return ""
    from urllib.parse import quote, urlencode

    user = f"{quote(str(params['user']))}@" if params.get("user") else ""
    port = f":{params['port']}" if params.get("port") else ""
    db = f"/{quote(str(params['dbname']))}" if params.get("dbname") else ""
    rest = {k: v for k, v in params.items() if k not in ("host", "port", "user", "dbname")}
    # quote, not quote_plus: libpq reads a '+' in a URI as a plus, not a space (options=-c%20x%3Dy)
    return f"postgresql://{user}{host}{port}{db}" + (f"?{urlencode(rest, quote_via=quote)}" if rest else "")


async def plan_migration(req: Requirements, src: Any | None, dst: Any | None, *, exact: bool = False,
                         eta: bool = True, listener: Callable[[str], None] | None = None) -> MigrationPlan:
    """Assess the source (a server, or files), detect the target, build the plan and (optionally) its ETA."""
    req.check()
    say = listener or (lambda _m: None)
    files: dict[str, list[str]] = {}
    if req.source_kind == "csv":
        say(f"reading {req.source}")
        assessment, files = await asyncio.to_thread(assess_files, req.source)
    else:
        assert src is not None
        say("assessing the source")
        assessment = await planmod.assess(src, tables=req.tables or None, exact=exact)
        if req.ts_suggest:
            say("measuring time-series candidates")
            await planmod.suggest_ts(assessment, src)
    if not assessment.tables:
        raise UsageError("the source has no tables to migrate")
    if dst is not None and dst.info is not None:
        req.deployment = deployment_of(dst.info)
        if dst.info.kind == "postgres":
            req.target_kind = "postgres"
        elif req.target_kind == "postgres":
            req.target_kind = "kwdb"
    choose_ts_database(req, assessment, dst)
    p = build_plan(assessment, req)
    for t in p.tables:
        t.files = files.get(t.table, [])
    if eta and src is not None:
        say("measuring a sample transfer for the ETA")
        await measure_eta(p, src, dst)
    elif eta:
        await measure_eta(p, None, None)
    return p


def choose_ts_database(req: Requirements, assessment: Assessment, dst: Any | None) -> None:
    """KWDB keeps TS tables in TS databases and relational tables out of them: with a KWDB target
    and accepted TS suggestions (or a TS target kind, or ``--ts-database``) the plan becomes mixed:
    the TS tables go to ``req.ts_database`` (default ``<target database>_ts``), the rest stay."""
    if req.target_kind == "postgres" or req.source_kind == "csv":
        req.ts_database = ""
        return
    kwdb = dst is not None and dst.info is not None and dst.info.kind == "kwdb"
    if kwdb and req.target_kind == "kwdb" and req.ts_suggest and assessment.ts_suggestions:
        req.target_kind = "kwdb-ts"
    if req.target_kind == "kwdb-ts" and not req.ts_database and kwdb:
        assert dst is not None
        req.ts_database = f"{dst.info.database or 'defaultdb'}_ts"
    if req.ts_database and not re.fullmatch(r"[A-Za-z_][\w$]*", req.ts_database):
        raise UsageError(f"TS database name {req.ts_database!r}: letters, digits and _ only")
    if req.ts_database and req.target_kind == "kwdb":
        req.target_kind = "kwdb-ts"


# -- assessment of files (a CSV source) -------------------------------------------------------


def assess_files(path: str | Path, *, count: bool = True) -> tuple[Assessment, dict[str, list[str]]]:
    """An assessment of CSV data (a KWDB export, a folder of CSV files, one file): tables, columns, rows.

    Plain CSV files have no types: their columns are TEXT (from the header line) and the plan
    says so; set the real types in the plan's mapping.
    """
    from kwtui.transfer.csvdialect import CsvDialect, count_records, read_header
    from kwtui.transfer.layout import read_layout

    lay = read_layout(path)
    out = Assessment("files", database=lay.database or Path(path).name)
    files: dict[str, list[str]] = {}
    for lt in lay.tables:
        ta = TableAssessment(lt.schema or "public", lt.name)
        ta.bytes = sum(f.stat().st_size for f in lt.data_files)
        if lt.columns:
            for c in lt.columns:
                from kwtui.transfer.engine import kwdb_to_pg_type

                typ = c.type if lay.kind == "file" else kwdb_to_pg_type(c.type)
                ta.columns.append(ColumnInfo(c.name, typ.lower(), nullable=not c.not_null, default=c.default,
                                             primary_key=c.name in lt.key_columns, is_tag=c.is_tag,
                                             primary_tag=c.primary_tag))
            ta.primary_key = list(lt.primary_key)
            if lt.is_ts:
                ta.kind = "ts table"
        elif lt.data_files:
            with lt.data_files[0].open("rb") as fh:
                header, _ = read_header(fh, CsvDialect())
            ta.columns = [ColumnInfo(h or f"column{i + 1}", "text") for i, h in enumerate(header)]
            ta.findings.append(planmod.Finding(ta.qualified, "untyped CSV", f"{lt.data_files[0].name}: columns "
                                               f"from its header, typed TEXT", "set each column's type in the "
                                               "plan's mapping (e to edit) before the schema phase"))
        if count:
            n = 0
            for f in lt.data_files:
                with f.open("rb") as fh:
                    n += count_records(fh, CsvDialect())
            if not lt.columns:
                n = max(0, n - len(lt.data_files))  # header lines
            ta.exact_rows = n
        ta.complexity = planmod.complexity(ta)
        out.tables.append(ta)
        out.findings += ta.findings
        files[ta.qualified] = [str(f) for f in lt.data_files]
    return out, files


# -- ETA from a sample --------------------------------------------------------------------------


async def measure_eta(p: MigrationPlan, src: Any, dst: Any | None, *, sample_rows: int = 20_000) -> Eta:
    """Copy up to ``sample_rows`` rows of the largest keyed table through the real path into a
    scratch table on the target (dropped after), time it, and scale to every table by its rows.

    Without a target the source read rate alone is measured (and said so).
    """
    from kwtui.transfer.engine import Transfer, TransferOptions, plan_transfer

    if src is not None:
        for t in p.included:  # never analysed: no estimate; count what is there (small, or it would have stats)
            if t.rows <= 0 and t.bytes > 0:
                schema, name = TableName.parse(t.table)
                res = await src.query(sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema),
                                                                                  sql.Identifier(name)))
                t.rows = int(res.rows[0][0])
    cands = sorted((t for t in p.included if t.rows > 0 and t.key), key=lambda t: -t.rows) \
        or sorted((t for t in p.included if t.rows > 0), key=lambda t: -t.rows)
    eta = Eta(measured_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    if not cands or p.requirements.source_kind == "csv":
        eta.method = "no sample: " + ("files are read at disk speed" if cands else "no rows to move")
        eta.rows_per_s = 300_000.0 if cands else 0.0
        eta.sample_rows = 0
    else:
        e = cands[0]
        eta.sample_table = e.table
        n = min(sample_rows, max(1, e.rows))
        schema, name = TableName.parse(e.table)
        started = time.perf_counter()
        if dst is None:
            q = sql.SQL("SELECT * FROM {}.{} LIMIT {}").format(sql.Identifier(schema), sql.Identifier(name),
                                                               sql.Literal(n))
            conn = await src.open_raw()
            try:
                async with conn.cursor() as cur:
                    await cur.execute(q)
                    got = len(await cur.fetchall())
            finally:
                await conn.close()
            eta.method = "source read only (no target connected): the write side is not measured"
        else:
            options = TransferOptions(create_missing=True)
            plans = await plan_transfer(src, dst, [e.table], options)
            tp = plans[0]
            scratch = f"kwtui_sample_{p.id}"
            tp.target_name, tp.create, tp.same_types = scratch, True, True
            if dst.info and dst.info.kind != "postgres":
                tp.target_schema = "public"
            from kwtui.transfer.engine import choose_path

            tp.path = choose_path(src, dst, tp, options)
            upper = None
            if tp.key and e.rows > n:
                cols = sql.SQL(", ").join(sql.Identifier(k) for k in tp.key)
                q = sql.SQL("SELECT {} FROM {}.{} ORDER BY {} OFFSET {} LIMIT 1").format(
                    cols, sql.Identifier(schema), sql.Identifier(name), cols, sql.Literal(n))
                res = await src.query(q)
                upper = tuple(res.rows[0]) if res.rows else None
            tr = Transfer(src, dst, [tp], options)
            try:
                await tr.create_target(tp, with_key=False)
                started = time.perf_counter()
                await tr.copy_range(tp, None, upper, None)
                got = tr.progress.rows
            finally:
                tr.close()
                conn = await dst.open_raw(autocommit=True)
                try:
                    await conn.execute(sql.SQL("DROP TABLE IF EXISTS {}.{}").format(
                        sql.Identifier(tp.target_schema), sql.Identifier(scratch)))
                finally:
                    await conn.close()
            eta.method = f"sample transfer through the real path ({tp.path}) into a scratch table, dropped after"
        eta.sample_seconds = max(1e-6, time.perf_counter() - started)
        eta.sample_rows = got
        eta.rows_per_s = got / eta.sample_seconds if got else 0.0
    width_ref = (cands[0].bytes / cands[0].rows) if cands and cands[0].rows and cands[0].bytes else 0.0
    total = 0.0
    for t in p.included:
        if eta.rows_per_s <= 0 or t.rows <= 0:
            t.eta_s = 0.0
            continue
        width = (t.bytes / t.rows) if t.bytes and t.rows else width_ref
        scale = (width / width_ref) if width_ref and width else 1.0
        t.eta_s = t.rows / eta.rows_per_s * max(0.25, min(4.0, scale)) + 0.05  # + per-table set-up (measured: about 50 ms a table in one job)
        total += t.eta_s
    eta.total_s = total
    p.eta = eta
    return eta


# -- phase state ------------------------------------------------------------------------------


@dataclass
class PhaseRecord:
    key: str
    state: str = PENDING
    started: str = ""
    finished: str = ""
    seconds: float = 0.0
    summary: str = ""
    details: list[str] = field(default_factory=list)
    statements: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    runs: int = 0

    @property
    def title(self) -> str:
        return next(t for k, t, _ in PHASES if k == self.key)


@dataclass
class MigrationState:
    """What ran, kept in the journal (SQLite, :meth:`kwtui.jobs.Journal.put_migration`) under the
    plan's id: the phases, each target object's state (``objects``: created by which run, rows
    loaded, each post-load step done or not) and the source snapshot the next catch-up starts
    from. A ``PLAN.state.json`` left by an older kwtui is read once and moved into the journal."""

    plan_id: str
    phases: list[PhaseRecord] = field(default_factory=lambda: [PhaseRecord(k) for k in PHASE_KEYS])
    path: Path | None = None
    #: target table -> {"created": run stamp or "", "rows": n, "post_load": {statement: "done"}}
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the source snapshot changes are found from (kwtui.snapshot.SnapshotIdentity as a dict)
    snapshot: dict[str, Any] = field(default_factory=dict)
    journal: Any = None

    def obj(self, target: str) -> dict[str, Any]:
        return self.objects.setdefault(target, {"created": "", "rows": None, "post_load": {}})

    def phase(self, key: str) -> PhaseRecord:
        return next(p for p in self.phases if p.key == key)

    def next_phase(self) -> PhaseRecord | None:
        return next((p for p in self.phases if p.state in (PENDING, FAILED, RUNNING)), None)

    @staticmethod
    def path_for(plan_path: str | Path) -> Path:
        p = Path(plan_path).expanduser()
        return p.with_name(p.name + ".state.json")

    @classmethod
    def load(cls, plan: MigrationPlan, plan_path: str | Path | None, journal: Any = None) -> MigrationState:
        st = cls(plan.id)
        if plan_path is not None:
            from kwtui.jobs import Journal

            st.path = cls.path_for(plan_path)
            st.journal = journal or Journal()
            st.reload()
        return st

    def _legacy(self) -> dict[str, Any] | None:
        """An older kwtui's ``PLAN.state.json``: read once, moved into the journal, renamed."""
        if self.path is None or not self.path.exists():
            return None
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise KwtuiError(f"{self.path} is damaged ({exc}): move it away to start the phases afresh") from None
        if data.get("plan_id") != self.plan_id:
            return None
        # tables the old schema phase created: their post-load steps are still kwtui's to run
        created: list[str] = next((p.get("data", {}).get("created", []) for p in data.get("phases", [])
                        if p.get("key") == "schema"), [])
        data.setdefault("objects", {t: {"created": "before the journal", "rows": None, "post_load": {}}
                                    for t in created})
        if self.journal is not None:
            self.journal.put_migration(self.plan_id, data)
            self.path.replace(self.path.with_name(self.path.name + ".migrated"))
        return data

    def reload(self) -> None:
        """Read the phases again from the journal (another kwtui may have run some)."""
        if self.path is None:
            return
        data = (self.journal.get_migration(self.plan_id) if self.journal is not None else None) or self._legacy()
        if data is None:
            return
        self.objects = {k: dict(v) for k, v in (data.get("objects") or {}).items()}
        self.snapshot = dict(data.get("snapshot") or {})
        known = {p["key"]: p for p in data.get("phases", [])}
        self.phases = [PhaseRecord(**{k: v for k, v in known[k2].items() if k in PhaseRecord.__dataclass_fields__})
                       if k2 in known else PhaseRecord(k2) for k2 in PHASE_KEYS]
        if "preflight" not in known and self.phases[1].state != PENDING:  # a state from before preflight existed
            self.phases[0] = PhaseRecord("preflight", SKIPPED, summary="skipped: the migration began before it")
        if not self._locked and self._held_elsewhere():
            return  # another kwtui is running a phase right now
        for ph in self.phases:
            if ph.state == RUNNING:  # nobody holds the lock: whoever ran it died (crash, kill)
                ph.state = FAILED
                ph.summary = "interrupted: run it again (it resumes or repeats safely)"

    _locked: bool = field(default=False, init=False, repr=False)  # this object holds the runner lock

    def _held_elsewhere(self) -> bool:
        if self.path is None:
            return False
        lock = self.path.with_name(self.path.name + ".lock")
        if not lock.exists():
            return False
        import fcntl

        with open(lock, encoding="utf-8") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(fh, fcntl.LOCK_UN)
        return False

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """One runner at a time per plan: an advisory lock beside the state file, then a fresh read."""
        if self.path is None:
            yield
            return
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path.with_name(self.path.name + ".lock"), "a+", encoding="utf-8")  # noqa: SIM115
        try:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.seek(0)
                who = fh.read().strip()
                raise UsageError(f"another kwtui is running this plan's phases ({who or 'unknown process'})",
                                 hint="wait for it to finish; kwtui run PLANFILE --status shows where it is") from None
            fh.seek(0)
            fh.truncate()
            fh.write(f"pid {os.getpid()} since {_now()}")
            fh.flush()
            self._locked = True
            try:
                self.reload()
                yield
            finally:
                self._locked = False
                fcntl.flock(fh, fcntl.LOCK_UN)
        finally:
            fh.close()

    def save(self) -> None:
        if self.path is None or self.journal is None:
            return
        doc = {"plan_id": self.plan_id, "phases": [asdict(p) for p in self.phases], "objects": self.objects,
               "snapshot": self.snapshot}
        self.journal.put_migration(self.plan_id, json.loads(json.dumps(doc, default=str)))


def rows_text(n: int) -> str:
    return f"{n:,} row" + ("" if n == 1 else "s")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


# -- running the phases -----------------------------------------------------------------------


PhaseListener = Callable[[str, str], None]  # (phase key, message)


class PhaseError(KwtuiError):
    """A phase could not finish; its record says why."""


def connection_strings(params: dict[str, Any], default_port: int = 5432) -> dict[str, str]:
    """One server's connection as a libpq URI, libpq key=value and JDBC (no password): right for a
    Unix-socket directory (host=/path) as for host:port."""
    from urllib.parse import quote

    host = str(params.get("host") or "TARGET_HOST")
    port = str(params.get("port") or default_port)
    db = str(params.get("dbname") or "DATABASE")
    user = str(params.get("user") or "USER")
    extra = {k: str(params[k]) for k in ("sslmode", "sslrootcert", "sslcert", "sslkey") if params.get(k)}
    if extra.get("sslmode") in ("disable", "allow", "prefer"):
        extra = {k: v for k, v in extra.items() if k == "sslmode" and v == "disable"}
    socket = host.startswith("/") or host.startswith("@")
    query = "&".join(f"{k}={quote(v, safe='/')}" for k, v in extra.items())

    def kv(value: str) -> str:
        return value if value and not re.search(r"[\s'\\]", value) else \
            "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

    keyvals = " ".join(f"{k}={kv(v)}" for k, v in (("host", host), ("port", port), ("dbname", db), ("user", user),
                                                    *extra.items()))
    if socket:
        uri = (f"postgresql://{quote(user)}@/{quote(db)}?host={quote(host, safe='/@')}&port={port}"
               + (f"&{query}" if query else ""))
        jdbc = (f"jdbc:postgresql://localhost:{port}/{db}?user={user}&socketFactory="
                f"org.newsclub.net.unix.AFUNIXSocketFactory$FactoryArg&socketFactoryArg={quote(host, safe='/')}/.s.PGSQL.{port}"
                " (a Unix socket: needs junixsocket on the classpath; or use the server's TCP host:port)")
    else:
        h = f"[{host}]" if ":" in host else host
        uri = f"postgresql://{quote(user)}@{h}:{port}/{quote(db)}" + (f"?{query}" if query else "")
        jdbc = f"jdbc:postgresql://{h}:{port}/{db}?user={user}" + (f"&{query}" if query else "")
    return {"uri": uri, "keyvalue": keyvals, "jdbc": jdbc}


def connection_advice(p: MigrationPlan, source: Any, target: Any) -> list[str]:
    """What to change in the application's connection string at cutover (only after an equal validation)."""
    info = getattr(target, "info", None)
    t = getattr(target, "target", target)
    params = dict(getattr(t, "params", {}) or {})
    kwdb = p.target_kind.startswith("kwdb")
    strings = connection_strings(params, 26257 if kwdb else 5432)
    if hasattr(source, "params"):
        src_params = dict(source.params)
        source_desc = connection_strings(src_params)["uri"] if src_params else str(source)
    else:
        source_desc = str(source)
    lines = [f"Point the application at the target instead of {source_desc}:",
             f"  URI: {strings['uri']}",
             f"  key=value: {strings['keyvalue']}",
             f"  JDBC: {strings['jdbc']}"]
    ts_db = p.requirements.ts_database
    if ts_db:
        ts_tables = ", ".join(t.target for t in p.included if t.database == ts_db) or "none"
        lines.append(f"  time-series tables ({ts_tables}) are in the TS database {ts_db}: "
                     f"{connection_strings({**params, 'dbname': ts_db}, 26257)['uri']} "
                     f"(or name them {ts_db}.public.<table>)")
    if kwdb:
        lines += ["  KWDB speaks the PostgreSQL protocol: keep the PostgreSQL driver; check SQL the application "
                  "uses that KWDB lacks (see the plan's warnings)",
                  "  sequences/serial columns: defaults were dropped; new ids need unique_rowid() or a sequence"]
    if info is not None and getattr(info, "kind", "") == "postgres":
        lines.append("  sequences of identity/serial columns were moved past the copied ids by the cutover")
    lines.append("Keep the source read-only (not dropped) until the monitoring phase is done: it is the rollback.")
    return lines


class MigrationRunner:
    """Runs a plan's phases against connected services; records every step in the state."""

    def __init__(self, plan: MigrationPlan, state: MigrationState, src: Any, dst: Any, *, journal: Any = None,
                 listener: PhaseListener | None = None, report_dir: Path | None = None,
                 if_exists: str | None = None, keep_bookkeeping: bool = False,
                 accept_warnings: bool = False) -> None:
        from kwtui.transfer.tables import check_if_exists

        #: keep kwtui's own schema (kwtui_journal) on the target after the cutover
        self.keep_bookkeeping = keep_bookkeeping

        self.plan, self.state, self.src, self.dst = plan, state, src, dst
        #: the table handling of this run (--if-exists), else the plan's
        self.if_exists = check_if_exists(if_exists or plan.requirements.if_exists)
        self.journal = journal
        self.listener = listener
        self.report_dir = report_dir
        self.cancelled = False
        #: the preflight's warnings are accepted (--accept-warnings; A on the phases screen): never its blockers
        self.accept_warnings = accept_warnings
        #: a mixed plan's TS database(s): opened when a phase first needs one, closed when the phase ends
        self._ts_services: dict[str, Any] = {}

    async def target_of(self, t: TableEntry) -> Any:
        """The connected service of the database ``t`` goes to (the TS database of a mixed plan)."""
        if not t.database or self.dst is None:
            return self.dst
        svc = self._ts_services.get(t.database)
        if svc is None:
            from dataclasses import replace

            from kwtui.connection import ConnectionService

            target = replace(self.dst.target.with_database(t.database),
                             password=getattr(self.dst, "_password", None) or self.dst.target.password)
            svc = ConnectionService(target, password_prompt=self.dst.password_prompt)
            await svc.connect()
            self._ts_services[t.database] = svc
        return svc

    async def groups(self) -> list[tuple[Any, list[TableEntry]]]:
        """The included tables by target database (the relational one first), each with its service."""
        out: dict[str, list[TableEntry]] = {}
        for t in self.plan.included:
            out.setdefault(t.database, []).append(t)
        return [(await self.target_of(ts[0]), ts) for _db, ts in sorted(out.items())]

    async def close_ts(self) -> None:
        services, self._ts_services = list(self._ts_services.values()), {}
        for svc in services:
            with contextlib.suppress(Exception):
                await svc.close()

    def say(self, key: str, message: str) -> None:
        if self.listener is not None:
            self.listener(key, message)

    def skip_reason(self, key: str) -> str | None:
        r = self.plan.requirements
        if key in ("capture", "catchup"):
            if r.source_kind == "csv":
                return "the source is files: nothing changes after the import"
            if not r.source_writes:
                return "the source takes no writes during the move"
            if r.source_kind == "postgres":
                if not any(t.key for t in self.plan.included):
                    return "no table has a key: changes cannot be matched (the validation compares by content)"
            elif not any(t.watermark for t in self.plan.included):
                return "no table has a watermark column (the cutover reconciles the keyed tables in full)"
        return None

    async def run_phase(self, key: str, *, confirmed: bool = False) -> PhaseRecord:
        if key not in PHASE_KEYS:
            raise UsageError(f"unknown phase {key!r}: one of {', '.join(PHASE_KEYS)}")
        with self.state.locked():
            return await self._run_phase(key, confirmed=confirmed)

    async def _run_phase(self, key: str, *, confirmed: bool) -> PhaseRecord:
        if key not in PHASE_KEYS:
            raise UsageError(f"unknown phase {key!r}: one of {', '.join(PHASE_KEYS)}")
        idx = PHASE_KEYS.index(key)
        for earlier in self.state.phases[:idx]:
            if earlier.key == "preflight" and earlier.state == FAILED:
                raise UsageError(preflight_block(earlier), hint="fix them and run the preflight again"
                                 + ("" if earlier.data.get("blockers") else "; or accept the warnings: kwtui run "
                                    "--accept-warnings, A on the phases screen"))
            if earlier.state not in (DONE, SKIPPED):
                raise UsageError(f"phase {idx} ({PHASES[idx][1]}) waits for phase "
                                 f"{PHASE_KEYS.index(earlier.key)} ({earlier.title}), which is {earlier.state}")
        if key == "cutover" and not confirmed:
            raise UsageError("cutover needs the application's writes stopped: confirm it (kwtui run --yes, or "
                             "Enter on the phases screen)")
        rec = self.state.phase(key)
        why = self.skip_reason(key)
        if why is not None:
            rec.state, rec.summary, rec.finished = SKIPPED, f"skipped: {why}", _now()
            self.state.save()
            return rec
        rec.state, rec.started, rec.finished, rec.runs = RUNNING, _now(), "", rec.runs + 1
        rec.details, rec.statements = [], []
        self.state.save()
        t0 = time.perf_counter()
        try:
            await getattr(self, "_" + key.replace("-", "_"))(rec)
        except asyncio.CancelledError:
            rec.state, rec.summary = FAILED, "cancelled: run it again to continue"
            raise
        except (KwtuiError, OSError) as exc:
            rec.state = FAILED
            rec.summary = f"failed: {exc.one_line() if isinstance(exc, KwtuiError) else exc}"
        except Exception as exc:  # a database error in a phase must not lose the record
            from kwtui.transfer.engine import error_message

            rec.state, rec.summary = FAILED, f"failed: {error_message(exc)}"
        else:
            if rec.state == RUNNING:
                rec.state = DONE
        finally:
            await self.close_ts()
            rec.seconds = time.perf_counter() - t0
            rec.finished = _now()
            self.state.save()
        return rec

    async def run_all(self, *, through: str | None = None, confirmed: bool = False) -> list[PhaseRecord]:
        done = []
        for key in PHASE_KEYS:
            if self.state.phase(key).state in (DONE, SKIPPED):
                continue
            if key == "cutover" and not confirmed:
                break
            rec = await self.run_phase(key, confirmed=confirmed)
            done.append(rec)
            if rec.state == FAILED or key == through:
                break
        return done

    # -- the phases -----------------------------------------------------------------------

    async def _execute(self, rec: PhaseRecord, statement: str, svc: Any = None) -> None:
        rec.statements.append(statement if svc is None or svc is self.dst
                              else f"-- in {svc.target.params.get('dbname')}:\n{statement}")
        conn = await (svc or self.dst).open_raw(autocommit=True)
        try:
            await conn.execute(statement.rstrip().rstrip(";"))  # type: ignore[arg-type]
        finally:
            await conn.close()

    async def _existing(self, target: str, svc: Any = None) -> bool:
        schema, name = TableName.parse(target)
        svc = svc or self.dst
        try:
            tables = await svc.dialect.list_tables(svc, schema)
        except KwtuiError:
            return False
        return any(t.name == name for t in tables)

    async def _schema(self, rec: PhaseRecord) -> None:
        from kwtui.inventory_run import check_losses, run_statements

        check_losses(self.plan)
        await run_statements(self, rec, "schema", self.plan.pre_data)
        created, kept = [], []
        on_pg = self.dst.info is not None and self.dst.info.kind == "postgres"
        for db in dict.fromkeys(t.database for t in self.plan.included if t.database):
            await self._create_ts_database(rec, db)
        for t in self.plan.included:
            schema = TableName.parse(t.target).schema
            if on_pg and schema != "public":
                stmt = f"CREATE SCHEMA IF NOT EXISTS {pg_ident(schema)};"
                if stmt not in rec.statements:
                    await self._execute(rec, stmt)
            obj = self.state.obj(t.target)
            svc = await self.target_of(t)
            if await self._existing(t.target, svc):
                if obj.get("created"):  # made by an earlier (failed) run of this migration: still ours
                    created.append(t.target)
                    rec.details.append(f"{t.target}: created by this migration's run of {obj['created']}")
                    continue
                kept.append(t.target)
                rec.details.append(f"{t.target}: exists, kept as it is (its columns are checked by the copy)")
                continue
            self.say("schema", f"creating {t.target}")
            await self._execute(rec, t.create, svc)
            obj.update(created=rec.started, rows=None, post_load={})
            self.state.save()  # at once: a failure later in this phase must not lose it
            created.append(t.target)
            rec.details.append(f"{t.target}: created" + (f" in the TS database {t.database}" if t.database else ""))
        rec.data = {"created": created, "kept": kept}
        rec.summary = f"{len(created)} table(s) created, {len(kept)} kept"

    async def _create_ts_database(self, rec: PhaseRecord, db: str) -> None:
        """``CREATE TS DATABASE`` for a mixed plan; a relational database of that name is refused."""
        if self.dst.info is None or self.dst.info.kind != "kwdb":
            raise PhaseError(f"the plan puts TS tables in the TS database {db}, but the target is not KWDB")
        rows = (await self.dst.query(sql.SQL("SHOW DATABASES"))).rows
        engine = next((str(r[1]) for r in rows if r[0] == db), None)
        if engine is not None and engine.upper() != "TIME SERIES":
            raise PhaseError(f"{db} exists as a {engine.lower()} database: KWDB keeps TS tables in a TS database; "
                             "set another TS database name in the plan (ts_database)")
        if engine is None:
            self.say("schema", f"creating the TS database {db}")
            await self._execute(rec, f"CREATE TS DATABASE {planmod._q(db)};")
            rec.details.append(f"{db}: TS database created")
        else:
            rec.details.append(f"{db}: TS database exists, kept")

    async def _watermarks(self, holder: Any = None) -> dict[str, str | None]:
        """Each table's watermark; with a PostgreSQL ``holder``, read in its snapshot (the copy's)."""
        out: dict[str, str | None] = {}
        for t in self.plan.included:
            if not t.watermark:
                continue
            schema, name = TableName.parse(t.table)
            q = sql.SQL("SELECT max({})::text FROM {}.{}").format(
                sql.Identifier(t.watermark), sql.Identifier(schema), sql.Identifier(name))
            if holder is not None and holder.conn is not None:
                out[t.table] = await holder.scalar(q)
                continue
            if holder is not None and holder.kind == "kwdb":  # as of the copy's timestamp
                q = q + sql.SQL(" AS OF SYSTEM TIME {}").format(sql.Literal(holder.exported))
            res = await self.src.query(q)
            out[t.table] = res.rows[0][0] if res.rows else None
        return out

    async def _replace_targets(self, rec: PhaseRecord) -> str:
        """``--if-exists replace`` before the history's first run: each included target that exists is
        dropped and made again with the plan's DDL (so its post-load indexes and keys follow). Returns
        the table handling left for the copy itself (fail: the replaced tables are empty now)."""
        from kwtui.transfer.tables import FAIL, REPLACE, handle_existing

        if self.if_exists != REPLACE:
            return self.if_exists
        created = self.state.phase("schema").data.setdefault("created", [])
        for t in self.plan.included:
            svc = await self.target_of(t)
            if not await self._existing(t.target, svc):
                continue
            schema, name = TableName.parse(t.target)

            async def recreate(t: TableEntry = t, svc: Any = svc) -> None:
                await self._execute(rec, t.create, svc)

            done = await handle_existing(svc, schema, name, REPLACE, is_ts=t.ts, recreate=recreate)
            rec.details.append(done)
            self.state.obj(t.target).update(created=rec.started, rows=None, post_load={})
            if t.target not in created:
                created.append(t.target)
        self.state.save()
        return FAIL

    async def _historical(self, rec: PhaseRecord) -> None:
        if self.plan.requirements.source_kind == "csv":
            await self._import_files(rec)
        else:
            await self._copy(rec)
        await self._post_load(rec)
        from kwtui.inventory_run import run_statements  # views, functions, triggers... after the data

        await run_statements(self, rec, "historical", self.plan.post_data)

    async def _post_load(self, rec: PhaseRecord) -> None:
        """Each created table's indexes and keys, each step once (a re-run skips the done ones);
        a step that fails fails the phase, with the cause and, for a foreign key, the orphan rows."""
        from kwtui.postload import orphan_keys, orphan_text, parse_foreign_key
        from kwtui.transfer.engine import error_message

        failed: list[str] = []
        for t in self.plan.included:
            obj = self.state.obj(t.target)
            if not obj.get("created"):
                if t.post_load:
                    rec.details.append(f"{t.target}: existed before, its indexes/keys left as they are")
                continue
            for stmt in t.post_load:
                if obj["post_load"].get(stmt) == DONE:
                    continue
                self.say("historical", f"{t.target}: {stmt.split('(')[0].strip()}")
                svc = await self.target_of(t)
                try:
                    await self._execute(rec, stmt, svc)
                except Exception as exc:
                    state = getattr(exc, "sqlstate", None) or ""
                    if state in ("42P07", "42710"):  # made by a run that died before it could say so
                        obj["post_load"][stmt] = DONE
                        rec.details.append(f"{t.target}: {stmt} already there")
                        continue
                    cause = error_message(exc)
                    fk = parse_foreign_key(stmt)
                    if fk is not None and state == "23503":
                        with contextlib.suppress(Exception):
                            keys, total = await orphan_keys(svc, fk)
                            cause += "; " + orphan_text(fk, keys, total)
                    obj["post_load"][stmt] = f"failed: {cause}"
                    rec.details.append(f"{t.target}: {stmt} failed: {cause}")
                    rec.data.setdefault("post_load_failed", []).append(stmt)
                    failed.append(f"{stmt.split(' (')[0].rstrip(';')}: {cause}")
                else:
                    obj["post_load"][stmt] = DONE
                self.state.save()
        if failed:
            raise PhaseError(f"{len(failed)} post-load step(s) failed; the migration is not complete: "
                             + " | ".join(failed))

    async def _copy(self, rec: PhaseRecord) -> None:
        """The history as of ONE source snapshot (kwtui.snapshot): every batch of every table, in every
        target database of the plan, reads it, and the watermarks and the change-capture baseline come
        from it. A resumed job cannot get the old snapshot back: its remaining batches read a new one,
        and then every change since the old one is applied as of the new one (kwtui.changes), so the
        target is one snapshot again. Tables planned ``via-import`` are read by KWDB's IMPORT from
        kwtui's spool, which PostgreSQL's COPY writes outside that snapshot: said in the record; the
        catch-up (by xmin, from the snapshot) then carries what changed meanwhile."""
        from kwtui.snapshot import SnapshotHolder, SnapshotIdentity

        started = any(k == "job" or k.startswith("job ") for k in rec.data)
        earlier = SnapshotIdentity.from_dict(rec.data.get("snapshot"))
        if earlier is not None and started and earlier.kind == "kwdb":
            holder = SnapshotHolder(None, "kwdb", earlier.ident, earlier)  # a timestamp outlives the process
        else:
            holder = await SnapshotHolder.open(self.src)
        tables: list[dict[str, Any]] = []
        errors: list[str] = []
        summary: list[str] = []
        try:
            if earlier is None or not started:
                # the snapshot point for change capture: the copy's own snapshot, so no change is missed
                rec.data["snapshot"] = holder.identity.as_dict()
                rec.data["watermarks"] = await self._watermarks(holder)
                rec.data["watermarks_at"] = _now()
                rec.details.append(f"one snapshot for every table: {holder.identity.describe()}")
            elif holder.identity == earlier:
                rec.details.append(f"resumed: the remaining batches read the same {earlier.describe()}")
            else:
                rec.details.append(f"resumed: the copy's snapshot {earlier.ident} ended with the process that held "
                                   f"it; the remaining batches read {holder.identity.ident}, then the changes "
                                   "since the first are applied as of it")
            if not started or "copy_mode" not in rec.data:
                # the table handling (this run's --if-exists) happens before any job exists; a resumed job
                # keeps its own rows
                rec.data["copy_mode"] = await self._replace_targets(rec)
            self.state.save()
            for svc, entries in await self.groups():
                streamed = [t for t in entries if t.method != VIA_IMPORT]
                if streamed:
                    try:
                        summary.append(await self._copy_job(rec, svc, streamed, tables, holder))
                    except PhaseError as exc:
                        errors.append(exc.message)
                for t in entries:
                    if t.method == VIA_IMPORT:
                        try:
                            tables.append(await self._pull(rec, svc, t))
                        except KwtuiError as exc:
                            errors.append(f"{t.table}: {exc.one_line()}")
                            rec.details.append(f"{t.table} -> {t.target} (via IMPORT): FAILED: {exc.one_line()}")
                            tables.append({"table": t.table, "target": t.target, "rows": 0, "path": VIA_IMPORT,
                                           "error": exc.one_line()})
            if not errors and started and earlier is not None and rec.data.get("snapshot") != \
                    holder.identity.as_dict():
                await self._repair_to(rec, earlier, holder)
        finally:
            await holder.close()
        rec.data["rows"] = sum(t["rows"] for t in tables)
        rec.data["tables"] = tables
        if errors:
            raise PhaseError("; ".join(errors))
        pulled = [t for t in tables if t["path"] == VIA_IMPORT]
        if pulled:
            summary.append(f"{sum(t['rows'] for t in pulled):,} rows in {len(pulled)} table(s) by KWDB's IMPORT")
            rec.details.append("tables loaded by KWDB's IMPORT were read outside the copy's snapshot: the catch-up "
                               "carries what changed since it")
        rec.summary = "; ".join(summary)

    async def _copy_job(self, rec: PhaseRecord, svc: Any, entries: list[TableEntry],
                        tables: list[dict[str, Any]], holder: Any) -> str:
        """One journaled transfer job per target database (resumable), reading ``holder``'s snapshot."""
        from kwtui.transfer.engine import TransferOptions
        from kwtui.transfer.resumable import JobRunner, create_transfer_job

        db = entries[0].database
        key = "job" if not db else f"job {db}"
        workers = max((t.workers for t in entries), default=1)
        batch = min((t.batch_rows for t in entries), default=500)
        chunk = max((t.chunk_rows for t in entries), default=100_000)
        options = TransferOptions(workers=workers, batch_rows=batch, create_missing=False,
                                  if_exists=rec.data.get("copy_mode") or self.if_exists)
        job_id = rec.data.get(key)
        if job_id is not None and self.journal is not None:
            job = self.journal.get(int(job_id))
            if job.status == "completed":
                tables += [{"table": t.name, "target": t.target, "rows": t.rows, "path": t.path, "error": None}
                           for t in job.tables]
                return f"job {job_id} already completed: {job.rows:,} rows"
        if job_id is None or self.journal is None:
            job_id = await create_transfer_job(self.journal, self.src, svc, [t.table for t in entries], options,
                                               batch_rows=chunk)
            rec.data[key] = job_id
            self.state.save()
        self.say("historical", f"transfer job {job_id}" + (f" into the TS database {db}" if db else ""))

        def listen(ev: Any) -> None:
            if self.listener is not None and ev.phase in ("copy", "create", "index", "failed"):
                self.listener("historical", f"{ev.table or ''}: {ev.rows:,} rows, {ev.rows_per_s:,.0f} rows/s"
                              if ev.phase == "copy" else f"{ev.table or ''}: {ev.message}")

        outcome = await JobRunner(self.journal, job_id, self.src, svc, listen, snapshot=holder.exported).run()
        tables += [{"table": t["name"], "target": t["target"], "rows": t["rows"], "path": t["path"],
                    "error": t["error"]} for t in outcome.tables]
        for t in outcome.tables:
            rec.details.append(f"{t['name']} -> {t['target']} ({t['path']}): {t['rows']:,} rows"
                               + (f", FAILED: {t['error']}" if t["error"] else ""))
            self.state.obj(t["target"])["rows"] = t["rows"]
        if outcome.status != "completed":
            raise PhaseError(f"transfer job {job_id} {outcome.status}: {outcome.error or 'see kwtui jobs show'}"
                             f" (run the phase again: the job resumes)")
        return f"job {job_id}: {outcome.rows:,} rows in {len(outcome.tables)} table(s)"

    async def _pull(self, rec: PhaseRecord, svc: Any, t: TableEntry) -> dict[str, Any]:
        """One table by ``--via-import`` (KWDB's IMPORT pulls what kwtui serves): whole or nothing for a
        relational table; done tables are kept in the record, so a re-run skips them; a target that holds
        rows is refused (a failed TS IMPORT keeps what it wrote: empty it first)."""
        from kwtui.transfer.engine import TransferOptions, plan_transfer
        from kwtui.transfer.pull import PATH_LABEL, pull_table
        from kwtui.transfer.tables import TableLock

        done = rec.data.setdefault("pulled", {})
        if t.table in done:
            rec.details.append(f"{t.table} -> {t.target} ({PATH_LABEL}): {done[t.table]:,} rows, loaded by an "
                               "earlier run")
            return {"table": t.table, "target": t.target, "rows": done[t.table], "path": VIA_IMPORT, "error": None}
        plans = await plan_transfer(self.src, svc, [t.table], TransferOptions(create_missing=False))
        schema, name = TableName.parse(t.target)
        self.say("historical", f"{t.table}: KWDB's IMPORT pulls the rows kwtui serves")
        lock = TableLock(svc, [(schema, name)], f"migration {self.plan.id}")
        await lock.acquire()
        try:
            res = await pull_table(self.src, svc, plans[0], host=self.plan.requirements.serve_host or "127.0.0.1",
                                   thread_concurrency=None if t.ts else t.thread_concurrency)
        finally:
            await lock.release()
        done[t.table] = res.rows
        self.state.save()
        rate = res.rows / res.elapsed if res.elapsed else 0.0
        rec.details.append(f"{t.table} -> {t.target} ({PATH_LABEL}): {res.rows:,} rows in {res.elapsed:.2f} s "
                           f"({rate:,.0f} rows/s)" + "".join(f"; {n}" for n in res.notices))
        return {"table": t.table, "target": t.target, "rows": res.rows, "path": VIA_IMPORT, "error": None,
                "rows_per_s": round(rate)}

    async def _repair_to(self, rec: PhaseRecord, earlier: Any, holder: Any) -> None:
        """A resumed copy read two snapshots: bring every table to the newer one."""
        if holder.kind != "postgres":
            rec.details.append("KWDB source resumed with a new timestamp: the cutover reconciles every keyed table "
                               "in full")
            rec.data["snapshot"] = holder.identity.as_dict()
            return
        from kwtui.changes import catch_up

        results = [await catch_up(self.src, svc, self._change_tables(entries), earlier, snapshot=holder.exported,
                                  listener=lambda m: self.say("historical", m))
                   for svc, entries in await self.groups()]
        rec.details.append(f"changes between the two snapshots applied: "
                           f"{rows_text(sum(r.rows_moved for r in results))}")
        rec.data["snapshot"] = results[0].snapshot.as_dict()

    def _change_tables(self, entries: list[TableEntry] | None = None) -> list[Any]:
        from kwtui.changes import ChangeTable

        return [ChangeTable(t.table, t.target, list(t.key), t.ts)
                for t in (self.plan.included if entries is None else entries)]

    async def _import_files(self, rec: PhaseRecord) -> None:
        from kwtui.transfer.csvdialect import CsvDialect
        from kwtui.transfer.files import import_path

        rows = rejects = 0
        tables = []
        mode = await self._replace_targets(rec)
        for t in self.plan.included:
            if not t.files:
                continue
            untyped = any(f.construct == "untyped CSV" for f in self.plan.assessment.table(t.table).findings)
            for i, f in enumerate(t.files):
                self.say("historical", f"importing {f} into {t.target}")
                # the table handling applies before the table's first file; its later files add to it
                out = await import_path(self.dst, Path(f), CsvDialect(), into=t.target, skip_header=untyped,
                                        batch_rows=t.batch_rows, journal=self.journal,
                                        if_exists=mode if i == 0 else "append")
                rows += out.rows
                rejects += out.rejects
                rec.details.append(f"{f} -> {t.target}: {out.rows:,} rows, {out.rejects:,} rejected"
                                   + (f" (reject file {out.tables[0].reject_file})"
                                      if out.rejects and out.tables and getattr(out.tables[0], "reject_file", None)
                                      else ""))
            tables.append({"table": t.table, "target": t.target, "rows": rows, "path": "import", "error": None})
        rec.data.update({"rows": rows, "rejects": rejects, "tables": tables})
        rec.summary = f"{rows:,} rows imported, {rejects:,} rejected"

    async def _capture(self, rec: PhaseRecord) -> None:
        marks = self.state.phase("historical").data.get("watermarks") or {}
        if self.journal is None:
            raise PhaseError("change capture needs the journal")
        for t in self.plan.included:
            if not t.watermark:
                rec.details.append(f"{t.table}: no watermark column ({t.watermark_reason})")
                continue
            value = marks.get(t.table)
            ident = (self.src.target.describe(), (await self.target_of(t)).target.describe(), t.table, t.watermark)
            self.journal.set_watermark(*ident, value, 0)
            rec.details.append(f"{t.table}: watermark {t.watermark} = {value if value is not None else '(empty)'} "
                               "as of the copy's start")
        rec.data["watermarks"] = marks
        rec.summary = f"{sum(1 for t in self.plan.included if t.watermark)} table(s) tracked by watermark"
        snap = self.state.phase("historical").data.get("snapshot")
        if snap and self.src is not None and self.src.info is not None and self.src.info.kind == "postgres":
            from kwtui.changes import method_for

            self.state.snapshot = dict(snap)
            rec.data["snapshot"] = dict(snap)
            for t in self.plan.included:
                method, why = method_for("postgres", t.key)
                rec.details.append(f"{t.table}: {method}: {why}")
            keyed = sum(1 for t in self.plan.included if t.key)
            rec.summary = (f"{keyed} table(s) tracked from the copy's snapshot {snap.get('ident')} (changes by xmin, "
                           "deletes by key)")

    async def _sync(self, rec: PhaseRecord, phase: str, *, final: bool = False) -> int:
        """Catch-up (``final`` False) or the cutover's final sync: there, tables whose watermark
        sees inserts only (or which have none) are reconciled in full, and deletes are detected."""
        from kwtui.snapshot import SnapshotIdentity
        from kwtui.sync import sync_table

        base = SnapshotIdentity.from_dict(self.state.snapshot)
        if base is not None and base.kind == "postgres" and self.src.info is not None \
                and self.src.info.kind == "postgres":
            return await self._catch_up(rec, phase, base)
        moved = 0
        results = []
        for t in self.plan.included:
            # no snapshot to find changes by (a KWDB source): a watermark cannot see late commits or
            # deletes, so the final sync reconciles every keyed table in full
            full = final and bool(t.key)
            if not t.watermark and not full:
                continue
            column = t.watermark if not full else t.key[0]
            self.say(phase, f"reconciling {t.table} in full" if full else f"syncing {t.table} by {t.watermark}")
            key = None if (t.key and not t.ts) else (t.key or None)
            res = await self._reconcile(t) if full else None
            if res is None:
                res = await sync_table(self.src, await self.target_of(t), t.table, column, key=key, journal=self.journal,
                                       delete_detection=final and bool(t.key) and not t.ts, full=full)
            moved += res.rows_moved
            results.append({**res.as_dict(), "full": full})
            rec.details.append(f"{t.table}: {rows_text(res.rows_moved)} moved ({res.rows_read:,} read"
                               + (f", full reconciliation: {res.method}" if full else
                                  f"; watermark {res.watermark_before} -> {res.watermark_after}") + ")"
                               + (f", {res.deleted:,} deleted" if final and t.key and not t.ts else "")
                               + f" in {res.elapsed:.2f} s")
        rec.data.setdefault("syncs", []).append({"at": _now(), "rows_moved": moved, "tables": results})
        rec.data["rows_moved"] = moved
        return moved

    async def _catch_up(self, rec: PhaseRecord, phase: str, base: Any) -> int:
        """Every change since the recorded snapshot (kwtui.changes), then that snapshot moves on."""
        from kwtui.changes import catch_up
        from kwtui.snapshot import SnapshotHolder

        self.say(phase, f"changes since {base.ident}")
        groups = await self.groups()
        # a mixed plan's target databases are caught up one after the other, all reading ONE new
        # snapshot (so the next catch-up starts from one point for every table)
        holder = await SnapshotHolder.open(self.src) if len(groups) > 1 else None
        try:
            results = [await catch_up(self.src, svc, self._change_tables(entries), base,
                                      snapshot=holder.exported if holder is not None else None,
                                      listener=lambda m: self.say(phase, m))
                       for svc, entries in groups]
        finally:
            if holder is not None:
                await holder.close()
        res = results[0]
        moved = sum(r.rows_moved for r in results)
        self.state.snapshot = res.snapshot.as_dict()  # the target committed: the next run starts here
        for r in results:
            for c in r.tables:
                rec.details.append(f"{c.table}: {rows_text(c.rows_moved)} upserted of {c.rows_read:,} changed since "
                                   f"the snapshot, {c.deleted:,} deleted ({c.method}) in {c.elapsed:.2f} s")
        rec.details.append(f"next catch-up starts from snapshot {res.snapshot.ident}")
        rec.data.setdefault("syncs", []).append({"at": _now(), **{**res.as_dict(), "rows_moved": moved,
                                                                   "tables": [t for r in results
                                                                              for t in r.as_dict()["tables"]]}})
        rec.data["rows_moved"] = moved
        rec.data["snapshot"] = res.snapshot.as_dict()
        return moved

    async def _reconcile(self, t: TableEntry) -> Any:
        """Find the differing rows with a validation (checksums of key ranges) and repair just
        those; None when there are too many to list (the caller then re-reads the whole table)."""
        from kwtui.sync import SyncResult, repair_rows
        from kwtui.validate import CHANGED, EQUAL, EXTRA_IN_TARGET, TableSpec, ValidateOptions, Validation

        started = time.perf_counter()
        dst = await self.target_of(t)
        v = await Validation(self.src, dst, [TableSpec(t.table, t.target, tuple(t.key))],
                             ValidateOptions(max_diffs=REPAIR_MAX_KEYS, check_references=False)).run()
        tv = v.tables[0]
        if tv.error is not None or tv.verdict not in (EQUAL, "differs"):
            return None
        if tv.verdict == EQUAL:
            res = SyncResult(t.table, t.target, 0, None, None, method="validation: equal, nothing to repair")
            res.rows_read = tv.source_rows or 0
            res.elapsed = time.perf_counter() - started
            return res
        if sum(tv.diff_counts.values()) > len(tv.differences):
            return None
        upsert = [[d.key[k] for k in t.key] for d in tv.differences if d.kind != EXTRA_IN_TARGET]
        delete = [[d.key[k] for k in t.key] for d in tv.differences if d.kind == EXTRA_IN_TARGET]
        res = await repair_rows(self.src, dst, t.table, t.key, upsert, delete)
        res.method = (f"validation found {tv.diff_counts.get(CHANGED, 0)} changed, "
                      f"{len(upsert) - tv.diff_counts.get(CHANGED, 0)} missing, {len(delete)} extra rows; repaired")
        res.rows_read = tv.source_rows or 0
        res.elapsed = time.perf_counter() - started
        return res

    async def _catchup(self, rec: PhaseRecord) -> None:
        moved = await self._sync(rec, "catchup")
        rec.summary = f"{rows_text(moved)} moved" + (" (in step: ready for cutover)" if moved == 0 else
                                                  " (run it again until few rows move, then cut over)")

    async def _validate(self, rec: PhaseRecord, name: str) -> Any:
        from kwtui.validate import TableSpec, ValidateOptions, Validation, write_report

        if self.plan.requirements.source_kind == "csv":
            return await self._count_files(rec)
        result = None
        key = rec.key
        total = len(self.plan.included)
        before = 0  # tables of the earlier target databases
        shown: dict[str, Any] = {"at": 0.0, "table": ""}  # when and for which table the last line was said

        def listen(ev: Any) -> None:
            """A line at most every second (and at each table's start): table n/N, its step, rows."""
            now = time.monotonic()
            if ev.done or not ev.table or ev.table == shown["table"] and now - shown["at"] < 1.0:
                return
            shown.update(at=now, table=ev.table)
            rows = f", {ev.rows:,}" + (f"/{ev.total_rows:,}" if ev.total_rows else "") + " rows" if ev.rows else ""
            self.say(key, f"validating {ev.table} ({before + ev.tables_done + 1}/{total}): "
                          f"{ev.message or ev.phase}{rows}")

        for svc, entries in await self.groups():  # one validation per target database (a mixed plan has two)
            specs = [TableSpec(t.table, t.target, tuple(t.key) if t.key else None) for t in entries]
            part = await Validation(self.src, svc, specs, ValidateOptions(), listener=listen).run()
            before += len(entries)
            if result is None:
                result = part
            else:
                result.tables += part.tables
                result.elapsed += part.elapsed
        assert result is not None
        verdicts = {t.table: t.verdict for t in result.tables}
        rec.data["validation"] = {"ok": result.ok, "verdicts": verdicts,
                                  "counts": {t.table: [t.source_rows, t.target_rows] for t in result.tables},
                                  "elapsed_s": round(result.elapsed, 2)}
        for t in result.tables:
            rec.details.append(f"{t.table} -> {t.target}: {t.verdict} ({t.source_rows} / {t.target_rows} rows"
                               + (f"; {sum(t.diff_counts.values())} differing keys" if t.verdict != "equal" else "")
                               + ")")
        if self.report_dir is not None:
            path = write_report(result, self.report_dir / f"{name}.md")
            rec.data["report"] = str(path)
            rec.details.append(f"report: {path}")
        return result

    async def _count_files(self, rec: PhaseRecord) -> Any:
        loaded = {t["target"]: t["rows"] for t in self.state.phase("historical").data.get("tables", [])}
        ok = True
        counts = {}
        for t in self.plan.included:
            schema, name = TableName.parse(t.target)
            res = await self.dst.query(sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema),
                                                                                  sql.Identifier(name)))
            n = int(res.rows[0][0])
            counts[t.table] = [t.rows, n]
            same = n == t.rows
            ok = ok and same
            rec.details.append(f"{t.target}: {n:,} rows; the files hold {t.rows:,} records"
                               + ("" if same else f" ({t.rows - n:,} not loaded: see the reject file)")
                               + (f"; {loaded.get(t.target, 0):,} loaded by the import" if loaded else ""))
        rec.data["validation"] = {"ok": ok, "verdicts": {k: "equal" if v[0] == v[1] else "count differs"
                                                         for k, v in counts.items()}, "counts": counts}
        return None

    async def _cutover(self, rec: PhaseRecord) -> None:
        """Final sync, then the validation; only when it is equal is anything else touched on the
        target (sequences moved, kwtui's bookkeeping removed) and the switch advised."""
        rec.details.append("confirmed: the application's writes to the source are stopped")
        moved = 0
        if self.skip_reason("catchup") is None or (self.plan.requirements.source_writes
                                                    and self.plan.requirements.source_kind != "csv"):
            moved = await self._sync(rec, "cutover", final=True)
        self.say("cutover", "validating")
        await self._validate(rec, "cutover-validation")
        ok = rec.data.get("validation", {}).get("ok")
        rec.data.pop("advice", None)
        if not ok:
            raise PhaseError("the validation found differences: do not switch the application; nothing was "
                             "changed on the target (see the report; run catch-up sync again, then the cutover)")
        from kwtui.inventory_run import run_statements

        await run_statements(self, rec, "cutover", self.plan.cutover_data)  # triggers and rules on, views refreshed
        counts = {}
        for t in self.plan.included:
            schema, name = TableName.parse(t.target)
            res = await (await self.target_of(t)).query(sql.SQL("SELECT count(*) FROM {}.{}").format(
                sql.Identifier(schema), sql.Identifier(name)))
            counts[t.target] = int(res.rows[0][0])
        rec.data["counts_at_cutover"] = counts
        await self._reset_sequences(rec)
        await self._drop_bookkeeping(rec)
        advice = connection_advice(self.plan, self.src.target if self.src is not None
                                   else self.plan.requirements.source, self.dst)
        rec.data["advice"] = advice
        rec.details += advice
        rec.summary = (f"final sync moved {rows_text(moved)}; validation equal; switch the application now "
                       "(see the connection string)")

    async def _drop_bookkeeping(self, rec: PhaseRecord) -> None:
        """kwtui's own schema on the target (checkpoints, table locks) goes, unless kept on request."""
        from kwtui.transfer.resumable import CHECKPOINT_SCHEMA

        if self.keep_bookkeeping:
            rec.details.append(f"kwtui's bookkeeping schema {CHECKPOINT_SCHEMA} kept on the target (as asked)")
            return
        try:
            await self._execute(rec, f"DROP SCHEMA IF EXISTS {CHECKPOINT_SCHEMA} CASCADE;")
        except Exception as exc:
            from kwtui.transfer.engine import error_message

            rec.details.append(f"kwtui's bookkeeping schema {CHECKPOINT_SCHEMA} not removed: {error_message(exc)} "
                               f"(drop it by hand: DROP SCHEMA {CHECKPOINT_SCHEMA} CASCADE)")
            return
        rec.details.append(f"kwtui's bookkeeping schema {CHECKPOINT_SCHEMA} removed from the target")

    async def _reset_sequences(self, rec: PhaseRecord) -> None:
        """PostgreSQL target: move each identity/serial sequence past the copied ids, so the
        application's next insert does not collide. (KWDB: the plan's warnings say what to do.)"""
        if self.dst.info is None or self.dst.info.kind != "postgres":
            return
        for t in self.plan.included:
            ta = self.plan.assessment.table(t.table)
            for c in ta.columns:
                if not c.identity:
                    continue
                from kwtui.names import TableName

                tn = TableName.parse(t.target)
                schema, name, qualified = tn.schema, tn.name, tn.pg()
                stmt = sql.SQL("SELECT setval(pg_get_serial_sequence({}, {}), coalesce(max({}), 0) + 1, false) "
                               "FROM {}.{}").format(sql.Literal(qualified), sql.Literal(c.name),
                                                   sql.Identifier(c.name), sql.Identifier(schema), sql.Identifier(name))
                try:
                    res = await self.dst.query(stmt, read_only=False)
                except KwtuiError as exc:
                    rec.details.append(f"{t.target}.{c.name}: sequence not reset ({exc.one_line()})")
                    continue
                nxt = res.rows[0][0] if res.rows else "?"
                # the runbook's copy of the statement that ran (composed above with psycopg.sql)
                rec.statements.append(f"SELECT setval(pg_get_serial_sequence('{qualified}', '{c.name}'), "  # noqa: S608
                                      f"coalesce(max({c.name}), 0) + 1, false) FROM {qualified};")
                rec.details.append(f"{t.target}.{c.name}: sequence set to {nxt} (next id)")

    async def _validation(self, rec: PhaseRecord) -> None:
        await self._validate(rec, "final-validation")
        before = self.state.phase("cutover").data.get("counts_at_cutover", {})
        grown = []
        for t in self.plan.included:
            schema, name = TableName.parse(t.target)
            res = await (await self.target_of(t)).query(sql.SQL("SELECT count(*) FROM {}.{}").format(
                sql.Identifier(schema), sql.Identifier(name)))
            n = int(res.rows[0][0])
            if t.target in before:
                delta = n - int(before[t.target])
                grown.append(f"{t.target}: {n:,} rows ({delta:+,} since cutover)")
        rec.details += ["monitoring, rows on the target:"] + [f"  {g}" for g in grown]
        v = rec.data.get("validation", {})
        rec.summary = ("validation equal" if v.get("ok") else "validation found differences") + \
            (f"; {len(grown)} table(s) monitored" if grown else "")
        if not v.get("ok") and self.state.phase("cutover").state != DONE:
            raise PhaseError("the validation found differences")

    async def _preflight(self, rec: PhaseRecord) -> None:
        """The doctor's read-only checks for this plan's sides; each check's verdict, evidence and
        fix go into the record. Blockers fail the phase (so the schema phase waits); warnings too,
        unless they are accepted (``accept_warnings``)."""
        from kwtui.doctor import BLOCKER, WARNING, DoctorOptions, preflight

        report = await preflight(self.plan, self.src, self.dst, DoctorOptions())
        checks = [c.as_dict() for c in report.checks]
        blockers = [c for c in checks if c["verdict"] == BLOCKER]
        warnings = [c for c in checks if c["verdict"] == WARNING]
        rec.data = {"checks": checks, "counts": report.counts(), "blockers": [c["title"] for c in blockers],
                    "warnings": [c["title"] for c in warnings], "accepted": bool(warnings and self.accept_warnings)}
        for c in checks:
            rec.details.append(f"[{c['verdict']}] {c['title']}: {c['evidence']}"
                               + (f" -- fix: {c['fix']}" if c["fix"] and c["verdict"] != "ok" else ""))
        n = report.counts()
        counts = f"{n['ok']} ok, {n['warning']} warning(s), {n['blocker']} blocker(s)"
        if blockers or (warnings and not self.accept_warnings):
            rec.state = FAILED
            rec.summary = preflight_block(rec)
            return
        rec.summary = counts + ("; warnings accepted" if warnings else "")

    async def _post_migration(self, rec: PhaseRecord) -> None:
        """The tasks after the last row landed (:mod:`kwtui.aftercare`): statistics, the plan's indexes
        and keys, sequences, connection string, rollback plan, monitoring queries; its checklist is
        the record's ``data["tasks"]`` and the runbook shows it."""
        from kwtui.aftercare import FAILED as TASK_FAILED
        from kwtui.aftercare import run_aftercare

        self.say("post-migration", "statistics, indexes and keys, sequences")
        report = await run_aftercare(self.plan, self.src, self.dst, target_of=self.target_of)
        rec.data = report.as_dict()
        for t in report.tasks:
            rec.details.append(f"[{t.verdict}] {t.title}: {t.evidence}" + (f" -- fix: {t.fix}" if t.fix else ""))
            rec.statements += t.statements
        rec.details.append(f"new connection string: {report.connection}")
        todo = [t.title for t in report.tasks if t.verdict not in ("done", "ok")]
        if any(t.verdict == TASK_FAILED for t in report.tasks):
            raise PhaseError("post-migration task(s) failed: " + ", ".join(todo))
        rec.summary = (f"{len(report.tasks)} task(s) " + ("done" if not todo else f"run, to look at: {', '.join(todo)}")
                       + "; rollback plan and monitoring queries in the runbook")


def preflight_block(rec: PhaseRecord) -> str:
    """What the preflight found that stops the schema phase: each blocker (and unaccepted warning)
    named with its fix."""
    bad = [c for c in rec.data.get("checks", []) if c.get("verdict") == "blocker"] or \
        [c for c in rec.data.get("checks", []) if c.get("verdict") == "warning"]
    kind = "blocker" if rec.data.get("blockers") else "warning"
    parts = [f"{c['title']} ({c['evidence']})" + (f": {c['fix']}" if c.get("fix") else "") for c in bad]
    return f"preflight found {len(bad)} {kind}(s): " + "; ".join(parts) if bad else rec.summary or "preflight failed"


def progress_text(state: MigrationState) -> str:
    done = sum(1 for p in state.phases if p.state in (DONE, SKIPPED))
    nxt = state.next_phase()
    return f"{done}/{len(state.phases)} phases done" + (f"; next: {nxt.title}" if nxt else "; migration complete")


def next_action(plan: MigrationPlan, state: MigrationState) -> str:
    nxt = state.next_phase()
    if nxt is None:
        return "All phases are done. Keep the source read-only until you are sure, then retire it."
    if nxt.key == "preflight" and nxt.state == FAILED:
        what = "blockers" if nxt.data.get("blockers") else "warnings"
        return (f"The preflight found {what}: fix them (its checklist says how), then run it again"
                + ("." if what == "blockers" else ", or accept them (--accept-warnings; w)."))
    if nxt.state == FAILED:
        return f"{nxt.title} failed ({nxt.summary}). Fix the cause and run it again: it resumes safely."
    hints = {
        "preflight": "Check the ground first: connectivity, privileges, disk, keys, settings (read-only).",
        "post-migration": "Refresh statistics, check indexes, keys and sequences; the runbook gets the rollback plan.",
        "schema": "Review the DDL, then create the tables on the target.",
        "historical": "Copy the history. It runs as a journaled job: a crash resumes where it stopped.",
        "capture": "Record where the copy started, so the sync finds every later change.",
        "catchup": "Sync the changes. Repeat until a run moves few rows, then plan the cutover.",
        "cutover": "Stop the application's writes to the source, then run the cutover (final sync + validation).",
        "validation": "Validate everything once more and watch the target's row counts.",
    }
    return hints[nxt.key]


def plans_dir() -> Path:
    """Where plans are saved by default (with their .state.json and runbook beside them)."""
    from kwtui.paths import data_dir

    d = data_dir() / "plans"
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return d


def default_plan_path(p: MigrationPlan) -> Path:
    stem = re.sub(r"[^\w.-]+", "-", p.name or p.assessment.database or "migration").strip("-") or "migration"
    return plans_dir() / f"{stem}-{p.id}.plan.toml"


def connect_target(reference: str) -> Any:
    """A plan's source/target (a URI or keyword string, else a saved profile's name) as a ConnectTarget."""
    from kwtui.connection import ConnectTarget

    if "://" in reference or "=" in reference:
        return ConnectTarget.from_dsn(reference)
    return ConnectTarget.resolve(profile=reference)


async def open_services(p: MigrationPlan, password_prompt: Any = None) -> tuple[Any | None, Any]:
    """Connected services for the plan's source (None for files) and target; the caller closes both."""
    from kwtui.connection import ConnectionService

    if not p.requirements.target:
        raise UsageError("the plan has no target: give one in the new-migration wizard or kwtui plan --target")
    src = None
    if p.requirements.source_kind != "csv":
        src = ConnectionService(connect_target(p.requirements.source), password_prompt=password_prompt)
        await src.connect()
    try:
        dst = ConnectionService(connect_target(p.requirements.target), password_prompt=password_prompt)
        await dst.connect()
    except BaseException:
        if src is not None:
            await src.close()
        raise
    return src, dst


__all__ = [
    "PHASES", "PHASE_KEYS", "Requirements", "TableEntry", "Eta", "MigrationPlan", "build_plan", "assess_files",
    "measure_eta", "PhaseRecord", "MigrationState", "MigrationRunner", "connection_advice", "connection_strings", "suggest_watermark",
    "progress_text", "next_action", "strategy_notes", "DOWNTIMES", "SOURCE_KINDS", "plan_migration",
    "safe_reference", "deployment_of", "phase_number", "preflight_block", "default_plan_path", "plans_dir", "connect_target", "open_services",
]
