"""Attack: an export that stops half way (kill -9, a full disk) must not look whole.

Before issue 16 an interrupted export left meta.sql and whole-looking chunks and no marker,
and ``kwtui import --create`` loaded part of the rows with exit 0 and no warning. Now the
manifest, written first as incomplete and last as complete, says so; import refuses such a
directory, and with ``--allow-incomplete`` loads exactly the rows present and says so.
"""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ..test_cli import error_lines, run
from .helpers import execute

MANIFEST = "kwtui.manifest.json"  # the export's manifest (kwtui.transfer.manifest.MANIFEST)

SEED = int(os.environ.get("KWTUI_ATTACK_SEED", "16"))


def records_present(directory: Path) -> int:
    """Records in the whole chunks of an export (the data has no quoted line breaks)."""
    return sum(p.read_bytes().count(b"\n") for p in directory.glob("n1.*.csv"))


def manifest(directory: Path) -> dict[str, Any] | None:
    path = directory / MANIFEST
    return json.loads(path.read_text()) if path.exists() else None


def assert_refused_then_loaded_with_flag(capsys: pytest.CaptureFixture[str], dst: str, out_dir: Path) -> int:
    doc = manifest(out_dir)
    assert doc is None or doc["complete"] is False, doc
    present = records_present(out_dir)
    code, out, err = run(capsys, "import", "--dsn", dst, "--from", str(out_dir), "--create")
    assert code == 1, (out, err)
    assert "incomplete export" in err and "--allow-incomplete" in err, err
    assert len(error_lines(err)) == 1
    assert execute(dst, "SELECT count(*) FROM pg_tables WHERE tablename = 'orders'")[0][0] == 0  # nothing made
    code, out, err = run(capsys, "import", "--dsn", dst, "--from", str(out_dir), "--create", "--allow-incomplete",
                         "--workers", "1")
    assert code == 0, (out, err)
    assert execute(dst, "SELECT count(*) FROM orders")[0][0] == present
    assert f"loaded {present:,} rows from an incomplete export" in err, err
    assert f"orders: {present:,} records read = {present:,} rows loaded + 0 lines rejected" in out
    return present


def test_kill_9_of_an_export_at_a_random_point(capsys: pytest.CaptureFixture[str], two_dbs: tuple[str, str],
                                               tmp_path: Path) -> None:
    src, dst = two_dbs
    rows = 1_000_000
    execute(src, f"CREATE TABLE orders (id bigint PRIMARY KEY, v text); "
                 f"INSERT INTO orders SELECT g, md5(g::text) FROM generate_series(1, {rows}) g")
    rng = random.Random(SEED)
    kill_at = rng.randint(2, 400)  # kill once this chunk is in place (the export writes 10,000)
    with capsys.disabled():
        print(f"\nreplay: KWTUI_ATTACK_SEED={SEED} kills the export when n1.{kill_at}.csv exists")
    out_dir = tmp_path / "orders"
    proc = subprocess.Popen([sys.executable, "-m", "kwtui", "export", "--dsn", src, "--table", "public.orders",
                             "--to", str(out_dir), "--chunk-rows", "100"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    target = out_dir / f"n1.{kill_at}.csv"
    deadline = time.monotonic() + 120
    while not target.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.0005)
    finished = proc.poll() is not None
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not finished, f"seed {SEED}: the export ended before chunk {kill_at}: {proc.communicate()}"
    present = assert_refused_then_loaded_with_flag(capsys, dst, out_dir)
    assert 0 < present < rows, f"seed {SEED}, kill at chunk {kill_at}"


def test_disk_full_during_an_export(capsys: pytest.CaptureFixture[str], two_dbs: tuple[str, str], tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    src, dst = two_dbs
    execute(src, "CREATE TABLE orders (id bigint PRIMARY KEY, v text); "
                 "INSERT INTO orders SELECT g, md5(g::text) FROM generate_series(1, 20000) g")
    budget = random.Random(SEED).randint(50_000, 600_000)  # bytes the "disk" takes before ENOSPC
    with capsys.disabled():
        print(f"\nreplay: KWTUI_ATTACK_SEED={SEED}: the disk is full after {budget:,} bytes")
    import builtins

    import kwtui.transfer.files as files

    written = [0]
    real_open = builtins.open

    class FullDisk:
        def __init__(self, f: Any) -> None:
            self.f = f

        def write(self, data: bytes) -> int:
            if written[0] + len(data) > budget:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            written[0] += len(data)
            return int(self.f.write(data))

        def __getattr__(self, name: str) -> Any:
            return getattr(self.f, name)

    def fake_open(path: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        f = real_open(path, mode, *args, **kwargs)
        return FullDisk(f) if "w" in mode and str(path).endswith(".csv.part") else f

    monkeypatch.setattr(files, "open", fake_open, raising=False)
    out_dir = tmp_path / "orders"
    code, out, err = run(capsys, "export", "--dsn", src, "--table", "public.orders", "--to", str(out_dir),
                         "--chunk-rows", "1000")
    monkeypatch.undo()
    assert code == 1, (out, err)
    assert "disk full" in err and "incomplete" in err and "Traceback" not in err, err
    assert not list(out_dir.glob("*.part"))
    doc = manifest(out_dir)
    assert doc is not None and doc["complete"] is False and "No space left" in doc.get("error", "")
    present = assert_refused_then_loaded_with_flag(capsys, dst, out_dir)
    assert present == sum(f["rows"] for f in doc["tables"][0]["files"])  # each whole chunk was listed
    assert 0 < present < 20000


def test_not_enough_free_space_is_refused_before_a_row_moves(capsys: pytest.CaptureFixture[str], db: Any,
                                                              tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    execute(db.uri, "CREATE TABLE orders (id bigint PRIMARY KEY, v text); "
                    "INSERT INTO orders SELECT g, md5(g::text) FROM generate_series(1, 20000) g; ANALYZE orders")
    import shutil

    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: real(p)._replace(free=100_000))  # 0.1 MB free; table ~1.5 MB
    out_dir = tmp_path / "orders"
    code, out, err = run(capsys, "export", "--dsn", db.uri, "--table", "public.orders", "--to", str(out_dir))
    assert code == 1, (out, err)
    assert "not enough disk space" in err and "0.1 MB free" in err, err
    assert not out_dir.exists() or not any(out_dir.iterdir())


def test_dropped_connection_during_an_export(capsys: pytest.CaptureFixture[str], two_dbs: tuple[str, str],
                                             tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The source's backend is terminated mid-COPY: the export fails, its manifest says incomplete."""
    src, dst = two_dbs
    execute(src, "CREATE TABLE orders (id bigint PRIMARY KEY, v text); "
                 "INSERT INTO orders SELECT g, md5(g::text) FROM generate_series(1, 200000) g")
    import kwtui.transfer.files as files

    real = files.copy_out_blocks
    src_name = src.rsplit("/", 1)[1]

    def dropping(conn: Any, *args: Any, **kwargs: Any) -> Any:
        for i, item in enumerate(real(conn, *args, **kwargs)):
            if i == 7:  # the connection drops after a few blocks
                execute(src.rsplit("/", 1)[0] + "/postgres",
                        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{src_name}' "
                        "AND pid <> pg_backend_pid()")
            yield item

    monkeypatch.setattr(files, "copy_out_blocks", dropping)
    out_dir = tmp_path / "orders"
    code, out, err = run(capsys, "export", "--dsn", src, "--table", "public.orders", "--to", str(out_dir),
                         "--chunk-rows", "1000")
    monkeypatch.undo()
    assert code == 1, (out, err)
    assert_refused_then_loaded_with_flag(capsys, dst, out_dir)
