"""Post-migration tasks (`kwtui post-migrate PLAN`) on real servers: statistics refreshed, the
plan's indexes, foreign keys and sequence positions compared on the target, each missing one with
the statement that fixes it, and the rollback plan and monitoring queries written."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from .test_cli import run


def test_post_migrate_finds_what_is_missing_and_the_statements_fix_it(
        capsys: pytest.CaptureFixture[str], two_dbs: tuple[str, str], tmp_path: Path) -> None:
    src, dst = two_dbs
    with psycopg.connect(src, autocommit=True) as c:
        c.execute("CREATE TABLE parent (id serial PRIMARY KEY, name text)")
        c.execute("CREATE TABLE child (id serial PRIMARY KEY, parent_id int REFERENCES parent, note text)")
        c.execute("CREATE INDEX child_parent_ix ON child (parent_id)")
        c.execute("INSERT INTO parent (name) SELECT 'p' || g FROM generate_series(1, 20) g")
        c.execute("INSERT INTO child (parent_id, note) SELECT 1 + g % 20, 'n' FROM generate_series(1, 100) g")
    plan = tmp_path / "shop.plan.toml"
    code, _, err = run(capsys, "plan", "--source", src, "--target", dst, "--save", str(plan))
    assert code == 0, err
    # the rows land without the plan's post-load objects (as after an interrupted history phase)
    code, _, err = run(capsys, "transfer", "--source", src, "--target", dst, "--all")
    assert code == 0, err
    code, out, err = run(capsys, "post-migrate", str(plan), "--json")
    doc = json.loads(out)
    tasks = {t["id"]: t for t in doc["tasks"]}
    assert code == 1 and not doc["ok"]
    assert tasks["statistics"]["verdict"] == "done" and "ANALYZE on 2 table(s)" in tasks["statistics"]["evidence"]
    child = tasks["objects.public.child"]
    assert child["verdict"] == "warning" and "index child_parent_ix (parent_id)" in child["evidence"]
    assert "foreign key child_parent_id_fkey" in child["evidence"]
    seq = tasks["sequence.public.child.id"]
    assert seq["verdict"] == "warning" and "START WITH 101" in seq["statements"][0]
    assert (tmp_path / "shop.post.md").exists()
    assert doc["connection"] and "kwtui sync --source" in doc["rollback"][1]
    assert any(q.startswith('SELECT \'public.child\' AS t, count(*) FROM "public"."child"') for q in doc["monitoring"])
    # the statements given fix it
    with psycopg.connect(dst, autocommit=True) as c:
        for t in tasks.values():
            for stmt in t["statements"]:
                c.execute(stmt)
    code, out, err = run(capsys, "post-migrate", str(plan), "--json")
    doc = json.loads(out)
    assert code == 0 and doc["ok"], json.dumps(doc, indent=1)
    tasks = {t["id"]: t for t in doc["tasks"]}
    assert "next 101, highest id 100" in tasks["sequence.public.child.id"]["evidence"]
    with psycopg.connect(dst, autocommit=True) as c:  # and a new row gets the next id
        assert c.execute("INSERT INTO child (parent_id) VALUES (1) RETURNING id").fetchone() == (101,)


@pytest.mark.kwdb
def test_post_migrate_on_a_kwdb_target(capsys: pytest.CaptureFixture[str], db: object, kwdb: str,
                                       tmp_path: Path) -> None:
    from .conftest import TestDb

    assert isinstance(db, TestDb)
    db.execute("CREATE TABLE item (id int PRIMARY KEY, sku text, qty int)")
    db.execute("CREATE INDEX item_sku_ix ON item (sku)")
    db.execute("INSERT INTO item SELECT g, 's' || g, g FROM generate_series(1, 50) g")
    plan = tmp_path / "k.plan.toml"
    assert run(capsys, "plan", "--source", db.uri, "--target", kwdb, "--save", str(plan))[0] == 0
    assert run(capsys, "transfer", "--source", db.uri, "--target", kwdb, "--all")[0] == 0
    code, out, err = run(capsys, "post-migrate", str(plan), "--json")
    tasks = {t["id"]: t for t in json.loads(out)["tasks"]}
    assert tasks["statistics"]["verdict"] == "done" and "CREATE STATISTICS on 1 table(s)" in \
        tasks["statistics"]["evidence"]
    item = tasks["objects.public.item"]
    assert code == 1 and "index item_sku_ix (sku)" in item["evidence"]
    with psycopg.connect(kwdb, autocommit=True) as c:
        for stmt in item["statements"]:
            c.execute(stmt)
    code, out, err = run(capsys, "post-migrate", str(plan), "--json")
    assert code == 0, out
