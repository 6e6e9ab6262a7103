"""Every object accounted for: the inventory of a real sample database (Pagila, whole) and its fate per target.

PG -> PG: after ``kwtui plan --save`` + ``kwtui run --yes`` the target's catalog equals the
source's, object for object (both inventories, and ``pg_dump --schema-only``), every table is
equal, and an insert that takes its id from the default works on every table. KWDB targets:
every object has a fate, each refusal named, the DDL follows REFERENCE.md (checked as text),
and a refused object blocks the run until its loss is accepted.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from pathlib import Path

import psycopg
import pytest

from kwtui.connection import ConnectionService, ConnectTarget
from kwtui.embedded import bin_dir
from kwtui.errors import KwtuiError
from kwtui.inventory import FATES, REFUSED, Inventory, read_inventory, signature
from kwtui.names import PG_RESERVED, TableName, pg_ident

from .test_cli import run
from .test_transfer import execute

DATA = Path(__file__).parent / "data"
PAGILA = (DATA / "pagila-schema.sql").read_text() + "\n" + (DATA / "pagila-objects.sql").read_text()

#: one insert per table that leaves its id to the default (serial, identity) or, without one, its key free
DEFAULT_INSERTS = {
    "public.actor": "INSERT INTO public.actor (first_name, last_name) VALUES ('A', 'B')",
    "public.category": "INSERT INTO public.category (name) VALUES ('New')",
    "public.country": "INSERT INTO public.country (country) VALUES ('Aruba')",
    "public.city": "INSERT INTO public.city (city, country_id) VALUES ('Oranjestad', 1)",
    "public.address": "INSERT INTO public.address (address, district, city_id, phone) VALUES ('1 Way', 'D', 1, '')",
    "public.language": "INSERT INTO public.language (name) VALUES ('German')",
    "public.film": "INSERT INTO public.film (title, description, language_id) VALUES ('NEW FILM', 'new', 1)",
    "public.film_actor": "INSERT INTO public.film_actor (actor_id, film_id) VALUES (1, 3)",
    "public.film_category": "INSERT INTO public.film_category (film_id, category_id) VALUES (3, 1)",
    "public.staff": "INSERT INTO public.staff (first_name, last_name, address_id, store_id, username) "
                   "VALUES ('Jon', 'S', 1, 1, 'jon')",
    "public.store": "INSERT INTO public.store (manager_staff_id, address_id) SELECT max(staff_id), 1 FROM public.staff",
    "public.customer": "INSERT INTO public.customer (store_id, first_name, last_name, address_id) "
                       "VALUES (1, 'N', 'C', 1)",
    "public.inventory": "INSERT INTO public.inventory (film_id, store_id) VALUES (1, 1)",
    "public.rental": "INSERT INTO public.rental (rental_date, inventory_id, customer_id, staff_id) "
                     "VALUES (now(), 1, 1, 1)",
    "public.payment": "INSERT INTO public.payment (customer_id, staff_id, rental_id, amount, payment_date) "
                      "VALUES (1, 1, 1, 1.50, '2022-03-03 10:00+00')",
    "ops.store_hours": "INSERT INTO ops.store_hours (store_id, during) "
                       "VALUES (1, tstzrange('2030-01-01 00:00+00', '2030-01-02 00:00+00'))",
}


def _inventory(uri: str) -> Inventory:
    async def go() -> Inventory:
        svc = ConnectionService(ConnectTarget.from_dsn(uri))
        await svc.connect()
        try:
            return await read_inventory(svc)
        finally:
            await svc.close()

    return asyncio.run(go())


def _schema_dump(uri: str) -> list[str]:
    out = subprocess.run([str(bin_dir() / "pg_dump"), "--schema-only", "--no-comments", "--exclude-schema",
                          "kwtui_journal", "--dbname", uri], capture_output=True, text=True, check=True, timeout=60)
    return [line for line in out.stdout.splitlines()
            if line.strip() and not line.startswith("--") and not line.startswith("\\")]


def test_pagila_pg_to_pg_same_catalog_object_for_object(capsys: pytest.CaptureFixture[str],
                                                        two_dbs: tuple[str, str], tmp_path: Path) -> None:
    src, dst = two_dbs
    execute(src, PAGILA)
    planfile = tmp_path / "pagila.plan.toml"
    code, out, err = run(capsys, "plan", "--source", src, "--target", dst, "--save", str(planfile))
    assert code == 0, err
    # plan --save prints the findings and the inventory (nothing refused on PostgreSQL)
    assert "Findings:" in out and "[trigger] public.film" in out and "Inventory of" in out
    assert "view: 7 (7 created, 0 translated, 0 refused)" in out
    assert "materialized view: 1 (1 created" in out and "aggregate: 1 (1 created" in out
    saved = planfile.read_text()
    assert "[[assessment.inventory.objects]]" in saved and "pre_data" in saved and "post_data" in saved
    # the copy and its phases up to change capture; then the application writes
    code, out, err = run(capsys, "run", str(planfile), "--through", "capture")
    assert code == 0, out + err
    # the objects' statements repeat safely: a second schema phase keeps what the first one made
    code, out, err = run(capsys, "run", str(planfile), "--phase", "schema")
    assert code == 0, out + err
    assert "kept from an earlier run" in out and "failed" not in out
    execute(src, """
        INSERT INTO public.actor (first_name, last_name) VALUES ('LATE', 'ACTOR');
        UPDATE public.film SET title = 'FILM THREE' WHERE film_id = 3;
        DELETE FROM public.film_category WHERE film_id = 20;
        INSERT INTO public.payment (customer_id, staff_id, rental_id, amount, payment_date)
        VALUES (2, 1, 5, 7.77, '2022-04-01 12:00+00');
    """)
    # a transaction that starts before the catch-up and commits after it started, its rows dated
    # before everything already copied (the old time overlap would have missed it)
    late = psycopg.connect(src)
    assert late.execute("SELECT count(*) FROM public.film_actor WHERE film_id = 19").fetchone() == (1,)
    late.execute("UPDATE public.customer SET first_name = 'LATE', last_update = now() - interval '7 minutes' "
                 "WHERE customer_id = 4")
    assert late.execute("UPDATE public.customer SET first_name = first_name WHERE customer_id = 4").rowcount == 1
    late.execute("DELETE FROM public.film_actor WHERE film_id = 19")
    code, out, err = run(capsys, "run", str(planfile), "--phase", "catchup")
    assert code == 0, out + err
    late.commit()
    late.close()
    code, out, err = run(capsys, "run", str(planfile), "--yes")
    assert code == 0, out + err
    assert "validation equal" in out
    with psycopg.connect(dst) as conn:
        assert conn.execute("SELECT first_name FROM public.customer WHERE customer_id = 4").fetchone() == ("LATE",)
        assert conn.execute("SELECT count(*) FROM public.film_actor WHERE film_id = 19").fetchone() == (0,)
    # the catalog, object for object: 243 objects of 27 kinds (sequence positions aside)
    a, b = _inventory(src), _inventory(dst)
    assert len(a.objects) >= 240
    assert signature(a) == signature(b)
    kinds = {o.kind for o in a.objects}
    for kind in ("extension", "schema", "enum type", "composite type", "range type", "domain", "sequence",
                 "function", "procedure", "aggregate", "table", "partitioned table", "partition", "column",
                 "primary key", "check constraint", "exclusion constraint", "foreign key", "index", "view",
                 "materialized view", "trigger", "rule", "policy", "comment", "grant"):
        assert kind in kinds, kind
    # and as pg_dump sees it (kwtui's own journal schema aside)
    assert _schema_dump(src) == _schema_dump(dst)
    # the materialized view was populated after the load; serial stays serial; key order as in the source
    with psycopg.connect(dst) as conn:
        assert conn.execute("SELECT count(*) FROM public.rental_by_category").fetchone() == conn.execute(
            "SELECT count(*) FROM public.sales_by_film_category").fetchone() != (0,)
        assert conn.execute("SELECT pg_get_serial_sequence('public.actor', 'actor_id'), "
                            "(SELECT attidentity FROM pg_attribute WHERE attrelid = 'public.actor'::regclass "
                            "AND attname = 'actor_id')").fetchone() == ("public.actor_actor_id_seq", "")
        assert conn.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                            "WHERE conname = 'payment_pkey'").fetchone() == ("PRIMARY KEY (payment_date, payment_id)",)
    # an insert taking its id from the default works on every table (sequences moved past the copied ids);
    # the triggers run on the target: fulltext filled on insert, last_update moved on update
    with psycopg.connect(dst) as conn:
        tables = {str(TableName(s, n)) for s, n in conn.execute(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname IN ('public', 'ops')").fetchall()}
        assert tables == set(DEFAULT_INSERTS)
        for stmt in DEFAULT_INSERTS.values():  # a collision with a copied id would fail the primary key
            conn.execute(stmt)
        assert conn.execute("SELECT fulltext <> '' FROM public.film WHERE title = 'NEW FILM'").fetchone() == (True,)
        before = conn.execute("SELECT last_update FROM public.actor WHERE actor_id = 1").fetchone()
        conn.commit()
        conn.execute("UPDATE public.actor SET first_name = 'P' WHERE actor_id = 1")
        assert conn.execute("SELECT last_update FROM public.actor WHERE actor_id = 1").fetchone() != before
        conn.rollback()


def test_pagila_for_kwdb_every_object_has_a_fate_and_refusals_block_the_run(
        capsys: pytest.CaptureFixture[str], two_dbs: tuple[str, str], tmp_path: Path) -> None:
    src, _ = two_dbs
    execute(src, PAGILA)
    code, out, err = run(capsys, "plan", "--source", src, "--target-kind", "kwdb", "--json")
    assert code == 0, err
    doc = json.loads(out)
    objects = doc["inventory"]["objects"]
    assert len(objects) >= 240 and all(o["fate"] in FATES for o in objects)
    assert all(o["note"] for o in objects if o["fate"] != "created")  # each translation and refusal said
    fate = {o["name"]: o for o in objects}
    # never analysed, small: counted, not "rows 0"
    assert {t["qualified"]: t["exact_rows"] for t in doc["tables"]}["public.payment"] == 20
    for name in ("public.film_list", "public.rental_by_category", "public.group_concat(text)",
                 "public.film.film_fulltext_trigger", "ops.store_hours.store_hours_no_delete",
                 "ops.store_hours.store_hours_visible", "public.film_fulltext_idx",
                 "public.idx_customer_lower_email", "public.idx_customer_active_last_name",
                 "ops.store_hours.store_hours_no_overlap", "public.price_range", "btree_gist"):
        assert fate[name]["fate"] == REFUSED, name
    for name in ("public.mpaa_rating", "public.year", "public.payment", "public.payment_p2022_01",
                 "public.film.rating", "public.film.fulltext", "public.actor_actor_id_seq"):
        assert fate[name]["fate"] == "translated", name
    assert fate["public.idx_title"]["fate"] == "created"
    # a partition's own foreign key and index: not carried to the one KWDB table, said so
    assert fate["public.payment_p2022_01.payment_p2022_01_staff_id_fkey"]["fate"] == REFUSED
    assert fate["public.idx_fk_payment_p2022_01_staff_id"]["fate"] == REFUSED
    assert fate["public.film.film_language_id_fkey"]["fate"] == "created"
    # the foreign keys keep their actions on KWDB; the payment key keeps its column order
    ddl = {t["table"]: t for t in doc["ddl"]}
    assert any("ON UPDATE CASCADE ON DELETE RESTRICT" in s for s in ddl["public.film"]["post_load"])
    assert "PRIMARY KEY (payment_date, payment_id)" in ddl["public.payment"]["create"]
    # plan (text) says what blocks the run, and in plain words what losing triggers and partitions means
    code, out, err = run(capsys, "plan", "--source", src, "--target-kind", "kwdb")
    assert "block kwtui run" in out and "its writes break" in out and "the partitions are lost" in out
    # a saved plan records the accepted losses; without them the schema phase refuses to start
    from kwtui import migration
    from kwtui.inventory_run import check_losses

    planfile = tmp_path / "kwdb.plan.toml"
    code, out, err = run(capsys, "plan", "--source", src, "--target-kind", "kwdb", "--save", str(planfile))
    assert code == 0, err
    assert "Findings:" in out and "Refused (" in out
    with pytest.raises(KwtuiError, match="loss is not accepted"):
        check_losses(migration.MigrationPlan.load(planfile))
    code, out, err = run(capsys, "plan", "--source", src, "--target-kind", "kwdb", "--save", str(planfile),
                         "--accept-loss", "view,materialized view,function,aggregate,trigger,rule,policy",
                         "--accept-loss", "index,exclusion constraint,check constraint,range type,composite type",
                         "--accept-loss", "extension,procedure,comment,grant",
                         "--accept-loss", "public.payment_p2022_01.payment_p2022_01_staff_id_fkey")  # one object
    assert code == 0, err
    p = migration.MigrationPlan.load(planfile)
    assert "view" in p.requirements.accept_loss
    check_losses(p)  # every refusal accepted: the run may start
    assert "[loss accepted]" in out


_TS_FORBIDDEN = re.compile(r"\b(DECIMAL|NUMERIC|BYTEA|SERIAL|BIGSERIAL|PRIMARY KEY|UNIQUE|DEFAULT|CHECK|REFERENCES|"
                           r"GENERATED|TEXT\b)", re.IGNORECASE)


def test_pagila_for_kwdb_ts_follows_reference_rules(capsys: pytest.CaptureFixture[str],
                                                    two_dbs: tuple[str, str]) -> None:
    src, _ = two_dbs
    execute(src, PAGILA)
    code, out, err = run(capsys, "plan", "--source", src, "--target-kind", "kwdb-ts", "--json")
    assert code == 0, err
    doc = json.loads(out)
    ts = [t for t in doc["ddl"] if t["ts"]]
    assert len(ts) >= 10
    for t in ts:
        create = t["create"]
        assert not _TS_FORBIDDEN.search(create), (t["table"], _TS_FORBIDDEN.search(create))
        assert not t["post_load"]  # no indexes, no foreign keys
        first = create.split("(\n", 1)[1].splitlines()[0]
        assert re.fullmatch(r"\s+\S+ TIMESTAMPTZ? NOT NULL,?", first), first
        tags = create.split(") TAGS (\n", 1)[1].split("\n) PRIMARY TAGS (")[0].splitlines()
        primary = re.search(r"PRIMARY TAGS \((.*)\);", create).group(1).split(", ")  # type: ignore[union-attr]
        assert 1 <= len(primary) <= 4 and len(tags) <= 128
        for line in tags:
            name, typ = line.strip().rstrip(",").split(" ", 1)
            if name in primary:
                assert typ.endswith("NOT NULL") and not re.search(r"FLOAT|VARBYTES", typ), line
                width = re.search(r"VARCHAR\((\d+)\)", typ)
                assert width is None or int(width.group(1)) <= 128, line
    objects = {o["name"]: o for o in doc["inventory"]["objects"]}
    # what a TS table refuses, each named: keys, defaults (serial), foreign keys, indexes, checks
    # a key equal to (timestamp, primary tags) is the TS table's own deduplication key: translated, not lost
    assert objects["public.payment.payment_pkey"]["fate"] == "translated"
    assert "deduplication key" in objects["public.payment.payment_pkey"]["note"]
    assert objects["public.rental.rental_customer_id_fkey"]["fate"] == REFUSED
    assert objects["public.actor.actor_id"]["fate"] == REFUSED and "serial" in objects["public.actor.actor_id"]["note"]
    assert objects["public.payment.amount"]["fate"] == "translated"
    assert "LOSSY" in objects["public.payment.amount"]["note"]
    assert objects["public.idx_title"]["fate"] == REFUSED
    # a primary tag is never a float or VARBYTES, nor wider than VARCHAR(128)
    from kwtui.plan import ColumnInfo, primary_tag_type

    wide = ColumnInfo("dev", "character varying(200)")
    assert primary_tag_type(wide, "VARCHAR(200)", None)[0] == "VARCHAR(128)"
    assert primary_tag_type(wide, "FLOAT8", None)[0] == "VARCHAR(64)"
    assert primary_tag_type(wide, "VARBYTES", None)[0] == "VARCHAR(64)"
    assert primary_tag_type(wide, "INT4", None) == ("INT4", None)


def test_postgres_reserved_words_are_quoted_by_postgres_rules(two_dbs: tuple[str, str]) -> None:
    src, _ = two_dbs
    with psycopg.connect(src) as conn:
        server = {w for (w,) in conn.execute("SELECT word FROM pg_get_keywords() WHERE catcode IN ('R', 'T')")}
    assert server <= PG_RESERVED
    for word in ("verbose", "binary", "freeze", "authorization"):
        assert pg_ident(word) == f'"{word}"'
    assert pg_ident("plain_name") == "plain_name" and pg_ident("Mixed") == '"Mixed"'
    t = TableName.parse('"my schema"."a.b"')
    assert (t.schema, t.name, str(t)) == ("my schema", "a.b", "my schema.a.b")
    assert TableName.parse("film") == TableName("public", "film")
    assert t.pg() == '"my schema"."a.b"'
    schema, name = TableName.parse("sales.orders")  # unpacks where "schema.table" strings were split by hand
    assert (schema, name) == ("sales", "orders")
    # a KWDB-shaped source (plan.py's own translation to PostgreSQL) quotes by PostgreSQL's rules too
    from kwtui.plan import Assessment, ColumnInfo, TableAssessment, translate_ddl

    ta = TableAssessment("public", "freeze", columns=[ColumnInfo("verbose", "INT8", False, primary_key=True),
                                                      ColumnInfo("binary", "VARBYTES")], primary_key=["verbose"])
    create = translate_ddl(Assessment("kwdb", tables=[ta]), "postgres").tables[0].create
    assert 'CREATE TABLE public."freeze"' in create and '"verbose" bigint' in create.replace("BIGINT", "bigint")
    _, dst = two_dbs
    execute(dst, create)


@pytest.mark.kwdb
def test_pagila_onto_live_kwdb_relational(capsys: pytest.CaptureFixture[str], two_dbs: tuple[str, str],
                                          kwdb: str, tmp_path: Path) -> None:
    """The relational DDL runs on a real KWDB 3.2.1: every table, every foreign key with its actions (KWDB
    needs an index leading with the key's columns first: the plan makes one), every btree index."""
    src, _ = two_dbs
    execute(src, PAGILA)
    planfile = tmp_path / "kwdb.plan.toml"
    code, out, err = run(capsys, "plan", "--source", src, "--target", kwdb, "--save", str(planfile),
                         "--accept-loss", "all")
    assert code == 0, err
    code, out, err = run(capsys, "run", str(planfile), "--through", "historical", "--accept-warnings")
    assert code == 0, out + err
    assert "16 table(s) created" in out and " failed" not in out, out
    with psycopg.connect(kwdb, autocommit=True) as conn:
        fks = conn.execute("SELECT count(*) FROM information_schema.referential_constraints "
                           "WHERE update_rule = 'CASCADE' AND delete_rule = 'RESTRICT'").fetchone()
        assert fks is not None and fks[0] >= 17
        assert conn.execute("SELECT count(*) FROM public.payment").fetchone() == (20,)


def test_transfer_all_pg_to_pg_makes_the_types_first(capsys: pytest.CaptureFixture[str],
                                                      two_dbs: tuple[str, str]) -> None:
    """kwtui transfer --all of Pagila onto an empty PostgreSQL: the domain and the enum exist before film."""
    src, dst = two_dbs
    execute(src, PAGILA)
    code, out, err = run(capsys, "transfer", "--source", src, "--target", dst, "--all")
    assert code == 0, out + err
    with psycopg.connect(dst) as conn:
        assert conn.execute("SELECT count(*), min(rating::text) FROM public.film").fetchone() == (20, "G")
        assert conn.execute("SELECT format_type(atttypid, NULL) FROM pg_attribute WHERE attname = 'release_year' "
                            "AND attrelid = 'public.film'::regclass").fetchone() == ("year",)
