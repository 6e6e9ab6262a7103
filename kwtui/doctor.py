"""Preflight checks (``kwtui doctor``): is the ground ready before any data moves?

Every check is read-only (catalog reads and ``SHOW``s, each in a READ ONLY transaction that
is rolled back; the local file system is only looked at) and ends in a :class:`Check` with a
verdict (``ok`` / ``warning`` / ``blocker``), the evidence it saw and the fix. The checks
cover the two servers (connectivity, versions, deployment, clock skew, privileges, settings,
encodings), the tables (keys, time-series candidates) and this machine (free disk, file
descriptors, KWDB's extern directory where the node runs here).
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import re
import resource
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from psycopg import sql

from kwtui.errors import KwtuiError
from kwtui.names import TableName
from kwtui.troubleshoot import diagnose

OK, WARNING, BLOCKER = "ok", "warning", "blocker"
_RANK = {OK: 0, WARNING: 1, BLOCKER: 2}

#: a device-id column by its name (a TS candidate's primary tag)
_DEVICE_NAME = re.compile(r"device|meter|sensor|station|machine|vehicle|asset", re.IGNORECASE)
_TIMESTAMP = re.compile(r"^(timestamp|date)", re.IGNORECASE)
#: source types a KWDB time-series table does not take as they are
_TS_REFUSED = {"numeric": "FLOAT8 (lossy)", "decimal": "FLOAT8 (lossy)", "bytea": "VARBYTES",
               "json": "NVARCHAR", "jsonb": "NVARCHAR", "uuid": "VARCHAR(36)", "money": "FLOAT8 (lossy)",
               "inet": "VARCHAR", "interval": "INT8 (microseconds)"}
_FLOAT_TYPES = ("real", "double precision", "float4", "float8")
PRIMARY_TAG_MAX_WIDTH = 128
MAX_PRIMARY_TAGS = 4
#: the open-file limit KWDB's documentation asks of a node (LimitNOFILE in kaiwudb.service)
KWDB_NOFILE = 1_048_576


@dataclass
class Check:
    id: str  # "connect.source", "tables.no-pk", ...
    title: str
    verdict: str  # ok | warning | blocker
    evidence: str
    fix: str = ""
    side: str = ""  # "source" | "target" | "local" | ""
    details: list[str] = field(default_factory=list)  # rows named, tables listed...

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DoctorReport:
    checks: list[Check] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        return max((c.verdict for c in self.checks), key=_RANK.__getitem__, default=OK)

    @property
    def exit_code(self) -> int:
        return 1 if self.verdict == BLOCKER else 0

    def counts(self) -> dict[str, int]:
        return {v: sum(1 for c in self.checks if c.verdict == v) for v in (OK, WARNING, BLOCKER)}

    def get(self, check_id: str) -> Check | None:
        return next((c for c in self.checks if c.id == check_id), None)

    def as_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "counts": self.counts(), "checks": [c.as_dict() for c in self.checks]}


@dataclass
class TsCandidate:
    table: str  # schema.table
    timestamp: str | None
    primary_tags: list[str]
    why: str = ""


@dataclass
class DoctorOptions:
    tables: list[str] = field(default_factory=list)  # schema.table; empty: all (or the plan's)
    ts: list[TsCandidate] = field(default_factory=list)  # explicit time-series candidates
    guess_ts: bool = True  # a table with a timestamp and a device-like column is a TS candidate
    cdc: bool = False  # change capture is planned (the source keeps taking writes)
    target_kind: str = ""  # kwdb | kwdb-ts | postgres ("" : from the target)
    export_dir: str | None = None  # where export files go (disk space)
    files: str | None = None  # CSV files to be imported (charset)
    charset: str = "UTF-8"
    extern_dir: str | None = None  # KWDB's extern dir, when known
    long_tx_seconds: float = 300.0  # a transaction open longer holds back the snapshot
    skew_warning_s: float = 1.0
    #: for tests: a disk_usage function (the path -> (total, used, free))
    disk_usage: Callable[[str], Any] = shutil.disk_usage


# -- helpers -----------------------------------------------------------------------------------------


def _fix_for(exc: BaseException) -> str:
    d = diagnose(exc)
    return d.fix if d is not None else "read the server's message"


def _message(exc: BaseException) -> str:
    return exc.one_line() if isinstance(exc, KwtuiError) else str(exc).strip().splitlines()[0]


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


async def _q(svc: Any, query: Any, params: Any = None) -> list[tuple[Any, ...]]:
    """One read, in a READ ONLY transaction that is rolled back."""
    return list((await svc.query(query, params, read_only=True)).rows)


async def _one(svc: Any, query: Any, params: Any = None) -> Any:
    rows = await _q(svc, query, params)
    return rows[0][0] if rows and rows[0] else None


def _qualified(schema: str, name: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))


def _base_type(type_text: str) -> str:
    return re.sub(r"\(.*$", "", type_text.strip().lower()).removesuffix("[]").strip()


# -- a local server's process (KWDB extern dir, open-file limit) -----------------------------------


@dataclass
class LocalProcess:
    pid: int
    argv: list[str]

    def option(self, name: str) -> str | None:
        for i, a in enumerate(self.argv):
            if a.startswith(f"{name}="):
                return a.split("=", 1)[1]
            if a == name and i + 1 < len(self.argv):
                return self.argv[i + 1]
        return None

    def nofile(self) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{self.pid}/limits").read_text().splitlines():
                if line.startswith("Max open files"):
                    soft = line.split()[3]
                    return None if soft == "unlimited" else int(soft)
        return None


def local_kwdb_process(host: str, port: int) -> LocalProcess | None:
    """The kwbase process listening on ``host:port`` on this machine, where /proc shows it."""
    if host not in ("127.0.0.1", "localhost", "::1", "") and not host.startswith("/"):
        return None
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    for d in proc.iterdir():
        if not d.name.isdigit():
            continue
        try:
            argv = (d / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        args = [a.decode(errors="replace") for a in argv if a]
        if not args or "kwbase" not in Path(args[0]).name or "start" not in " ".join(args[1:3]):
            continue
        p = LocalProcess(int(d.name), args)
        listen = p.option("--listen-addr") or ""
        if listen.rsplit(":", 1)[-1] == str(port):
            return p
    return None


def extern_dir_of(p: LocalProcess) -> str | None:
    explicit = p.option("--external-io-dir")
    if explicit:
        return explicit
    store = p.option("--store")
    if not store:
        return None
    store = store.split(",")[0]
    if store.startswith("path="):
        store = store[5:]
    return str(Path(store) / "extern")


# -- the checks --------------------------------------------------------------------------------------


class Doctor:
    def __init__(self, source: Any | None, target: Any | None, options: DoctorOptions | None = None,
                 plan: Any | None = None) -> None:
        self.src = source
        self.dst = target
        self.opts = options or DoctorOptions()
        self.plan = plan
        self.report = DoctorReport()
        self.assessment: Any = None

    def add(self, check: Check) -> Check:
        self.report.checks.append(check)
        return check

    async def run(self) -> DoctorReport:
        """Every check that the given sides allow. A check that cannot run says so as a warning."""
        steps: list[tuple[str, Callable[[], Any]]] = []
        if self.src is not None:
            steps += [("source.tables", self.check_source_tables), ("privileges.read", self.check_read),
                      ("source.settings", self.check_source_settings), ("source.long-tx", self.check_long_tx)]
        if self.dst is not None:
            steps += [("privileges.create", self.check_create), ("target.kwdb", self.check_kwdb_target)]
        if self.src is not None and self.dst is not None:
            steps += [("clock-skew", self.check_clock_skew)]
        steps += [("encoding", self.check_encoding), ("disk", self.check_disk), ("fd", self.check_fd)]
        for name, step in steps:
            try:
                await step()
            except Exception as exc:  # one check failing never hides the others
                self.add(Check(name, f"{name} could not run", WARNING, _message(exc), _fix_for(exc)))
        return self.report

    # -- connectivity --------------------------------------------------------------------------------

    def connected(self, side: str, svc: Any) -> None:
        info = svc.info
        label = info.label.split(" (")[0]  # KWDB's version() carries its build line
        self.add(Check(f"connect.{side}", f"{side} reachable", OK,
                       f"{label} ({info.deployment.lower().replace('_', ' ')}) at {svc.target.describe()} "
                       f"as {info.user or '?'}, database {info.database or '?'}", side=side))
        if info.kind == "postgres" and info.deployment == "standby" and side == "target":
            self.add(Check("target.standby", "target writable", BLOCKER, "the target is a standby (read-only)",
                           "point the target at the primary", side=side))

    def unreachable(self, side: str, exc: BaseException) -> None:
        self.add(Check(f"connect.{side}", f"{side} reachable", BLOCKER, _message(exc), _fix_for(exc), side=side))

    async def check_clock_skew(self) -> None:
        assert self.src is not None and self.dst is not None

        async def probe(svc: Any) -> float:
            before = time.time()
            value = await _one(svc, "SELECT extract(epoch FROM clock_timestamp())")
            after = time.time()
            return float(value) - (before + after) / 2

        a, b = await asyncio.gather(probe(self.src), probe(self.dst))
        skew = abs(a - b)
        verdict = OK if skew < self.opts.skew_warning_s else WARNING
        self.add(Check("clock-skew", "clocks agree", verdict,
                       f"source and target clocks differ by {skew:.3f} s (source {a:+.3f} s, target {b:+.3f} s "
                       "from this machine)",
                       "" if verdict == OK else "sync both servers with NTP (chrony): catch-up by a timestamp "
                       "watermark and TS timestamps compare across the two clocks"))

    # -- the source's tables ---------------------------------------------------------------------------

    async def _assess(self) -> Any:
        if self.assessment is None:
            from kwtui import plan as planmod

            assert self.src is not None
            self.assessment = await planmod.assess(self.src, tables=self.opts.tables or None)
        return self.assessment

    async def check_source_tables(self) -> None:
        a = await self._assess()
        keyless = [t.qualified for t in a.tables if not t.primary_key and not t.is_ts]
        if keyless:
            self.add(Check("tables.no-pk", "tables have a primary key", WARNING,
                           f"{len(keyless)} table(s) without a primary key: {', '.join(keyless[:8])}"
                           + (" ..." if len(keyless) > 8 else ""),
                           "add a primary key (ALTER TABLE ... ADD PRIMARY KEY): without one a table moves as one "
                           "batch in one transaction (a resume redoes it whole), catch-up cannot upsert it, and "
                           "validation needs --key", side="source", details=keyless))
        else:
            self.add(Check("tables.no-pk", "tables have a primary key", OK,
                           f"all {len(a.tables)} table(s) have one", side="source"))
        await self.check_ts_candidates(a)

    def _ts_candidates(self, a: Any) -> list[TsCandidate]:
        out = {c.table: c for c in self.opts.ts}
        if self.plan is not None:
            from kwtui import plan as planmod

            for te in self.plan.tables:
                if not te.ts or not te.include or te.table in out:
                    continue
                with contextlib.suppress(StopIteration):  # the roles the plan chose (its own assessment)
                    pa = self.plan.assessment
                    roles = planmod.ts_roles(pa.table(te.table), pa.suggestion(te.table))
                    if not isinstance(roles, str):
                        out[te.table] = TsCandidate(te.table, roles[0], list(roles[2]), "the plan makes it TS")
        if self.opts.guess_ts:
            for t in a.tables:
                if t.is_ts or t.qualified in out:
                    continue
                ts_col = next((c.name for c in t.columns if _TIMESTAMP.match(c.type)), None)
                dev = next((c.name for c in t.columns if _DEVICE_NAME.search(c.name) and c.name != ts_col
                            and c.name not in t.primary_key[:1]), None)
                if ts_col and dev:
                    out[t.qualified] = TsCandidate(t.qualified, ts_col, [dev],
                                                   f"{ts_col} is a timestamp and {dev} looks like a device id")
        return list(out.values())

    async def check_ts_candidates(self, a: Any) -> None:
        assert self.src is not None
        for cand in self._ts_candidates(a):
            try:
                ta = a.table(cand.table)
            except StopIteration:
                self.add(Check(f"ts.{cand.table}", f"TS candidate {cand.table}", BLOCKER,
                               f"{cand.table} is not a table of the source", "fix the table name", side="source"))
                continue
            problems: list[str] = []
            details: list[str] = []
            fixes: list[str] = []
            target = _qualified(ta.schema, ta.name)
            if len(cand.primary_tags) > MAX_PRIMARY_TAGS:
                problems.append(f"{len(cand.primary_tags)} primary tags (KWDB takes at most {MAX_PRIMARY_TAGS})")
                fixes.append(f"keep at most {MAX_PRIMARY_TAGS} primary tags")
            ts_col = next((c for c in ta.columns if c.name == cand.timestamp), None)
            if ts_col is None or not _TIMESTAMP.match(ts_col.type):
                problems.append("no timestamp column for the first TS column")
                fixes.append("give it a TIMESTAMPTZ column")
            elif ts_col.nullable:
                n = int(await _one(self.src, sql.SQL("SELECT count(*) FROM {} WHERE {} IS NULL").format(
                    target, sql.Identifier(ts_col.name))) or 0)
                if n:
                    problems.append(f"{n:,} row(s) with a NULL timestamp {ts_col.name}")
                    fixes.append(f"backfill or leave out the rows WHERE {ts_col.name} IS NULL")
            for tag in cand.primary_tags:
                col = next((c for c in ta.columns if c.name == tag), None)
                if col is None:
                    problems.append(f"no column {tag}")
                    continue
                base = _base_type(col.type)
                if base in _FLOAT_TYPES or base in ("bytea",):
                    problems.append(f"primary tag {tag} is {col.type} (KWDB refuses float and varbytes primary "
                                    "tags)")
                    fixes.append(f"choose an integer or text primary tag instead of {tag}")
                ident = sql.Identifier(tag)
                row = (await _q(self.src, sql.SQL(
                    "SELECT count(*) - count({c}), max(octet_length({c}::text)) FROM {t}").format(c=ident, t=target)))[0]
                nulls, width = int(row[0] or 0), int(row[1] or 0)
                if nulls:
                    keycols = ta.primary_key or [c.name for c in ta.columns[:2]]
                    sample = await _q(self.src, sql.SQL("SELECT {} FROM {} WHERE {} IS NULL LIMIT 5").format(
                        sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(k)) for k in keycols), target,
                        ident))
                    named = "; ".join(", ".join(f"{k}={v}" for k, v in zip(keycols, r, strict=False)) for r in sample)
                    problems.append(f"{nulls:,} row(s) with a NULL primary tag {tag} (e.g. {named})")
                    details += [f"{tag} IS NULL: {', '.join(f'{k}={v}' for k, v in zip(keycols, r, strict=False))}"
                                for r in sample]
                    fixes.append(f"backfill {tag} (UPDATE {ta.qualified} SET {tag} = <device> WHERE {tag} IS NULL) "  # noqa: S608 - advice text, never run
                                 f"or leave those rows out of the TS table (WHERE {tag} IS NOT NULL)")
                if width > PRIMARY_TAG_MAX_WIDTH:
                    problems.append(f"primary tag {tag} holds values of {width} bytes (KWDB takes at most "
                                    f"{PRIMARY_TAG_MAX_WIDTH})")
                    fixes.append(f"shorten {tag} or choose another primary tag")
            refused = [f"{c.name} {c.type} -> {_TS_REFUSED[_base_type(c.type)]}" for c in ta.columns
                       if _base_type(c.type) in _TS_REFUSED and c.name not in cand.primary_tags]
            if problems:
                self.add(Check(f"ts.{cand.table}", f"TS candidate {cand.table}", BLOCKER,
                               f"{cand.why}; " + "; ".join(problems) if cand.why else "; ".join(problems),
                               "; ".join(dict.fromkeys(fixes)), side="source", details=details))
            else:
                self.add(Check(f"ts.{cand.table}", f"TS candidate {cand.table}", OK,
                               f"primary tag {', '.join(cand.primary_tags)}: no NULL, within KWDB's limits",
                               side="source"))
            if refused:
                self.add(Check(f"ts-types.{cand.table}", f"TS types of {cand.table}", WARNING,
                               f"a TS table refuses {', '.join(refused)}",
                               "accept the mapping (kwtui plan maps them; DECIMAL to FLOAT8 loses precision) or keep "
                               "the table relational", side="source", details=refused))

    # -- privileges ------------------------------------------------------------------------------------

    async def check_read(self) -> None:
        assert self.src is not None
        a = await self._assess()
        denied: list[str] = []
        for t in a.tables:
            ok = await _one(self.src, "SELECT has_table_privilege(%s, 'SELECT')", (_regname(t.schema, t.name),))
            if ok is False:
                denied.append(t.qualified)
        if denied:
            self.add(Check("privileges.read", "source tables readable", BLOCKER,
                           f"no SELECT on {len(denied)} table(s): {', '.join(denied[:8])}",
                           f"GRANT SELECT ON {', '.join(denied[:3])}{' ...' if len(denied) > 3 else ''} TO "
                           f"{self.src.info.user}", side="source", details=denied))
        else:
            self.add(Check("privileges.read", "source tables readable", OK,
                           f"SELECT on all {len(a.tables)} table(s)", side="source"))
        if self.opts.cdc and self.src.info.kind == "postgres":
            row = (await _q(self.src, "SELECT rolsuper, rolreplication FROM pg_roles WHERE rolname = current_user"))
            sup, rep = (row[0] if row else (False, False))
            self.add(Check("privileges.replication", "replication right for change capture", OK if sup or rep
                           else WARNING,
                           f"{self.src.info.user}: superuser {sup}, replication {rep}",
                           "" if sup or rep else f"kwtui catches up by watermark (no right needed); logical "
                           f"replication would need ALTER ROLE {self.src.info.user} REPLICATION", side="source"))

    async def check_create(self) -> None:
        assert self.dst is not None
        schemas = sorted({TableName.parse(t.target).schema for t in self.plan.tables}) \
            if self.plan is not None else ["public"]
        missing: list[str] = []  # GRANT targets: "DATABASE d" / "SCHEMA s"
        evidence: list[str] = []
        can_db = await _one(self.dst, "SELECT has_database_privilege(current_database(), 'CREATE')")
        evidence.append(f"CREATE on database {self.dst.info.database}: {'yes' if can_db else 'no'}")
        for s in schemas:
            exists = await _one(self.dst, "SELECT count(*) FROM pg_namespace WHERE nspname = %s", (s,))
            if not exists:
                if not can_db:
                    missing.append(f"DATABASE {self.dst.info.database}")
                continue
            can = await _one(self.dst, "SELECT has_schema_privilege(%s, 'CREATE')", (s,))
            evidence.append(f"CREATE on schema {s}: {'yes' if can else 'no'}")
            if not can:
                missing.append(f"SCHEMA {s}")
        user = self.dst.info.user or "the user"
        if missing:
            self.add(Check("privileges.create", "target allows CREATE", BLOCKER, "; ".join(evidence),
                           "; ".join(f"GRANT CREATE ON {m} TO {user}" for m in missing)
                           + " (or connect as the owner)", side="target", details=missing))
        else:
            self.add(Check("privileges.create", "target allows CREATE", OK, "; ".join(evidence), side="target"))

    # -- KWDB target -----------------------------------------------------------------------------------

    async def check_kwdb_target(self) -> None:
        assert self.dst is not None
        if self.dst.info.kind != "kwdb":
            return
        admin = await _one(self.dst, "SELECT kwdb_internal.is_admin()")
        self.add(Check("privileges.native", "admin for native IMPORT/EXPORT", OK if admin else WARNING,
                       f"{self.dst.info.user}: admin {'yes' if admin else 'no'}",
                       "" if admin else "native IMPORT/EXPORT need the admin role (GRANT admin TO the user); "
                       "streamed transfers do not", side="target"))
        rule = await _one(self.dst, "SHOW CLUSTER SETTING ts.dedup.rule")
        ts_planned = bool(self.plan is not None and any(t.ts and t.include for t in self.plan.tables)) \
            or self.opts.target_kind == "kwdb-ts"
        self.add(Check("kwdb.dedup", "TS dedup rule", WARNING if rule == "override" and ts_planned else OK,
                       f"ts.dedup.rule = {rule}",
                       "rows with the same timestamp and primary tags overwrite each other silently: make the keys "
                       "unique in the source, or SET CLUSTER SETTING ts.dedup.rule = 'reject' to see them"
                       if rule == "override" and ts_planned else "", side="target"))
        ts_db = str(getattr(getattr(self.plan, "requirements", None), "ts_database", "") or "")
        if ts_planned and ts_db:  # a mixed plan: its schema phase creates (or keeps) its own TS database
            engines = {str(r[0]): str(r[1]) for r in await _q(self.dst, "SHOW DATABASES")}
            engine = engines.get(ts_db)
            ok = engine is None or "TIME" in engine.upper()
            self.add(Check("kwdb.ts-database", "a TS database for the TS tables", OK if ok else BLOCKER,
                           f"the plan's TS database {ts_db} " + ("is created by the schema phase" if engine is None
                                                                 else f"exists ({engine.lower()})"),
                           "" if ok else f"{ts_db} is a relational database: name another TS database in the "
                           "plan (plan --ts-database NAME)", side="target"))
        elif ts_planned:
            engines = {str(r[0]): str(r[1]) for r in await _q(self.dst, "SHOW DATABASES")}
            engine = engines.get(self.dst.info.database, "?")
            is_ts = "TIME" in engine.upper()
            self.add(Check("kwdb.ts-database", "a TS database for the TS tables", OK if is_ts else WARNING,
                           f"database {self.dst.info.database} is {engine.lower()}",
                           "" if is_ts else "KWDB creates time-series tables only in a TS database: CREATE TS "
                           "DATABASE <name> and point the target at it ('can not create timeseries table in "
                           "relational database')", side="target"))
        await self._extern_and_store()

    async def _extern_and_store(self) -> None:
        assert self.dst is not None
        host = str(self.dst.target.params.get("host") or "localhost")
        port = int(self.dst.target.params.get("port") or 26257)
        proc = local_kwdb_process(host, port)
        extern = self.opts.extern_dir or (extern_dir_of(proc) if proc is not None else None)
        if extern is None:
            self.add(Check("kwdb.extern", "KWDB extern directory", OK,
                           "the node does not run on this machine: its extern directory is not visible from here",
                           "for native IMPORT/EXPORT, check <store>/extern exists and is writable on the node "
                           "(or give --extern-dir when it is mounted here)", side="target"))
        else:
            p = Path(extern)
            if not p.exists():  # only files staged for a native IMPORT need it: said, not a warning
                verdict, evidence = OK, (f"{extern} does not exist yet; before staging files for a native IMPORT: "
                                         f"mkdir -p {extern}")
                fix = ""
            elif not os.access(p, os.W_OK | os.X_OK):
                verdict, evidence = BLOCKER, f"{extern} is not writable by this user"
                fix = f"make {extern} writable (chown/chmod) or stage files over the wire (--stage)"
            else:
                verdict, evidence, fix = OK, f"{extern} exists and is writable", ""
            self.add(Check("kwdb.extern", "KWDB extern directory", verdict, evidence, fix, side="target"))
        if proc is not None:
            limit = proc.nofile()
            if limit is not None:
                self.add(Check("fd.kwdb", "KWDB node's open-file limit", OK if limit >= KWDB_NOFILE else WARNING,
                               f"kwbase pid {proc.pid}: Max open files {limit:,}",
                               "" if limit >= KWDB_NOFILE else f"set LimitNOFILE={KWDB_NOFILE} in kaiwudb.service "
                               "(a TS load opens many files; 'could not PutData' follows)", side="target"))

    # -- settings ------------------------------------------------------------------------------------

    async def check_source_settings(self) -> None:
        assert self.src is not None
        if self.src.info.kind != "postgres":
            return
        settings = dict(await _q(self.src, "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)", ([
            "wal_level", "max_replication_slots", "statement_timeout", "idle_in_transaction_session_timeout",
            "lock_timeout"],)))
        wal = settings.get("wal_level", "?")
        slots = await _q(self.src, "SELECT slot_name, active FROM pg_replication_slots")
        inactive = [s for s, active in slots if not active]
        evidence = f"wal_level = {wal}, max_replication_slots = {settings.get('max_replication_slots', '?')}, " \
                   f"{len(slots)} slot(s) ({len(inactive)} inactive)"
        if inactive:
            self.add(Check("source.wal", "WAL and replication slots", WARNING, evidence,
                           f"inactive slots keep WAL on the source's disk: drop the unused ones "
                           f"(SELECT pg_drop_replication_slot('{inactive[0]}'))", side="source", details=inactive))
        else:
            note = "" if not self.opts.cdc or wal == "logical" else \
                "kwtui's catch-up reads by watermark and needs no WAL; logical decoding would need wal_level = " \
                "logical (a restart)"
            self.add(Check("source.wal", "WAL and replication slots", OK, evidence, note, side="source"))
        timeouts = {k: settings.get(k, "0") for k in ("statement_timeout", "idle_in_transaction_session_timeout",
                                                     "lock_timeout")}
        set_ = {k: v for k, v in timeouts.items() if v not in ("0", None)}
        user = self.src.info.user
        self.add(Check("source.timeouts", "source timeouts", WARNING if set_ else OK,
                       ", ".join(f"{k} = {v} ms" for k, v in timeouts.items()),
                       "; ".join(f"ALTER ROLE {user} SET {k} = 0" for k in set_)
                       + " (a long COPY or snapshot read is cut at the limit)" if set_ else "", side="source"))

    async def check_long_tx(self) -> None:
        assert self.src is not None
        if self.src.info.kind != "postgres":
            return
        rows = await _q(self.src, "SELECT pid, usename, state, extract(epoch FROM clock_timestamp() - xact_start),"
                                  " left(query, 60) FROM pg_stat_activity WHERE xact_start IS NOT NULL"
                                  " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
                                  " AND clock_timestamp() - xact_start >= make_interval(secs => %s)"
                                  " ORDER BY xact_start", (self.opts.long_tx_seconds,))
        if rows:
            details = [f"pid {pid} ({user}, {state}) open {age:.0f} s: {query}" for pid, user, state, age, query in rows]
            self.add(Check("source.long-tx", "no long-running transactions", WARNING,
                           f"{len(rows)} transaction(s) open over {self.opts.long_tx_seconds:g} s: " + details[0],
                           f"end them or wait: they hold back vacuum and the snapshot a consistent copy reads, and "
                           f"their locks can block the load (SELECT pg_terminate_backend({rows[0][0]}) when safe)",
                           side="source", details=details))
        else:
            self.add(Check("source.long-tx", "no long-running transactions", OK,
                           f"none open over {self.opts.long_tx_seconds:g} s", side="source"))

    async def check_encoding(self) -> None:
        parts: list[str] = []
        verdict, fix = OK, ""
        encodings: dict[str, str] = {}
        for side, svc in (("source", self.src), ("target", self.dst)):
            if svc is None:
                continue
            enc = str(await _one(svc, "SHOW server_encoding") or "?").upper()
            encodings[side] = enc
            parts.append(f"{side} {enc}")
            if enc == "SQL_ASCII":
                verdict, fix = WARNING, f"the {side} stores bytes unchecked (SQL_ASCII): find the real charset of " \
                                        "the text and convert it, or rows will be refused as invalid UTF-8"
        if len(encodings) == 2 and len(set(encodings.values())) == 2 and verdict == OK:
            verdict, fix = WARNING, "text outside the target's encoding is refused: make the target UTF8"
        details: list[str] = []
        if self.opts.files:
            bad = _undecodable_files(self.opts.files, self.opts.charset)
            parts.append(f"files {self.opts.charset}")
            if bad:
                verdict = BLOCKER
                details = bad
                fix = f"{len(bad)} file(s) are not {self.opts.charset}: give their charset (--charset GBK, GB18030, " \
                      "BIG5) or convert them (iconv -f ... -t UTF-8)"
        if parts:
            self.add(Check("encoding", "encodings agree", verdict, ", ".join(parts) + (
                f"; not {self.opts.charset}: {', '.join(details[:3])}" if details else ""), fix, details=details))

    # -- this machine ------------------------------------------------------------------------------------

    async def check_disk(self) -> None:
        need = 0
        if self.src is not None:
            a = await self._assess()
            need = sum(int(t.bytes or 0) for t in a.tables)
        where = self.opts.export_dir or "."
        probe = Path(where)
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        usage = self.opts.disk_usage(str(probe))
        free = int(usage[2])
        # CSV is about as large as the table on disk; a safety margin of half again
        if need and free < need:
            verdict = BLOCKER
        elif free < max(need * 3 // 2, 64 * 1024 * 1024):
            verdict = WARNING
        else:
            verdict = OK
        self.add(Check("disk.export", "disk space for exports", verdict,
                       f"{_size(free)} free at {probe.resolve()}, the source's tables take {_size(need)}",
                       "" if verdict == OK else f"free at least {_size(max(need * 3 // 2 - free, 0) or need)} there "
                       "or export to a larger disk (--to)", side="local"))
        if self.dst is not None and self.dst.info.kind == "kwdb":
            rows = await _q(self.dst, "SELECT node_id, available FROM kwdb_internal.kv_store_status")
            if rows:
                least = min(int(r[1]) for r in rows)
                growth = need * 2  # a copy plus its indexes and the raft log, roughly
                v = OK if least > growth else BLOCKER if least < need else WARNING
                self.add(Check("disk.target", "target disk for the load", v,
                               f"least free on a KWDB store: {_size(least)}; the load adds about {_size(growth)}",
                               "" if v == OK else "free disk on the KWDB nodes or add nodes before loading",
                               side="target"))

    async def check_fd(self) -> None:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        need = 256
        self.add(Check("fd.local", "this machine's open-file limit", OK if soft < 0 or soft >= need else WARNING,
                       f"soft {soft}, hard {hard}", "" if soft < 0 or soft >= need else "ulimit -n 4096",
                       side="local"))


def _regname(schema: str, name: str) -> str:
    return '"' + schema.replace('"', '""') + '"."' + name.replace('"', '""') + '"'


def _undecodable_files(path: str, charset: str, sample: int = 1 << 20) -> list[str]:
    p = Path(path)
    files = sorted(p.rglob("*.csv")) if p.is_dir() else [p]
    codec = {"UTF-8": "utf-8", "GBK": "gbk", "GB18030": "gb18030", "BIG5": "big5"}.get(charset.upper(), charset)
    bad: list[str] = []
    for f in files:
        dec = codecs.getincrementaldecoder(codec)()
        try:
            with f.open("rb") as fh:
                dec.decode(fh.read(sample), final=False)
        except UnicodeDecodeError as exc:
            bad.append(f"{f} (byte {exc.start})")
        except OSError as exc:
            bad.append(f"{f} ({exc.strerror})")
    return bad


async def doctor_for(source: str, target: str, options: DoctorOptions | None = None, *,
                     password_prompt: Any = None) -> DoctorReport:
    """:func:`run_doctor` for the references a person typed (a URI, a keyword string or a saved
    profile's name; "" for a side not given): the screen passes text, the core connects."""
    from kwtui.migration import connect_target

    return await run_doctor(connect_target(source) if source else None, connect_target(target) if target else None,
                            options, password_prompt=password_prompt)


async def run_doctor(source: Any | None, target: Any | None, options: DoctorOptions | None = None, *,
                     plan: Any | None = None, password_prompt: Any = None) -> DoctorReport:
    """Connect to the given sides (ConnectTargets), run every check, close. Never raises for a
    server that cannot be reached: that is a blocker in the report."""
    from kwtui.connection import ConnectionService

    opts = options or DoctorOptions()
    services: dict[str, Any] = {}
    doc = Doctor(None, None, opts, plan)
    for side, t in (("source", source), ("target", target)):
        if t is None:
            continue
        svc = ConnectionService(t, password_prompt=password_prompt)
        try:
            await svc.connect()
        except Exception as exc:
            doc.unreachable(side, exc)
            continue
        services[side] = svc
        doc.connected(side, svc)
    doc.src, doc.dst = services.get("source"), services.get("target")
    try:
        await doc.run()
    finally:
        for svc in services.values():
            with contextlib.suppress(Exception):
                await svc.close()
    return doc.report


async def preflight(plan: Any, src: Any | None, dst: Any | None,
                    options: DoctorOptions | None = None) -> DoctorReport:
    """The doctor's read-only checks for a plan, on services the caller has connected (and closes):
    the preflight phase of :class:`kwtui.migration.MigrationRunner`."""
    doc = Doctor(None, None, options_from_plan(plan, options or DoctorOptions()), plan)
    for side, svc in (("source", src), ("target", dst)):
        if svc is not None:
            doc.connected(side, svc)
    doc.src, doc.dst = src, dst
    return await doc.run()


def options_from_plan(plan: Any, opts: DoctorOptions) -> DoctorOptions:
    """The plan's tables, change capture and target kind, where the options leave them open."""
    if not opts.tables:
        opts.tables = [t.table for t in plan.tables if t.include]
    opts.cdc = opts.cdc or bool(plan.requirements.source_writes and plan.requirements.source_kind != "csv")
    opts.target_kind = opts.target_kind or plan.requirements.target_kind
    return opts


def parse_ts_spec(spec: str) -> TsCandidate:
    """``schema.table:device[,tag2]`` or ``schema.table:ts:device`` (timestamp first)."""
    table, _, rest = spec.partition(":")
    parts = [p for p in rest.split(":") if p]
    if "." not in table or not parts:
        from kwtui.errors import UsageError

        raise UsageError(f"--ts {spec!r}: give schema.table:device_column (or schema.table:ts_column:device)")
    if len(parts) == 1:
        return TsCandidate(table, None, parts[0].split(","), "given with --ts")
    return TsCandidate(table, parts[0], parts[1].split(","), "given with --ts")


def verdict_mark(verdict: str) -> str:
    return {OK: "ok", WARNING: "WARN", BLOCKER: "BLOCK"}[verdict]


def render_text(report: DoctorReport) -> list[str]:
    lines: list[str] = []
    for c in report.checks:
        lines.append(f"[{verdict_mark(c.verdict):>5}] {c.title}: {c.evidence}")
        if c.fix and c.verdict != OK:
            lines.append(f"        fix: {c.fix}")
    n = report.counts()
    lines.append(f"{n[OK]} ok, {n[WARNING]} warning(s), {n[BLOCKER]} blocker(s)")
    return lines


def plan_sides(plan: Any) -> tuple[Any | None, Any | None]:
    from kwtui.migration import connect_target

    src = connect_target(plan.requirements.source) if plan.requirements.source_kind != "csv" else None
    dst = connect_target(plan.requirements.target) if plan.requirements.target else None
    return src, dst


__all__ = ["Check", "DoctorReport", "DoctorOptions", "TsCandidate", "Doctor", "run_doctor", "preflight",
           "options_from_plan",
           "parse_ts_spec", "render_text", "plan_sides", "OK", "WARNING", "BLOCKER"]
