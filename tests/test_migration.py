"""A whole migration: plan --save, kwtui run through the six phases, runbook (embedded PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kwtui import migration, plan
from kwtui.migration import MigrationPlan, MigrationState, Requirements

from .test_cli import run
from .test_transfer import checksum, execute


def fetch(uri: str, query: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(uri) as conn:
        return conn.execute(query).fetchall()  # type: ignore[arg-type]

SHOP = """
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int NOT NULL REFERENCES customers(id),
    amount numeric(10, 2), note text, updated_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX orders_customer ON orders (customer_id);
INSERT INTO customers SELECT g, 'c' || g, now() - interval '1 day' FROM generate_series(1, 200) g;
INSERT INTO orders SELECT g, 1 + g % 200, g * 1.25, CASE WHEN g % 7 = 0 THEN NULL ELSE 'n' || g END,
    now() - interval '1 day' FROM generate_series(1, 5000) g;
CREATE TABLE readings (ts timestamptz NOT NULL, device_id int NOT NULL, site text NOT NULL, value float8,
    PRIMARY KEY (ts, device_id));
INSERT INTO readings SELECT timestamptz '2024-01-01' + (g / 10) * interval '1 minute', g % 10,
    'site ' || (g % 10 % 3), g * 0.5 FROM generate_series(1, 3000) g;
"""


def _plan(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    return run(capsys, "plan", *args)


def test_plan_save_and_run_all_phases(capsys: pytest.CaptureFixture[str], two_dbs: tuple[str, str],
                                      tmp_path: Path) -> None:
    src, dst = two_dbs
    execute(src, SHOP)
    planfile = tmp_path / "shop.plan.toml"
    code, out, err = _plan(capsys, "--source", src, "--target", dst, "--save", str(planfile), "--eta")
    assert code == 0, err
    assert "password" not in planfile.read_text()
    p = MigrationPlan.load(planfile)
    assert [t.table for t in p.included] == ["public.customers", "public.readings", "public.orders"]
    assert p.target_kind == "postgres" and p.requirements.deployment == "single node"
    assert p.entry("public.orders").watermark == "updated_at"
    assert p.eta is not None and p.eta.sample_rows > 0 and p.eta.total_s > 0
    assert "sample transfer" in p.eta.method
    # the scratch table of the sample is gone
    assert fetch(dst, "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'kwtui_sample%'")[0][0] == 0
    # phases 1 to 4
    code, out, err = run(capsys, "run", str(planfile), "--through", "catchup")
    assert code == 0, err
    assert "phase 1 Schema: done" in out and "phase 4 Catch-up sync: done" in out
    for t, key in (("customers", "id"), ("orders", "id"), ("readings", "ts, device_id")):
        assert checksum(src, t, key) == checksum(dst, t, key)
    assert fetch(dst, "SELECT count(*) FROM pg_indexes WHERE indexname = 'orders_customer'")[0][0] == 1
    # changes while the application still writes
    execute(src, "INSERT INTO customers (id, name) VALUES (201, 'new');"
                 "UPDATE orders SET amount = 0, updated_at = now() WHERE id <= 10;"
                 "INSERT INTO orders (id, customer_id, amount) VALUES (5001, 201, 1)")
    code, out, err = run(capsys, "run", str(planfile), "--phase", "catchup", "--json")
    assert code == 0, err
    st = MigrationState.load(p, planfile)
    assert st.phase("catchup").data["rows_moved"] == 12 and st.phase("catchup").runs == 2
    # cutover refuses without confirmation; then final sync + validation + connection advice
    code, out, err = run(capsys, "run", str(planfile), "--phase", "cutover")
    assert code == 2 and "writes stopped" in err
    # readings has no updated_at: updated rows are found by the cutover's full reconciliation
    assert p.entry("public.readings").watermark == "" and not p.entry("public.readings").sees_updates
    execute(src, "DELETE FROM orders WHERE id = 77; UPDATE readings SET value = -1 WHERE device_id = 3;"
                 "DELETE FROM readings WHERE device_id = 4 AND ts < '2024-01-01 00:10'")
    code, out, err = run(capsys, "run", str(planfile), "--yes")
    assert code == 0, err
    assert "Point the application at the target" in out and "phase 6 Validation and monitoring: done" in out
    assert checksum(src, "orders", "id") == checksum(dst, "orders", "id")
    assert checksum(src, "readings", "ts, device_id") == checksum(dst, "readings", "ts, device_id")
    assert "full reconciliation" in out
    st = MigrationState.load(p, planfile)
    assert all(ph.state == migration.DONE for ph in st.phases)
    assert st.phase("cutover").data["validation"]["ok"]
    runbook = (tmp_path / "shop.plan.toml.runbook.md").read_text()
    for text in ("## Requirements", "## Strategy", "### [x] Phase 6: Validation and monitoring", "CREATE TABLE",
                 "Rollback:", "equal", "ETA of the historical copy"):
        assert text in runbook
    code, out, _ = run(capsys, "run", str(planfile), "--status")
    assert code == 0 and "6/6 phases done" in out


def test_no_writes_skips_capture_and_a_failed_phase_resumes(capsys: pytest.CaptureFixture[str],
                                                            two_dbs: tuple[str, str], tmp_path: Path) -> None:
    src, dst = two_dbs
    execute(src, "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' FROM generate_series(1, 50) g")
    execute(dst, "CREATE TABLE t (id int PRIMARY KEY, v int)")  # incompatible: the copy fails
    planfile = tmp_path / "p.toml"
    code, _, err = _plan(capsys, "--source", src, "--target", dst, "--save", str(planfile), "--no-source-writes")
    assert code == 0, err
    code, out, err = run(capsys, "run", str(planfile), "--yes")
    assert code == 1
    st = MigrationState.load(MigrationPlan.load(planfile), planfile)
    assert st.phase("schema").state == "done" and st.phase("historical").state == "failed"
    assert "exists, kept" in " ".join(st.phase("schema").details)
    execute(dst, "DROP TABLE t; CREATE TABLE t (id int PRIMARY KEY, v text)")
    code, out, err = run(capsys, "run", str(planfile), "--yes")
    assert code == 0, err
    st = MigrationState.load(MigrationPlan.load(planfile), planfile)
    assert st.phase("capture").state == "skipped" and st.phase("catchup").state == "skipped"
    assert st.phase("validation").state == "done"
    assert checksum(src, "t", "id") == checksum(dst, "t", "id")


def test_mapping_edits_rerender_ddl_and_survive_save(capsys: pytest.CaptureFixture[str], two_dbs: tuple[str, str],
                                                      tmp_path: Path) -> None:
    src, _ = two_dbs
    execute(src, SHOP)
    planfile = tmp_path / "ts.toml"
    code, _, err = _plan(capsys, "--source", src, "--target-kind", "kwdb-ts", "--ts-suggest", "--save", str(planfile))
    assert code == 0, err
    p = MigrationPlan.load(planfile)
    r = p.entry("public.readings")
    assert r.ts and "PRIMARY TAGS (device_id)" in r.create
    roles = {m.name: m.role for m in p.mapping("public.readings")}
    assert roles == {"ts": "timestamp", "value": "column", "device_id": "primary tag", "site": "tag"}
    p.set_type("public.readings", "value", "float4")
    p.set_role("public.readings", "site", "column")
    create = p.entry("public.readings").create
    assert "    value FLOAT4" in create and "    site VARCHAR" not in create.split("TAGS")[1]
    assert create.split(") TAGS (")[1].strip().startswith("device_id INT4 NOT NULL\n)")
    with pytest.raises(Exception, match="primary tag"):
        p.set_role("public.readings", "device_id", "column")
    with pytest.raises(Exception, match="does not look like a type"):
        p.set_type("public.readings", "value", "float; drop table x")
    p.save(planfile)
    q = MigrationPlan.load(planfile)
    assert q.overrides == {"public.readings": {"value": "FLOAT4"}}
    assert q.entry("public.readings").create == p.entry("public.readings").create
    assert next(m for m in q.mapping("public.readings") if m.name == "value").edited
    # numeric -> FLOAT8 on a TS table is lossy and says so
    amount = next(m for m in q.mapping("public.orders") if m.name == "amount")
    assert amount.target_type == "FLOAT8" and amount.lossy


def test_strategy_reasons_follow_deployment_and_volume() -> None:
    a = plan.Assessment("postgres", tables=[plan.TableAssessment(
        "public", "big", est_rows=50_000_000, bytes=6 << 30,
        columns=[plan.ColumnInfo("id", "bigint", nullable=False), plan.ColumnInfo("ts", "timestamptz", False)],
        primary_key=["id"])])
    single = migration.build_plan(a, Requirements("x", target_kind="kwdb", deployment="single node"), cores=8)
    multi = migration.build_plan(a, Requirements("x", target_kind="kwdb", deployment="multi-replica"), cores=8)
    s, m = single.tables[0], multi.tables[0]
    assert s.method == "native IMPORT" and "GB" in s.reason
    assert m.batch_rows < s.batch_rows and m.thread_concurrency <= 4 < s.thread_concurrency
    assert any("multi-replica" in n for n in multi.notes)
    assert any("writes continue" in n for n in single.notes)


def test_plan_from_csv_files_and_run(capsys: pytest.CaptureFixture[str], two_dbs: tuple[str, str],
                                     tmp_path: Path) -> None:
    _, dst = two_dbs
    d = tmp_path / "csv"
    d.mkdir()
    (d / "people.csv").write_text("id,name\n1,ann\n2,bob\n3,\"c, d\"\n")
    planfile = tmp_path / "files.toml"
    code, out, err = _plan(capsys, "--source", str(d), "--target", dst, "--save", str(planfile))
    assert code == 0, err
    p = MigrationPlan.load(planfile)
    e = p.entry("public.people")
    assert e.rows == 3 and e.files and p.requirements.source_kind == "csv"
    p.set_type("public.people", "id", "int")
    p.save(planfile)
    code, out, err = run(capsys, "run", str(planfile), "--yes", "--json")
    assert code == 0, err
    assert fetch(dst, "SELECT id, name FROM people ORDER BY id") == [(1, "ann"), (2, "bob"), (3, "c, d")]
    st = MigrationState.load(p, planfile)
    assert st.phase("validation").data["validation"]["ok"]
    assert json.loads(out.strip().splitlines()[-1])["phases"][5]["state"] == "done"


def test_safe_reference_drops_passwords() -> None:
    assert migration.safe_reference("postgresql://u:secret@h:5/db?sslmode=require") == \
        "postgresql://u@h:5/db?sslmode=require"
    assert "secret" not in migration.safe_reference("host=/tmp user=u password=secret dbname=x")
    assert migration.safe_reference("prod") == "prod"
