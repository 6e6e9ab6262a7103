"""kwtui plan: assessment, findings, DDL translation and TS suggestions on a real PostgreSQL schema."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kwtui.catalog import TS_TABLE
from kwtui.plan import Assessment, ColumnInfo, ForeignKey, TableAssessment, order_tables, translate_ddl

from .test_cli import run
from .test_transfer import execute

SCHEMA = """
CREATE TYPE mood AS ENUM ('happy', 'sad', 'indifferent');
CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
CREATE TABLE customers (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL,
    feeling mood DEFAULT 'happy',
    age posint,
    tags text[],
    doc tsvector,
    name_len integer GENERATED ALWAYS AS (length(name)) STORED
);
CREATE TABLE orders (
    id bigserial PRIMARY KEY,
    customer_id integer NOT NULL REFERENCES customers (id),
    placed timestamptz NOT NULL,
    amount numeric(12, 2)
);
CREATE INDEX orders_customer ON orders (customer_id);
CREATE TABLE measurements (
    ts timestamptz NOT NULL,
    city text NOT NULL,
    temp double precision
) PARTITION BY RANGE (ts);
CREATE TABLE measurements_2024 PARTITION OF measurements FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE measurements_2025 PARTITION OF measurements FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE bookings (id int PRIMARY KEY, during tsrange, EXCLUDE USING gist (during WITH &&));
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER orders_touch BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION touch();
CREATE RULE no_delete AS ON DELETE TO bookings DO INSTEAD NOTHING;
INSERT INTO customers (name, feeling, age, tags, doc) VALUES ('ann', 'sad', 30, '{a,b}', 'fat cat');
INSERT INTO measurements VALUES ('2024-05-01', 'oslo', 12.5), ('2025-05-01', 'rome', 22.0);
"""

READINGS = """
CREATE TABLE readings (
    ts timestamptz NOT NULL,
    device_id integer NOT NULL,
    site text NOT NULL,
    value double precision,
    PRIMARY KEY (ts, device_id)
);
INSERT INTO readings
SELECT timestamptz '2024-01-01' + (g / 20) * interval '1 minute', g % 20, 'site-' || (g % 20) % 4, random()
FROM generate_series(0, 1999) g;
"""


def test_plan_kwdb_every_table_and_every_construct(capsys: pytest.CaptureFixture[str],
                                                    two_dbs: tuple[str, str], tmp_path: Path) -> None:
    src, _ = two_dbs
    execute(src, SCHEMA)
    ddl_file, report = tmp_path / "plan.sql", tmp_path / "plan.md"
    code, out, err = run(capsys, "plan", "--source", src, "--target-kind", "kwdb", "--json",
                         "--ddl", str(ddl_file), "--report", str(report))
    assert code == 0, err
    doc = json.loads(out)
    tables = {t["qualified"]: t for t in doc["tables"]}
    assert set(tables) == {"public.customers", "public.orders", "public.measurements", "public.bookings"}
    ddl = {t["table"]: t["create"] for t in doc["ddl"]}
    assert set(ddl) == set(tables) and all(d.startswith("CREATE TABLE") for d in ddl.values())
    constructs = {f["construct"] for f in doc["findings"]}
    assert {"partitioned table", "enum", "domain", "array", "tsvector", "generated column", "trigger", "rule",
            "exclusion constraint"} <= constructs
    warnings = "\n".join(doc["warnings"])
    for word in ("enum", "domain", "array", "tsvector", "generated", "partitioned table", "trigger", "rule",
                 "exclusion constraint"):
        assert word in warnings, word
    # the mappings
    cust = ddl["public.customers"]
    assert re.search(r"feeling VARCHAR\(11\) DEFAULT 'happy' NULL", cust)
    assert "CHECK (feeling IN ('happy', 'sad', 'indifferent'))" in cust
    assert "age INTEGER NULL" in cust and "doc TEXT NULL" in cust and "name_len INTEGER NULL" in cust
    assert "\"tags\" TEXT[] NULL" in cust and "GENERATED" not in cust and "mood" not in cust
    assert "measurements (" in ddl["public.measurements"] and "PARTITION" not in ddl["public.measurements"]
    # keys, foreign keys, sequences, order and complexity
    assert tables["public.orders"]["foreign_keys"][0]["ref_table"] == "public.customers"
    assert any("orders_id_seq" in s for s in tables["public.orders"]["sequences"])
    assert any("identity" in s for s in tables["public.customers"]["sequences"])
    order = [s["table"] for s in doc["strategy"]]
    assert order.index("public.customers") < order.index("public.orders")
    assert tables["public.customers"]["complexity"] > tables["public.bookings"]["complexity"] > 1
    script = ddl_file.read_text()
    assert script.count("CREATE TABLE") == 4 and "FOREIGN KEY (customer_id) REFERENCES public.customers" in script
    assert "## Findings" in report.read_text() and "tsvector" in report.read_text()
    # the text output names the findings with their advice
    code, out, err = run(capsys, "plan", "--source", src)
    assert code == 0, err
    assert "[tsvector] public.customers" in out and "->" in out and "CREATE TABLE public.bookings" in out


def test_ts_suggestion_and_ts_ddl(capsys: pytest.CaptureFixture[str], two_dbs: tuple[str, str]) -> None:
    src, dst = two_dbs
    execute(src, READINGS + "CREATE TABLE plain (id int PRIMARY KEY, note text);")
    code, out, err = run(capsys, "plan", "--source", src, "--target-kind", "kwdb-ts", "--ts-suggest", "--json")
    assert code == 0, err
    doc = json.loads(out)
    (s,) = doc["ts_suggestions"]
    assert s["table"] == "public.readings" and s["timestamp"] == "ts"
    assert s["primary_tag"] == "device_id" and s["tags"] == ["device_id", "site"]
    assert s["data_columns"] == ["value"] and s["devices"] == 20 and s["rows_per_device"] == 100.0
    ddl = {t["table"]: t for t in doc["ddl"]}
    create = ddl["public.readings"]["create"]
    assert create.startswith("CREATE TABLE public.readings (\n    ts TIMESTAMPTZ NOT NULL,\n    value FLOAT8")
    assert "TAGS (\n    device_id INT4 NOT NULL,\n    site VARCHAR NOT NULL\n) PRIMARY TAGS (device_id);" in create  # KWDB: no NVARCHAR tags
    assert "TAGS" not in ddl["public.plain"]["create"]  # no timestamp: stays relational, with a warning
    assert any("public.plain" in w and "kept relational" in w for w in doc["warnings"])
    # a connected PostgreSQL target: PostgreSQL DDL
    code, out, err = run(capsys, "plan", "--source", src, "--target", dst)
    assert code == 0, err
    assert "target kind: postgres" in out and "PRIMARY KEY (ts, device_id)" in out


def test_translate_pure_mappings() -> None:
    num = ColumnInfo("price", "numeric(14,4)")
    meta = TableAssessment("public", "m", columns=[
        ColumnInfo("at", "timestamp with time zone", nullable=False), ColumnInfo("meter_id", "text", nullable=False),
        num, ColumnInfo("doc", "jsonb"), ColumnInfo("uid", "uuid"), ColumnInfo("raw", "bytea"),
        ColumnInfo("day", "date"), ColumnInfo("n", "bigint", default="nextval('m_n_seq'::regclass)", identity=True)])
    a = Assessment("postgres", tables=[meta])
    tr = translate_ddl(a, "kwdb-ts")
    create = tr.tables[0].create
    assert "price FLOAT8" in create and "doc NVARCHAR" in create and "uid VARCHAR(36)" in create
    assert "raw VARBYTES" in create and "day TIMESTAMP" in create and "n INT8" in create
    assert "meter_id VARCHAR(64) NOT NULL\n) PRIMARY TAGS (meter_id)" in create
    assert any("LOSSY" in w for w in tr.warnings)
    # KWDB TS -> PostgreSQL: tags last, key on timestamp + primary tags
    ts = TableAssessment("public", "meter_data", kind=TS_TABLE, columns=[
        ColumnInfo("k_timestamp", "TIMESTAMPTZ", nullable=False), ColumnInfo("meter", "VARCHAR(32)", is_tag=True,
                                                                             primary_tag=True, nullable=False),
        ColumnInfo("power", "FLOAT8"), ColumnInfo("region", "NVARCHAR(16)", is_tag=True)])
    pg = translate_ddl(Assessment("kwdb", tables=[ts]), "postgres").tables[0].create
    assert pg == ("CREATE TABLE public.meter_data (\n    k_timestamp timestamptz NOT NULL,\n"
                  "    power double precision,\n    meter VARCHAR(32) NOT NULL,\n    region VARCHAR(16),\n"
                  "    PRIMARY KEY (k_timestamp, meter)\n);")
    with pytest.raises(ValueError):
        translate_ddl(a, "oracle")


def test_order_parents_first_and_cycles() -> None:
    def t(name: str, *refs: str) -> TableAssessment:
        return TableAssessment("public", name, foreign_keys=[ForeignKey(f"fk_{r}", ("x",), f"public.{r}", ("id",))
                                                             for r in refs])
    order, warnings = order_tables(Assessment("postgres", tables=[t("c", "b"), t("b", "a"), t("a"), t("s", "s")]))
    assert [x.name for x in order] == ["a", "s", "b", "c"] and not warnings
    order, warnings = order_tables(Assessment("postgres", tables=[t("x", "y"), t("y", "x"), t("z")]))
    assert [x.name for x in order] == ["z", "x", "y"] and "cycle" in warnings[0]


PAGILA = Path(__file__).parent / "data" / "pagila-schema.sql"
PAGILA_TABLES = {"actor", "category", "country", "city", "address", "language", "film", "film_actor",
                 "film_category", "staff", "store", "customer", "inventory", "rental", "payment"}


def test_plan_pagila_every_table_and_what_does_not_carry_over(capsys: pytest.CaptureFixture[str],
                                                             two_dbs: tuple[str, str], tmp_path: Path) -> None:
    """The real Pagila schema: partitions, an enum, a domain, an array, a tsvector, triggers, a cycle."""
    src, _ = two_dbs
    execute(src, PAGILA.read_text())
    code, out, err = run(capsys, "plan", "--source", src, "--target-kind", "kwdb", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert {t["name"] for t in doc["tables"]} == PAGILA_TABLES  # partitions are folded into payment
    ddl = {t["table"]: t["create"] for t in doc["ddl"]}
    assert set(ddl) == {f"public.{n}" for n in PAGILA_TABLES}
    assert all(d.startswith("CREATE TABLE public.") for d in ddl.values())
    found = {(f["table"], f["construct"]) for f in doc["findings"]}
    for table, construct in (("public.payment", "partitioned table"), ("public.film", "enum"),
                             ("public.film", "domain"), ("public.film", "array"), ("public.film", "tsvector"),
                             ("public.film", "trigger"), ("public.actor", "trigger")):
        assert (table, construct) in found, (table, construct)
    warnings = "\n".join(doc["warnings"])
    for word in ("mpaa_rating", "year", "special_features", "fulltext", "partitioned table", "trigger"):
        assert word in warnings, word
    film = ddl["public.film"]
    assert "rating VARCHAR(5)" in film and "CHECK (rating IN ('G', 'PG', 'PG-13', 'R', 'NC-17'))" in film
    assert "release_year INTEGER" in film and "fulltext TEXT NOT NULL" in film
    assert "PARTITION" not in ddl["public.payment"]
    assert "cycle" in warnings and "public.staff" in warnings  # store <-> staff
    # the GiST index has no KWDB counterpart; the btree ones come after the load
    post = [s for t in doc["ddl"] for s in t["post_load"]]
    assert not any("film_fulltext_idx" in s for s in post) and any("idx_title" in s for s in post)
    # every CREATE TABLE of the plan is accepted by PostgreSQL as a stand-in for KWDB relational
    # syntax (KWDB takes these types as they are): the script parses and creates 15 tables
    # (KWDB names every primary key "primary", per table; PostgreSQL wants index names unique)
    script = "\n".join(ddl[f"public.{n}"] for n in sorted(PAGILA_TABLES)).replace('CONSTRAINT "primary" ', "")
    _, dst = two_dbs
    execute(dst, script)
