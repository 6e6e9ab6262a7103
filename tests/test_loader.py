"""CSV loading with COPY: good rows land, bad rows go to the reject file with line and reason."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest

from kwtui.transfer.csvdialect import CsvDialect
from kwtui.transfer.loader import CsvLoader, TooManyRejects, parity_batches

if TYPE_CHECKING:
    from .conftest import TestDb

DDL = "CREATE TABLE t (id int PRIMARY KEY, name text, amount numeric(10,2), day date)"


def write_file(path: Path, bad: dict[int, bytes]) -> None:
    """1,000 lines; the line numbers in ``bad`` (1-based) get the given raw bytes instead."""
    lines = []
    for i in range(1, 1001):
        if i in bad:
            lines.append(bad[i])
        else:
            name = f'"name, with comma {i}"' if i % 7 == 0 else f"name {i}"
            lines.append(f"{i},{name},{i}.50,2024-01-{1 + i % 28:02d}\n".encode())
    path.write_bytes(b"".join(lines))


BAD = {
    10: b"10,too few fields\n",
    200: b"200,bad amount,not-a-number,2024-01-01\n",
    450: b"450,bad date,1.00,2024-13-45\n",
    700: b"700,\xff\xfe bad utf-8,1.00,2024-01-01\n",
    1000: b'1000,"unterminated quote,1.00,2024-01-01\n',
}


def load(db: TestDb, path: Path, **kw: object) -> CsvLoader:
    loader = CsvLoader(psycopg.conninfo.conninfo_to_dict(db.conninfo), "public", "t", None, CsvDialect(),
                       batch_bytes=4096, **kw)  # type: ignore[arg-type]
    loader.load([path])
    return loader


@pytest.mark.parametrize("workers", [1, 2])
def test_1000_lines_5_bad_995_land(db: TestDb, tmp_path: Path, workers: int) -> None:
    db.execute(DDL)
    path = tmp_path / "data.csv"
    write_file(path, BAD)
    loader = load(db, path, reject_path=tmp_path / "reject.n1.0.txt", workers=workers)
    assert loader.result.rows == 995 and loader.result.rejects == 5
    assert db.execute("SELECT count(*) FROM t") == [(995,)]
    assert db.execute("SELECT count(*) FROM t WHERE id IN (10, 200, 450, 700, 1000)") == [(0,)]
    text = (tmp_path / "reject.n1.0.txt").read_text()
    for line in BAD:
        assert f"data.csv:{line}:" in text, text
    assert "column amount" in text and "column day" in text  # the server says which column
    assert "not valid UTF-8" in text and "never closed" in text
    assert "too few fields" in text and "unterminated quote" in text  # the raw lines


def test_multiline_records_keep_line_numbers(db: TestDb, tmp_path: Path) -> None:
    db.execute(DDL)
    path = tmp_path / "multi.csv"
    path.write_bytes(b'1,"two\nlines",1.00,2024-01-01\n2,"x",oops,2024-01-01\n3,"three\nmore\nlines",3.00,2024-01-03\n'
                     b"4,plain,4.00,2024-01-04\n")
    loader = load(db, path, reject_path=tmp_path / "r.txt")
    assert loader.result.rows == 3 and loader.result.rejects == 1
    assert "multi.csv:3:" in (tmp_path / "r.txt").read_text()  # record 2 starts on physical line 3
    assert db.execute("SELECT name FROM t WHERE id = 3") == [("three\nmore\nlines",)]


def test_max_rejects_stops(db: TestDb, tmp_path: Path) -> None:
    db.execute(DDL)
    path = tmp_path / "data.csv"
    write_file(path, BAD)
    with pytest.raises(TooManyRejects):
        load(db, path, reject_path=tmp_path / "r.txt", max_rejects=2)


def test_null_and_empty_string_and_header(db: TestDb, tmp_path: Path) -> None:
    db.execute(DDL)
    path = tmp_path / "h.csv"
    path.write_bytes(b'id,name,amount,day\n1,,1,2024-01-01\n2,"",2,2024-01-01\n')
    loader = load(db, path, skip_header=True)
    assert loader.result.rows == 2
    assert db.execute("SELECT id, name FROM t ORDER BY id") == [(1, None), (2, "")]


def test_parity_batches_cut_only_between_records(tmp_path: Path) -> None:
    import io

    data = b"".join(f'{i},"a\nb ""q"" {i}",x\n'.encode() for i in range(2000))
    batches = list(parity_batches(io.BufferedReader(io.BytesIO(data)), CsvDialect(), batch_bytes=1000))  # type: ignore[arg-type]
    assert b"".join(b.data for b in batches) == data
    assert len(batches) > 5
    for b in batches:
        assert b.data.count(b'"') % 2 == 0 and b.data.endswith(b"\n")
    assert [b.first_line for b in batches][:2] == [1, 1 + batches[0].lines]


def test_parallel_batches_sharing_keys_keep_one_of_each(db: TestDb, tmp_path: Path) -> None:
    """Two workers load two batches that hold each other's keys (a deadlock when they meet):
    one copy of each key lands, the other is rejected, whichever batch won."""
    db.execute("CREATE TABLE d (id int PRIMARY KEY, v text)")
    first = [1, *range(2, 100), 5000]
    second = [5000, *range(101, 199), 1]
    path = tmp_path / "keys.csv"
    path.write_bytes(b"".join(f"{i:05d},x\n".encode() for i in first + second))  # 8 bytes a line
    loader = CsvLoader(psycopg.conninfo.conninfo_to_dict(db.conninfo), "public", "d", None, CsvDialect(),
                       batch_bytes=800, workers=2, reject_path=tmp_path / "reject.txt")
    loader.load([path])
    assert loader.result.batches == 2
    assert loader.result.rows == 198 and loader.result.rejects == 2
    assert db.execute("SELECT count(*), count(DISTINCT id) FROM d") == [(198, 198)]
    text = (tmp_path / "reject.txt").read_text()
    assert "00001,x" in text and "05000,x" in text


def test_parity_batches_small_first_batch() -> None:
    import io

    data = b"".join(f'{i},"a\nb ""q"" {i}",x\n'.encode() for i in range(2000))
    batches = list(parity_batches(io.BufferedReader(io.BytesIO(data)), CsvDialect(),  # type: ignore[arg-type]
                                  batch_bytes=4000, first_bytes=500))
    assert b"".join(b.data for b in batches) == data
    assert len(batches[0].data) <= 500 < len(batches[1].data)
    for b in batches:
        assert b.data.count(b'"') % 2 == 0 and b.data.endswith(b"\n")
    assert [b.first_line for b in batches][:2] == [1, 1 + batches[0].lines]


def test_insert_loader_keeps_good_rows_too(db: TestDb, tmp_path: Path) -> None:
    """The INSERT path (targets without COPY, as KWDB TS tables) bisects refused batches the same way."""
    from kwtui.transfer.loader import InsertLoader

    db.execute(DDL)
    path = tmp_path / "data.csv"
    write_file(path, BAD)
    loader = InsertLoader(psycopg.conninfo.conninfo_to_dict(db.conninfo), "public", "t", None, CsvDialect(),
                          batch_rows=64, reject_path=tmp_path / "r.txt")
    loader.load([path])
    assert loader.result.rows == 995 and loader.result.rejects == 5
    assert db.execute("SELECT count(*) FROM t") == [(995,)]
    text = (tmp_path / "r.txt").read_text()
    assert all(f"data.csv:{n}:" in text for n in BAD)
