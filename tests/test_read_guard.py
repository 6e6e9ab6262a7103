"""Read mode cannot change the server (issue 12): the attack corpus on a real PostgreSQL.

Every attack of ``readmode_corpus.ATTACKS`` is tried three ways — through the runner that
``kwtui query`` and the console share (one session living across all attempts, as in the
console), through ``kwtui export --query``, and through the console screen itself — and
after each one the server's state and the session's state are compared with the state
before. The ordinary reads of ``readmode_corpus.READS`` must all run in read mode.

The outcome of every attempt is counted by the layer that stopped it (parse / server /
catalog / server error) and written to ``$KWTUI_GUARD_REPORT`` when that is set (the
figures of the closing note).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from kwtui import guard
from kwtui.connection import ConnectionService, ConnectTarget, QueryError
from kwtui.errors import KwtuiError, UsageError
from kwtui.guard import ReadRefused
from kwtui.query import QueryRunner

from .readmode_corpus import ATTACKS, READS, Attempt
from .test_cli import error_lines, run

SETUP = """
CREATE EXTENSION dblink;
CREATE TABLE victim (id int PRIMARY KEY, v text);
INSERT INTO victim SELECT g, 'v' || g FROM generate_series(1, 10) g;
CREATE SEQUENCE s;
SELECT nextval('s');
SELECT lo_create(4243);
SELECT lo_put(4243, 0, 'hello');
CREATE FUNCTION evil_insert() RETURNS int VOLATILE LANGUAGE sql AS
  $$ INSERT INTO victim VALUES (1000 + (random() * 1000)::int, 'x') RETURNING 1 $$;
CREATE VIEW evil_view AS SELECT evil_insert() AS x;
CREATE VIEW evil_view2 AS SELECT * FROM evil_view;
CREATE VIEW plain_view AS SELECT id, upper(v) AS v FROM victim;
CREATE FUNCTION evil_op(int, int) RETURNS boolean VOLATILE LANGUAGE sql AS
  $$ INSERT INTO victim VALUES (2000, 'op') RETURNING true $$;
CREATE OPERATOR === (LEFTARG = int, RIGHTARG = int, FUNCTION = evil_op);
CREATE FUNCTION evil_sfunc(int, int) RETURNS int VOLATILE LANGUAGE sql AS
  $$ INSERT INTO victim VALUES (3000 + $2, 'agg') RETURNING $1 $$;
CREATE AGGREGATE evil_agg(int) (SFUNC = evil_sfunc, STYPE = int, INITCOND = '0');
CREATE FUNCTION stable_lock() RETURNS int STABLE LANGUAGE plpgsql AS
  $$ BEGIN PERFORM pg_advisory_lock(7); RETURN 1; END $$;
CREATE FUNCTION stable_dyn_lock() RETURNS int STABLE LANGUAGE plpgsql AS
  $$ BEGIN EXECUTE 'select pg_advisory_lock(8)'; RETURN 1; END $$;
CREATE FUNCTION stable_cfg() RETURNS text STABLE LANGUAGE sql AS
  $$ SELECT set_config('search_path', 'evil', false) $$;
CREATE FUNCTION stable_dyn_cfg() RETURNS text STABLE LANGUAGE plpgsql AS
  $$ DECLARE r text; BEGIN EXECUTE 'select set_config(''application_name'', ''pwned'', false)' INTO r;
     RETURN r; END $$;
CREATE FUNCTION stable_nextval() RETURNS bigint STABLE LANGUAGE plpgsql AS $$ BEGIN RETURN nextval('s'); END $$;
CREATE FUNCTION stable_dyn_nextval() RETURNS bigint STABLE LANGUAGE plpgsql AS
  $$ DECLARE r bigint; BEGIN EXECUTE 'select nextval(''s'')' INTO r; RETURN r; END $$;
CREATE FUNCTION stable_dyn_terminate(p int) RETURNS bool STABLE LANGUAGE plpgsql AS
  $$ DECLARE r bool; BEGIN EXECUTE 'select pg_terminate_backend($1)' INTO r USING p; RETURN r; END $$;
CREATE FUNCTION stable_plain() RETURNS int STABLE LANGUAGE sql AS $$ SELECT count(*)::int FROM victim $$;
"""


@dataclass
class Corpus:
    uri: str
    conninfo: str
    scratch: Path
    victim: psycopg.Connection[Any]
    listener: psycopg.Connection[Any]
    conn_string: str

    @property
    def victim_pid(self) -> int:
        return int(self.victim.info.backend_pid)

    def text(self, attempt: Attempt) -> str:
        return (attempt.sql.replace("{pid}", str(self.victim_pid)).replace("{dir}", str(self.scratch))
                .replace("{conn}", self.conn_string))


@pytest.fixture(scope="module")
def corpus(pg_server: Any) -> Iterator[Corpus]:
    name = "rg_" + uuid.uuid4().hex[:10]
    with psycopg.connect(pg_server.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    conn_string = f"host={pg_server.host} port={pg_server.port} dbname={name} user=postgres"
    with psycopg.connect(pg_server.conninfo(name), autocommit=True) as conn:
        conn.execute(SETUP)  # type: ignore[arg-type]
        conn.execute(sql.SQL(  # dblink inside a STABLE function: found by reading its body
            "CREATE FUNCTION stable_dblink() RETURNS int STABLE LANGUAGE sql AS {}").format(
            sql.Literal(f"SELECT dblink_exec('{conn_string}', 'delete from victim')::text::int")))
    scratch = Path(tempfile.mkdtemp(prefix="kwtui-scratch-"))
    scratch.chmod(0o777)  # the server (another user when run as root) could write here if let
    (scratch / "in.csv").write_text("500,x\n")
    (scratch / "in.csv").chmod(0o666)
    victim = psycopg.connect(pg_server.conninfo(name), autocommit=True)
    listener = psycopg.connect(pg_server.conninfo(name), autocommit=True)
    listener.execute("LISTEN kwtui_t")
    try:
        yield Corpus(pg_server.uri(name), pg_server.conninfo(name), scratch, victim, listener, conn_string)
    finally:
        victim.close()
        listener.close()
        shutil.rmtree(scratch, ignore_errors=True)
        with psycopg.connect(pg_server.conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                                 "WHERE slot_name LIKE 'kwtui%'"))
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


STATE_QUERIES = {
    "rows": "SELECT count(*), md5(string_agg(id || ':' || coalesce(v, ''), ',' ORDER BY id)) FROM victim",
    "tables": "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace ORDER BY 1",
    "sequence": "SELECT last_value, is_called FROM s",
    "slots": "SELECT slot_name FROM pg_replication_slots ORDER BY 1",
    "origins": "SELECT roname FROM pg_replication_origin ORDER BY 1",
    "config loaded": "SELECT pg_conf_load_time()",
    "advisory locks": "SELECT objid FROM pg_locks WHERE locktype = 'advisory' ORDER BY 1",
    "large objects": "SELECT oid FROM pg_largeobject_metadata ORDER BY 1",
    "large object 4243": "SELECT md5(lo_get(4243))",
    "database stats reset": "SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()",
    "bgwriter stats reset": "SELECT stats_reset FROM pg_stat_bgwriter",
    "collations": "SELECT count(*) FROM pg_collation",
    "temp relations": "SELECT count(*) FROM pg_class WHERE relpersistence = 't'",
    "prepared transactions": "SELECT count(*) FROM pg_prepared_xacts",
}


def server_state(c: Corpus) -> dict[str, Any]:
    with psycopg.connect(c.conninfo, autocommit=True) as o:
        state: dict[str, Any] = {k: o.execute(q).fetchall() for k, q in STATE_QUERIES.items()}  # type: ignore[arg-type]
        state["victim alive"] = o.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s",
                                          (c.victim_pid,)).fetchall()
        # sessions of this database (dblink connections would outlive the statement); a
        # client that just disconnected may linger a moment
        deadline = time.monotonic() + 2
        while True:
            n = o.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                          "AND backend_type = 'client backend' AND pid <> pg_backend_pid()").fetchone()
            if n is None or n[0] <= 3 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        state["other sessions"] = n
    c.victim.execute("SELECT 1")  # still alive and usable
    state["notifications"] = [n.payload for n in c.listener.notifies(timeout=0.0)]
    state["files"] = sorted(os.listdir(c.scratch))
    return state


SESSION = ("SELECT current_setting('search_path'), current_setting('application_name'), "
           "current_setting('statement_timeout'), current_setting('default_transaction_read_only'), "
           "(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()), "
           "(SELECT count(*) FROM pg_prepared_statements WHERE name !~ '^_pg3_'), "
           "(SELECT count(*) FROM pg_cursors WHERE name <> ''), (SELECT count(*) FROM pg_listening_channels())")


async def session_state(svc: ConnectionService) -> tuple[Any, ...]:
    res = await svc.query(SESSION)
    conn = svc._require()
    return (*res.rows[0], conn.info.transaction_status.name)


def layer_of(exc: BaseException) -> str:
    if isinstance(exc, ReadRefused):
        return exc.by
    if isinstance(exc, UsageError):
        return "parse"
    if isinstance(exc, QueryError | KwtuiError):
        return "server error"
    raise exc


SERVER_HELD: list[tuple[str, str]] = []  # attempts that reached the server's execution, and its answer


async def attempt_runner(runner: QueryRunner, text: str) -> str:
    try:
        guarded = runner.prepare(text, write_mode=False)
        ex = await runner.run(guarded, write_mode=False)
        if ex.stream is not None:
            while not ex.stream.done:
                await ex.stream.next_page(500)
            await ex.stream.close()
        return "ran"
    except (KwtuiError, QueryError) as exc:
        layer = layer_of(exc)
        if layer == "server error":
            SERVER_HELD.append((text, exc.message))
        return layer


def _report(name: str, outcomes: dict[str, Counter[str]]) -> None:
    path = os.environ.get("KWTUI_GUARD_REPORT")
    if not path:
        return
    data = json.loads(Path(path).read_text()) if Path(path).exists() else {}
    data[name] = {cls: dict(c) for cls, c in outcomes.items()}
    if name == "query runner":
        data["server errors"] = SERVER_HELD
    Path(path).write_text(json.dumps(data, indent=1, sort_keys=True))


def test_the_corpus_is_big_enough() -> None:
    assert len(ATTACKS) >= 150
    assert len(READS) >= 50
    assert len({a.cls for a in ATTACKS}) >= 10


async def test_every_attack_changes_nothing_through_the_query_runner(corpus: Corpus) -> None:
    """The runner of ``kwtui query`` and the console: one session across all attempts."""
    svc = ConnectionService(ConnectTarget.from_dsn(corpus.uri))
    await svc.connect()
    runner = QueryRunner(svc, timeout=30)
    outcomes: dict[str, Counter[str]] = {}
    try:
        before, session_before = server_state(corpus), await session_state(svc)
        for attempt in ATTACKS:
            text = corpus.text(attempt)
            outcome = await attempt_runner(runner, text)
            outcomes.setdefault(attempt.cls, Counter())[outcome] += 1
            assert attempt.may_run or outcome != "ran", f"ran in read mode: {text!r}"
            assert server_state(corpus) == before, f"the server changed after {text!r} ({outcome})"
            assert await session_state(svc) == session_before, f"the session changed after {text!r}"
    finally:
        await svc.close()
    _report("query runner", outcomes)


def test_every_attack_changes_nothing_through_export_query(corpus: Corpus, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    outcomes: dict[str, Counter[str]] = {}
    before = server_state(corpus)
    for i, attempt in enumerate(ATTACKS):
        text = corpus.text(attempt)
        out_dir = tmp_path / f"e{i}"
        code, _out, err = run(capsys, "export", "--dsn", corpus.uri, "--query", text, "--to", str(out_dir))
        assert "Traceback" not in err
        if code == 0:
            outcome = "ran"
        elif code == 2:
            try:
                guard.parse_read(text, limit=None)
                outcome = "catalog" if "refused in read mode" in err else "server"
            except UsageError:
                outcome = "parse"
            assert len(error_lines(err)) == 1, err  # one line naming the reason
        else:
            outcome = "server error"
        outcomes.setdefault(attempt.cls, Counter())[outcome] += 1
        assert attempt.may_run or code != 0, f"export ran: {text!r}"
        assert code == 0 or not out_dir.exists() or not any(out_dir.iterdir()), f"files written for {text!r}"
        assert server_state(corpus) == before, f"the server changed after export --query {text!r} ({err})"
    _report("export --query", outcomes)


async def test_every_attack_changes_nothing_through_the_console_screen(corpus: Corpus, tmp_path: Path) -> None:
    from textual.widgets import TextArea

    from kwtui.history import History
    from kwtui.screens.app import KwtuiApp
    from kwtui.screens.console import ConsoleScreen
    from kwtui.screens.modals import ErrorModal

    class ConsoleApp(KwtuiApp):
        async def open_initial(self) -> None:
            svc = ConnectionService(ConnectTarget.from_dsn(corpus.uri))
            await svc.connect()
            self.push_screen(ConsoleScreen(svc, "corpus", history=History(tmp_path / "h.jsonl")))

    app = ConsoleApp()
    outcomes: dict[str, Counter[str]] = {}
    async with app.run_test(size=(100, 30)) as pilot:
        for _ in range(100):
            if isinstance(app.screen, ConsoleScreen):
                break
            await pilot.pause(0.05)
        console = app.screen
        assert isinstance(console, ConsoleScreen) and console.service is not None
        before, session_before = server_state(corpus), await session_state(console.service)
        for attempt in ATTACKS:
            text = corpus.text(attempt)
            editor = console.query_one("#sql-editor", TextArea)
            editor.text = text
            editor.focus()
            console.action_run_all()  # F6, run all: the whole input is the attempt
            for _ in range(400):  # until the worker has reported (a result or the error modal)
                await asyncio.sleep(0.005)
                if not console.running and not any(w.is_running for w in app.workers) and (
                        isinstance(app.screen, ErrorModal) or "running" not in str(
                            console.query_one("#console-status").render())):
                    break
            if isinstance(app.screen, ErrorModal):
                title = app.screen.title_text
                outcome = ("refused" if title.startswith("Refused") else "server error")
                await pilot.pause()  # let the modal finish mounting
                app.pop_screen()
            else:
                outcome = "ran"
            outcomes.setdefault(attempt.cls, Counter())[outcome] += 1
            # Run all runs several reads one after another, each through the guard alone (issue 13):
            # only the pure reads of the corpus may run; every mix with a write stays refused
            runs_all = text == "select 1; select 2"
            assert attempt.may_run or runs_all or outcome != "ran", f"ran in the console's read mode: {text!r}"
            assert not runs_all or outcome == "ran", f"Run all refused two reads: {text!r}"
            if console.stream is not None:
                await console.stream.close()
                console.stream = None
            assert server_state(corpus) == before, f"the server changed after {text!r} in the console"
            assert await session_state(console.service) == session_before, f"the session changed after {text!r}"
    _report("console screen", outcomes)


async def test_ordinary_reads_all_run_in_read_mode(corpus: Corpus) -> None:
    svc = ConnectionService(ConnectTarget.from_dsn(corpus.uri))
    await svc.connect()
    runner = QueryRunner(svc)
    failed: list[tuple[str, str]] = []
    try:
        before = server_state(corpus)
        for text in READS:
            try:
                guarded = runner.prepare(text, write_mode=False)
                ex = await runner.run(guarded, write_mode=False)
                assert ex.stream is not None
                rows = await ex.stream.next_page(100)
                await ex.stream.close()
                if guarded.limit_added:
                    assert len(rows) <= 20
            except KwtuiError as exc:
                failed.append((text, exc.message))
        assert server_state(corpus) == before
    finally:
        await svc.close()
    assert not failed, "\n".join(f"{t!r}: {m}" for t, m in failed)


def test_ordinary_reads_through_the_cli_keep_limit_20(corpus: Corpus, capsys: pytest.CaptureFixture[str]) -> None:
    for text in ("select * from generate_series(1, 100) g", "select * from plain_view"):
        code, out, err = run(capsys, "query", "--dsn", corpus.uri, "--json", text)
        assert code == 0, err
        doc = json.loads(out)
        assert doc["notice"] == "LIMIT 20 added" and len(doc["rows"]) <= 20
    code, out, err = run(capsys, "query", "--dsn", corpus.uri, "--json", "explain select * from victim")
    assert code == 0 and json.loads(out)["notice"] is None


def test_refusals_name_the_function_and_exit_2(corpus: Corpus, capsys: pytest.CaptureFixture[str]) -> None:
    pid = str(corpus.victim_pid)
    code, _, err = run(capsys, "query", "--dsn", corpus.uri, f'select "pg_terminate_backend"({pid})')
    assert code == 2
    assert err.strip() == ("kwtui: usage error: calls pg_terminate_backend, which signals other sessions: "
                           "refused in read mode; use write mode")
    code, _, err = run(capsys, "query", "--dsn", corpus.uri, "select * from evil_view2")
    assert code == 2 and "evil_insert, a VOLATILE function" in err
    code, _, err = run(capsys, "query", "--dsn", corpus.uri, "select 1 === 2")
    assert code == 2 and "evil_op" in err  # the function behind the operator
    code, _, err = run(capsys, "query", "--dsn", corpus.uri, "select stable_dyn_lock()")
    assert code == 2 and "dynamic SQL" in err
    # write mode still runs what read mode refuses
    code, out, err = run(capsys, "query", "--dsn", corpus.uri, "--write", "--yes", "select setseed(0.5)")
    assert code == 0, err


def test_the_statement_timeout_applies_and_is_configurable(corpus: Corpus, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "query", "--dsn", corpus.uri, "--statement-timeout", "0.2", "select pg_sleep(5)")
    assert code == 1 and "statement timeout" in err
    code, _, err = run(capsys, "query", "--dsn", corpus.uri, "--statement-timeout", "abc", "select 1")
    assert code == 2


def test_export_query_runs_the_text_the_server_parsed(corpus: Corpus, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "q"
    code, _, err = run(capsys, "export", "--dsn", corpus.uri, "--query",
                       "select id, v from victim where id <= 3 -- a trailing comment", "--to", str(out))
    assert code == 0, err
    data = b"".join(p.read_bytes() for p in sorted(out.glob("n1.*.csv")))
    assert data == b"1,v1\n2,v2\n3,v3\n"


def test_a_read_leaves_no_transaction_and_no_guard_view_behind(corpus: Corpus) -> None:
    async def go() -> None:
        svc = ConnectionService(ConnectTarget.from_dsn(corpus.uri))
        await svc.connect()
        try:
            checked = await svc.check_read("select * from plain_view")
            assert checked.method == "query tree" and {c.name for c in checked.calls} >= {"upper"}
            res = await svc.query("select count(*) from pg_class where relname = 'kwtui_read_guard'")
            assert res.rows == [(0,)]
            assert svc._require().info.transaction_status.name == "IDLE"
        finally:
            await svc.close()

    asyncio.run(go())


def test_call_names_normalise_as_the_server_does() -> None:
    assert guard.call_names('select "Foo"(1), pg_catalog . BAR (2), x.y(3) from t') == [
        ("", "Foo"), ("pg_catalog", "bar"), ("x", "y")]
    assert guard.call_names("select 'f(1)', $$g(2)$$ -- h(3)") == []


def test_tree_oids_read_functions_and_operators() -> None:
    procs, ops = guard.tree_oids(["{FUNCEXPR :funcid 2096 :args ({OPEXPR :opno 551 :opfuncid 0})} "
                                  "{ROWCOMPAREEXPR :opnos (o 97 98)} {WINDOWFUNC :winfnoid 2803}"])
    assert procs == [2096, 2803] and ops == [97, 98, 551]


def test_judge_uses_the_catalog_facts_not_the_spelling() -> None:
    assert guard.judge(guard.Call("pg_catalog", "pg_terminate_backend", "v"), "postgres")
    assert guard.judge(guard.Call("pg_catalog", "random", "v"), "postgres") is None
    assert guard.judge(guard.Call("public", "my_volatile", "v", builtin=False), "postgres")
    assert guard.judge(guard.Call("public", "nextval", "s", builtin=False, language="sql"), "postgres") is None
    assert guard.judge(guard.Call("public", "py", "s", builtin=False, language="plpython3u"), "postgres")
    assert guard.judge(guard.Call("", "set_config"), "kwdb")
    assert guard.judge(guard.Call("kwdb_internal", "force_panic"), "kwdb")
    assert guard.judge(guard.Call("kwdb_internal", "set_vmodule"), "kwdb")
    assert guard.judge(guard.Call("kwdb_internal", "cluster_id"), "kwdb") is None
    assert guard.judge(guard.Call("", "now"), "kwdb") is None
