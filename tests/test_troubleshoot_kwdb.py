"""The failure knowledge base on KWDB: texts provoked on the live node, and every ERROR text of
KWDB's recorded QA output (../shared/kwdb/qa-import-export/master) recognised."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from kwtui.connection import ConnectionService, ConnectTarget
from kwtui.transfer import native
from kwtui.troubleshoot import diagnose

from .test_cli import run

QA = Path(__file__).resolve().parents[1].parent / "shared" / "kwdb" / "qa-import-export" / "master"

pytestmark = pytest.mark.kwdb


@pytest.fixture
def kwdb_ts(kwdb_server: str) -> Iterator[str]:
    """A fresh time-series database on the node (its name), dropped afterwards."""
    name = "kbts_" + uuid.uuid4().hex[:8]
    with psycopg.connect(kwdb_server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE TS DATABASE {}").format(sql.Identifier(name)))
    yield name
    with psycopg.connect(kwdb_server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def provoke(uri: str, statement: str) -> psycopg.Error:
    with psycopg.connect(uri, autocommit=True) as conn, pytest.raises(psycopg.Error) as caught:
        conn.execute(statement)  # type: ignore[arg-type]  # test statements
    return caught.value


TS_DDL = {
    "kwdb.ts-unsupported-type": "CREATE TABLE {db}.t (ts timestamptz NOT NULL, v decimal) TAGS (dev int NOT NULL) "
                                "PRIMARY TAGS (dev)",
    "kwdb.primary-tag-limits": "CREATE TABLE {db}.t (ts timestamptz NOT NULL, v int) TAGS (dev int) PRIMARY TAGS (dev)",
    "kwdb.ts-first-column": "CREATE TABLE {db}.t (v int, ts timestamptz NOT NULL) TAGS (dev int NOT NULL) "
                            "PRIMARY TAGS (dev)",
    "kwdb.ts-relational-feature": "CREATE TABLE {db}.t (ts timestamptz NOT NULL PRIMARY KEY, v int) "
                                  "TAGS (dev int NOT NULL) PRIMARY TAGS (dev)",
}


@pytest.mark.parametrize("kb", sorted(TS_DDL))
def test_time_series_ddl_failures(kwdb_server: str, kwdb_ts: str, kb: str) -> None:
    exc = provoke(kwdb_server, TS_DDL[kb].format(db=kwdb_ts))
    d = diagnose(exc)
    assert d is not None and d.id == kb, str(exc)
    assert d.cause and d.fix


def test_primary_tag_too_wide_or_float(kwdb_server: str, kwdb_ts: str) -> None:
    for tag in ("varchar(200)", "float8"):
        exc = provoke(kwdb_server, f"CREATE TABLE {kwdb_ts}.t (ts timestamptz NOT NULL, v int) "
                                   f"TAGS (dev {tag} NOT NULL) PRIMARY TAGS (dev)")
        d = diagnose(exc)
        assert d is not None and d.id == "kwdb.primary-tag-limits", str(exc)
        assert "128" in d.fix and "non-float" in d.fix


def test_ts_table_in_a_relational_database(kwdb: str) -> None:
    exc = provoke(kwdb, "CREATE TABLE t (ts timestamptz NOT NULL, v int) TAGS (dev int NOT NULL) PRIMARY TAGS (dev)")
    d = diagnose(exc)
    assert d is not None and d.id == "kwdb.engine-mismatch" and "CREATE TS DATABASE" in d.fix
    assert d.action is not None and d.action.command is not None and d.action.command.startswith("CREATE TS DATABASE")


@pytest.fixture
def kwrel(kwdb: str) -> str:
    with psycopg.connect(kwdb, autocommit=True) as conn:
        conn.execute("CREATE TABLE r (id int PRIMARY KEY, v text)")
        conn.execute("INSERT INTO r VALUES (1, 'a'), (2, 'b')")
    return kwdb


def test_export_inside_a_transaction_then_autocommit_fixes_it(kwrel: str) -> None:
    where = "nodelocal://1/kb-" + uuid.uuid4().hex[:8]
    stmt = native.export_table(where, "r")
    with psycopg.connect(kwrel) as conn, pytest.raises(psycopg.Error) as caught:  # psycopg's implicit BEGIN
        conn.execute(stmt.sql)  # type: ignore[arg-type]  # built and checked by kwtui.transfer.native
    d = diagnose(caught.value)
    assert d is not None and d.id == "kwdb.in-transaction" and "autocommit" in d.fix
    assert d.action is not None and d.action.id == "autocommit" and d.action.command == "kwtui export --native ..."

    async def in_autocommit() -> native.NativeResult:  # the action: the same statement in autocommit
        async with ConnectionService(ConnectTarget.from_dsn(kwrel)) as svc:
            return await native.run_native(svc, stmt)

    import asyncio

    assert asyncio.run(in_autocommit()).ok


def test_export_path_not_empty_then_fresh_dir(capsys: pytest.CaptureFixture[str], kwrel: str) -> None:
    where = "nodelocal://1/kb-" + uuid.uuid4().hex[:8]
    argv = ["export", "--dsn", kwrel, "--native", "--table", "r", "--to", where]
    assert run(capsys, *argv)[0] == 0
    code, _out, err = run(capsys, *argv)
    assert code == 1 and "is not empty (contains" in err
    assert "  cause: the export directory already holds files" in err and "--fresh-dir" in err
    code, out, err = run(capsys, *argv, "--json")
    doc = json.loads(out.strip().splitlines()[-1])
    assert doc["kb"] == "kwdb.export-dir-not-empty" and doc["action"]["flag"] == "--fresh-dir"
    code, out, err = run(capsys, *argv, "--fresh-dir")
    assert code == 0, err
    assert re.search(rf"{re.escape(where)}-\d{{8}}T\d{{6}}", out + err)


IMPORT_FAILURES = {
    "kwdb.format-options": "IMPORT INTO r CSV DATA (\"{d}/n1.0.csv\") WITH nullif = 'a', nullif = 'b'",
    "kwdb.expected-file": "IMPORT INTO r CSV DATA (\"{d}\")",
    "kwdb.file-missing": "IMPORT INTO r CSV DATA (\"nodelocal://1/no-such-kb/n1.0.csv\")",
    "kwdb.field-count": "IMPORT INTO r (id) CSV DATA (\"{d}/n1.0.csv\")",
    "kwdb.chunk-size": "EXPORT INTO CSV \"{d}-2\" FROM TABLE r WITH chunk_rows = '200000'",
    "kwdb.charset": "EXPORT INTO CSV \"{d}-3\" FROM TABLE r WITH charset = 'LATIN1'",
    "kwdb.enterprise-only": "BACKUP TO 'nodelocal://1/kb-backup'",
}


def test_import_export_failures_on_the_node(kwrel: str) -> None:
    where = "nodelocal://1/kb-" + uuid.uuid4().hex[:8]
    with psycopg.connect(kwrel, autocommit=True) as conn:
        conn.execute(native.export_table(where, "r").sql)  # type: ignore[arg-type]
    for kb, statement in IMPORT_FAILURES.items():
        exc = provoke(kwrel, statement.format(d=where))
        d = diagnose(exc)
        assert d is not None and d.id == kb, (kb, str(exc))


# -- KWDB's recorded QA output --------------------------------------------------------------------

QA_EXPECTED = {
    "Import regular data only supports CSV format": "kwdb.sql-format",
    "target column a is not in table tb1": "kwdb.target-columns",
    'specifying the same option "nullif" is not supported': "kwdb.format-options",
    "multiple assignments to the same column e3": "kwdb.target-columns",
    "export path nodelocal://1/tbtest1/tb1/ is not empty": "kwdb.export-dir-not-empty",
    'could not resolve "\\escape': "kwdb.enclosed-escaped",
    'column "a" does not exist': "pg.undefined-column",
    "Exporting SQL only supports single table queries": "kwdb.sql-format",
    "Exporting SQL cannot supports BytesFamily": "kwdb.sql-format",
    "'WITH PRIVILEGES' can only be used": "kwdb.option-misuse",
    "There is a REJECT FILE, please read and resolve it": "kwdb.ts-rejects",
}


def test_every_recorded_qa_error_has_an_entry() -> None:
    if not QA.is_dir():
        pytest.skip(f"{QA} is absent (CI has ../shared/kwdb)")
    texts = set()
    for f in QA.glob("*.master"):
        for line in f.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("ERROR:"):
                texts.add(line.removeprefix("ERROR:").strip())
            elif "There is a REJECT FILE" in line:
                texts.add("There is a REJECT FILE, please read and resolve it")
    assert len(texts) >= 12
    for text in texts:
        d = diagnose(text)
        assert d is not None, text
        expected = next((kb for start, kb in QA_EXPECTED.items() if text.startswith(start)), None)
        assert expected is None or d.id == expected, (text, d.id)
    assert {next(kb for s, kb in QA_EXPECTED.items() if t.startswith(s)) for t in texts
            if any(t.startswith(s) for s in QA_EXPECTED)} == set(QA_EXPECTED.values())


def test_ts_import_with_rejected_rows_is_a_partial_load(capsys: pytest.CaptureFixture[str], kwdb_server: str,
                                                        kwdb_ts: str, tmp_path: Path) -> None:
    with psycopg.connect(kwdb_server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE TABLE {}.m (ts timestamptz NOT NULL, v int) TAGS (dev int NOT NULL) "
                             "PRIMARY TAGS (dev)").format(sql.Identifier(kwdb_ts)))
    data = tmp_path / "m"
    data.mkdir()
    (data / "n1.0.csv").write_text("2026-01-01 00:00:00+00,1,7\n2026-01-01 00:00:01+00,not-a-number,7\n"
                                   "2026-01-01 00:00:02+00,3,7\n", encoding="utf-8")
    uri = kwdb_server.replace("/defaultdb?", f"/{kwdb_ts}?")
    code, out, err = run(capsys, "import", "--dsn", uri, "--from", str(data), "--into", "m", "--native",
                         "--stage", "kb-" + uuid.uuid4().hex[:8])
    if "reject" not in out + err:
        pytest.skip(f"this KWDB build did not reject the row: {out} {err}")
    assert "  cause: the time-series IMPORT says succeeded but rejected rows" in out
    assert "reject.n<node>.<idx>.txt" in out


def test_multi_thread_import_cut_at_quoted_line_breaks_then_one_thread(
        capsys: pytest.CaptureFixture[str], kwdb_server: str, kwdb_ts: str, tmp_path: Path) -> None:
    ddl = sql.SQL("CREATE TABLE {}.lb (ts timestamptz NOT NULL, v varchar(50)) TAGS (dev int NOT NULL) "
                  "PRIMARY TAGS (dev)").format(sql.Identifier(kwdb_ts))
    with psycopg.connect(kwdb_server, autocommit=True) as conn:
        conn.execute(ddl)
    data = tmp_path / "lb"
    data.mkdir()
    with (data / "n1.0.csv").open("w", encoding="utf-8") as f:
        for i in range(20_000):  # each row holds a quoted line break; unique (timestamp, dev)
            f.write(f'2026-01-01 {i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}+00,"line\nbreak {i}",'
                    f'{i % 7}\n')
    uri = kwdb_server.replace("/defaultdb?", f"/{kwdb_ts}?")
    stage = "kb-" + uuid.uuid4().hex[:8]
    argv = ["import", "--dsn", uri, "--from", str(data), "--into", "lb", "--native", "--stage", stage]
    code, _out, err = run(capsys, *argv, "--thread-concurrency", "8")
    if code == 0:
        pytest.skip("this KWDB build split the file where no quoted line break was cut")
    assert "contains line breaks" in err
    assert "  cause: a multi-thread import split the file by byte ranges" in err
    assert "--thread-concurrency 1" in err
    # the fix: drop what landed, import again with one thread
    with psycopg.connect(kwdb_server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP TABLE {}.lb").format(sql.Identifier(kwdb_ts)))
        conn.execute(ddl)
    stage2 = "kb-" + uuid.uuid4().hex[:8]
    code, out, err = run(capsys, "import", "--dsn", uri, "--from", str(data), "--into", "lb", "--native", "--stage",
                         stage2, "--thread-concurrency", "1")
    assert code == 0, out + err
    with psycopg.connect(uri, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM lb").fetchone() == (20_000,)
