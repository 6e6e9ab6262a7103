"""kwtui sync: incremental sync by a watermark, repeatable, with delete detection (embedded PostgreSQL)."""

from __future__ import annotations

import json

import pytest

from kwtui.connection import ConnectionService, ConnectTarget
from kwtui.jobs import Journal
from kwtui.sync import sync_table, upsert_statement

from .test_cli import run
from .test_transfer import checksum, execute

ITEMS = """
CREATE TABLE items (
    id int PRIMARY KEY,
    name text,
    price numeric(10, 2),
    doc jsonb,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO items SELECT g, 'item ' || g, g * 1.5, jsonb_build_object('g', g), now() - interval '1 day'
FROM generate_series(1, 300) g;
"""


def _sync(capsys: pytest.CaptureFixture[str], src: str, dst: str, *extra: str) -> dict:
    code, out, err = run(capsys, "sync", "--source", src, "--target", dst, "--table", "items",
                         "--watermark", "updated_at", "--json", *extra)
    assert code == 0, err
    return json.loads(out)


def test_cli_sync_makes_target_equal_then_moves_nothing(capsys: pytest.CaptureFixture[str],
                                                        two_dbs: tuple[str, str]) -> None:
    src, dst = two_dbs
    execute(src, ITEMS)
    code, _, err = run(capsys, "transfer", "--source", src, "--target", dst, "--table", "items")
    assert code == 0, err
    assert checksum(src, "items", "id") == checksum(dst, "items", "id")
    execute(src, "INSERT INTO items (id, name, price, doc) VALUES (301, 'new', 9.99, '{\"n\": 1}'), (302, 'newer', NULL, NULL);"
                 "UPDATE items SET price = price + 1, updated_at = now() WHERE id IN (5, 6, 7);"
                 "UPDATE items SET name = 'late', updated_at = now() - interval '2 minutes' WHERE id = 8;")
    assert checksum(src, "items", "id") != checksum(dst, "items", "id")
    first = _sync(capsys, src, dst)
    assert first["rows_moved"] == 6 and first["ok"]
    assert first["watermark_before"] is not None and first["watermark_after"] > first["watermark_before"]
    assert checksum(src, "items", "id") == checksum(dst, "items", "id")
    second = _sync(capsys, src, dst)
    assert second["rows_moved"] == 0 and second["watermark_before"] == first["watermark_after"]
    assert second["rows_read"] >= 5  # the overlap window re-reads the recent rows, but nothing changes
    # a row committed late (its watermark inside the overlap window) is still caught
    execute(src, "UPDATE items SET name = 'committed late', updated_at = now() - interval '1 minute' WHERE id = 9")
    assert _sync(capsys, src, dst)["rows_moved"] == 1
    assert checksum(src, "items", "id") == checksum(dst, "items", "id")
    # delete detection by key-set comparison
    execute(src, "DELETE FROM items WHERE id IN (3, 301)")
    assert _sync(capsys, src, dst)["deleted"] == 0  # off by default
    third = _sync(capsys, src, dst, "--delete-detection")
    assert third["deleted"] == 2 and third["rows_moved"] == 0
    assert checksum(src, "items", "id") == checksum(dst, "items", "id")
    # the text form
    code, out, _ = run(capsys, "sync", "--source", src, "--target", dst, "--table", "public.items",
                       "--watermark", "updated_at")
    assert code == 0 and "0 rows moved" in out


async def test_numeric_watermark_composite_key_and_journal(two_dbs: tuple[str, str], tmp_path) -> None:  # type: ignore[no-untyped-def]
    src, dst = two_dbs
    ddl = "CREATE TABLE ev (a int, b text, seq bigint NOT NULL, v text, PRIMARY KEY (a, b));"
    execute(src, ddl + "INSERT INTO ev SELECT g % 10, 'k' || g, g, 'v' FROM generate_series(1, 50) g")
    execute(dst, ddl)
    journal = Journal(tmp_path / "jobs.db")
    async with ConnectionService(ConnectTarget.from_dsn(src)) as s, ConnectionService(ConnectTarget.from_dsn(dst)) as d:
        r1 = await sync_table(s, d, "ev", "seq", journal=journal, page_rows=7)  # empty target: everything
        assert (r1.rows_moved, r1.watermark_before, r1.watermark_after) == (50, None, "50")
        execute(src, "INSERT INTO ev VALUES (1, 'x', 51, 'new'); UPDATE ev SET v = 'w', seq = 52 WHERE b = 'k3'")
        r2 = await sync_table(s, d, "ev", "seq", journal=journal, overlap=5)
        assert (r2.rows_moved, r2.watermark_before, r2.watermark_after, r2.lower_bound) == (2, "50", "52", "45")
        r3 = await sync_table(s, d, "ev", "seq", journal=journal, overlap=5)
        assert r3.rows_moved == 0 and r3.rows_read == 5  # seq 48..52
    assert journal.get_watermark(ConnectTarget.from_dsn(src).describe(), ConnectTarget.from_dsn(dst).describe(),
                                 "public.ev", "seq") == "52"
    assert checksum(src, "ev", "a, b") == checksum(dst, "ev", "a, b")


def test_sync_usage_errors(capsys: pytest.CaptureFixture[str], two_dbs: tuple[str, str]) -> None:
    src, dst = two_dbs
    execute(src, "CREATE TABLE nokey (x int, t timestamptz); CREATE TABLE items (id int PRIMARY KEY, t timestamptz)")
    base = ["sync", "--source", src, "--target", dst, "--watermark", "t"]
    code, _, err = run(capsys, *base, "--table", "nokey")
    assert code == 2 and "no primary key" in err
    code, _, err = run(capsys, *base, "--table", "items")
    assert code == 2 and "target table public.items does not exist" in err
    code, _, err = run(capsys, "sync", "--source", src, "--target", dst, "--table", "items", "--watermark", "nope")
    assert code == 2 and "no column nope" in err


def test_upsert_statement_text() -> None:
    text = upsert_statement("public", "t", ["id", "v", "w"], ["id"], 2).as_string(None)
    assert text == ('INSERT INTO "public"."t" AS kw_t ("id", "v", "w") VALUES (%s, %s, %s), (%s, %s, %s) '
                    'ON CONFLICT ("id") DO UPDATE SET "v" = EXCLUDED."v", "w" = EXCLUDED."w" '
                    'WHERE ROW(kw_t."v"::text, kw_t."w"::text) IS DISTINCT FROM ROW(EXCLUDED."v"::text, EXCLUDED."w"::text)')
    assert upsert_statement("public", "t", ["id"], ["id"], 1).as_string(None).endswith("DO NOTHING")


