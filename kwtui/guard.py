"""Read mode: the one guard every read path goes through.

Read mode (the console's default, ``kwtui query`` without ``--write``, ``export --query``)
promises that nothing on the server changes. A list of forbidden words cannot keep that
promise (``"pg_terminate_backend"(pid)`` is the same function as ``pg_terminate_backend``),
so the server decides what the text is, in four layers, each of which alone refuses:

1. **Parsing** (:mod:`kwtui.sqlsafety`, no server contact): the input must be exactly one
   statement, and a read (SELECT / VALUES / TABLE / WITH ... SELECT / SHOW / EXPLAIN without
   ANALYZE of a write). Writes, transaction control, SET, COPY, LISTEN, PREPARE, DO, CALL,
   SELECT ... INTO / FOR UPDATE and writable CTEs stop here and nothing is sent.
2. **The server parses the text alone** (the extended protocol's Parse of the statement on
   its own, no Bind, no Execute): PostgreSQL and KWDB both refuse a string holding more than
   one statement there, and a text with an unbalanced ``)``, an unclosed comment or quote is
   a syntax error. Only text that parsed alone is ever put into another statement
   (``COPY (...) TO STDOUT``, ``LIMIT n`` after it, the dependency probe below), and always
   between line breaks, so a trailing ``--`` comment cannot swallow what follows.
3. **The catalog judges every function the statement calls**, resolved by the server, not
   by spelling. On PostgreSQL the statement is made into a temporary view (``CREATE TEMP
   VIEW ... AS SELECT FROM (<text>) s``, in a transaction that is always rolled back) and the
   functions are the OIDs in its stored query tree (``pg_rewrite.ev_action``; built-ins are
   pinned, so ``pg_depend`` never lists them): direct calls however quoted or qualified, aggregates,
   window functions (and every aggregate's support functions), the functions behind operators
   and casts, set-returning functions in
   FROM, TABLESAMPLE methods, and, recursively, everything the views it reads call. Each is
   judged from ``pg_proc``: a function on the reviewed list of functions that act (signal
   sessions, replication, backup and WAL, server files, large objects, session settings,
   advisory locks, notifications, sequences, statistics resets, running SQL text, extension
   RPC such as dblink / postgres_fdw) is refused whatever its volatility; any other VOLATILE
   function is refused unless it is on the reviewed list of harmless ones (random,
   clock_timestamp, gen_random_uuid, size and monitoring reads...). Non-volatile functions
   written by users in SQL or PL/pgSQL have their bodies read for the functions they name
   (to a depth of 3). SHOW and EXPLAIN (and servers where a temporary view cannot be made:
   a hot standby, no TEMP privilege) fall back to the names the lexer finds, each resolved
   in ``pg_proc`` over every overload on the search path (conservative: one acting overload
   refuses the name).
   KWDB's catalog has no volatility (``pg_proc.provolatile`` is NULL for all 1,583 built-ins
   of V3.2.1) and no user functions, no temporary views: there the names found by the lexer,
   normalised as the server does (unquoted lower-cased, quoted kept, schema stripped), are
   judged against the reviewed list of KWDB built-ins that act (``set_config``, ``nextval``,
   ``setval``, ``kwdb_internal.force_panic`` / ``force_log_fatal`` / ``set_vmodule`` ...,
   ``relocate_range``, advisory locks); every other ``kwdb_internal.*`` function is refused
   unless it is a reviewed read.
4. **The statement runs in a READ ONLY transaction that is rolled back, never committed**,
   with a statement timeout (:data:`DEFAULT_TIMEOUT`, configurable), so GUC changes and
   anything else transactional vanish with it.

What could not be held, said plainly:
- Session state that survives a rollback on PostgreSQL comes only from functions (session
  advisory locks, dblink connections, a changed random seed): the acting ones are refused
  by layer 3. A non-volatile user function whose PL/pgSQL body runs dynamic SQL (EXECUTE
  '...') cannot be seen through; after any statement that called a user function, session
  advisory locks are released (``pg_advisory_unlock_all()``).
- Functions inside row-level security policies of the tables read, and user-defined C
  functions of unknown extensions that are not VOLATILE, are trusted as declared.
- KWDB: ``set_config`` survives ROLLBACK (checked on V3.2.1), so it is refused up front;
  time-series tables ignore READ ONLY and ROLLBACK alike (an INSERT inside ``BEGIN READ
  ONLY`` ... ``ROLLBACK`` kept its row), so on KWDB writes to TS tables are held by layer 1
  alone. KWDB views are not opened: a function inside a view is held only by layer 4.
  ``SET LOCAL`` does not exist on KWDB: the timeout is set for the session and put back.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from kwtui import sqlsafety
from kwtui.errors import UsageError

#: seconds a read statement may run in read mode (0: no limit); KWTUI_STATEMENT_TIMEOUT overrides it
DEFAULT_TIMEOUT = 300.0


def default_timeout(*, strict: bool = False) -> float | None:
    """Read mode's statement timeout: ``KWTUI_STATEMENT_TIMEOUT`` seconds when set (0: none), else 300.

    A value that is not a number is a usage error with ``strict`` (the CLI), else the default.
    """
    raw = os.environ.get("KWTUI_STATEMENT_TIMEOUT", "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        if strict:
            raise UsageError(f"KWTUI_STATEMENT_TIMEOUT must be a number of seconds, not {raw!r}") from None
        return DEFAULT_TIMEOUT
    return value if value > 0 else None

PARSE, SERVER, CATALOG = "parse", "server", "catalog"


class ReadRefused(UsageError):
    """Read mode will not run this (exit code 2); ``by`` says which layer refused it."""

    def __init__(self, message: str, *, by: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.by = by


@dataclass(frozen=True)
class Call:
    """One function the statement calls, as the server resolved it."""

    schema: str
    name: str
    volatility: str = "?"  # i, s, v; "?" where the server does not say (KWDB)
    builtin: bool = True
    extension: str = ""
    language: str = ""
    body: str = ""
    oid: int = 0

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name


@dataclass(frozen=True)
class CheckedRead:
    """A read statement the guard let through, and how to send it."""

    text: str  # the statement as the server parsed it alone
    sql: str  # what to send: the text, and LIMIT n after a line break when one was added
    verb: str
    limit_added: bool
    calls: tuple[Call, ...] = ()
    method: str = ""  # how functions were found: "query tree", "names" or "none"
    cleanup: tuple[str, ...] = field(default=())  # statements to run after the rollback

    @property
    def notice(self) -> str | None:
        return "LIMIT 20 added" if self.limit_added else None


# --- the reviewed lists ---------------------------------------------------------------------

# Functions that act, whatever their volatility: name -> why. Prefix entries end with "*".
_ACTING_PG: dict[str, str] = {
    **dict.fromkeys(["pg_terminate_backend", "pg_cancel_backend", "pg_signal_backend"], "signals other sessions"),
    **dict.fromkeys(["pg_reload_conf", "pg_rotate_logfile", "pg_rotate_logfile_old", "pg_log_backend_memory_contexts",
                     "pg_promote", "pg_wal_replay_pause", "pg_wal_replay_resume", "pg_log_standby_snapshot",
                     "pg_stop_making_pinned_objects"], "signals or reconfigures the server"),
    **dict.fromkeys(["pg_create_physical_replication_slot", "pg_create_logical_replication_slot",
                     "pg_drop_replication_slot", "pg_copy_physical_replication_slot",
                     "pg_copy_logical_replication_slot", "pg_replication_slot_advance", "pg_sync_replication_slots",
                     "pg_logical_slot_get_changes", "pg_logical_slot_get_binary_changes",
                     "pg_logical_slot_peek_changes", "pg_logical_slot_peek_binary_changes",
                     "pg_logical_emit_message", "pg_replication_origin_*"], "changes replication state"),
    **dict.fromkeys(["pg_backup_start", "pg_backup_stop", "pg_start_backup", "pg_stop_backup", "pg_switch_wal",
                     "pg_switch_xlog", "pg_create_restore_point", "pg_export_snapshot"], "controls backup or WAL"),
    **dict.fromkeys(["pg_read_file", "pg_read_binary_file", "pg_ls_*", "pg_stat_file", "pg_file_write",
                     "pg_file_rename", "pg_file_unlink", "pg_file_sync", "pg_logdir_ls"], "reads or writes server files"),
    **dict.fromkeys(["lo_*", "loread", "lowrite"], "uses large objects (server files and storage)"),
    **dict.fromkeys(["set_config", "setseed"], "changes the session's settings"),
    **dict.fromkeys(["pg_advisory_*", "pg_try_advisory_*"], "takes or releases advisory locks"),
    "pg_notify": "sends a notification",
    **dict.fromkeys(["nextval", "setval"], "moves a sequence"),
    **dict.fromkeys(["txid_current", "pg_current_xact_id"], "assigns a transaction id"),
    **dict.fromkeys(["pg_stat_reset*", "pg_stat_force_next_flush", "pg_stat_statements_reset"],
                    "resets or flushes statistics"),
    **dict.fromkeys(["pg_import_system_collations", "pg_restore_relation_stats", "pg_restore_attribute_stats",
                     "pg_clear_relation_stats", "pg_clear_attribute_stats", "binary_upgrade_*", "pg_nextoid",
                     "brin_summarize_*", "brin_desummarize_range", "gin_clean_pending_list", "pg_prewarm",
                     "pg_extension_config_dump"], "changes the catalog or storage"),
    **dict.fromkeys(["query_to_xml*", "query_to_xmlschema", "cursor_to_xml*", "ts_stat", "ts_rewrite"],
                    "runs SQL given as text, which read mode cannot check"),
    **dict.fromkeys(["dblink*", "postgres_fdw_*"], "runs SQL on another connection (extension RPC)"),
}

# VOLATILE built-ins that only read or compute: allowed in read mode.
_HARMLESS_VOLATILE_PG = {
    "random", "random_normal", "array_sample", "array_shuffle", "clock_timestamp", "timeofday", "gen_random_uuid",
    "uuidv4", "uuidv7", "uuid_generate_v1", "uuid_generate_v1mc", "uuid_generate_v4", "current_query", "currval",
    "lastval", "pg_sleep", "pg_sleep_for", "pg_sleep_until", "bernoulli", "system", "system_rows", "system_time",
    "pg_blocking_pids", "pg_safe_snapshot_blocking_pids", "pg_isolation_test_session_is_blocked",
    "pg_collation_actual_version", "pg_database_collation_actual_version", "pg_control_checkpoint",
    "pg_control_init", "pg_control_recovery", "pg_control_system", "pg_current_logfile", "pg_current_wal_flush_lsn",
    "pg_current_wal_insert_lsn", "pg_current_wal_lsn", "pg_database_size", "pg_indexes_size", "pg_relation_size",
    "pg_table_size", "pg_tablespace_size", "pg_total_relation_size", "pg_get_aios", "pg_get_backend_memory_contexts",
    "pg_get_loaded_modules", "pg_get_multixact_members", "pg_get_sequence_data", "pg_get_shmem_allocations",
    "pg_get_shmem_allocations_numa", "pg_get_wait_events", "pg_get_wal_replay_pause_state",
    "pg_get_wal_resource_managers", "pg_get_wal_summarizer_state", "pg_available_wal_summaries",
    "pg_wal_summary_contents", "pg_hba_file_rules", "pg_ident_file_mappings", "pg_show_all_file_settings",
    "pg_is_in_recovery", "pg_is_wal_replay_paused", "pg_jit_available", "pg_last_committed_xact",
    "pg_last_wal_receive_lsn", "pg_last_wal_replay_lsn", "pg_last_xact_replay_timestamp", "pg_lock_status",
    "pg_notification_queue_usage", "pg_partition_ancestors", "pg_partition_tree", "pg_prepared_xact",
    "pg_sequence_last_value", "pg_stat_clear_snapshot", "pg_stat_get_backend_io", "pg_stat_get_backend_wal",
    "pg_stat_get_io", "pg_stat_get_recovery_prefetch", "pg_stat_get_xact_*", "pg_stat_have_stats",
    "pg_xact_commit_timestamp", "pg_xact_commit_timestamp_origin", "pg_xact_status", "txid_status",
    "pg_show_replication_origin_status", "amvalidate", "pg_stat_statements", "pg_stat_statements_info",
}

# KWDB V3.2.1 built-ins that act (KWDB's catalog says nothing of volatility).
_ACTING_KWDB: dict[str, str] = {
    "set_config": "changes the session's settings (and survives ROLLBACK on KWDB)",
    **dict.fromkeys(["nextval", "setval"], "moves a sequence"),
    **dict.fromkeys(["pg_advisory_unlock", "pg_try_advisory_lock", "pg_advisory_*"], "takes or releases advisory locks"),
    "relocate_range": "moves data between nodes",
    **dict.fromkeys(["kwdb_internal.force_panic", "kwdb_internal.force_log_fatal"], "stops the server node"),
    **dict.fromkeys(["kwdb_internal.force_error", "kwdb_internal.force_assertion_error", "kwdb_internal.force_retry",
                     "kwdb_internal.testing_callback"], "is a server testing hook"),
    "kwdb_internal.set_vmodule": "changes the server's logging",
    "kwdb_internal.check_consistency": "runs a cluster-wide consistency check",
}
# kwdb_internal.* functions that only read; every other kwdb_internal.* function is refused.
_KWDB_INTERNAL_READS = {
    "cluster_id", "cluster_name", "completed_migrations", "create_regclass", "create_regnamespace", "create_regproc",
    "create_regprocedure", "create_regtype", "encode_key", "get_namespace_id", "get_zone_config", "is_admin",
    "lease_holder", "locality_value", "no_constant_folding", "node_executable_version", "notice",
    "num_inverted_index_entries", "pretty_key", "range_stats", "round_decimal_values", "unary_table",
    "problem_ranges_debug", "range_info_debug",
}


def _lookup(table: dict[str, str] | set[str], name: str) -> str | None:
    """The entry of ``table`` for ``name`` (exact, or a ``prefix*`` entry); None when absent."""
    if name in table:
        return table[name] if isinstance(table, dict) else name
    for key in table:
        if key.endswith("*") and name.startswith(key[:-1]):
            return table[key] if isinstance(table, dict) else key
    return None


def judge(call: Call, kind: str) -> str | None:
    """Why read mode refuses ``call`` (one line), or None when it may run."""
    shown = call.name if call.schema in ("", "pg_catalog") else call.qualified
    if kind == "kwdb":
        why = _lookup(_ACTING_KWDB, call.qualified if call.schema == "kwdb_internal" else call.name)
        if why:
            return f"calls {shown}, which {why}"
        if call.schema in ("kwdb_internal", "crdb_internal") and call.name not in _KWDB_INTERNAL_READS:
            return f"calls {shown}, an internal function not reviewed as a read"
        return None
    why = _lookup(_ACTING_PG, call.name)
    if why and (call.builtin or call.extension or call.schema == "pg_catalog"):
        return f"calls {shown}, which {why}"
    if not call.builtin and not call.extension:  # written by a user: its body is read, where it can be
        if call.language == "plpgsql" and _runs_dynamic_sql(call.body):
            return f"calls {shown}, which runs dynamic SQL (EXECUTE) that read mode cannot check"
        if call.language not in ("sql", "plpgsql", "c", "internal", ""):
            return f"calls {shown}, written in {call.language}, which read mode cannot look into"
    if call.volatility == "v":
        if (call.builtin or call.extension) and _lookup(_HARMLESS_VOLATILE_PG, call.name):
            return None
        owner = f" (extension {call.extension})" if call.extension else ""
        return f"calls {shown}{owner}, a VOLATILE function that may change data"
    return None


def _runs_dynamic_sql(body: str) -> bool:
    """True when a PL/pgSQL body holds an EXECUTE statement (outside strings and comments)."""
    toks, _ = sqlsafety._lex(sqlsafety._tokens(body))
    return any(t.kind == "word" and t.up == "EXECUTE" for t in toks)


def refusal_line(reason: str) -> str:
    return f"{reason}: refused in read mode; use write mode"


# --- layer 1: parsing ----------------------------------------------------------------------


def parse_read(text: str, *, limit: int | None = 20) -> tuple[sqlsafety.Statement, bool]:
    """The one read statement of ``text`` and whether a LIMIT is to be added; ReadRefused otherwise."""
    g = sqlsafety.guard(text, limit=limit or 20)
    if not g.statements:
        raise ReadRefused("nothing to run: the input holds no statement", by=PARSE)
    if g.is_write:
        raise ReadRefused(g.refusal or "this is a write: run it in write mode (--write)", by=PARSE)
    return g.statements[0], bool(limit) and g.limit_added


def compose(text: str, limit: int | None) -> str:
    """The text to send: the parsed text, and ``LIMIT n`` on a line of its own after it."""
    return f"{text}\nLIMIT {int(limit)}" if limit else text


# --- layer 2: the server parses the text alone ---------------------------------------------


def _error_text(raw: bytes | None, encoding: str) -> str:
    text = (raw or b"").decode(encoding, "replace").strip()
    first = text.splitlines()[0] if text else "the server refused the statement"
    return re.sub(r"^(ERROR|FATAL):\s+", "", first)


async def server_parse(conn: psycopg.AsyncConnection[Any], text: str) -> None:
    """Parse ``text`` alone on the server as the unnamed prepared statement (nothing runs).

    More than one statement is refused (:class:`ReadRefused`); text that is not one complete
    statement (a stray ``)``, an unclosed comment or quote) is a syntax error, raised with
    the other errors of the statement (an unknown table) as psycopg errors, as running it
    would: in every case nothing has run.
    """
    from psycopg import generators, pq

    encoding = conn.info.encoding
    async with conn.lock:
        conn.pgconn.send_prepare(b"", text.encode(encoding))
        results = await conn.wait(generators.execute(conn.pgconn))
    for res in results:
        if res.status == pq.ExecStatus.FATAL_ERROR:
            message = _error_text(res.error_message, encoding)
            if "statements, expected 1" in message or "multiple commands" in message:
                raise ReadRefused(f"the server does not take this as one statement: {message}", by=SERVER)
            # a syntax error or an unknown name: the statement's own error, with its position
            raise psycopg.errors.error_from_result(res, encoding=encoding)


# --- layer 3: the catalog judges the functions ---------------------------------------------


def _unquote(tok: Any) -> str:
    if tok.kind == "name":
        return str(tok.text[1:-1].replace('""', '"'))
    return str(tok.text.lower())


def call_names(text: str) -> list[tuple[str, str]]:
    """(schema or "", name) of every ``name(`` in ``text``, normalised as the server does."""
    toks, _ = sqlsafety._lex(sqlsafety._tokens(text))
    out: list[tuple[str, str]] = []
    for i, t in enumerate(toks):
        if t.kind not in ("word", "name") or i + 1 >= len(toks) or toks[i + 1].kind != "(":
            continue
        schema = ""
        if i >= 2 and toks[i - 1].kind == "." and toks[i - 2].kind in ("word", "name"):
            schema = _unquote(toks[i - 2])
        out.append((schema, _unquote(t)))
    return list(dict.fromkeys(out))


_PROC_COLUMNS = sql.SQL("""
SELECT DISTINCT p.oid, n.nspname, p.proname, p.provolatile::text, p.oid < 16384 AS builtin,
       coalesce(e.extname, ''), coalesce(l.lanname, ''),
       coalesce(nullif(p.prosrc, ''), CASE WHEN p.oid >= 16384 AND l.lanname = 'sql'
                THEN pg_catalog.pg_get_functiondef(p.oid) END, '')
FROM pg_catalog.pg_proc p
JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
LEFT JOIN pg_catalog.pg_language l ON l.oid = p.prolang
LEFT JOIN pg_catalog.pg_depend de ON de.classid = 'pg_catalog.pg_proc'::regclass AND de.objid = p.oid
     AND de.deptype = 'e'
LEFT JOIN pg_catalog.pg_extension e ON e.oid = de.refobjid
""")

# The stored query trees (pg_node_tree text) of the temporary view and of every user view it
# reads, recursively (SELECT rules only: what reading runs). Built-in functions are pinned, so pg_depend never lists them: the
# function and operator OIDs are read from the trees themselves (what the server resolved).
_VIEW_TREES = sql.SQL("""
WITH RECURSIVE rels(oid, depth) AS (
    SELECT {view}::regclass::oid, 0
  UNION
    SELECT d.refobjid, r.depth + 1
    FROM rels r
    JOIN pg_catalog.pg_rewrite rw ON rw.ev_class = r.oid AND rw.ev_type = '1'
    JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = rw.oid
         AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid <> r.oid
    JOIN pg_catalog.pg_class c ON c.oid = d.refobjid AND c.relkind = 'v'
    WHERE r.depth < 16
)
SELECT rw.ev_action::text FROM rels r JOIN pg_catalog.pg_rewrite rw ON rw.ev_class = r.oid AND rw.ev_type = '1'
""")
_TREE_PROC = re.compile(r":(?:funcid|opfuncid|aggfnoid|winfnoid|tsmhandler|hashfuncid|negfuncid) (\d+)")
_TREE_OPS = re.compile(r":(?:opno|sortop|eqop) (\d+)|:opnos \(o ([\d ]+)\)")
_BY_OID = sql.SQL("""{columns} WHERE p.oid = ANY({procs}::oid[])
   OR p.oid IN (SELECT oprcode::oid FROM pg_catalog.pg_operator WHERE oid = ANY({ops}::oid[]))""")


def tree_oids(trees: Sequence[str]) -> tuple[list[int], list[int]]:
    """(function OIDs, operator OIDs) named in pg_node_tree texts (0 = not resolved yet: skipped)."""
    procs: set[int] = set()
    ops: set[int] = set()
    for tree in trees:
        procs.update(int(m) for m in _TREE_PROC.findall(tree))
        for one, many in _TREE_OPS.findall(tree):
            ops.update(int(x) for x in (one.split() if one else many.split()))
    procs.discard(0)
    ops.discard(0)
    return sorted(procs), sorted(ops)


_BY_NAME = sql.SQL("{columns} WHERE p.proname = ANY({names}) AND (n.nspname = ANY({schemas})"
                   " OR n.nspname = ANY(pg_catalog.current_schemas(true)))")


def _calls(rows: Sequence[Sequence[Any]], wanted: list[tuple[str, str]] | None = None) -> list[Call]:
    out = []
    for oid, schema, name, vol, builtin, ext, lang, body in rows:
        if wanted is not None and not any(n == name and s in ("", schema) for s, n in wanted):
            continue  # a qualified call only matches its own schema
        out.append(Call(schema, name, vol or "?", bool(builtin), ext, lang, body if lang in ("sql", "plpgsql") else "",
                        int(oid)))
    return out


# An aggregate's own pg_proc row says little: what runs are its support functions.
_AGG_SUPPORT = sql.SQL("""{columns} WHERE p.oid IN (
    SELECT unnest(ARRAY[aggtransfn, aggfinalfn, aggcombinefn, aggserialfn, aggdeserialfn, aggmtransfn,
                        aggminvtransfn, aggmfinalfn])::oid
    FROM pg_catalog.pg_aggregate WHERE aggfnoid = ANY({oids}::oid[]))""")


async def _aggregate_support(cur: psycopg.AsyncCursor[Any], calls: list[Call]) -> list[Call]:
    oids = [c.oid for c in calls if c.oid]
    if not oids:
        return []
    await cur.execute(_AGG_SUPPORT.format(columns=_PROC_COLUMNS, oids=sql.Literal(oids)))
    return _calls(await cur.fetchall())


async def _by_names(cur: psycopg.AsyncCursor[Any], names: list[tuple[str, str]]) -> list[Call]:
    if not names:
        return []
    await cur.execute(_BY_NAME.format(columns=_PROC_COLUMNS, names=sql.Literal([n for _, n in names]),
                                      schemas=sql.Literal(sorted({s for s, _ in names if s}) or [""])))
    return _calls(await cur.fetchall(), names)


async def _body_calls(cur: psycopg.AsyncCursor[Any], calls: list[Call], kind: str) -> list[Call]:
    """Functions named in the bodies of user SQL / PL/pgSQL functions, to a depth of 3."""
    seen = {(c.schema, c.name) for c in calls}
    found: list[Call] = []
    frontier = [c for c in calls if not c.builtin and c.body]
    for _depth in range(3):
        names = [n for c in frontier for n in call_names(c.body) if n not in seen]
        if not names:
            break
        seen.update(names)
        more = await _by_names(cur, list(dict.fromkeys(names)))
        found.extend(more)
        frontier = [c for c in more if not c.builtin and c.body]
    return found


def _first_refusal(calls: Sequence[Call], kind: str) -> str | None:
    for c in calls:
        why = judge(c, kind)
        if why:
            return why
    return None


async def _pg_calls(conn: psycopg.AsyncConnection[Any], statement: sqlsafety.Statement) -> tuple[list[Call], str]:
    """The functions ``statement`` calls on PostgreSQL, and the method that found them."""
    async with conn.transaction(force_rollback=True), conn.cursor() as cur:
        await cur.execute("SET LOCAL statement_timeout = '15s'")
        await cur.execute("SET LOCAL lock_timeout = '5s'")
        method = "names"
        calls: list[Call] = []
        if statement.verb.split()[-1] in ("SELECT", "VALUES", "TABLE"):
            view = sql.Identifier("pg_temp", "kwtui_read_guard")
            try:
                async with conn.transaction():  # a savepoint: a failure falls back to names
                    await cur.execute(sql.SQL("CREATE TEMP VIEW {} AS SELECT FROM (\n{}\n) AS s").format(
                        view, sql.SQL(statement.text)))  # noqa: S608 (parsed alone by the server first)
                    await cur.execute(_VIEW_TREES.format(view=sql.Literal("pg_temp.kwtui_read_guard")))
                    procs, ops = tree_oids([str(r[0]) for r in await cur.fetchall()])
                    await cur.execute(_BY_OID.format(columns=_PROC_COLUMNS, procs=sql.Literal(procs),
                                                     ops=sql.Literal(ops)))
                    calls = _calls(await cur.fetchall())
                    method = "query tree"
            except psycopg.Error:
                calls = []
        if method == "names":
            calls = await _by_names(cur, call_names(statement.text))
        calls += await _aggregate_support(cur, calls)
        calls += await _body_calls(cur, calls, "postgres")
    return calls, method


async def check_read(conn: psycopg.AsyncConnection[Any], text: str, *, kind: str,
                     limit: int | None = 20) -> CheckedRead:
    """Layers 1-3 for one read statement on ``conn`` (in autocommit, idle). Nothing of it runs.

    Raises :class:`ReadRefused` (exit 2, one line naming the reason) or the statement's own
    error; returns what to send (see :class:`CheckedRead`) and how to run it (:func:`read_transaction`).
    """
    statement, limit_added = parse_read(text, limit=limit)
    body = statement.text
    await server_parse(conn, body)
    if kind == "kwdb":
        calls = [Call(schema, name) for schema, name in call_names(body)]
        method = "names"
    elif statement.verb == "SHOW":
        calls, method = [], "none"
    else:
        calls, method = await _pg_calls(conn, statement)
    why = _first_refusal(calls, kind)
    if why:
        raise ReadRefused(refusal_line(why), by=CATALOG)
    cleanup: list[str] = []
    if kind != "kwdb" and any(not c.builtin and not c.extension for c in calls):
        cleanup.append("SELECT pg_catalog.pg_advisory_unlock_all()")
    return CheckedRead(body, compose(body, limit if limit_added else None), statement.verb, limit_added,
                       tuple(calls), method, tuple(cleanup))


# --- layer 4: READ ONLY, a timeout, always rolled back ------------------------------------


def timeout_literal(seconds: float | None) -> str:
    return f"{max(0, round((seconds or 0) * 1000))}ms"


def _setup(kind: str, timeout: float | None) -> list[sql.Composed]:
    stmts: list[sql.Composed] = [sql.Composed([sql.SQL("SET TRANSACTION READ ONLY")])]
    if timeout is not None:
        verb = "SET" if kind == "kwdb" else "SET LOCAL"  # KWDB has no SET LOCAL: put back afterwards
        stmts.append(sql.SQL(verb + " statement_timeout = {}").format(sql.Literal(timeout_literal(timeout))))
    return stmts


@contextlib.asynccontextmanager
async def read_transaction(conn: psycopg.AsyncConnection[Any], *, kind: str, timeout: float | None,
                           cleanup: Sequence[str] = ()) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """BEGIN; SET TRANSACTION READ ONLY; the timeout; ...; ROLLBACK (always); then ``cleanup``."""
    previous = None
    if kind == "kwdb" and timeout is not None:
        previous = (await (await conn.execute("SHOW statement_timeout")).fetchone() or ("0",))[0]
    try:
        async with conn.transaction(force_rollback=True):
            for stmt in _setup(kind, timeout):
                await conn.execute(stmt)
            yield conn
    finally:
        if not conn.closed and not conn.broken:
            with contextlib.suppress(psycopg.Error):
                if previous is not None:
                    await conn.execute(sql.SQL("SET statement_timeout = {}").format(sql.Literal(str(previous))))
                for text in cleanup:
                    await conn.execute(sql.SQL(text))  # type: ignore[arg-type]  # the guard's own constants


def begin_read_sync(conn: psycopg.Connection[Any], *, kind: str, timeout: float | None) -> None:
    """The same on a blocking connection that is not in autocommit; the caller rolls back."""
    for stmt in _setup(kind, timeout):
        conn.execute(stmt)


@contextlib.contextmanager
def read_transaction_sync(conn: psycopg.Connection[Any], *, kind: str,
                          timeout: float | None) -> Iterator[psycopg.Connection[Any]]:
    """:func:`read_transaction` for a blocking connection (used by COPY TO in a worker thread)."""
    with conn.transaction(force_rollback=True):
        begin_read_sync(conn, kind=kind, timeout=timeout)
        yield conn
