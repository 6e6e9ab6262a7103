"""A whole migration PostgreSQL -> live KWDB: a mixed plan (a TS database and a relational one), every phase."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from kwtui.migration import MigrationPlan, MigrationState
from kwtui.plan import VIA_IMPORT

from .test_cli import run
from .test_transfer import execute

pytestmark = pytest.mark.kwdb

METERS = """
CREATE TABLE sites (id int PRIMARY KEY, name text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE tariffs (id int PRIMARY KEY, site_id int NOT NULL REFERENCES sites(id), price numeric(10, 4),
    updated_at timestamptz NOT NULL DEFAULT now());
INSERT INTO sites SELECT g, 'site ' || g, now() - interval '1 day' FROM generate_series(1, 5) g;
INSERT INTO tariffs SELECT g, 1 + g % 5, g * 0.0125, now() - interval '1 day' FROM generate_series(1, 40) g;
CREATE TABLE readings (ts timestamptz NOT NULL, meter_id int NOT NULL, site text NOT NULL, kwh float8,
    PRIMARY KEY (ts, meter_id));
INSERT INTO readings SELECT timestamptz '2024-01-01' + (g / 20) * interval '1 minute', g % 20,
    'site ' || (g % 20 % 5), g * 0.25 FROM generate_series(1, 4000) g;
"""


def _fetch(uri: str, query: str) -> list[tuple]:
    with psycopg.connect(uri, autocommit=True) as conn:
        cur = conn.execute(query)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


@pytest.fixture
def kwdb_ts_name(kwdb: str) -> Iterator[str]:
    """The default TS database of a plan against ``kwdb`` (``<db>_ts``), dropped afterwards."""
    name = kwdb.split("/")[-1].split("?")[0] + "_ts"
    yield name
    _fetch(kwdb, f"DROP DATABASE IF EXISTS {name} CASCADE")


def test_ts_suggest_plan_runs_every_phase_across_a_ts_and_a_relational_database(
        capsys: pytest.CaptureFixture[str], db, kwdb: str, kwdb_ts_name: str,  # type: ignore[no-untyped-def]
        tmp_path: Path) -> None:
    """plan --ts-suggest against KWDB: readings -> TS database <db>_ts (created by the schema phase), the
    rest -> the relational database; run --yes: every phase, validation equal, runbook names both."""
    src = db.uri
    execute(src, METERS)
    code, out, err = run(capsys, "plan", "--source", src, "--target", kwdb, "--ts-suggest")  # the report only
    assert code == 0, err
    assert f"TS database: {kwdb_ts_name} (CREATE TS DATABASE {kwdb_ts_name}) holds public.readings" in out
    assert "DDL (kwdb-ts)" in out and "CREATE TABLE public.sites (" in out and "PRIMARY TAGS (meter_id)" in out
    planfile = tmp_path / "meters.plan.toml"
    code, out, err = run(capsys, "plan", "--source", src, "--target", kwdb, "--ts-suggest", "--save", str(planfile))
    assert code == 0, err
    p = MigrationPlan.load(planfile)
    assert p.target_kind == "kwdb-ts" and p.requirements.ts_database == kwdb_ts_name
    r = p.entry("public.readings")
    assert r.ts and r.database == kwdb_ts_name and "PRIMARY TAGS (meter_id)" in r.create
    assert not p.entry("public.sites").ts and p.entry("public.sites").database == ""
    assert f"TS database {kwdb_ts_name}" in out and f"{kwdb_ts_name}.public.readings (TS)" in out
    assert f"CREATE TS DATABASE {kwdb_ts_name};" in p.ddl_script()
    assert any(kwdb_ts_name in n for n in p.notes)
    code, out, err = run(capsys, "run", str(planfile), "--yes", "--accept-warnings")
    assert code == 0, out + err
    st = MigrationState.load(p, planfile)
    assert [ph.state for ph in st.phases] == ["done"] * 8, [(ph.key, ph.summary) for ph in st.phases]
    assert f"{kwdb_ts_name}: TS database created" in st.phase("schema").details
    assert any(f"in the TS database {kwdb_ts_name}: postgresql://" in d for d in st.phase("cutover").details)
    engines = dict(_fetch(kwdb, "SHOW DATABASES"))
    assert engines[kwdb_ts_name] == "TIME SERIES"
    ts_uri = kwdb.replace(kwdb.split("/")[-1].split("?")[0] + "?", kwdb_ts_name + "?")
    assert ("readings", "TIME SERIES TABLE") in _fetch(ts_uri, "SHOW TABLES")
    assert _fetch(ts_uri, "SELECT count(*), sum(kwh) FROM readings") == _fetch(
        src, "SELECT count(*), sum(kwh) FROM readings")
    assert _fetch(kwdb, "SELECT count(*) FROM tariffs") == [(40,)]
    v = st.phase("validation").data["validation"]
    assert v["ok"] and v["verdicts"] == {"public.sites": "equal", "public.tariffs": "equal",
                                         "public.readings": "equal"}
    # the checksum path held: no segment differed only in how the servers print values (no row fetch)
    report = (planfile.parent / "final-validation.md").read_text()
    assert "method: checksum" in report and "after normalisation" not in report, report
    # post-migration looks for each table in its own database: statistics on all three (the TS table in the
    # TS database: it once ran on the relational one, "relation public.readings does not exist")
    tasks = {t["id"]: t for t in st.phase("post-migration").data["tasks"]}
    assert tasks["statistics"]["verdict"] == "done", tasks["statistics"]
    assert tasks["statistics"]["evidence"] == "CREATE STATISTICS on 3 table(s)", tasks["statistics"]
    assert tasks["objects.public.readings"]["verdict"] == "ok", tasks["objects.public.readings"]
    monitoring = st.phase("post-migration").data["monitoring"]
    assert f'SELECT \'public.readings\' AS t, count(*) FROM "{kwdb_ts_name}"."public"."readings";' in monitoring
    code, out, err = run(capsys, "post-migrate", str(planfile), "--json")  # the same from the command line
    post = {t["id"]: t for t in json.loads(out)["tasks"]}
    assert post["statistics"]["evidence"] == "CREATE STATISTICS on 3 table(s)", (out, err)
    runbook = (planfile.parent / (planfile.name + ".runbook.md")).read_text()
    assert f"time-series tables in the TS database `{kwdb_ts_name}`" in runbook and "CREATE TS DATABASE" in runbook
    assert f"{kwdb_ts_name}.public.readings (TS)" in runbook
    # a change on the source after the copy: the catch-up (INSERT into TS, UPSERT relational) carries it
    execute(src, "INSERT INTO readings VALUES ('2030-01-01', 3, 'site 3', 9.5);"
                 "UPDATE sites SET name = 'renamed', updated_at = now() WHERE id = 2")
    code, out, err = run(capsys, "run", str(planfile), "--phase", "catchup")
    assert code == 0, out + err
    assert _fetch(ts_uri, "SELECT kwh FROM readings WHERE ts = '2030-01-01'") == [(9.5,)]
    assert _fetch(kwdb, "SELECT name FROM sites WHERE id = 2") == [("renamed",)]


def test_via_import_is_chosen_for_big_tables_and_used_by_the_historical_phase(
        capsys: pytest.CaptureFixture[str], db, kwdb: str,  # type: ignore[no-untyped-def]
        tmp_path: Path) -> None:
    """The plan picks via-import (KWDB's IMPORT pulls the rows) with its reason; the phase loads by it,
    a re-run skips the loaded table, and a non-empty target is refused."""
    src = db.uri
    execute(src, "CREATE TABLE big (id bigint PRIMARY KEY, v text, b bytea);"
                 "INSERT INTO big SELECT g, 'v' || g, decode(md5(g::text), 'hex') FROM generate_series(1, 120000) g;"
                 "CREATE TABLE small (id int PRIMARY KEY, v text); INSERT INTO small VALUES (1, 'a'), (2, NULL);"
                 "ANALYZE")
    planfile = tmp_path / "big.plan.toml"
    code, out, err = run(capsys, "plan", "--source", src, "--target", kwdb, "--save", str(planfile),
                         "--no-source-writes")
    assert code == 0, err
    p = MigrationPlan.load(planfile)
    big, small = p.entry("public.big"), p.entry("public.small")
    assert big.method == VIA_IMPORT and "KWDB's IMPORT pulls them" in big.reason and "empty" in big.reason
    assert small.method == "streamed" and any("KWDB's IMPORT pulls the rows" in n for n in p.notes)
    code, out, err = run(capsys, "run", str(planfile), "--yes", "--accept-warnings")
    assert code == 0, out + err
    st = MigrationState.load(p, planfile)
    hist = st.phase("historical")
    assert hist.data["pulled"] == {"public.big": 120000}
    assert any("http IMPORT" in d and "rows/s" in d for d in hist.details)
    assert st.phase("validation").data["validation"]["ok"]
    assert _fetch(kwdb, "SELECT sum(length(b)) FROM big") == [(120000 * 16,)]
    # a fresh plan into the same, now full, table: refused (via-import loads an empty table only)
    p2 = tmp_path / "again.plan.toml"
    code, out, err = run(capsys, "plan", "--source", src, "--target", kwdb, "--save", str(p2),
                         "--no-source-writes", "--via-import", "always", "--if-exists", "append")
    assert code == 0, err
    code, out, err = run(capsys, "run", str(p2), "--through", "historical", "--accept-warnings")
    assert code == 1
    st2 = MigrationState.load(MigrationPlan.load(p2), p2)
    assert "already holds 120,000 rows" in st2.phase("historical").summary
