"""Decide whether SQL typed into kwtui only reads, and guard what read mode sends.

The migration guide's rule ("a write starts with INSERT, UPDATE, DELETE, DROP, ...") is
wrong for KWDB: IMPORT, EXPORT, UPSERT and SET start with other words, and a CTE can
write (``WITH d AS (DELETE ...) SELECT ...``). So every statement is lexed with sqlparse
(taught PostgreSQL's quoting) and classified from its structure. Strings, quoted
identifiers and comments are single tokens, so their contents never count. Anything not
recognised is a write (fail closed).

``guard`` turns an input into what read mode and the confirmation prompt need: the
statements, whether anything writes, the text to send (``LIMIT 20`` appended to a lone
unbounded query), a summary of what will change and why read mode refuses it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlparse import keywords
from sqlparse import tokens as T
from sqlparse.engine.statement_splitter import StatementSplitter
from sqlparse.lexer import Lexer

READ = "read"
WRITE = "write"
EMPTY = "empty"


@dataclass(frozen=True)
class Statement:
    text: str  # the statement as written (no trailing semicolon)
    kind: str  # READ, WRITE or EMPTY (comment-only / blank)
    verb: str  # upper-case main keyword(s): "SELECT", "WITH ... DELETE", "CREATE TABLE", ...
    reason: str  # why it is a write ("" for reads)
    targets: tuple[str, ...]  # best-effort names of what is written, as written
    autocommit: bool  # KWDB IMPORT / EXPORT refuse to run inside a transaction


@dataclass(frozen=True)
class Guarded:
    statements: tuple[Statement, ...]  # non-empty statements only
    sql: str  # the text to send
    is_write: bool  # any statement writes, or more than one statement was given
    limit_added: bool
    notice: str | None  # "LIMIT 20 added" when limit_added
    autocommit: bool  # any statement needs autocommit
    summary: str  # what will change, for a confirmation prompt ("" for a pure read)
    refusal: str  # why read mode cannot run this ("" when it can)


# --- Lexing -----------------------------------------------------------------------------


class _Tok(NamedTuple):
    kind: str  # "word" (keyword or bare name), "name" (quoted identifier), "str", one of ( ) ; . , or "other"
    text: str  # as written
    depth: int  # parenthesis depth; a "(" or ")" has the depth outside it

    @property
    def up(self) -> str:
        return self.text.upper()


_PUNCT = {"(": "(", ")": ")", "[": "(", "]": ")", ";": ";", ".": ".", ",": ","}  # [ ] nest like ( )


def _postgres_lexer() -> Lexer:
    r"""sqlparse's lexer with PostgreSQL / KWDB quoting and comments.

    Stock sqlparse reads ``\'`` as an escaped quote in every string, but a standard string
    ends there (``'C:\'``) and in ``E'\\'`` the backslash escapes a backslash: it would
    swallow the statements that follow. Only E'' (and KWDB's b'') strings take backslash
    escapes; quoted identifiers only double their quotes. MySQL's ``# comment``, `names`
    and [names] do not exist here (``#`` is XOR; ``[...]`` is an array or a KWDB
    ``[statement]`` source).
    """
    ours = {
        T.Comment: [(r"--.*?(\r\n|\r|\n|$)", T.Comment.Single)],
        T.String: [(r"[EB]'(?:''|\\[\s\S]|[^'\\])*'", T.String.Single),
                   (r"'(?:''|[^'])*'", T.String.Single), (r'"(?:""|[^"])*"', T.String.Symbol)],
    }
    regex: list[tuple[str, object]] = []
    for rx, ttype in keywords.SQL_REGEX:
        group = next((g for g in (T.Comment, T.String) if isinstance(ttype, tuple) and ttype in g), None)
        if group is not None:
            regex.extend(ours.pop(group, []))  # ours go where sqlparse had its own
        elif ttype is not T.Keyword.TZCast and not rx.startswith(("`", "´", r"(?<![\w\])])(\[")):
            regex.append((rx, ttype))
    if ours:
        raise RuntimeError("this sqlparse version lexes differently: review kwtui.sqlsafety")
    lexer = Lexer()
    lexer.default_initialization()
    lexer.set_SQL_REGEX(regex)
    return lexer


_LEXER = _postgres_lexer()
_Pairs = list[tuple[Any, str]]  # (token type, text) as the lexer yields them; lexing is the slow part


def _tokens(text: str) -> _Pairs:
    return list(_LEXER.get_tokens(text))


def _pieces(sql: str) -> list[tuple[str, _Pairs]]:
    """sqlparse's StatementSplitter over our lexer: each piece's stripped text and tokens, lexed once."""
    pieces = StatementSplitter().process(_LEXER.get_tokens(sql))
    return [(str(stmt).strip(), [(t.ttype, t.value) for t in stmt.tokens]) for stmt in pieces]


_NESTED_COMMENT = "a nested /* comment */ (ambiguous): treated as a write"


def _lex(pairs: _Pairs) -> tuple[list[_Tok], bool]:
    """The significant tokens (no whitespace or comments), and True when a comment nests."""
    toks: list[_Tok] = []
    depth, nested = 0, False
    for ttype, value in pairs:
        if ttype in T.Whitespace:
            continue
        if ttype in T.Comment:  # sqlparse ends /* /* */ at the first */, the server does not
            nested |= ttype in T.Comment.Multiline and "/*" in value[2:]
            continue
        if ttype in T.String.Symbol or ttype in T.String.Single:
            toks.append(_Tok("name" if ttype in T.String.Symbol else "str", value, depth))
        elif ttype in T.Keyword or (ttype in T.Name and ttype not in T.Name.Placeholder):
            toks.extend(_Tok("word", word, depth) for word in value.split())  # "ORDER BY" -> 2 words
        elif ttype in T.Punctuation and value in _PUNCT:
            kind = _PUNCT[value]
            depth -= kind == ")"
            toks.append(_Tok(kind, value, depth))
            depth += kind == "("
        else:
            toks.append(_Tok("other", value, depth))
    while toks and toks[-1].kind == ";":
        toks.pop()
    return toks, nested


def _drop_semicolons(pairs: _Pairs, *, trailing_only: bool) -> str:
    """The text without its terminating semicolons (or without all of them), comments kept."""
    out: list[str] = []
    in_tail = True
    for ttype, value in reversed(pairs):
        if ttype in T.Punctuation and value == ";" and (in_tail or not trailing_only):
            if out and not out[-1][:1].isspace():
                out.append(" ")  # "1;--c" -> "1 --c"
            continue
        in_tail &= ttype in T.Whitespace or ttype in T.Comment
        out.append(value)
    return "".join(reversed(out)).strip()


def _word(toks: list[_Tok], i: int) -> str:
    return toks[i].up if 0 <= i < len(toks) and toks[i].kind == "word" else ""


_NOT_NAMES = {"BY", "SET", "ON", "TO", "FROM", "AS", "WHERE", "USING", "CREATE"}  # e.g. DROP OWNED BY u


def _name(toks: list[_Tok], j: int) -> tuple[str | None, int]:
    """A possibly qualified name at ``j`` (after IF [NOT] EXISTS / ONLY), and the index after it."""
    while _word(toks, j) in {"ONLY", "IF", "NOT", "EXISTS", "CONCURRENTLY"}:
        j += 1
    if j >= len(toks) or toks[j].kind not in ("word", "name") or _word(toks, j) in _NOT_NAMES:
        return None, j
    parts = [toks[j].text]
    j += 1
    while j + 1 < len(toks) and toks[j].kind == "." and toks[j + 1].kind in ("word", "name"):
        parts.append(toks[j + 1].text)
        j += 2
    return ".".join(parts), j


def _names(toks: list[_Tok], j: int) -> tuple[str, ...]:
    """A comma-separated list of names starting at ``j``."""
    names: list[str] = []
    while True:
        name, j = _name(toks, j)
        if name is None:
            return tuple(names)
        names.append(name)
        if j >= len(toks) or toks[j].kind != ",":
            return tuple(names)
        j += 1


# --- Classification ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Info:
    kind: str
    verb: str = ""
    reason: str = ""
    targets: tuple[str, ...] = ()
    autocommit: bool = False
    clause: str = ""  # this statement's part of the confirmation summary
    limitable: bool = False  # a query that may get LIMIT n appended


def _write(verb: str, reason: str, targets: tuple[str, ...] = (), clause: str = "", *,
           autocommit: bool = False) -> _Info:
    return _Info(WRITE, verb, reason, targets, autocommit, clause or reason)


def _unknown(word: str) -> _Info:
    return _write(word or "?", f"unrecognised statement {word or '(no keyword)'}, treated as a write")


_DML = {"INSERT", "UPSERT", "UPDATE", "DELETE", "MERGE"}
_QUERY = {"SELECT", "VALUES", "TABLE", "WITH"}
_PREPOSITION = {"DELETE": "from ", "UPDATE": "", "INSERT": "into ", "UPSERT": "into ", "MERGE": "into "}
_LOCKING = re.compile(r"FOR (?:NO KEY UPDATE|UPDATE|KEY SHARE|SHARE)\b")
# Functions whose call changes state even inside a SELECT.
_SIDE_EFFECTS = {"NEXTVAL", "SETVAL", "SET_CONFIG", "PG_TERMINATE_BACKEND", "PG_CANCEL_BACKEND",
                 "LO_IMPORT", "LO_EXPORT", "LO_UNLINK", "PG_RELOAD_CONF", "DBLINK_EXEC"}


def _with_main(toks: list[_Tok], w: int) -> int | None:
    """Index of the statement a WITH clause at ``w`` introduces (after its CTE list)."""
    d = toks[w].depth
    for j in range(w + 1, len(toks)):
        t = toks[j]
        if t.depth < d:
            return None
        if t.depth != d:
            continue
        if t.kind == "word" and (t.up in _DML or t.up in _QUERY - {"WITH"}):
            if not (t.up == "UPDATE" and _word(toks, j - 1) in ("FOR", "KEY")):  # FOR [NO KEY] UPDATE
                return j
    return None  # also for WITH a AS (...) (SELECT ...): unrecognised, so a write


def _dml(toks: list[_Tok], k: int) -> tuple[str | None, str]:
    """Target and summary clause of the INSERT / UPDATE / DELETE / UPSERT / MERGE at ``k``."""
    verb, d = toks[k].up, toks[k].depth
    end = next((j for j in range(k + 1, len(toks)) if toks[j].depth < d), len(toks))
    span = [t for t in toks[k:end] if t.depth == d]  # its own clauses, not its subqueries
    words = [t.up if t.kind == "word" else "" for t in span]
    key = {"DELETE": "FROM", "UPDATE": "UPDATE"}.get(verb, "INTO")
    target = _name(span, words.index(key) + 1)[0] if key in words else None
    clause = f"{verb} {_PREPOSITION[verb]}{target}" if target else verb
    every_row = verb in ("DELETE", "UPDATE") and "WHERE" not in words
    return target, clause + (" (every row: no WHERE)" if every_row else "")


def _query(toks: list[_Tok], s: int) -> _Info:
    """SELECT / VALUES / TABLE / WITH and the DML statements, starting at ``s``."""
    first = main = toks[s].up
    if first == "WITH":
        m = _with_main(toks, s)
        if m is None:
            return _unknown("WITH")
        main = _word(toks, m)
    verb = f"WITH ... {main}" if first == "WITH" else main
    # Data-modifying statements start the input, follow "(" (a CTE body) or end a WITH.
    starts = {i for i, t in enumerate(toks) if t.kind == "word" and t.up in _DML
              and (i == s or toks[i - 1].kind == "(")}
    starts |= {m for i, t in enumerate(toks) if t.kind == "word" and t.up == "WITH"
               and (m := _with_main(toks, i)) is not None and toks[m].up in _DML}
    parts = [_dml(toks, k) for k in sorted(starts)]
    targets = tuple(dict.fromkeys(target for target, _ in parts if target))
    clause = "; ".join(c for _, c in parts)
    if main in _DML:
        of = f" of {', '.join(targets)}" if targets else ""
        return _write(verb, f"{main} changes rows{of}", targets, clause)
    if parts:
        inner = ", ".join(dict.fromkeys(toks[k].up for k in sorted(starts)))
        where = "WITH" if first == "WITH" else "the query"
        return _write(verb, f"a writable CTE ({inner}) inside {where}", targets, f"{clause} inside {where}")
    for i, t in enumerate(toks):
        if t.text == "[" and _word(toks, i + 1) in _STATEMENTS:  # KWDB [statement] as a row source
            end = next((k for k in range(i + 1, len(toks)) if toks[k].depth <= t.depth), len(toks))
            inner_info = _classify(toks[i + 1:end])
            if inner_info.kind == WRITE:
                return _write(verb, f"a [{inner_info.verb} ...] row source: {inner_info.reason}",
                              inner_info.targets, autocommit=inner_info.autocommit)
        if t.kind != "word":
            continue
        if t.up == "INTO" and _word(toks, i - 1) not in _DML:
            j = i + 1
            while _word(toks, j) in {"TEMP", "TEMPORARY", "UNLOGGED", "TABLE"}:
                j += 1
            name = _name(toks, j)[0]
            return _write(verb, f"SELECT ... INTO creates table {name}", (name,) if name else ())
        lock = _LOCKING.match(" ".join(x.up for x in toks[i:i + 4])) if t.up == "FOR" else None
        if lock:
            return _write(verb, f"SELECT ... {lock.group()} locks rows")
        if t.up in _SIDE_EFFECTS and i + 1 < len(toks) and toks[i + 1].kind == "(":
            return _write(verb, f"{t.text.lower()}() has side effects")
    return _Info(READ, verb, limitable=main in _QUERY)


def _explain(toks: list[_Tok]) -> _Info:
    """EXPLAIN only plans (a read); EXPLAIN ANALYZE runs the statement, so it is what that is."""
    j, analyze = 1, False
    while j < len(toks):
        if toks[j].kind == "(" and _word(toks, j + 1) not in {"", *_QUERY, *_DML}:  # (ANALYZE, COSTS off)
            end = next((k for k in range(j + 1, len(toks)) if toks[k].depth <= toks[j].depth), len(toks))
            for k in range(j + 1, end):
                if _word(toks, k) in ("ANALYZE", "ANALYSE") and toks[k - 1].kind in ("(", ","):
                    analyze |= k + 1 >= end or toks[k + 1].up not in ("FALSE", "OFF", "0")
            j = end + 1
        elif _word(toks, j) in ("ANALYZE", "ANALYSE", "VERBOSE"):
            analyze |= _word(toks, j) != "VERBOSE"
            j += 1
        else:
            break
    inner = _classify(toks[j:]) if analyze else _Info(EMPTY)
    if inner.kind != WRITE:
        return _Info(READ, "EXPLAIN ANALYZE" if analyze else "EXPLAIN")
    return _write("EXPLAIN ANALYZE", f"EXPLAIN ANALYZE runs the statement: {inner.reason}", inner.targets,
                  f"EXPLAIN ANALYZE runs {inner.clause}", autocommit=inner.autocommit)


def _object(toks: list[_Tok], j: int) -> tuple[str, int]:
    """The object type at ``j`` in CREATE/ALTER/DROP/COMMENT ON (skipping OR REPLACE, TEMP, ...)."""
    while _word(toks, j) in {"OR", "REPLACE", "TEMP", "TEMPORARY", "UNLOGGED", "GLOBAL", "LOCAL",
                             "UNIQUE", "TRUSTED", "PROCEDURAL", "RECURSIVE"}:
        j += 1
    obj = _word(toks, j)
    if obj in {"TS", "MATERIALIZED", "FOREIGN", "EVENT", "DEFAULT", "ACCESS"} and _word(toks, j + 1):
        return f"{obj} {_word(toks, j + 1)}", j + 2
    return obj, j + (1 if obj else 0)


def _schema_change(toks: list[_Tok]) -> _Info:
    """CREATE / ALTER / DROP: the verb names the object type, the targets its names."""
    first = toks[0].up
    obj, j = _object(toks, 1)
    verb = f"{first} {obj}".strip()
    if obj == "INDEX" and _word(toks, j) == "ON":
        j += 1
    names = _names(toks, j) if first == "DROP" else _names(toks, j)[:1]
    listed = ", ".join(names)
    if not names:
        return _write(verb, f"{verb} changes the schema")
    if first == "DROP":
        return _write(verb, f"{verb} removes {listed}", names, f"{verb} {listed} (cannot be undone)")
    if first == "CREATE":
        return _write(verb, f"{verb} creates {listed}", names, f"{verb} {listed}")
    drops = any(_word(toks, k) == "DROP" for k in range(j, len(toks)))
    return _write(verb, f"{verb} changes {listed}", names, f"{verb} {listed}" + (" (drops part of it)" * drops))


_TRANSACTION = "controls the transaction, which read mode does not allow"
_PHRASES = {
    "SET": "changes the session", "RESET": "changes the session", "DISCARD": "changes the session",
    "CALL": "runs a procedure that may change data", "DO": "runs a code block that may change data",
    **dict.fromkeys(["BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT", "SAVEPOINT", "RELEASE"], _TRANSACTION),
    "PREPARE": "prepares a statement that may change data",
    "EXECUTE": "runs a prepared statement that may change data",
    "DEALLOCATE": "changes the session's prepared statements",
    **dict.fromkeys(["VACUUM", "ANALYZE", "ANALYSE", "REINDEX", "CLUSTER", "REFRESH", "CHECKPOINT"],
                    "does maintenance that changes storage or statistics"),
    "LOCK": "locks tables", "NOTIFY": "sends a notification",
    "LISTEN": "changes the session's notifications", "UNLISTEN": "changes the session's notifications",
    "PAUSE": "changes a running job", "RESUME": "changes a running job", "CANCEL": "stops running work",
    "BACKUP": "writes a backup", "RESTORE": "restores data from a backup",
    "REASSIGN": "changes object ownership", "SECURITY": "changes security labels",
    "GRANT": "changes privileges", "REVOKE": "changes privileges",
}
# Second words that belong to the verb: SET CLUSTER SETTING, PAUSE JOB, CANCEL QUERY, ...
_TAILS = {
    "SET": ("CLUSTER SETTING", "TRANSACTION"), "START": ("TRANSACTION",), "PREPARE": ("TRANSACTION",),
    "COMMIT": ("PREPARED",), "ROLLBACK": ("PREPARED",), "REFRESH": ("MATERIALIZED VIEW",),
    "PAUSE": ("JOBS", "JOB", "SCHEDULES", "SCHEDULE"), "RESUME": ("JOBS", "JOB", "SCHEDULES", "SCHEDULE"),
    "CANCEL": ("JOBS", "JOB", "QUERIES", "QUERY", "SESSIONS", "SESSION"),
}


def _other(toks: list[_Tok]) -> _Info:
    """Every statement that is neither a query, EXPLAIN, SHOW nor CREATE/ALTER/DROP."""
    first = toks[0].up
    if first == "TRUNCATE":
        names = _names(toks, 2 if _word(toks, 1) == "TABLE" else 1)
        listed = ", ".join(names) or "the table"
        return _write(first, f"TRUNCATE removes every row of {listed}", names, f"TRUNCATE {listed} (every row)")
    if first == "COMMENT":
        names = _names(toks, _object(toks, 2)[1])[:1]
        return _write(first, f"COMMENT changes the comment on {', '.join(names) or 'an object'}", names)
    if first == "IMPORT":
        name = _name(toks, 2)[0] if _word(toks, 1) in ("INTO", "TABLE") else None  # not TABLE CREATE USING
        return _write(first, f"IMPORT loads data into {name or 'the database'}", (name,) if name else (),
                      autocommit=True)
    if first == "EXPORT":
        path = next((t.text[1:-1] for t in toks if t.kind in ("name", "str") and t.depth == toks[0].depth), None)
        return _write(first, f"EXPORT writes files to {path or 'the server'}", (path,) if path else (),
                      autocommit=True)
    if first == "COPY":
        name, j = _name(toks, 1)
        while j < len(toks) and (_word(toks, j) not in ("FROM", "TO") or toks[j].depth > toks[0].depth):
            j += 1
        if _word(toks, j) == "FROM" and name:
            return _write(first, f"COPY ... FROM loads rows into {name}", (name,))
        return _write(first, "COPY ... TO can write files on the server")
    if first == "USE":
        return _write(first, f"USE switches the session to database {_name(toks, 1)[0] or '?'}")
    words = " ".join(t.up for t in toks[1:4] if t.kind == "word") + " "
    verb = first + next((" " + tail for tail in _TAILS.get(first, ()) if words.startswith(tail + " ")), "")
    if verb == "SET CLUSTER SETTING":
        return _write(verb, "SET CLUSTER SETTING changes the cluster configuration")
    if first not in _PHRASES:
        return _unknown(first)
    phrase = _TRANSACTION if verb in ("PREPARE TRANSACTION", "SET TRANSACTION") else _PHRASES[first]
    if first in ("GRANT", "REVOKE"):
        on = next((k + 1 for k in range(len(toks)) if _word(toks, k) == "ON"), len(toks))  # ON [TABLE] t
        names = _names(toks, on + (_word(toks, on) in {"TABLE", "DATABASE", "SCHEMA", "SEQUENCE", "FUNCTION"}))
        return _write(first, f"{first} {phrase}", names, f"{first} {phrase} on {', '.join(names)}" if names else "")
    return _write(verb, f"{verb} {phrase}")


_STATEMENTS = {*_PHRASES, "CREATE", "ALTER", "DROP", "TRUNCATE", "COMMENT", "IMPORT", "EXPORT", "COPY", "USE",
               "EXPLAIN"}


def _classify(tl: list[_Tok]) -> _Info:
    """Classify one statement's significant tokens."""
    if not tl:
        return _Info(EMPTY)
    s = next((i for i, t in enumerate(tl) if t.kind != "("), len(tl))
    word = _word(tl, s)
    if word in _QUERY or word in _DML:
        info = _query(tl, s)
    elif word == "EXPLAIN":
        info = _explain(tl[s:])
    elif word == "SHOW":
        info = _Info(READ, "SHOW")
    elif s > 0 or not word:
        info = _unknown(word)
    elif word in ("CREATE", "ALTER", "DROP"):
        info = _schema_change(tl)
    else:
        info = _other(tl)
    if info.kind == READ and any(t.kind == ";" for t in tl):  # sqlparse kept two statements together
        return _write(info.verb, "more than one statement: read mode runs one statement at a time")
    return info


def _analyse(pairs: _Pairs) -> _Info:
    toks, nested = _lex(pairs)
    info = _classify(toks)
    return _write(info.verb, _NESTED_COMMENT, info.targets) if nested and info.kind != WRITE else info


# --- Public API -------------------------------------------------------------------------


def split(sql: str) -> list[str]:
    """The statements of ``sql``, stripped, blank ones dropped.

    This is ``sqlparse.split`` (its StatementSplitter) fed by the PostgreSQL-quoting lexer.
    """
    return [text for text, _ in _pieces(sql) if text]


def _statement(pairs: _Pairs, info: _Info) -> Statement:
    return Statement(_drop_semicolons(pairs, trailing_only=True), info.kind, info.verb, info.reason,
                     info.targets, info.autocommit)


def classify_statement(text: str) -> Statement:
    pairs = _tokens(text)
    return _statement(pairs, _analyse(pairs))


def classify(sql: str) -> list[Statement]:
    """Every piece of ``split(sql)``, comment-only ones included (as EMPTY)."""
    return [_statement(pairs, _analyse(pairs)) for text, pairs in _pieces(sql) if text]


def has_row_limit(text: str) -> bool:
    """True when the query has a top-level LIMIT or FETCH FIRST/NEXT, or a KWDB FILL( anywhere."""
    return _row_limit(_lex(_tokens(text))[0])


def _row_limit(toks: list[_Tok]) -> bool:
    lo, hi = 0, len(toks)
    while hi - lo >= 2 and toks[lo].kind == "(" and toks[hi - 1].kind == ")" and not any(
            t.depth <= toks[lo].depth for t in toks[lo + 1:hi - 1]):  # (SELECT ... LIMIT 5)
        lo, hi = lo + 1, hi - 1
    top = toks[lo].depth if lo < hi else 0
    for i in range(lo, hi):
        word = _word(toks, i)
        if word == "FILL" and i + 1 < len(toks) and toks[i + 1].kind == "(":
            return True
        if toks[i].depth == top and (word == "LIMIT" or (word == "FETCH" and _word(toks, i + 1) in ("FIRST", "NEXT"))):
            return True
    return False


def _summary(infos: list[_Info]) -> str:
    n, clauses = len(infos), [i.clause for i in infos if i.kind == WRITE]
    if not clauses:
        return f"{n} statements will run, none changes data" if n > 1 else ""
    head = f"{n} statement{'s' * (n > 1)} will change data" if len(clauses) == n else \
        f"{n} statements, {len(clauses)} will change data"
    return f"{head}: {'; '.join(clauses)}"


def _refusal(infos: list[_Info]) -> str:
    if not infos:
        return "nothing to run: the input holds no statement"
    if len(infos) > 1:
        return "more than one statement: read mode runs one statement at a time"
    info = infos[0]
    if info.kind != WRITE:
        return ""
    why = "" if info.reason.startswith(info.verb + " ") else f" ({info.reason})"
    return f"{info.verb} is a write{why}: run it in write mode (--write)"


def guard(sql: str, *, limit: int = 20) -> Guarded:
    """Classify ``sql`` and prepare it for sending: see ``Guarded``."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    everything = _pieces(sql)
    pieces = [(pairs, _analyse(pairs)) for _, pairs in everything]
    pieces = [(pairs, info) for pairs, info in pieces if info.kind != EMPTY]
    infos = [info for _, info in pieces]
    statements = tuple(_statement(pairs, info) for pairs, info in pieces)
    is_write = len(infos) > 1 or any(i.kind == WRITE for i in infos)
    limit_added = not is_write and len(infos) == 1 and infos[0].limitable and not _row_limit(_lex(pieces[0][0])[0])
    if limit_added:  # the whole input (comments too) without its semicolons, then the LIMIT
        sql = _drop_semicolons([pair for _, pairs in everything for pair in pairs], trailing_only=False)
        sql += f"\nLIMIT {limit}"
    return Guarded(statements, sql, is_write, limit_added, f"LIMIT {limit} added" if limit_added else None,
                   any(i.autocommit for i in infos), _summary(infos), _refusal(infos))
