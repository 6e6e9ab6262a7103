"""KWDB's export layout: chunked CSV writing, database trees, meta.sql and reading real exports."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from kwtui.errors import KwtuiError, UsageError
from kwtui.transfer.csvdialect import CsvDialect, count_records, iter_records
from kwtui.transfer.layout import (
    ChunkWriter,
    DatabaseLayoutWriter,
    ExportPathNotEmpty,
    chunk_name,
    count_block_records,
    meta_sql_text,
    parse_chunk_name,
    parse_create_database,
    parse_create_table,
    read_layout,
    split_statements,
    statement_verb,
)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "kwdb"
SMART_METER = SHARED / "smart-meter"


def records(path: Path, dialect: CsvDialect | None = None) -> list[list[str | None] | None]:
    with open(path, "rb") as f:
        return [r.fields for r in iter_records(f, dialect or CsvDialect())]


def rows_of(n: int, start: int = 0) -> list[list[str | None]]:
    return [[str(i), f"v{i}" if i % 2 else None] for i in range(start, start + n)]


def names(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


# --- ChunkWriter ---------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_rows, nrows, expected", [
    (0, 7, [7]),
    (0, 250_001, [250_001]),  # no split, whatever the size
    (1, 3, [1, 1, 1]),
    (3, 7, [3, 3, 1]),
    (3, 6, [3, 3]),  # an exact multiple: no empty trailing chunk
    (3, 3, [3]),
    (100_000, 5, [5]),
    (3, 0, []),  # no rows, no data file (as KWDB)
])
def test_chunks_split_every_chunk_rows(tmp_path: Path, chunk_rows: int, nrows: int, expected: list[int]) -> None:
    rows = rows_of(nrows)
    with ChunkWriter(tmp_path / "t", chunk_rows=chunk_rows) as w:
        assert w.write_rows(iter(rows)) == nrows
    assert names(w.files) == [chunk_name(k) for k in range(len(expected))]
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == sorted(names(w.files))
    assert [len(records(f)) for f in w.files] == expected
    assert [rec for f in w.files for rec in records(f)] == rows
    assert w.rows == nrows
    assert w.bytes == sum(f.stat().st_size for f in w.files)


def test_file_names_sort_numerically(tmp_path: Path) -> None:
    with ChunkWriter(tmp_path / "t", chunk_rows=1, meta_sql="CREATE TABLE t (a INT8, b STRING)") as w:
        w.write_rows(rows_of(12))
    assert names(w.files)[:3] == ["n1.0.csv", "n1.1.csv", "n1.2.csv"] and names(w.files)[-1] == "n1.11.csv"
    lay = read_layout(tmp_path / "t")
    files = lay.tables[0].data_files
    assert names(files) == [f"n1.{k}.csv" for k in range(12)]  # n1.2 before n1.10
    assert [rec for f in files for rec in records(f)] == rows_of(12)
    assert parse_chunk_name("n1.10.csv") == (1, 10) and parse_chunk_name("reject.n1.0.txt") is None


def test_header_heads_every_chunk(tmp_path: Path) -> None:
    d = CsvDialect(header=True, delimiter="|")
    with ChunkWriter(tmp_path / "t", d, chunk_rows=2, column_names=["id", "a|b"]) as w:
        w.write_rows(rows_of(5))
    assert len(w.files) == 3
    for f in w.files:
        assert f.read_text().splitlines()[0] == 'id|"a|b"'
    assert [rec for f in w.files for rec in records(f, d)] == rows_of(5)
    assert sum(count_records(open(f, "rb"), d) for f in w.files) == 5
    with ChunkWriter(tmp_path / "empty", d, column_names=["id"]) as w2:
        pass
    assert names(w2.files) == ["n1.0.csv"] and w2.files[0].read_text() == "id\n"  # header only
    with pytest.raises(UsageError, match="column names"):
        ChunkWriter(tmp_path / "x", d)


def test_chunks_are_written_under_a_temporary_name(tmp_path: Path) -> None:
    d = tmp_path / "t"
    w = ChunkWriter(d, chunk_rows=3, fsync=False).open()
    w.write_rows(rows_of(4))  # one chunk done, one open
    assert sorted(p.name for p in d.iterdir()) == ["n1.0.csv", "n1.1.csv.part"]
    assert read_layout(d).tables[0].data_files == [d / "n1.0.csv"]  # the .part is not data
    w.close()
    assert sorted(p.name for p in d.iterdir()) == ["n1.0.csv", "n1.1.csv"]


def test_a_crash_leaves_only_whole_chunks_and_resume_goes_on(tmp_path: Path) -> None:
    d = tmp_path / "t"
    with pytest.raises(RuntimeError), ChunkWriter(d, chunk_rows=3, meta_sql="CREATE TABLE t (a INT8, b STRING)") as w:
        w.write_rows(rows_of(8))
        raise RuntimeError("boom")
    assert sorted(p.name for p in d.iterdir()) == ["meta.sql", "n1.0.csv", "n1.1.csv"]
    (d / "n1.2.csv.part").write_text("half a ro")  # as a killed process would leave it
    with pytest.raises(ExportPathNotEmpty):
        ChunkWriter(d).open()
    with ChunkWriter(d, chunk_rows=3, resume=True, meta_sql="CREATE TABLE t (a INT8, b STRING)") as w2:
        assert names(w2.resumed_files) == ["n1.0.csv", "n1.1.csv"]
        done = len(w2.resumed_files) * 3
        w2.write_rows(rows_of(8)[done:])
    assert names(w2.files) == ["n1.2.csv"]
    lay = read_layout(d)
    assert [rec for f in lay.tables[0].data_files for rec in records(f)] == rows_of(8)


def test_a_non_empty_directory_is_refused_like_kwdb(tmp_path: Path) -> None:
    d = tmp_path / "t"
    d.mkdir()
    (d / "meta.sql").write_text("x")
    (d / "n1.0.csv").write_text("1\n")
    with pytest.raises(ExportPathNotEmpty) as info:
        ChunkWriter(d).open()
    assert str(info.value) == (f"export path {d} is not empty (contains 2 files), "
                               "please use an empty directory to prevent data loss")
    assert info.value.count == 2 and isinstance(info.value, UsageError)
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(UsageError, match="is a file"):
        ChunkWriter(f).open()
    with ChunkWriter(tmp_path / "new" / "deep") as w:  # a missing directory is created
        w.write_rows([["1"]])
    assert names(w.files) == ["n1.0.csv"]


def test_meta_sql_is_written(tmp_path: Path) -> None:
    with ChunkWriter(tmp_path / "t", meta_sql="CREATE TABLE t (a INT8);;  ") as w:
        w.write_rows([["1"]])
    assert (tmp_path / "t" / "meta.sql").read_text() == "CREATE TABLE t (a INT8);\n"
    assert meta_sql_text(["CREATE DATABASE d", "", "CREATE TABLE t (a INT8);"]) == \
        "CREATE DATABASE d;\nCREATE TABLE t (a INT8);\n"


@pytest.mark.parametrize("dialect", [CsvDialect(), CsvDialect("|", "'", "\\", "\\N"), CsvDialect(escaped="\\")],
                         ids=["default", "pipe-sq-bs", "dq-bs"])
@pytest.mark.parametrize("as_bytes", [False, True], ids=["str", "bytes"])
def test_text_blocks_split_at_record_boundaries(tmp_path: Path, dialect: CsvDialect, as_bytes: bool) -> None:
    rows: list[list[str | None]] = [[str(i), f"multi\nline {i}" if i % 3 == 0 else f'q"{i}\'', None] for i in range(10)]
    rows[4][1] = "ends with escape\\"
    rows[5][1] = dialect.enclosed + "\n" + dialect.enclosed
    block = dialect.format_rows(rows)
    with ChunkWriter(tmp_path / "t", dialect, chunk_rows=4) as w:
        w.write_text_block(block.encode() if as_bytes else block, 10)
    assert [len(records(f, dialect)) for f in w.files] == [4, 4, 2]
    assert [rec for f in w.files for rec in records(f, dialect)] == rows
    with ChunkWriter(tmp_path / "mixed", dialect, chunk_rows=3) as w2:  # blocks and rows together
        w2.write_text_block(dialect.format_rows(rows[:2]), 2)
        w2.write_rows(rows[2:5])
        w2.write_text_block(dialect.format_rows(rows[5:]).encode(), 5)
    assert [len(records(f, dialect)) for f in w2.files] == [3, 3, 3, 1]
    assert [rec for f in w2.files for rec in records(f, dialect)] == rows
    assert count_block_records(block, dialect) == 10 == count_block_records(block.encode(), dialect)
    with ChunkWriter(tmp_path / "counted", dialect, chunk_rows=6) as w3:  # rows=None: counted here
        assert w3.write_text_block(block.encode() if as_bytes else block) == 10
    assert [len(records(f, dialect)) for f in w3.files] == [6, 4]


def test_text_block_checks(tmp_path: Path) -> None:
    with ChunkWriter(tmp_path / "t") as w:
        with pytest.raises(ValueError, match="holds 2 records, not 3"):
            w.write_text_block("a\nb\n", 3)
        with pytest.raises(ValueError, match="line break"):
            w.write_text_block("a\nb", 2)
        with pytest.raises(ValueError, match="empty block"):
            w.write_text_block("", 2)
        assert w.write_text_block("", 0) == 0
        assert w.write_text_block(b"x\n", 1) == 1
        assert w.write_text_block('"a\nb",1\n2,2\n') == 2
    assert w.rows == 3


def test_charsets_on_write(tmp_path: Path) -> None:
    gbk = CsvDialect(charset="GBK")
    with ChunkWriter(tmp_path / "g", gbk) as w:
        w.write_rows([["中文", "逗号,"]])
        w.write_text_block("测试,1\n".encode(), 1)  # a UTF-8 block (PostgreSQL COPY) is transcoded
    raw = w.files[0].read_bytes()
    assert raw == '中文,"逗号,"\n测试,1\n'.encode("gbk")
    assert records(w.files[0], gbk) == [["中文", "逗号,"], ["测试", "1"]]
    with pytest.raises(KwtuiError, match="no GBK encoding"), ChunkWriter(tmp_path / "e", gbk) as w2:
        w2.write_rows([["emoji 😀"]])
    assert not any((tmp_path / "e").glob("*.csv*"))  # the broken chunk is gone
    with ChunkWriter(tmp_path / "b", CsvDialect(charset="big5")) as w3:
        w3.write_rows([["繁體"]])
    assert w3.files[0].read_bytes() == "繁體\n".encode("big5")


# --- DatabaseLayoutWriter and read_layout -------------------------------------------------------------


REL_TABLES = {
    ("public", "users"): ("CREATE TABLE users (\n\tid INT8 NOT NULL DEFAULT unique_rowid(),\n\tname VARCHAR(100) NULL,\n"
                          "\tCONSTRAINT \"primary\" PRIMARY KEY (id ASC),\n\tFAMILY \"primary\" (id, name)\n)",
                          ["id", "name"], ["id"]),
    ("public", "orders"): ("CREATE TABLE orders (order_no STRING NOT NULL, line INT4 NOT NULL, note TEXT, "
                           "PRIMARY KEY (order_no, line))", ["order_no", "line", "note"], ["order_no", "line"]),
    ("sales", "regions"): ("CREATE TABLE regions (code CHAR(2) PRIMARY KEY, label NVARCHAR(20))",
                           ["code", "label"], ["code"]),
}


def test_relational_database_tree_round_trip(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    data: dict[tuple[str, str], list[list[str | None]]] = {}
    with DatabaseLayoutWriter(root, "shop", chunk_rows=2) as dbw:
        for (schema, name), (ddl, cols, _) in REL_TABLES.items():
            w = dbw.table(name, ddl, schema=schema, column_names=cols,
                          extra_statements=[f"COMMENT ON TABLE {name} IS 'the {name}; really'"])
            data[(schema, name)] = [[f"{name}-{i}", *[f"x{i}" if i % 2 else None for _ in cols[1:]]] for i in range(3)]
            w.write_rows(data[(schema, name)])
    assert (root / "meta.sql").read_text() == "CREATE DATABASE shop;\n"
    assert (root / "sales" / "meta.sql").read_text() == "CREATE SCHEMA sales;\n"
    assert names(sorted((root / "public" / "users").iterdir())) == ["meta.sql", "n1.0.csv", "n1.1.csv"]
    assert dbw.rows == 9 and len(dbw.files) == 6
    lay = read_layout(root)
    assert (lay.kind, lay.database, lay.is_ts) == ("database", "shop", False)
    assert lay.schema_statements == {"sales": ["CREATE SCHEMA sales"]}
    got = {(t.schema, t.name): t for t in lay.tables}
    assert set(got) == set(REL_TABLES)
    for key, (ddl, cols, pk) in REL_TABLES.items():
        t = got[key]
        assert t.ddl == ddl and t.column_names == cols and t.primary_key == pk and not t.is_ts
        assert t.statements == [f"COMMENT ON TABLE {key[1]} IS 'the {key[1]}; really'"]
        assert [rec for f in t.data_files for rec in records(f)] == data[key]
    assert got[("public", "users")].columns[0].default == "unique_rowid()"
    with pytest.raises(ExportPathNotEmpty, match=r"contains 3 files"):
        DatabaseLayoutWriter(root, "shop").open()


def test_ts_database_tree_round_trip(tmp_path: Path) -> None:
    root = tmp_path / "tsdb"
    ddl = ("CREATE TABLE meter_data (\n\tts TIMESTAMPTZ(3) NOT NULL,\n\tvoltage FLOAT8 NULL\n) TAGS (\n"
           "\tmeter_id VARCHAR(50) NOT NULL, site NCHAR(10) ) PRIMARY TAGS(meter_id)")
    ddl2 = "CREATE TABLE events (ts TIMESTAMP NOT NULL, code INT2) ATTRIBUTES (dev INT4 NOT NULL) PRIMARY ATTRIBUTES (dev)"
    rows: list[list[str | None]] = [["2025-01-31 12:47:24.22+00:00", "225.0", "M26", None],
                                    ["2025-01-31 12:47:25+00:00", None, "M1", "北京"]]
    with DatabaseLayoutWriter(root, "tsdb", is_ts=True, database_options="RETENTIONS 30d") as dbw:
        dbw.table("meter_data", ddl).write_rows(rows)
        dbw.table("events", ddl2).write_rows([["2025-01-01 00:00:00", "7", "1"]])
        with pytest.raises(UsageError, match="schema public"):
            dbw.table("x", ddl2, schema="other")
    assert (root / "meta.sql").read_text() == f"CREATE TS DATABASE tsdb RETENTIONS 30d;\n{ddl};\n{ddl2};\n"
    assert not (root / "public" / "meter_data" / "meta.sql").exists()
    lay = read_layout(root)
    assert (lay.kind, lay.database, lay.is_ts, lay.database_options) == ("database", "tsdb", True, "RETENTIONS 30d")
    assert [t.name for t in lay.tables] == ["meter_data", "events"]
    md = lay.table("meter_data")
    assert md.is_ts and md.ddl == ddl
    assert md.column_names == ["ts", "voltage", "meter_id", "site"]
    assert [c.name for c in md.tag_columns] == ["meter_id", "site"] and md.primary_tags == ["meter_id"]
    assert md.key_columns == ["ts", "meter_id"]
    assert records(md.data_files[0]) == rows
    ev = lay.table("events", "public")
    assert ev.primary_tags == ["dev"] and [c.name for c in ev.data_columns] == ["ts", "code"]


def test_read_layout_shapes(tmp_path: Path) -> None:
    single = tmp_path / "people.csv"
    single.write_text("1,a\n")
    lay = read_layout(single)
    assert lay.kind == "file" and lay.tables[0].name == "people" and lay.data_files == [single]

    table = tmp_path / "tb1"
    with ChunkWriter(table, meta_sql="CREATE TABLE tb1 (a INT8 PRIMARY KEY)") as w:
        w.write_rows([["1"]])
    (table / "reject.n1.0.txt").write_text("bad\n")
    (table / "extra.csv").write_text("2\n")
    for p in (table, table / "meta.sql"):
        lay = read_layout(p)
        assert lay.kind == "table" and lay.tables[0].name == "tb1" and lay.tables[0].primary_key == ["a"]
        assert names(lay.tables[0].data_files) == ["n1.0.csv", "extra.csv"]
        assert names(lay.tables[0].reject_files) == ["reject.n1.0.txt"]
        assert any("extra.csv" in w for w in lay.warnings)

    data_only = tmp_path / "tb1data"
    with ChunkWriter(data_only, chunk_rows=1) as w:
        w.write_rows([["1"], ["2"]])
    lay = read_layout(data_only)
    assert lay.kind == "table" and lay.tables[0].ddl is None and len(lay.tables[0].data_files) == 2
    assert lay.warnings

    db_data_only = tmp_path / "dbdata"
    for t in ("t1", "t2"):
        with ChunkWriter(db_data_only / "public" / t) as w:
            w.write_rows([["1"]])
    lay = read_layout(db_data_only)
    assert lay.kind == "database" and lay.database == "dbdata" and [t.name for t in lay.tables] == ["t1", "t2"]

    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "b.csv").write_text("1\n")
    (folder / "a.CSV").write_text("2\n")
    lay = read_layout(folder)
    assert lay.kind == "files" and [t.name for t in lay.tables] == ["a", "b"]

    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="holds no CSV data"):
        read_layout(tmp_path / "empty")
    with pytest.raises(UsageError, match="does not exist"):
        read_layout(tmp_path / "missing")


# --- the real smart-meter exports --------------------------------------------------------------------


def extract(name: str, dest: Path) -> Path:
    tarball = SMART_METER / f"{name}.tar.gz"
    if not tarball.is_file():
        pytest.skip(f"{tarball} is not available")
    with tarfile.open(tarball) as tar:
        try:
            tar.extractall(dest, filter="data")
        except TypeError:  # Python < 3.11.4 has no extraction filters
            tar.extractall(dest)  # noqa: S202 - our own fixture archive
    return dest / name


def test_smart_meter_relational_export(tmp_path: Path) -> None:
    root = extract("rdb", tmp_path)
    assert (root / "meta.sql").read_bytes() == b"CREATE DATABASE rdb;"  # no newline: statements run together
    lay = read_layout(root)
    assert (lay.kind, lay.database, lay.is_ts, lay.warnings) == ("database", "rdb", False, [])
    tables = {t.name: t for t in lay.tables}
    assert sorted(tables) == ["alarm_rules", "area_info", "meter_info", "user_info"]
    assert all(t.schema == "public" and not t.is_ts for t in lay.tables)
    assert tables["meter_info"].column_names == ["meter_id", "install_date", "voltage_level", "manufacturer",
                                                 "status", "area_id", "user_id"]
    assert tables["user_info"].column_names == ["user_id", "user_name", "address", "contact"]
    assert tables["area_info"].column_names == ["area_id", "area_name", "manager", "region"]
    ar = tables["alarm_rules"]
    assert ar.column_names == ["rule_id", "rule_name", "metric", "operator", "threshold", "severity", "notify_method"]
    assert [(c.type, c.not_null, c.default) for c in ar.columns[:2]] == [("INT8", True, "unique_rowid()"),
                                                                        ("VARCHAR(100)", False, None)]
    assert {n: t.primary_key for n, t in tables.items()} == {
        "alarm_rules": ["rule_id"], "area_info": ["area_id"], "meter_info": ["meter_id"], "user_info": ["user_id"]}
    counts = {n: len(records(t.data_files[0])) for n, t in tables.items()}
    assert counts == {"alarm_rules": 5, "area_info": 100, "meter_info": 100, "user_info": 100}
    first = records(ar.data_files[0])[0]
    assert first is not None and first[1:] == ["高压告警", "voltage", ">", "250.0", "critical", "sms,email"]


def test_smart_meter_ts_export(tmp_path: Path) -> None:
    root = extract("tsdb", tmp_path)
    lay = read_layout(root)
    assert (lay.kind, lay.database, lay.is_ts, lay.warnings) == ("database", "tsdb", True, [])
    assert [t.name for t in lay.tables] == ["meter_data"]
    md = lay.tables[0]
    assert md.is_ts and md.schema == "public"
    assert md.column_names == ["ts", "voltage", "current", "power", "energy", "meter_id"]
    assert [(c.name, c.type, c.not_null) for c in md.data_columns] == [
        ("ts", "TIMESTAMPTZ(3)", True), ("voltage", "FLOAT8", False), ("current", "FLOAT8", False),
        ("power", "FLOAT8", False), ("energy", "FLOAT8", False)]
    assert [(c.name, c.type, c.not_null, c.primary_tag) for c in md.tag_columns] == [
        ("meter_id", "VARCHAR(50)", True, True)]
    assert md.primary_tags == ["meter_id"] and md.primary_key == []
    assert names(md.data_files) == ["n1.0.csv"]
    with open(md.data_files[0], "rb") as f:
        recs = list(iter_records(f, CsvDialect()))
    assert len(recs) == 10_100
    assert all(r.ok and r.fields is not None and len(r.fields) == 6 for r in recs)
    assert recs[0].fields == ["2025-01-31 12:47:24.22+00:00", "225.0", "6.0", "1250.0", "101250.0", "M26"]
    assert count_records(open(md.data_files[0], "rb"), CsvDialect()) == 10_100


# --- SQL text ----------------------------------------------------------------------------------------


def test_split_statements() -> None:
    text = ("CREATE DATABASE rdb;CREATE TABLE a (x STRING DEFAULT 'a;b', \"se;mi\" INT8); -- done;\n"
            "COMMENT ON TABLE a IS E'it\\'s; fine'; /* ; */ GRANT SELECT ON a TO u;;\n"
            "CREATE FUNCTION f() AS $body$ x; y $body$; select 1")
    assert split_statements(text) == [
        "CREATE DATABASE rdb",
        "CREATE TABLE a (x STRING DEFAULT 'a;b', \"se;mi\" INT8)",
        "COMMENT ON TABLE a IS E'it\\'s; fine'",
        "GRANT SELECT ON a TO u",
        "CREATE FUNCTION f() AS $body$ x; y $body$",
        "select 1",
    ]
    assert split_statements("  -- only a comment\n") == []
    assert statement_verb("create ts database d") == "CREATE TS DATABASE"
    assert statement_verb("CREATE TABLE t ()") == "CREATE TABLE"
    assert statement_verb("comment on column t.a is 'x'") == "COMMENT ON"
    assert parse_create_database('CREATE TS DATABASE IF NOT EXISTS "TS db" RETENTIONS 30d PARTITION INTERVAL 10d') == \
        ("TS db", True, "RETENTIONS 30d PARTITION INTERVAL 10d")
    assert parse_create_database("CREATE DATABASE rdb") == ("rdb", False, "")


def test_parse_create_table_variants() -> None:
    qa = ("create table test_impexp.ds_tb( k_timestamp timestamptz not null,e8 char(1023), e9 nchar(255) not null, "
          "e21 varbytes(200) not null)  ATTRIBUTES (code1 int2 not null,code2 int,flag BOOL not null,"
          "color nchar(200) not null, type NCHAR(254)) primary tags(code1,flag,color);")
    t = parse_create_table(qa)
    assert (t.name, t.qualifier, t.is_ts, t.options) == ("ds_tb", ["test_impexp"], True, "")
    assert t.column_names == ["k_timestamp", "e8", "e9", "e21", "code1", "code2", "flag", "color", "type"]
    assert t.primary_tags == ["code1", "flag", "color"]
    assert [c.name for c in t.columns if c.is_tag] == ["code1", "code2", "flag", "color", "type"]
    assert [c.base_type for c in t.columns[:4]] == ["TIMESTAMPTZ", "CHAR", "NCHAR", "VARBYTES"]

    tagvals = parse_create_table("CREATE TABLE t1 (k_timestamp TIMESTAMP NOT NULL, a INT4 NULL) "
                                 "TAGS (location VARCHAR(64) 'beijing', color VARCHAR(64) 'blue');")
    assert [(c.name, c.type, c.is_tag) for c in tagvals.columns[2:]] == [("location", "VARCHAR(64)", True),
                                                                         ("color", "VARCHAR(64)", True)]
    opts = parse_create_table("CREATE TABLE m (ts TIMESTAMPTZ(3) NOT NULL, v FLOAT8) TAGS (id VARCHAR(50) NOT NULL) "
                              "PRIMARY TAGS(id)\n  retentions 0s\n  activetime 1d")
    assert opts.options == "retentions 0s activetime 1d" and opts.primary_tags == ["id"]

    pg = parse_create_table(
        'CREATE TABLE IF NOT EXISTS public."Order Items" (id serial PRIMARY KEY, n numeric(10, 2) DEFAULT 0.0 NOT NULL, '
        'arr int[], "Mixed""Q" text COLLATE "C", d double precision, ts timestamp(3) with time zone default now(), '
        "family varchar(10), CONSTRAINT fk FOREIGN KEY (n) REFERENCES x(y), UNIQUE (arr), CHECK (n > 0), "
        'INDEX idx (n ASC), FAMILY "primary" (id, n))')
    assert (pg.name, pg.qualifier, pg.primary_key, pg.is_ts) == ("Order Items", ["public"], ["id"], False)
    assert [(c.name, c.type, c.not_null, c.default) for c in pg.columns] == [
        ("id", "serial", True, None), ("n", "numeric(10,2)", True, "0.0"), ("arr", "int[]", False, None),
        ('Mixed"Q', "text", False, None), ("d", "double precision", False, None),
        ("ts", "timestamp(3) with time zone", False, "now()"), ("family", "varchar(10)", False, None)]
    composite = parse_create_table("CREATE TABLE x (a INT, b TEXT, PRIMARY KEY (b DESC, a))")
    assert composite.primary_key == ["b", "a"]
    with pytest.raises(ValueError):
        parse_create_table("CREATE VIEW v AS SELECT 1")


def test_reader_and_writer_agree_on_kwdb_smart_meter_bytes(tmp_path: Path) -> None:
    """Re-exporting the TS smart-meter rows through ChunkWriter gives KWDB's bytes back."""
    root = extract("tsdb", tmp_path)
    src = root / "public" / "meter_data" / "n1.0.csv"
    rows = [r.fields for r in iter_records(io.BytesIO(src.read_bytes()), CsvDialect())]
    with ChunkWriter(tmp_path / "again", chunk_rows=0) as w:
        w.write_rows(rows)  # type: ignore[arg-type]
    assert w.files[0].read_bytes() == src.read_bytes()
