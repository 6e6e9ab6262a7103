"""Attack: import into a table that holds rows; --create named after the folder.

Before issue 16 a second ``kwtui import`` appended to the table, and ``import --create``
named the table after the folder (``./backup`` gave ``backup``), unlike KWDB's
``IMPORT TABLE CREATE USING``, which names it after meta.sql's CREATE TABLE.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ..test_cli import run
from .helpers import execute


def tables(uri: str) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in execute(uri, "SELECT schemaname, tablename FROM pg_tables "
                                               "WHERE schemaname NOT IN ('pg_catalog', 'information_schema', "
                                               "'kwtui_journal') ORDER BY 1, 2")]


def export_orders(capsys: pytest.CaptureFixture[str], src: str, to: Path, *, key: bool = True) -> None:
    pk = " PRIMARY KEY" if key else ""
    execute(src, f"CREATE TABLE orders (id bigint{pk}, v text); "
                 "INSERT INTO orders SELECT g, 'o' || g FROM generate_series(1, 300) g")
    code, out, err = run(capsys, "export", "--dsn", src, "--table", "public.orders", "--to", str(to))
    assert code == 0, (out, err)


def test_create_takes_the_table_name_from_meta_sql(capsys: pytest.CaptureFixture[str], two_dbs: tuple[str, str],
                                                   tmp_path: Path) -> None:
    src, dst = two_dbs
    backup = tmp_path / "backup"
    export_orders(capsys, src, backup)
    code, out, err = run(capsys, "--debug", "import", "--dsn", dst, "--from", str(backup), "--create")
    assert code == 0, (out, err)
    assert tables(dst) == [("public", "orders")]
    assert execute(dst, "SELECT count(*) FROM orders")[0][0] == 300
    # --into and --schema still rename it
    code, out, err = run(capsys, "import", "--dsn", dst, "--from", str(backup), "--create", "--into", "public.o2")
    assert code == 0, (out, err)
    code, out, err = run(capsys, "import", "--dsn", dst, "--from", str(backup), "--create", "--schema", "arch")
    assert code == 0, (out, err)
    assert tables(dst) == [("arch", "orders"), ("public", "o2"), ("public", "orders")]
    assert execute(dst, "SELECT count(*) FROM arch.orders")[0][0] == 300


def test_second_import_into_a_filled_table_is_refused(capsys: pytest.CaptureFixture[str], two_dbs: tuple[str, str],
                                                      tmp_path: Path) -> None:
    src, dst = two_dbs
    backup = tmp_path / "backup"
    export_orders(capsys, src, backup, key=False)
    assert run(capsys, "import", "--dsn", dst, "--from", str(backup), "--create")[0] == 0
    for how in (["--create"], ["--into", "public.orders"]):
        code, out, err = run(capsys, "import", "--dsn", dst, "--from", str(backup), *how)
        assert code == 1, (how, out, err)
        assert "public.orders" in err and "300 rows" in err and "--if-exists" in err, err
        assert execute(dst, "SELECT count(*) FROM orders")[0][0] == 300


@pytest.mark.parametrize(("word", "expected"), [("append", 600), ("truncate", 300), ("replace", 300)])
def test_import_if_exists_words(capsys: pytest.CaptureFixture[str], two_dbs: tuple[str, str], tmp_path: Path,
                                word: str, expected: int) -> None:
    src, dst = two_dbs
    backup = tmp_path / "backup"
    export_orders(capsys, src, backup, key=False)
    execute(dst, "CREATE TABLE orders (id bigint, v text, extra int); "
                 "INSERT INTO orders SELECT -g, 'old' FROM generate_series(1, 300) g")
    code, out, err = run(capsys, "import", "--dsn", dst, "--from", str(backup), "--create", "--if-exists", word)
    assert code == 0, (out, err)
    assert execute(dst, "SELECT count(*) FROM orders")[0][0] == expected
    assert execute(dst, "SELECT count(*) FROM orders WHERE v = 'old'")[0][0] == (300 if word == "append" else 0)
    cols = [r[0] for r in execute(dst, "SELECT column_name FROM information_schema.columns "
                                       "WHERE table_name = 'orders' ORDER BY ordinal_position")]
    assert cols == (["id", "v"] if word == "replace" else ["id", "v", "extra"])


def test_replace_into_a_table_without_ddl_is_refused(capsys: pytest.CaptureFixture[str], db: Any,
                                                     tmp_path: Path) -> None:
    execute(db.uri, "CREATE TABLE t (a int); INSERT INTO t VALUES (1)")
    f = tmp_path / "t.csv"
    f.write_text("2\n3\n")
    code, _out, err = run(capsys, "import", "--dsn", db.uri, "--from", str(f), "--into", "t", "--if-exists", "replace")
    assert code == 2 and "replace" in err, err
    assert execute(db.uri, "SELECT count(*) FROM t")[0][0] == 1
    code, _out, err = run(capsys, "import", "--dsn", db.uri, "--from", str(f), "--into", "t", "--if-exists", "truncate")
    assert code == 0, err
    assert execute(db.uri, "SELECT count(*) FROM t")[0][0] == 2
