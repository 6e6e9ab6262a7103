"""Catalog model: what a server holds. Filled by the dialects; plain dataclasses, no I/O.

The parsers of KWDB's SHOW output live here too (they are pure functions of the rows),
so they can be tested on recorded server output without a server.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

RELATIONAL = "relational"
TIME_SERIES = "time-series"

# Table kinds
BASE = "table"
TS_TABLE = "ts table"
VIEW = "view"
MATVIEW = "materialized view"
PARTITIONED = "partitioned table"
FOREIGN = "foreign table"


@dataclass(frozen=True)
class Database:
    name: str
    engine: str = RELATIONAL  # RELATIONAL or TIME_SERIES
    size_bytes: int | None = None
    comment: str | None = None

    @property
    def is_ts(self) -> bool:
        return self.engine == TIME_SERIES


@dataclass(frozen=True)
class Schema:
    name: str
    table_count: int | None = None


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    kind: str = BASE
    est_rows: int | None = None  # None: unknown (never analysed / not reported)
    size_bytes: int | None = None
    comment: str | None = None

    @property
    def is_ts(self) -> bool:
        return self.kind == TS_TABLE

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool = True
    default: str | None = None
    primary_key: bool = False
    is_tag: bool = False
    primary_tag: bool = False
    comment: str | None = None

    def flags(self) -> str:
        """Short markers for lists: PK, tag, primary tag, NOT NULL."""
        out = []
        if self.primary_key:
            out.append("PK")
        if self.primary_tag:
            out.append("primary tag")
        elif self.is_tag:
            out.append("tag")
        if not self.nullable:
            out.append("not null")
        return ", ".join(out)


@dataclass(frozen=True)
class Index:
    name: str
    columns: tuple[str, ...]
    unique: bool = False
    primary: bool = False
    definition: str | None = None


@dataclass
class TableDetail:
    table: Table
    columns: list[Column] = field(default_factory=list)
    indexes: list[Index] = field(default_factory=list)
    ddl: str = ""

    @property
    def primary_key(self) -> list[str]:
        return [c.name for c in self.columns if c.primary_key]

    @property
    def tags(self) -> list[str]:
        return [c.name for c in self.columns if c.is_tag]

    @property
    def primary_tags(self) -> list[str]:
        return [c.name for c in self.columns if c.primary_tag]


# -- KWDB SHOW output parsers ---------------------------------------------------------------


def _index(columns: Sequence[str]) -> dict[str, int]:
    return {c.lower(): i for i, c in enumerate(columns)}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return None if text in ("NULL", "") else text


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "t", "yes", "1")


def parse_kwdb_schemas(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[Schema]:
    """SHOW SCHEMAS: schema_name [| owner]; system schemas dropped."""
    idx = _index(columns)
    i = idx.get("schema_name", 0)
    hidden = {"information_schema", "pg_catalog", "crdb_internal", "kwdb_internal", "pg_extension"}
    return [Schema(str(r[i])) for r in rows if str(r[i]) not in hidden]


def parse_kwdb_tables(schema: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[Table]:
    """SHOW TABLES [WITH COMMENT]: table_name | table_type [| comment] (estimated_row_count when present)."""
    idx = _index(columns)
    name_i = idx.get("table_name", 0)
    type_i = idx.get("table_type", idx.get("type"))
    rows_i = idx.get("estimated_row_count")
    comment_i = idx.get("comment")
    schema_i = idx.get("schema_name")
    out = []
    for r in rows:
        if schema_i is not None and str(r[schema_i]) != schema:
            continue
        ttype = str(r[type_i]).upper() if type_i is not None else "BASE TABLE"
        if "TIME SERIES" in ttype:
            kind = TS_TABLE
        elif "MATERIALIZED" in ttype:
            kind = MATVIEW
        elif "VIEW" in ttype:
            kind = VIEW
        else:
            kind = BASE
        est = None
        if rows_i is not None and _text(r[rows_i]) is not None:
            try:
                est = int(r[rows_i])
            except (TypeError, ValueError):
                est = None
        comment = _text(r[comment_i]) if comment_i is not None else None
        out.append(Table(schema=schema, name=str(r[name_i]), kind=kind, est_rows=est, comment=comment))
    return out


_PRIMARY_TAGS_RE = re.compile(r"PRIMARY\s+TAGS\s*\(", re.IGNORECASE)


def _ident_list(text: str, start: int) -> list[str]:
    """The names of the parenthesised list opening just before ``text[start]``, to its ``)``.

    Quoted names keep their case and may hold spaces, commas, parentheses and doubled
    quotes; unquoted names fold to lower case (as the server does); words after a name
    (ASC, DESC) are dropped.
    """
    out: list[str] = []
    i, n = start, len(text)
    want_name = True
    while i < n and text[i] != ")":
        ch = text[i]
        if ch == ",":
            want_name, i = True, i + 1
            continue
        if ch.isspace() or ch == "(":
            i += 1
            continue
        if ch == '"':
            j, buf = i + 1, []
            while j < n:
                if text[j] == '"':
                    if text[j + 1:j + 2] == '"':
                        buf.append('"')
                        j += 2
                        continue
                    break
                buf.append(text[j])
                j += 1
            word, i = "".join(buf), j + 1
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in ',()"':
                j += 1
            word, i = text[i:j].lower(), j
        if want_name and word:
            out.append(word)
            want_name = False
    return out


def parse_primary_tags(ddl: str) -> list[str]:
    """The PRIMARY TAGS (...) list of a KWDB TS table's CREATE statement."""
    m = _PRIMARY_TAGS_RE.search(ddl)
    return _ident_list(ddl, m.end()) if m else []


_PK_RE = re.compile(r"PRIMARY\s+KEY\s*\(", re.IGNORECASE)


def parse_primary_key(ddl: str) -> list[str]:
    """Column names of a table-level PRIMARY KEY (...) in a CREATE statement (ASC/DESC dropped)."""
    m = _PK_RE.search(ddl)
    return _ident_list(ddl, m.end()) if m else []


def parse_kwdb_primary_tags(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> set[str]:
    """SHOW TAGS FROM t: tag | type | is_primary | nullable (V3.2.1): the primary tags' names."""
    idx = _index(columns)
    name_i = idx.get("tag", 0)
    primary_i = idx.get("is_primary", 2)
    return {str(r[name_i]) for r in rows if _bool(r[primary_i])}


def parse_kwdb_columns(columns: Sequence[str], rows: Sequence[Sequence[Any]], ddl: str = "", *,
                       primary_tags: set[str] | None = None) -> list[Column]:
    """SHOW COLUMNS FROM t [WITH COMMENT], completed with primary tags / key from SHOW CREATE TABLE
    (``ddl``) or with the primary tags SHOW TAGS named (``primary_tags``)."""
    idx = _index(columns)
    name_i = idx.get("column_name", 0)
    type_i = idx.get("data_type", 1)
    null_i = idx.get("is_nullable")
    default_i = idx.get("column_default")
    indices_i = idx.get("indices")
    hidden_i = idx.get("is_hidden")
    tag_i = idx.get("is_tag")
    comment_i = idx.get("comment")
    if primary_tags is None:
        primary_tags = set(parse_primary_tags(ddl)) if ddl else set()
    pk_from_ddl = set(parse_primary_key(ddl)) if ddl else set()
    out = []
    for r in rows:
        if hidden_i is not None and _bool(r[hidden_i]):
            continue
        name = str(r[name_i])
        is_tag = _bool(r[tag_i]) if tag_i is not None else False
        in_primary = False
        if indices_i is not None:
            in_primary = "primary" in str(r[indices_i]).lower()
        # TS tables list the timestamp under {primary}; that is the time index, the key is ts + primary tags
        out.append(Column(
            name=name,
            type=str(r[type_i]),
            nullable=_bool(r[null_i]) if null_i is not None else True,
            default=_text(r[default_i]) if default_i is not None else None,
            primary_key=(name in pk_from_ddl) if pk_from_ddl else in_primary,
            is_tag=is_tag,
            primary_tag=is_tag and name in primary_tags,
            comment=_text(r[comment_i]) if comment_i is not None else None,
        ))
    return out


def parse_kwdb_indexes(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[Index]:
    """SHOW INDEXES FROM t: one row per (index, column); grouped into Index objects."""
    idx = _index(columns)
    name_i = idx.get("index_name", 1)
    nonunique_i = idx.get("non_unique")
    col_i = idx.get("column_name")
    implicit_i = idx.get("implicit")
    storing_i = idx.get("storing")
    order: list[str] = []
    cols: dict[str, list[str]] = {}
    unique: dict[str, bool] = {}
    for r in rows:
        name = str(r[name_i])
        if implicit_i is not None and _bool(r[implicit_i]):
            continue
        if storing_i is not None and _bool(r[storing_i]):
            continue
        if name not in cols:
            order.append(name)
            cols[name] = []
            unique[name] = not _bool(r[nonunique_i]) if nonunique_i is not None else False
        if col_i is not None:
            cols[name].append(str(r[col_i]))
    return [Index(name=n, columns=tuple(cols[n]), unique=unique[n], primary=n == "primary") for n in order]


def parse_create_statement(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """SHOW CREATE TABLE: table_name | create_statement."""
    if not rows:
        return ""
    idx = _index(columns)
    i = idx.get("create_statement", len(columns) - 1)
    return str(rows[0][i])
