"""Migrations with a live KWDB (V3.2.1) on either side: the history read as of one timestamp (KWDB
source), the catch-up by xmin and the cutover's clean-up into a KWDB target."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from kwtui.migration import MigrationPlan, MigrationState

from .test_cli import run
from .test_transfer import checksum

pytestmark = pytest.mark.kwdb


def test_kwdb_source_history_reads_one_timestamp(db, kwdb: str, capsys: pytest.CaptureFixture[str],  # type: ignore[no-untyped-def]
                                                 tmp_path: Path) -> None:
    """KWDB -> PostgreSQL: the history is read AS OF SYSTEM TIME one recorded timestamp; the plan says
    KWDB has no MVCC timestamp column, so the table is reconciled in full at cutover."""
    with psycopg.connect(kwdb, autocommit=True) as conn:
        conn.execute("CREATE TABLE k (id INT8 PRIMARY KEY, v STRING)")
        conn.execute("INSERT INTO k SELECT g, 'v' || g::STRING FROM generate_series(1, 500) g")
    planfile = tmp_path / "k.toml"
    code, out, err = run(capsys, "plan", "--source", kwdb, "--target", db.uri, "--save", str(planfile))
    assert code == 0, err
    assert "KWDB has no MVCC timestamp column" in out
    code, out, err = run(capsys, "run", str(planfile), "--through", "historical", "--accept-warnings")
    assert code == 0, err + out
    p = MigrationPlan.load(planfile)
    snap = MigrationState.load(p, planfile).phase("historical").data["snapshot"]
    assert snap["kind"] == "kwdb" and float(snap["ident"]) > 0
    assert "KWDB timestamp" in out
    with psycopg.connect(db.conninfo) as conn:
        assert conn.execute("SELECT count(*), sum(id) FROM k").fetchone() == (500, 125250)
    # changes after the copy: nothing in a KWDB row says so; the cutover reconciles the table in full
    with psycopg.connect(kwdb, autocommit=True) as conn:
        conn.execute("UPDATE k SET v = 'changed' WHERE id <= 3")
        conn.execute("DELETE FROM k WHERE id > 498")
    code, out, err = run(capsys, "run", str(planfile), "--yes")
    assert code == 0, err + out
    assert "public.k: 3 rows moved" in out and "full reconciliation" in out and "2 deleted" in out
    with psycopg.connect(db.conninfo) as conn:
        assert conn.execute("SELECT count(*), count(*) FILTER (WHERE v = 'changed') FROM k").fetchone() == (498, 3)


def test_catch_up_by_xmin_into_kwdb_and_cutover_cleans_up(db, kwdb: str, capsys: pytest.CaptureFixture[str],  # type: ignore[no-untyped-def]
                                                         tmp_path: Path) -> None:
    """PostgreSQL -> KWDB: updates, inserts and deletes after the copy are carried by the catch-up
    (no updated_at column), an idle catch-up moves 0 rows, and the cutover removes kwtui_journal."""
    with psycopg.connect(db.conninfo, autocommit=True) as conn:
        conn.execute("CREATE TABLE s (id int PRIMARY KEY, v text, n numeric(10, 2))")
        conn.execute("INSERT INTO s SELECT g, 'v' || g, g * 1.5 FROM generate_series(1, 300) g")
    planfile = tmp_path / "s.toml"
    code, out, err = run(capsys, "plan", "--source", db.uri, "--target", kwdb, "--save", str(planfile))
    assert code == 0, err
    code, out, err = run(capsys, "run", str(planfile), "--through", "catchup", "--accept-warnings")
    assert code == 0, err + out
    with psycopg.connect(db.conninfo, autocommit=True) as conn:
        conn.execute("UPDATE s SET v = 'changed' WHERE id <= 3; DELETE FROM s WHERE id > 295;"
                     "INSERT INTO s VALUES (1000, 'new', 1)")
    code, out, err = run(capsys, "run", str(planfile), "--phase", "catchup")
    assert code == 0, err + out
    assert "public.s: 4 rows upserted of 4 changed since the snapshot, 5 deleted" in out
    code, out, err = run(capsys, "run", str(planfile), "--phase", "catchup")
    assert code == 0 and "0 rows moved (in step" in out
    code, out, err = run(capsys, "run", str(planfile), "--yes")
    assert code == 0, err + out
    assert "kwtui_journal removed from the target" in out
    with psycopg.connect(kwdb, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM s").fetchone() == (300 - 5 + 1,)
        schemas = [r[0] for r in conn.execute("SELECT schema_name FROM information_schema.schemata").fetchall()]
    assert "kwtui_journal" not in schemas
    assert checksum(db.conninfo, "s", "id")[0] == 296


async def test_a_kwdb_read_at_the_recorded_timestamp_does_not_see_later_rows(db, kwdb: str) -> None:  # type: ignore[no-untyped-def]
    """The engine's reader on a KWDB source starts its transaction AS OF SYSTEM TIME the held timestamp:
    rows written after it are not copied."""
    from kwtui.connection import ConnectionService, ConnectTarget
    from kwtui.snapshot import SnapshotHolder
    from kwtui.transfer.engine import Transfer, TransferOptions, plan_transfer

    with psycopg.connect(kwdb, autocommit=True) as conn:
        conn.execute("CREATE TABLE late (id INT8 PRIMARY KEY, v STRING)")
        conn.execute("INSERT INTO late SELECT g, 'v' FROM generate_series(1, 100) g")
    src, dst = ConnectionService(ConnectTarget.from_dsn(kwdb)), ConnectionService(ConnectTarget.from_dsn(db.uri))
    await src.connect()
    await dst.connect()
    try:
        holder = await SnapshotHolder.open(src)
        with psycopg.connect(kwdb, autocommit=True) as conn:
            conn.execute("INSERT INTO late SELECT g, 'after' FROM generate_series(101, 150) g")
            conn.execute("DELETE FROM late WHERE id <= 10")
        options = TransferOptions(create_missing=True)
        plan = (await plan_transfer(src, dst, ["public.late"], options))[0]
        tr = Transfer(src, dst, [plan], options)
        try:
            await tr.create_target(plan)
            rows = await tr.copy_range(plan, None, None, holder.exported)
        finally:
            tr.close()
        assert rows == 100
        with psycopg.connect(db.conninfo) as conn:
            assert conn.execute("SELECT min(id), max(id) FROM late").fetchone() == (1, 100)
    finally:
        await src.close()
        await dst.close()
