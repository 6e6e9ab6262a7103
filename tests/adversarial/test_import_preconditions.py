"""Attacks on an import's preconditions and limits: it refuses before a row moves, or it
stops saying exactly what it committed and how to continue."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from kwtui.jobs import Journal

from ..test_cli import error_lines, run
from .test_import_csv import assert_balanced, import_json

if TYPE_CHECKING:
    from ..conftest import TestDb


def data(path: Path, good_before: int, good_after: int) -> None:
    """``good_before`` good lines, one line with a bare quote, ``good_after`` good lines."""
    with path.open("wb") as fh:
        for i in range(1, good_before + 1):
            fh.write(f"{i},name {i}\n".encode())
        fh.write(f'{good_before + 1},bad" quote\n'.encode())
        for i in range(good_before + 2, good_before + good_after + 2):
            fh.write(f"{i},name {i}\n".encode())


def test_unwritable_reject_file_is_refused_before_any_row_moves(capsys: pytest.CaptureFixture[str], db: TestDb,
                                                                  tmp_path: Path) -> None:
    db.execute("CREATE TABLE t (id int, v text)")
    path = tmp_path / "d.csv"
    data(path, 5_000, 100)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    jobs_before = len(Journal().jobs(10_000))
    code, _, err = run(capsys, "import", "--dsn", db.uri, "--from", str(path), "--into", "t",
                       "--reject-file", str(blocker / "reject.txt"), "--batch-bytes", "20000")
    assert code == 1, err
    assert "cannot write the reject file" in err and "nothing was loaded" in err
    assert "Traceback" not in err and len(error_lines(err)) == 1
    assert db.execute("SELECT count(*) FROM t") == [(0,)]
    assert len(Journal().jobs(10_000)) == jobs_before  # no job either: nothing to resume


def test_max_rejects_0_says_what_it_committed_and_resumes(capsys: pytest.CaptureFixture[str], db: TestDb,
                                                          tmp_path: Path) -> None:
    db.execute("CREATE TABLE t (id int, v text)")
    path = tmp_path / "d.csv"
    data(path, 5_000, 100)
    code, _, err = run(capsys, "import", "--dsn", db.uri, "--from", str(path), "--into", "t", "--max-rejects", "0",
                       "--batch-bytes", "20000", "--workers", "1")
    assert code == 1, err
    landed = db.execute("SELECT count(*) FROM t")[0][0]
    assert 0 < landed <= 5_000  # the batches before the bad line committed; the bad line's batch did not
    assert "more than 0 rejected lines" in err and "line 5001: bare" in err
    assert f"public.t {landed:,} rows committed" in err
    m = re.search(r"kwtui jobs resume (\d+)", err)
    assert m, err
    job = Journal().get(int(m.group(1)))
    assert job.status == "failed" and job.rows == landed and job.rejects == 0
    # the job continues where it stopped, with a new limit: every line once
    code, out, err = run(capsys, "jobs", "resume", m.group(1), "--max-rejects", "1", "--json")
    assert code == 0, err
    import json

    result = json.loads(out.splitlines()[-1])
    assert_balanced(result, 5_101, 5_100, 1)
    assert db.execute("SELECT count(*), count(DISTINCT id) FROM t") == [(5_100, 5_100)]


def test_resume_of_an_import_is_not_taken_for_a_server(capsys: pytest.CaptureFixture[str], db: TestDb,
                                                        tmp_path: Path) -> None:
    """The file path of an import job is its source, not a server to connect to."""
    db.execute("CREATE TABLE t (id int, v text)")
    path = tmp_path / "d.csv"
    data(path, 300, 300)
    code, _, err = run(capsys, "import", "--dsn", db.uri, "--from", str(path), "--into", "t", "--max-rejects", "0")
    assert code == 1
    m = re.search(r"kwtui jobs resume (\d+)", err)
    assert m, err
    code, out, err = run(capsys, "jobs", "resume", m.group(1), "--max-rejects", "5")
    assert code == 0, err
    assert "601 records read = 600 rows loaded + 1 lines rejected" in out
    code, out, err = run(capsys, "jobs", "show", m.group(1))
    assert "601 records read, 600 rows loaded, 1 lines rejected" in out
    assert db.execute("SELECT count(*) FROM t") == [(600,)]


def test_json_reports_the_arithmetic(capsys: pytest.CaptureFixture[str], db: TestDb, tmp_path: Path) -> None:
    db.execute("CREATE TABLE t (id int, v text)")
    path = tmp_path / "d.csv"
    data(path, 10, 10)
    result, _ = import_json(capsys, db, path, "t")
    assert_balanced(result, 21, 20, 1)


def test_resume_refuses_a_file_that_changed(capsys: pytest.CaptureFixture[str], db: TestDb, tmp_path: Path) -> None:
    """Byte offsets of a changed file mean nothing: the resume refuses before a row moves."""
    db.execute("CREATE TABLE t (id int, v text)")
    path = tmp_path / "d.csv"
    data(path, 2_000, 100)
    code, _, err = run(capsys, "import", "--dsn", db.uri, "--from", str(path), "--into", "t", "--max-rejects", "0",
                       "--batch-bytes", "4000", "--workers", "1")
    assert code == 1
    m = re.search(r"kwtui jobs resume (\d+)", err)
    assert m, err
    landed = db.execute("SELECT count(*) FROM t")[0][0]
    with path.open("ab") as fh:
        fh.write(b"9999,appended\n")
    code, _, err = run(capsys, "jobs", "resume", m.group(1), "--max-rejects", "5")
    assert code == 2 and "changed since job" in err and "cannot be resumed exactly" in err, err
    assert db.execute("SELECT count(*) FROM t") == [(landed,)]
