"""Attacks on `kwtui import` into a live KWDB: the reading rule is KWDB IMPORT's own.

Needs ../shared/kwdb/server/kwdb-node (a real KWDB node, started here for this module);
skipped with a message when it is absent.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from kwtui.transfer.csvdialect import CsvDialect, iter_records

from ..test_cli import run
from .test_import_csv import STRAY, STRAY_BAD_LINES, STRAY_GOOD, reject_lines

NODE = Path(__file__).resolve().parents[3] / "shared" / "kwdb" / "server" / "kwdb-node"


pytestmark = pytest.mark.kwdb


@pytest.fixture
def kwdb(kwdb_node: Any) -> tuple[str, Path]:
    """The session's live KWDB node (tests/conftest.py): its URI and its nodelocal://1 directory."""
    return kwdb_node.uri, kwdb_node.extern


def test_kwtui_rejects_exactly_what_kwdb_import_refuses(kwdb: tuple[str, Path], tmp_path: Path) -> None:
    """Each record of the stray-quote file goes alone through KWDB's own IMPORT: the records it
    refuses with a parse error are the lines kwtui rejects, and no other."""
    uri, extern = kwdb
    extern.mkdir(parents=True, exist_ok=True)
    refused = []
    records = list(iter_records(io.BytesIO(STRAY), CsvDialect()))
    with psycopg.connect(uri, autocommit=True) as conn:
        for i, rec in enumerate(records):
            conn.execute("DROP TABLE IF EXISTS one")
            conn.execute("CREATE TABLE one (id INT4, name STRING, amount DECIMAL(10,2))")
            (extern / f"one{i}.csv").write_bytes(STRAY[rec.offset:rec.end_offset])
            try:
                conn.execute(f"IMPORT INTO one CSV DATA ('nodelocal://1/one{i}.csv')")
            except psycopg.Error as exc:
                assert "parse error" in str(exc) or "extraneous" in str(exc), str(exc)
                refused.append(rec.line)
    assert refused == [r.line for r in records if r.error] == STRAY_BAD_LINES


def test_stray_quotes_into_kwdb(capsys: pytest.CaptureFixture[str], kwdb: tuple[str, Path],
                                                  tmp_path: Path) -> None:
    """The INSERT path (KWDB has no COPY): the same lines rejected, the arithmetic holds, and the
    batches commit with their checkpoints on KWDB (savepoints for the bisection)."""
    uri, _ = kwdb
    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS t")
        conn.execute("CREATE TABLE t (id INT4 PRIMARY KEY, name STRING, amount DECIMAL(10,2))")
    path = tmp_path / "stray.csv"
    path.write_bytes(STRAY + b"11,bad,notnum\n2,dup,2.00\n")
    code, out, err = run(capsys, "import", "--dsn", uri, "--from", str(path), "--into", "t", "--json",
                         "--batch-rows", "4")
    assert code == 0, err
    result = json.loads(out.splitlines()[-1])
    assert (result["records"], result["rows"], result["rejects"]) == (12, 5, 7) and result["balanced"]
    assert reject_lines(result["tables"][0]["reject_file"]) == [*STRAY_BAD_LINES, 12, 13]
    with psycopg.connect(uri, autocommit=True) as conn:
        assert dict(conn.execute("SELECT id, name FROM t").fetchall()) == STRAY_GOOD
        (committed,) = conn.execute("SELECT sum(records), sum(rows), sum(rejects) FROM kwtui_journal.checkpoints"
                                    " WHERE job_id = %s", (result["job"],)).fetchall()
    assert tuple(int(v) for v in committed) == (12, 5, 7)
