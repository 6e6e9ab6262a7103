"""KWDB's own IMPORT and EXPORT run for real on the live node (V3.2.1), through kwtui's CLI.

``nodelocal://1/<dir>`` is ``<store>/extern/<dir>`` of the test node (``kwdb_node.extern``), so
these tests look at the files KWDB wrote and put files where KWDB reads them. What the node
answered where it differed from the recorded QA output is written next to the code that reads
it (kwtui/transfer/native.py, native_files.py, native_watch.py) and summed up in
tests/data/kwdb_native_live.md.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from .conftest import KwdbNode
from .test_cli import error_lines, run

pytestmark = pytest.mark.kwdb

ROWS = [
    (1, "a,b", Decimal("1.50"), dt.datetime(1960, 1, 1, 0, 0), b"\x00\x01"),
    (2, None, None, None, None),
    (3, "", Decimal("0.00"), dt.datetime(2020, 1, 1, 10, 0, 0, 123456), b""),
    (4, 'q"uote\nnl', Decimal("-3.25"), dt.datetime(2024, 1, 1), b"abc"),
    (5, "NULL", Decimal("99999999.99"), dt.datetime(1969, 12, 31, 23, 59, 59), b"\\x41"),
    (6, "é ü 中文", Decimal("0.01"), dt.datetime(2000, 2, 29, 12, 0), bytes(range(256))),
]
R_DDL = "CREATE TABLE r (id INT4 PRIMARY KEY, s STRING, d DECIMAL(10,2), t TIMESTAMP, b BYTES)"
TS_ROWS = [
    (dt.datetime(2024, 1, 1, 0, 0, tzinfo=dt.UTC), 1.5, "x", 1, "a"),
    (dt.datetime(2024, 1, 1, 0, 0, 1, 500000, tzinfo=dt.UTC), None, None, 2, None),
    (dt.datetime(2024, 1, 1, 0, 0, 2, tzinfo=dt.UTC), 2.5, 'q,"', 1, "a"),
    (dt.datetime(1969, 7, 20, 20, 17, 40, tzinfo=dt.UTC), -0.25, "", 3, "moon"),
]
M_DDL = ("CREATE TABLE m (ts TIMESTAMPTZ NOT NULL, v FLOAT8, s VARCHAR(20)) "
         "TAGS (dev INT4 NOT NULL, site VARCHAR(10)) PRIMARY TAGS (dev)")


def _uri(server: str, database: str) -> str:
    return server.replace("/defaultdb?", f"/{database}?")


def _exec(uri: str, *statements: str, params: object = None) -> list[tuple]:
    with psycopg.connect(uri, autocommit=True) as conn:
        rows: list[tuple] = []
        for text in statements:
            cur = conn.execute(text, params)  # type: ignore[arg-type,call-overload]
            rows = cur.fetchall() if cur.description else []
        return rows


def _unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def rdb(kwdb_node: KwdbNode) -> Iterator[str]:
    """A relational database holding r (every awkward value) and nb (a second table)."""
    name = _unique("nr")
    _exec(kwdb_node.uri, f"CREATE DATABASE {name}")
    uri = _uri(kwdb_node.uri, name)
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(R_DDL)
        conn.cursor().executemany("INSERT INTO r VALUES (%s, %s, %s, %s, %s)", ROWS)
        conn.execute("CREATE TABLE nb (id INT4 PRIMARY KEY, s STRING)")
        conn.execute("INSERT INTO nb VALUES (1, 'x'), (2, NULL), (3, 'it''s')")
    try:
        yield uri
    finally:
        _exec(kwdb_node.uri, f"DROP DATABASE IF EXISTS {name} CASCADE")


@pytest.fixture
def tsdb(kwdb_node: KwdbNode) -> Iterator[str]:
    """A time-series database holding m (tags dev, site; primary tag dev)."""
    name = _unique("nt")
    _exec(kwdb_node.uri, f"CREATE TS DATABASE {name}")
    uri = _uri(kwdb_node.uri, name)
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute(M_DDL)
        conn.cursor().executemany("INSERT INTO m VALUES (%s, %s, %s, %s, %s)", TS_ROWS)
    try:
        yield uri
    finally:
        _exec(kwdb_node.uri, f"DROP DATABASE IF EXISTS {name} CASCADE")


def _db(uri: str) -> str:
    return uri.rsplit("/", 1)[1].split("?")[0]


def _r_rows(uri: str, table: str = "r") -> list[tuple]:
    rows = _exec(uri, f"SELECT id, s, d, t, b FROM {table} ORDER BY id")
    return [(i, s, d, t, bytes(b) if b is not None else None) for i, s, d, t, b in rows]


def _m_rows(uri: str, table: str = "m") -> list[tuple]:
    return _exec(uri, f"SELECT ts, v, s, dev, site FROM {table} ORDER BY ts")


def _files(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


# -- EXPORT -------------------------------------------------------------------------------------


def test_export_relational_table_counts_data_rows_and_files(rdb: str, kwdb_node: KwdbNode,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """The node answers ``TABLE db.public.r | 6 | 1 | 3`` and ``meta.sql | 1 | 1 | 1``: the meta.sql
    row is no data row (the summary said 7 rows before), and 3 + 1 files were written."""
    out_dir = _unique("ex")
    code, out, err = run(capsys, "export", "--dsn", rdb, "--native", "--table", f"{_db(rdb)}.public.r",
                         "--to", f"nodelocal://1/{out_dir}", "--chunk-rows", "2")
    assert code == 0, err
    assert out.splitlines()[-1] == "exported 6 rows into 3 data file(s) from 1 table(s) and 1 meta.sql"
    assert _files(kwdb_node.extern / out_dir) == ["meta.sql", "n1.0.csv", "n1.1.csv", "n1.2.csv"]
    code, out, err = run(capsys, "export", "--dsn", rdb, "--native", "--table", "r", "--json",
                         "--to", f"nodelocal://1/{out_dir}_j")
    assert code == 0, err
    doc = json.loads(out.splitlines()[-1])
    assert doc["ok"] is True and doc["rows"] == 6
    # the same directory again: KWDB refuses a non-empty one, one line with the advice
    code, _, err = run(capsys, "export", "--dsn", rdb, "--native", "--table", "r", "--to", f"nodelocal://1/{out_dir}")
    assert code == 1 and "is not empty" in err and "Traceback" not in err and len(error_lines(err)) == 1


def test_export_ts_table_database_and_query_succeed(tsdb: str, kwdb_node: KwdbNode,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A TS export answers two result sets (an empty ``result``, then ``succeed``); kwtui read only
    the first one and called every TS export a failure (exit 1)."""
    name = _db(tsdb)
    base = _unique("ets")
    code, out, err = run(capsys, "export", "--dsn", tsdb, "--native", "--table", "m", "--to", f"nodelocal://1/{base}_t")
    assert code == 0, err
    assert "export succeeded" in out
    assert _files(kwdb_node.extern / f"{base}_t") == ["meta.sql", "n1.0.csv"]
    assert "PRIMARY TAGS(dev)" in (kwdb_node.extern / f"{base}_t" / "meta.sql").read_text()
    code, out, err = run(capsys, "export", "--dsn", tsdb, "--native", "--database", name, "--to", f"nodelocal://1/{base}_d")
    assert code == 0, err
    assert _files(kwdb_node.extern / f"{base}_d") == ["meta.sql", "public/m/n1.0.csv"]
    assert (kwdb_node.extern / f"{base}_d" / "meta.sql").read_text().startswith(f"CREATE TS DATABASE {name};")
    code, out, err = run(capsys, "export", "--dsn", tsdb, "--native", "--query", "select ts, v from m where dev = 1",
                         "--to", f"nodelocal://1/{base}_q")
    assert code == 0, err
    assert "export succeeded" in out
    assert len((kwdb_node.extern / f"{base}_q" / "n1.0.csv").read_text().splitlines()) == 2


def test_export_relational_database_and_query(rdb: str, kwdb_node: KwdbNode,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    name = _db(rdb)
    base = _unique("erd")
    code, out, err = run(capsys, "export", "--dsn", rdb, "--native", "--database", name, "--to", f"nodelocal://1/{base}")
    assert code == 0, err
    assert out.splitlines()[-1] == "exported 9 rows into 2 data file(s) from 2 table(s) and 2 meta.sql"
    assert _files(kwdb_node.extern / base) == ["meta.sql", "public/nb/meta.sql", "public/nb/n1.0.csv",
                                               "public/r/meta.sql", "public/r/n1.0.csv"]
    code, out, err = run(capsys, "export", "--dsn", rdb, "--native", "--query", "select id, s from r where id > 2",
                         "--to", f"nodelocal://1/{base}_q", "--chunk-rows", "3")
    assert code == 0, err
    assert out.splitlines()[-1] == "exported 4 rows into 2 file(s)"
    code, out, err = run(capsys, "export", "--dsn", rdb, "--native", "--query", "select id from r where id < 0",
                         "--to", f"nodelocal://1/{base}_e")
    assert code == 0, err
    assert "no file" in out and not (kwdb_node.extern / f"{base}_e").exists()


def test_export_options_as_written_and_back(rdb: str, kwdb_node: KwdbNode, capsys: pytest.CaptureFixture[str]) -> None:
    """delimiter, enclosed, escaped, nullas, column_name, meta_only/data_only, charset: each as the
    node writes it, and the files import back into KWDB exact with the same options."""
    base = _unique("eo")
    code, out, err = run(capsys, "export", "--dsn", rdb, "--native", "--table", "r", "--to", f"nodelocal://1/{base}_o",
                         "--delimiter", "|", "--enclosed", "'", "--escaped", "\\", "--nullas", "\\N")
    assert code == 0, err
    lines = (kwdb_node.extern / f"{base}_o" / "n1.0.csv").read_text().splitlines()
    assert lines[0] == "1|a,b|1.50|1960-01-01 00:00:00+00:00|'\\\\x0001'"  # bytes escaped, then enclosed
    assert lines[1] == "2|\\N|\\N|\\N|\\N"
    _exec(rdb, "CREATE TABLE r_o (id INT4 PRIMARY KEY, s STRING, d DECIMAL(10,2), t TIMESTAMP, b BYTES)")
    code, out, err = run(capsys, "import", "--dsn", rdb, "--native", "--into", "r_o", "--from", f"nodelocal://1/{base}_o",
                         "--delimiter", "|", "--enclosed", "'", "--escaped", "\\", "--nullif", "\\N")
    assert code == 0, err
    assert _r_rows(rdb, "r_o") == _r_rows(rdb)

    code, out, err = run(capsys, "export", "--dsn", rdb, "--native", "--table", "nb", "--to", f"nodelocal://1/{base}_h",
                         "--column-name", "--meta-only")
    assert code == 0, err
    assert _files(kwdb_node.extern / f"{base}_h") == ["meta.sql"]
    code, out, err = run(capsys, "export", "--dsn", rdb, "--native", "--table", "nb", "--to", f"nodelocal://1/{base}_d",
                         "--column-name", "--data-only", "--nullas", "NULL")
    assert code == 0, err
    assert (kwdb_node.extern / f"{base}_d" / "n1.0.csv").read_text().splitlines() == ["id,s", "1,x", "2,NULL", "3,it's"]

    code, out, err = run(capsys, "export", "--dsn", rdb, "--native", "--table", "r", "--to", f"nodelocal://1/{base}_g",
                         "--charset", "gbk")
    assert code == 0, err
    raw = (kwdb_node.extern / f"{base}_g").glob("n1.*.csv")
    text = b"".join(p.read_bytes() for p in raw)
    assert "中文".encode("gbk") in text and "中文".encode() not in text
    _exec(rdb, "CREATE TABLE r_g (id INT4 PRIMARY KEY, s STRING, d DECIMAL(10,2), t TIMESTAMP, b BYTES)")
    code, out, err = run(capsys, "import", "--dsn", rdb, "--native", "--into", "r_g", "--from", f"nodelocal://1/{base}_g",
                         "--charset", "gbk")
    assert code == 0, err
    assert _r_rows(rdb, "r_g") == _r_rows(rdb)


def test_export_sql_format(rdb: str, tsdb: str, kwdb_node: KwdbNode, capsys: pytest.CaptureFixture[str]) -> None:
    """SQL format: INSERT statements for a table without bytes and for a TS table; a table with
    BYTES is refused with advice, and a database export that silently left its data out (the node
    answers success and lists only the other tables) is caught; a query was refused by the node
    even over one table (recorded: ``Exporting SQL only supports single table queries``)."""
    base = _unique("es")
    name = _db(rdb)
    code, out, err = run(capsys, "export", "--dsn", rdb, "--native", "--table", "nb", "--format", "sql",
                         "--to", f"nodelocal://1/{base}_n")
    assert code == 0, err
    assert out.splitlines()[-1] == "exported 3 rows into 1 data file(s) from 1 table(s) and 1 meta.sql"
    assert (kwdb_node.extern / f"{base}_n" / "n1.0.sql").read_text().splitlines() == [
        f"INSERT INTO {name}.public.nb(id,s) VALUES (1,'x');", f"INSERT INTO {name}.public.nb(id,s) VALUES (2,NULL);",
        f"INSERT INTO {name}.public.nb(id,s) VALUES (3,E'it\\'s');"]
    code, _, err = run(capsys, "export", "--dsn", rdb, "--native", "--table", "r", "--format", "sql",
                       "--to", f"nodelocal://1/{base}_b")
    assert code == 1 and "BYTES" in err and len(error_lines(err)) == 1
    code, _, err = run(capsys, "export", "--dsn", rdb, "--native", "--query", "select * from nb", "--format", "sql",
                       "--to", f"nodelocal://1/{base}_q")
    assert code == 1 and "single table" in err
    code, _, err = run(capsys, "export", "--dsn", rdb, "--native", "--table", "nb", "--format", "sql",
                       "--delimiter", "|", "--to", f"nodelocal://1/{base}_x")
    assert code == 2 and "CSV option" in err
    code, out, err = run(capsys, "export", "--dsn", rdb, "--native", "--database", name, "--format", "sql",
                         "--to", f"nodelocal://1/{base}_d")
    assert code == 1 and f"{name}.public.r" in err and "--format csv" in err
    assert (kwdb_node.extern / f"{base}_d" / "public" / "nb" / "n1.0.sql").exists()
    assert not list((kwdb_node.extern / f"{base}_d" / "public" / "r").glob("n1.*"))
    code, out, err = run(capsys, "export", "--dsn", tsdb, "--native", "--table", "m", "--format", "sql",
                         "--to", f"nodelocal://1/{base}_t")
    assert code == 0, err
    assert len((kwdb_node.extern / f"{base}_t" / "n1.0.sql").read_text().splitlines()) == len(TS_ROWS)


# -- IMPORT -------------------------------------------------------------------------------------


def test_import_into_relational_names_the_directory_files(rdb: str, kwdb_node: KwdbNode,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """``expected a file but "dir" is a directory``: kwtui lists the directory (the node's extern
    dir is on this host) and names each n1.<k>.csv, in chunk order."""
    base = _unique("ii")
    code, _, err = run(capsys, "export", "--dsn", rdb, "--native", "--table", "r", "--to", f"nodelocal://1/{base}",
                       "--chunk-rows", "2")
    assert code == 0, err
    _exec(rdb, "CREATE TABLE r2 (id INT4 PRIMARY KEY, s STRING, d DECIMAL(10,2), t TIMESTAMP, b BYTES)")
    code, out, err = run(capsys, "import", "--dsn", rdb, "--native", "--into", "r2", "--from", f"nodelocal://1/{base}")
    assert code == 0, err
    assert out.splitlines()[0] == (f'IMPORT INTO r2 CSV DATA ("nodelocal://1/{base}/n1.0.csv", '
                                   f'"nodelocal://1/{base}/n1.1.csv", "nodelocal://1/{base}/n1.2.csv")')
    assert out.splitlines()[1].startswith("imported 6 rows (job ")
    assert _r_rows(rdb, "r2") == _r_rows(rdb)
    # one file is taken as it is
    _exec(rdb, "CREATE TABLE r3 (id INT4 PRIMARY KEY, s STRING, d DECIMAL(10,2), t TIMESTAMP, b BYTES)")
    code, out, err = run(capsys, "import", "--dsn", rdb, "--native", "--into", "r3", "--from",
                         f"nodelocal://1/{base}/n1.1.csv", "--json")
    assert code == 0, err
    assert json.loads(out.splitlines()[-1])["rows"] == 2
    code, _, err = run(capsys, "import", "--dsn", rdb, "--native", "--into", "r3", "--from", "nodelocal://1/no_such_dir")
    assert code == 2 and "does not exist" in err


def test_import_create_relational_ts_and_wrong_database(rdb: str, tsdb: str, kwdb: str, kwdb_node: KwdbNode,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    base = _unique("ic")
    assert run(capsys, "export", "--dsn", rdb, "--native", "--table", "r", "--to", f"nodelocal://1/{base}_r",
               "--chunk-rows", "4")[0] == 0
    assert run(capsys, "export", "--dsn", tsdb, "--native", "--table", "m", "--to", f"nodelocal://1/{base}_m")[0] == 0
    code, out, err = run(capsys, "import", "--dsn", kwdb, "--native", "--create", "--from", f"nodelocal://1/{base}_r")
    assert code == 0, err
    assert out.startswith(f'IMPORT TABLE CREATE USING "nodelocal://1/{base}_r/meta.sql" CSV DATA '
                          f'("nodelocal://1/{base}_r/n1.0.csv", "nodelocal://1/{base}_r/n1.1.csv")')
    assert _r_rows(kwdb) == _r_rows(rdb)
    # a TS table: created while connected to a TS database, from the directory
    ts2 = _unique("nt2")
    _exec(kwdb_node.uri, f"CREATE TS DATABASE {ts2}")
    try:
        code, out, err = run(capsys, "import", "--dsn", _uri(kwdb_node.uri, ts2), "--native", "--create",
                             "--from", f"nodelocal://1/{base}_m")
        assert code == 0, err
        assert out.startswith(f'IMPORT TABLE CREATE USING "nodelocal://1/{base}_m/meta.sql" '
                              f'CSV DATA ("nodelocal://1/{base}_m")')
        assert _m_rows(_uri(kwdb_node.uri, ts2)) == _m_rows(tsdb)
    finally:
        _exec(kwdb_node.uri, f"DROP DATABASE IF EXISTS {ts2} CASCADE")
    # a TS table into a relational database: the node refuses, kwtui says where to connect
    code, _, err = run(capsys, "import", "--dsn", kwdb, "--native", "--create", "--from", f"nodelocal://1/{base}_m")
    assert code == 1 and "time-series database" in err and len(error_lines(err)) == 1


def test_import_database_relational_and_ts(rdb: str, tsdb: str, kwdb_node: KwdbNode,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    base = _unique("idb")
    expected_r, expected_m = _r_rows(rdb), _m_rows(tsdb)
    for uri, tag in ((rdb, "r"), (tsdb, "t")):
        code, _, err = run(capsys, "export", "--dsn", uri, "--native", "--database", _db(uri),
                           "--to", f"nodelocal://1/{base}_{tag}")
        assert code == 0, err
        _exec(kwdb_node.uri, f"DROP DATABASE {_db(uri)} CASCADE")
        code, out, err = run(capsys, "import", "--dsn", kwdb_node.uri, "--native", "--database",
                             "--from", f"nodelocal://1/{base}_{tag}")
        assert code == 0, err
        assert out.startswith(f'IMPORT DATABASE CSV DATA ("nodelocal://1/{base}_{tag}")')
    assert _r_rows(rdb) == expected_r
    assert _exec(rdb, "SELECT id, s FROM nb ORDER BY id") == [(1, "x"), (2, None), (3, "it's")]
    assert _m_rows(tsdb) == expected_m


def test_ts_rejects_are_a_partial_load(tsdb: str, kwdb_node: KwdbNode, capsys: pytest.CaptureFixture[str]) -> None:
    """The node answers ``- | succeeded | 1 | 2 | 0 | 3 | There is a REJECT FILE...``: kwtui exits 1
    and names the reject file KWDB wrote beside the data; the good rows stay (no rollback)."""
    base = _unique("bad")
    (kwdb_node.extern / base).mkdir(parents=True)
    (kwdb_node.extern / base / "n1.0.csv").write_text(
        "2025-01-01 00:00:00+00:00,1.5,x,7,a\nnot-a-time,2.5,y,7,a\n2025-01-01 00:00:05+00:00,abc,z,8,b\n"
        "2025-01-01 00:00:06+00:00,3,z,,b\n2025-01-01 00:00:07+00:00,4,w,9,c\n")
    code, out, err = run(capsys, "import", "--dsn", tsdb, "--native", "--into", "m", "--from", f"nodelocal://1/{base}")
    assert code == 1
    assert "partial load" in out and "imported 2 rows, 3 rejected" in out
    assert f"nodelocal://1/{base}/reject.n1.0.txt" in err and "Traceback" not in err
    assert (kwdb_node.extern / base / "reject.n1.0.txt").read_text().count("\n") == 6  # line, reason, x3
    assert len(_m_rows(tsdb)) == len(TS_ROWS) + 2
    code, out, err = run(capsys, "import", "--dsn", tsdb, "--native", "--into", "m", "--from", f"nodelocal://1/{base}",
                         "--json")
    assert code == 1
    doc = json.loads(out.splitlines()[-1])
    assert doc["ok"] is False and doc["partial"] is True and doc["status"] == "succeeded" and doc["job_id"] is None
    assert doc["reject_rows"] == 3 and doc["reject_file"] == f"nodelocal://1/{base}/reject.n1.0.txt"


def test_relational_bad_row_fails_the_whole_import(rdb: str, kwdb_node: KwdbNode,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    base = _unique("rbad")
    (kwdb_node.extern / base).mkdir(parents=True)
    (kwdb_node.extern / base / "n1.0.csv").write_text("10,a\nx,b\n12,c\n")
    code, _, err = run(capsys, "import", "--dsn", rdb, "--native", "--into", "nb", "--from", f"nodelocal://1/{base}")
    assert code == 1 and "error parsing row 2" in err and "streamed import" in err and len(error_lines(err)) == 1
    assert _exec(rdb, "SELECT count(*) FROM nb") == [(3,)]


# -- kwtui's files <-> KWDB's files -------------------------------------------------------------


PG_DDL = """CREATE TABLE t (id int PRIMARY KEY, s text, d numeric(12,3), ts timestamp, tz timestamptz, b boolean,
                            u uuid, j jsonb, f float8, bb bytea)"""
PG_ROWS = """INSERT INTO t VALUES
  (1, 'a,b "q"' || chr(10) || 'nl', 1.5, '1960-01-01 00:00:00', '1969-12-31 23:59:59.123456+00', true,
   'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"k": [1, "x"]}', 1.25, '\\x00ff5c2c0a22'),
  (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (3, '', -0.001, '2024-02-29 12:00:00.5', '2024-02-29 12:00:00.5+03', false, '00000000-0000-0000-0000-000000000000',
   '{}', -0.0, ''),
  (4, 'NULL', 123456789.123, '2000-01-01 00:00:00', '2000-01-01 00:00:00+00', true, NULL, '"s"', 1e300, '\\x5c78'),
  (5, 'é ü 中文 \\N back\\slash', 0, '1900-01-01 00:00:00', '1900-01-01 00:00:00+00', false, NULL, 'null', 3.5, decode(repeat('ab', 100), 'hex'))"""


def test_kwtui_export_files_imported_by_native_import(db, kwdb: str, kwdb_node: KwdbNode,  # type: ignore[no-untyped-def]
                                                     tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Files of kwtui's streamed export, copied unchanged into the extern dir, are read by KWDB's
    IMPORT TABLE CREATE USING (kwtui's meta.sql) with every value exact."""
    db.execute(PG_DDL)
    db.execute(PG_ROWS)
    out_dir = tmp_path / "t"
    code, _, err = run(capsys, "export", "--dsn", db.uri, "--table", "public.t", "--to", str(out_dir), "--chunk-rows", "2")
    assert code == 0, err
    name = _unique("kt")
    shutil.copytree(out_dir, kwdb_node.extern / name)
    code, out, err = run(capsys, "import", "--dsn", kwdb, "--native", "--create", "--from", f"nodelocal://1/{name}")
    assert code == 0, err
    assert "imported 5 rows" in out
    cols = "id, s, d, ts, tz, b, u::text, j::text, f, bb"
    src = [(*r[:-1], bytes(r[-1]) if r[-1] is not None else None) for r in db.execute(f"SELECT {cols} FROM t ORDER BY id")]
    dst = [(*r[:-1], bytes(r[-1]) if r[-1] is not None else None) for r in _exec(kwdb, f"SELECT {cols} FROM t ORDER BY id")]
    assert dst == src


def test_native_export_imported_by_streamed_import(rdb: str, tsdb: str, db, kwdb_node: KwdbNode,  # type: ignore[no-untyped-def]
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """KWDB's own export trees (relational and TS) read by kwtui's streamed import into PostgreSQL."""
    base = _unique("ke")
    for uri, table in ((rdb, "r"), (tsdb, "m")):
        code, _, err = run(capsys, "export", "--dsn", uri, "--native", "--table", table, "--to",
                           f"nodelocal://1/{base}/{table}", "--chunk-rows", "3")
        assert code == 0, err
        code, out, err = run(capsys, "import", "--dsn", db.uri, "--from", str(kwdb_node.extern / base / table),
                             "--create", "--workers", "1")
        assert code == 0, out + err
    got = db.execute("SELECT id, s, d, t, b FROM r ORDER BY id")
    assert [(i, s, d, t, bytes(b) if b is not None else None) for i, s, d, t, b in got] == _r_rows(rdb)
    got_m = db.execute("SELECT ts, v, s, dev, site FROM m ORDER BY ts")
    assert [(ts.astimezone(dt.UTC), *rest) for ts, *rest in got_m] == _m_rows(tsdb)


def test_streamed_export_from_kwdb_counts_its_files(rdb: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 17 saw "0 file(s)" for one written file: the keyset export (KWDB has no COPY TO) took the
    writer's file list before the writer had finished its last chunk."""
    code, out, err = run(capsys, "export", "--dsn", rdb, "--table", "public.nb", "--to", str(tmp_path / "nb"))
    assert code == 0, err
    assert "3 rows, 1 file(s)" in out
    code, out, err = run(capsys, "export", "--dsn", rdb, "--table", "public.r", "--to", str(tmp_path / "r"),
                         "--chunk-rows", "4", "--json")
    assert code == 0, err
    assert json.loads(out.splitlines()[-1])["tables"][0]["files"] == ["n1.0.csv", "n1.1.csv"]


def test_stage_local_files_then_native_import(rdb: str, kwdb: str, kwdb_node: KwdbNode, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """--stage uploads local files over the wire (COPY kwdb_internal.file_upload) and names them."""
    code, _, err = run(capsys, "export", "--dsn", rdb, "--table", "public.r", "--to", str(tmp_path / "r"),
                       "--chunk-rows", "4")
    assert code == 0, err
    remote = _unique("stg") + "/r"
    code, out, err = run(capsys, "import", "--dsn", kwdb, "--native", "--create", "--from", str(tmp_path / "r"),
                         "--stage", remote)
    assert code == 0, err
    assert out.startswith(f'IMPORT TABLE CREATE USING "nodelocal://1/{remote}/meta.sql" CSV DATA '
                          f'("nodelocal://1/{remote}/n1.0.csv", "nodelocal://1/{remote}/n1.1.csv")')
    # the manifest goes up too (KWDB's IMPORT ignores it)
    assert _files(kwdb_node.extern / remote) == ["kwtui.manifest.json", "meta.sql", "n1.0.csv", "n1.1.csv"]
    assert _r_rows(kwdb) == _r_rows(rdb)
