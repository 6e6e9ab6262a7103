"""KWDB server-side IMPORT/EXPORT: builders, validation, result and error parsing, running.

The builders are checked against the statements of KWDB's own QA cases and the parsers
against every recorded answer in their .master files (read in place from /work/shared,
never copied; those tests skip when the folder is absent). ``run_native`` runs against the
embedded PostgreSQL: a KWDB statement must come back as a clean NativeError carrying
PostgreSQL's syntax error, with the session left usable (autocommit).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from kwtui.connection import ConnectionService, ConnectTarget
from kwtui.errors import ConnectError, UsageError
from kwtui.sqlsafety import split
from kwtui.transfer.native import (
    CHARSETS,
    ERROR_KINDS,
    ExportOptions,
    ImportOptions,
    NativeError,
    NativeOptionError,
    NativeResult,
    NativeStatement,
    cancel_job,
    compact_query,
    export_cluster_setting,
    export_database,
    export_select,
    export_table,
    export_users,
    import_cluster_setting,
    import_database,
    import_into,
    import_table_create_using,
    import_users,
    native_error,
    normalise_charset,
    parse_error,
    parse_result,
    parse_show_jobs,
    pause_job,
    quote_ident,
    quote_name,
    quote_path,
    resume_job,
    run_native,
    show_jobs,
)

if TYPE_CHECKING:
    from .conftest import TestDb

KWDB = Path(__file__).resolve().parents[2] / "shared" / "kwdb"
QA = KWDB / "qa-import-export"
needs_qa = pytest.mark.skipif(not QA.is_dir(), reason=f"KWDB QA cases not found at {QA}")


# -- a token-level normal form for comparing statements -------------------------------------------
# Keywords and bare identifiers compare case-insensitively (KWDB folds them); every quoted
# token ('..', E'..', "..") compares by its decoded value, so "nodelocal://1/x" equals
# 'nodelocal://1/x' and E'\'' equals ''''; trailing semicolons go; the WITH options compare as
# a set (KWDB refuses a repeated option, so their order carries no meaning).

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<estr>[eE]'(?:\\.|''|[^'\\])*')
  | (?P<str>'(?:''|[^'])*')
  | (?P<ident>"(?:""|[^"])*")
  | (?P<word>[A-Za-z_][A-Za-z0-9_$]*|\d+(?:\.\d+)?)
  | (?P<punct>.)
""", re.VERBOSE | re.DOTALL)


def _decode_e(body: str) -> str:
    out, i = [], 0
    simple = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            out.append(simple.get(body[i + 1], body[i + 1]))
            i += 2
        elif c == "'" and body[i:i + 2] == "''":
            out.append("'")
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _tokens(sql: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for m in _TOKEN.finditer(sql):
        kind, text = m.lastgroup, m.group()
        if kind == "space":
            continue
        if kind == "estr":
            out.append(("lit", _decode_e(text[2:-1])))
        elif kind == "str":
            out.append(("lit", text[1:-1].replace("''", "'")))
        elif kind == "ident":
            out.append(("lit", text[1:-1].replace('""', '"')))
        elif kind == "word":
            out.append(("w", text.casefold()))
        else:
            out.append(("p", text))
    while out and out[-1] == ("p", ";"):
        out.pop()
    return out


def _options_start(toks: list[tuple[str, str]]) -> int | None:
    """Index of the depth-0 WITH whose tail is `name [= literal] (, ...)*`."""
    depth, found = 0, None
    for i, tok in enumerate(toks):
        if tok == ("p", "("):
            depth += 1
        elif tok == ("p", ")"):
            depth -= 1
        elif depth == 0 and tok == ("w", "with") and _is_option_list(toks[i + 1:]):
            found = i
    return found


def _is_option_list(toks: list[tuple[str, str]]) -> bool:
    i = 0
    while i < len(toks):
        if toks[i][0] not in ("w", "lit"):
            return False
        i += 1
        if i < len(toks) and toks[i] == ("p", "="):
            if i + 1 >= len(toks) or toks[i + 1][0] not in ("lit", "w"):
                return False
            i += 2
        if i < len(toks):
            if toks[i] != ("p", ","):
                return False
            i += 1
            if i == len(toks):
                return False
    return bool(toks)


def normal_form(sql: str) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[tuple[str, str], ...], ...]]:
    toks = _tokens(sql)
    start = _options_start(toks)
    if start is None:
        return tuple(toks), ()
    options: list[tuple[tuple[str, str], ...]] = []
    current: list[tuple[str, str]] = []
    for tok in toks[start + 1:]:
        if tok == ("p", ","):
            options.append(tuple(current))
            current = []
        else:
            current.append(tok)
    options.append(tuple(current))
    return tuple(toks[:start]), tuple(sorted(options))


def test_normal_form_equates_quoting_case_spacing_and_option_order() -> None:
    a = """import into T csv data ('nodelocal://1/x') with enclosed=E'\\'', escaped=E'\\\\';"""
    b = """IMPORT INTO t CSV DATA ("nodelocal://1/x") WITH escaped = '\\', enclosed = ''''"""
    assert normal_form(a) == normal_form(b)
    assert normal_form("IMPORT INTO t CSV DATA ('x')") != normal_form("IMPORT INTO u CSV DATA ('x')")
    assert normal_form("EXPORT INTO CSV 'x' FROM TABLE t WITH comment") != normal_form("EXPORT INTO CSV 'x' FROM TABLE t")


# -- the QA statements ----------------------------------------------------------------------------


def qa_statements() -> dict[str, list[str]]:
    """IMPORT/EXPORT statements of every QA .sql file, split with kwtui's own splitter."""
    out: dict[str, list[str]] = {}
    for path in sorted(QA.glob("*.sql")):
        stmts = [s for s in split(path.read_text(encoding="utf-8"))]
        out[path.name] = [_strip_comments(s) for s in stmts if re.match(r"\s*(--[^\n]*\n\s*)*(import|export)\b",
                                                                         s, re.IGNORECASE)]
    return out


def _strip_comments(stmt: str) -> str:
    return "\n".join(line for line in stmt.splitlines() if not line.lstrip().startswith("--")).strip()


P = "nodelocal://1"
# (QA file, builder); the builder's statement must equal (in normal form) one statement of that file
QA_CASES: list[tuple[str, Callable[[], NativeStatement]]] = [
    # comment: database and table exports/imports WITH comment
    ("imp_exp_comment.sql", lambda: export_database(f"{P}/dbcomment/db1", "test", options=ExportOptions(comment=True))),
    ("imp_exp_comment.sql", lambda: import_database(f"{P}/dbcomment/db2", ImportOptions(comment=True))),
    ("imp_exp_comment.sql", lambda: export_table(f"{P}/dbcomment/db4", "def.deftb", options=ExportOptions(comment=True))),
    ("imp_exp_comment.sql", lambda: import_table_create_using(f"{P}/dbcomment/db5/meta.sql", [f"{P}/dbcomment/db5"],
                                                              ImportOptions(comment=True))),
    ("imp_exp_comment.sql", lambda: import_table_create_using(f"{P}/dbcomment/db6/meta.sql", f"{P}/dbcomment/db6")),
    # database: plain, data_only, meta_only, delimiter
    ("imp_exp_database.sql", lambda: export_database(f"{P}/dbtest1/db1", "test")),
    ("imp_exp_database.sql", lambda: import_database(f"{P}/dbtest1/db1")),
    ("imp_exp_database.sql", lambda: export_database(f"{P}/dbtest2/db1data", "test", options=ExportOptions(data_only=True))),
    ("imp_exp_database.sql", lambda: export_database(f"{P}/dbtest2/db1meta", "test", options=ExportOptions(meta_only=True))),
    ("imp_exp_database.sql", lambda: export_database(f"{P}/dbtest3/db1", "test", options=ExportOptions(delimiter="."))),
    ("imp_exp_database.sql", lambda: import_database([f"{P}/dbtest3/db1"], ImportOptions(delimiter="."))),
    # dedup: writewal
    ("imp_exp_dedup.sql", lambda: import_into("test.tb1", f"{P}/tbOverride/tb1", options=ImportOptions(writewal=True))),
    # enclosed / escaped, all four combinations both ways
    ("imp_exp_enclose_escape.sql", lambda: export_table(f"{P}/exp_enclose_single_escape_double", "ds_tb",
                                                        options=ExportOptions(enclosed="'", escaped='"'))),
    ("imp_exp_enclose_escape.sql", lambda: export_table(f"{P}/exp_enclose_double_escape_slash", "ds_tb",
                                                        options=ExportOptions(enclosed='"', escaped="\\"))),
    ("imp_exp_enclose_escape.sql", lambda: import_into("in_enclose_single_escape_slash",
                                                       f"{P}/exp_enclose_single_escape_slash/",
                                                       options=ImportOptions(enclosed="'", escaped="\\"))),
    ("imp_exp_enclose_escape.sql", lambda: import_into("in_enclose_double_escape_double",
                                                       f"{P}/exp_enclose_double_escape_double/",
                                                       options=ImportOptions(enclosed='"', escaped='"'))),
    # SQL format: table, and a query (the server then refuses it: several tables)
    ("imp_exp_export_sql.sql", lambda: export_table(f"{P}/test_tbtest1/tb2/", "test.tb2", fmt="sql")),
    ("imp_exp_export_sql.sql", lambda: export_select(
        f"{P}/test_tbtest2/1", "select k_timestamp,e1 from test.tb2 union select k_timestamp,e1 from test.tb2 "
        "order by k_timestamp,e1", fmt="SQL")),
    # charsets GBK / GB18030 / BIG5, lower-case input normalised
    ("imp_exp_gbk.sql", lambda: export_table(f"{P}/geometry/GBK/", "gbk_impexp.t1", options=ExportOptions(charset="gbk"))),
    ("imp_exp_gbk.sql", lambda: import_table_create_using(f"{P}/geometry/GBK/meta.sql", f"{P}/geometry/GBK/",
                                                          ImportOptions(charset="GBK"))),
    ("imp_exp_gbk.sql", lambda: import_database(f"{P}/db/GB18030/", ImportOptions(charset="gb18030"))),
    ("imp_exp_gbk.sql", lambda: export_database(f"{P}/db/BIG5/", "gbk_impexp_big5", options=ExportOptions(charset="Big5"))),
    ("imp_exp_gbk.sql", lambda: export_table(f"{P}/geometry/table/", "test_geometry.tb",
                                             options=ExportOptions(escaped='"', enclosed='"', delimiter=";"))),
    ("imp_exp_gbk.sql", lambda: import_table_create_using(f"{P}/geometry/table/meta.sql", f"{P}/geometry/table/",
                                                          ImportOptions(escaped='"', enclosed='"', delimiter=";"))),
    # thread_concurrency / limit_memory
    ("imp_exp_limit.sql", lambda: export_table(f"{P}/limit/tbtest_1/tb1/", "test.tb1",
                                               options=ExportOptions(thread_concurrency=8, limit_memory="2MB"))),
    ("imp_exp_limit.sql", lambda: import_table_create_using(f"{P}/limit/tbtest_1/tb1/meta.sql",
                                                            f"{P}/limit/tbtest_1/tb1",
                                                            ImportOptions(thread_concurrency="8", limit_memory="2MB"))),
    # names that need quoting: an upper-case database, a keyword column
    ("imp_exp_name.sql", lambda: export_database(f"{P}/db/tb1", "TSDB")),
    ("imp_exp_name.sql", lambda: export_database(f"{P}/db/tb2", ("tsDB",))),
    ("imp_exp_name.sql", lambda: import_into(("db", "t1"), f"{P}/time/", columns=["time", "e8", "e9", "i"])),
    # nullas / nullif
    ("imp_exp_nullas_nullif.sql", lambda: export_table("nodelocal://01/nullasSlashN", "test_impexp.ds_tb",
                                                       options=ExportOptions(nullas="\\N"))),
    ("imp_exp_nullas_nullif.sql", lambda: export_table("nodelocal://01/nullasNULL", "test_impexp.ds_tb",
                                                       options=ExportOptions(nullas="NULL"))),
    ("imp_exp_nullas_nullif.sql", lambda: import_into("test_impexp.ds_tb1", "nodelocal://01/nullasNULL/",
                                                      options=ImportOptions(nullif="NULL"))),
    ("imp_exp_nullas_nullif.sql", lambda: import_into("test_impexp.ds_tb4", "nodelocal://01/nullasSlashN/",
                                                      options=ImportOptions(nullif="\\N"))),
    # privileges
    ("imp_exp_privileges.sql", lambda: export_database(f"{P}/test1", "test", options=ExportOptions(privileges=True))),
    ("imp_exp_privileges.sql", lambda: import_database(f"{P}/test1", ImportOptions(privileges=True))),
    ("imp_exp_privileges.sql", lambda: export_table(f"{P}/test", "test.t1", options=ExportOptions(privileges=True))),
    ("imp_exp_privileges.sql", lambda: import_table_create_using(f"{P}/test/meta.sql", f"{P}/test",
                                                                 ImportOptions(privileges=True))),
    # reject
    ("imp_exp_reject.sql", lambda: import_into("test.tb2", f"{P}/tbRejTest1/tb1")),
    # FROM SELECT: joins, sub-queries, set operations
    ("imp_exp_select.sql", lambda: export_select(f"{P}/tb15", "SELECT ts,a,tag1 FROM t1 WHERE tag1 = "
                                                              "(SELECT MAX(b) FROM t2 WHERE t2.b = t1.b)")),
    ("imp_exp_select.sql", lambda: export_select(f"{P}/tb9", "select t1.ts, t1.a, t1.tag1, t1.tag2, t2.a\n"
                                                             "  from t1 left join t2 on t1.a = t2.a;")),
    ("imp_exp_select.sql", lambda: import_into("tb2", f"{P}/tb12")),
    # data_only / meta_only table exports, then CREATE USING from the two
    ("imp_exp_table.sql", lambda: export_table(f"{P}/tbtest2/tb1data", "test.tb1", options=ExportOptions(data_only=True))),
    ("imp_exp_table.sql", lambda: export_table(f"{P}/tbtest2/tb1meta", "test.tb1", options=ExportOptions(meta_only=True))),
    ("imp_exp_table.sql", lambda: import_table_create_using(f"{P}/tbtest2/tb1meta/meta.sql", [f"{P}/tbtest2/tb1data"])),
    ("imp_exp_table.sql", lambda: export_select(
        f"{P}/tbtest5/csv4", "SELECT k_timestamp, usage_user, hostname, os FROM cpu WHERE hostname LIKE '%5' AND "
        "os LIKE 'Ubuntu%' AND usage_system LIKE '_'")),
    # target columns
    ("imp_exp_target_columns.sql", lambda: import_into(
        "test_impexp.tb1", f"{P}/export_column/test_4",
        columns=["k_timestamp", "code1", "code2", "code3", "flag", "val1", "val2", "location", "color", "name",
                 "state", "tall", "screen", "age", "sex", "year", "type"])),
    ("imp_exp_target_columns.sql", lambda: import_into("test_impexp.tb1", f"{P}/export_column/test_2/",
                                                       columns=("k_timestamp", "e1", "code1"))),
    ("imp_exp_target_columns.sql", lambda: export_select(f"{P}/export_column/test_1/", "SELECT * from test_impexp.ds_tb")),
    # users, and CREATE USING without data
    ("imp_exp_user.sql", lambda: export_users(f"{P}/user")),
    ("imp_exp_user.sql", lambda: import_users(f"{P}/user/users.sql")),
    ("imp_exp_user.sql", lambda: import_table_create_using(f"{P}/test_sql/meta.sql", None)),
    ("imp_exp_tsbefore1970.sql", lambda: export_table(f"{P}/test_impexp/tsbefore1970/", "test_impexp.tb1")),
]


@needs_qa
def test_builders_reproduce_qa_statements() -> None:
    statements = qa_statements()
    assert sum(len(v) for v in statements.values()) > 150
    missing = []
    for filename, build in QA_CASES:
        stmt = build()
        wanted = normal_form(stmt.sql)
        if wanted not in {normal_form(s) for s in statements[filename]}:
            missing.append(f"{filename}: {stmt.sql}")
    assert not missing, "\n".join(missing)
    assert len(QA_CASES) >= 25
    files = {f for f, _ in QA_CASES}
    assert len(files) >= 14


# The QA cases never use chunk_rows, column_name, batch_rows, auto_shrink or cluster settings:
# these come from the migration guide's examples.
GUIDE_CASES: list[tuple[str, Callable[[], NativeStatement]]] = [
    ("""IMPORT INTO my_table CSV DATA ("nodelocal://1/folder") WITH delimiter = ',', enclosed = '"', escaped = '"',
        nullif = 'NULL', thread_concurrency = '20', batch_rows = '200';""",
     lambda: import_into("my_table", "nodelocal://1/folder", options=ImportOptions(
         delimiter=",", enclosed='"', escaped='"', nullif="NULL", thread_concurrency=20, batch_rows=200))),
    ("""IMPORT DATABASE CSV DATA ("nodelocal://1/db_backup")
        WITH privileges, comment, thread_concurrency = '20', batch_rows = '500', auto_shrink;""",
     lambda: import_database("nodelocal://1/db_backup", ImportOptions(
         privileges=True, comment=True, thread_concurrency=20, batch_rows=500, auto_shrink=True))),
    ("""IMPORT CLUSTER SETTING SQL DATA ("nodelocal://1/clustersetting.sql");""",
     lambda: import_cluster_setting("nodelocal://1/clustersetting.sql")),
    ("""EXPORT INTO CSV "nodelocal://1/table_backup" FROM TABLE my_table
        WITH column_name, delimiter = ',', chunk_rows = '10000', privileges, comment;""",
     lambda: export_table("nodelocal://1/table_backup", "my_table", options=ExportOptions(
         column_name=True, delimiter=",", chunk_rows=10000, privileges=True, comment=True))),
    ("""EXPORT INTO CSV "nodelocal://1/db_backup" FROM DATABASE my_database
        WITH privileges, comment, delimiter = ',', chunk_rows = '10000';""",
     lambda: export_database("nodelocal://1/db_backup", "my_database", options=ExportOptions(
         privileges=True, comment=True, delimiter=",", chunk_rows="10000"))),
    ("""EXPORT INTO CSV "nodelocal://1/filtered_data" FROM SELECT * FROM my_table WHERE condition;""",
     lambda: export_select("nodelocal://1/filtered_data", "SELECT * FROM my_table WHERE condition")),
    ("""EXPORT USERS TO SQL "nodelocal://1/users";""", lambda: export_users("nodelocal://1/users")),
    ("""EXPORT CLUSTER SETTING TO SQL "nodelocal://1/settings";""",
     lambda: export_cluster_setting("nodelocal://1/settings")),
]


@pytest.mark.parametrize(("expected", "build"), GUIDE_CASES, ids=[str(i) for i in range(len(GUIDE_CASES))])
def test_builders_reproduce_guide_statements(expected: str, build: Callable[[], NativeStatement]) -> None:
    assert normal_form(build().sql) == normal_form(expected)


def test_exact_sql_text() -> None:
    stmt = import_into("test_impexp.tb1", ["nodelocal://1/a", "nodelocal://1/b"], columns=["k_timestamp", "time", "E1"],
                       options=ImportOptions(delimiter=";", enclosed="'", escaped="\\", nullif="\\N",
                                             thread_concurrency=20, auto_shrink=True, charset="utf8"))
    assert stmt.sql == (
        'IMPORT INTO test_impexp.tb1 (k_timestamp, "time", "E1") CSV DATA ("nodelocal://1/a", "nodelocal://1/b") '
        "WITH delimiter = ';', enclosed = '''', escaped = '\\', nullif = '\\N', thread_concurrency = '20', "
        "auto_shrink, charset = 'UTF-8'")
    assert stmt.kind == "import_into" and stmt.target == "table test_impexp.tb1" and stmt.autocommit
    assert "\n" not in stmt.sql
    assert export_select("nodelocal://1/q", "select 1").sql == 'EXPORT INTO CSV "nodelocal://1/q" FROM select 1'
    assert export_users("nodelocal://1/u").kind == "export_users"
    assert import_users("nodelocal://1/u/users.sql").sql == 'IMPORT USERS SQL DATA ("nodelocal://1/u/users.sql")'


def test_preview_is_the_same_statement_over_several_lines() -> None:
    cases = [
        import_into("t", ["nodelocal://1/a", "nodelocal://1/b"], options=ImportOptions(delimiter=",", comment=False,
                                                                                       auto_shrink=True)),
        export_database("nodelocal://1/db", "d", options=ExportOptions(chunk_rows=0, column_name=True, charset="gbk")),
        export_select("nodelocal://1/s", "SELECT a, 'x  y' FROM t", options=ExportOptions(nullas="NULL")),
        import_table_create_using("nodelocal://1/m/meta.sql", None),
    ]
    for stmt in cases:
        preview = stmt.preview()
        assert " ".join(preview.split()).replace("( ", "(").replace(" )", ")") == " ".join(stmt.sql.split())
    assert cases[0].preview().splitlines() == [
        "IMPORT INTO t", "  CSV DATA (", '    "nodelocal://1/a",', '    "nodelocal://1/b"', "  )",
        "  WITH delimiter = ',',", "       auto_shrink"]
    assert cases[3].preview() == cases[3].sql


# -- quoting ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "quoted"), [
    ("tb1", "tb1"), ("_x9", "_x9"), ("TSDB", '"TSDB"'), ("tsDB", '"tsDB"'), ("time", '"time"'),
    ("select", '"select"'), ("tags", '"tags"'), ("data", "data"), ("my table", '"my table"'),
    ('we"ird', '"we""ird"'), ("9lives", '"9lives"'), ("表", '"表"'), ("a$b", '"a$b"'),
])
def test_quote_ident(name: str, quoted: str) -> None:
    assert quote_ident(name) == quoted


@pytest.mark.parametrize(("name", "quoted"), [
    ("db.public.t", "db.public.t"), ('"MyDb".t', '"MyDb".t'), ("MyDb.t", '"MyDb".t'),
    (("My.Db", "public", "t"), '"My.Db".public.t'), ('"a""b".c', '"a""b".c'), (' db . t ', "db.t"),
    ('"x.y"', '"x.y"'),
])
def test_quote_name(name: Any, quoted: str) -> None:
    assert quote_name(name) == quoted


@pytest.mark.parametrize("bad", ["", "a..b", "a.b.c.d", '"open', 'a"b.c', ".t", ("",), ()])
def test_quote_name_refuses(bad: Any) -> None:
    with pytest.raises(NativeOptionError):
        quote_name(bad)


def test_quote_path_and_values() -> None:
    assert quote_path("nodelocal://1/dir") == '"nodelocal://1/dir"'
    assert quote_path('nodelocal://1/a"b') == '"nodelocal://1/a""b"'
    stmt = export_table("nodelocal://1/x", "t", options=ExportOptions(enclosed="'"))
    assert stmt.sql.endswith("WITH enclosed = ''''")
    assert export_database("nodelocal://1/x", "d", options=ExportOptions(nullas="")).sql.endswith("nullas = ''")


def test_compact_query() -> None:
    assert compact_query("select a,  b -- note\n from t /* x /* nested */ y */ where s = 'a  ''b'' -- no';\n ") == \
        "select a, b from t where s = 'a  ''b'' -- no'"
    assert compact_query("SELECT E'it\\'s  ;', \"Col  A\" FROM t") == "SELECT E'it\\'s  ;', \"Col  A\" FROM t"
    assert compact_query("(select 1)") == "(select 1)"
    assert compact_query("WITH x AS (SELECT 1) SELECT * FROM x") == "WITH x AS (SELECT 1) SELECT * FROM x"
    assert compact_query("TABLE t") == "TABLE t"


def test_charset_normalisation() -> None:
    assert [normalise_charset(c) for c in ("utf8", "UTF-8", "utf_8", "gbk", "Gb18030", "big5", "BIG-5")] == \
        ["UTF-8", "UTF-8", "UTF-8", "GBK", "GB18030", "BIG5", "BIG5"]
    assert CHARSETS == ("UTF-8", "GBK", "GB18030", "BIG5")


# -- validation ------------------------------------------------------------------------------------

T, D = "t", "nodelocal://1/d"
RULES: list[tuple[str, Callable[[], object], str]] = [
    ("delimiter one char", lambda: import_into(T, D, options=ImportOptions(delimiter=",,")), "exactly one character"),
    ("delimiter empty", lambda: export_table(D, T, options=ExportOptions(delimiter="")), "exactly one character"),
    ("delimiter not quote", lambda: import_into(T, D, options=ImportOptions(delimiter='"')), "other than a double quote"),
    ("delimiter ascii", lambda: import_into(T, D, options=ImportOptions(delimiter="，")), "ASCII"),
    ("enclosed", lambda: import_into(T, D, options=ImportOptions(enclosed="`")), "enclosed must be"),
    ("escaped", lambda: export_table(D, T, options=ExportOptions(escaped="'")), "escaped must be"),
    ("delimiter vs enclosed", lambda: import_into(T, D, options=ImportOptions(delimiter="'", enclosed="'")),
     "must differ"),
    ("delimiter vs escaped", lambda: export_table(D, T, options=ExportOptions(delimiter="\\", escaped="\\")),
     "must differ"),
    ("nullif marker", lambda: import_into(T, D, options=ImportOptions(nullif="nil")), "nullif must be one of"),
    ("nullas marker", lambda: export_table(D, T, options=ExportOptions(nullas="N/A")), "nullas must be one of"),
    ("chunk_rows range", lambda: export_table(D, T, options=ExportOptions(chunk_rows=100001)), "between 0 and 100000"),
    ("chunk_rows negative", lambda: export_table(D, T, options=ExportOptions(chunk_rows=-1)), "between 0 and 100000"),
    ("chunk_rows integer", lambda: export_table(D, T, options=ExportOptions(chunk_rows="10k")), "must be an integer"),
    ("thread_concurrency positive", lambda: import_into(T, D, options=ImportOptions(thread_concurrency=0)),
     "positive integer"),
    ("thread_concurrency integer", lambda: import_into(T, D, options=ImportOptions(thread_concurrency=2.5)),  # type: ignore[arg-type]
     "must be an integer"),
    ("thread_concurrency bool", lambda: export_table(D, T, options=ExportOptions(thread_concurrency=True)),
     "must be an integer"),
    ("thread_concurrency export max", lambda: export_table(D, T, options=ExportOptions(thread_concurrency=2000)),
     "at most 1024"),
    ("batch_rows positive", lambda: import_into(T, D, options=ImportOptions(batch_rows=-5)), "positive integer"),
    ("limit_memory", lambda: import_into(T, D, options=ImportOptions(limit_memory="lots")), "limit_memory"),
    ("meta xor data", lambda: export_table(D, T, options=ExportOptions(meta_only=True, data_only=True)),
     "exclude each other"),
    ("meta_only with select", lambda: export_select(D, "select 1", options=ExportOptions(meta_only=True)),
     "FROM SELECT"),
    ("data_only with select", lambda: export_select(D, "select 1", options=ExportOptions(data_only=True)),
     "FROM SELECT"),
    ("comment with select", lambda: export_select(D, "select 1", options=ExportOptions(comment=True)), "FROM SELECT"),
    ("SQL format delimiter", lambda: export_table(D, T, fmt="SQL", options=ExportOptions(delimiter=";")),
     "EXPORT INTO SQL cannot take delimiter"),
    ("SQL format csv options", lambda: export_database(D, "d", fmt="sql", options=ExportOptions(
        enclosed='"', escaped='"', nullas="NULL", column_name=True, chunk_rows=5)),
     "cannot take enclosed, escaped, nullas, column_name, chunk_rows"),
    ("SQL format query", lambda: export_select(D, "select 1", fmt="SQL", options=ExportOptions(column_name=True)),
     "column_name"),
    ("format", lambda: export_table(D, T, fmt="PARQUET"), "CSV or SQL"),
    ("privileges on IMPORT INTO", lambda: import_into(T, D, options=ImportOptions(privileges=True)),
     "only works with IMPORT TABLE CREATE USING and IMPORT DATABASE"),
    ("comment on IMPORT INTO", lambda: import_into(T, D, options=ImportOptions(comment=True)),
     "only works with IMPORT TABLE CREATE USING and IMPORT DATABASE"),
    ("charset", lambda: import_database(D, ImportOptions(charset="latin1")), "charset 'latin1' is not supported"),
    ("charset export", lambda: export_table(D, T, options=ExportOptions(charset="utf16")), "is not supported"),
    ("no path", lambda: import_into(T, []), "at least one data path"),
    ("empty path", lambda: import_into(T, ""), "path is empty"),
    ("blank path", lambda: export_table("  ", T), "path is empty"),
    ("newline in path", lambda: export_users("nodelocal://1/a\nb"), "line break"),
    ("empty data list", lambda: import_table_create_using("nodelocal://1/m/meta.sql", []), "at least one data path"),
    ("empty meta path", lambda: import_table_create_using("", D), "path is empty"),
    ("database one path", lambda: import_database([D, D + "2"]), "exactly one directory"),
    ("database no path", lambda: import_database([]), "at least one database directory path"),
    ("users path", lambda: import_users(""), "path is empty"),
    ("cluster setting path", lambda: import_cluster_setting(""), "path is empty"),
    ("empty table", lambda: import_into("", D), "name is empty"),
    ("four-part table", lambda: export_table(D, "a.b.c.d"), "at most db.schema.table"),
    ("dotted database", lambda: export_database(D, "a.b"), "at most one name"),
    ("empty columns", lambda: import_into(T, D, columns=[]), "column list is empty"),
    ("duplicate column", lambda: import_into(T, D, columns=["e3", "e3"]), "listed twice"),
    ("empty column", lambda: import_into(T, D, columns=["a", ""]), "name is empty"),
    ("two queries", lambda: export_select(D, "select 1; select 2"), "exactly one query"),
    ("empty query", lambda: export_select(D, " -- nothing\n"), "query to export is empty"),
    ("not a query", lambda: export_select(D, "delete from t"), "takes a query"),
    ("unterminated quote", lambda: export_select(D, "select 'x"), "unterminated"),
    ("job id", lambda: pause_job("12a"), "job id is an integer"),
    ("job id dash", lambda: resume_job("-"), "TS imports have no job"),
    ("job id zero", lambda: cancel_job(0), "positive integer"),
    ("job id bool", lambda: cancel_job(True), "job id is an integer"),
]


@pytest.mark.parametrize(("rule", "build", "message"), RULES, ids=[r[0] for r in RULES])
def test_validation_rule(rule: str, build: Callable[[], object], message: str) -> None:
    with pytest.raises(NativeOptionError) as info:
        build()
    assert message in str(info.value)
    assert isinstance(info.value, UsageError) and info.value.exit_code == 2


def test_valid_edge_values_pass() -> None:
    export_table(D, T, options=ExportOptions(chunk_rows=0))
    export_table(D, T, options=ExportOptions(chunk_rows="100000", thread_concurrency=1024))
    import_into(T, D, options=ImportOptions(delimiter="\t", nullif="", limit_memory=1048576, batch_rows="1"))
    import_into(T, D, options=ImportOptions(delimiter="'", enclosed='"', escaped="\\"))
    export_table(D, T, fmt="SQL", options=ExportOptions(meta_only=True, comment=True, privileges=True, charset="gbk"))
    export_select(D, "select 1", options=ExportOptions(chunk_rows=10, column_name=True, thread_concurrency=4))
    import_table_create_using("nodelocal://1/m/meta.sql", None, ImportOptions(comment=True, privileges=True))
    assert ImportOptions().rendered() == () and ExportOptions().rendered() == ()


def test_job_statements() -> None:
    assert pause_job(42).sql == "PAUSE JOB 42"
    assert resume_job(" 1035069457428234241 ").sql == "RESUME JOB 1035069457428234241"
    stmt = cancel_job("7")
    assert (stmt.sql, stmt.kind, stmt.target, stmt.verb) == ("CANCEL JOB 7", "cancel_job", "job 7", "CANCEL JOB")
    assert show_jobs().sql == "SHOW JOBS"


# -- results (inline fixtures derived from the recorded output) -------------------------------------

IMPORT_COLS = ["job_id", "status", "fraction_completed", "rows", "abandon_rows", "reject_rows", "note"]


def test_parse_ts_import_result() -> None:
    res = parse_result(IMPORT_COLS, [("-", "succeeded", 1.0, 9, "0", "0", "None")])
    assert (res.shape, res.ok, res.job_id, res.time_series, res.rows, res.reject_rows) == \
        ("import", True, None, True, 9, 0)
    assert res.note is None and not res.has_reject_file and res.fraction_completed == 1.0
    assert res.summary() == "imported 9 rows"


def test_parse_import_with_reject_file() -> None:
    res = parse_result(IMPORT_COLS, [("-", "succeeded", "1", "9", "0", "8",
                                      "There is a REJECT FILE, please read and resolve it")])
    assert res.has_reject_file and res.reject_rows == 8 and res.rows == 9 and res.ok
    assert "8 rejected" in res.summary()


def test_parse_relational_import_has_a_job_id() -> None:
    res = parse_result(IMPORT_COLS, [("1035069457428234241", "succeeded", 1.0, 100, "0", "0", "None")])
    assert res.job_id == "1035069457428234241" and res.time_series is False
    assert "job 1035069457428234241" in res.summary()
    assert not parse_result(IMPORT_COLS, [("-", "failed", 0.5, 0, "0", "0", "None")]).ok


def test_parse_export_results() -> None:
    ok = parse_result(["result"], [("succeed",)])
    assert (ok.shape, ok.ok, ok.status) == ("export", True, "succeed")
    assert not parse_result(["result"], [("fail",)]).ok
    files = parse_result(["filename", "rows", "node_id", "file_num"],
                         [("SELECT ts, a FROM t1 UNION SELECT ts, a FROM t2", 18, 1, 1), ("x", "2", "2", "1")])
    assert files.shape == "export_files" and files.rows == 20 and files.files[1].node_id == 2
    assert files.files[0].name.startswith("SELECT") and files.summary() == "exported 20 rows into 2 file(s)"
    users = parse_result(["queryname", "rows", "node_id", "file_num"], [("USERS", 8, 1, 1)])
    assert users.shape == "export_files" and users.files[0].name == "USERS"


def test_parse_other_results() -> None:
    users = parse_result(["job_id", "status", "rows"], [("-", "succeeded", 15)])
    assert (users.shape, users.ok, users.rows) == ("import_users", True, 15)
    setting = parse_result(["prompt_information"], [("The cluster settings have been set",)])
    assert setting.shape == "import_cluster_setting" and setting.message == "The cluster settings have been set"
    assert parse_result([], []).shape == "empty"
    assert parse_result(["x"], [(1,)]).shape == "other"


def test_parse_show_jobs() -> None:
    cols = ["job_id", "job_type", "description", "statement", "user_name", "status", "running_status", "created",
            "started", "finished", "modified", "errord", "fraction_completed", "error", "coordinator_id"]
    rows = [(1035069457428234241, "IMPORT", "IMPORT INTO t CSV DATA ('nodelocal://1/x')", "", "root", "running",
             None, "2024-01-01 00:00:00", "2024-01-01 00:00:01", None, "2024-01-01 00:00:02", "", 0.25, "", 1),
            ("42", "EXPORT", "EXPORT ...", "", "root", "succeeded", "NULL", None, None, None, None, "", "1", "", 1)]
    jobs = parse_show_jobs(cols, rows)
    assert jobs[0].job_id == "1035069457428234241" and jobs[0].running and jobs[0].is_import
    assert jobs[0].fraction_completed == 0.25 and not jobs[0].done and jobs[0].extra == {"errord": ""}
    assert jobs[1].done and jobs[1].running_status is None and jobs[1].fraction_completed == 1.0
    with pytest.raises(ValueError):
        parse_show_jobs(["x"], [])


# -- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "kind", "fields"), [
    ("ERROR: export path nodelocal://1/tbtest1/tb1/ is not empty (contains 2 files), please use an empty directory "
     "to prevent data loss", "export_path_not_empty", {"path": "nodelocal://1/tbtest1/tb1/", "file_count": 2}),
    ('ERROR: specifying the same option "nullif" is not supported', "duplicate_option", {"option": "nullif"}),
    ("ERROR: target column a is not in table tb1", "target_column_not_in_table", {"column": "a", "table": "tb1"}),
    ("ERROR: multiple assignments to the same column e3", "duplicate_target_column", {"column": "e3"}),
    ("ERROR: 'WITH PRIVILEGES' can only be used for the 'IMPORT CREATE USING' and 'IMPORT DATABASE', the current "
     "syntax is 'IMPORT INTO'", "privileges_misuse", {}),
    ("'WITH COMMENT' can only be used for the 'IMPORT CREATE USING' and 'IMPORT DATABASE'", "comment_misuse", {}),
    ("ERROR: Exporting SQL only supports single table queries", "sql_single_table_only", {}),
    ("ERROR: Exporting SQL cannot supports BytesFamily", "sql_bytes_unsupported", {}),
    ("ERROR: Import regular data only supports CSV format", "import_csv_only", {}),
    ("Export support SQL cannot be used in conjunction with specified delimiter", "sql_format_option",
     {"option": "delimiter"}),
    ("Export support SQL cannot be used in conjunction with chunk sizes", "sql_format_option", {"option": "chunk_rows"}),
    ("TABLE or COLUMN without COMMENTS cannot be used 'WITH COMMENT'", "no_comments_to_export", {}),
    ("cannot use option in query export", "option_not_for_query", {}),
    ("cannot use only_data and only_schema at the same time", "meta_data_exclusive", {}),
    ("The chunk size must be less than 100000", "invalid_chunk_rows", {}),
    ("invalid charset value: charset value must be 'UTF-8''GBK''GB18030''BIG5'", "invalid_charset", {}),
    ("delimiter can't be same with enclosed: '", "csv_char_conflict", {}),
    ("enclosed can't be `", "invalid_enclosed", {}),
    ("options nullas/nullif cannot be nil", "invalid_null_marker", {}),
    ("IMPORT cannot be used inside a transaction", "in_transaction", {}),
    ("nodelocal://1/x/public/t1/ is not a dir or has no csv files", "no_data_files", {"path": "nodelocal://1/x/public/t1/"}),
    ('ERROR: column "a" does not exist\nSQLSTATE: 42703', "undefined_column", {"column": "a"}),
    ('relation "tb9" does not exist', "undefined_table", {"table": "tb9"}),
    ('could not resolve "\\escape基础测试" as VARBYTES(200) type (column e21)', "bad_value",
     {"column": "e21", "value": "\\escape基础测试"}),
    ('invalid option "skip_header"', "unknown_option", {"option": "skip_header"}),
    ('syntax error at or near "IMPORT"', "syntax_error", {}),
    ("something nobody has seen", "other", {}),
])
def test_parse_error(text: str, kind: str, fields: dict[str, Any]) -> None:
    info = parse_error(text)
    assert info.kind == kind and info.kind in ERROR_KINDS
    assert info.advice and not info.message.startswith("ERROR")
    for key, value in fields.items():
        assert getattr(info, key) == value
    if kind == "export_path_not_empty":
        assert "2 file(s)" in info.advice and "empty directory" in info.advice


# -- every recorded answer --------------------------------------------------------------------------


@dataclass
class Answer:
    statement: str
    kind: str  # table | error | tag
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    text: str = ""
    footer: int | None = None  # the "(N rows)" count (multi-line cells of other tables may differ)


_SEPARATOR = re.compile(r"^-+(\+-+)*$")
_FOOTER = re.compile(r"^\((\d+) rows?\)$")


def parse_master(text: str) -> list[Answer]:
    """``> statement`` then the answer: a psql table, ``ERROR: ...`` lines, or a command tag."""
    lines = text.splitlines()
    out: list[Answer] = []
    i = 0
    while i < len(lines):
        if not lines[i].startswith("> "):
            i += 1
            continue
        stmt = [lines[i][2:]]
        i += 1
        while not stmt[-1].rstrip().endswith(";") and i < len(lines) and not lines[i].startswith("> "):
            stmt.append(lines[i])
            i += 1
        body: list[str] = []
        while i < len(lines) and not lines[i].startswith("> "):
            body.append(lines[i])
            i += 1
        while body and not body[-1].strip():
            body.pop()
        out.append(_answer("\n".join(stmt), body))
    return out


def _answer(statement: str, body: list[str]) -> Answer:
    if body and body[0].startswith("ERROR"):
        return Answer(statement, "error", text="\n".join(body))
    if len(body) >= 2 and _SEPARATOR.match(body[1].strip()):
        columns = [c.strip() for c in body[0].split("|")]
        rows: list[list[str]] = []
        footer = None
        for line in body[2:]:
            m = _FOOTER.match(line.strip())
            if m:
                footer = int(m.group(1))
                break
            cells = [c.strip() for c in line.split("|")]
            if len(cells) > len(columns):  # a '|' inside the first cell (a query text)
                extra = len(cells) - len(columns)
                cells = ["|".join(cells[:extra + 1])] + cells[extra + 1:]
            rows.append(cells)
        return Answer(statement, "table", columns=columns, rows=rows, footer=footer)
    return Answer(statement, "tag", text="\n".join(body))


def _is_native(stmt: str) -> bool:
    return re.match(r"\s*(import|export)\b", stmt, re.IGNORECASE) is not None


def recorded_answers() -> list[tuple[str, Answer]]:
    out = []
    for path in sorted((QA / "master").glob("*.master")):
        for ans in parse_master(path.read_text(encoding="utf-8")):
            if _is_native(ans.statement):
                out.append((path.name, ans))
    return out


def _check_result(res: NativeResult, ans: Answer) -> None:
    cols = ans.columns
    assert res.columns == tuple(cols) and len(res.raw_rows) == len(ans.rows) == ans.footer == 1
    row = dict(zip(cols, ans.rows[0], strict=True))
    if res.shape == "import":
        assert cols == IMPORT_COLS and res.ok and res.status == "succeeded"
        assert res.fraction_completed == 1.0
        assert res.rows == int(row["rows"]) and res.reject_rows == int(row["reject_rows"])
        assert res.abandon_rows == int(row["abandon_rows"])
        assert (res.job_id is None) == (row["job_id"] == "-") and res.time_series == (row["job_id"] == "-")
        assert res.has_reject_file == (res.reject_rows > 0) == (res.note is not None)
        assert (res.note is None) == (row["note"] == "None")
        assert ans.statement.lower().lstrip().startswith("import")
    elif res.shape == "export":
        assert res.ok and res.status == "succeed" and res.job_id is None and res.rows is None
        assert ans.statement.lower().lstrip().startswith("export")
    elif res.shape == "export_files":
        assert res.ok and len(res.files) == 1 and res.rows == int(row["rows"])
        assert res.files[0].name == row[cols[0]] and res.files[0].file_num == int(row["file_num"])
    elif res.shape == "import_users":
        assert res.ok and res.rows == int(row["rows"]) and res.job_id is None
    else:
        raise AssertionError(f"unexpected result shape {res.shape} for {ans.statement!r}")


@needs_qa
def test_every_recorded_import_export_answer_parses() -> None:
    answers = recorded_answers()
    shapes: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    tags = []
    for filename, ans in answers:
        if ans.kind == "table":
            res = parse_result(ans.columns, ans.rows)
            _check_result(res, ans)
            shapes[res.shape] += 1
        elif ans.kind == "error":
            info = parse_error(ans.text)
            assert info.kind in ERROR_KINDS and info.advice, (filename, ans.text)
            assert "SQLSTATE" not in info.message
            kinds[info.kind] += 1
        else:
            tags.append((filename, ans.statement, ans.text))
    assert not tags, tags  # every IMPORT/EXPORT answered with a table or an error
    # the recorded corpus: 39 .master files, 189 IMPORT/EXPORT answers (172 distinct statements)
    assert sum(shapes.values()) == 177 and sum(kinds.values()) == 12, (shapes, kinds)
    assert shapes == {"import": 77, "export": 91, "export_files": 8, "import_users": 1}, shapes
    assert kinds["other"] == 0, kinds
    assert kinds == {"import_csv_only": 2, "export_path_not_empty": 2, "duplicate_option": 2,
                     "sql_bytes_unsupported": 1, "sql_single_table_only": 1, "undefined_column": 1,
                     "target_column_not_in_table": 1, "duplicate_target_column": 1, "privileges_misuse": 1}, kinds


@needs_qa
def test_every_recorded_error_line_classifies() -> None:
    """All ERROR lines of the .master files, after IMPORT/EXPORT or not: count the unknown ones."""
    kinds: Counter[str] = Counter()
    for path in sorted((QA / "master").glob("*.master")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("ERROR"):
                kinds[parse_error(line).kind] += 1
    assert sum(kinds.values()) == 15 and kinds["other"] == 0 and kinds["bad_value"] == 3, kinds


def test_master_parser_on_inline_sample() -> None:
    sample = "\n".join([
        "> create table t(a int,", "   b int);", "CREATE TABLE",
        "> import into t csv data ('nodelocal://1/x');",
        "  job_id |  status   | fraction_completed | rows | abandon_rows | reject_rows | note",
        "---------+-----------+--------------------+------+--------------+-------------+-------",
        "  -      | succeeded |                  1 |    2 | 0            | 0           | None",
        "(1 row)",
        "> export into csv \"nodelocal://1/x\" from table t;",
        "ERROR: export path nodelocal://1/x is not empty (contains 3 files), please use an empty directory to "
        "prevent data loss",
        "SQLSTATE: XXUUU",
    ])
    answers = parse_master(sample)
    assert [a.kind for a in answers] == ["tag", "table", "error"]
    assert parse_result(answers[1].columns, answers[1].rows).rows == 2
    assert parse_error(answers[2].text).file_count == 3


# -- running against the embedded PostgreSQL --------------------------------------------------------


async def test_run_native_maps_server_errors_and_stays_in_autocommit(db: TestDb) -> None:
    svc = ConnectionService(ConnectTarget.from_dsn(db.uri))
    await svc.connect()
    try:
        stmt = import_into("t", "nodelocal://1/x", options=ImportOptions(delimiter=","))
        with pytest.raises(NativeError) as info:
            await run_native(svc, stmt)
        err = info.value
        assert err.kind == "syntax_error" and err.info.kind == "syntax_error"
        assert err.server_message.startswith("syntax error at or near")  # "IMPORT", or "INTO" (IMPORT FOREIGN SCHEMA)
        assert err.sqlstate == "42601" and err.statement is stmt
        assert err.message.startswith("IMPORT failed: syntax error")
        assert err.hint and "KWDB" in err.hint
        # autocommit: no transaction was left open or aborted, the session still works
        async with svc.autocommit() as conn:
            assert conn.autocommit
            assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert (await svc.query("SELECT 1")).rows == [(1,)]
        # even on a connection switched out of autocommit, the statement runs in autocommit: a failure
        # inside a transaction would leave it INERROR, here it stays IDLE and autocommit comes back off
        conn = svc._require()
        await conn.set_autocommit(False)
        with pytest.raises(NativeError):
            await run_native(svc, import_database("nodelocal://1/db"))
        assert not conn.autocommit
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        await conn.set_autocommit(True)
        with pytest.raises(NativeError) as info2:
            await run_native(svc, export_select("nodelocal://1/q", "select 1"))
        assert info2.value.message.startswith("EXPORT failed")
    finally:
        await svc.close()


async def test_run_native_fetches_and_parses_a_result(db: TestDb) -> None:
    svc = ConnectionService(ConnectTarget.from_dsn(db.uri))
    await svc.connect()
    try:
        # stand-ins with KWDB's result columns, run through the same path
        fake = NativeStatement(sql="SELECT '-' AS job_id, 'succeeded' AS status, 1.0::float8 AS fraction_completed, "
                                   "7 AS rows, '0' AS abandon_rows, '1' AS reject_rows, "
                                   "'There is a REJECT FILE, please read and resolve it' AS note",
                               kind="import_into", target="table t")
        res = await run_native(svc, fake)
        assert res.shape == "import" and res.rows == 7 and res.has_reject_file and res.time_series
        exported = await run_native(svc, NativeStatement("SELECT 'succeed' AS result", "export_table", "x"))
        assert exported.ok and exported.shape == "export"
        empty = await run_native(svc, NativeStatement("SET application_name = 'kwtui-native'", "pause_job", "job 1"))
        assert empty.shape == "empty" and empty.ok
    finally:
        await svc.close()


async def test_run_native_needs_a_connection() -> None:
    svc = ConnectionService(ConnectTarget.from_dsn("postgresql://nobody@127.0.0.1:1/none"))
    with pytest.raises(ConnectError):
        await run_native(svc, show_jobs())


def test_native_error_for_a_lost_connection() -> None:
    err = native_error(psycopg.OperationalError("server closed the connection unexpectedly"),
                       import_database("nodelocal://1/db"), connection_lost=True)
    assert err.kind == "connection_lost" and "SHOW JOBS" in (err.hint or "")
    assert err.one_line().startswith("IMPORT failed: server closed the connection unexpectedly")
