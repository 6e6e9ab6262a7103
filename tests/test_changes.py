"""Catch-up by snapshot (kwtui.changes): late commits are carried, nothing re-sent, deletes carried (embedded PostgreSQL)."""

from __future__ import annotations

import psycopg

from kwtui.changes import ChangeTable, catch_up
from kwtui.connection import ConnectionService, ConnectTarget
from kwtui.snapshot import SnapshotHolder, changed_since, pg_snapshot_parts

from .test_transfer import checksum, execute

ITEMS = """
CREATE TABLE items (id int PRIMARY KEY, name text, updated_at timestamptz NOT NULL DEFAULT now());
INSERT INTO items SELECT g, 'item ' || g, now() - interval '1 day' FROM generate_series(1, 250) g;
"""


def fetch_one(uri: str, query: str) -> str:
    with psycopg.connect(uri) as conn:
        row = conn.execute(query).fetchone()  # type: ignore[arg-type]
        assert row is not None
        return str(row[0])


async def _services(src: str, dst: str) -> tuple[ConnectionService, ConnectionService]:
    s, d = ConnectionService(ConnectTarget.from_dsn(src)), ConnectionService(ConnectTarget.from_dsn(dst))
    await s.connect()
    await d.connect()
    return s, d


async def test_a_late_commit_is_carried_nothing_is_resent_and_deletes_follow(two_dbs: tuple[str, str]) -> None:
    """A transaction that started before a catch-up and commits after it started (its rows' updated_at
    7 minutes older than anything synced) is carried by the next catch-up; an idle catch-up moves 0 rows
    (the old 5-minute overlap re-sent 250); deletes and updates are carried."""
    src, dst = two_dbs
    execute(src, ITEMS)
    execute(dst, "CREATE TABLE items (id int PRIMARY KEY, name text, updated_at timestamptz NOT NULL DEFAULT now())")
    s, d = await _services(src, dst)
    try:
        holder = await SnapshotHolder.open(s)
        baseline = holder.identity
        # the copy, as of the snapshot, while a write lands after it (not in the copy)
        execute(src, "INSERT INTO items (id, name) VALUES (251, 'after the snapshot')")
        with psycopg.connect(src) as c, psycopg.connect(dst) as t:
            c.execute(f"BEGIN ISOLATION LEVEL REPEATABLE READ; SET TRANSACTION SNAPSHOT '{holder.exported}'")  # type: ignore[arg-type]
            rows = c.execute("SELECT id, name, updated_at FROM items").fetchall()
            with t.cursor().copy("COPY items (id, name, updated_at) FROM STDIN") as cp:
                for r in rows:
                    cp.write_row(r)
        await holder.close()
        tables = [ChangeTable("public.items", "public.items", ["id"])]
        # a transaction starts, writes, and is still open when the catch-up takes its snapshot
        late = psycopg.connect(src)
        late.execute("INSERT INTO items (id, name, updated_at) VALUES (252, 'late', now() - interval '7 minutes')")
        late.execute("UPDATE items SET name = 'late update', updated_at = now() - interval '7 minutes' WHERE id = 3")
        first = await catch_up(s, d, tables, baseline)
        assert first.tables[0].rows_moved == 1 and first.tables[0].deleted == 0  # id 251 only
        late.commit()  # commits after the first catch-up started
        late.close()
        execute(src, "DELETE FROM items WHERE id IN (10, 11); UPDATE items SET name = 'x' WHERE id = 12")
        second = await catch_up(s, d, tables, first.snapshot)
        assert (second.tables[0].rows_moved, second.tables[0].deleted) == (3, 2)  # 252, 3, 12; 10 and 11
        assert checksum(src, "items", "id") == checksum(dst, "items", "id")
        idle = await catch_up(s, d, tables, second.snapshot)
        assert idle.rows_moved == 0 and idle.tables[0].rows_read == 0
    finally:
        await s.close()
        await d.close()


def test_xmin_widening_maps_to_the_epoch_below_the_snapshot_xmax() -> None:
    """The xmin condition widens a 32-bit xid with the epoch of the current snapshot's xmax."""
    base = "4294967290:4294967300:4294967295"
    assert pg_snapshot_parts(base) == (4294967290, 4294967300, [4294967295])
    text = changed_since(base, "4294967300:4294967310:").as_string(None)
    assert "4294967296 | xmin" in text.replace("(", "").replace(")", "") or "4294967296" in text
    assert ">= 4294967290" in text


async def test_a_row_written_in_a_subtransaction_of_a_late_commit_is_carried(two_dbs: tuple[str, str]) -> None:
    """pg_current_snapshot() lists top-level xids only: a row written under a SAVEPOINT of a transaction
    still open at the catch-up's snapshot has a subtransaction xid that the snapshot calls visible. The
    catch-up's rule (xmin not older than the snapshot's xmin) carries it anyway."""
    src, dst = two_dbs
    execute(src, ITEMS)
    execute(dst, "CREATE TABLE items (id int PRIMARY KEY, name text, updated_at timestamptz NOT NULL DEFAULT now())")
    s, d = await _services(src, dst)
    try:
        holder = await SnapshotHolder.open(s)
        with psycopg.connect(dst) as t, psycopg.connect(src) as c:
            c.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")  # type: ignore[arg-type]
            c.execute(f"SET TRANSACTION SNAPSHOT '{holder.exported}'")  # type: ignore[arg-type]
            with t.cursor().copy("COPY items (id, name, updated_at) FROM STDIN") as cp:
                for r in c.execute("SELECT id, name, updated_at FROM items").fetchall():
                    cp.write_row(r)
        baseline = holder.identity
        await holder.close()
        tables = [ChangeTable("public.items", "public.items", ["id"])]
        late = psycopg.connect(src)
        late.execute("UPDATE items SET name = 'top level' WHERE id = 1")  # the top-level xid
        late.execute("SAVEPOINT s1")
        late.execute("INSERT INTO items (id, name) VALUES (900, 'in a subtransaction')")
        late.execute("RELEASE SAVEPOINT s1")
        execute(src, "INSERT INTO items (id, name) VALUES (901, 'committed after the subtransaction')")
        first = await catch_up(s, d, tables, baseline)
        assert first.rows_moved == 1  # 901
        late.commit()
        late.close()
        _, xmax, xip = pg_snapshot_parts(first.snapshot.ident)
        sub = int(fetch_one(src, "SELECT xmin::text FROM items WHERE id = 900"))
        assert sub not in xip and sub < xmax  # that snapshot calls the subtransaction's xid visible
        second = await catch_up(s, d, tables, first.snapshot)
        assert second.tables[0].rows_moved == 2  # 1 and 900
        assert checksum(src, "items", "id") == checksum(dst, "items", "id")
    finally:
        await s.close()
        await d.close()


async def test_deletes_by_a_composite_key_with_awkward_text(two_dbs: tuple[str, str]) -> None:
    """Deletes are found by comparing key arrays with the source: a (text, timestamptz, int) key whose
    text holds commas, quotes, braces, backslashes, 'NULL' and non-ASCII; exactly the deleted ones go."""
    src, dst = two_dbs
    ddl = "CREATE TABLE k (a text, b timestamptz, c int, v text, PRIMARY KEY (a, b, c))"
    rows = ("INSERT INTO k SELECT (ARRAY['x,y', 'q\"uote', '{br}', 'back\\\\slash', 'NULL', '', 'Ünï ☃'])[1 + g % 7],"
            " timestamptz '2024-01-01 00:00:00.123456+00' + g * interval '1 second', g, 'v' || g"
            " FROM generate_series(1, 700) g")
    for uri in (src, dst):
        execute(uri, ddl + ";" + rows)
    s, d = await _services(src, dst)
    try:
        baseline = (await SnapshotHolder.open(s))
        ident = baseline.identity
        await baseline.close()
        execute(src, "DELETE FROM k WHERE c % 50 = 0")  # 14 rows, across every text value
        out = await catch_up(s, d, [ChangeTable("public.k", "public.k", ["a", "b", "c"])], ident)
        assert out.tables[0].deleted == 14
        assert checksum(src, "k", "a, b, c") == checksum(dst, "k", "a, b, c")
    finally:
        await s.close()
        await d.close()
