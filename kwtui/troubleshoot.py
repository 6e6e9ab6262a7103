"""The failure knowledge base: a server error -> its cause -> the fix -> the action that applies it.

The knowledge is data (:data:`ENTRIES`), not if-chains: each :class:`Entry` matches a server's
error by SQLSTATE and/or a text pattern (KWDB or PostgreSQL, and the operating system's own
errors kwtui meets), names the cause in one sentence, gives the fix, and where the fix is
mechanical, an :class:`Action` that applies it (a CLI flag, a command, or a key on the failure
screen). :func:`diagnose` turns an exception or a message into a :class:`Diagnosis` whose
texts are filled in from the error (the table, the path, the job).

KWDB's texts come from ``../shared/kwdb/TROUBLESHOOTING.md`` (KWDB's own source, QA output and
FAQ); the PostgreSQL ones from the SQLSTATEs a migration meets.
"""

from __future__ import annotations

import datetime as dt
import errno
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Action:
    """A mechanical fix. ``flag``: the CLI option that applies it (on the command that failed);
    ``command``: a command to run instead (``{job}`` filled in); ``key``: the key the failure
    screen may bind to it; ``label``: what the key or button says."""

    id: str
    label: str
    flag: str | None = None
    command: str | None = None
    key: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "flag": self.flag, "command": self.command, "key": self.key}


@dataclass(frozen=True)
class Entry:
    id: str
    server: str  # "kwdb" | "postgres" | "any" | "os"
    cause: str
    fix: str
    pattern: str | None = None  # regex, searched case-insensitively in the message (and its detail)
    sqlstates: tuple[str, ...] = ()  # exact codes, or a two-character class
    action: Action | None = None

    def matches(self, text: str, sqlstate: str | None) -> re.Match[str] | bool | None:
        state_ok: bool | None = None
        if self.sqlstates and sqlstate:
            state_ok = any(sqlstate == s or (len(s) == 2 and sqlstate.startswith(s)) for s in self.sqlstates)
        if self.pattern is not None:
            m = re.search(self.pattern, text, re.IGNORECASE | re.DOTALL)
            if m and state_ok is not False:
                return m
            return None
        return bool(state_ok)


@dataclass
class Diagnosis:
    entry: Entry
    message: str
    cause: str
    fix: str
    action: Action | None
    sqlstate: str | None = None
    groups: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.entry.id

    def lines(self) -> list[str]:
        """The two lines the CLI prints under the error."""
        out = [f"  cause: {self.cause}", f"  fix:   {self.fix}"]
        if self.action is not None and (self.action.flag or self.action.command):
            how = self.action.command or f"run it again with {self.action.flag}"
            out[-1] += f" [{how}]" if how not in self.fix else ""
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"kb": self.entry.id, "cause": self.cause, "fix": self.fix,
                "action": self.action.as_dict() if self.action is not None else None}


# -- actions --------------------------------------------------------------------------------------

FRESH_DIR = Action("fresh-dir", "Export into a fresh timestamped directory", flag="--fresh-dir", key="f")
AUTOCOMMIT = Action("autocommit", "Run the statement in autocommit", command="kwtui {verb} --native ...", key="a")
RESUME_JOB = Action("resume-job", "Resume the job", command="kwtui jobs resume {job}", key="r")
THREAD_ONE = Action("thread-concurrency-1", "Re-import with one thread", flag="--thread-concurrency 1", key="t")
REJECTS = Action("open-rejects", "Open the reject file", command="kwtui jobs show {job}", key="v")
CREATE_TS_DB = Action("create-ts-database", "Create a TS database", command="CREATE TS DATABASE {database}")
NULL_PTAG = Action("null-primary-tag", "Show the rows and a backfill",
                   command="kwtui doctor --source {source} --ts {table}:{column}", key="n")

_JOB_HINT = "kwtui jobs resume {job}"


def _e(id: str, server: str, cause: str, fix: str, pattern: str | None = None, sqlstates: tuple[str, ...] = (),
       action: Action | None = None) -> Entry:
    return Entry(id, server, cause, fix, pattern, sqlstates, action)


#: every entry, most specific first (the first match wins)
ENTRIES: tuple[Entry, ...] = (
    # -- KWDB IMPORT/EXPORT (TROUBLESHOOTING.md, numbered as there) --------------------------------
    _e("kwdb.export-dir-not-empty", "any",
       "the export directory already holds files from an earlier run, and an export never overwrites them",
       "export into a fresh, empty directory per run (or remove the old files first)",
       r"export path (?P<path>\S+) is not empty(?: \(contains (?P<count>\d+) files?\))?", action=FRESH_DIR),
    _e("kwdb.no-csv-files", "kwdb",
       "the IMPORT path holds no .csv file: a wrong nodelocal://<node>/ path, files outside the node's extern "
       "directory, or a database export not in <db>/public/<table>/",
       "check the node id and the node's physical extern directory, and keep KWDB's export layout",
       r"(?P<path>\S+) is not a dir or has no csv files"),
    _e("kwdb.file-missing", "kwdb",
       "the file is not where the statement says: nodelocal://<node>/<path> is relative to that node's extern "
       "directory",
       "put the files under <store>/extern on that node (kwtui import --native --stage uploads them) or fix the path",
       r"open (?P<path>\S+): no such file or directory"),
    _e("kwdb.field-count", "any",
       "a line has another number of fields than the table or the column list (a wrong delimiter, a header line, "
       "or a wrong column list)",
       "give the right delimiter and column list, skip the header; the failing row is named in the message",
       r"expected \d+ fields, got \d+"),
    _e("kwdb.expected-file", "kwdb",
       "a relational IMPORT INTO reads files, not a directory",
       "name the .csv file(s) in CSV DATA (\"nodelocal://1/dir/n1.0.csv\"), or use IMPORT TABLE CREATE USING",
       r"expected a file but \"?(?P<path>[^\"\s]+)\"? is a directory"),
    _e("kwdb.import-line-breaks", "kwdb",
       "a multi-thread import split the file by byte ranges and cut a quoted line break (or the delimiter is "
       "wrong)",
       "drop what the import created, then import again with thread_concurrency 1 (or the right delimiter)",
       r"incorrect delimiter used, or the CSV file", action=THREAD_ONE),
    _e("kwdb.ts-rejects", "kwdb",
       "the time-series IMPORT says succeeded but rejected rows (column count, NULL in NOT NULL, a value that "
       "does not parse): a partial load",
       "read reject.n<node>.<idx>.txt beside the data, fix those lines and IMPORT INTO only them",
       r"There is a REJECT FILE|reject_rows\D+[1-9]", action=REJECTS),
    _e("kwdb.null-in-not-null", "kwdb",
       "a row has no value for the timestamp or a primary tag (the column list leaves it out, or an empty field "
       "with no nullif)",
       "include the first (timestamp) column and every primary tag; set nullif; backfill or leave out the rows "
       "whose primary tag is NULL",
       r"Null value in column (?P<column>\S+) violates not-null constraints|column\[\d+\] cannot be null",
       action=NULL_PTAG),
    _e("kwdb.in-transaction", "kwdb",
       "IMPORT and EXPORT were sent inside a transaction (a driver's implicit BEGIN, e.g. psycopg's default)",
       "run IMPORT/EXPORT in autocommit: kwtui import/export --native does",
       r"(?P<verb>IMPORT|EXPORT) cannot be used inside a transaction", action=AUTOCOMMIT),
    _e("kwdb.ts-import-once", "kwdb",
       "a time-series import job was retried; TS imports cannot run twice and keep what they wrote",
       "do not retry it: count what landed per time range and primary tag, import the rest with a data-only "
       "IMPORT INTO, or delete and redo",
       r"time series Import cannot be execute more than once"),
    _e("kwdb.schema-change-in-progress", "kwdb",
       "another DDL or import is working on the table",
       "wait until SHOW JOBS shows it finished (kwtui jobs native-list), and run imports into one table one "
       "after another",
       r"schema changes in progress|another operation is operating on the table"),
    _e("kwdb.enclosed-escaped", "kwdb",
       "the import's enclosed/escaped/delimiter options differ from the export's, or stray backslashes",
       "use the same enclosed, escaped and delimiter as the export (escape '\\' for backslashes)",
       r"could not resolve \"(?P<value>.*?)\" as (?P<type>.+?) type \(column (?P<column>[^)]+)\)"),
    _e("kwdb.bare-quote", "kwdb",
       "a double quote inside an unquoted CSV field",
       "quote the field (and double its quotes), or import with enclosed = \"'\" / escaped = '\\\\' as the "
       "file was written",
       r"bare \" in non-quoted-field"),
    _e("kwdb.charset", "any",
       "the charset is not one KWDB knows, or the import's charset differs from the export's",
       "use the same charset on both sides: UTF-8, GBK, GB18030 or BIG5",
       r"charset value must be|charset value"),
    _e("kwdb.chunk-size", "kwdb",
       "chunk_rows is larger than KWDB allows",
       "give chunk_rows from 0 (one file) to 100000 (--chunk-rows)",
       r"chunk size must be less than"),
    _e("kwdb.option-misuse", "kwdb",
       "WITH privileges/comment only go with IMPORT TABLE CREATE USING and IMPORT DATABASE, and need meta.sql "
       "exported with them",
       "drop the option, or export again WITH privileges / comment",
       r"'WITH (?:PRIVILEGES|COMMENT)' can only be used|NO (?:COMMENT|PRIVILEGES|GRANT) statement in the SQL file"),
    _e("kwdb.sql-format", "kwdb",
       "SQL format holds one table's DDL and rows only (no multi-table query, no binary columns, no data import)",
       "use CSV for data and binary columns; export single-table SELECTs",
       r"Import regular data only supports CSV format|Exporting SQL only supports single table|"
       r"Exporting SQL cannot supports? BytesFamily"),
    _e("kwdb.target-columns", "kwdb",
       "the IMPORT INTO column list names a column the table lacks, or one twice",
       "fix the column list (SHOW COLUMNS FROM the table)",
       r"target column (?P<column>\S+) is not in table|multiple assignments to the same column (?P<column2>\S+)"),
    _e("kwdb.format-options", "kwdb",
       "a format option is given twice or clashes (delimiter equal to enclosed, a null marker KWDB refuses)",
       "give each option once; delimiter different from enclosed/escaped; nullif one of NULL, null, Null, \\N",
       r"specifying the same option|delimiter can't be same with|options nullas/nullif cannot be"),
    _e("kwdb.ts-first-column", "kwdb",
       "the first column of a time-series table must be the TIMESTAMPTZ time column",
       "put the time column first as TIMESTAMPTZ NOT NULL (kwtui plan --target-kind kwdb-ts does)",
       r"1st column's type in timeseries table must be TimestampTZ"),
    _e("kwdb.ts-unsupported-type", "kwdb",
       "the time-series engine has no such column type (DECIMAL/NUMERIC, BYTEA, JSON, UUID, collated text)",
       "map DECIMAL to FLOAT8 (lossy), BYTEA to VARBYTES, JSON/text to NVARCHAR, UUID to VARCHAR(36)",
       r"unsupported column type (?P<type>\S+) in timeseries table"),
    _e("kwdb.ts-relational-feature", "kwdb",
       "a relational DDL feature (serial, primary key, unique, default, check, foreign key, computed column) was "
       "carried into time-series DDL",
       "strip it from the TS DDL; model identity with PRIMARY TAGS",
       r"is not supported in timeseries table"),
    _e("kwdb.primary-tag-limits", "kwdb",
       "the primary-tag choice breaks KWDB's limits (at most 4, NOT NULL, not float/varbytes, VARCHAR up to 128; "
       "at most 128 tags, at least 1)",
       "choose at most 4 NOT NULL, non-float primary tags of at most 128 characters (kwtui plan: t on the column)",
       r"as primary tag|is not supported for primary tag|the max number of primary tags|too many tags for ts table|"
       r"ts table must contain at least 1 tag|primary tag \S+ is not a tag"),
    _e("kwdb.engine-mismatch", "kwdb",
       "the target database's engine does not take this kind of table (TS table in a relational database or the "
       "other way round)",
       "create time-series tables in a TS database (CREATE TS DATABASE) and relational ones in a relational one",
       r"can not create (?:timeseries|relational) table in (?:relational|timeseries) database(?: \"?(?P<database>"
       r"[^\"\s]+))?", action=CREATE_TS_DB),
    _e("kwdb.unsupported-input-type", "kwdb",
       "a Decimal value was bound to an INT/FLOAT time-series column (PostgreSQL numeric comes back as Decimal)",
       "convert to int/float in the client or cast in SQL (::FLOAT8)",
       r"unsupported input type"),
    _e("kwdb.explicit-txn-ts", "kwdb",
       "time-series writes or DDL were wrapped in a transaction (an ORM's or driver's BEGIN)",
       "run TS writes in autocommit; run DDL outside a transaction or at SERIALIZABLE",
       r"explicit transaction is not supported in TS mode|multi-statement transactions involving a schema change",
       action=AUTOCOMMIT),
    _e("kwdb.disk-or-fd", "kwdb",
       "the node could not write: its disk is full or it ran out of file descriptors",
       "free disk on the node; raise its limit (LimitNOFILE=1048576 in kaiwudb.service)",
       r"could not PutData|resize file failed"),
    _e("kwdb.enterprise-only", "kwdb",
       "BACKUP/RESTORE exist only in KWDB's enterprise version",
       "use EXPORT/IMPORT (kwtui export/import --native), KWDB's backup method in the open-source version",
       r"can only be used in the enterprise version"),
    _e("kdts.empty-tables", "kwdb",
       "a KDTS job to a TIMESERIES target had no table mappings (auto-discovery is for relational targets only)",
       "give explicit table mappings",
       r"DATAX_BUILD_SCRIPT_FAILED|No datax contents generated"),
    _e("kwdb.admin-required", "kwdb",
       "IMPORT and EXPORT need a member of the admin role",
       "connect as an admin user (e.g. root), or GRANT admin TO the user",
       r"only users with the admin role|requires? admin"),
    # -- PostgreSQL (and KWDB answering with the same SQLSTATE) -----------------------------------
    _e("pg.duplicate-key", "any",
       "the target table already holds rows with these keys: a re-run of a load that partly landed",
       "resume the job instead of starting a new one ({resume}), or empty the target table first",
       r"duplicate key value violates unique constraint(?: \"(?P<constraint>[^\"]+)\")?", ("23505",),
       RESUME_JOB),
    _e("pg.fk-violation", "any",
       "a row references a parent row that is not on the target (parent table loaded later, filtered or "
       "missing)",
       "load parent tables first or add foreign keys after the load; then find the orphans with kwtui validate",
       r"violates foreign key constraint(?: \"(?P<constraint>[^\"]+)\")?", ("23503",)),
    _e("pg.not-null", "any",
       "a NOT NULL column of the target got NULL (the source allows NULL there, or the column list misses it)",
       "backfill the NULLs in the source, drop NOT NULL on the target, or leave the rows out",
       r"null value in column \"?(?P<column>[^\"\s]+)\"?.* violates not-null constraint", ("23502",)),
    _e("pg.check-violation", "any",
       "a row breaks a CHECK constraint of the target",
       "fix the rows, or add the constraint after the load once they are fixed",
       r"violates check constraint", ("23514",)),
    _e("pg.encoding", "any",
       "the bytes are not valid in the server's or the client's encoding (files or source in another charset "
       "than the target's)",
       "give the files' real charset (--charset), or convert the source to UTF-8; check with kwtui doctor",
       r"invalid byte sequence for encoding|has no equivalent in encoding|character with byte sequence|"
       r"codec can't (?:encode|decode)",
       ("22021", "22P05")),
    _e("pg.value-too-long", "any",
       "a value is longer than the target column allows",
       "widen the target column (kwtui plan: e on the column) or trim the data",
       r"value too long for type", ("22001",)),
    _e("pg.out-of-range", "any",
       "a number does not fit the target column's type",
       "map the column to a wider type (BIGINT, NUMERIC, FLOAT8)",
       r"out of range", ("22003",)),
    _e("pg.bad-text", "any",
       "a value does not parse as the column's type (wrong delimiter, header line, NULL marker or type mapping)",
       "check the delimiter, --skip-header and --nullif; the reject file names the line",
       r"invalid input syntax for|extra data after last expected column|missing data for column",
       ("22P02", "22P04", "22007", "22008")),
    _e("pg.permission-denied", "any",
       "the user lacks a privilege on this object",
       "GRANT the privilege (SELECT on source tables; CREATE and INSERT on the target), or connect as its owner",
       r"permission denied(?: for (?:table|relation|schema|database|sequence) (?P<object>\S+))?|"
       r"does not have \S+ privilege|must be owner of", ("42501",)),
    _e("pg.superuser-required", "any",
       "the option or statement needs a superuser (or the replication attribute)",
       "run it as a superuser, or choose the way without it (kwtui streams rows instead of server-side files)",
       r"must be superuser|must have (?:the )?REPLICATION|superuser or replication role"),
    _e("pg.disk-full", "any",
       "the server's disk is full",
       "free disk on the server (or move the tablespace), then resume the job",
       r"could not extend file|No space left on device|disk full", ("53100",), RESUME_JOB),
    _e("pg.out-of-memory", "any",
       "the server ran out of memory",
       "load smaller batches (--batch-rows / --chunk-rows) or with fewer --workers",
       r"out of memory", ("53200",)),
    _e("pg.too-many-connections", "any",
       "the server has no free connection slot for this user",
       "use fewer --workers, close idle sessions, or raise max_connections / the role's CONNECTION LIMIT",
       r"too many clients already|remaining connection slots are reserved|too many connections",
       ("53300",)),
    _e("pg.replication-slots", "postgres",
       "every replication slot is in use",
       "drop unused slots (pg_drop_replication_slot) or raise max_replication_slots",
       r"all replication slots are in use", ("53400",)),
    _e("pg.wal-level", "postgres",
       "logical decoding needs wal_level = logical",
       "set wal_level = logical and restart the source (or catch up by watermark, which needs no WAL)",
       r"requires wal_level >= logical|wal_level"),
    _e("pg.lock-timeout", "any",
       "another session held a lock on the table longer than lock_timeout",
       "find the blocker (pg_stat_activity, pg_locks), let it finish, then resume; or raise lock_timeout",
       r"lock timeout|could not obtain lock", ("55P03",), RESUME_JOB),
    _e("pg.statement-timeout", "any",
       "the statement ran longer than statement_timeout",
       "raise statement_timeout for the migration user (ALTER ROLE ... SET statement_timeout = 0) or use "
       "smaller batches",
       r"canceling statement due to statement timeout", ("57014",)),
    _e("pg.idle-in-tx-timeout", "any",
       "the session sat idle inside a transaction longer than idle_in_transaction_session_timeout",
       "raise idle_in_transaction_session_timeout for the migration user, then resume",
       r"idle-in-transaction timeout|idle_in_transaction", ("25P03",), RESUME_JOB),
    _e("pg.user-cancel", "any",
       "the statement was cancelled (F9, Ctrl+C or another session's pg_cancel_backend)",
       "run it again; a job resumes where it stopped",
       r"canceling statement due to user request", ("57014",), RESUME_JOB),
    _e("pg.deadlock", "any",
       "two sessions waited on each other's locks",
       "run it again (kwtui retries batches); avoid writing the same tables from elsewhere during the load",
       r"deadlock detected", ("40P01",), RESUME_JOB),
    _e("pg.serialization", "any",
       "a concurrent transaction changed the same rows (serialization failure)",
       "run it again; a job retries its batches",
       r"could not serialize access|restart transaction", ("40001",), RESUME_JOB),
    _e("pg.read-only", "any",
       "the session or server is read-only (a standby, or default_transaction_read_only)",
       "point the target at the primary, or turn default_transaction_read_only off for the migration user",
       r"read-only transaction|cannot execute \S+ in a read-only", ("25006",)),
    _e("pg.tx-aborted", "any",
       "an earlier statement of the transaction failed, so the rest are refused",
       "find the first error of the transaction; run it again from the start",
       r"current transaction is aborted", ("25P02",)),
    _e("pg.already-exists", "any",
       "the object exists already on the target",
       "drop or rename it, or load into it (kwtui import --into / transfer loads into existing tables)",
       r"(?:relation|table|schema|database|index|sequence|type) \"?(?P<object>[^\"\s]+)\"? already exists",
       ("42P07", "42P06", "42P04", "42710")),
    _e("pg.undefined-table", "any",
       "the table does not exist where the statement looks (name, schema or database)",
       "check the name and the database (kwtui query 'SHOW TABLES' / \\dt), or create it (--create)",
       r"relation \"?(?P<object>[^\"\s]+)\"? does not exist|table \"?[^\"\s]+\"? does not exist", ("42P01",)),
    _e("pg.undefined-column", "any",
       "the statement names a column the table lacks",
       "fix the column list or add the column on the target",
       r"column \"?(?P<column>[^\"\s]+)\"? (?:of relation \S+ )?does not exist", ("42703",)),
    # -- connecting ------------------------------------------------------------------------------
    _e("conn.database-missing", "any",
       "the database named in the connection does not exist on that server",
       "create it, or connect to an existing one (the DSN's dbname)",
       r"database \"(?P<database>[^\"]+)\" does not exist", ("3D000",)),
    _e("conn.auth-failed", "any",
       "the server refused the password (or the user does not exist)",
       "give the right password (keyring, ~/.pgpass, PGPASSWORD or the prompt) or check the user name",
       r"password authentication failed|wrong password|authentication failed", ("28P01",)),
    _e("conn.no-password", "any",
       "the server asks a password and none was found",
       "store it: keyring (kwtui profile add --dsn with the password), ~/.pgpass or PGPASSWORD",
       r"no password supplied|asks a password|fe_sendauth"),
    _e("conn.no-hba", "any",
       "the server's pg_hba.conf has no line for this host, user and database (or requires SSL)",
       "add a pg_hba.conf line for this client (and reload), or connect with the sslmode the line asks",
       r"no pg_hba\.conf entry", ("28000",)),
    _e("conn.ssl", "any",
       "the TLS handshake failed: the server does not offer SSL, or the certificate is not trusted or does not "
       "name the host",
       "match sslmode to the server (disable / require / verify-full) and give ca.crt, client.<user>.crt and "
       "client.<user>.key (--certs-dir)",
       r"\bSSL\b|certificate|\bTLS\b|sslmode", ("08P01",)),
    _e("conn.closed", "any",
       "the server closed the connection (it restarted, was shut down, or an administrator ended the session)",
       "check the server is up (and its log for a crash), then resume; kwtui retries batches after a drop",
       r"server closed the connection|terminating connection|connection (?:is )?closed|consuming input failed|"
       r"the connection was lost|connection lost|connection reset|connection dropped", ("08", "57P01", "57P02", "57P03"), RESUME_JOB),
    _e("conn.refused", "any",
       "nothing answers at that host and port (server down, wrong port, or a firewall)",
       "start the server or fix host/port; KWDB listens on 26257 by default, PostgreSQL on 5432",
       r"connection refused|cannot reach the server|could not translate host name|name or service not known|"
       r"timeout expired"),
    # -- this machine ------------------------------------------------------------------------------
    _e("os.disk-full", "os",
       "this machine's disk is full where kwtui writes (export files, reject files)",
       "free space or write to another disk (--to); kwtui doctor shows the free space needed",
       r"No space left on device|errno 28"),
    _e("os.too-many-files", "os",
       "this process ran out of file descriptors",
       "raise the limit (ulimit -n 65536) or use fewer --workers",
       r"Too many open files|errno 24"),
    _e("os.permission", "os",
       "this machine refuses to read or write the file or directory",
       "choose a path you may write, or fix its owner and mode",
       r"\[Errno 13\]|Permission denied:"),
)

_BY_ID = {e.id: e for e in ENTRIES}


def entry(entry_id: str) -> Entry:
    return _BY_ID[entry_id]


def _error_parts(error: BaseException | str) -> tuple[str, str | None]:
    """The text to match (message, detail, the server's own message) and the SQLSTATE."""
    if isinstance(error, str):
        return error, None
    parts: list[str] = []
    state: str | None = getattr(error, "sqlstate", None)
    for attr in ("message", "server_message", "detail"):
        value = getattr(error, attr, None)
        if isinstance(value, str) and value:
            parts.append(value)
    diag = getattr(error, "diag", None)
    if diag is not None:
        primary = getattr(diag, "message_primary", None)
        if primary:
            parts.append(primary)
        state = state or getattr(diag, "sqlstate", None)
    if isinstance(error, OSError):
        if error.errno == errno.ENOSPC:
            parts.append("No space left on device")
        elif error.errno == errno.EMFILE:
            parts.append("Too many open files")
        elif error.errno in (errno.EACCES, errno.EPERM):
            parts.append("Permission denied:")
    if not parts:
        parts.append(str(error))
    return "\n".join(parts), state


class _Fill(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return {"job": "ID", "verb": "import|export", "database": "<db>", "source": "SRC", "table": "SCHEMA.TABLE",
                "column": "COLUMN"}.get(key, f"<{key}>")


def diagnose(error: BaseException | str, *, sqlstate: str | None = None,
             context: Mapping[str, Any] | None = None) -> Diagnosis | None:
    """The knowledge-base entry for an error (an exception or a message), or None.

    ``context`` fills the fix and action texts: ``job`` (a journal job id), ``verb``, ...
    """
    text, state = _error_parts(error)
    state = sqlstate or state
    # this machine's errors first for an OSError; then every entry by its text, then by SQLSTATE alone
    order = ENTRIES
    if isinstance(error, OSError):
        order = tuple(e for e in ENTRIES if e.server == "os") + tuple(e for e in ENTRIES if e.server != "os")
    candidates: list[tuple[Entry, re.Match[str] | bool]] = []
    for e in order:
        m = e.matches(text, state)
        if m:
            candidates.append((e, m))
            break
    if not candidates and state:
        for e in order:
            if e.sqlstates and any(state == s for s in e.sqlstates):
                candidates.append((e, True))
                break
    for e, m in candidates:
        groups = {k: v for k, v in (m.groupdict() if isinstance(m, re.Match) else {}).items() if v}
        fill = _Fill({k: str(v) for k, v in (context or {}).items() if v is not None})
        fill.update(groups)
        if "verb" in groups:
            fill["verb"] = groups["verb"].lower()
        fill.setdefault("resume", "kwtui jobs resume " + fill["job"])
        fix = e.fix.format_map(fill)
        action = e.action
        if action is not None and action.command:
            action = Action(action.id, action.label, action.flag, action.command.format_map(fill), action.key)
        if action is RESUME_JOB or (action is not None and action.id == "resume-job"):
            if "job" not in (context or {}):
                action = None  # nothing to resume: the fix says what to do instead
            elif "resume" not in e.fix:
                fix = f"{fix} ({action.command})" if action else fix
        return Diagnosis(e, text.splitlines()[0] if text else "", e.cause, fix, action, state, groups)
    return None


# -- actions that are code ---------------------------------------------------------------------------


def fresh_dir(path: str, now: dt.datetime | None = None) -> str:
    """A fresh directory beside ``path`` named with the time (``path-20261203T112233``), for
    ``--fresh-dir``: works for a local path and for a ``nodelocal://N/dir`` one alike. Never
    the same name as an existing local directory."""
    stamp = (now or dt.datetime.now()).strftime("%Y%m%dT%H%M%S")
    base = path.rstrip("/") or path
    candidate = f"{base}-{stamp}"
    if "://" not in path:
        n = 1
        while Path(candidate).exists():
            n += 1
            candidate = f"{base}-{stamp}-{n}"
    return candidate


def rerun_diagnosis(d: Diagnosis, journal: Any, job_id: int, targets: list[str]) -> Diagnosis:
    """A duplicate key in a job: was the table loaded by an earlier job? Then say which, and
    resume that one when it stopped half way (a new job would load the same rows again)."""
    if d.id != "pg.duplicate-key":
        return d
    earlier = None
    try:
        server = journal.get(job_id).target
    except Exception:  # noqa: BLE001 - no such job: compare the tables alone
        server = None
    for job in journal.jobs(200):
        if job.id < job_id and job.kind == "transfer" and any(t.target in targets for t in job.tables) \
                and (server is None or job.target == server) \
                and not any(t.error and "duplicate key" in t.error for t in job.tables):  # a re-run itself
            earlier = job
            break
    table = targets[0] if targets else "the table"
    if earlier is None:
        return Diagnosis(d.entry, d.message, d.cause, "empty the target table first (the rows there came from "
                         "elsewhere), or choose how to handle a table that holds rows", None, d.sqlstate, d.groups)
    if earlier.status == "completed":
        return Diagnosis(d.entry, d.message, d.cause, f"job {earlier.id} loaded {table} already: check it with "
                         "kwtui validate instead of loading it again, or empty the target table before a new run",
                         None, d.sqlstate, d.groups)
    command = f"kwtui jobs resume {earlier.id}"
    action = Action(RESUME_JOB.id, RESUME_JOB.label, None, command, RESUME_JOB.key)
    return Diagnosis(d.entry, d.message, d.cause, f"resume job {earlier.id} instead of starting a new one "
                     f"({command}): it stopped {earlier.status} and its committed batches are there",
                     action, d.sqlstate, d.groups)


def job_diagnosis(journal: Any, job_id: int) -> Diagnosis | None:
    """The knowledge-base entry for a journaled job's failure: its tables' errors first (the job's
    own error is often only "table X failed"), with the job id filled into the fix and action."""
    job = journal.get(job_id)
    errors = [t.error for t in job.tables if t.error] + ([job.error] if job.error else [])
    for error in errors:
        d = diagnose(error, context={"job": job_id})
        if d is not None:
            return rerun_diagnosis(d, journal, job_id, [t.target for t in job.tables])
    return None


def action_job(d: Diagnosis, default: int) -> int:
    """The job a resume action names (a re-run's fix may name an earlier job), else ``default``."""
    m = re.search(r"jobs resume (\d+)", (d.action.command or "") if d.action is not None else "")
    return int(m.group(1)) if m else default


def job_error_lines(error: str | None, job: int | None = None, journal: Any = None,
                    targets: list[str] | None = None) -> list[str]:
    """Cause and fix lines for a job's recorded error (for the journal and ``jobs show``)."""
    if not error:
        return []
    d = diagnose(error, context={"job": job} if job is not None else None)
    if d is not None and journal is not None and job is not None:
        d = rerun_diagnosis(d, journal, job, targets or [])
    return [] if d is None else [f"cause: {d.cause}", f"fix: {d.fix}"]


__all__ = ["Action", "Entry", "Diagnosis", "ENTRIES", "entry", "diagnose", "fresh_dir", "job_error_lines",
           "rerun_diagnosis", "job_diagnosis", "action_job"]
