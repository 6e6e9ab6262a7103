"""The first and last phases of `kwtui run` on real PostgreSQL: the preflight (the doctor's
checks; blockers stop the schema phase, warnings only when accepted) and the post-migration
tasks (statistics, indexes and keys, sequences, rollback plan, connection strings, monitoring
queries) with their checklist in the runbook."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest
from psycopg import sql

from kwtui import migration
from kwtui.migration import MigrationPlan, MigrationState

from .test_cli import run
from .test_migration import SHOP, fetch
from .test_transfer import execute

if TYPE_CHECKING:
    from .conftest import PgServer


@pytest.fixture
def no_create(two_dbs: tuple[str, str], pg_server: PgServer) -> Iterator[dict[str, str]]:
    """A source with a keyless table (a warning) and a target whose user may not create (a blocker)."""
    src, dst = two_dbs
    execute(src, "CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items SELECT g, 'i' || g "
                 "FROM generate_series(1, 50) g; CREATE TABLE notes (body text); INSERT INTO notes VALUES ('a')")
    role = "pf_" + uuid.uuid4().hex[:8]
    dst_db = dst.rsplit("/", 1)[1]
    with psycopg.connect(pg_server.conninfo(), autocommit=True) as c:
        c.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    with psycopg.connect(dst, autocommit=True) as c:
        c.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        c.execute(sql.SQL("REVOKE CREATE ON DATABASE {} FROM PUBLIC").format(sql.Identifier(dst_db)))
    try:
        yield {"source": src, "target": pg_server.uri(dst_db, role), "admin": dst, "role": role}
    finally:
        with psycopg.connect(pg_server.conninfo(), autocommit=True) as c:
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dst_db)))
            c.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def test_preflight_blocks_the_schema_phase_until_fixed_and_warnings_only_when_accepted(
        capsys: pytest.CaptureFixture[str], no_create: dict[str, str], tmp_path: Path) -> None:
    planfile = tmp_path / "p.plan.toml"
    code, _, err = run(capsys, "plan", "--source", no_create["source"], "--target", no_create["target"],
                       "--save", str(planfile))
    assert code == 0, err
    # a blocker: the preflight fails and names it with its fix; nothing was created
    code, out, err = run(capsys, "run", str(planfile))
    assert code == 1, err
    assert "phase 0 Preflight: failed (preflight found 1 blocker(s): " in out
    assert "CREATE on schema public: no" in out and "GRANT CREATE" in out
    assert "phase 1 Schema" not in out
    assert fetch(no_create["admin"], "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")[0][0] == 0
    # the schema phase refuses, naming the blocker and its fix; accepting warnings does not pass a blocker
    code, _, err = run(capsys, "run", str(planfile), "--phase", "schema", "--accept-warnings")
    assert code == 2 and "preflight found 1 blocker(s)" in err and "GRANT CREATE" in err
    st = MigrationState.load(MigrationPlan.load(planfile), planfile)
    pf = st.phase("preflight")
    assert pf.state == migration.FAILED and pf.data["blockers"] == ["target allows CREATE"]
    assert {c["verdict"] for c in pf.data["checks"]} >= {"ok", "warning", "blocker"}
    assert all(c["evidence"] for c in pf.data["checks"])
    # the fix: grant CREATE. Now only the warning (a table without a primary key) stops it
    with psycopg.connect(no_create["admin"], autocommit=True) as c:
        c.execute(sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(sql.Identifier(no_create["role"])))
    code, out, err = run(capsys, "run", str(planfile), "--through", "schema")
    assert code == 1 and "preflight found 1 warning(s): tables have a primary key" in out
    assert "public.notes" in out and "ADD PRIMARY KEY" in out
    code, _, err = run(capsys, "run", str(planfile), "--phase", "schema")
    assert code == 2 and "accept the warnings" in err
    # accepted explicitly: the preflight passes (recorded as accepted) and the schema phase runs
    code, out, err = run(capsys, "run", str(planfile), "--through", "schema", "--accept-warnings")
    assert code == 0, err
    assert "phase 0 Preflight: done" in out and "warnings accepted" in out and "phase 1 Schema: done" in out
    st = MigrationState.load(MigrationPlan.load(planfile), planfile)
    assert st.phase("preflight").data["accepted"] is True
    runbook = (tmp_path / "p.plan.toml.runbook.md").read_text()
    assert "### [x] Phase 0: Preflight" in runbook and "- Checklist:" in runbook
    assert "[warning] tables have a primary key" in runbook


def test_post_migration_is_the_last_phase_with_its_checklist_in_the_runbook(
        capsys: pytest.CaptureFixture[str], two_dbs: tuple[str, str], tmp_path: Path) -> None:
    src, dst = two_dbs
    execute(src, SHOP)
    planfile = tmp_path / "shop.plan.toml"
    code, _, err = run(capsys, "plan", "--source", src, "--target", dst, "--save", str(planfile))
    assert code == 0, err
    code, out, err = run(capsys, "run", str(planfile), "--through", "validation", "--yes")
    assert code == 0, err
    st = MigrationState.load(MigrationPlan.load(planfile), planfile)
    assert st.phase("post-migration").state == migration.PENDING
    assert "7. [pending ] Post-migration" in run(capsys, "run", str(planfile), "--status")[1]
    code, out, err = run(capsys, "run", str(planfile), "--phase", "post-migration", "--json")
    assert code == 0, err
    doc = json.loads(out)
    post = next(p for p in doc["phases"] if p["key"] == "post-migration")
    assert post["state"] == "done"
    tasks = {t["id"]: t for t in post["data"]["tasks"]}
    assert tasks["statistics"]["verdict"] == "done"
    assert all(t["verdict"] in ("done", "ok") for t in tasks.values()), tasks
    # ANALYZE really ran on every loaded table
    analyzed = fetch(dst, "SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL ORDER BY 1")
    assert [r[0] for r in analyzed] == ["customers", "orders", "readings"]
    assert post["data"]["rollback"] and post["data"]["monitoring"] and post["data"]["connection"]
    runbook = (tmp_path / "shop.plan.toml.runbook.md").read_text()
    for text in ("### [x] Phase 7: Post-migration", "- Checklist:", "#### New connection strings",
                 "#### Rollback plan (what to point back, what to copy back)", "#### Monitoring queries",
                 'SELECT \'public.orders\' AS t, count(*) FROM "public"."orders";'):
        assert text in runbook, text
    code, out, _ = run(capsys, "run", str(planfile), "--status")
    assert code == 0 and "8/8 phases done" in out


@pytest.mark.kwdb
def test_all_eight_phases_into_kwdb(capsys: pytest.CaptureFixture[str], db: object, kwdb: str,
                                    tmp_path: Path) -> None:
    """Preflight against a real KWDB node, the move, then the post-migration phase runs KWDB's
    CREATE STATISTICS and finds the plan's index made by the historical phase."""
    from .conftest import TestDb

    assert isinstance(db, TestDb)
    db.execute("CREATE TABLE item (id int PRIMARY KEY, sku text, qty int)")
    db.execute("CREATE INDEX item_sku_ix ON item (sku)")
    db.execute("INSERT INTO item SELECT g, 's' || g, g FROM generate_series(1, 50) g")
    planfile = tmp_path / "k.plan.toml"
    assert run(capsys, "plan", "--source", db.uri, "--target", kwdb, "--save", str(planfile))[0] == 0
    code, out, err = run(capsys, "run", str(planfile), "--yes", "--accept-warnings", "--json")
    assert code == 0, out + err
    phases = {p["key"]: p for p in json.loads(out)["phases"]}
    assert phases["preflight"]["state"] == "done" and phases["preflight"]["data"]["blockers"] == []
    assert any(c["id"] == "connect.target" and c["verdict"] == "ok" for c in phases["preflight"]["data"]["checks"])
    post = phases["post-migration"]
    assert post["state"] == "done", post["summary"]
    tasks = {t["id"]: t for t in post["data"]["tasks"]}
    assert tasks["statistics"]["verdict"] == "done" and "CREATE STATISTICS" in tasks["statistics"]["evidence"]
    assert tasks["objects.public.item"]["verdict"] in ("ok", "done"), tasks["objects.public.item"]
    assert "8/8 phases done" in run(capsys, "run", str(planfile), "--status")[1]
