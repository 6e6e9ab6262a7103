"""Attacks on `kwtui import` with odd CSV files: every record read is loaded or rejected.

Each test asserts the arithmetic (records in the input = rows loaded + lines rejected, in
the command's JSON, in the journal and in the table) and what exactly landed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from kwtui.jobs import Journal
from kwtui.transfer.csvdialect import CsvDialect, iter_records

from ..test_cli import run

if TYPE_CHECKING:
    from ..conftest import TestDb

#: stray quotes in every position KWDB's IMPORT refuses (and PostgreSQL's COPY misreads), between
#: good lines, one of them a quoted field over two physical lines
STRAY = (b'1,12" pipe,1.00\n'          # line 1: bare quote inside an unquoted field (swallowed lines before)
         b'2,ok,2.00\n'                # line 2
         b'3,"quoted ""x""",3.00\n'    # line 3: a quoted field with escaped quotes: good
         b'4,ab",4.00\n'               # line 4: a quote ending an unquoted field
         b'5,"ab"cd,5.00\n'            # line 5: text after the closing quote (COPY makes it abcd)
         b'6,a"b"c,6.00\n'             # line 6: two quotes inside (COPY makes it abc)
         b'7,plain,7.00\n'             # line 7
         b'8,"multi\nline",8.00\n'     # lines 8-9: one record
         b'9,x,9"\n'                   # line 10: a quote in the last field
         b'10,z,10.00\n')              # line 11
STRAY_GOOD = {2: "ok", 3: 'quoted "x"', 7: "plain", 8: "multi\nline", 10: "z"}
STRAY_BAD_LINES = [1, 4, 5, 6, 10]


def import_json(capsys: pytest.CaptureFixture[str], db: TestDb, path: Path, table: str, *extra: str,
                expect: int = 0) -> tuple[dict[str, Any], str]:
    code, out, err = run(capsys, "import", "--dsn", db.uri, "--from", str(path), "--into", table, "--json", *extra)
    assert code == expect, err
    lines = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
    result = lines[-1] if lines else {}
    return result, err


def assert_balanced(result: dict[str, Any], records: int, rows: int, rejects: int) -> None:
    """The command's own arithmetic, per table and per file, and in the journal."""
    assert result["records"] == records and result["rows"] == rows and result["rejects"] == rejects, result
    assert result["records"] == result["rows"] + result["rejects"] and result["balanced"] is True
    for t in result["tables"]:
        assert t["records"] == t["rows"] + t["rejects"]
        for f in t["per_file"].values():
            assert f["records"] == f["rows"] + f["rejects"]
    job = Journal().get(result["job"])
    assert job.status == "completed"
    assert (job.records, job.rows, job.rejects) == (records, rows, rejects)


def reject_lines(path: str) -> list[int]:
    out = []
    for line in Path(path).read_bytes().decode("utf-8").split("\n"):
        if line and not line.startswith("\t"):
            out.append(int(line.split(".csv:", 1)[1].split(":", 1)[0]))
    return sorted(out)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_stray_quotes_are_rejected_with_their_line_never_merged(capsys: pytest.CaptureFixture[str], db: TestDb,
                                                                tmp_path: Path, workers: str) -> None:
    db.execute("CREATE TABLE t (id int, name text, amount numeric(10,2))")
    path = tmp_path / "stray.csv"
    path.write_bytes(STRAY)
    result, _ = import_json(capsys, db, path, "t", "--workers", workers)
    assert_balanced(result, 10, 5, 5)
    assert dict(db.execute("SELECT id, name FROM t")) == STRAY_GOOD
    rej = result["tables"][0]["reject_file"]
    assert reject_lines(rej) == STRAY_BAD_LINES
    assert 'bare " in non-quoted field 2' in Path(rej).read_text()


def test_stray_quotes_same_rule_on_the_insert_path(db: TestDb, tmp_path: Path) -> None:
    """kwtui's own reader and the INSERT loader (KWDB time-series targets) follow the same rule."""
    from kwtui.transfer.loader import InsertLoader

    db.execute("CREATE TABLE t (id int, name text, amount numeric(10,2))")
    path = tmp_path / "stray.csv"
    path.write_bytes(STRAY)
    recs = list(iter_records(path.open("rb"), CsvDialect()))
    assert len(recs) == 10 and [r.line for r in recs if r.error] == STRAY_BAD_LINES
    loader = InsertLoader(psycopg.conninfo.conninfo_to_dict(db.conninfo), "public", "t", None, CsvDialect(),
                          batch_rows=3, reject_path=tmp_path / "r.txt")
    res = loader.load([path])
    assert (res.records, res.rows, res.rejects) == (10, 5, 5)
    assert dict(db.execute("SELECT id, name FROM t")) == STRAY_GOOD
    assert reject_lines(str(tmp_path / "r.txt")) == STRAY_BAD_LINES


@pytest.mark.parametrize("header", [False, True])
def test_bom_is_never_data(capsys: pytest.CaptureFixture[str], db: TestDb, tmp_path: Path, header: bool) -> None:
    db.execute("CREATE TABLE t (k text, v int)")
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (b"k,v\n" if header else b"") + b"a,1\nb,2\n")
    result, _ = import_json(capsys, db, path, "t", *(["--skip-header"] if header else []))
    assert_balanced(result, 2, 2, 0)
    assert db.execute("SELECT k, v FROM t ORDER BY v") == [("a", 1), ("b", 2)]
    assert db.execute("SELECT count(*) FROM t WHERE k LIKE %s", ("%\ufeff%",)) == [(0,)]


def test_mixed_line_endings(capsys: pytest.CaptureFixture[str], db: TestDb, tmp_path: Path) -> None:
    """CRLF and LF end records wherever they are (PostgreSQL's COPY takes the first line's ending
    for a whole batch and fails the others); a lone CR is data, as in KWDB's IMPORT."""
    db.execute("CREATE TABLE t (id int, v text)")
    path = tmp_path / "eol.csv"
    path.write_bytes(b'1,a\r\n2,b\n3,c\r\n4,"x\r\ny"\n5,e\rf\n6,g\n7,h')
    result, _ = import_json(capsys, db, path, "t", "--workers", "1")
    assert_balanced(result, 7, 7, 0)
    assert db.execute("SELECT id, v FROM t ORDER BY id") == [
        (1, "a"), (2, "b"), (3, "c"), (4, "x\r\ny"), (5, "e\rf"), (6, "g"), (7, "h")]


def test_cr_only_file_is_one_rejected_record(capsys: pytest.CaptureFixture[str], db: TestDb, tmp_path: Path) -> None:
    """A file of CR line ends is one record, as KWDB reads it ("expected 2 fields, got 4"): rejected."""
    db.execute("CREATE TABLE t (id int, v text)")
    path = tmp_path / "cr.csv"
    path.write_bytes(b"1,a\r2,b\r3,c\r")
    result, _ = import_json(capsys, db, path, "t")
    assert_balanced(result, 1, 0, 1)
    assert db.execute("SELECT count(*) FROM t") == [(0,)]


def test_nul_bytes_and_invalid_utf8(capsys: pytest.CaptureFixture[str], db: TestDb, tmp_path: Path) -> None:
    db.execute("CREATE TABLE t (id int, v text)")
    path = tmp_path / "bytes.csv"
    path.write_bytes(b"1,a\x00b\n2,ok\n3,caf\xe9\n4,\"q\xff\"\n5,fine\n")
    result, _ = import_json(capsys, db, path, "t")
    assert_balanced(result, 5, 2, 3)
    assert db.execute("SELECT id, v FROM t ORDER BY id") == [(2, "ok"), (5, "fine")]
    assert reject_lines(result["tables"][0]["reject_file"]) == [1, 3, 4]


@pytest.mark.parametrize("quoted", [False, True])
def test_one_50_mb_field(capsys: pytest.CaptureFixture[str], db: TestDb, tmp_path: Path, quoted: bool) -> None:
    db.execute("CREATE TABLE t (id int, v text)")
    path = tmp_path / "big.csv"
    big = b"x" * (25 << 20)
    with path.open("wb") as fh:
        fh.write(b"1,a\n2,")
        if quoted:
            fh.write(b'"' + big + b'""\n' + big + b'"\n')
        else:
            fh.write(big + big + b"\n")
        fh.write(b'3,c\n4,b"ad\n')
    result, _ = import_json(capsys, db, path, "t", "--batch-bytes", str(1 << 20))
    assert_balanced(result, 4, 3, 1)
    want = (50 << 20) + (2 if quoted else 0)
    assert db.execute("SELECT id, length(v) FROM t ORDER BY id") == [(1, 1), (2, want), (3, 1)]


def test_2000_columns(capsys: pytest.CaptureFixture[str], db: TestDb, tmp_path: Path) -> None:
    """PostgreSQL tables stop at 1,600 columns: lines of 2,000 fields are rejected, lines that fit load."""
    cols = ", ".join(f"c{i} int" for i in range(1600))
    db.execute(f"CREATE TABLE t ({cols})")
    path = tmp_path / "wide.csv"
    fit = ",".join(str(i) for i in range(1600)).encode()
    wide = ",".join(str(i) for i in range(2000)).encode()
    path.write_bytes(fit + b"\n" + wide + b"\n" + fit + b"\n" + b'"' + wide.replace(b",", b'","') + b'"\n')
    result, _ = import_json(capsys, db, path, "t")
    assert_balanced(result, 4, 2, 2)
    assert db.execute("SELECT count(*), sum(c1599) FROM t") == [(2, 3198)]


def test_header_only_and_empty_file(capsys: pytest.CaptureFixture[str], db: TestDb, tmp_path: Path) -> None:
    db.execute("CREATE TABLE t (id int, v text)")
    head = tmp_path / "head.csv"
    head.write_bytes(b"id,v\n")
    result, _ = import_json(capsys, db, head, "t", "--skip-header")
    assert_balanced(result, 0, 0, 0)
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    result, _ = import_json(capsys, db, empty, "t")
    assert_balanced(result, 0, 0, 0)
    assert db.execute("SELECT count(*) FROM t") == [(0,)]


def test_a_miscount_fails_loudly(capsys: pytest.CaptureFixture[str], db: TestDb, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """If the splitter and the server ever disagree, the batch is rolled back and the job fails saying so."""
    from kwtui.transfer import loader

    real = loader.record_batches

    def off_by_one(*args: Any, **kwargs: Any) -> Any:
        for b in real(*args, **kwargs):
            b.records += 1
            yield b

    monkeypatch.setattr(loader, "record_batches", off_by_one)
    db.execute("CREATE TABLE t (id int, v text)")
    path = tmp_path / "d.csv"
    path.write_bytes(b"1,a\n2,b\n")
    code, out, err = run(capsys, "import", "--dsn", db.uri, "--from", str(path), "--into", "t")
    assert code == 1
    assert "hold 3 records but 2 were loaded and 0 rejected" in err and "public.t 0 rows committed" in err
    assert db.execute("SELECT count(*) FROM t") == [(0,)]
