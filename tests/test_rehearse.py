"""`kwtui run PLAN --rehearse`: a sample of each table into a scratch schema on the real target,
children only with the parents they name, checked, timed into an ETA, and the scratch dropped."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from .test_cli import run


def shop(src: str) -> None:
    with psycopg.connect(src, autocommit=True) as c:
        c.execute("CREATE TYPE mood AS ENUM ('ok', 'sad')")
        c.execute("CREATE TABLE customers (id int PRIMARY KEY, name text, m mood, meta jsonb)")
        c.execute("CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers, total numeric)")
        c.execute("CREATE TABLE lines (id int PRIMARY KEY, order_id int NOT NULL REFERENCES orders, qty int)")
        c.execute("INSERT INTO customers SELECT g, 'c' || g, 'ok', '{\"a\": 1}' FROM generate_series(1, 500) g")
        c.execute("INSERT INTO orders SELECT g, 1 + g % 500, g * 1.5 FROM generate_series(1, 2000) g")
        c.execute("INSERT INTO lines SELECT g, 1 + g % 2000, g % 9 FROM generate_series(1, 6000) g")
        c.execute("ANALYZE")


def scratch_schemas(dst: str) -> list[str]:
    with psycopg.connect(dst, autocommit=True) as c:
        return [r[0] for r in c.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'kwtui_rehearsal%'")]


def test_rehearsal_on_a_sample_keeps_foreign_keys_and_drops_the_scratch(
        capsys: pytest.CaptureFixture[str], two_dbs: tuple[str, str], tmp_path: Path) -> None:
    src, dst = two_dbs
    shop(src)
    plan = tmp_path / "shop.plan.toml"
    assert run(capsys, "plan", "--source", src, "--target", dst, "--save", str(plan))[0] == 0
    code, out, err = run(capsys, "run", str(plan), "--rehearse", "--sample", "10", "--json")
    assert code == 0, out + err
    doc = json.loads(out)
    tables = {t["table"]: t for t in doc["tables"]}
    assert [t["table"] for t in doc["tables"]] == ["public.customers", "public.orders", "public.lines"]
    customers, orders, lines = (tables[f"public.{n}"] for n in ("customers", "orders", "lines"))
    assert 0 < customers["sample_rows"] < 500 and customers["full_rows"] == 500
    assert 0 < orders["sample_rows"] < 2000 and 0 < lines["sample_rows"] < 6000
    assert all(t["orphans"] == 0 and t["loaded_rows"] == t["sample_rows"] for t in doc["tables"])
    assert doc["eta_s"] > 0 and doc["rows_per_s"] > 0 and doc["dropped"]
    assert scratch_schemas(dst) == []
    with psycopg.connect(dst, autocommit=True) as c:  # the target itself untouched
        assert c.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone() == (0,)
    # the same sample again (repeatable), kept for a look
    code, out, _ = run(capsys, "run", str(plan), "--rehearse", "--scratch", "kwtui_rehearsal_look", "--keep-scratch",
                       "--json")
    kept = json.loads(out)
    assert code == 0 and not kept["dropped"] and scratch_schemas(dst) == ["kwtui_rehearsal_look"]
    assert [t["sample_rows"] for t in kept["tables"]] == [t["sample_rows"] for t in doc["tables"]]
    with psycopg.connect(dst, autocommit=True) as c:
        orphans = c.execute("SELECT count(*) FROM kwtui_rehearsal_look.lines l WHERE NOT EXISTS "
                            "(SELECT 1 FROM kwtui_rehearsal_look.orders o WHERE o.id = l.order_id)").fetchone()
        assert orphans == (0,)
    # an existing schema is never taken over (nor dropped)
    code, _, err = run(capsys, "run", str(plan), "--rehearse", "--scratch", "kwtui_rehearsal_look")
    assert code == 2 and "exists on the target" in err
    assert scratch_schemas(dst) == ["kwtui_rehearsal_look"]


@pytest.mark.kwdb
def test_rehearsal_into_kwdb(capsys: pytest.CaptureFixture[str], db: object, kwdb: str, tmp_path: Path) -> None:
    from .conftest import TestDb

    assert isinstance(db, TestDb)
    shop(db.uri)
    plan = tmp_path / "k.plan.toml"
    assert run(capsys, "plan", "--source", db.uri, "--target", kwdb, "--save", str(plan))[0] == 0
    code, out, err = run(capsys, "run", str(plan), "--rehearse", "--json")
    doc = json.loads(out)
    assert code == 0, json.dumps(doc, indent=1) + err
    assert all(t["orphans"] == 0 and t["sample_rows"] > 0 for t in doc["tables"]) and doc["dropped"]


@pytest.mark.kwdb
def test_rehearsal_of_the_demo_shop_into_kwdb(capsys: pytest.CaptureFixture[str], db: object, kwdb: str,
                                              tmp_path: Path) -> None:
    """The demo's shop (notes with newlines and quotes, bytea avatars, JSON): the text-format COPY of
    the sample into KWDB failed on customers ('could not parse JSON: ... invalid character 'u' after
    array element'), so a KWDB target is loaded by parameters; every sampled row lands."""
    from kwtui.demo import SHOP_SQL

    from .conftest import TestDb

    assert isinstance(db, TestDb)
    with psycopg.connect(db.uri, autocommit=True) as c:
        c.execute(SHOP_SQL)  # type: ignore[arg-type]  # one trusted multi-statement script
    plan = tmp_path / "shop.plan.toml"
    assert run(capsys, "plan", "--source", db.uri, "--target", kwdb, "--save", str(plan))[0] == 0
    code, out, err = run(capsys, "run", str(plan), "--rehearse", "--sample", "10", "--json")
    doc = json.loads(out)
    assert code == 0, json.dumps(doc, indent=1) + err
    tables = {t["table"]: t for t in doc["tables"]}
    assert tables["public.customers"]["sample_rows"] > 0 and tables["public.customers"]["error"] is None
    assert all(t["loaded_rows"] == t["sample_rows"] and t["orphans"] == 0 for t in doc["tables"])
    assert doc["eta_s"] > 0 and doc["dropped"]
    with psycopg.connect(kwdb, autocommit=True) as c:
        assert c.execute("SELECT count(*) FROM [SHOW SCHEMAS] WHERE schema_name LIKE 'kwtui_rehearsal%'"
                         ).fetchone() == (0,)
