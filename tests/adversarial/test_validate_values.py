"""Attacks on validation's value semantics: NaN, the infinities and -0 must not make equal
tables differ (nor hide a real change), and a check that could not run is a warning, not a
difference. Real servers only: the embedded PostgreSQL, and a live KWDB node where one is here.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

import kwtui.validate as v
from kwtui.connection import ConnectionService, ConnectTarget
from kwtui.validate import CHANGED, LEVELS, ValidateOptions, ValidationResult, canonical_sql, validate

from ..test_cli import run

KWDB_NODE = Path(__file__).resolve().parents[3] / "shared" / "kwdb" / "server" / "kwdb-node"

#: 3,000 rows; every tenth row NaN in each number column, others +/-Infinity and -0
SPECIALS = """
CREATE TABLE specials (id integer PRIMARY KEY, r real, d double precision, n numeric, note text);
INSERT INTO specials SELECT g, (g % 50)::real / 4, g / 8.0, g * 1.25, 'row ' || g FROM generate_series(1, 3000) g;
UPDATE specials SET r = 'NaN', d = 'NaN', n = 'NaN' WHERE id % 10 = 0;
UPDATE specials SET r = 'Infinity', d = 'Infinity', n = 'Infinity' WHERE id % 10 = 1;
UPDATE specials SET r = '-Infinity', d = '-Infinity', n = '-Infinity' WHERE id % 10 = 2;
UPDATE specials SET r = '-0', d = '-0', n = '-0' WHERE id % 10 = 3;
UPDATE specials SET r = 0, d = 0, n = 0 WHERE id % 10 = 4;
"""


def execute(uri: str, *statements: str) -> None:
    with psycopg.connect(uri, autocommit=True) as conn:
        for text in statements:
            conn.execute(text)  # type: ignore[arg-type]


def check(src: str, dst: str, tables: list[str], **options: Any) -> ValidationResult:
    async def go() -> ValidationResult:
        async with ConnectionService(ConnectTarget.from_dsn(src)) as s, \
                ConnectionService(ConnectTarget.from_dsn(dst)) as d:
            return await validate(s, d, tables, ValidateOptions(**options))
    return asyncio.run(go())


def cli(capsys: pytest.CaptureFixture[str], src: str, dst: str, *argv: str) -> tuple[int, str, str]:
    return run(capsys, "validate", "--source", src, "--target", dst, *argv)


def json_result(out: str) -> dict[str, Any]:
    results = [r for r in (json.loads(line) for line in out.splitlines() if line.strip()) if r.get("event") == "result"]
    assert len(results) == 1, out
    return results[0]


# -- PostgreSQL against PostgreSQL -----------------------------------------------------------------


def test_identical_tables_of_nan_inf_and_minus_zero_are_equal_on_every_level(
        two_dbs: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    """Attack: the same NaN, +/-Infinity and -0 rows in real, double precision and numeric
    columns on both sides. Every level must say equal and exit 0 (before the fix the aggregate
    level exited 1: numeric NaN max and sum 'differed' from themselves)."""
    src, dst = two_dbs
    execute(src, SPECIALS)
    execute(dst, SPECIALS)
    for level in LEVELS:
        code, out, err = cli(capsys, src, dst, "--table", "specials", "--level", level)
        assert code == 0, (level, out, err)
        assert out.startswith("public.specials -> public.specials: equal  source 3,000 rows, target 3,000 rows"), out
        assert "warning" not in out
    for level in LEVELS:
        code, out, err = cli(capsys, src, dst, "--table", "specials", "--level", level, "--json")
        assert code == 0, (level, out, err)
        res = json_result(out)
        assert res["ok"] and res["warnings"] == 0 and res["tables"][0]["verdict"] == "equal", (level, res)
        assert res["tables"][0]["differences"] == []
    # the aggregates really looked at NaN and the infinities (counted, left out of min/max/sum)
    agg = {(a.column, a.metric): a for a in check(src, dst, ["specials"], level="aggregate").tables[0].aggregates}
    assert (agg["n", "nan"].source, agg["n", "nan"].target) == (300, 300)
    assert (agg["d", "nan"].source, agg["r", "nan"].source) == (300, 300)
    assert (agg["d", "min"].source, agg["d", "max"].source) == ("-Infinity", "Infinity")
    assert agg["d", "sum"].source not in ("NaN", "Infinity")  # the finite values' sum


def test_minus_zero_equals_zero_and_nan_equals_nan_in_hashes_and_row_diff(two_dbs: tuple[str, str]) -> None:
    """Attack: the target holds -0 where the source holds 0 and the other way round (the same
    value for a float), next to NaN rows. The segment hashes must agree (nothing fetched), the
    aggregates agree, and a row-by-row merge must find no changed row (before the fix the hash
    differed on -0 and the merge listed every numeric NaN row as changed)."""
    src, dst = two_dbs
    execute(src, SPECIALS)
    execute(dst, SPECIALS, "UPDATE specials SET r = 0, d = 0 WHERE id % 10 = 3",
            "UPDATE specials SET r = '-0', d = '-0' WHERE id % 10 = 4")
    assert execute_one(dst, "SELECT d::text FROM specials WHERE id = 14") == "-0"  # really stored as -0
    for level in LEVELS:
        tv = check(src, dst, ["specials"], level=level, segment_rows=500).tables[0]
        assert tv.verdict == "equal", (level, tv.as_dict())
    tv = check(src, dst, ["specials"], segment_rows=500).tables[0]
    assert tv.method == "checksum" and tv.stats["segments"] > 1
    assert tv.stats["segments_differing"] == 0 and tv.stats["rows_fetched"] == 0, tv.stats
    merged = check(src, dst, ["specials"], force_merge=True).tables[0]
    assert merged.method == "merge" and merged.stats["rows_fetched"] == 3000
    assert merged.diff_counts == {CHANGED: 0, "missing_in_target": 0, "extra_in_target": 0}, merged.as_dict()


def test_a_changed_row_among_nan_rows_is_found_and_named(two_dbs: tuple[str, str],
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Attack: three real changes hidden among 300 NaN rows: a finite value changed, a NaN
    turned into a number, a number turned into NaN. Exactly those three rows, and only the
    changed columns, must be named; no identical NaN row may be listed."""
    src, dst = two_dbs
    execute(src, SPECIALS)
    execute(dst, SPECIALS,
            "UPDATE specials SET d = d + 1 WHERE id = 1236",     # 154.5 -> 155.5
            "UPDATE specials SET r = 7 WHERE id = 2000",         # NaN -> 7
            "UPDATE specials SET n = 'NaN' WHERE id = 1505")     # 1881.25 -> NaN
    tv = check(src, dst, ["specials"], segment_rows=500).tables[0]
    assert tv.verdict == "differs"
    assert tv.diff_counts == {CHANGED: 3, "missing_in_target": 0, "extra_in_target": 0}, tv.as_dict()
    found = {d.key["id"]: [(c.column, str(c.source), str(c.target)) for c in d.columns] for d in tv.differences}
    assert found == {1236: [("d", "154.5", "155.5")], 1505: [("n", "1881.25", "NaN")], 2000: [("r", "nan", "7.0")]}
    assert tv.stats["rows_fetched"] < 3000  # found by bisection, not by reading everything
    code, out, _ = cli(capsys, src, dst, "--table", "specials")
    assert code == 1
    assert "3 changed" in out and "id=1236  d: 154.5 -> 155.5" in out and "id=2000  r: NaN -> 7" in out
    # the aggregate level sees them too: the finite sum moved, the NaN counts moved
    bad = {(a.column, a.metric) for a in check(src, dst, ["specials"], level="aggregate").tables[0].differing_aggregates}
    assert {("d", "sum"), ("r", "nan"), ("n", "nan")} <= bad


def execute_one(uri: str, query: str) -> Any:
    with psycopg.connect(uri, autocommit=True) as conn:
        row = conn.execute(query).fetchone()  # type: ignore[arg-type]
    assert row is not None
    return row[0]


def test_a_skipped_reference_check_is_a_warning_not_a_difference(
        two_dbs: tuple[str, str], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Attack: the child table was copied alone, its parent table is not on the target. The
    rows are equal, so the verdict is equal (exit 0); the foreign key that could not be checked
    is a warning with its reason in the text, the JSON and both reports (before the fix:
    'differs', exit 1)."""
    src, dst = two_dbs
    execute(src, "CREATE TABLE parent (id integer PRIMARY KEY)",
            "CREATE TABLE child (id integer PRIMARY KEY, parent_id integer REFERENCES parent (id), x double precision)",
            "INSERT INTO parent SELECT generate_series(1, 10)",
            "INSERT INTO child SELECT g, 1 + g % 10, CASE WHEN g % 7 = 0 THEN 'NaN'::float8 ELSE g END "
            "FROM generate_series(1, 200) g")
    execute(dst, "CREATE TABLE child (id integer PRIMARY KEY, parent_id integer, x double precision)",
            "INSERT INTO child SELECT g, 1 + g % 10, CASE WHEN g % 7 = 0 THEN 'NaN'::float8 ELSE g END "
            "FROM generate_series(1, 200) g")
    reason = "foreign key child_parent_id_fkey not checked: the parent table public.parent is absent in the target"
    for level in LEVELS:
        code, out, err = cli(capsys, src, dst, "--table", "child", "--level", level,
                             "--report", str(tmp_path / f"{level}.md"))
        assert code == 0, (level, out, err)
        assert out.startswith("public.child -> public.child: equal"), out
        assert f"  warning: {reason}" in out
        assert "1 table: 1 equal, 1 warning" in out
        md = (tmp_path / f"{level}.md").read_text()
        assert f"- Warning: {reason}" in md and "**all equal** (1 warning" in md
    code, out, _ = cli(capsys, src, dst, "--table", "child", "--json", "--report", str(tmp_path / "r.html"))
    assert code == 0
    res = json_result(out)
    assert res["ok"] and res["warnings"] == 1
    t = res["tables"][0]
    assert t["verdict"] == "equal" and t["warnings"] == [reason]
    assert t["references"][0]["error"] == "the parent table public.parent is absent in the target"
    assert f"warning: {reason}" in (tmp_path / "r.html").read_text()
    # a real orphan is still a difference
    execute(dst, "CREATE TABLE parent (id integer PRIMARY KEY)", "INSERT INTO parent SELECT generate_series(1, 9)")
    code, out, _ = cli(capsys, src, dst, "--table", "child")
    assert code == 1 and "public.child -> public.child: differs" in out and "20 orphan rows" in out
    assert "warning" not in out


def test_aggregates_the_server_refuses_are_warnings_and_the_rest_is_compared(
        two_dbs: tuple[str, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Attack: the server refuses one column's aggregate in every form (as a KWDB TS table may).
    The other columns are still compared, the table is equal, and the refused column is a
    warning naming the server's reason (before the fix: verdict 'error', exit 1)."""
    src, dst = two_dbs
    execute(src, SPECIALS)
    execute(dst, SPECIALS)
    real = v.Validation._aggregate_exprs

    def refusing(self: Any, side: Any, pairs: Any, distinct: Any, *, bools: bool = True) -> Any:
        exprs, labels = real(self, side, pairs, distinct, bools=bools)
        return [*exprs, sql.SQL("no_such_aggregate({})").format(sql.Identifier("note"))], [*labels, ("note", "max")]

    monkeypatch.setattr(v.Validation, "_aggregate_exprs", refusing)
    code, out, err = cli(capsys, src, dst, "--table", "specials", "--level", "aggregate", "--json")
    assert code == 0, out + err
    t = json_result(out)["tables"][0]
    assert t["verdict"] == "equal"
    assert any(w.startswith("the full aggregate query was refused") for w in t["warnings"])
    assert any(w.startswith("aggregates of column note could not run: function no_such_aggregate")
               for w in t["warnings"]), t["warnings"]
    compared = {(a["column"], a["metric"]) for a in t["aggregates"]}
    assert {("d", "sum"), ("n", "nan"), ("r", "max"), ("id", "count")} <= compared
    assert not any(c == "note" for c, _ in compared)
    # and a real difference in a column that could be compared still counts
    execute(dst, "UPDATE specials SET d = d + 1 WHERE id = 1234")
    code, out, _ = cli(capsys, src, dst, "--table", "specials", "--level", "aggregate")
    assert code == 1 and "aggregate d.sum" in out and "warning: aggregates of column note could not run" in out


# -- PostgreSQL against KWDB ------------------------------------------------------------------------


@pytest.fixture
def kwdb_uri(kwdb: str) -> str:
    """A fresh database on the session's live KWDB node (tests/conftest.py)."""
    return kwdb


KW_ROWS = ("(1, 'NaN', 'NaN'), (2, 'Infinity', 'Infinity'), (3, '-Infinity', '-Infinity'), (4, '-0', '-0'), "
           "(5, 0, 0), (6, 2.5, 1.25), (7, 1, 1.50), (8, NULL, NULL), (9, 'NaN', 'NaN'), (10, -7.125, 'NaN')")


@pytest.mark.kwdb
def test_postgres_and_kwdb_agree_on_nan_inf_and_minus_zero(db: Any, kwdb_uri: str,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Attack: the same float8 (and decimal) values, NaN, +/-Infinity and -0 among them, on a
    PostgreSQL source and a KWDB target. KWDB prints '+Inf' / '-Inf' where PostgreSQL prints
    'Infinity' and sorts NaN below every number where PostgreSQL sorts it above: the canonical
    row text must still be the same on both (the hashes agree, nothing is fetched), and every
    level must say equal."""
    execute(db.uri, "CREATE TABLE kwf (id integer PRIMARY KEY, d double precision, n numeric)",
            f"INSERT INTO kwf VALUES {KW_ROWS}")
    execute(kwdb_uri, "DROP TABLE IF EXISTS public.kwf",
            "CREATE TABLE public.kwf (id INT4 PRIMARY KEY, d FLOAT8, n DECIMAL)", f"INSERT INTO public.kwf VALUES {KW_ROWS}")

    def texts(uri: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(uri, autocommit=True) as conn:
            q = sql.SQL("SELECT {}, {} FROM public.kwf ORDER BY id").format(
                canonical_sql("d", "float8", "float8"), canonical_sql("n", "num", "num"))
            return [tuple(r) for r in conn.execute(q).fetchall()]

    expected = [("NaN", "NaN"), ("Infinity", "Infinity"), ("-Infinity", "-Infinity"), ("0", "0"), ("0", "0"),
                ("2.5", "1.25"), ("1", "1.5"), (None, None), ("NaN", "NaN"), ("-7.125", "NaN")]
    assert texts(db.uri) == expected
    assert texts(kwdb_uri) == expected
    for level in LEVELS:
        code, out, err = cli(capsys, db.uri, kwdb_uri, "--table", "public.kwf", "--level", level, "--json")
        assert code == 0, (level, out, err)
        t = json_result(out)["tables"][0]
        assert t["verdict"] == "equal" and t["warnings"] == [], (level, t)
        if level == "checksum":
            assert t["method"] == "checksum" and t["stats"]["segments_differing"] == 0, t
    # a real change on the KWDB side is still named
    execute(kwdb_uri, "UPDATE public.kwf SET d = 3.5 WHERE id = 9")
    tv = check(db.uri, kwdb_uri, ["public.kwf"]).tables[0]
    assert tv.verdict == "differs" and tv.diff_counts[CHANGED] == 1
    assert [(d.key["id"], [c.column for c in d.columns]) for d in tv.differences] == [(9, ["d"])]
