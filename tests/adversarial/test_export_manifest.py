"""Attack: a chunk changed after the export; an export without a manifest; what the manifest holds.

Before issue 16 import loaded whatever bytes it found. Now every chunk a manifest lists is
checked (bytes, sha256, records) before a row is loaded; a changed one refuses the import.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from ..test_cli import error_lines, run
from .helpers import execute

MANIFEST = "kwtui.manifest.json"  # the export's manifest (kwtui.transfer.manifest.MANIFEST)


def seed(uri: str, rows: int = 2500) -> None:
    execute(uri, f"CREATE TABLE orders (id bigint PRIMARY KEY, v text, n numeric(10,2)); "
                 f"INSERT INTO orders SELECT g, 'o' || g, g / 4.0 FROM generate_series(1, {rows}) g")


def export(capsys: pytest.CaptureFixture[str], src: str, out_dir: Path, *extra: str) -> None:
    code, out, err = run(capsys, "export", "--dsn", src, *extra, "--to", str(out_dir), "--chunk-rows", "1000")
    assert code == 0, (out, err)


def test_manifest_of_a_table_export(capsys: pytest.CaptureFixture[str], db: Any, tmp_path: Path) -> None:
    seed(db.uri)
    out_dir = tmp_path / "orders"
    export(capsys, db.uri, out_dir, "--table", "public.orders")
    doc = json.loads((out_dir / MANIFEST).read_text())
    assert doc["complete"] is True and doc["kind"] == "table" and doc["rows"] == 2500
    assert doc["command"].startswith("kwtui export") and "--table public.orders" in doc["command"]
    assert doc["started"] and doc["finished"]
    files = doc["tables"][0]["files"]
    assert [(f["name"], f["rows"]) for f in files] == [("n1.0.csv", 1000), ("n1.1.csv", 1000), ("n1.2.csv", 500)]
    for f in files:
        data = (out_dir / f["name"]).read_bytes()
        assert f["sha256"] == hashlib.sha256(data).hexdigest() and f["bytes"] == len(data)


def test_manifest_of_database_and_query_exports(capsys: pytest.CaptureFixture[str], db: Any, tmp_path: Path) -> None:
    seed(db.uri)
    execute(db.uri, "CREATE SCHEMA app; CREATE TABLE app.items (k int PRIMARY KEY); "
                    "INSERT INTO app.items SELECT generate_series(1, 7)")
    tree = tmp_path / "tree"
    export(capsys, db.uri, tree, "--database", db.name)
    doc = json.loads((tree / MANIFEST).read_text())
    assert doc["complete"] is True and doc["kind"] == "database"
    assert {(t["table"], t["directory"], t["rows"]) for t in doc["tables"]} == {
        ("public.orders", "public/orders", 2500), ("app.items", "app/items", 7)}
    q = tmp_path / "q"
    export(capsys, db.uri, q, "--query", "SELECT id, v FROM orders WHERE id <= 1500")
    doc = json.loads((q / MANIFEST).read_text())
    assert doc["complete"] is True and doc["kind"] == "query" and doc["rows"] == 1500
    assert [f["rows"] for f in doc["tables"][0]["files"]] == [1000, 500]


def test_chunk_altered_after_export_is_refused(capsys: pytest.CaptureFixture[str], two_dbs: tuple[str, str],
                                               tmp_path: Path) -> None:
    src, dst = two_dbs
    seed(src)
    out_dir = tmp_path / "orders"
    export(capsys, src, out_dir, "--table", "public.orders")
    chunk = out_dir / "n1.1.csv"
    data = chunk.read_bytes()
    chunk.write_bytes(data.replace(b"o1500,", b"o1501,", 1))  # one value changed, same size
    assert chunk.read_bytes() != data
    code, out, err = run(capsys, "import", "--dsn", dst, "--from", str(out_dir), "--create")
    assert code == 1, (out, err)
    assert "n1.1.csv" in err and "checksum differs" in err and len(error_lines(err)) == 1, err
    assert execute(dst, "SELECT count(*) FROM pg_tables WHERE tablename = 'orders'")[0][0] == 0
    # not even --allow-incomplete loads a changed chunk
    code, out, err = run(capsys, "import", "--dsn", dst, "--from", str(out_dir), "--create", "--allow-incomplete")
    assert code == 1 and "checksum differs" in err
    # a chunk dropped from a complete export is named too
    chunk.write_bytes(data)
    (out_dir / "n1.2.csv").unlink()
    code, out, err = run(capsys, "import", "--dsn", dst, "--from", str(out_dir), "--create")
    assert code == 1 and "n1.2.csv" in err and "missing" in err, err
    # a chunk added to a complete export is refused
    (out_dir / "n1.2.csv").write_bytes(b"9999,x,1.00\n")
    code, out, err = run(capsys, "import", "--dsn", dst, "--from", str(out_dir), "--create")
    assert code == 1 and "n1.2.csv" in err, err


def test_whole_export_loads_and_is_verified(capsys: pytest.CaptureFixture[str], two_dbs: tuple[str, str],
                                            tmp_path: Path) -> None:
    src, dst = two_dbs
    seed(src)
    out_dir = tmp_path / "orders"
    export(capsys, src, out_dir, "--table", "public.orders")
    assert json.loads((out_dir / MANIFEST).read_text())["complete"] is True
    code, out, err = run(capsys, "import", "--dsn", dst, "--from", str(out_dir), "--create")
    assert code == 0, (out, err)
    assert "manifest" not in err  # nothing to warn about
    assert execute(dst, "SELECT count(*) FROM orders")[0][0] == 2500


def test_export_without_manifest_warns_in_one_line(capsys: pytest.CaptureFixture[str], two_dbs: tuple[str, str],
                                                   tmp_path: Path) -> None:
    """An export written by KWDB itself has no manifest: loaded, with one line saying it cannot be checked."""
    src, dst = two_dbs
    seed(src)
    out_dir = tmp_path / "orders"
    export(capsys, src, out_dir, "--table", "public.orders")
    (out_dir / MANIFEST).unlink()
    code, out, err = run(capsys, "import", "--dsn", dst, "--from", str(out_dir), "--create")
    assert code == 0, (out, err)
    warned = [line for line in err.splitlines() if "no kwtui manifest" in line]
    assert len(warned) == 1, err
    assert execute(dst, "SELECT count(*) FROM orders")[0][0] == 2500
