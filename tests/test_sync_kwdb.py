"""Sync into KWDB moves only what changed (issue 17: catch-up re-sent its overlap window every time)."""

from __future__ import annotations

import json

import psycopg
import pytest

from .test_cli import run

pytestmark = pytest.mark.kwdb


def test_sync_into_kwdb_moves_0_rows_when_in_step(db, kwdb: str, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    with psycopg.connect(db.conninfo, autocommit=True) as conn:
        conn.execute("""CREATE TABLE s (id int PRIMARY KEY, v text, f float8, n numeric(12,3), b bytea, j jsonb,
                                         updated_at timestamptz NOT NULL)""")
        conn.execute("""INSERT INTO s SELECT g, 'v' || g, g / 3.0, g * 1.125, decode(md5(g::text), 'hex'),
                        jsonb_build_object('g', g, 'x', array[g, g + 1]),
                        now() - (400 - g) * interval '1 second' FROM generate_series(1, 400) g""")
    assert run(capsys, "transfer", "--source", db.uri, "--target", kwdb, "--table", "public.s")[0] == 0

    def sync() -> int:
        code, out, err = run(capsys, "sync", "--source", db.uri, "--target", kwdb, "--table", "public.s",
                             "--watermark", "updated_at", "--json")
        assert code == 0, out + err
        return int(json.loads(out.strip().splitlines()[-1])["rows_moved"])

    sync()  # the first sync sets the watermark from the target
    assert sync() == 0  # in step: the overlap window is read, nothing is written
    with psycopg.connect(db.conninfo, autocommit=True) as conn:
        conn.execute("UPDATE s SET v = 'changed', f = f + 1 WHERE id = 399")  # inside the overlap window
    assert sync() == 1
    assert sync() == 0
    code, out, err = run(capsys, "validate", "--source", db.uri, "--target", kwdb, "--table", "public.s")
    assert code == 0, out + err
