"""KWDB SHOW-output parsers, on fixtures derived from recorded KWDB server output.

The small inline fixtures below are shaped after the ``SHOW ... WITH COMMENT`` answers in
/work/shared/kwdb/qa-import-export/master/*.master and the DDL that KWDB's EXPORT wrote
into the smart-meter archives (meta.sql). The sweep at the end parses every ``show
tables``/``show columns``/``show databases`` block of the recorded .master files.
"""

from __future__ import annotations

import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from kwtui.catalog import (
    BASE,
    MATVIEW,
    RELATIONAL,
    TIME_SERIES,
    TS_TABLE,
    VIEW,
    Column,
    Schema,
    TableDetail,
    parse_create_statement,
    parse_kwdb_columns,
    parse_kwdb_indexes,
    parse_kwdb_schemas,
    parse_kwdb_tables,
    parse_primary_key,
    parse_primary_tags,
)
from kwtui.dialects import KwdbDialect

SHARED = Path(__file__).resolve().parents[2] / "shared" / "kwdb"
MASTER_DIR = SHARED / "qa-import-export" / "master"
SMART_METER = SHARED / "smart-meter"

# -- fixtures derived from the recorded output ------------------------------------------------

# KWDB's EXPORT of tsdb.meter_data (smart-meter/tsdb.tar.gz, tsdb/meta.sql)
METER_DATA_DDL = """CREATE TABLE meter_data (
	ts TIMESTAMPTZ(3) NOT NULL,
	voltage FLOAT8 NULL,
	current FLOAT8 NULL,
	power FLOAT8 NULL,
	energy FLOAT8 NULL
) TAGS (
	meter_id VARCHAR(50) NOT NULL ) PRIMARY TAGS(meter_id);"""

# KWDB's EXPORT of rdb.meter_info (smart-meter/rdb.tar.gz, rdb/public/meter_info/meta.sql)
METER_INFO_DDL = """CREATE TABLE meter_info (
	meter_id VARCHAR(50) NOT NULL,
	install_date DATE NULL,
	voltage_level VARCHAR(20) NULL,
	area_id VARCHAR(20) NULL,
	user_id VARCHAR(50) NULL,
	CONSTRAINT "primary" PRIMARY KEY (meter_id ASC),
	FAMILY "primary" (meter_id, install_date, voltage_level, area_id, user_id)
);"""

# the QA tests' TS table (imp_exp_comment: create table test.tb1 ... primary tags(tag1, tag2, tag3))
TB1_DDL = ("create table test.tb1(k_timestamp timestamptz not null, e1 int2, e2 int4) "
           "tags (tag1 int2 not null, tag2 int4 not null, tag3 int8 not null, tag4 float4) "
           "primary tags(tag1, tag2, tag3);")

SHOW_COLUMNS_COLS = ["column_name", "data_type", "is_nullable", "column_default", "generation_expression",
                     "indices", "is_hidden", "is_tag", "comment"]

# show columns from test.tb1 with comment (imp_exp_comment.sql_1n@002), a handful of rows
TB1_COLUMNS = [
    ("k_timestamp", "TIMESTAMPTZ(3)", "false", "NULL", "", "{primary}", "false", "false", "NULL"),
    ("e1", "INT2", "true", "NULL", "", "{}", "false", "false", "e1 column for comment"),
    ("e2", "INT4", "true", "NULL", "", "{}", "false", "false", "NULL"),
    ("tag1", "INT2", "false", "NULL", "", "{}", "false", "true", "NULL"),
    ("tag2", "INT4", "false", "NULL", "", "{}", "false", "true", "NULL"),
    ("tag3", "INT8", "false", "NULL", "", "{}", "false", "true", "NULL"),
    ("tag4", "FLOAT4", "true", "NULL", "", "{}", "false", "true", "NULL"),
]

# what the same SHOW gives for tsdb.meter_data
METER_DATA_COLUMNS = [
    ("ts", "TIMESTAMPTZ(3)", "false", "NULL", "", "{primary}", "false", "false", "NULL"),
    ("voltage", "FLOAT8", "true", "NULL", "", "{}", "false", "false", "NULL"),
    ("current", "FLOAT8", "true", "NULL", "", "{}", "false", "false", "NULL"),
    ("power", "FLOAT8", "true", "NULL", "", "{}", "false", "false", "NULL"),
    ("energy", "FLOAT8", "true", "NULL", "", "{}", "false", "false", "NULL"),
    ("meter_id", "VARCHAR(50)", "false", "NULL", "", "{}", "false", "true", "NULL"),
]

# and for rdb.meter_info (a relational table; the primary key index is named "primary")
METER_INFO_COLUMNS = [
    ("meter_id", "VARCHAR(50)", "false", "NULL", "", "{primary,meter_info_user_id_idx}", "false", "false", "NULL"),
    ("install_date", "DATE", "true", "NULL", "", "{}", "false", "false", "installed on"),
    ("voltage_level", "VARCHAR(20)", "true", "'220V'", "", "{}", "false", "false", "NULL"),
    ("area_id", "VARCHAR(20)", "true", "NULL", "", "{}", "false", "false", "NULL"),
    ("user_id", "VARCHAR(50)", "true", "NULL", "", "{meter_info_user_id_idx}", "false", "false", "NULL"),
]


# -- SHOW DATABASES -------------------------------------------------------------------------


def test_parse_databases_with_comment() -> None:
    # show databases with comment (imp_exp_comment.sql_1n@001)
    cols = ["database_name", "engine_type", "comment"]
    rows = [("defaultdb", "RELATIONAL", "NULL"), ("postgres", "RELATIONAL", "NULL"),
            ("system", "RELATIONAL", "NULL"), ("test", "TIME SERIES", "database for comment")]
    dbs = KwdbDialect().parse_databases(cols, rows)
    assert [d.name for d in dbs] == ["defaultdb", "postgres", "system", "test"]
    assert [d.engine for d in dbs] == [RELATIONAL, RELATIONAL, RELATIONAL, TIME_SERIES]
    assert [d.comment for d in dbs] == [None, None, None, "database for comment"]
    assert dbs[3].is_ts and not dbs[0].is_ts
    assert all(d.size_bytes is None for d in dbs)


def test_parse_databases_without_comment_and_quoted_names() -> None:
    # show databases (imp_exp_name.sql_1n@001): case-sensitive names, no comment column
    dbs = KwdbDialect().parse_databases(["database_name", "engine_type"],
                                        [("TSDB", "TIME SERIES"), ("defaultdb", "RELATIONAL"),
                                         ("tsDB", "TIME SERIES")])
    assert [(d.name, d.engine, d.comment) for d in dbs] == [
        ("TSDB", TIME_SERIES, None), ("defaultdb", RELATIONAL, None), ("tsDB", TIME_SERIES, None)]


# -- SHOW SCHEMAS ---------------------------------------------------------------------------


def test_parse_schemas_drops_system_schemas() -> None:
    cols = ["schema_name", "owner"]
    rows = [("crdb_internal", "NULL"), ("information_schema", "NULL"), ("kwdb_internal", "NULL"),
            ("pg_catalog", "NULL"), ("pg_extension", "NULL"), ("public", "admin"), ("sales", "root")]
    assert parse_kwdb_schemas(cols, rows) == [Schema("public"), Schema("sales")]
    # without an owner column, and in upper-case column names
    assert parse_kwdb_schemas(["SCHEMA_NAME"], [("public",), ("pg_catalog",)]) == [Schema("public")]
    assert parse_kwdb_schemas(["schema_name"], []) == []


# -- SHOW TABLES ----------------------------------------------------------------------------


def test_parse_tables_ts_with_comment() -> None:
    # show tables with comment (imp_exp_comment.sql_1n@002): an empty comment is '' there
    cols = ["table_name", "table_type", "comment"]
    rows = [("tb1", "TIME SERIES TABLE", "table for comment"), ("tb2", "TIME SERIES TABLE", "")]
    tables = parse_kwdb_tables("public", cols, rows)
    assert [(t.schema, t.name, t.kind, t.comment) for t in tables] == [
        ("public", "tb1", TS_TABLE, "table for comment"), ("public", "tb2", TS_TABLE, None)]
    assert all(t.is_ts for t in tables)
    assert tables[0].qualified == "public.tb1"
    assert all(t.est_rows is None and t.size_bytes is None for t in tables)


def test_parse_tables_relational_kinds() -> None:
    cols = ["table_name", "table_type", "comment"]
    rows = [("meter_info", "BASE TABLE", "NULL"), ("user_info", "BASE TABLE", "users"),
            ("v_meters", "VIEW", ""), ("mv_daily", "MATERIALIZED VIEW", "NULL")]
    tables = parse_kwdb_tables("public", cols, rows)
    assert [(t.name, t.kind, t.comment) for t in tables] == [
        ("meter_info", BASE, None), ("user_info", BASE, "users"), ("v_meters", VIEW, None),
        ("mv_daily", MATVIEW, None)]
    assert not any(t.is_ts for t in tables)


def test_parse_tables_cockroach_form_filters_schema_and_reads_estimates() -> None:
    cols = ["schema_name", "table_name", "type", "owner", "estimated_row_count"]
    rows = [("public", "meter_info", "table", "root", "100"), ("other", "x", "table", "root", "5"),
            ("public", "v", "view", "root", "NULL"), ("public", "alarm_rules", "table", "root", "garbage")]
    tables = parse_kwdb_tables("public", cols, rows)
    assert [(t.name, t.kind, t.est_rows) for t in tables] == [
        ("meter_info", BASE, 100), ("v", VIEW, None), ("alarm_rules", BASE, None)]


def test_parse_tables_without_type_column() -> None:
    tables = parse_kwdb_tables("public", ["table_name"], [("a",), ("b",)])
    assert [(t.name, t.kind) for t in tables] == [("a", BASE), ("b", BASE)]


# -- PRIMARY TAGS / PRIMARY KEY from DDL ------------------------------------------------------


def test_parse_primary_tags_meter_data() -> None:
    assert parse_primary_tags(METER_DATA_DDL) == ["meter_id"]


def test_parse_primary_tags_lists() -> None:
    assert parse_primary_tags(TB1_DDL) == ["tag1", "tag2", "tag3"]
    assert parse_primary_tags("... primary tags(tag1, tag2, tag3)") == ["tag1", "tag2", "tag3"]
    assert parse_primary_tags("... PRIMARY TAGS ( a ,b )\n retentions 0s activetime 1d") == ["a", "b"]
    assert parse_primary_tags("CREATE TABLE t (a INT8 NOT NULL, b INT8)") == []
    assert parse_primary_tags("") == []


def test_parse_primary_tags_quoted_identifiers() -> None:
    ddl = 'CREATE TABLE "TSDB".t (ts TIMESTAMPTZ NOT NULL, v INT4) TAGS ("Meter ID" INT4 NOT NULL, ' \
          '"a,b" INT4 NOT NULL, "q""uote" INT4 NOT NULL, "x)y" INT4 NOT NULL) ' \
          'PRIMARY TAGS ("Meter ID", "a,b", "q""uote", "x)y")'
    assert parse_primary_tags(ddl) == ["Meter ID", "a,b", 'q"uote', "x)y"]
    # unquoted names fold to lower case, as the server does
    assert parse_primary_tags("... PRIMARY TAGS(Meter_ID, \"Plant\")") == ["meter_id", "Plant"]


def test_parse_primary_key_meter_info() -> None:
    assert parse_primary_key(METER_INFO_DDL) == ["meter_id"]


def test_parse_primary_key_variants() -> None:
    assert parse_primary_key('CONSTRAINT "primary" PRIMARY KEY (a ASC, b DESC)') == ["a", "b"]
    assert parse_primary_key('CONSTRAINT "primary" PRIMARY KEY ("Order Id" ASC, "x""y" DESC, z)') == [
        "Order Id", 'x"y', "z"]
    assert parse_primary_key(METER_DATA_DDL) == []
    assert parse_primary_key("CREATE TABLE t (a INT8 PRIMARY KEY, b INT8)") == []  # column-level: no list


def test_real_export_ddl_from_archives(tmp_path: Path) -> None:
    """The meta.sql files of the smart-meter exports, read from the archives at test time."""
    if not SMART_METER.is_dir():
        pytest.skip(f"{SMART_METER} is absent")
    with tarfile.open(SMART_METER / "tsdb.tar.gz") as tar:
        member = tar.extractfile("tsdb/meta.sql")
        assert member is not None
        ts_meta = member.read().decode()
    with tarfile.open(SMART_METER / "rdb.tar.gz") as tar:
        rdb = {}
        for m in tar.getmembers():
            if m.name.endswith("/meta.sql") and m.name.count("/") == 3:  # rdb/public/<table>/meta.sql
                f = tar.extractfile(m)
                assert f is not None
                rdb[m.name.split("/")[2]] = f.read().decode()
    assert parse_primary_tags(ts_meta) == ["meter_id"]
    assert parse_primary_key(ts_meta) == []
    assert parse_primary_key(rdb["meter_info"]) == ["meter_id"]
    assert parse_primary_key(rdb["user_info"]) == ["user_id"]
    assert parse_primary_key(rdb["area_info"]) == ["area_id"]
    assert parse_primary_key(rdb["alarm_rules"]) == ["rule_id"]
    assert all(parse_primary_tags(ddl) == [] for ddl in rdb.values())


# -- SHOW COLUMNS ---------------------------------------------------------------------------


def test_parse_columns_ts_table_with_ddl() -> None:
    cols = parse_kwdb_columns(SHOW_COLUMNS_COLS, TB1_COLUMNS, TB1_DDL)
    assert [c.name for c in cols] == [r[0] for r in TB1_COLUMNS]
    by = {c.name: c for c in cols}
    ts = by["k_timestamp"]
    assert ts.type == "TIMESTAMPTZ(3)" and ts.nullable is False and not ts.is_tag and not ts.primary_tag
    assert by["e1"].comment == "e1 column for comment" and by["e2"].comment is None
    assert by["e1"].nullable and by["e1"].default is None and not by["e1"].is_tag
    assert [c.name for c in cols if c.is_tag] == ["tag1", "tag2", "tag3", "tag4"]
    assert [c.name for c in cols if c.primary_tag] == ["tag1", "tag2", "tag3"]
    assert by["tag4"].is_tag and not by["tag4"].primary_tag and by["tag4"].nullable
    assert all(not by[t].nullable for t in ("tag1", "tag2", "tag3"))
    assert by["tag1"].flags() == "primary tag, not null"
    assert by["tag4"].flags() == "tag"
    detail = TableDetail(table=parse_kwdb_tables("public", ["table_name", "table_type"],
                                                 [("tb1", "TIME SERIES TABLE")])[0], columns=cols)
    assert detail.tags == ["tag1", "tag2", "tag3", "tag4"]
    assert detail.primary_tags == ["tag1", "tag2", "tag3"]


def test_parse_columns_meter_data() -> None:
    cols = parse_kwdb_columns(SHOW_COLUMNS_COLS, METER_DATA_COLUMNS, METER_DATA_DDL)
    assert len(cols) == len(METER_DATA_COLUMNS)
    assert cols[0].name == "ts" and cols[0].nullable is False and not cols[0].is_tag
    assert [c.name for c in cols if c.is_tag] == ["meter_id"]
    assert [c.name for c in cols if c.primary_tag] == ["meter_id"]
    assert [c.type for c in cols] == ["TIMESTAMPTZ(3)", "FLOAT8", "FLOAT8", "FLOAT8", "FLOAT8", "VARCHAR(50)"]


def test_parse_columns_without_ddl_marks_no_primary_tag() -> None:
    cols = parse_kwdb_columns(SHOW_COLUMNS_COLS, TB1_COLUMNS)
    assert [c.name for c in cols if c.is_tag] == ["tag1", "tag2", "tag3", "tag4"]
    assert not any(c.primary_tag for c in cols)


def test_parse_columns_primary_tags_only_on_tag_columns() -> None:
    # a data column that happens to share a primary tag's name in a malformed DDL is not a primary tag
    ddl = "CREATE TABLE t (ts TIMESTAMPTZ NOT NULL, e1 INT2) TAGS (tag1 INT2 NOT NULL) PRIMARY TAGS (tag1, e1)"
    cols = parse_kwdb_columns(SHOW_COLUMNS_COLS, TB1_COLUMNS[:4], ddl)
    assert [c.name for c in cols if c.primary_tag] == ["tag1"]


def test_parse_columns_relational_with_ddl() -> None:
    cols = parse_kwdb_columns(SHOW_COLUMNS_COLS, METER_INFO_COLUMNS, METER_INFO_DDL)
    assert [c.name for c in cols] == ["meter_id", "install_date", "voltage_level", "area_id", "user_id"]
    assert [c.name for c in cols if c.primary_key] == ["meter_id"]
    assert cols[0].nullable is False and cols[0].flags() == "PK, not null"
    assert cols[1].comment == "installed on"
    assert cols[2].default == "'220V'"
    assert not any(c.is_tag or c.primary_tag for c in cols)


def test_parse_columns_relational_without_ddl_uses_indices() -> None:
    cols = parse_kwdb_columns(SHOW_COLUMNS_COLS, METER_INFO_COLUMNS)
    assert [c.name for c in cols if c.primary_key] == ["meter_id"]


def test_parse_columns_hidden_rowid_dropped_and_plain_show_columns() -> None:
    # SHOW COLUMNS without WITH COMMENT, for a table without an explicit key (hidden rowid)
    cols = ["column_name", "data_type", "is_nullable", "column_default", "generation_expression",
            "indices", "is_hidden", "is_tag"]
    rows = [("a", "INT4", "true", "NULL", "", "{}", "false", "false"),
            ("b", "STRING", "false", "'x'", "", "{}", "false", "false"),
            ("rowid", "INT8", "false", "unique_rowid()", "", "{primary}", "true", "false")]
    out = parse_kwdb_columns(cols, rows)
    assert out == [Column("a", "INT4", True, None), Column("b", "STRING", False, "'x'")]


def test_parse_columns_accepts_real_booleans() -> None:
    # over the wire psycopg returns bool for KWDB's BOOL columns
    rows = [("ts", "TIMESTAMPTZ(3)", False, None, "", "{primary}", False, False, None),
            ("t", "INT4", False, None, "", "{}", False, True, None)]
    out = parse_kwdb_columns(SHOW_COLUMNS_COLS, rows, "... PRIMARY TAGS (t)")
    assert [(c.name, c.nullable, c.is_tag, c.primary_tag, c.comment) for c in out] == [
        ("ts", False, False, False, None), ("t", False, True, True, None)]


# -- SHOW INDEXES ---------------------------------------------------------------------------

SHOW_INDEXES_COLS = ["table_name", "index_name", "non_unique", "seq_in_index", "column_name", "direction",
                     "storing", "implicit"]

METER_INFO_INDEXES = [
    ("meter_info", "primary", "false", "1", "meter_id", "ASC", "false", "false"),
    ("meter_info", "meter_info_area_id_user_id_idx", "true", "1", "area_id", "ASC", "false", "false"),
    ("meter_info", "meter_info_area_id_user_id_idx", "true", "2", "user_id", "DESC", "false", "false"),
    ("meter_info", "meter_info_area_id_user_id_idx", "true", "3", "status", "N/A", "true", "false"),
    ("meter_info", "meter_info_area_id_user_id_idx", "true", "4", "meter_id", "ASC", "false", "true"),
    ("meter_info", "meter_info_user_id_key", "false", "1", "user_id", "ASC", "false", "false"),
    ("meter_info", "meter_info_user_id_key", "false", "2", "meter_id", "ASC", "false", "true"),
]


def test_parse_indexes_groups_and_drops_storing_and_implicit() -> None:
    idx = parse_kwdb_indexes(SHOW_INDEXES_COLS, METER_INFO_INDEXES)
    assert [(i.name, i.columns, i.unique, i.primary) for i in idx] == [
        ("primary", ("meter_id",), True, True),
        ("meter_info_area_id_user_id_idx", ("area_id", "user_id"), False, False),
        ("meter_info_user_id_key", ("user_id",), True, False),
    ]


def test_parse_indexes_with_real_booleans_and_empty() -> None:
    rows = [("t", "primary", False, 1, "id", "ASC", False, False),
            ("t", "t_v_idx", True, 1, "v", "ASC", False, False),
            ("t", "t_v_idx", True, 2, "id", "ASC", False, True)]
    idx = parse_kwdb_indexes(SHOW_INDEXES_COLS, rows)
    assert [(i.name, i.columns, i.unique, i.primary) for i in idx] == [
        ("primary", ("id",), True, True), ("t_v_idx", ("v",), False, False)]
    assert parse_kwdb_indexes(SHOW_INDEXES_COLS, []) == []


# -- SHOW CREATE TABLE ----------------------------------------------------------------------


def test_parse_create_statement() -> None:
    assert parse_create_statement(["table_name", "create_statement"], [("meter_data", METER_DATA_DDL)]) \
        == METER_DATA_DDL
    assert parse_create_statement(["table_name", "create_statement"], []) == ""
    # column found by name, not by position
    assert parse_create_statement(["create_statement", "table_name"], [("CREATE TABLE x ()", "x")]) \
        == "CREATE TABLE x ()"
    # unknown column names: the last column
    assert parse_create_statement(["a", "b"], [("x", "CREATE TABLE x ()")]) == "CREATE TABLE x ()"


# -- sweep over every recorded SHOW block --------------------------------------------------------


@dataclass
class ShowBlock:
    file: str
    line: int
    statement: str
    columns: list[str]
    rows: list[tuple[str, ...]]
    declared_rows: int  # the N of "(N rows)"; -1 when missing


_ROWS_RE = re.compile(r"^\((\d+) rows?\)$")
_DASHES_RE = re.compile(r"^-+(\+-+)*$")


def parse_psql_blocks(text: str, file: str = "") -> list[ShowBlock]:
    """Every `> statement` followed by a psql-style table: header, dashed line, rows, (N rows)."""
    lines = text.splitlines()
    out = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.startswith("> "):
            i += 1
            continue
        statement, start = line[2:].strip(), i
        # a statement may span lines; it ends with ';'
        j = i
        while not lines[j].rstrip().endswith(";") and j + 1 < len(lines) and not lines[j + 1].startswith("> "):
            j += 1
            statement += " " + lines[j].strip()
        j += 1  # the answer: a header line if a dashed line follows it
        if j + 1 < len(lines) and _DASHES_RE.match(lines[j + 1].strip()):
            columns = [c.strip() for c in lines[j].split("|")]
            rows = []
            k = j + 2
            while k < len(lines) and not _ROWS_RE.match(lines[k].strip()):
                rows.append(tuple(c.strip() for c in lines[k].split("|")))
                k += 1
            m = _ROWS_RE.match(lines[k].strip()) if k < len(lines) else None
            declared = int(m.group(1)) if m else -1
            out.append(ShowBlock(file, start + 1, statement, columns, rows, declared))
            i = k + 1
        else:
            i = j
    return out


def test_psql_block_parser_on_a_small_sample() -> None:
    sample = "\n".join([
        "> show tables with comment;",
        "  table_name |    table_type     |      comment",
        "-------------+-------------------+--------------------",
        "  tb1        | TIME SERIES TABLE | table for comment",
        "  tb2        | TIME SERIES TABLE |",
        "(2 rows)",
        "> use defaultdb;",
        "SET",
        "> export into csv \"nodelocal://1/x\" from table t;",
        "  result",
        "-----------",
        "  succeed",
        "(1 row)",
    ])
    blocks = parse_psql_blocks(sample)
    assert [(b.statement, b.columns, b.rows) for b in blocks] == [
        ("show tables with comment;", ["table_name", "table_type", "comment"],
         [("tb1", "TIME SERIES TABLE", "table for comment"), ("tb2", "TIME SERIES TABLE", "")]),
        ('export into csv "nodelocal://1/x" from table t;', ["result"], [("succeed",)]),
    ]


def _master_blocks() -> list[ShowBlock]:
    if not MASTER_DIR.is_dir():
        pytest.skip(f"{MASTER_DIR} is absent")
    blocks = []
    for path in sorted(MASTER_DIR.glob("*.master")):
        blocks.extend(parse_psql_blocks(path.read_text(encoding="utf-8"), path.name))
    return blocks


def _show(blocks: list[ShowBlock], what: str) -> list[ShowBlock]:
    found = [b for b in blocks if re.match(rf"show\s+{what}\b", b.statement, re.IGNORECASE)]
    for b in found:  # the block itself is well formed
        assert b.declared_rows == len(b.rows), f"{b.file}:{b.line}: (N rows) says {b.declared_rows}"
        assert all(len(r) == len(b.columns) for r in b.rows), f"{b.file}:{b.line}: ragged rows"
    return found


_CREATE_TABLE_RE = re.compile(r"^> create table (?:\w+\.)?(\w+)\s*\(.*$", re.IGNORECASE | re.MULTILINE)


def _ddl_before(block: ShowBlock, table: str) -> str:
    """The last `create table <table>` of the same .master file before the block ('' if none)."""
    text = (MASTER_DIR / block.file).read_text(encoding="utf-8")
    head = "\n".join(text.splitlines()[: block.line - 1])
    found = [m.group(0) for m in _CREATE_TABLE_RE.finditer(head) if m.group(1) == table]
    return found[-1][2:] if found else ""


def test_master_show_databases_blocks() -> None:
    blocks = _show(_master_blocks(), "databases")
    assert len(blocks) >= 10
    for b in blocks:
        dbs = KwdbDialect().parse_databases(b.columns, b.rows)
        where = f"{b.file}:{b.line}"
        assert len(dbs) == len(b.rows), where
        assert all(d.name for d in dbs), where
        assert {"defaultdb", "system"} <= {d.name for d in dbs}, where
        assert all(d.engine == (TIME_SERIES if r[1] == "TIME SERIES" else RELATIONAL)
                   for d, r in zip(dbs, b.rows, strict=True)), where
        assert all(d.comment is None or d.comment not in ("NULL", "") for d in dbs), where
        assert not any(d.is_ts for d in dbs if d.name in ("defaultdb", "system", "postgres")), where


def test_master_show_tables_blocks() -> None:
    blocks = _show(_master_blocks(), "tables")
    assert len(blocks) >= 5
    for b in blocks:
        tables = parse_kwdb_tables("public", b.columns, b.rows)
        where = f"{b.file}:{b.line}"
        assert len(tables) == len(b.rows), where
        assert all(t.name and t.schema == "public" for t in tables), where
        for t, r in zip(tables, b.rows, strict=True):
            assert t.name == r[0], where
            assert t.is_ts == ("TIME SERIES" in r[1]), where
            if "TIME SERIES" in r[1]:
                assert t.kind == TS_TABLE, where
            assert t.comment == (r[2] or None), where


def test_master_show_columns_blocks() -> None:
    blocks = _show(_master_blocks(), "columns")
    assert len(blocks) >= 5
    checked_with_ddl = 0
    for b in blocks:
        where = f"{b.file}:{b.line}"
        table = re.split(r"[\s.]+", re.sub(r"(?i)^show\s+columns\s+from\s+", "", b.statement))
        name = table[1] if len(table) > 1 and table[1].lower() != "with" else table[0]
        ddl = _ddl_before(b, name)
        cols = parse_kwdb_columns(b.columns, b.rows, ddl)
        assert len(cols) == len(b.rows), where
        assert all(c.name and c.type for c in cols), where
        assert [c.name for c in cols] == [r[0] for r in b.rows], where
        tags = [c for c in cols if c.is_tag]
        assert [c.name for c in tags] == [r[0] for r in b.rows if r[b.columns.index("is_tag")] == "true"], where
        assert tags, where  # every recorded SHOW COLUMNS here is of a TS table
        first = cols[0]
        assert first.name == "k_timestamp" and not first.is_tag and not first.nullable, where
        assert first.type.upper().startswith("TIMESTAMP"), where
        assert all(c.comment != "NULL" and c.default != "NULL" for c in cols), where
        if ddl:
            checked_with_ddl += 1
            primary = [c.name for c in cols if c.primary_tag]
            assert primary == parse_primary_tags(ddl) == ["tag1", "tag2", "tag3"], where
            assert all(not c.nullable for c in cols if c.primary_tag), where
        else:
            assert not any(c.primary_tag for c in cols), where
    assert checked_with_ddl >= 1
