"""Attacks on kwtui sync's trust in its stored watermark: rows lost on the target above the
target's own maximum must be sent again, and the run must say it started from the target's
value. Real embedded PostgreSQL on both sides."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from kwtui.connection import ConnectionService, ConnectTarget
from kwtui.jobs import Journal
from kwtui.sync import SyncResult, sync_table

from ..test_cli import run
from ..test_transfer import checksum, execute

#: one row an hour: the watermarks of the last rows lie far above the 5-minute overlap window
ITEMS = """
CREATE TABLE items (id int PRIMARY KEY, name text, price numeric(10, 2), updated_at timestamptz NOT NULL);
INSERT INTO items SELECT g, 'item ' || g, g * 1.5, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 hour'
FROM generate_series(1, 300) g;
"""


def _sync(capsys: pytest.CaptureFixture[str], src: str, dst: str) -> dict[str, Any]:
    code, out, err = run(capsys, "sync", "--source", src, "--target", dst, "--table", "items",
                         "--watermark", "updated_at", "--json")
    assert code == 0, err
    return json.loads(out)


def _ids(uri: str) -> set[int]:
    with psycopg.connect(uri) as conn:
        return {r[0] for r in conn.execute("SELECT id FROM items").fetchall()}


def test_rows_deleted_on_the_target_above_its_maximum_are_sent_again(
        two_dbs: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    """Attack: after a sync stored its watermark, the newest 20 rows are deleted on the
    target. The next sync must notice that the target's own maximum is behind the stored
    watermark, start from the target's value, re-send exactly those 20 rows and say so
    (before the fix it trusted the journal: 0 rows moved, the target stayed 20 rows short)."""
    src, dst = two_dbs
    execute(src, ITEMS)
    code, _, err = run(capsys, "transfer", "--source", src, "--target", dst, "--table", "items")
    assert code == 0, err
    first = _sync(capsys, src, dst)  # stores the watermark: the source's maximum
    assert first["rows_moved"] == 0 and first.get("notice") is None
    assert first["watermark_after"] == "2024-01-13 12:00:00+00"  # row 300
    execute(dst, "DELETE FROM items WHERE id > 280")
    assert len(_ids(dst)) == 280

    again = _sync(capsys, src, dst)
    assert again["rows_moved"] == 20, again
    assert again["watermark_before"] == "2024-01-12 16:00:00+00"  # the target's maximum: row 280
    assert again["watermark_after"] == "2024-01-13 12:00:00+00"
    notice = again["notice"]
    assert notice is not None and "behind the stored watermark of updated_at (2024-01-13 12:00:00+00)" in notice
    assert "2024-01-12 16:00:00+00" in notice and "synced from the target's value" in notice
    assert _ids(dst) == set(range(1, 301))
    assert checksum(src, "items", "id") == checksum(dst, "items", "id")

    second = _sync(capsys, src, dst)
    assert second["rows_moved"] == 0 and second["notice"] is None, second

    # the text form says it too
    execute(dst, "DELETE FROM items WHERE id > 295")
    code, out, _ = run(capsys, "sync", "--source", src, "--target", dst, "--table", "items",
                       "--watermark", "updated_at")
    assert code == 0
    assert "public.items -> public.items: 5 rows moved" in out
    assert "notice: the target is behind the stored watermark of updated_at (2024-01-13 12:00:00+00): " \
           "its own maximum is 2024-01-13 07:00:00+00" in out
    assert checksum(src, "items", "id") == checksum(dst, "items", "id")


def test_numeric_watermark_target_behind_or_emptied(two_dbs: tuple[str, str], tmp_path: Path) -> None:
    """Attack, through the API with a numeric watermark (overlap 1,000 units, rows 100 apart):
    the target loses its newest 30 rows, then all of them. Each time exactly the lost rows
    come back and the result says where the run started; a run after that moves 0 rows."""
    src, dst = two_dbs
    ddl = "CREATE TABLE ev (id int PRIMARY KEY, seq bigint NOT NULL, v text);"
    execute(src, ddl + "INSERT INTO ev SELECT g, g * 100, 'v' || g FROM generate_series(1, 200) g")
    execute(dst, ddl)
    journal = Journal(tmp_path / "jobs.db")

    async def sync() -> SyncResult:
        async with ConnectionService(ConnectTarget.from_dsn(src)) as s, \
                ConnectionService(ConnectTarget.from_dsn(dst)) as d:
            return await sync_table(s, d, "ev", "seq", journal=journal)

    first = asyncio.run(sync())
    assert (first.rows_moved, first.watermark_after) == (200, "20000")
    execute(dst, "DELETE FROM ev WHERE id > 170")
    r = asyncio.run(sync())
    assert r.rows_moved == 30 and r.watermark_before == "17000" and r.lower_bound == "16000"
    assert first.notice is None
    assert r.notice is not None and "its own maximum is 17000" in r.notice and "(20000)" in r.notice
    assert asyncio.run(sync()).rows_moved == 0
    execute(dst, "DELETE FROM ev")
    r = asyncio.run(sync())
    assert r.rows_moved == 200 and r.watermark_before is None and r.lower_bound is None
    assert r.notice == ("the target table public.ev is empty although the stored watermark of seq is 20000: "
                        "synced from the start")
    again = asyncio.run(sync())
    assert again.rows_moved == 0 and again.notice is None
    assert checksum(src, "ev", "id") == checksum(dst, "ev", "id")
