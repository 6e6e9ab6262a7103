"""The migration runbook: one Markdown document from the plan and what actually ran.

It says what was asked (requirements), what was found (assessment and warnings), what was
decided and why (strategy, mapping, DDL), and per phase what ran: statements, options,
timings, row counts, rejects, validation verdicts; then the rollback steps of each phase.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from kwtui.fmt import seconds_text
from kwtui.migration import (
    DONE,
    DOWNTIME_TEXT,
    FAILED,
    PHASES,
    SKIPPED,
    MigrationPlan,
    MigrationState,
    next_action,
    progress_text,
)

_secs = seconds_text


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


ROLLBACK = {
    "preflight": "Nothing to undo: the checks only read.",
    "schema": "Drop the tables this phase created on the target (in reverse order): {created}. "
              "The source is untouched.",
    "historical": "Drop or truncate the target tables and start the phase again; the source is untouched. "
                  "An interrupted job needs no rollback: `kwtui jobs resume {job}` continues it without doubling.",
    "capture": "Nothing to undo: only the watermarks in kwtui's journal were set.",
    "catchup": "Nothing to undo on the source. The target may hold newer rows than the copy: a new full copy "
               "(phase 2) replaces them.",
    "cutover": "Point the application back at the source (its connection string as before) and restart its "
               "writes there. Rows written to the target after the switch must be copied back "
               "(kwtui transfer or sync from target to source) before the next attempt.",
    "validation": "If the validation or the monitoring shows a problem: switch the application back to the source "
                  "(see cutover), fix, and re-run from the catch-up sync.",
    "post-migration": "Statistics need no rollback; for the rest, follow the rollback plan above.",
}


def render_runbook(plan: MigrationPlan, state: MigrationState, *, title: str | None = None) -> str:
    r = plan.requirements
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    lines = [f"# Migration runbook: {title or plan.name or plan.assessment.database or plan.id}", "",
             f"Plan `{plan.id}`, made {plan.created}; this runbook written {now}. "
             f"State: {progress_text(state)}.", ""]
    lines += ["## Requirements", "",
              f"- Source: {r.source} ({r.source_kind})",
              f"- Target: {r.target or '(not connected when planned)'} ({r.target_kind}, {r.deployment})"
              + (f"; time-series tables in the TS database `{r.ts_database}` (created by the schema phase: "
                 f"CREATE TS DATABASE), the others in {plan.target_database()}" if r.ts_database else ""),
              f"- Downtime the business accepts: {DOWNTIME_TEXT.get(r.downtime, r.downtime)}",
              f"- The source keeps taking writes during the move: {'yes' if r.source_writes else 'no'}",
              f"- Tables: {', '.join(r.tables) if r.tables else 'all'}", ""]
    inc = plan.included
    rows = sum(t.rows for t in inc)
    size = sum(t.bytes for t in inc)
    lines += ["## Assessment", "",
              f"{len(inc)} table(s), {rows:,} rows, {size / 1e6:,.1f} MB.", "",
              "| table | target | rows | MB | complexity | key | watermark |", "|---|---|---:|---:|---:|---|---|"]
    for t in inc:
        lines.append(f"| {t.table} | {t.database + '.' if t.database else ''}{t.target}{' (TS)' if t.ts else ''} | {t.rows:,} | {t.bytes / 1e6:.2f} | "
                     f"{t.complexity} | {', '.join(t.key) or '-'} | {t.watermark or '-'} |")
    skipped = [t.table for t in plan.tables if not t.include]
    if skipped:
        lines += ["", f"Left out by choice: {', '.join(skipped)}."]
    findings = plan.assessment.findings
    if findings or plan.warnings:
        lines += ["", "### What does not carry over as it is", ""]
        lines += [f"- **{f.construct}** {f.table or '(database)'}: {f.detail}. *Do:* {f.advice}" for f in findings]
        lines += [f"- {w}" for w in plan.warnings if not any(f.detail in w for f in findings)]
    if plan.assessment.inventory is not None:  # every object of the source and its fate on the target
        from kwtui.inventory import render_markdown as inventory_markdown

        lines += ["", "#" + inventory_markdown(plan.assessment.inventory).rstrip()]
        if plan.requirements.accept_loss:
            lines += ["", f"Losses accepted: {', '.join(plan.requirements.accept_loss)}."]
    lines += ["", "## Strategy", ""]
    lines += [f"- {n}" for n in plan.notes]
    lines += ["", "| order | table | method | workers | batch_rows | chunk_rows | thread_concurrency | ETA | why |",
              "|---:|---|---|---:|---:|---:|---:|---:|---|"]
    for i, t in enumerate(inc, 1):
        lines.append(f"| {i} | {t.table} | {t.method} | {t.workers} | {t.batch_rows} | {t.chunk_rows:,} | "
                     f"{t.thread_concurrency} | {_secs(t.eta_s)} | {_md(t.reason)} |")
    if plan.eta:
        e = plan.eta
        lines += ["", f"ETA of the historical copy: **{_secs(e.total_s)}**, from a sample of {e.sample_rows:,} rows "
                      f"of {e.sample_table or '-'} in {e.sample_seconds:.2f} s ({e.rows_per_s:,.0f} rows/s; "
                      f"{e.method})."]
    edited = {t: c for t, c in plan.overrides.items() if c}
    if edited:
        lines += ["", "### Mapping edits", ""]
        for tname, cols in edited.items():
            lines += [f"- {tname}.{c} -> {typ}" for c, typ in cols.items()]
    lines += ["", "## DDL", "", "```sql", plan.ddl_script().rstrip(), "```", "", "## Phases", ""]
    for (key, title_, what), rec in zip(PHASES, state.phases, strict=True):
        n = PHASES.index((key, title_, what))
        mark = {DONE: "[x]", SKIPPED: "[-]", FAILED: "[!]"}.get(rec.state, "[ ]")
        lines += [f"### {mark} Phase {n}: {title_}", "", f"*{what}.*", ""]
        lines.append(f"- State: **{rec.state}**" + (f" — {rec.summary}" if rec.summary else ""))
        if rec.started:
            lines.append(f"- Ran: {rec.started} to {rec.finished or '…'} ({_secs(rec.seconds)}), "
                         f"{rec.runs} run(s)")
        if rec.details and key not in ("preflight", "post-migration"):  # those two: their checklist below
            lines += ["- What happened:"] + [("    - " if d.startswith("  ") else "  - ") + _md(d.strip())
                                             for d in rec.details]
        if rec.statements:
            lines += ["- Statements:", "", "```sql"] + [s.rstrip() for s in rec.statements] + ["```", ""]
        data = rec.data
        if key == "historical" and data.get("job") is not None:
            lines.append(f"- Job: {data['job']} (`kwtui jobs show {data['job']}`); rows {data.get('rows', 0):,}"
                         + (f"; rejects {data['rejects']:,}" if data.get("rejects") else ""))
        if data.get("snapshot") and key in ("historical", "catchup", "cutover"):
            snap = data["snapshot"]
            lines.append(f"- Source snapshot {'of the copy' if key == 'historical' else 'the next catch-up starts from'}"
                         f": {snap.get('kind')} `{snap.get('ident')}` (taken {snap.get('taken', '')})")
        if key == "historical" and data.get("watermarks"):
            lines.append(f"- Watermarks read before the copy ({data.get('watermarks_at', '')}): "
                         + ", ".join(f"{k} = {v}" for k, v in data["watermarks"].items()))
        v = data.get("validation")
        if v:
            lines += ["- Validation: " + ("**equal**" if v.get("ok") else "**differences**"),
                      "", "  | table | verdict | source rows | target rows |", "  |---|---|---:|---:|"]
            for tbl, verdict in v.get("verdicts", {}).items():
                sc, tc = (v.get("counts", {}).get(tbl) or [None, None])[:2]
                lines.append(f"  | {tbl} | {verdict} | {sc if sc is not None else '-'} | "
                             f"{tc if tc is not None else '-'} |")
            lines.append("")
            if data.get("report"):
                lines.append(f"- Report: {data['report']}")
        if key == "preflight" and data.get("checks"):
            lines += ["- Checklist:"] + [f"  - [{c['verdict']}] {_md(c['title'])}: {_md(c['evidence'])}"
                                         + (f" — fix: {_md(c['fix'])}" if c.get("fix") and c["verdict"] != "ok"
                                            else "") for c in data["checks"]]
        if key == "post-migration" and data.get("tasks"):
            lines += ["- Checklist:"] + [f"  - [{'x' if t['verdict'] in ('done', 'ok') else ' '}] {_md(t['title'])}"
                                         f" ({t['verdict']}): {_md(t['evidence'])}" for t in data["tasks"]]
            lines += ["", "#### New connection strings", "", f"    {data.get('connection', '')}", "",
                      "#### Rollback plan (what to point back, what to copy back)", ""]
            lines += [f"{i}. {_md(step)}" for i, step in enumerate(data.get("rollback", []), 1)]
            lines += ["", "#### Monitoring queries (re-run them)", "", "```sql", *data.get("monitoring", []),
                      "```", ""]
        for s in data.get("syncs", []):
            lines.append(f"- Sync at {s['at']}: {s['rows_moved']:,} rows moved")
        rb = ROLLBACK[key].format(created=", ".join(reversed(state.phase("schema").data.get("created", [])))
                                  or "(none)", job=state.phase("historical").data.get("job", "ID"))
        lines += [f"- Rollback: {rb}", ""]
    lines += ["## Next", "", next_action(plan, state), ""]
    return "\n".join(lines)


__all__ = ["render_runbook"]
