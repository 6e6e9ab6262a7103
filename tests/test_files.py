"""Streamed export and import in KWDB's layout, end to end against the embedded PostgreSQL."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from kwtui.transfer.layout import read_layout

from .test_cli import assert_one_line_error, run
from .test_transfer import AWKWARD, checksum

if TYPE_CHECKING:
    from .conftest import TestDb

SHARED = Path(__file__).resolve().parents[2] / "shared" / "kwdb"


def test_round_trip_awkward_values_exact(capsys: pytest.CaptureFixture[str], db: TestDb, tmp_path: Path) -> None:
    """PostgreSQL -> KWDB layout -> PostgreSQL: NULL vs '', quotes, delimiters, newlines, bytea,
    jsonb, numeric, timestamptz, dates before 1970, non-ASCII: the same checksum."""
    db.execute(AWKWARD)
    out = tmp_path / "awkward"
    code, stdout, err = run(capsys, "export", "--dsn", db.uri, "--table", "awkward", "--to", str(out),
                            "--chunk-rows", "3", "--json")
    assert code == 0, err
    result = json.loads(stdout.splitlines()[-1])
    assert result["rows"] == 8 and result["tables"][0]["files"] == ["n1.0.csv", "n1.1.csv", "n1.2.csv"]
    layout = read_layout(out)
    assert layout.kind == "table" and layout.tables[0].name == "awkward"
    assert layout.tables[0].primary_key == ["id"]
    before = checksum(db.conninfo, "awkward", "id")
    db.execute("ALTER TABLE awkward RENAME TO awkward_src")
    code, stdout, err = run(capsys, "import", "--dsn", db.uri, "--from", str(out), "--create", "--json")
    assert code == 0, err
    done = json.loads(stdout.splitlines()[-1])
    assert done["rows"] == 8 and done["rejects"] == 0 and done["tables"][0]["created"]
    assert checksum(db.conninfo, "awkward", "id") == before


@pytest.mark.parametrize("options", [
    ["--delimiter", "|", "--nullas", "NULL"],
    ["--delimiter", "\\t", "--enclosed", "'", "--escaped", "\\"],
    ["--charset", "GB18030", "--column-name"],
])
def test_round_trip_dialects(capsys: pytest.CaptureFixture[str], db: TestDb, tmp_path: Path,
                             options: list[str]) -> None:
    db.execute(AWKWARD)
    out = tmp_path / "x"
    assert run(capsys, "export", "--dsn", db.uri, "--table", "awkward", "--to", str(out), *options)[0] == 0
    before = checksum(db.conninfo, "awkward", "id")
    db.execute("TRUNCATE awkward")
    imp = [o if o != "--nullas" else "--nullif" for o in options if o != "--column-name"]
    extra = ["--skip-header"] if "--column-name" in options else []
    code, _, err = run(capsys, "import", "--dsn", db.uri, "--from", str(out), "--into", "awkward", *imp, *extra)
    assert code == 0, err
    assert checksum(db.conninfo, "awkward", "id") == before


def test_database_tree_round_trip(capsys: pytest.CaptureFixture[str], db: TestDb, tmp_path: Path) -> None:
    db.execute("CREATE SCHEMA app; CREATE TABLE app.a (id int PRIMARY KEY, v text);"
               "INSERT INTO app.a SELECT g, 'v' || g FROM generate_series(1, 250) g;"
               "CREATE TABLE public.b (k text PRIMARY KEY, n numeric); INSERT INTO b VALUES ('x', 1.5), ('y', NULL)")
    out = tmp_path / "tree"
    code, _, err = run(capsys, "export", "--dsn", db.uri, "--database", db.name, "--to", str(out), "--chunk-rows", "100")
    assert code == 0, err
    assert (out / "meta.sql").read_text().startswith("CREATE DATABASE")
    assert sorted(p.name for p in (out / "app" / "a").iterdir()) == ["meta.sql", "n1.0.csv", "n1.1.csv", "n1.2.csv"]
    before = checksum(db.conninfo, "app.a", "id"), checksum(db.conninfo, "public.b", "k")
    db.execute("DROP SCHEMA app CASCADE; DROP TABLE public.b")
    code, _, err = run(capsys, "import", "--dsn", db.uri, "--from", str(out), "--database")
    assert code == 0, err
    assert (checksum(db.conninfo, "app.a", "id"), checksum(db.conninfo, "public.b", "k")) == before


def test_export_refuses_a_non_empty_directory(capsys: pytest.CaptureFixture[str], db: TestDb, tmp_path: Path) -> None:
    db.execute("CREATE TABLE t (id int PRIMARY KEY)")
    (tmp_path / "keep.txt").write_text("precious")
    code, _, err = run(capsys, "export", "--dsn", db.uri, "--table", "t", "--to", str(tmp_path))
    assert code == 2
    assert "is not empty (contains 1 files)" in assert_one_line_error(err)
    assert (tmp_path / "keep.txt").read_text() == "precious"


@pytest.mark.parametrize("argv", [
    ["export", "--table", "t", "--to", "/tmp/x", "--delimiter", "ab"],
    ["export", "--table", "t", "--to", "/tmp/x", "--enclosed", "x"],
    ["export", "--table", "t", "--to", "/tmp/x", "--escaped", "x"],
    ["export", "--table", "t", "--to", "/tmp/x", "--chunk-rows", "100001"],
    ["export", "--table", "t", "--to", "/tmp/x", "--charset", "latin1"],
    ["export", "--table", "t", "--to", "/tmp/x", "--meta-only", "--data-only"],
    ["export", "--table", "t", "--to", "/tmp/x", "--print-sql"],
    ["import", "--from", "/nonexistent/dir", "--into", "t"],
    ["import", "--from", "/tmp", "--create", "--columns", "a"],
    ["import", "--from", "/tmp", "--into", "t", "--max-rejects", "-1"],
])
def test_usage_errors_exit_2_before_touching_data(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    # the DSN points nowhere: a usage error must be found before any connection is tried
    code, _, err = run(capsys, argv[0], "--dsn", "postgresql://nobody@127.0.0.1:1/none", *argv[1:])
    assert code == 2, err
    assert "Traceback" not in err


def test_native_print_sql_needs_no_server(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "import", "--from", "nodelocal://1/t", "--into", "t", "--native", "--print-sql",
                       "--delimiter", "|", "--nullif", "\\N", "--thread-concurrency", "4", "--columns", "a,b")
    assert code == 0
    assert out.strip() == """IMPORT INTO t (a, b) CSV DATA ("nodelocal://1/t") WITH delimiter = '|', nullif = '\\N', thread_concurrency = '4'"""
    code, out, _ = run(capsys, "export", "--table", "db.t", "--to", "nodelocal://1/out", "--native", "--print-sql",
                       "--chunk-rows", "1000", "--column-name")
    assert code == 0
    assert out.strip() == 'EXPORT INTO CSV "nodelocal://1/out" FROM TABLE db.t WITH chunk_rows = \'1000\', column_name'


def test_1000_lines_5_bad_via_cli(capsys: pytest.CaptureFixture[str], db: TestDb, tmp_path: Path) -> None:
    from .test_loader import BAD, DDL, write_file

    db.execute(DDL)
    data = tmp_path / "data.csv"
    write_file(data, BAD)
    code, out, err = run(capsys, "import", "--dsn", db.uri, "--from", str(data), "--into", "t", "--json")
    assert code == 0, err
    res = json.loads(out.splitlines()[-1])
    assert res["rows"] == 995 and res["rejects"] == 5
    reject = Path(res["tables"][0]["reject_file"])
    assert reject.parent == tmp_path and reject.name == "reject.n1.0.txt"  # beside the data, as KWDB names it
    text = reject.read_text()
    assert all(f"data.csv:{n}:" in text for n in BAD)
    assert db.execute("SELECT count(*) FROM t") == [(995,)]
    # --max-rejects stops the job past N, with a clear line
    db.execute("TRUNCATE t")
    code, out, err = run(capsys, "import", "--dsn", db.uri, "--from", str(data), "--into", "t", "--max-rejects", "2",
                         "--reject-file", str(tmp_path / "r2.txt"))
    assert code == 1 and "more than 2 rejected lines" in err and "rows committed" in err


@pytest.mark.skipif(not (SHARED / "smart-meter").is_dir(), reason="../shared/kwdb is not here")
@pytest.mark.parametrize("tree, tables", [
    ("rdb", {"public.meter_info": 100, "public.user_info": 100, "public.area_info": 100, "public.alarm_rules": 5}),
    ("tsdb", {"tsdb.meter_data": 10_100}),
])
def test_smart_meter_trees_import_with_every_row(capsys: pytest.CaptureFixture[str], db: TestDb, tmp_path: Path,
                                                 tree: str, tables: dict[str, int]) -> None:
    with tarfile.open(SHARED / "smart-meter" / f"{tree}.tar.gz") as tf:
        tf.extractall(tmp_path, filter="data")
    code, out, err = run(capsys, "import", "--dsn", db.uri, "--from", str(tmp_path / tree), "--database", "--json")
    assert code == 0, err
    res = json.loads(out.splitlines()[-1])
    assert res["rejects"] == 0
    for table, rows in tables.items():
        assert db.execute(f"SELECT count(*) FROM {table}") == [(rows,)]  # noqa: S608 (test literal)
    if tree == "tsdb":
        assert "time-series" in err  # the notice about CREATE TS DATABASE / the TS table
        cols = db.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'meter_data' "
                          "ORDER BY ordinal_position")
        assert [c[0] for c in cols][-1] == "meter_id"  # the tag column last
        pk = db.execute("SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'tsdb.meter_data'::regclass AND i.indisprimary")
        assert sorted(r[0] for r in pk) == ["meter_id", "ts"]


def test_native_stage_print_sql(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from kwtui.transfer.stage import escape_copy_text

    (tmp_path / "orders").mkdir()
    (tmp_path / "orders" / "meta.sql").write_text("CREATE TABLE orders (id INT8 NOT NULL, CONSTRAINT \"primary\" PRIMARY KEY (id ASC));\n")
    (tmp_path / "orders" / "n1.0.csv").write_text("1\n2\n")
    code, out, err = run(capsys, "import", "--from", str(tmp_path / "orders"), "--create", "--native",
                         "--stage", "kwtui/orders", "--print-sql")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert "COPY kwdb_internal.file_upload FROM STDIN WITH destination = 'kwtui/orders/meta.sql';" in lines
    assert "COPY kwdb_internal.file_upload FROM STDIN WITH destination = 'kwtui/orders/n1.0.csv';" in lines
    assert lines[-1] == ('IMPORT TABLE CREATE USING "nodelocal://1/kwtui/orders/meta.sql" '
                         'CSV DATA ("nodelocal://1/kwtui/orders")')
    assert escape_copy_text(b"a\\b\nc\td\re") == b"a\\\\b\\nc\\td\\re"
    # a local path without --stage is refused before connecting
    code, _, err = run(capsys, "import", "--from", str(tmp_path / "orders"), "--create", "--native")
    assert code == 2 and "--stage" in err


def test_export_query_streamed(capsys: pytest.CaptureFixture[str], db: TestDb, tmp_path: Path) -> None:
    db.execute(AWKWARD)
    out = tmp_path / "q"
    code, stdout, err = run(capsys, "export", "--dsn", db.uri, "--query",
                            "select id, note from awkward where id > 2 order by id", "--to", str(out),
                            "--chunk-rows", "2", "--json")
    assert code == 0, err
    res = json.loads(stdout.splitlines()[-1])
    assert res["rows"] == 6 and res["tables"][0]["files"] == ["n1.0.csv", "n1.1.csv", "n1.2.csv"]
    assert not (out / "meta.sql").exists()  # as KWDB's EXPORT ... FROM SELECT
    # a write in --query is refused (exit 2) and nothing is written
    code, _, err = run(capsys, "export", "--dsn", db.uri, "--query", "delete from awkward", "--to",
                       str(tmp_path / "no"))
    assert code == 2 and not (tmp_path / "no").exists()
    assert db.execute("select count(*) from awkward") == [(8,)]
