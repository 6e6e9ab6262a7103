"""Post-migration tasks, after the last row landed: statistics, the plan's indexes and constraints
on the target, sequence positions, the new connection string, a rollback plan and a set of
monitoring queries the user can re-run. ``kwtui post-migrate PLAN`` runs them and writes
``PLAN.post.md`` beside the plan.

Only the statistics task writes (ANALYZE / KWDB's CREATE STATISTICS, never data); everything
else reads, and what is missing is reported with the statement that fixes it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from psycopg import sql

from kwtui.errors import KwtuiError
from kwtui.names import TableName

DONE, OK, WARNING, FAILED = "done", "ok", "warning", "failed"


@dataclass
class Task:
    id: str
    title: str
    verdict: str  # done | ok | warning | failed
    evidence: str
    fix: str = ""
    statements: list[str] = field(default_factory=list)  # what fixes it (or what was run)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AftercareReport:
    tasks: list[Task] = field(default_factory=list)
    connection: str = ""
    rollback: list[str] = field(default_factory=list)
    monitoring: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(t.verdict in (DONE, OK) for t in self.tasks)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "tasks": [t.as_dict() for t in self.tasks], "connection": self.connection,
                "rollback": self.rollback, "monitoring": self.monitoring}

    def markdown(self, title: str) -> str:
        out = [f"# Post-migration: {title}", ""]
        for t in self.tasks:
            out.append(f"- **{t.verdict}** {t.title}: {t.evidence}")
            if t.fix:
                out.append(f"  - fix: {t.fix}")
            out += [f"  - `{s}`" for s in t.statements]
        out += ["", "## New connection string", "", f"    {self.connection}", "", "## Rollback plan", ""]
        out += [f"{i}. {step}" for i, step in enumerate(self.rollback, 1)]
        out += ["", "## Monitoring queries (re-run them)", "", "```sql", *self.monitoring, "```", ""]
        return "\n".join(out)


def _split(qualified: str) -> tuple[str, str]:
    schema, name = TableName.parse(qualified)
    return (schema, name) if name else ("public", schema)


def _q(qualified: str) -> sql.Composed:
    schema, name = _split(qualified)
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))


async def _rows(svc: Any, query: Any, params: Any = None) -> list[tuple[Any, ...]]:
    return list((await svc.query(query, params)).rows)


def _q_in(te: Any) -> sql.Composed:
    """A table as the runbook names it: ``db.schema.table`` when it is in a mixed plan's TS database."""
    if not getattr(te, "database", ""):
        return _q(te.target)
    schema, name = _split(te.target)
    return sql.SQL("{}.{}.{}").format(sql.Identifier(te.database), sql.Identifier(schema), sql.Identifier(name))


async def run_aftercare(plan: Any, src: Any | None, dst: Any, *, analyze: bool = True,
                        target_of: Callable[[Any], Awaitable[Any]] | None = None) -> AftercareReport:
    """Every post-migration task of ``plan`` (a MigrationPlan) on connected services.

    ``target_of`` gives the service of a table's target database (a mixed plan's TS tables are in
    their own database, :meth:`kwtui.migration.MigrationRunner.target_of`); without it every table
    is looked for on ``dst``.
    """
    from kwtui.migration import safe_reference

    report = AftercareReport()
    tables = [t for t in plan.tables if t.include]
    kind = dst.info.kind

    async def on(te: Any) -> Any:
        return dst if target_of is None else await target_of(te)

    # -- statistics --------------------------------------------------------------------------------
    analysed, failed = [], []
    for te in tables:
        stmt = sql.SQL("ANALYZE {}").format(_q(te.target)) if kind == "postgres" else \
            sql.SQL("CREATE STATISTICS {} FROM {}").format(
                sql.Identifier(f"kwtui_{_split(te.target)[1]}"[:60]), _q(te.target))
        if not analyze:
            continue
        try:
            await (await on(te)).query(stmt)
            analysed.append(te.target)
        except KwtuiError as exc:
            failed.append(f"{te.target}: {exc.message}")
    if analyze:
        verb = "ANALYZE" if kind == "postgres" else "CREATE STATISTICS"
        report.tasks.append(Task("statistics", "planner statistics", WARNING if failed else DONE,
                                 f"{verb} on {len(analysed)} table(s)" + (f"; not on {'; '.join(failed)}" if failed
                                                                          else ""),
                                 "run it again once the error above is fixed" if failed
                                 else ""))
    # -- indexes and constraints the plan holds ----------------------------------------------------
    for te in tables:
        try:
            ta = plan.assessment.table(te.table)
        except StopIteration:
            continue
        svc = await on(te)
        schema, name = _split(te.target)
        have_idx = {tuple(r[1:]) for r in await _rows(svc, sql.SQL(
            "SELECT i.relname, array_to_string(array_agg(a.attname ORDER BY k.ord), ',') FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
            "JOIN pg_namespace n ON n.oid = t.relnamespace "
            "CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, ord) "
            "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum "
            "WHERE n.nspname = %s AND t.relname = %s GROUP BY i.relname, x.indexrelid"), (schema, name))} \
            if kind == "postgres" else set()
        have_cols = {cols for (cols,) in have_idx}
        if kind != "postgres":
            with contextlib.suppress(KwtuiError):
                detail_rows = await _rows(svc, sql.SQL("SHOW INDEXES FROM {}").format(_q(te.target)))
                by_name: dict[str, list[str]] = {}
                for r in detail_rows:
                    by_name.setdefault(str(r[1]), []).append(str(r[4]))
                have_cols = {",".join(v) for v in by_name.values()}
        fks = {r[0] for r in await _rows(svc, "SELECT constraint_name FROM information_schema.table_constraints "
                                              "WHERE table_schema = %s AND table_name = %s "
                                              "AND constraint_type = 'FOREIGN KEY'", (schema, name))}
        missing_stmts: list[str] = []
        missing: list[str] = []
        for ix in ta.indexes:
            if ix.primary or not ix.columns:
                continue
            if ",".join(ix.columns) not in have_cols and not any(c.startswith(",".join(ix.columns) + ",")
                                                                 for c in have_cols):
                missing.append(f"index {ix.name} ({', '.join(ix.columns)})")
                missing_stmts += [s for s in te.post_load if f"INDEX \"{ix.name}\"" in s or f"INDEX {ix.name} " in s]
        for fk in ta.foreign_keys:
            if fk.name not in fks:
                missing.append(f"foreign key {fk.name}")
                missing_stmts += [s for s in te.post_load if f"CONSTRAINT \"{fk.name}\"" in s
                                  or f"CONSTRAINT {fk.name} " in s]
        report.tasks.append(Task(f"objects.{te.target}", f"indexes and keys of {te.target}",
                                 WARNING if missing else OK,
                                 f"missing: {', '.join(missing)}" if missing else
                                 f"{len([i for i in ta.indexes if not i.primary])} index(es), "
                                 f"{len(ta.foreign_keys)} foreign key(s) as planned",
                                 "create them (after a check that the data allows it)" if missing else "",
                                 missing_stmts))
        # -- sequences: the next value must be past the copied ids ------------------------------------
        if kind == "postgres" and ta.sequences:
            for c in ta.columns:
                if not c.identity:
                    continue
                row = (await _rows(svc, sql.SQL("SELECT pg_get_serial_sequence(%s, %s), max({}) FROM {}").format(
                    sql.Identifier(c.name), _q(te.target)), (f'"{schema}"."{name}"', c.name)))[0]
                seq, top = row
                if seq is None:
                    report.tasks.append(Task(f"sequence.{te.target}.{c.name}", f"sequence of {te.target}.{c.name}",
                                             WARNING, "the target column has no sequence: new rows get no id",
                                             "give it an identity or a sequence default",
                                             [f"ALTER TABLE {te.target} ALTER COLUMN {c.name} ADD GENERATED BY DEFAULT "
                                              f"AS IDENTITY (START WITH {int(top or 0) + 1})"]))
                    continue
                last = (await _rows(svc, sql.SQL("SELECT last_value, is_called FROM {}").format(
                    sql.Identifier(*TableName.parse(seq)))))[0]
                nxt = int(last[0]) + (1 if last[1] else 0)
                behind = top is not None and nxt <= int(top)
                report.tasks.append(Task(f"sequence.{te.target}.{c.name}", f"sequence of {te.target}.{c.name}",
                                         WARNING if behind else OK,
                                         f"{seq} next {nxt}, highest {c.name} {top}",
                                         "move it past the copied ids" if behind else "",
                                         [f"SELECT setval('{seq}', {int(top)})"] if behind else []))
    # -- the rest: connection string, rollback, monitoring ---------------------------------------------
    report.connection = safe_reference(plan.requirements.target)
    source = safe_reference(plan.requirements.source)
    report.rollback = [
        f"stop writes on the target ({report.connection}) and keep the source ({source}) untouched until you are "
        "sure",
        "copy back what changed on the target since the cutover: for each table with a watermark, "
        f"kwtui sync --source {report.connection} --target {source} --table T --watermark COLUMN",
        f"tables without a watermark: kwtui transfer --source {report.connection} --target {source} --table T "
        "into an emptied table",
        f"point the applications back at {source} and validate (kwtui validate --source {source} --target "
        f"{report.connection} --all)",
    ]
    for te in tables:  # text for the runbook, composed with psycopg.sql (never run here)
        report.monitoring.append(sql.SQL("SELECT {} AS t, count(*) FROM {};").format(
            sql.Literal(te.target), _q_in(te)).as_string(None))
        if te.watermark:
            report.monitoring.append(sql.SQL("SELECT max({}) FROM {};  -- compare with the source: the lag").format(
                sql.Identifier(te.watermark), _q_in(te)).as_string(None))
    return report


def post_path(plan_path: str | Path) -> Path:
    p = Path(plan_path)
    stem = p.name.removesuffix(".toml").removesuffix(".plan")
    return p.with_name(f"{stem}.post.md")


__all__ = ["Task", "AftercareReport", "run_aftercare", "post_path", "DONE", "OK", "WARNING", "FAILED"]
