"""kwtui validate: counts, aggregates, checksum bisection to the row, references, reports, CLI.

Every test runs against two fresh databases on the embedded PostgreSQL (no mocks).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from psycopg import sql

import kwtui.validate as v
from kwtui.catalog import TS_TABLE, Column, Table, TableDetail
from kwtui.connection import ConnectionService, ConnectTarget
from kwtui.errors import UsageError
from kwtui.transfer.engine import ProgressEvent
from kwtui.validate import (
    CHANGED,
    EXTRA_IN_TARGET,
    MISSING_IN_TARGET,
    TableSpec,
    ValidateOptions,
    ValidationResult,
    validate,
    write_report,
)

from .test_cli import run

if TYPE_CHECKING:
    pass


@pytest.fixture
def dbs(two_dbs: tuple[str, str]) -> tuple[str, str]:
    return two_dbs


def execute(uri: str, *statements: str) -> None:
    with psycopg.connect(uri, autocommit=True) as conn:
        for text in statements:
            conn.execute(text)  # type: ignore[arg-type]


def both(src: str, dst: str, *statements: str) -> None:
    execute(src, *statements)
    execute(dst, *statements)


async def _check(src: str, dst: str, tables: list[str | TableSpec] | None,
                events: list[ProgressEvent] | None = None, **options: Any) -> ValidationResult:
    async with ConnectionService(ConnectTarget.from_dsn(src)) as s, ConnectionService(ConnectTarget.from_dsn(dst)) as d:
        return await validate(s, d, tables, ValidateOptions(**options),
                              events.append if events is not None else None)


def check(src: str, dst: str, tables: list[str | TableSpec] | None,
          events: list[ProgressEvent] | None = None, **options: Any) -> ValidationResult:
    """The API (tests stay synchronous: the CLI they also call runs its own event loop)."""
    return asyncio.run(_check(src, dst, tables, events, **options))


def cli(capsys: pytest.CaptureFixture[str], src: str, dst: str, *argv: str) -> tuple[int, str, str]:
    return run(capsys, "validate", "--source", src, "--target", dst, *argv)


def json_result(out: str) -> dict[str, Any]:
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    results = [ln for ln in lines if ln.get("event") == "result"]
    assert len(results) == 1, out
    return results[0]


MIXED = """
CREATE TABLE mixed (
    id bigint PRIMARY KEY, name text, code char(6), price numeric(12, 2), ratio double precision,
    flag boolean, at timestamptz, day date, raw bytea, doc jsonb, uid uuid, tags text[]
);
INSERT INTO mixed SELECT g, 'name ' || g, 'c' || (g % 100), round(g * 1.25, 2), g / 7.0, g % 2 = 0,
       timestamptz '2024-01-01 00:00:00+00' + g * interval '37 minutes', date '2000-01-01' + g,
       decode(md5(g::text), 'hex'), jsonb_build_object('g', g, 'l', ARRAY[g, g + 1]),
       md5(g::text)::uuid, ARRAY['a' || g, NULL]
FROM generate_series(1, 3000) g;
INSERT INTO mixed VALUES (0, NULL, NULL, NULL, 'NaN', NULL, NULL, NULL, NULL, NULL, NULL, NULL),
                         (-1, '', '', 0, 'Infinity', false, '1900-01-01 00:00:00+05', '0044-03-15 BC', '', '{}',
                          NULL, '{}');
"""


# -- identical and differing tables --------------------------------------------------------------


def test_identical_tables_exit_0(dbs: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    src, dst = dbs
    both(src, dst, MIXED)
    code, out, err = cli(capsys, src, dst, "--table", "public.mixed")
    assert code == 0, out + err
    assert out.splitlines()[0].startswith("public.mixed -> public.mixed: equal  source 3,002 rows, target 3,002")
    assert "1 table: 1 equal" in out


def test_three_differences_in_20000_rows(dbs: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    src, dst = dbs
    both(src, dst,
         "CREATE TABLE items (id integer PRIMARY KEY, label text NOT NULL, qty integer, price numeric(10, 2))",
         "INSERT INTO items SELECT g, 'item ' || g, g % 97, g * 0.5 FROM generate_series(1, 20000) g")
    execute(dst, "UPDATE items SET label = 'renamed', qty = qty WHERE id = 7321",
            "DELETE FROM items WHERE id = 15000",
            "INSERT INTO items VALUES (20001, 'extra', 1, 1.00)")
    # analysed: the catalog's row estimates size the segments (the counts come from the checksums)
    # and the known row width lets each segment be hashed as one text
    both(src, dst, "ANALYZE items")
    code, out, err = cli(capsys, src, dst, "--table", "items", "--json")
    assert code == 1, out + err
    res = json_result(out)
    assert res["ok"] is False and res["verdicts"]["differs"] == 1
    (t,) = res["tables"]
    assert t["verdict"] == "differs" and t["method"] == "checksum"
    assert (t["source_rows"], t["target_rows"]) == (20000, 20000)
    assert t["diff_counts"] == {CHANGED: 1, MISSING_IN_TARGET: 1, EXTRA_IN_TARGET: 1}
    found = {(d["kind"], d["key"]["id"]) for d in t["differences"]}
    assert found == {(CHANGED, 7321), (MISSING_IN_TARGET, 15000), (EXTRA_IN_TARGET, 20001)}
    changed = next(d for d in t["differences"] if d["kind"] == CHANGED)
    assert changed["columns"] == [{"column": "label", "source": "item 7321", "target": "renamed"}]
    # bisected down to a few hundred rows per differing segment: far from fetching 20,000 rows
    assert t["stats"]["rows_fetched"] <= 3 * 400 + 10
    assert t["stats"]["segments"] > 3
    # the text output: one line per table, then the keys, the changed column side by side
    code, out, _ = cli(capsys, src, dst, "--table", "items")
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("public.items -> public.items: differs  source 20,000 rows, target 20,000 rows")
    assert any(ln.split() == ["changed", "id=7321", "label:", "item", "7321", "->", "renamed"] for ln in lines), out
    assert any(ln.split() == ["missing_in_target", "id=15000"] for ln in lines), out
    assert any(ln.split() == ["extra_in_target", "id=20001"] for ln in lines), out
    # the same three through the API, with progress events at most about ten a second
    events: list[ProgressEvent] = []
    result = check(src, dst, ["items"], events, segment_rows=2000)
    tv = result.tables[0]
    assert {(d.kind, d.key["id"]) for d in tv.differences} == found
    phases = {e.phase for e in events}
    assert events[0].table == "public.items" and events[0].phase == "checksum" and events[-1].done
    assert phases <= {"checksum", "references", "done"}  # analysed tables: no separate count(*)
    span = events[-1].elapsed
    assert len(events) <= 10 * span + 3  # rate-limited: about ten a second at most
    # many small tables: still about ten events a second, one at the start of each table
    events.clear()
    both(src, dst, *(f"CREATE TABLE small_{i} (id integer PRIMARY KEY)" for i in range(12)))
    result = check(src, dst, [f"small_{i}" for i in range(12)], events)
    assert result.ok and len(events) <= 12 + 10 * events[-1].elapsed + 2


def test_uuid_key_one_changed_row(dbs: tuple[str, str]) -> None:
    src, dst = dbs
    both(src, dst, "CREATE TABLE u (id uuid PRIMARY KEY, v integer, note text)",
         "INSERT INTO u SELECT md5(g::text)::uuid, g, 'n' || g FROM generate_series(1, 6000) g")
    key = execute_one(dst, "SELECT id FROM u ORDER BY id OFFSET 4321 LIMIT 1")
    execute(dst, f"UPDATE u SET v = -1 WHERE id = '{key}'")
    result = check(src, dst, ["u"], segment_rows=1000)
    tv = result.tables[0]
    assert tv.verdict == "differs" and tv.method == "checksum"
    assert tv.diff_counts == {CHANGED: 1, MISSING_IN_TARGET: 0, EXTRA_IN_TARGET: 0}
    (d,) = tv.differences
    assert str(d.key["id"]) == str(key)
    assert [(c.column, c.target) for c in d.columns] == [("v", -1)]


def execute_one(uri: str, query: str) -> Any:
    with psycopg.connect(uri) as conn:
        row = conn.execute(query).fetchone()  # type: ignore[arg-type]
        assert row is not None
        return row[0]


def test_timestamp_device_composite_key(dbs: tuple[str, str]) -> None:
    """A time-series shape: (timestamp, device) key, like a KWDB TS table's timestamp + primary tag."""
    src, dst = dbs
    both(src, dst,
         "CREATE TABLE readings (ts timestamptz NOT NULL, device text NOT NULL, value double precision,"
         " PRIMARY KEY (ts, device))",
         "INSERT INTO readings SELECT timestamptz '2024-03-01 00:00:00+00' + (g / 4) * interval '1 second',"
         " 'dev-' || (g % 4), g * 0.1 FROM generate_series(0, 7999) g")
    execute(dst, "UPDATE readings SET value = 0 WHERE ts = '2024-03-01 00:10:00+00' AND device = 'dev-2'")
    result = check(src, dst, ["readings"], segment_rows=1500)
    tv = result.tables[0]
    assert tv.key == ["ts", "device"] and tv.method == "checksum"
    assert tv.diff_counts[CHANGED] == 1 and tv.verdict == "differs"
    (d,) = tv.differences
    assert d.key["device"] == "dev-2"
    assert d.key["ts"].isoformat() == "2024-03-01T00:10:00+00:00"
    assert [c.column for c in d.columns] == ["value"]


def test_text_key_in_a_non_byte_order_collation(dbs: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Segments cut on text keys must mean the same rows on both sides: byte order everywhere.

    This PostgreSQL build has only byte-order collations (C, no ICU), so a column is marked
    as needing COLLATE "C" by hand, to run the collated range, order and min/max SQL for real.
    """
    src, dst = dbs
    fill = ("INSERT INTO words SELECT CASE WHEN g % 2 = 0 THEN upper(md5(g::text)) ELSE md5(g::text) END, g,"
            " 'w' || g FROM generate_series(1, 4000) g")
    both(src, dst, "CREATE TABLE words (w text PRIMARY KEY, n integer, label varchar(20))", fill)
    result = check(src, dst, ["words"], segment_rows=500)
    assert result.tables[0].verdict == "equal" and result.tables[0].stats["segments_differing"] == 0

    real = v._needs_collate

    async def every_text_column(svc: Any, table: Any) -> dict[str, bool]:
        assert not any((await real(svc, table)).values())  # the C database needs none
        return {"w": True, "label": True}

    monkeypatch.setattr(v, "_needs_collate", every_text_column)
    execute(dst, "DELETE FROM words WHERE n = 1234")
    for level in ("checksum", "aggregate"):
        result = check(src, dst, ["words"], segment_rows=500, level=level)
        assert result.tables[0].verdict == "differs"
    result = check(src, dst, ["words"], segment_rows=500)
    assert [(d.kind, d.key["w"]) for d in result.tables[0].differences] == [(MISSING_IN_TARGET, execute_one(
        src, "SELECT w FROM words WHERE n = 1234"))]
    side = v._Side("source", None, "public", "words", ["w", "n"], ["text", "int"], [True, False], [0])  # type: ignore[arg-type]
    where, params = v.range_condition(side, ("a",), ("b",))
    assert where.as_string() == '"w" COLLATE "C" > %s AND "w" COLLATE "C" <= %s' and params == ["a", "b"]
    # a composite key: the leading column's implied bounds too (KWDB's TS scan is narrowed by them only)
    side = v._Side("source", None, "public", "r", ["ts", "dev"], ["tstz", "int"], [False, False], [0, 1])  # type: ignore[arg-type]
    where, params = v.range_condition(side, ("t1", 3), ("t2", 9))
    assert where.as_string() == ('"ts" >= %s AND ("ts", "dev") > (%s, %s) AND "ts" <= %s AND ("ts", "dev") <= (%s, %s)')
    assert params == ["t1", "t1", "3", "t2", "t2", "9"]


def test_close_types_with_equal_values_are_equal(dbs: tuple[str, str]) -> None:
    """int4 vs int8, numeric(10,2) vs numeric(12,4), char(8) vs varchar, uuid vs text: equal values hash alike."""
    src, dst = dbs
    execute(src, "CREATE TABLE t (id integer PRIMARY KEY, amount numeric(10, 2), code char(8), uid uuid,"
                 " at timestamptz, small smallint)",
            "INSERT INTO t SELECT g, g * 1.5, 'k' || g, md5(g::text)::uuid,"
            " timestamptz '2024-01-01 00:00:00+00' + g * interval '1 hour', g % 100 FROM generate_series(1, 5000) g")
    execute(dst, "CREATE TABLE t (id bigint PRIMARY KEY, amount numeric(12, 4), code varchar(8), uid text,"
                 " at timestamptz, small bigint)",
            "SET TIME ZONE 'Asia/Shanghai'",
            "INSERT INTO t SELECT g, g * 1.5, 'k' || g, upper(md5(g::text)::uuid::text),"
            " timestamptz '2024-01-01 08:00:00+08' + g * interval '1 hour', g % 100 FROM generate_series(1, 5000) g")
    result = check(src, dst, ["t"], segment_rows=1000)
    tv = result.tables[0]
    assert tv.verdict == "equal", tv.as_dict()
    assert tv.stats["segments_differing"] == 0  # the canonical forms matched: nothing was fetched
    assert tv.stats["rows_fetched"] == 0
    result = check(src, dst, ["t"], level="aggregate")
    assert result.tables[0].verdict == "equal", [a.as_dict() for a in result.tables[0].differing_aggregates]


def test_float_target_within_tolerance_at_aggregate_level(dbs: tuple[str, str],
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    src, dst = dbs
    execute(src, "CREATE TABLE m (id integer PRIMARY KEY, v numeric(20, 10), w numeric(8, 3))",
            "INSERT INTO m SELECT g, round(g / 3.0, 10), g / 8.0 FROM generate_series(1, 4000) g")
    execute(dst, "CREATE TABLE m (id integer PRIMARY KEY, v double precision, w real)",
            "INSERT INTO m SELECT g, round(g / 3.0, 10)::float8, (g / 8.0)::float4 FROM generate_series(1, 4000) g")
    result = check(src, dst, ["m"], level="aggregate")
    tv = result.tables[0]
    assert tv.verdict == "equal", [a.as_dict() for a in tv.differing_aggregates]
    sums = {a.column: a for a in tv.aggregates if a.metric == "sum"}
    assert sums["v"].equal and "tolerance" in sums["v"].note  # compared numerically, with a tolerance
    assert any("tolerance" in n for n in tv.notes)
    metrics = {(a.column, a.metric) for a in tv.aggregates}
    assert {("v", "count"), ("v", "nulls"), ("v", "min"), ("v", "max"), ("v", "sum"), ("v", "distinct")} <= metrics
    code, out, _ = cli(capsys, src, dst, "--table", "m", "--level", "checksum")
    assert code == 0, out
    # a real difference beyond the tolerance is caught by the sum
    execute(dst, "UPDATE m SET v = v + 1 WHERE id = 10")
    result = check(src, dst, ["m"], level="aggregate")
    bad = {(a.column, a.metric) for a in result.tables[0].differing_aggregates}
    assert ("v", "sum") in bad and result.tables[0].verdict == "differs"


def test_aggregates_without_distinct_where_the_server_refuses_them(dbs: tuple[str, str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    src, dst = dbs
    both(src, dst, "CREATE TABLE g (id integer PRIMARY KEY, ok boolean, n integer)",
         "INSERT INTO g SELECT g, g % 3 = 0, g % 7 FROM generate_series(1, 300) g")
    real = v.Validation._aggregate_exprs

    def picky(self: Any, side: Any, pairs: Any, distinct: Any, *, bools: bool = True) -> Any:
        exprs, labels = real(self, side, pairs, distinct, bools=bools)
        if any(distinct) or bools:  # as a server without count(DISTINCT) / bool_and would answer
            exprs = [*exprs, sql.SQL("no_such_aggregate(1)")]
            labels = [*labels, ("n", "count")]
        return exprs, labels

    monkeypatch.setattr(v.Validation, "_aggregate_exprs", picky)
    tv = check(src, dst, ["g"], level="aggregate").tables[0]
    assert tv.verdict == "equal" and any("full aggregate query was refused" in w for w in tv.warnings)
    assert {a.metric for a in tv.aggregates} == {"count", "nulls", "min", "max", "sum"}


def test_count_level(dbs: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    src, dst = dbs
    both(src, dst, "CREATE TABLE c (id integer PRIMARY KEY, v text)",
         "INSERT INTO c SELECT g, 'v' || g FROM generate_series(1, 500) g")
    execute(dst, "UPDATE c SET v = 'other' WHERE id = 3")  # counts still equal
    code, out, _ = cli(capsys, src, dst, "--table", "c", "--level", "count", "--json")
    assert code == 0
    t = json_result(out)["tables"][0]
    assert (t["verdict"], t["method"], t["source_rows"], t["target_rows"]) == ("equal", "count", 500, 500)
    execute(dst, "DELETE FROM c WHERE id > 490")
    code, out, _ = cli(capsys, src, dst, "--table", "c", "--level", "count")
    assert code == 1
    assert out.startswith("public.c -> public.c: differs  source 500 rows, target 490 rows  (count")


def test_orphan_rows_found_by_the_referential_check(dbs: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    src, dst = dbs
    execute(src, "CREATE TABLE parent (id integer PRIMARY KEY, name text)",
            "CREATE TABLE child (id integer PRIMARY KEY, parent_id integer REFERENCES parent (id), x text)",
            "INSERT INTO parent SELECT g, 'p' || g FROM generate_series(1, 50) g",
            "INSERT INTO child SELECT g, 1 + g % 50, 'c' || g FROM generate_series(1, 400) g")
    # the target got all child rows but lost two parents (and has no constraint to notice)
    execute(dst, "CREATE TABLE parent (id integer PRIMARY KEY, name text)",
            "CREATE TABLE child (id integer PRIMARY KEY, parent_id integer, x text)",
            "INSERT INTO parent SELECT g, 'p' || g FROM generate_series(1, 50) g WHERE g NOT IN (7, 8)",
            "INSERT INTO child SELECT g, 1 + g % 50, 'c' || g FROM generate_series(1, 400) g")
    code, out, _ = cli(capsys, src, dst, "--table", "child", "--json")
    assert code == 1
    t = json_result(out)["tables"][0]
    assert t["diff_counts"] == {CHANGED: 0, MISSING_IN_TARGET: 0, EXTRA_IN_TARGET: 0}
    assert t["verdict"] == "differs"
    (ref,) = t["references"]
    assert ref["constraint"] == "child_parent_id_fkey" and ref["parent"] == "public.parent"
    assert ref["columns"] == ["parent_id"] and ref["orphans"] == 16
    assert 0 < len(ref["examples"]) <= 5
    assert all(e["parent_id"] in (7, 8) for e in ref["examples"])
    code, out, _ = cli(capsys, src, dst, "--table", "child")
    assert "foreign key child_parent_id_fkey (parent_id) -> public.parent: 16 orphan rows in the target" in out
    code, out, _ = cli(capsys, src, dst, "--table", "parent", "--no-references")
    assert code == 1 and "missing_in_target  id=7" in out


def test_orphans_the_source_has_too_are_a_warning_not_a_difference(
        dbs: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    """A source whose key is NOT VALID keeps 3 orphan rows; a faithful copy has the same 3. That is
    "equal" with a warning naming them; one orphan more in the target is "differs"."""
    src, dst = dbs
    for uri in (src, dst):
        execute(uri, "CREATE TABLE parent (id integer PRIMARY KEY)", "INSERT INTO parent VALUES (1), (2)",
                "CREATE TABLE child (id integer PRIMARY KEY, parent_id integer)",
                "INSERT INTO child VALUES (1, 1), (2, 7), (3, 8), (4, 8), (5, NULL)")
    execute(src, "ALTER TABLE child ADD CONSTRAINT child_parent_fk FOREIGN KEY (parent_id) REFERENCES parent (id) "
                 "NOT VALID")
    code, out, _ = cli(capsys, src, dst, "--table", "child", "--json")
    t = json_result(out)["tables"][0]
    assert code == 0 and t["verdict"] == "equal", t
    (ref,) = t["references"]
    assert (ref["orphans"], ref["source_orphans"]) == (3, 3)
    assert any("exactly as in the source" in w for w in t["warnings"])
    execute(dst, "DELETE FROM parent WHERE id = 1")  # child 1 loses its parent on the target only
    code, out, _ = cli(capsys, src, dst, "--table", "child", "--json")
    t = json_result(out)["tables"][0]
    assert code == 1 and t["verdict"] == "differs"
    assert t["references"][0]["orphans"] == 4


def test_missing_table(dbs: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    src, dst = dbs
    execute(src, "CREATE TABLE only_here (id integer PRIMARY KEY)", "INSERT INTO only_here VALUES (1), (2)")
    both(src, dst, "CREATE TABLE same (id integer PRIMARY KEY)")
    code, out, _ = cli(capsys, src, dst, "--all", "--json")
    assert code == 1
    res = json_result(out)
    verdicts = {t["table"]: (t["verdict"], t["source_rows"], t["target_rows"]) for t in res["tables"]}
    assert verdicts == {"public.only_here": ("missing", 2, None), "public.same": ("equal", 0, 0)}
    code, out, _ = cli(capsys, src, dst, "--table", "nowhere")
    assert code == 1 and out.startswith("public.nowhere -> public.nowhere: missing")
    assert "absent on both sides" in out


def test_table_without_key_is_merged(dbs: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    src, dst = dbs
    both(src, dst, "CREATE TABLE logs (at date, msg text)",
         "INSERT INTO logs SELECT date '2024-01-01' + g % 30, 'm' || g FROM generate_series(1, 900) g",
         "INSERT INTO logs VALUES (NULL, 'dup'), (NULL, 'dup')")
    execute(dst, "DELETE FROM logs WHERE msg = 'm5'", "INSERT INTO logs VALUES ('2030-01-01', 'new')",
            "DELETE FROM logs WHERE ctid = (SELECT min(ctid) FROM logs WHERE msg = 'dup')")
    code, out, _ = cli(capsys, src, dst, "--table", "logs", "--json")
    assert code == 1
    t = json_result(out)["tables"][0]
    assert t["method"] == "merge" and any("no primary key" in n for n in t["notes"])
    assert t["diff_counts"] == {CHANGED: 0, MISSING_IN_TARGET: 2, EXTRA_IN_TARGET: 1}
    keys = sorted((d["kind"], d["key"]["msg"]) for d in t["differences"])
    assert keys == [(EXTRA_IN_TARGET, "new"), (MISSING_IN_TARGET, "dup"), (MISSING_IN_TARGET, "m5")]
    # --key on a keyless table: checksums again; a key that is no key is an error of that table
    code, out, _ = cli(capsys, src, dst, "--table", "logs", "--key", "msg", "--json")
    t = json_result(out)["tables"][0]
    assert (code, t["verdict"]) == (1, "error")
    assert t["error"] == "the key (msg) is not unique in the source: msg=dup repeats (give a unique --key)"
    code, out, _ = cli(capsys, src, dst, "--table", "logs", "--key", "at,msg", "--json")
    assert json_result(out)["tables"][0]["error"] == \
        "the key (at, msg) is NULL in some rows of the source: at=NULL, msg=dup (give a --key of NOT NULL columns)"


def test_merge_fallback_finds_the_same_rows(dbs: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    src, dst = dbs
    both(src, dst, MIXED)
    execute(dst, "UPDATE mixed SET at = at + interval '1 second', doc = '{\"x\": 1}' WHERE id = 42",
            "DELETE FROM mixed WHERE id = 0", "INSERT INTO mixed (id, name) VALUES (5000, 'late')")
    expected = {(CHANGED, 42), (MISSING_IN_TARGET, 0), (EXTRA_IN_TARGET, 5000)}
    tree = check(src, dst, ["mixed"], segment_rows=500)
    merged = check(src, dst, ["mixed"], force_merge=True)
    for res, method in ((tree, "checksum"), (merged, "merge")):
        tv = res.tables[0]
        assert tv.method == method
        assert {(d.kind, d.key["id"]) for d in tv.differences} == expected
        changed = next(d for d in tv.differences if d.kind == CHANGED)
        assert [c.column for c in changed.columns] == ["at", "doc"]
    # a server without a function the checksum needs: detected, whole-table merge instead
    original = v.hash_query

    def broken(side: Any, pairs: Any, where: Any, **kw: Any) -> Any:
        q = original(side, pairs, where, **kw)
        return sql.SQL("{} -- ").format(q) if side.name == "source" else sql.SQL(
            "SELECT count(*), no_such_md5('x') FROM {} WHERE {}").format(side.ident, where)

    monkeypatch.setattr(v, "hash_query", broken)
    res = check(src, dst, ["mixed"])
    tv = res.tables[0]
    assert tv.method == "merge"
    assert any("server-side checksums are not available" in n and "no_such_md5" in n for n in tv.notes)
    assert {(d.kind, d.key["id"]) for d in tv.differences} == expected


def test_values_printed_differently_switch_to_a_merge(dbs: tuple[str, str]) -> None:
    """json vs jsonb: the texts differ, the values do not. After a few such segments, one merge."""
    src, dst = dbs
    execute(src, "CREATE TABLE j (id integer PRIMARY KEY, doc json)",
            "INSERT INTO j SELECT g, ('{\"b\":  ' || g || ',   \"a\": [1,2]}')::json FROM generate_series(1, 3000) g")
    execute(dst, "CREATE TABLE j (id integer PRIMARY KEY, doc jsonb)",
            "INSERT INTO j SELECT g, ('{\"b\":  ' || g || ',   \"a\": [1,2]}')::jsonb FROM generate_series(1, 3000) g")
    tv = check(src, dst, ["j"], segment_rows=500).tables[0]
    assert tv.verdict == "equal" and tv.method == "checksum"
    assert tv.stats["segments_equal_after_normalisation"] >= 6
    assert any("equal rows after normalisation" in n for n in tv.notes)
    execute(dst, "UPDATE j SET doc = '{\"b\": 0}' WHERE id = 2999")
    tv = check(src, dst, ["j"], segment_rows=200, false_alarm_limit=5).tables[0]
    assert tv.method == "merge" and any("switched to a sorted streaming merge" in n for n in tv.notes)
    assert [(d.kind, d.key["id"]) for d in tv.differences] == [(CHANGED, 2999)]
    assert (tv.source_rows, tv.target_rows) == (3000, 3000)


# -- reports ------------------------------------------------------------------------------------


def test_reports(dbs: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, dst = dbs
    both(src, dst, "CREATE TABLE r (id integer PRIMARY KEY, label text, note text)",
         "INSERT INTO r SELECT g, 'l' || g, '<b>&' || g FROM generate_series(1, 1000) g",
         "CREATE TABLE ok (id integer PRIMARY KEY)")
    execute(dst, "UPDATE r SET note = '<script>x</script>|pipe' WHERE id = 77", "DELETE FROM r WHERE id = 500",
            "INSERT INTO r VALUES (1001, 'new', NULL)")
    result = check(src, dst, ["r", "ok"])
    md = write_report(result, tmp_path / "out" / "report.md")
    text = md.read_text()
    assert "| public.r | public.r | **differs** | 1,000 | 1,000 | 1 | 1 | 1 |" in text
    assert "| public.ok | public.ok | **equal** |" in text
    assert "| changed | id=77 | note | <b>&77 | <script>x</script>\\|pipe |" in text
    assert "| missing_in_target | id=500 | (row) |" in text and "| extra_in_target | id=1001 | (row) |" in text
    page = write_report(result, tmp_path / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    assert "http://" not in page and "https://" not in page and "<script>" not in page and "<link" not in page
    assert "&lt;script&gt;x&lt;/script&gt;|pipe" in page and "id=77" in page and "id=500" in page
    assert "id=1001" in page and 'class="badge differs"' in page
    data = json.loads(write_report(result, tmp_path / "report.json").read_text())
    assert data["ok"] is False
    assert {(d["kind"], d["key"]["id"]) for d in data["tables"][0]["differences"]} == {
        (CHANGED, 77), (MISSING_IN_TARGET, 500), (EXTRA_IN_TARGET, 1001)}
    with pytest.raises(UsageError):
        write_report(result, tmp_path / "report.txt")
    # through the CLI
    code, out, err = cli(capsys, src, dst, "--table", "r", "--report", str(tmp_path / "cli.html"))
    assert code == 1 and "report written to" in err
    assert "id=500" in (tmp_path / "cli.html").read_text()


# -- usage errors -------------------------------------------------------------------------------


def test_cli_usage_errors(dbs: tuple[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    src, dst = dbs
    both(src, dst, "CREATE TABLE a (id integer PRIMARY KEY)", "CREATE TABLE b (id integer PRIMARY KEY)")
    assert cli(capsys, src, dst)[0] == 2  # neither --table nor --all
    assert cli(capsys, src, dst, "--table", "a", "--all")[0] == 2
    code, _, err = cli(capsys, src, dst, "--table", "a", "--level", "rows")
    assert code == 2 and "invalid choice" in err
    code, _, err = cli(capsys, src, dst, "--all", "--key", "id")
    assert code == 2 and "key override names the key of one table" in err  # the CLI's and the screen's words
    code, _, err = cli(capsys, src, dst, "--table", "a", "--key", "nope")
    assert code == 2 and "key column 'nope' is not a column of public.a" in err
    code, _, err = cli(capsys, src, dst, "--table", "a", "--report", str(tmp_path / "r.pdf"))
    assert code == 2 and ".md, .json or .html" in err
    assert cli(capsys, src, dst, "--table", "a", "--max-diffs", "0")[0] == 2
    assert cli(capsys, src, dst, "--table", "a", "--workers", "0")[0] == 2
    assert cli(capsys, src, dst, "--table", "a", "--key", " , ")[0] == 2
    assert cli(capsys, src, dst, "--table", "a", "--key", "id")[0] == 0
    assert cli(capsys, src, dst, "--all")[0] == 0


# -- pieces without a server ----------------------------------------------------------------------


def test_type_classes_and_pair_modes() -> None:
    tc = v.type_class
    assert [tc(t) for t in ("integer", "INT8", "numeric(10,2)", "DECIMAL(12,4)", "double precision", "FLOAT4",
                            "character(5)", "NCHAR(10)", "character varying(36)", "NVARCHAR(20)", "STRING",
                            "timestamp with time zone", "TIMESTAMPTZ(3)", "timestamp(6) without time zone",
                            "date", "uuid", "VARBYTES", "jsonb", "integer[]", "interval")] == [
        "int", "int", "num", "num", "float8", "float4", "char", "char", "text", "text", "text", "tstz", "tstz",
        "ts", "date", "uuid", "bytes", "json", "other", "other"]
    pm = v.pair_mode
    assert pm("int", "int") == "int" and pm("int", "num") == "num" and pm("num", "float8") == "float8"
    assert pm("float4", "float8") == "float4" and pm("char", "text") == "char" and pm("uuid", "text") == "uuid"
    assert pm("tstz", "ts") == "ts" and pm("date", "date") == "date" and pm("bytes", "text") == "other"


def test_ts_table_key_is_timestamp_and_primary_tags() -> None:
    detail = TableDetail(Table("public", "meter_data", TS_TABLE), [
        Column("k_timestamp", "TIMESTAMPTZ(3)", nullable=False, primary_key=True),
        Column("voltage", "FLOAT8"),
        Column("meter_id", "VARCHAR(20)", nullable=False, is_tag=True, primary_tag=True),
        Column("site", "INT4", nullable=False, is_tag=True, primary_tag=True),
        Column("city", "VARCHAR(20)", is_tag=True),
    ])
    assert v.default_key(detail) == ["k_timestamp", "meter_id", "site"]
    plain = TableDetail(Table("public", "t"), [Column("a", "int", primary_key=True), Column("b", "int",
                                                                                           primary_key=True)])
    assert v.default_key(plain) == ["a", "b"]


def test_normalise_and_compare() -> None:
    import datetime as dt
    import decimal

    n, same = v.normalise, v.same_value
    assert same(n("num", decimal.Decimal("1.50")), n("num", 1.5)) and same(n("int", 5), n("int", decimal.Decimal(5)))
    assert same(n("float8", decimal.Decimal("0.3333333333")), n("float8", 0.33333333330000003), tolerance=1e-9)
    assert not same(n("float8", 1.0), n("float8", 1.001), tolerance=1e-9)
    assert same(n("float8", float("nan")), n("float8", float("nan")))
    utc = dt.datetime(2024, 1, 1, 0, 0, tzinfo=dt.UTC)
    east = utc.astimezone(dt.timezone(dt.timedelta(hours=8)))
    assert same(n("ts", utc), n("ts", east)) and same(n("ts", utc), n("ts", dt.datetime(2024, 1, 1)))
    assert same(n("ts", dt.datetime(2024, 1, 1, 0, 0, 0, 123456), ms=True), n("ts", dt.datetime(2024, 1, 1, 0, 0, 0,
                                                                                              123000), ms=True))
    assert same(n("char", "ab   "), n("char", "ab")) and not same(n("text", "ab "), n("text", "ab"))
    assert same(n("uuid", uuid.UUID(int=255)), n("uuid", str(uuid.UUID(int=255)).upper()))
    assert same(n("json", '{"a": [1, 2]}'), n("json", {"a": [1, 2]}))
    assert not same(None, 0) and same(None, None)
