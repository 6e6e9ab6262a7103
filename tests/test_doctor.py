"""`kwtui doctor`: read-only preflight checks against real servers, each with a verdict,
its evidence and the fix."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest
from psycopg import sql

from kwtui.connection import ConnectTarget
from kwtui.doctor import BLOCKER, OK, WARNING, DoctorOptions, run_doctor

from .test_cli import run
from .test_troubleshoot import mounted_full_disk

if TYPE_CHECKING:
    from .conftest import PgServer


@pytest.fixture
def scene(two_dbs: tuple[str, str], pg_server: PgServer) -> Iterator[dict[str, str]]:
    """A source with a keyless table, a TS candidate with NULL devices and a long open
    transaction; a target whose user may not create anything."""
    src, dst = two_dbs
    with psycopg.connect(src, autocommit=True) as c:
        c.execute("CREATE TABLE nokey (a int, b text)")
        c.execute("INSERT INTO nokey VALUES (1, 'x')")
        c.execute("CREATE TABLE readings (id bigserial PRIMARY KEY, ts timestamptz NOT NULL, device_id int, "
                  "value numeric(10,2))")
        c.execute("INSERT INTO readings (ts, device_id, value) SELECT now() - g * interval '1 minute', "
                  "CASE WHEN g % 40 = 0 THEN NULL ELSE g % 5 END, g FROM generate_series(1, 200) g")
        c.execute("CREATE TABLE orders (id int PRIMARY KEY, total int)")
    role = "doc_" + uuid.uuid4().hex[:8]
    dst_db = dst.rsplit("/", 1)[1]
    with psycopg.connect(pg_server.conninfo(), autocommit=True) as c:
        c.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    with psycopg.connect(dst, autocommit=True) as c:
        c.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        c.execute(sql.SQL("REVOKE CREATE ON DATABASE {} FROM PUBLIC").format(sql.Identifier(dst_db)))
    holder = psycopg.connect(src)
    holder.execute("SELECT count(*) FROM orders")  # a transaction left open
    try:
        yield {"source": src, "target": pg_server.uri(dst_db, role), "role": role, "holder_pid": str(
            holder.info.backend_pid)}
    finally:
        holder.close()
        with psycopg.connect(pg_server.conninfo(), autocommit=True) as c:
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dst_db)))
            c.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def by_id(doc: dict) -> dict[str, dict]:
    return {c["id"]: c for c in doc["checks"]}


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path | None]:
    """A real full disk where this machine allows a mount, else None (the disk is then simulated)."""
    with mounted_full_disk(tmp_path) as mnt:
        yield mnt


def test_doctor_finds_each_problem_with_its_fix(capsys: pytest.CaptureFixture[str], scene: dict[str, str],
                                                full_disk: Path | None, tmp_path: Path) -> None:
    if full_disk is None:  # no mount here: the same run through the API, on a simulated full disk
        report = asyncio.run(run_doctor(ConnectTarget.from_dsn(scene["source"]),
                                        ConnectTarget.from_dsn(scene["target"]),
                                        DoctorOptions(long_tx_seconds=0, export_dir=str(tmp_path / "exports"),
                                                      disk_usage=lambda _p: (1 << 30, 1 << 30, 0))))
        full_disk = tmp_path
        code, out, err = report.exit_code, json.dumps(report.as_dict()), ""
    else:
        code, out, err = run(capsys, "doctor", "--source", scene["source"], "--target", scene["target"],
                             "--long-tx", "0", "--export-dir", str(full_disk / "exports"), "--json")
    assert code == 1, err  # blockers
    doc = json.loads(out)
    checks = by_id(doc)
    assert doc["verdict"] == BLOCKER
    assert checks["connect.source"]["verdict"] == OK and "PostgreSQL" in checks["connect.source"]["evidence"]
    # a table without a primary key
    nopk = checks["tables.no-pk"]
    assert nopk["verdict"] == WARNING and nopk["details"] == ["public.nokey"]
    assert "ADD PRIMARY KEY" in nopk["fix"] and "resume" in nopk["fix"]
    # a TS candidate with NULLs in its device column: the rows named, backfill or leave out
    ts = checks["ts.public.readings"]
    assert ts["verdict"] == BLOCKER and "5 row(s) with a NULL primary tag device_id" in ts["evidence"]
    assert "id=40" in ts["evidence"] and ts["details"][0].startswith("device_id IS NULL: id=")
    assert "UPDATE public.readings SET device_id" in ts["fix"] and "WHERE device_id IS NOT NULL" in ts["fix"]
    assert checks["ts-types.public.readings"]["verdict"] == WARNING
    assert "value numeric(10,2) -> FLOAT8 (lossy)" in checks["ts-types.public.readings"]["evidence"]
    # a long open transaction
    longtx = checks["source.long-tx"]
    assert longtx["verdict"] == WARNING and f"pid {scene['holder_pid']}" in longtx["evidence"]
    assert "pg_terminate_backend" in longtx["fix"]
    # a target without create privilege
    create = checks["privileges.create"]
    assert create["verdict"] == BLOCKER and "CREATE on schema public: no" in create["evidence"]
    assert f"GRANT CREATE ON SCHEMA public TO {scene['role']}" in create["fix"]
    # a full scratch disk
    disk = checks["disk.export"]
    assert disk["verdict"] == BLOCKER and str(full_disk) in disk["evidence"] and "free at least" in disk["fix"]
    # the rest holds
    assert checks["privileges.read"]["verdict"] == OK and checks["clock-skew"]["verdict"] == OK
    assert checks["encoding"]["verdict"] == OK and "source UTF8, target UTF8" in checks["encoding"]["evidence"]
    # the text form: one line per check, the fix under each finding
    code, out, _ = run(capsys, "doctor", "--source", scene["source"], "--target", scene["target"], "--long-tx", "0",
                       "--export-dir", str(full_disk / "exports"))
    assert code == 1
    assert "[BLOCK] target allows CREATE:" in out and "        fix: GRANT CREATE ON SCHEMA public" in out
    assert out.strip().splitlines()[-1].endswith("blocker(s)")


def test_the_fixes_clear_the_blockers(scene: dict[str, str], pg_server: PgServer, tmp_path: Path) -> None:
    src, dst = scene["source"], scene["target"]
    with psycopg.connect(src, autocommit=True) as c:
        c.execute("UPDATE readings SET device_id = 0 WHERE device_id IS NULL")
    with psycopg.connect(dst.replace(f"{scene['role']}@", "postgres@"), autocommit=True) as c:
        c.execute(sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(sql.Identifier(scene["role"])))
    report = asyncio.run(run_doctor(ConnectTarget.from_dsn(src), ConnectTarget.from_dsn(dst),
                                    DoctorOptions(export_dir=str(tmp_path), long_tx_seconds=3600)))
    assert report.exit_code == 0, [c for c in report.checks if c.verdict == BLOCKER]
    assert report.get("ts.public.readings").verdict == OK  # type: ignore[union-attr]
    assert report.get("source.long-tx").verdict == OK  # type: ignore[union-attr]


def test_a_simulated_full_disk_and_a_read_only_doctor(scene: dict[str, str]) -> None:
    src = scene["source"]
    before = psycopg.connect(src, autocommit=True).execute(
        "SELECT count(*), sum(hashtext(r::text)) FROM readings r").fetchone()
    report = asyncio.run(run_doctor(ConnectTarget.from_dsn(src), None, DoctorOptions(
        disk_usage=lambda _p: (10 << 30, 10 << 30, 0))))
    assert report.get("disk.export").verdict == BLOCKER  # type: ignore[union-attr]
    after = psycopg.connect(src, autocommit=True).execute(
        "SELECT count(*), sum(hashtext(r::text)) FROM readings r").fetchone()
    assert before == after


def test_unreachable_side_is_a_blocker_with_the_kb_fix(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, out, _ = run(capsys, "doctor", "--target", f"postgresql://x@127.0.0.1:{port}/d", "--json")
    checks = by_id(json.loads(out))
    assert code == 1 and checks["connect.target"]["verdict"] == BLOCKER
    assert "start the server or fix host/port" in checks["connect.target"]["fix"]


def test_usage(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "doctor")
    assert code == 2 and "needs --source, --target or a plan file" in err
    code, _, err = run(capsys, "doctor", "--source", "postgresql://x@h/d", "--ts", "nodot")
    assert code == 2 and "--ts" in err


def test_cdc_settings_and_timeouts(capsys: pytest.CaptureFixture[str], scene: dict[str, str]) -> None:
    src = scene["source"]
    user = "postgres"
    with psycopg.connect(src, autocommit=True) as c:
        db = c.info.dbname
        c.execute(sql.SQL("ALTER DATABASE {} SET statement_timeout = '30s'").format(sql.Identifier(db)))
    code, out, _ = run(capsys, "doctor", "--source", src, "--cdc", "--json")
    checks = by_id(json.loads(out))
    assert checks["source.timeouts"]["verdict"] == WARNING and "statement_timeout = 30000 ms" in \
        checks["source.timeouts"]["evidence"]
    assert f"ALTER ROLE {user} SET statement_timeout = 0" in checks["source.timeouts"]["fix"]
    assert "wal_level" in checks["source.wal"]["evidence"]
    assert checks["privileges.replication"]["verdict"] == OK  # postgres is a superuser


@pytest.mark.kwdb
def test_doctor_on_a_kwdb_target(capsys: pytest.CaptureFixture[str], kwdb: str, db: object) -> None:
    code, out, err = run(capsys, "doctor", "--target", kwdb, "--json")
    assert code == 0, out + err
    checks = by_id(json.loads(out))
    assert "KWDB" in checks["connect.target"]["evidence"]
    assert checks["privileges.native"]["verdict"] == OK  # root
    assert "ts.dedup.rule = override" in checks["kwdb.dedup"]["evidence"]
    assert checks["kwdb.extern"]["evidence"].startswith("/") and "/extern" in checks["kwdb.extern"]["evidence"]
    assert "least free on a KWDB store" in checks["disk.target"]["evidence"]
    assert "Max open files" in checks["fd.kwdb"]["evidence"]
    assert "kwdb.ts-database" not in checks  # no TS table planned
    # a plan to TS tables (its target kind) into a relational database
    report = asyncio.run(run_doctor(None, ConnectTarget.from_dsn(kwdb), DoctorOptions(target_kind="kwdb-ts")))
    ts_db = report.get("kwdb.ts-database")
    assert ts_db is not None and ts_db.verdict == WARNING and "is relational" in ts_db.evidence
    assert "CREATE TS DATABASE" in ts_db.fix
    dedup = report.get("kwdb.dedup")
    assert dedup is not None and dedup.verdict == WARNING and "overwrite each other silently" in dedup.fix


def test_doctor_with_a_plan_file(capsys: pytest.CaptureFixture[str], two_dbs: tuple[str, str],
                                 tmp_path: Path) -> None:
    """The plan names the tables, the TS tables and their primary tags, and change capture;
    rows that arrived after planning (NULL meters) are found."""
    src, dst = two_dbs
    with psycopg.connect(src, autocommit=True) as c:
        c.execute("CREATE TABLE meter_readings (id bigserial PRIMARY KEY, ts timestamptz NOT NULL, meter_id int, "
                  "kwh float8)")
        c.execute("INSERT INTO meter_readings (ts, meter_id, kwh) SELECT now() - g * interval '1 s', g % 10, g "
                  "FROM generate_series(1, 500) g")
        c.execute("CREATE TABLE notes (body text)")
    plan = tmp_path / "m.plan.toml"
    code, _out, err = run(capsys, "plan", "--source", src, "--target-kind", "kwdb-ts", "--ts-suggest",
                          "--table", "public.meter_readings", "--save", str(plan))
    assert code == 0, err
    with psycopg.connect(src, autocommit=True) as c:
        c.execute("INSERT INTO meter_readings (ts, meter_id, kwh) VALUES (now(), NULL, 1), (now(), NULL, 2)")
    code, out, err = run(capsys, "doctor", str(plan), "--target", dst, "--json")
    doc = json.loads(out)
    checks = by_id(doc)
    assert code == 1, out + err
    ts = checks["ts.public.meter_readings"]
    assert ts["verdict"] == BLOCKER and "the plan makes it TS" in ts["evidence"]
    assert "2 row(s) with a NULL primary tag meter_id (e.g. id=501; id=502)" in ts["evidence"]
    assert "tables.no-pk" in checks and checks["tables.no-pk"]["verdict"] == OK  # notes is not in the plan
    assert "privileges.replication" in checks  # the plan keeps the source taking writes: change capture


def test_files_in_another_charset_are_a_blocker(capsys: pytest.CaptureFixture[str], db: object,
                                                tmp_path: Path) -> None:
    from .conftest import TestDb

    assert isinstance(db, TestDb)
    (tmp_path / "ok.csv").write_text("1,电表\n", encoding="utf-8")
    (tmp_path / "gbk.csv").write_bytes("2,电表\n".encode("gbk"))
    code, out, _ = run(capsys, "doctor", "--source", db.uri, "--files", str(tmp_path), "--json")
    enc = by_id(json.loads(out))["encoding"]
    assert code == 1 and enc["verdict"] == BLOCKER and enc["details"][0].startswith(str(tmp_path / "gbk.csv"))
    assert "--charset GBK" in enc["fix"]
    code, out, _ = run(capsys, "doctor", "--source", db.uri, "--files", str(tmp_path / "gbk.csv"), "--charset",
                       "GBK", "--json")
    assert code == 0 and by_id(json.loads(out))["encoding"]["verdict"] == OK


def test_ts_candidate_over_kwdb_limits(capsys: pytest.CaptureFixture[str], db: object) -> None:
    from .conftest import TestDb

    assert isinstance(db, TestDb)
    db.execute("CREATE TABLE sensor_log (id int PRIMARY KEY, at timestamptz NOT NULL, sensor_name text, "
               "payload bytea)")
    db.execute("INSERT INTO sensor_log SELECT g, now(), repeat('s', 200), '\\x00' FROM generate_series(1, 3) g")
    db.execute("CREATE TABLE probe (id int PRIMARY KEY, at timestamptz NOT NULL, station real)")
    code, out, _ = run(capsys, "doctor", "--source", db.uri, "--json", "--ts", "public.probe:station")
    checks = by_id(json.loads(out))
    wide = checks["ts.public.sensor_log"]
    assert code == 1 and wide["verdict"] == BLOCKER
    assert "primary tag sensor_name holds values of 200 bytes (KWDB takes at most 128)" in wide["evidence"]
    assert "payload bytea -> VARBYTES" in checks["ts-types.public.sensor_log"]["evidence"]
    flt = checks["ts.public.probe"]
    assert flt["verdict"] == BLOCKER and "primary tag station is real" in flt["evidence"]
    assert "given with --ts" in flt["evidence"] and "integer or text primary tag" in flt["fix"]
