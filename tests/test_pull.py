"""transfer --via-import: PostgreSQL -> KWDB by KWDB's IMPORT pulling the rows kwtui serves (issue 17)."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from kwtui.transfer.pull import Spool, SpoolServer

from .test_cli import run


def test_the_spool_server_serves_only_its_prefix(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.final.write_bytes(b"1,a\n")
    spool.finish()
    with SpoolServer(spool) as server:
        assert urllib.request.urlopen(server.url("n1.0.csv")).read() == b"1,a\n"
        assert b'href="n1.0.csv"' in urllib.request.urlopen(server.url("")).read()  # the index KWDB's TS IMPORT reads
        base = server.url("").split("/kwtui-")[0]
        for wrong in (base + "/n1.0.csv", server.url("../n1.0.csv"), server.url("other.csv")):
            with pytest.raises(urllib.error.HTTPError):
                urllib.request.urlopen(wrong)


def write_in_pieces(spool: Spool) -> bytes:
    """Write 20 short lines into the spool in pieces, as COPY does, then finish it; returns them."""
    with spool.part.open("wb") as fh:
        for i in range(20):
            fh.write(b"%04d,\n" % i)
            fh.flush()
            time.sleep(0.01)
    spool.part.rename(spool.final)
    spool.finish()
    return b"".join(b"%04d,\n" % i for i in range(20))


def test_the_spool_is_served_while_it_grows_and_ranges_wait_for_their_bytes(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    got: dict[str, bytes] = {}
    with SpoolServer(spool) as server:
        def fetch(key: str, headers: dict[str, str]) -> None:
            got[key] = urllib.request.urlopen(urllib.request.Request(server.url("n1.0.csv"), headers=headers)).read()

        readers = [threading.Thread(target=fetch, args=("all", {})),
                   threading.Thread(target=fetch, args=("range", {"Range": "bytes=5-9"})),
                   threading.Thread(target=fetch, args=("probe", {"Range": "bytes=0-0"})),
                   threading.Thread(target=fetch, args=("tail", {"Range": "bytes=10-"}))]
        for t in readers:
            t.start()
        whole = write_in_pieces(spool)
        for t in readers:
            t.join(10)
    # KWDB's 'bytes=0-0' probe of a growing file gets the whole file (a 1-byte answer was taken for all of it)
    assert got == {"all": whole, "range": whole[5:10], "tail": whole[10:], "probe": whole}


def test_a_failed_spool_breaks_the_download_off(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.part.write_bytes(b"1,a\n")
    with SpoolServer(spool) as server:
        out: list[BaseException] = []

        def fetch() -> None:
            try:
                urllib.request.urlopen(server.url("n1.0.csv")).read()
            except BaseException as exc:  # the incomplete chunked body
                out.append(exc)

        t = threading.Thread(target=fetch)
        t.start()
        time.sleep(0.1)
        spool.finish(RuntimeError("COPY failed"))
        t.join(10)
    assert out, "a download of a failed spool must not look complete"


def test_a_ts_spool_answers_head_at_once_and_is_read_to_its_end(tmp_path: Path) -> None:
    """KWDB's TS IMPORT asks the size first and reads nothing of a file without one: a HEAD of
    a growing TS spool answers OPEN_SIZE at once, and KWDB's 'bytes=0-<that size>' gets the
    whole file, however it ends; once written, HEAD says the true size."""
    from kwtui.transfer.pull import OPEN_SIZE

    spool = Spool(tmp_path)
    got: dict[str, bytes] = {}
    with SpoolServer(spool, open_head=True) as server:
        url = server.url("n1.0.csv")
        head = urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=5)
        assert head.headers["Content-Length"] == str(OPEN_SIZE)  # at once: nothing is written yet

        def fetch() -> None:
            request = urllib.request.Request(url, headers={"Range": f"bytes=0-{OPEN_SIZE}"})
            got["body"] = urllib.request.urlopen(request).read()

        reader = threading.Thread(target=fetch)
        reader.start()
        whole = write_in_pieces(spool)
        reader.join(10)
        assert got["body"] == whole
        head = urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=5)
        assert head.headers["Content-Length"] == str(len(whole))
        # a range past the end of a written file gets what there is, not a wait for more
        request = urllib.request.Request(url, headers={"Range": f"bytes=100-{OPEN_SIZE}"})
        assert urllib.request.urlopen(request, timeout=5).read() == whole[100:]


@pytest.mark.kwdb
def test_via_import_loads_relational_and_ts_tables_exactly(db, kwdb: str, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    with psycopg.connect(db.conninfo, autocommit=True) as conn:
        conn.execute("""CREATE TABLE orders (id int PRIMARY KEY, note text, amount numeric(12,2), b bytea,
                                             at timestamptz, ok boolean)""")
        conn.execute("""INSERT INTO orders SELECT g, CASE g % 5 WHEN 0 THEN NULL WHEN 1 THEN '' WHEN 2 THEN 'NULL'
                          WHEN 3 THEN 'a,"b"' || chr(10) || 'é' ELSE 'x' || g END, g * 1.25,
                          CASE WHEN g % 7 = 0 THEN NULL ELSE decode(md5(g::text), 'hex') END,
                          '1969-12-31 23:00:00+00'::timestamptz + g * interval '1 minute', g % 2 = 0
                        FROM generate_series(1, 30000) g""")
    code, out, err = run(capsys, "transfer", "--source", db.uri, "--target", kwdb, "--table", "public.orders",
                         "--via-import")
    assert code == 0, out + err
    assert "http IMPORT" in out and "30,000 rows" in out
    code, out, err = run(capsys, "validate", "--source", db.uri, "--target", kwdb, "--table", "public.orders")
    assert code == 0, out + err
    # an empty target only: a second run is refused, nothing is doubled
    code, out, err = run(capsys, "transfer", "--source", db.uri, "--target", kwdb, "--table", "public.orders",
                         "--via-import", "--json")
    assert code == 1
    assert json.loads(out.strip().splitlines()[-1])["ok"] is False
    assert "already holds 30,000 rows, as many as the source" in out
    with psycopg.connect(kwdb) as conn:
        assert conn.execute("SELECT count(*) FROM public.orders").fetchone() == (30000,)


@pytest.mark.kwdb
def test_via_import_into_a_ts_table(db, kwdb: str, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    with readings_into_ts(db, kwdb, """INSERT INTO readings SELECT '2024-01-01'::timestamptz
                          + (g / 10) * interval '1 minute', g * 0.5, g % 10 FROM generate_series(0, 19999) g""") as kw_ts:
        code, out, err = run(capsys, "transfer", "--source", db.uri, "--target", kw_ts, "--table", "public.readings",
                             "--via-import")
        assert code == 0, out + err
        with psycopg.connect(kw_ts) as conn:
            assert conn.execute("SELECT count(*), sum(kwh) FROM readings").fetchone() == (20000, sum(g * 0.5 for g in range(20000)))


@contextlib.contextmanager
def readings_into_ts(db, kwdb: str, insert: str) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A PostgreSQL ``readings`` table filled by ``insert`` and an empty TS table of that name in a
    new KWDB TS database (dropped afterwards); yields that database's URI."""
    tsdb = "ts_" + os.urandom(4).hex()
    with psycopg.connect(db.conninfo, autocommit=True) as conn:
        conn.execute("CREATE TABLE readings (ts timestamptz NOT NULL, kwh float8, meter int NOT NULL)")
        conn.execute(insert)  # type: ignore[arg-type]
    with psycopg.connect(kwdb, autocommit=True) as conn:
        conn.execute(f"CREATE TS DATABASE {tsdb}")  # type: ignore[arg-type]
        conn.execute(f"CREATE TABLE {tsdb}.readings (ts TIMESTAMPTZ NOT NULL, kwh FLOAT8) "  # type: ignore[arg-type]
                     "TAGS (meter INT NOT NULL) PRIMARY TAGS (meter)")
    try:
        yield kwdb.replace(kwdb.rsplit("/", 1)[1].split("?")[0], tsdb)
    finally:
        with psycopg.connect(kwdb, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {tsdb} CASCADE")  # type: ignore[arg-type]


def test_via_import_needs_postgres_to_kwdb(two_dbs: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    src, dst = two_dbs
    code, _, err = run(capsys, "transfer", "--source", src, "--target", dst, "--all", "--via-import")
    assert code == 2 and "needs a KWDB target" in err


@pytest.mark.kwdb
def test_kill_9_during_via_import_leaves_all_or_nothing(db, kwdb: str) -> None:  # type: ignore[no-untyped-def]
    """Attack: kill -9 of `transfer --via-import` at a random moment (seeded, printed). The
    relational IMPORT is atomic: the target holds every row or none, never a part; a second
    run then loads an empty target or refuses a full one."""
    import random
    import signal
    import subprocess
    import sys

    n = 300_000
    with psycopg.connect(db.conninfo, autocommit=True) as conn:
        conn.execute("CREATE TABLE k (id int PRIMARY KEY, note text, v float8)")
        conn.execute(f"INSERT INTO k SELECT g, md5(g::text), g * 0.5 FROM generate_series(1, {n}) g")
    seed = random.randrange(1 << 30)
    delay = random.Random(seed).uniform(0.3, 2.0)
    print(f"seed {seed}: kill -9 after {delay:.2f} s")
    proc = subprocess.Popen([sys.executable, "-m", "kwtui", "transfer", "--source", db.uri, "--target", kwdb,
                             "--table", "public.k", "--via-import"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    # KWDB's job fails (or ends) once its source is gone; a kill before KWDB had connected leaves it
    # retrying 'connection refused' for about 62 s (seed 877515980: 0.46 s), the table offline meanwhile
    query = ("SELECT count(*) FROM [SHOW JOBS] WHERE job_type = 'IMPORT' "  # this test's own
             "AND status IN ('running', 'pending', 'reverting') "
             "AND description LIKE '%' || current_database() || '.public.k%'")
    with psycopg.connect(kwdb, autocommit=True) as conn:
        if conn.execute(query).fetchone() != (0,):  # a run now is refused, naming the job
            again = subprocess.run([sys.executable, "-m", "kwtui", "transfer", "--source", db.uri, "--target", kwdb,
                                    "--table", "public.k", "--via-import"], capture_output=True, text=True)
            if conn.execute(query).fetchone() != (0,):  # (unless the job ended meanwhile)
                assert again.returncode == 1 and "still holds this table" in again.stderr, f"seed {seed}: {again}"
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            if conn.execute(query).fetchone() == (0,):
                break
            time.sleep(0.2)
        exists = conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'k'").fetchone()
        held = conn.execute("SELECT count(*) FROM public.k").fetchone() if exists == (1,) else (0,)
        count = held[0] if held else 0
    print(f"seed {seed}: the target held {count:,} rows after the kill")
    assert count in (0, n), f"seed {seed}: a partial load of {count} rows"
    code = subprocess.run([sys.executable, "-m", "kwtui", "transfer", "--source", db.uri, "--target", kwdb,
                           "--table", "public.k", "--via-import"], capture_output=True, text=True).returncode
    assert code == (0 if count == 0 else 1), f"seed {seed}"
    with psycopg.connect(kwdb) as conn:
        assert conn.execute("SELECT count(*) FROM public.k").fetchone() == (n,)


@pytest.mark.kwdb
def test_a_table_an_import_job_still_holds_is_refused_with_the_job_named(db, kwdb: str) -> None:  # type: ignore[no-untyped-def]
    """An IMPORT job of an earlier, killed run still retrying its vanished source (the table is
    offline meanwhile): a new run is refused with the job, the cause and the fix, then loads the
    table once the job has ended. The orphan is made on purpose: a source that holds KWDB's
    request open, then answers 404."""
    import http.server
    import subprocess
    import sys

    with psycopg.connect(db.conninfo, autocommit=True) as conn:
        conn.execute("CREATE TABLE h (id int PRIMARY KEY, note text)")
        conn.execute("INSERT INTO h SELECT g, 'n' || g FROM generate_series(1, 1000) g")
    with psycopg.connect(kwdb, autocommit=True) as conn:
        conn.execute("CREATE TABLE h (id INT8 PRIMARY KEY, note STRING)")
    release = threading.Event()

    class Held(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            release.wait(120)
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_HEAD = do_GET

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Held)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/kwtui-0123456789abcdef/n1.0.csv"
    failed: list[str] = []

    def orphan() -> None:
        with psycopg.connect(kwdb, autocommit=True) as conn:
            try:
                conn.execute(f"IMPORT INTO h CSV DATA ('{url}')")  # type: ignore[arg-type]
            except psycopg.Error as exc:
                failed.append(str(exc))

    worker = threading.Thread(target=orphan, daemon=True)
    worker.start()
    try:
        with psycopg.connect(kwdb, autocommit=True) as conn:
            job = None
            for _ in range(200):
                row = conn.execute("SELECT job_id FROM [SHOW JOBS] WHERE job_type = 'IMPORT' AND status = 'running' "
                                   "AND description LIKE '%' || current_database() || '.public.h%'").fetchone()
                if row:
                    job = row[0]
                    break
                time.sleep(0.05)
        assert job is not None, "the held IMPORT never showed as running"
        r = subprocess.run([sys.executable, "-m", "kwtui", "transfer", "--source", db.uri, "--target", kwdb,
                            "--table", "public.h", "--via-import"], capture_output=True, text=True)
        assert r.returncode == 1, r.stdout + r.stderr
        assert f"KWDB's IMPORT job {job} (running) still holds this table" in r.stderr
        assert "spool server of an earlier kwtui run" in r.stderr and f"kwtui jobs native-cancel {job}" in r.stderr
        assert "Traceback" not in r.stderr
    finally:
        release.set()
        worker.join(120)
        server.shutdown()
    assert failed, "the orphan IMPORT should have failed on the 404"
    code, out, err = run_cli_pull(db.uri, kwdb, "public.h")
    assert code == 0, out + err
    with psycopg.connect(kwdb) as conn:
        assert conn.execute("SELECT count(*) FROM h").fetchone() == (1000,)


def run_cli_pull(src: str, dst: str, table: str) -> tuple[int, str, str]:
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "kwtui", "transfer", "--source", src, "--target", dst, "--table", table,
                        "--via-import"], capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr



@pytest.mark.kwdb
def test_a_keyless_source_is_spooled_sorted_by_time_then_primary_tags(  # type: ignore[no-untyped-def]
        db, kwdb: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A TS target is loaded sorted by time, then by the source's key or, for a source without
    one, the target's primary tags (a keyless source was read unsorted before). Measured on
    KWDB V3.2.1 with 1,000,000 rows: its TS IMPORT took 5.0 s of a sorted file and 6.0 s of
    the same rows shuffled; the sort costs PostgreSQL about 0.2 s."""
    from kwtui.transfer import files

    spooled: list[bytes] = []
    real = files._copy_to_chunks

    def spy(kwargs, statement, out_dir, *args, **kw):  # type: ignore[no-untyped-def]
        got = real(kwargs, statement, out_dir, *args, **kw)
        spooled.append((out_dir / got[2][0]).read_bytes())
        return got

    monkeypatch.setattr(files, "_copy_to_chunks", spy)  # pull_table imports it when it runs
    # written newest first, meters descending: a plain read returns them in that order
    with readings_into_ts(db, kwdb, """INSERT INTO readings SELECT '2024-01-01'::timestamptz
                          + (g / 3) * interval '1 minute', g * 0.5, 2 - g % 3
                          FROM generate_series(29, 0, -1) g""") as kw_ts:
        code, out, err = run(capsys, "transfer", "--source", db.uri, "--target", kw_ts, "--table", "public.readings",
                             "--via-import")
        assert code == 0, out + err
        lines = spooled[0].decode().splitlines()
        keys = [(line.split(",")[0], int(line.split(",")[-1])) for line in lines]
        assert len(keys) == 30 and keys == sorted(keys), keys[:5]


@pytest.mark.kwdb
def test_a_ts_load_broken_off_mid_copy_says_what_the_table_kept(db, kwdb: str) -> None:  # type: ignore[no-untyped-def]
    """KWDB's TS IMPORT reads the spool while PostgreSQL still writes it, and it is not atomic:
    when the copy breaks off (its backend killed here), KWDB keeps the rows it read and says
    the IMPORT succeeded. kwtui fails the table and says how many rows it now holds."""
    import subprocess
    import sys

    n = 400_000
    with readings_into_ts(db, kwdb, f"""INSERT INTO readings SELECT '2024-01-01'::timestamptz
                          + (g / 10) * interval '1 second', g * 0.5, g % 10 FROM generate_series(0, {n - 1}) g""") \
            as kw_ts, psycopg.connect(db.conninfo, autocommit=True) as watcher:
        proc = subprocess.Popen([sys.executable, "-m", "kwtui", "transfer", "--source", db.uri, "--target", kw_ts,
                                 "--table", "public.readings", "--via-import"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        copying = "SELECT pid FROM pg_stat_activity WHERE query LIKE 'COPY%readings%' AND pid <> pg_backend_pid()"
        deadline = time.monotonic() + 30
        pid = None
        while pid is None and time.monotonic() < deadline and proc.poll() is None:
            row = watcher.execute(copying).fetchone()  # type: ignore[arg-type]
            pid = row[0] if row else None
            time.sleep(0.01)
        assert pid is not None, "the copy was not seen"
        time.sleep(0.1)
        watcher.execute("SELECT pg_terminate_backend(%s)", (pid,))
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 1, out + err
        with psycopg.connect(kw_ts) as conn:
            held = conn.execute("SELECT count(*) FROM readings").fetchone()[0]  # type: ignore[index]
        print(f"the table kept {held:,} of {n:,} rows")
        assert held < n
        if held:
            assert f"kept the {held:,} rows it had read" in err, err
            assert "empty public.readings before you load it again" in err


@pytest.mark.kwdb
def test_an_import_that_fails_stops_the_copy(db, kwdb: str) -> None:  # type: ignore[no-untyped-def]
    """KWDB's IMPORT fails on an early row while PostgreSQL still copies: the copy stops at
    once (it went on to the end of the table before, in a thread, into a removed directory)."""
    import asyncio

    from kwtui.connection import ConnectionService, ConnectTarget
    from kwtui.transfer.engine import TransferOptions, plan_transfer
    from kwtui.transfer.pull import pull_table

    n = 2_000_000
    with psycopg.connect(db.conninfo, autocommit=True) as conn:
        conn.execute("CREATE TABLE f (id int PRIMARY KEY, small int, note text)")
        conn.execute(f"INSERT INTO f SELECT g, CASE WHEN g = 10 THEN 100000 ELSE g % 100 END, md5(g::text) "
                     f"FROM generate_series(1, {n}) g")
    with psycopg.connect(kwdb, autocommit=True) as conn:
        conn.execute("CREATE TABLE f (id INT4 PRIMARY KEY, small INT2, note STRING)")  # row 10 does not fit

    spooled: list[int] = []

    async def go() -> tuple[BaseException | None, float]:
        src = ConnectionService(ConnectTarget.resolve(dsn=db.uri))
        dst = ConnectionService(ConnectTarget.resolve(dsn=kwdb))
        await src.connect()
        await dst.connect()
        try:
            plans = await plan_transfer(src, dst, ["public.f"], TransferOptions())
            started = time.perf_counter()
            try:
                await pull_table(src, dst, plans[0], on_progress=lambda rows, _bytes: spooled.append(rows))
            except Exception as exc:  # noqa: BLE001 (KWDB's own error, as psycopg raised it)
                return exc, time.perf_counter() - started
            return None, time.perf_counter() - started
        finally:
            await src.close()
            await dst.close()

    error, took = asyncio.run(go())
    assert error is not None and "out of range for type int2" in str(error), error
    with psycopg.connect(db.conninfo, autocommit=True) as conn:  # nobody copies f any more
        copying = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY%f%' "
                               "AND pid <> pg_backend_pid()").fetchone()
    assert copying == (0,), f"the copy still runs {took:.2f} s after the IMPORT failed"
    print(f"the IMPORT failed after {took:.2f} s; {sum(spooled):,} of {n:,} rows had been copied")
    assert sum(spooled) < n, "the copy went on to the end of the table"
    with psycopg.connect(kwdb) as conn:
        assert conn.execute("SELECT count(*) FROM f").fetchone() == (0,)  # relational: all or nothing
