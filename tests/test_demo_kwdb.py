"""kwtui --demo --kwdb: the shared KWDB beside the demo, with the smart-meter sample (issue 17)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from kwtui import demo

pytestmark = pytest.mark.kwdb


def test_the_kwdb_demo_loads_the_smart_meter_sample_once(tmp_path: Path) -> None:
    if demo.kwdb_node_script() is None:
        pytest.skip("no shared KWDB build beside this checkout")
    said: list[str] = []
    kw = demo.start_kwdb_demo(base=tmp_path, progress=said.append)
    try:
        assert kw.seeded_now and any("smart-meter" in m for m in said)
        with psycopg.connect(kw.uri, autocommit=True) as conn:
            dbs = {r[0]: r[1] for r in conn.execute("SELECT database_name, engine_type FROM [SHOW DATABASES]")}
            assert dbs.get("rdb") == "RELATIONAL" and dbs.get("tsdb") == "TIME SERIES"
            assert conn.execute("SELECT count(*) FROM tsdb.meter_data").fetchone() == (10100,)
    finally:
        kw.stop()
    # a second start reuses the data and the port
    again = demo.start_kwdb_demo(base=tmp_path)
    try:
        assert not again.seeded_now and again.uri == kw.uri
    finally:
        again.stop()
