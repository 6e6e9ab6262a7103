"""The one request model (kwtui.requests): checked the same way from the CLI and the wizards,
run by one core function per kind as a journaled job."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from kwtui.errors import UsageError
from kwtui.jobs import COMPLETED, Journal
from kwtui.requests import ExportRequest, ImportRequest

from .test_cli import run

if TYPE_CHECKING:
    from .conftest import TestDb


@pytest.mark.parametrize(("kwargs", "said"), [
    ({}, "export one thing"),
    ({"table": "t", "database": "d"}, "export one thing"),
    ({"table": "t", "chunk_rows": -1}, "rows per file"),
    ({"table": "t", "chunk_rows": 100_001}, "rows per file"),
    ({"table": "t", "meta": False, "data": False}, "nothing to export"),
    ({"query": "select 1", "data": False}, "a query has no table definition"),
])
def test_export_request_check(kwargs: dict[str, object], said: str, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=said):
        ExportRequest(tmp_path / "out", **kwargs).check()  # type: ignore[arg-type]
    assert ExportRequest(tmp_path / "out", table="t").check().what == "t"


@pytest.mark.parametrize(("kwargs", "said"), [
    ({}, "say where the rows go"),
    ({"into": "t", "database": True}, "not a database export"),
    ({"create": True, "columns": ("a",)}, "a column list goes with loading into a table"),
    ({"into": "t", "max_rejects": -1}, "0 or more"),
    ({"into": "t", "batch_rows": 0}, "rows per batch"),
    ({"into": "t", "batch_bytes": 0}, "bytes per batch"),
    ({"into": "t", "workers": 0}, "workers"),
    ({"into": "t", "if_exists": "merge"}, "one of fail, append"),
])
def test_import_request_check(kwargs: dict[str, object], said: str, tmp_path: Path) -> None:
    src = tmp_path / "a.csv"
    src.write_text("1\n")
    with pytest.raises(UsageError, match=said):
        ImportRequest(src, **kwargs).check()  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="does not exist"):
        ImportRequest(tmp_path / "missing.csv", into="t").check()
    assert ImportRequest(src, into="t").check().into == "t"


def test_cli_export_and_import_are_journaled_jobs(capsys: pytest.CaptureFixture[str], db: TestDb, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI builds the same requests and runs them through the same functions as the wizards."""
    monkeypatch.setenv("KWTUI_JOURNAL", str(tmp_path / "jobs.db"))
    db.execute("CREATE TABLE src (id int PRIMARY KEY, v text)")
    db.execute("INSERT INTO src SELECT g, 'v' || g FROM generate_series(1, 25) g")
    db.execute("CREATE TABLE dst (id int PRIMARY KEY, v text)")
    code, _, err = run(capsys, "export", "--dsn", db.uri, "--table", "public.src", "--to", str(tmp_path / "out"))
    assert code == 0, err
    code, _, err = run(capsys, "import", "--dsn", db.uri, "--from", str(tmp_path / "out"), "--into", "public.dst")
    assert code == 0, err
    jobs = Journal(tmp_path / "jobs.db").jobs()
    assert [(j.kind, j.status, j.rows) for j in jobs] == [("import", COMPLETED, 25), ("export", COMPLETED, 25)]
    # a wrong request is refused before any job is written
    code, _, err = run(capsys, "import", "--dsn", db.uri, "--from", str(tmp_path / "out"), "--into", "public.dst",
                       "--if-exists", "merge")
    assert code == 2 and len(Journal(tmp_path / "jobs.db").jobs()) == 2


@pytest.mark.parametrize(("kwargs", "said"), [
    ({"tables": ()}, "name the tables"),
    ({"workers": 0}, "workers"),
    ({"batch_rows": 0}, "rows per INSERT"),
    ({"chunk_rows": 0}, "rows per batch"),
    ({"if_exists": "merge"}, "one of fail, append"),
])
def test_transfer_request_check(kwargs: dict[str, object], said: str) -> None:
    from kwtui.requests import TransferRequest

    with pytest.raises(UsageError, match=said):
        TransferRequest(**kwargs).check()  # type: ignore[arg-type]
    assert TransferRequest(("public.t",), workers=2).check().options().workers == 2


def test_validate_request_check() -> None:
    from kwtui.requests import ValidateRequest

    with pytest.raises(UsageError, match="needs column names"):
        ValidateRequest(("a",), key=()).check()
    with pytest.raises(UsageError, match="key override names the key of one table"):
        ValidateRequest(("a", "b"), key=("id",)).check()
    with pytest.raises(UsageError, match="level"):
        ValidateRequest(("a",), level="everything").check()
    assert ValidateRequest(("a",), key=("id",)).check().options().level == "checksum"
