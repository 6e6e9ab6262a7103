"""Validation: prove that tables on two servers hold the same data, or say which rows differ.

Three levels, each selectable:

``count``
    ``count(*)`` on both sides.
``aggregate``
    per column: non-null count, null count, min, max, sum (numbers), and a distinct count
    where it is cheap (tables up to ``distinct_max_rows`` rows, columns of small types:
    numbers, booleans, dates and times, uuids, CHAR(n) and VARCHAR(n <= 64)). Values are
    compared with type-aware normalisation: numbers numerically (a relative tolerance where
    one side is a float and the other is not, or the float widths differ), timestamps in
    UTC (a time zone-less timestamp is taken as UTC), text trimmed only for CHAR(n). NaN sorts
    above every number on PostgreSQL and below on KWDB: for numbers min, max and sum leave NaN
    out and a ``nan`` count holds it; a float sum also leaves the infinities out (min and max
    show them), so one changed finite value still moves it.
``checksum``
    the key space is cut into segments at keys *sampled* from the table (any orderable key:
    integers, text, uuids, composite keys, a KWDB TS table's timestamp + primary tags; never
    integer arithmetic). Each segment is hashed on the server, with ``count(*)``, as
    ``md5(string_agg(md5(<canonical row text>), '' ORDER BY <key>))``, or, where the catalog
    tells the row width (PostgreSQL on both sides) and a segment's text stays near 8 MB,
    as ``md5(string_agg(<canonical row text>, <RS> ORDER BY <key>))`` (one md5 a segment).
    The canonical text is built per column from the *pair* of types, so equal values give
    equal text on both servers even when the types differ slightly (int4 vs int8,
    numeric(10,2) vs numeric(12,4): trimmed numeric text; numeric vs float8: both as
    float8; uuid vs text: lower case; CHAR(n): trimmed; timestamps: UTC in ISO 8601 with a
    space, at millisecond precision against a KWDB TS table); where both sides are the same
    kind of server with the same column type, the server's own text form is canonical (the
    sessions fix TimeZone, DateStyle, extra_float_digits ...); a float's -0 prints '0' and its
    infinities 'Infinity' / '-Infinity' on both (KWDB's own text is '+Inf' / '-Inf'), a
    numeric's -0 '0'. Equal segments are skipped; unequal ones are split again at keys sampled inside
    them until they hold a few hundred rows, which are fetched from both sides ordered by key
    and compared row by row in a streaming merge. A segment empty on one side is streamed
    from the other without splitting. Where a server lacks a function the hash needs (no
    md5, no string_agg ...), the table falls back to a sorted streaming merge of both whole
    tables; so does a table without a key (with a note).

Reads run on both sides at once (``asyncio.gather`` over one connection per side), and
segments run in ``workers`` connection pairs. For every foreign key of a source table the
target is checked for orphan rows. Results carry a verdict per table (``equal``,
``differs``, ``missing``, ``error``), counts on both sides and the first differing keys by
kind (``changed``, ``missing_in_target``, ``extra_in_target``) with the differing columns
side by side. Values compare as their type compares them, on every level: NaN equals NaN,
-0.0 equals 0.0, an infinity equals the infinity of its sign. The verdict is about the rows:
a side check that was skipped or could not run (a foreign key whose parent table is absent,
an aggregate the server refused) is a *warning* with its reason, never ``differs``.
:func:`write_report` writes Markdown, JSON or a self-contained HTML page.

This module never imports Textual; SQL identifiers only go through :mod:`psycopg.sql`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import decimal
import html
import json
import math
import re
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from kwtui.catalog import MATVIEW, VIEW, Column, Table, TableDetail
from kwtui.connection import ConnectionService
from kwtui.errors import KwtuiError, UsageError
from kwtui.fmt import jsonable, text_value
from kwtui.transfer.engine import Listener, Progress, ProgressEvent, split_name

# -- public constants ---------------------------------------------------------------------------

COUNT, AGGREGATE, CHECKSUM = "count", "aggregate", "checksum"
LEVELS = (COUNT, AGGREGATE, CHECKSUM)

EQUAL, DIFFERS, MISSING, ERROR = "equal", "differs", "missing", "error"
VERDICTS = (EQUAL, DIFFERS, MISSING, ERROR)

CHANGED, MISSING_IN_TARGET, EXTRA_IN_TARGET = "changed", "missing_in_target", "extra_in_target"
KINDS = (CHANGED, MISSING_IN_TARGET, EXTRA_IN_TARGET)

#: the text of one segment hashed in one piece stays near this size (rows of known width)
_WHOLE_SEGMENT_BYTES = 8 * 1024 * 1024

#: collations that order text by code point (UTF-8 bytes), as Python and KWDB do
_BYTE_ORDER_COLLATIONS = {"c", "posix", "c.utf8", "c.utf-8", "ucs_basic", "pg_c_utf8"}


# -- options and results ------------------------------------------------------------------------


@dataclass(frozen=True)
class TableSpec:
    """One table to validate: its source name, the target name (default: the transfer
    engine's mapping: same schema on PostgreSQL, ``public`` on KWDB) and an optional key."""

    source: str
    target: str | None = None
    key: tuple[str, ...] | None = None


@dataclass
class ValidateOptions:
    level: str = CHECKSUM
    #: differing keys kept per kind and table (the counts by kind are always complete)
    max_diffs: int = 20
    #: connection pairs that hash segments at the same time
    workers: int = 2
    #: rows per top-level segment (the key space is cut into about rows / segment_rows parts)
    segment_rows: int = 20_000
    #: a differing segment with at most this many rows on each side is fetched and compared
    leaf_rows: int = 400
    #: at most this many parts when a differing segment is split again
    max_split: int = 64
    #: distinct counts only for tables up to this many rows (and columns of small types)
    distinct_max_rows: int = 1_000_000
    #: relative tolerance for floats compared with a non-float or a float of another width
    float_tolerance: float = 1e-9
    float4_tolerance: float = 1e-6
    check_references: bool = True
    max_orphans_shown: int = 5
    #: test and fallback switch: skip hashing, merge both whole tables
    force_merge: bool = False
    #: rows per page when streaming a merge
    page_rows: int = 2_000
    #: leaves whose checksums differed but whose rows compared equal (the servers print some
    #: values differently) before the table switches to a whole-table merge
    false_alarm_limit: int = 32

    def check(self) -> None:
        if self.level not in LEVELS:
            raise UsageError(f"unknown level {self.level!r}: use {', '.join(LEVELS)}")
        for name in ("max_diffs", "workers", "segment_rows", "leaf_rows", "page_rows"):
            if getattr(self, name) < 1:
                raise UsageError(f"{name.replace('_', '-')} must be at least 1")
        if self.max_split < 2:
            raise UsageError("max-split must be at least 2")


@dataclass
class ColumnDiff:
    """One column of a differing row, source value beside target value."""

    column: str
    source: Any
    target: Any

    def as_dict(self) -> dict[str, Any]:
        return {"column": self.column, "source": jsonable(self.source), "target": jsonable(self.target)}


@dataclass
class RowDiff:
    """A differing row: ``changed`` (the differing columns), or a row on one side only
    (``missing_in_target``: the source row; ``extra_in_target``: the target row)."""

    kind: str
    key: dict[str, Any]
    columns: list[ColumnDiff] = field(default_factory=list)

    def key_text(self) -> str:
        return ", ".join(f"{k}={text_value(v)}" for k, v in self.key.items())

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": {k: jsonable(v) for k, v in self.key.items()},
                "columns": [c.as_dict() for c in self.columns]}


@dataclass
class AggregateCheck:
    column: str
    metric: str  # count | nulls | min | max | sum | nan | distinct
    source: Any
    target: Any
    equal: bool
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        out = {"column": self.column, "metric": self.metric, "source": jsonable(self.source),
               "target": jsonable(self.target), "equal": self.equal}
        if self.note:
            out["note"] = self.note
        return out


@dataclass
class OrphanCheck:
    """Rows of the target table whose foreign key finds no parent row in the target."""

    constraint: str
    columns: list[str]
    parent: str
    parent_columns: list[str]
    orphans: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    #: the same key's orphans in the source (a NOT VALID foreign key keeps them there): a target
    #: with exactly these is a faithful copy, said as a warning; None when not counted
    source_orphans: int | None = None

    @property
    def extra_orphans(self) -> int:
        """Orphans the target has beyond the source's own."""
        return max(0, self.orphans - (self.source_orphans or 0))

    @property
    def ok(self) -> bool:
        return self.error is None and self.extra_orphans == 0

    def as_dict(self) -> dict[str, Any]:
        return {"constraint": self.constraint, "columns": self.columns, "parent": self.parent,
                "parent_columns": self.parent_columns, "orphans": self.orphans,
                "source_orphans": self.source_orphans,
                "examples": [{k: jsonable(v) for k, v in e.items()} for e in self.examples],
                "error": self.error}


@dataclass
class TableValidation:
    table: str
    target: str
    level: str
    verdict: str = EQUAL
    source_rows: int | None = None
    target_rows: int | None = None
    key: list[str] = field(default_factory=list)
    method: str = ""
    differences: list[RowDiff] = field(default_factory=list)
    diff_counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    aggregates: list[AggregateCheck] = field(default_factory=list)
    references: list[OrphanCheck] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: side checks that were skipped or could not run, each with its reason (they never make a
    #: table differ: the verdict is about the rows)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    elapsed: float = 0.0
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def differing_aggregates(self) -> list[AggregateCheck]:
        return [a for a in self.aggregates if not a.equal]

    def differences_of(self, kind: str) -> list[RowDiff]:
        return [d for d in self.differences if d.kind == kind]

    def as_dict(self) -> dict[str, Any]:
        return {
            "table": self.table, "target": self.target, "level": self.level, "verdict": self.verdict,
            "source_rows": self.source_rows, "target_rows": self.target_rows, "key": self.key,
            "method": self.method, "diff_counts": dict(self.diff_counts),
            "differences": [d.as_dict() for d in self.differences],
            "aggregates": [a.as_dict() for a in self.aggregates],
            "references": [r.as_dict() for r in self.references],
            "notes": self.notes, "warnings": self.warnings, "error": self.error,
            "elapsed_s": round(self.elapsed, 3),
            "stats": dict(self.stats),
        }


@dataclass
class ValidationResult:
    source: str
    target: str
    level: str
    tables: list[TableValidation] = field(default_factory=list)
    started: str = ""
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return all(t.verdict == EQUAL for t in self.tables)

    @property
    def warnings(self) -> int:
        """Side checks skipped or failed, over every table (see ``TableValidation.warnings``)."""
        return sum(len(t.warnings) for t in self.tables)

    def verdict_counts(self) -> dict[str, int]:
        out = dict.fromkeys(VERDICTS, 0)
        for t in self.tables:
            out[t.verdict] = out.get(t.verdict, 0) + 1
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "target": self.target, "level": self.level, "ok": self.ok,
                "started": self.started, "elapsed_s": round(self.elapsed, 3),
                "verdicts": self.verdict_counts(), "warnings": self.warnings,
                "tables": [t.as_dict() for t in self.tables]}


# -- types: classes, pair modes, canonical forms --------------------------------------------------

_INT = {"smallint", "integer", "bigint", "int", "int2", "int4", "int8", "int64", "serial", "bigserial",
        "smallserial", "serial2", "serial4", "serial8"}
_TEXT = {"text", "character varying", "varchar", "nvarchar", "string", "name", "citext"}
_CHAR = {"character", "char", "bpchar", "nchar"}
_NUMBERS = {"int", "num", "float4", "float8"}


def type_class(type_text: str) -> str:
    """The comparison class of a column type as PostgreSQL or KWDB print it.

    int, num, float4, float8, bool, text, char, tstz, ts, date, uuid, bytes, json or other.
    """
    s = " ".join(type_text.strip().lower().split())
    if s.endswith("]") or s.startswith("_") or s.startswith("array"):
        return "other"
    base = " ".join(re.sub(r"\([^)]*\)", " ", s).split())
    if base in _INT:
        return "int"
    if base in ("numeric", "decimal"):
        return "num"
    if base in ("real", "float4"):
        return "float4"
    if base in ("double precision", "float8", "float"):
        return "float8"
    if base in ("boolean", "bool"):
        return "bool"
    if base in _CHAR:
        return "char"
    if base in _TEXT:
        return "text"
    if base in ("timestamp with time zone", "timestamptz"):
        return "tstz"
    if base in ("timestamp without time zone", "timestamp"):
        return "ts"
    if base == "date":
        return "date"
    if base == "uuid":
        return "uuid"
    if base in ("bytea", "bytes", "varbytes", "blob"):
        return "bytes"
    if base in ("json", "jsonb"):
        return "json"
    return "other"


#: column classes that can hold NaN (and compare it: NaN = NaN on both servers)
_NAN_CLASSES = ("num", "float4", "float8")


def _nan_able(p: ColumnPair) -> bool:
    """A numeric column pair where one side can hold NaN: min/max leave NaN out, a 'nan' count has it."""
    return p.mode in ("num", "float8", "float4") and (p.source_class in _NAN_CLASSES
                                                      or p.target_class in _NAN_CLASSES)


def _number_aggregates(p: ColumnPair, cls: str, x: sql.Composable) -> list[tuple[str, sql.Composable]]:
    """min, max, sum and (where a side can hold NaN) the NaN count of one side's number column.

    PostgreSQL sorts NaN above every number and KWDB below it, and one NaN makes a sum NaN:
    min, max and sum leave NaN out and ``nan`` counts it. In a float pair the sum also leaves
    the infinities out (min and max show them), so a changed finite value still moves the sum.
    NaN is tested on the float8 value: KWDB answers TRUE to ``real_column = 'NaN'`` for any real.
    """
    out: list[tuple[str, sql.Composable]] = []
    if p.mode in ("float8", "float4"):
        f = sql.SQL("{}::float8").format(x)
        nan = sql.SQL("{} = 'NaN'").format(f)
        kept = sql.SQL("CASE WHEN NOT ({}) THEN {} END").format(nan, x)
        finite = sql.SQL("CASE WHEN {f} <> 'NaN' AND {f} <> 'Infinity' AND {f} <> '-Infinity' THEN {f} END").format(f=f)
        out += [("min", sql.SQL("min({})::text").format(kept)), ("max", sql.SQL("max({})::text").format(kept)),
                ("sum", sql.SQL("sum({})::text").format(finite)),
                ("nan", sql.SQL("count(CASE WHEN {} THEN 1 END)").format(nan))]
        return out
    if cls in _NAN_CLASSES:  # numeric (PostgreSQL before 14 has no numeric infinity to test for)
        nan = sql.SQL("{} = 'NaN'").format(x)
        kept = sql.SQL("CASE WHEN NOT ({}) THEN {} END").format(nan, x)
        return [("min", sql.SQL("min({})::text").format(kept)), ("max", sql.SQL("max({})::text").format(kept)),
                ("sum", sql.SQL("sum({})::text").format(kept)),
                ("nan", sql.SQL("count(CASE WHEN {} THEN 1 END)").format(nan))]
    out += [("min", sql.SQL("min({})::text").format(x)), ("max", sql.SQL("max({})::text").format(x)),
            ("sum", sql.SQL("sum({})::text").format(x))]
    if _nan_able(p):  # an integer beside a numeric: no NaN here
        out.append(("nan", sql.SQL("0")))
    return out


def _declared_length(type_text: str) -> int | None:
    m = re.search(r"\((\d+)\)", type_text)
    return int(m.group(1)) if m else None


def pair_mode(a: str, b: str) -> str:
    """How a column is compared when one side has class ``a`` and the other ``b``."""
    s = {a, b}
    if s <= {"int"}:
        return "int"
    if s <= {"int", "num"}:
        return "num"
    if s <= _NUMBERS:
        return "float4" if "float4" in s else "float8"
    if s <= {"text", "char"}:
        return "char" if "char" in s else "text"
    if "uuid" in s and s <= {"uuid", "text", "char"}:
        return "uuid"
    if s <= {"tstz", "ts", "date"}:
        return "date" if s == {"date"} else "ts"
    if s == {"bool"}:
        return "bool"
    if s == {"bytes"}:
        return "bytes"
    if "json" in s and s <= {"json", "text"}:
        return "json"
    return "other"


@dataclass
class ColumnPair:
    """A column present on both sides and how it is compared."""

    name: str  # the source name (used in results)
    target_name: str
    source_type: str
    target_type: str
    source_class: str
    target_class: str
    mode: str
    tolerance: float | None = None  # relative, for lossy float comparisons
    ms: bool = False  # timestamps compared at millisecond precision (KWDB TS)
    source_collate: bool = False  # PostgreSQL text not in byte order: add COLLATE "C"
    target_collate: bool = False
    plain: bool = False  # same server kind and column type: the server's own text is canonical
    not_null: bool = False  # NOT NULL on both sides: no NULL marker needed


@dataclass
class _Side:
    """What differs between the source and the target side of one table."""

    name: str  # "source" | "target"
    svc: ConnectionService
    schema: str
    table: str
    columns: list[str]  # the compared columns, in pair order
    classes: list[str]
    collate: list[bool]
    key_idx: list[int]  # positions of the key columns in ``columns``
    trim_scale: bool = False  # PostgreSQL 13 or later

    @property
    def kind(self) -> str:
        return self.svc.info.kind if self.svc.info is not None else "postgres"

    @property
    def ident(self) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(self.schema), sql.Identifier(self.table))

    def cls_is_decimal(self, i: int) -> bool:
        return self.classes[i] == "num"


def _collated(col: str, collate: bool) -> sql.Composable:
    ident = sql.Identifier(col)
    return sql.SQL('{} COLLATE "C"').format(ident) if collate else ident


def canonical_sql(column: str, cls: str, mode: str, *, ms: bool = False, plain: bool = False,
                  trim_scale: bool = False) -> sql.Composable:
    """The canonical text of one value (NULL stays NULL), identical on both servers for equal values.

    ``plain``: both sides are the same kind of server with the same column type, so the
    server's own text form is already canonical (the validation sessions fix TimeZone,
    DateStyle, extra_float_digits, bytea_output and IntervalStyle). ``trim_scale``: the
    server has PostgreSQL 13's ``trim_scale`` (same text as the portable rtrim form).
    """
    x: sql.Composable = sql.Identifier(column)
    if plain and not ms:
        if cls in ("float4", "float8"):
            return _float_text(x, sql.SQL("{}::text").format(x))
        if cls == "num":
            return _zero_text(x, sql.SQL("{}::text").format(x))
        return sql.SQL("{}::text").format(x)
    if ms and cls in ("tstz", "ts"):
        x = sql.SQL("date_trunc('milliseconds', {})").format(x)
    if mode == "num" and cls != "int":
        if trim_scale:
            return _zero_text(x, sql.SQL("trim_scale({})::text").format(x))
        return _zero_text(x, sql.SQL("CASE WHEN strpos({x}::text, '.') > 0 THEN rtrim(rtrim({x}::text, '0'), '.')"
                                     " ELSE {x}::text END").format(x=x))
    if mode in ("float8", "float4"):
        v = sql.SQL("{}::{}").format(x, sql.SQL(mode))
        return _float_text(v, sql.SQL("{}::text").format(v))
    if mode == "char":
        return sql.SQL("rtrim({}::text)").format(x)
    if mode == "uuid":
        return sql.SQL("lower({}::text)").format(x)
    if mode == "ts":  # 'YYYY-MM-DD HH:MM:SS[.ffffff]' in UTC (ISO 8601 with a space, as both servers print it)
        if cls == "tstz":
            return sql.SQL("({} AT TIME ZONE 'UTC')::text").format(x)
        if cls == "date":
            return sql.SQL("{}::timestamp::text").format(x)
        return sql.SQL("{}::text").format(x)
    if mode == "bytes":
        return sql.SQL("encode({}, 'hex')").format(x)
    return sql.SQL("{}::text").format(x)


def _zero_text(x: sql.Composable, text: sql.Composable) -> sql.Composable:
    """-0 (a float's, or a KWDB decimal's) prints as '0': the value equals 0."""
    return sql.SQL("CASE WHEN {x} = 0 THEN '0' ELSE {t} END").format(x=x, t=text)


def _float_text(x: sql.Composable, text: sql.Composable) -> sql.Composable:
    """A float's text, the same on PostgreSQL and KWDB: -0 as '0', the infinities as PostgreSQL
    prints them (KWDB prints '+Inf' / '-Inf'); NaN prints 'NaN' on both."""
    return sql.SQL("CASE WHEN {x} = 0 THEN '0' WHEN {x} = CAST('Infinity' AS float8) THEN 'Infinity' "
                   "WHEN {x} = CAST('-Infinity' AS float8) THEN '-Infinity' ELSE {t} END").format(x=x, t=text)


def _field_sql(side: _Side, i: int, p: ColumnPair) -> sql.Composable:
    expr = canonical_sql(side.columns[i], side.classes[i], p.mode, ms=p.ms, plain=p.plain,
                         trim_scale=side.trim_scale)
    own_type = p.source_type if side.name == "source" else p.target_type
    if not p.plain and own_type.lower().split("(")[0].strip() == "inet":
        # PostgreSQL prints a host address without its /32 (/128), KWDB too, but not always alike: text() has it
        expr = sql.SQL("text({})").format(sql.Identifier(side.columns[i]))
    if p.mode == "num" and side.cls_is_decimal(i) and side.kind == "kwdb" and not p.plain:
        expr = _kwdb_plain_decimal(sql.Identifier(side.columns[i]), expr)
    if p.mode == "float8" and side.kind == "kwdb" and not p.plain:
        v = sql.SQL("{}::float8").format(sql.Identifier(side.columns[i]))
        expr = _float_text(v, _kwdb_plain_float(sql.SQL("{}::text").format(v)))
    if p.mode == "ts" and side.kind == "kwdb" and not (p.plain and not p.ms):
        # KWDB V3.2.1 prints every timestamp (and tstz AT TIME ZONE 'UTC') with '+00:00' in a UTC session
        expr = sql.SQL("regexp_replace({}, '\\+00:00$', '')").format(expr)
    if p.not_null:
        return expr
    return sql.SQL("coalesce('v' || {}, 'n')").format(expr)


def _kwdb_plain_float(t: sql.Composable) -> sql.Composable:
    """KWDB V3.2.1 prints a FLOAT8 from 1e6 up to 1e15 in scientific form ('1.2345678e+06'); PostgreSQL
    prints it plain ('1234567.8'). Both print the same shortest digits, and both use the scientific form
    below 1e-4 and from 1e15, so only that band is rewritten: the digits with the point moved."""
    # KWDB's INT8 cast refuses '+06' and '09' (a leading 0 reads as octal): DECIMAL takes both. CASE keeps
    # the cast off texts without 'e+'
    e = sql.SQL("split_part({t}, 'e', 2)::DECIMAL::INT8").format(t=t)
    d = sql.SQL("replace(ltrim(split_part({t}, 'e', 1), '-'), '.', '')").format(t=t)
    return sql.SQL(
        "CASE WHEN strpos({t}, 'e+') = 0 THEN {t} WHEN {e} >= 15 THEN {t} "
        "ELSE (CASE WHEN left({t}, 1) = '-' THEN '-' ELSE '' END) "
        "|| (CASE WHEN length({d}) <= {e} + 1 THEN {d} || repeat('0', ({e} + 1 - length({d}))::INT8) "
        "ELSE left({d}, ({e} + 1)::INT8) || '.' || substr({d}, ({e} + 2)::INT8) END) END"
    ).format(t=t, e=e, d=d)


def _kwdb_plain_decimal(x: sql.Composable, expr: sql.Composable) -> sql.Composable:
    """KWDB prints a decimal below 1e-6 in scientific form ('-1E-10', '1.000E-7'); PostgreSQL never does.
    Such a text is rewritten as the plain decimal with trailing zeros trimmed (the canonical form)."""
    t = sql.SQL("{}::text").format(x)
    return sql.SQL(
        "CASE WHEN strpos({t}, 'E-') > 0 THEN rtrim(rtrim((CASE WHEN left({t}, 1) = '-' THEN '-' ELSE '' END) "
        "|| '0.' || repeat('0', (-(split_part({t}, 'E', 2)::INT8) - 1)::INT8) "
        "|| replace(ltrim(split_part({t}, 'E', 1), '-'), '.', ''), '0'), '.') ELSE {e} END").format(t=t, e=expr)


def row_text_sql(side: _Side, pairs: Sequence[ColumnPair]) -> sql.Composable:
    """``c1 || <US> || coalesce('v' || c2, 'n') ...``: canonical texts; a nullable column marks
    its values with 'v' and NULL as 'n' (so NULL never equals a value)."""
    sep = sql.SQL(" || {} || ").format(sql.Literal("\x1f"))
    out: list[sql.Composable] = []
    for i, p in enumerate(pairs):
        if i:
            out.append(sep)
        out.append(_field_sql(side, i, p))
    return sql.Composed(out)


# -- python-side normalisation (rows fetched for comparison) ---------------------------------------

_UTC = dt.UTC


def normalise(mode: str, value: Any, *, ms: bool = False) -> Any:
    """A value as compared: numbers as Decimal/float, timestamps as naive UTC, CHAR trimmed..."""
    if value is None:
        return None
    if mode == "int":
        return int(value) if isinstance(value, int | decimal.Decimal) and not isinstance(value, bool) else value
    if mode == "num":
        if isinstance(value, float):
            return decimal.Decimal(repr(value))
        if isinstance(value, int | decimal.Decimal) and not isinstance(value, bool):
            return decimal.Decimal(value)
        return value
    if mode in ("float8", "float4"):
        if isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool):
            return float(value)
        return value
    if mode == "char":
        return str(value).rstrip(" ")
    if mode == "text":
        return value if isinstance(value, str) else str(value)
    if mode == "uuid":
        return str(value).lower()
    if mode in ("ts", "date"):
        if isinstance(value, dt.datetime):
            if value.tzinfo is not None:
                value = value.astimezone(_UTC).replace(tzinfo=None)
            if ms:
                value = value.replace(microsecond=value.microsecond // 1000 * 1000)
            return value
        if isinstance(value, dt.date) and mode == "ts":
            return dt.datetime.combine(value, dt.time())
        return value
    if mode == "bytes":
        return bytes(value) if isinstance(value, bytes | bytearray | memoryview) else value
    if mode == "json":
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value
    if isinstance(value, memoryview):
        return bytes(value)
    return value


def same_value(a: Any, b: Any, *, tolerance: float | None = None) -> bool:
    """Equality of two normalised values (floats within ``tolerance`` when given).

    NaN equals NaN (float or Decimal), -0.0 equals 0.0, and an infinity equals the infinity of
    the same sign: values as the column's type compares them, not as IEEE 754 does.
    """
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, decimal.Decimal) and isinstance(b, decimal.Decimal) and (a.is_nan() or b.is_nan()):
        return a.is_nan() and b.is_nan()
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        if a == b:
            return True
        return tolerance is not None and math.isclose(a, b, rel_tol=tolerance, abs_tol=0.0)
    try:
        if a == b:
            return True
    except TypeError:
        pass
    if type(a) is not type(b):
        return text_value(a) == text_value(b)
    return False


def _param(value: Any) -> Any:
    """A bound key value as text: the server casts it to each side's column type."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(_UTC)
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value)
    return str(value)


def _safe_loaders(conn: psycopg.AsyncConnection[Any]) -> None:
    """Timestamps and dates Python cannot hold (infinity, BC) load as their text."""
    from psycopg.types.datetime import DateLoader, TimestampLoader, TimestamptzLoader

    def safe(base: type) -> type:
        class Safe(base):  # type: ignore[misc, valid-type]
            def load(self, data: Any) -> Any:
                try:
                    return super().load(data)
                except (psycopg.DataError, ValueError, OverflowError):
                    return bytes(data).decode("utf-8", "replace")
        return Safe

    for name, base in (("timestamptz", TimestamptzLoader), ("timestamp", TimestampLoader), ("date", DateLoader)):
        conn.adapters.register_loader(name, safe(base))


# -- plan ---------------------------------------------------------------------------------------


@dataclass
class _Plan:
    spec: TableSpec
    source_table: Table | None
    target_table: Table | None
    source_detail: TableDetail | None = None
    target_detail: TableDetail | None = None
    pairs: list[ColumnPair] = field(default_factory=list)
    key: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    schema_differs: bool = False
    src: _Side | None = None
    dst: _Side | None = None
    #: estimated bytes per row (PostgreSQL catalog sizes on both sides), None where unknown
    row_bytes: float | None = None


def target_schema_for(schema: str, target_kind: str) -> str:
    """The transfer engine's mapping: same schema on PostgreSQL, ``public`` on KWDB."""
    return schema if target_kind == "postgres" else "public"


def default_key(detail: TableDetail) -> list[str]:
    """The primary key; for a KWDB TS table its first (timestamp) column plus the primary tags."""
    if detail.table.is_ts and detail.columns:
        return [detail.columns[0].name, *detail.primary_tags]
    return detail.primary_key


def _match_column(name: str, columns: Sequence[Column]) -> Column | None:
    for c in columns:
        if c.name == name:
            return c
    folded = name.casefold()
    for c in columns:
        if c.name.casefold() == folded:
            return c
    return None


def specs_from_transfer(result: Any) -> list[TableSpec]:
    """Table specs from a finished transfer (``TransferResult``): validate what was moved."""
    return [TableSpec(t.table, t.target) for t in result.tables if t.error is None]


async def list_source_tables(src: ConnectionService) -> list[str]:
    """``schema.table`` of every base, partitioned and TS table of the source."""
    assert src.dialect is not None
    names: list[str] = []
    for sch in await src.dialect.list_schemas(src):
        for t in await src.dialect.list_tables(src, sch.name):
            if t.kind in ("table", "ts table", "partitioned table"):
                names.append(t.qualified)
    return names


class _Catalog:
    """Cached table lists per schema of one server."""

    def __init__(self, svc: ConnectionService) -> None:
        self.svc = svc
        self._tables: dict[str, dict[str, Table]] = {}

    async def find(self, schema: str, name: str) -> Table | None:
        assert self.svc.dialect is not None
        if schema not in self._tables:
            try:
                self._tables[schema] = {t.name: t for t in await self.svc.dialect.list_tables(self.svc, schema)}
            except KwtuiError:
                self._tables[schema] = {}
        tables = self._tables[schema]
        if name in tables:
            return tables[name]
        folded = name.casefold()
        for t in tables.values():
            if t.name.casefold() == folded:
                return t
        return None


_PG_COLLATIONS = sql.SQL("""
SELECT a.attname,
       CASE WHEN a.attcollation = 0 THEN NULL
            WHEN co.collname <> 'default' THEN co.collname
            WHEN (to_jsonb(d) ->> 'datlocprovider') = 'i' THEN 'icu'
            WHEN (to_jsonb(d) ->> 'datlocprovider') = 'b' THEN coalesce(to_jsonb(d) ->> 'datlocale', 'C')
            ELSE d.datcollate END
FROM pg_attribute a
LEFT JOIN pg_collation co ON co.oid = a.attcollation
CROSS JOIN (SELECT * FROM pg_database WHERE datname = current_database()) d
WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
""")


async def _needs_collate(svc: ConnectionService, table: Table) -> dict[str, bool]:
    """PostgreSQL text columns whose collation does not sort by code point (KWDB always does)."""
    if svc.info is None or svc.info.kind != "postgres":
        return {}
    from kwtui.dialects.postgres import regclass

    res = await svc.query(_PG_COLLATIONS, (regclass(table),))
    return {str(r[0]): r[1] is not None and str(r[1]).lower() not in _BYTE_ORDER_COLLATIONS for r in res.rows}


def _type_key(type_text: str) -> str:
    return " ".join(type_text.lower().split())


def _has_trim_scale(svc: ConnectionService) -> bool:
    if svc.info is None or svc.info.kind != "postgres":
        return False
    m = re.match(r"(\d+)", svc.info.version)
    return m is not None and int(m.group(1)) >= 13


async def plan_table(src: ConnectionService, dst: ConnectionService, spec: TableSpec,
                     src_cat: _Catalog | None = None, dst_cat: _Catalog | None = None,
                     *, float_tolerance: float = 1e-9, float4_tolerance: float = 1e-6) -> _Plan:
    """Find both tables, pair their columns and choose the key (no data is read)."""
    assert src.dialect is not None and dst.dialect is not None and dst.info is not None
    src_cat = src_cat or _Catalog(src)
    dst_cat = dst_cat or _Catalog(dst)
    schema, name = split_name(spec.source)
    if spec.target:
        tschema, tname = split_name(spec.target, target_schema_for(schema, dst.info.kind))
    else:
        tschema, tname = target_schema_for(schema, dst.info.kind), name
    s_table = await src_cat.find(schema, name)
    t_table = await dst_cat.find(tschema, tname)
    plan = _Plan(spec, s_table, t_table)
    if s_table is None or t_table is None:
        return plan
    plan.source_detail = await src.dialect.table_detail(src, s_table)
    plan.target_detail = await dst.dialect.table_detail(dst, t_table)
    s_cols, t_cols = plan.source_detail.columns, plan.target_detail.columns
    s_coll = await _needs_collate(src, s_table)
    t_coll = await _needs_collate(dst, t_table)
    src_ts = src.info is not None and src.info.kind == "kwdb" and s_table.is_ts
    dst_ts = dst.info.kind == "kwdb" and t_table.is_ts
    same_kind = src.info is not None and src.info.kind == dst.info.kind
    # float text output changed between PostgreSQL 11 and 12: the same major version prints alike
    same_major = same_kind and src.info is not None and \
        src.info.version.split(".")[0] == dst.info.version.split(".")[0]
    missing: list[str] = []
    for c in s_cols:
        t = _match_column(c.name, t_cols)
        if t is None:
            missing.append(c.name)
            continue
        a, b = type_class(c.type), type_class(t.type)
        mode = pair_mode(a, b)
        tol = None
        if mode in ("float8", "float4") and (a != b):
            tol = float4_tolerance if mode == "float4" else float_tolerance
        plan.pairs.append(ColumnPair(
            c.name, t.name, c.type, t.type, a, b, mode, tol, ms=(src_ts or dst_ts) and mode == "ts",
            source_collate=s_coll.get(c.name, False) and mode in ("text", "char", "uuid", "json", "other"),
            target_collate=t_coll.get(t.name, False) and mode in ("text", "char", "uuid", "json", "other"),
            plain=same_kind and _type_key(c.type) == _type_key(t.type)
            and (same_major or mode not in ("float8", "float4")),
            not_null=not c.nullable and not t.nullable))
        if tol is not None:
            plan.notes.append(f"column {c.name}: {c.type} vs {t.type} compared with a relative tolerance "
                              f"of {tol:g}")
        elif mode == "other" and a != b:
            plan.notes.append(f"column {c.name}: {c.type} vs {t.type} compared as text")
    if missing:
        plan.schema_differs = True
        plan.notes.append(f"column{'s' if len(missing) > 1 else ''} missing in the target: {', '.join(missing)}")
    extra = [t.name for t in t_cols if _match_column(t.name, s_cols) is None]
    if extra:
        plan.notes.append(f"target column{'s' if len(extra) > 1 else ''} not in the source (not compared): "
                          f"{', '.join(extra)}")
    # the key
    names = {p.name for p in plan.pairs}
    if spec.key:
        key = []
        for k in spec.key:
            kc = _match_column(k, s_cols)
            if kc is None:
                raise UsageError(f"key column {k!r} is not a column of {s_table.qualified}")
            if kc.name not in names:
                raise UsageError(f"key column {k!r} is missing in the target {tschema}.{tname}")
            key.append(kc.name)
        plan.key = key
    else:
        key = default_key(plan.source_detail)
        if not key:  # the target may have the key the source lacks
            tkey = default_key(plan.target_detail)
            found = [_match_column(k, s_cols) for k in tkey]
            mapped = [m.name for m in found if m is not None]
            key = mapped if len(mapped) == len(tkey) else []
        if key and not all(k in names for k in key):
            plan.notes.append(f"key column(s) {', '.join(k for k in key if k not in names)} missing in the "
                              "target: compared without a key")
            key = []
        plan.key = list(key)
    # key columns first: rows are fetched as (key..., other columns...)
    order = {k: i for i, k in enumerate(plan.key)}
    plan.pairs.sort(key=lambda p: order.get(p.name, len(order)))
    for p in plan.pairs:
        if p.name in order and p.tolerance is not None:
            p.tolerance = None  # a key compares exactly
    widths = [t.size_bytes / t.est_rows for t in (s_table, t_table) if t.size_bytes and t.est_rows]
    plan.row_bytes = max(widths) if len(widths) == 2 else None
    plan.src = _Side("source", src, s_table.schema, s_table.name, [p.name for p in plan.pairs],
                     [p.source_class for p in plan.pairs], [p.source_collate for p in plan.pairs],
                     list(range(len(plan.key))), trim_scale=_has_trim_scale(src))
    plan.dst = _Side("target", dst, t_table.schema, t_table.name, [p.target_name for p in plan.pairs],
                     [p.target_class for p in plan.pairs], [p.target_collate for p in plan.pairs],
                     list(range(len(plan.key))), trim_scale=_has_trim_scale(dst))
    return plan


# -- SQL builders -------------------------------------------------------------------------------


def _key_items(side: _Side) -> list[sql.Composable]:
    return [_collated(side.columns[i], side.collate[i]) for i in side.key_idx]


def range_condition(side: _Side, lower: Sequence[Any] | None,
                    upper: Sequence[Any] | None) -> tuple[sql.Composable, list[Any]]:
    """``key > lower AND key <= upper`` (row comparison for composite keys; bounds as text).

    A composite key's leading column also gets its own (implied) bounds, ``k1 >= lower1 AND
    k1 <= upper1``: KWDB V3.2.1 does not narrow a time-series scan by a row comparison, so a
    20,000-row segment of a 1,000,000-row TS table keyed (ts, tag) took 1.34 s, and 0.27 s with
    the leading bounds."""
    items = _key_items(side)
    keys = items[0] if len(items) == 1 else sql.SQL("({})").format(sql.SQL(", ").join(items))
    n = len(items)
    ph = sql.Placeholder() if n == 1 else sql.SQL("({})").format(sql.SQL(", ").join([sql.Placeholder()] * n))
    parts: list[sql.Composable] = []
    params: list[Any] = []
    if lower is not None:
        if n > 1:
            parts.append(sql.SQL("{} >= {}").format(items[0], sql.Placeholder()))
            params.append(_param(lower[0]))
        parts.append(sql.SQL("{} > {}").format(keys, ph))
        params.extend(_param(v) for v in lower)
    if upper is not None:
        if n > 1:
            parts.append(sql.SQL("{} <= {}").format(items[0], sql.Placeholder()))
            params.append(_param(upper[0]))
        parts.append(sql.SQL("{} <= {}").format(keys, ph))
        params.extend(_param(v) for v in upper)
    if not parts:
        return sql.SQL("TRUE"), []
    return sql.SQL(" AND ").join(parts), params


def _order_by(side: _Side) -> sql.Composable:
    return sql.SQL(", ").join(_key_items(side))


def hash_query(side: _Side, pairs: Sequence[ColumnPair], where: sql.Composable, *,
               whole: bool = False) -> sql.Composed:
    """``count(*)`` and the md5 of a segment's rows in key order.

    ``whole``: md5 of the rows' canonical texts joined (one md5 per segment: faster, but the
    server holds the segment's text, so only for segments of a known, bounded size);
    otherwise md5 of the rows' md5s joined (32 bytes a row, whatever the row width).
    """
    if whole:
        return sql.SQL("SELECT count(*), md5(string_agg({row}, {sep} ORDER BY {order})) FROM {t} WHERE {w}").format(
            row=row_text_sql(side, pairs), sep=sql.Literal("\x1e"), order=_order_by(side), t=side.ident, w=where)
    return sql.SQL("SELECT count(*), md5(string_agg(md5({row}), '' ORDER BY {order})) FROM {t} WHERE {w}").format(
        row=row_text_sql(side, pairs), order=_order_by(side), t=side.ident, w=where)


def rows_query(side: _Side, where: sql.Composable) -> sql.Composed:
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in side.columns)
    return sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY {}").format(cols, side.ident, where, _order_by(side))


def keyless_query(side: _Side, pairs: Sequence[ColumnPair]) -> sql.Composed:
    """Every row as canonical texts, sorted by them (byte order): a table without a key."""
    exprs = [sql.SQL("coalesce('v' || {}, 'n')").format(
        canonical_sql(side.columns[i], side.classes[i], p.mode, ms=p.ms, plain=p.plain, trim_scale=side.trim_scale))
        for i, p in enumerate(pairs)]
    order = [sql.SQL('({}) COLLATE "C"').format(e) if side.kind == "postgres" else e for e in exprs]
    return sql.SQL("SELECT {} FROM {} ORDER BY {}").format(sql.SQL(", ").join(exprs), side.ident,
                                                           sql.SQL(", ").join(order))


# -- the run ------------------------------------------------------------------------------------


class _VProgress(Progress):
    """The transfer engine's rate-limited progress (at most one event per ``interval``, 0.1 s),
    with segment counts in the message."""

    def __init__(self, listener: Listener | None, tables_total: int) -> None:
        super().__init__(listener, tables_total=tables_total)
        self.phase = COUNT
        self.segments_done = 0
        self.segments_total = 0

    def event(self, *, done: bool = False, phase: str | None = None, message: str = "") -> ProgressEvent:
        if not message and self.segments_total:
            message = f"segments {self.segments_done}/{self.segments_total}"
        return super().event(done=done, phase=phase or self.phase, message=message)

    def emit(self, *, force: bool = False, **kw: Any) -> None:
        """A phase event, rate-limited like the rest, except a table's first event, failures and the end."""
        now = time.perf_counter()
        if force or kw.get("done") or kw.get("phase") == "failed" or now - self._last >= self.interval:
            super().emit(**kw)


class _Diffs:
    """Counts every difference; keeps the first ``limit`` per kind in key order."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.counts = dict.fromkeys(KINDS, 0)
        self.kept: dict[str, list[tuple[Any, RowDiff]]] = {k: [] for k in KINDS}

    def add(self, sort_key: Any, diff: RowDiff) -> None:
        self.counts[diff.kind] += 1
        kept = self.kept[diff.kind]
        kept.append((sort_key, diff))
        if len(kept) > 2 * self.limit:
            self._trim(kept)

    def _trim(self, kept: list[tuple[Any, RowDiff]]) -> None:
        try:
            kept.sort(key=lambda t: t[0])
        except TypeError:
            pass
        del kept[self.limit:]

    def reset(self) -> None:
        self.counts = dict.fromkeys(KINDS, 0)
        self.kept = {k: [] for k in KINDS}

    def absorb(self, other: _Diffs) -> None:
        for kind in KINDS:
            self.counts[kind] += other.counts[kind]
            kept = self.kept[kind]
            kept.extend(other.kept[kind])
            if len(kept) > 2 * self.limit:
                self._trim(kept)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def result(self) -> list[RowDiff]:
        out: list[RowDiff] = []
        for kind in KINDS:
            kept = self.kept[kind]
            self._trim(kept)
            out.extend(d for _, d in kept)
        return out


class _SwitchToMerge(Exception):
    pass


class _Cancelled(Exception):
    pass


class Validation:
    """Validates tables between two connected services; :meth:`run` returns the result."""

    def __init__(self, src: ConnectionService, dst: ConnectionService,
                 tables: Sequence[str | TableSpec] | None = None, options: ValidateOptions | None = None,
                 listener: Listener | None = None) -> None:
        self.src, self.dst = src, dst
        self.options = options or ValidateOptions()
        self.options.check()
        self.tables = tables
        self.listener = listener
        self.progress = _VProgress(listener, 0)
        self._cancel = asyncio.Event()
        self._pairs: list[tuple[psycopg.AsyncConnection[Any], psycopg.AsyncConnection[Any]]] = []
        self._safe = False  # loaders that keep infinite/BC timestamps as text (after a failed load)

    def cancel(self) -> None:
        self._cancel.set()

    # -- connections --------------------------------------------------------------------------

    async def _open(self, svc: ConnectionService) -> psycopg.AsyncConnection[Any]:
        conn = await svc.open_raw(autocommit=True)
        if self._safe:
            _safe_loaders(conn)
        # shortest exact floats: PostgreSQL from extra_float_digits 1; KWDB only at 3 (at 1 it
        # printed 16 digits: 4/3 as 1.333333333333333, and equal rows were reported changed)
        kwdb = svc.info is not None and svc.info.kind == "kwdb"
        settings = ["SET TIME ZONE 'UTC'", f"SET extra_float_digits = {3 if kwdb else 1}"]
        if svc.info is not None and svc.info.kind == "postgres":
            settings += ["SET DateStyle = 'ISO, YMD'", "SET bytea_output = 'hex'", "SET IntervalStyle = 'postgres'"]
        for stmt in settings:
            with contextlib.suppress(psycopg.Error):
                await conn.execute(stmt)
        return conn

    async def _pair(self, i: int) -> tuple[psycopg.AsyncConnection[Any], psycopg.AsyncConnection[Any]]:
        while len(self._pairs) <= i:
            a, b = await _both(self._open(self.src), self._open(self.dst))
            self._pairs.append((a, b))
        return self._pairs[i]

    async def _close(self) -> None:
        for a, b in self._pairs:
            for conn in (a, b):
                with contextlib.suppress(Exception):
                    await conn.close()
        self._pairs = []

    # -- driver -------------------------------------------------------------------------------

    async def specs(self) -> list[TableSpec]:
        if self.tables is None:
            names = await list_source_tables(self.src)
            if not names:
                raise UsageError("the source has no tables to validate")
            return [TableSpec(n) for n in names]
        return [t if isinstance(t, TableSpec) else TableSpec(t) for t in self.tables]

    async def run(self) -> ValidationResult:
        started = time.perf_counter()
        result = ValidationResult(source=self.src.target.label, target=self.dst.target.label,
                                  level=self.options.level,
                                  started=dt.datetime.now(_UTC).replace(microsecond=0).isoformat())
        specs = await self.specs()
        self.progress.tables_total = len(specs)
        src_cat, dst_cat = _Catalog(self.src), _Catalog(self.dst)
        plans: list[_Plan | TableValidation] = []
        for spec in specs:  # plan every table first: a bad --key is a usage error before any data is read
            try:
                plans.append(await plan_table(self.src, self.dst, spec, src_cat, dst_cat,
                                              float_tolerance=self.options.float_tolerance,
                                              float4_tolerance=self.options.float4_tolerance))
            except UsageError:
                raise
            except (KwtuiError, psycopg.Error) as exc:
                tv = TableValidation(spec.source, spec.target or spec.source, self.options.level, ERROR)
                tv.error = _message(exc)
                plans.append(tv)
        try:
            for plan in plans:
                if isinstance(plan, TableValidation):
                    result.tables.append(plan)
                else:
                    result.tables.append(await self.run_table(plan))
                self.progress.tables_done += 1
        finally:
            await self._close()
        result.elapsed = time.perf_counter() - started
        self.progress.segments_total = 0
        self.progress.emit(done=True, phase="done")
        return result

    async def run_table(self, plan: _Plan) -> TableValidation:
        o = self.options
        s_name = plan.source_table.qualified if plan.source_table else ".".join(split_name(plan.spec.source))
        if plan.target_table is not None:
            t_name = plan.target_table.qualified
        elif plan.spec.target:
            t_name = ".".join(split_name(plan.spec.target))
        else:
            schema, name = split_name(plan.spec.source)
            kind = self.dst.info.kind if self.dst.info else "postgres"
            t_name = f"{target_schema_for(schema, kind)}.{name}"
        tv = TableValidation(s_name, t_name, o.level, key=list(plan.key), notes=list(plan.notes))
        started = time.perf_counter()
        self.progress.table = s_name
        self.progress.rows = 0
        self.progress.total_rows = None
        self.progress.segments_done = self.progress.segments_total = 0
        self.progress.emit(force=True, phase=o.level, message="starting")
        try:
            self._check_cancel()
            if plan.source_table is None or plan.target_table is None:
                tv.verdict = MISSING
                side = "source" if plan.source_table is None else "target"
                tv.notes.append(f"the table is absent in the {side}")
                if plan.source_table is None and plan.target_table is None:
                    tv.notes[-1] = "the table is absent on both sides"
                # still count what exists
                with contextlib.suppress(psycopg.Error, KwtuiError):
                    await self._count_present(plan, tv)
                return tv
            if plan.source_table.kind in (VIEW, MATVIEW) or plan.target_table.kind in (VIEW, MATVIEW):
                tv.notes.append("a view: compared by its rows")
            est = (plan.source_table.est_rows, plan.target_table.est_rows)
            if o.level == CHECKSUM and plan.key and not o.force_merge and None not in est:
                # the segment checksums count the rows; the catalog's estimates size the segments
                self.progress.total_rows = max(est[0] or 0, est[1] or 0)
            else:
                await self._count(plan, tv)
            if o.level == AGGREGATE:
                await self._aggregate(plan, tv)
            elif o.level == CHECKSUM:
                await self._checksum(plan, tv)
            if o.check_references:
                await self._references(plan, tv)
            tv.verdict = self._verdict(plan, tv)
        except _Cancelled:
            tv.verdict = ERROR
            tv.error = "cancelled"
        except (KwtuiError, psycopg.Error) as exc:
            tv.verdict = ERROR
            tv.error = _message(exc)
            self.progress.emit(phase="failed", message=tv.error)
            await self._reset_pairs()
        finally:
            tv.elapsed = time.perf_counter() - started
        return tv

    async def _reset_pairs(self) -> None:
        """After an error a connection may be mid-statement or broken: start afresh."""
        await self._close()

    @staticmethod
    def _verdict(plan: _Plan, tv: TableValidation) -> str:
        if tv.source_rows != tv.target_rows:
            return DIFFERS
        if any(tv.diff_counts.values()) or tv.differing_aggregates:
            return DIFFERS
        if any(r.extra_orphans for r in tv.references):  # a reference that could not be checked is a warning
            return DIFFERS
        if plan.schema_differs and tv.level != COUNT:
            return DIFFERS
        return EQUAL

    def _check_cancel(self) -> None:
        if self._cancel.is_set():
            raise _Cancelled

    # -- count ----------------------------------------------------------------------------------

    async def _count_present(self, plan: _Plan, tv: TableValidation) -> None:
        a, b = await self._pair(0)
        if plan.source_table is not None:
            tv.source_rows = await _scalar(a, sql.SQL("SELECT count(*) FROM {}.{}").format(
                sql.Identifier(plan.source_table.schema), sql.Identifier(plan.source_table.name)))
        if plan.target_table is not None:
            tv.target_rows = await _scalar(b, sql.SQL("SELECT count(*) FROM {}.{}").format(
                sql.Identifier(plan.target_table.schema), sql.Identifier(plan.target_table.name)))

    async def _count(self, plan: _Plan, tv: TableValidation) -> None:
        assert plan.src is not None and plan.dst is not None
        self.progress.phase = COUNT
        self.progress.emit(phase=COUNT, message="counting rows")
        a, b = await self._pair(0)
        q = "SELECT count(*) FROM {}"
        n_src, n_dst = await _both(_scalar(a, sql.SQL(q).format(plan.src.ident)),
                                            _scalar(b, sql.SQL(q).format(plan.dst.ident)))
        tv.source_rows, tv.target_rows = n_src, n_dst
        tv.method = COUNT
        self.progress.total_rows = max(n_src or 0, n_dst or 0)

    # -- aggregate ------------------------------------------------------------------------------

    def _aggregate_exprs(self, side: _Side, pairs: Sequence[ColumnPair], distinct: list[bool], *,
                         bools: bool = True) -> tuple[list[sql.Composable], list[tuple[str, str]]]:
        exprs: list[sql.Composable] = []
        labels: list[tuple[str, str]] = []
        for i, p in enumerate(pairs):
            col, cls = side.columns[i], side.classes[i]
            x = sql.Identifier(col)
            exprs.append(sql.SQL("count({})").format(x))
            labels.append((p.name, "count"))
            if p.mode in ("int", "num", "float8", "float4"):
                for metric, expr in _number_aggregates(p, cls, x):
                    exprs.append(expr)
                    labels.append((p.name, metric))
            minmax: tuple[sql.Composable, sql.Composable] | None = None
            if p.mode == "date":
                minmax = (sql.SQL("min({})::text").format(x), sql.SQL("max({})::text").format(x))
            elif p.mode in ("text", "char"):
                c = _collated(col, side.collate[i])
                minmax = (sql.SQL("min({})::text").format(c), sql.SQL("max({})::text").format(c))
            elif p.mode == "uuid":
                e = sql.SQL("lower({}::text)").format(x)
                if side.kind == "postgres":
                    e = sql.SQL('{} COLLATE "C"').format(e)
                minmax = (sql.SQL("min({})").format(e), sql.SQL("max({})").format(e))
            elif p.mode == "ts":
                if cls == "tstz":
                    minmax = (sql.SQL("(min({}) AT TIME ZONE 'UTC')::text").format(x),
                              sql.SQL("(max({}) AT TIME ZONE 'UTC')::text").format(x))
                else:
                    minmax = (sql.SQL("min({})::text").format(x), sql.SQL("max({})::text").format(x))
            elif p.mode == "bool" and bools:
                minmax = (sql.SQL("bool_and({})::text").format(x), sql.SQL("bool_or({})::text").format(x))
            if minmax is not None:
                exprs.extend(minmax)
                labels.extend([(p.name, "min"), (p.name, "max")])
            if distinct[i]:
                d: sql.Composable = x
                if p.mode == "uuid":
                    d = sql.SQL("lower({}::text)").format(x)
                elif p.mode == "char":
                    d = sql.SQL("rtrim({}::text)").format(x)
                exprs.append(sql.SQL("count(DISTINCT {})").format(d))
                labels.append((p.name, "distinct"))
        return exprs, labels

    @staticmethod
    def _small_type(p: ColumnPair) -> bool:
        if p.mode in ("int", "num", "float8", "float4", "bool", "date", "ts", "uuid", "char"):
            return True
        if p.mode == "text":
            lengths = [_declared_length(p.source_type), _declared_length(p.target_type)]
            return all(n is not None and n <= 64 for n in lengths)
        return False

    async def _aggregate(self, plan: _Plan, tv: TableValidation) -> None:
        assert plan.src is not None and plan.dst is not None
        o = self.options
        self.progress.phase = AGGREGATE
        self.progress.emit(phase=AGGREGATE, message="aggregates")
        tv.method = AGGREGATE
        pairs = plan.pairs
        rows = max(tv.source_rows or 0, tv.target_rows or 0)
        distinct = [rows <= o.distinct_max_rows and self._small_type(p) for p in pairs]
        with_distinct = [p.name for p, d in zip(pairs, distinct, strict=True) if d]
        if with_distinct:
            tv.notes.append(f"distinct counts for {', '.join(with_distinct)} (tables up to "
                            f"{o.distinct_max_rows:,} rows, columns of small types)")
        elif rows > o.distinct_max_rows:
            tv.notes.append(f"no distinct counts: the table has more than {o.distinct_max_rows:,} rows")
        if not pairs:
            return
        a, b = await self._pair(0)

        async def select(s_exprs: Sequence[sql.Composable], d_exprs: Sequence[sql.Composable]) -> tuple[Any, Any]:
            assert plan.src is not None and plan.dst is not None
            q = "SELECT {} FROM {}"
            return await _both(_row(a, sql.SQL(q).format(sql.SQL(", ").join(s_exprs), plan.src.ident)),
                               _row(b, sql.SQL(q).format(sql.SQL(", ").join(d_exprs), plan.dst.ident)))

        def exprs(distinct: list[bool], bools: bool) -> tuple[Any, Any, list[tuple[str, str]]]:
            assert plan.src is not None and plan.dst is not None
            s_exprs, labels = self._aggregate_exprs(plan.src, pairs, distinct, bools=bools)
            d_exprs, _ = self._aggregate_exprs(plan.dst, pairs, distinct, bools=bools)
            return s_exprs, d_exprs, labels

        s_exprs, d_exprs, labels = exprs(distinct, True)
        try:
            s_row, d_row = await select(s_exprs, d_exprs)
        except psycopg.OperationalError:
            raise
        except psycopg.Error as exc:  # e.g. a KWDB TS table without count(DISTINCT) or bool_and
            tv.warnings.append(f"the full aggregate query was refused ({_message(exc)}): compared without "
                               "distinct counts and boolean min/max")
            s_exprs, d_exprs, labels = exprs([False] * len(pairs), False)
            try:
                s_row, d_row = await select(s_exprs, d_exprs)
            except psycopg.OperationalError:
                raise
            except psycopg.Error:  # column by column: what runs is compared, what cannot is a warning
                labels, s_row, d_row = await self._aggregate_by_column(tv, select, s_exprs, d_exprs, labels)
        by_name = {p.name: p for p in pairs}
        total_s, total_d = tv.source_rows or 0, tv.target_rows or 0
        for (col, metric), sv, dv in zip(labels, s_row, d_row, strict=True):
            p = by_name[col]
            if metric == "count":
                tv.aggregates.append(AggregateCheck(col, "count", sv, dv, sv == dv))
                tv.aggregates.append(AggregateCheck(col, "nulls", total_s - sv, total_d - dv,
                                                    total_s - sv == total_d - dv))
                continue
            equal, note = _same_aggregate(p, metric, sv, dv, o)
            tv.aggregates.append(AggregateCheck(col, metric, sv, dv, equal, note))

    @staticmethod
    async def _aggregate_by_column(tv: TableValidation, select: Any, s_exprs: Sequence[sql.Composable],
                                   d_exprs: Sequence[sql.Composable], labels: Sequence[tuple[str, str]]
                                   ) -> tuple[list[tuple[str, str]], list[Any], list[Any]]:
        """The aggregates one column at a time; a column whose query is refused is left out
        with a warning naming the server's reason."""
        columns = list(dict.fromkeys(col for col, _ in labels))
        out_labels: list[tuple[str, str]] = []
        s_out: list[Any] = []
        d_out: list[Any] = []
        for col in columns:
            idx = [i for i, (c, _) in enumerate(labels) if c == col]
            try:
                s_row, d_row = await select([s_exprs[i] for i in idx], [d_exprs[i] for i in idx])
            except psycopg.OperationalError:
                raise
            except psycopg.Error as exc:
                tv.warnings.append(f"aggregates of column {col} could not run: {_message(exc)}")
                continue
            out_labels.extend(labels[i] for i in idx)
            s_out.extend(s_row)
            d_out.extend(d_row)
        return out_labels, s_out, d_out

    # -- checksum -------------------------------------------------------------------------------

    async def _checksum(self, plan: _Plan, tv: TableValidation) -> None:
        assert plan.src is not None and plan.dst is not None
        o = self.options
        self.progress.phase = CHECKSUM
        self.progress.emit(phase=CHECKSUM, message="segment checksums")
        diffs = _Diffs(o.max_diffs)
        stats = tv.stats
        for k in ("segments", "segments_differing", "ranges_fetched", "rows_fetched"):
            stats[k] = 0
        if not plan.pairs:
            tv.notes.append("no column in common: rows not compared")
            return
        try:
            if o.force_merge:
                raise _SwitchToMerge("merge forced")
            if not plan.key:
                tv.notes.append("the table has no primary key and no --key was given: compared by a sorted "
                                "merge of whole rows (no 'changed' rows, only missing and extra)")
                tv.method = "merge"
                await self._keyless_merge(plan, tv, diffs)
            else:
                await self._check_key_not_null(plan)
                reason = await self._probe(plan)
                if reason:
                    tv.notes.append(f"server-side checksums are not available ({reason}): compared by a sorted "
                                    "streaming merge of both tables")
                    raise _SwitchToMerge(reason)
                tv.method = CHECKSUM
                await self._tree(plan, tv, diffs)
        except _SwitchToMerge as why:
            if str(why) == "false alarms":
                tv.notes.append("segment checksums differed where rows compare equal after normalisation "
                                "(the servers print some values differently): switched to a sorted "
                                "streaming merge of both tables")
            diffs.reset()
            if tv.source_rows is None or tv.target_rows is None:
                await self._count(plan, tv)
            tv.method = "merge"
            self.progress.rows = 0
            self.progress.segments_total = 0
            self.progress.phase = "merge"
            self.progress.emit(phase="merge", message="sorted merge of both tables")
            await self._merge_range(plan, 0, None, None, diffs, stats)
        tv.diff_counts = dict(diffs.counts)
        tv.differences = diffs.result()

    async def _check_key_not_null(self, plan: _Plan) -> None:
        """A key column that may be NULL (a --key on nullable columns): a NULL would fall out of
        every key range, so such rows are an error of the table, found before any hashing."""
        assert plan.src is not None and plan.dst is not None
        nk = len(plan.key)
        if all(p.not_null for p in plan.pairs[:nk]):
            return
        a, b = await self._pair(0)
        for side, conn in ((plan.src, a), (plan.dst, b)):
            cols = [sql.Identifier(side.columns[i]) for i in side.key_idx]
            q = sql.SQL("SELECT {} FROM {} WHERE {} LIMIT 1").format(
                sql.SQL(", ").join(cols), side.ident,
                sql.SQL(" OR ").join(sql.SQL("{} IS NULL").format(c) for c in cols))
            async with conn.cursor() as cur:
                await cur.execute(q)
                row = await cur.fetchone()
            if row is not None:
                raise KwtuiError(f"the key ({', '.join(plan.key)}) is NULL in some rows of the {side.name}: "
                                 f"{_key_text(plan.key, tuple(row))}", hint="give a --key of NOT NULL columns")

    async def _probe(self, plan: _Plan) -> str:
        """Can both servers run the hash query? '' when they can, else why not."""
        assert plan.src is not None and plan.dst is not None
        a, b = await self._pair(0)
        reasons = []
        for side, conn in ((plan.src, a), (plan.dst, b)):
            try:
                await _row(conn, hash_query(side, plan.pairs, sql.SQL("FALSE"), whole=plan.row_bytes is not None))
            except psycopg.OperationalError:
                raise
            except psycopg.Error as exc:  # the query refused with no row read: a missing function or type
                reasons.append(f"{side.name}: {_message(exc)}")
        return "; ".join(reasons)

    async def _tree(self, plan: _Plan, tv: TableValidation, diffs: _Diffs) -> None:
        """Segments hashed in parallel pairs; differing ones split or fetched; equal ones skipped."""
        assert plan.src is not None and plan.dst is not None
        o = self.options
        stats = tv.stats
        counted = tv.source_rows is not None and tv.target_rows is not None
        if counted:
            n_src, n_dst = tv.source_rows or 0, tv.target_rows or 0
        else:
            assert plan.source_table is not None and plan.target_table is not None
            n_src, n_dst = plan.source_table.est_rows or 0, plan.target_table.est_rows or 0
        # deeper segments first: the bisection of a differing segment overlaps the rest of the hashing
        queue: asyncio.PriorityQueue[tuple[int, int, Any, Any]] = asyncio.PriorityQueue()
        failure: list[BaseException] = []
        false_alarms = [0]
        top = [0, 0]
        seq = [0]
        prog = self.progress

        def put(lower: Any, upper: Any, depth: int) -> None:
            prog.segments_total += 1
            seq[0] += 1
            queue.put_nowait((-depth, seq[0], lower, upper))

        async def handle(slot: int, lower: Any, upper: Any, depth: int) -> None:
            a, b = self._pairs[slot]
            assert plan.src is not None and plan.dst is not None
            ws, ps = range_condition(plan.src, lower, upper)
            wd, pd = range_condition(plan.dst, lower, upper)
            (cs, hs), (cd, hd) = await _both(
                _row(a, hash_query(plan.src, plan.pairs, ws, whole=whole), ps),
                _row(b, hash_query(plan.dst, plan.pairs, wd, whole=whole), pd))
            stats["segments"] += 1
            if depth == 0:
                top[0] += cs
                top[1] += cd
            if cs == cd and hs == hd:
                prog.add(cs)
                return
            stats["segments_differing"] += 1
            if cs == 0 or cd == 0 or max(cs, cd) <= o.leaf_rows or depth >= 12:
                before = diffs.total
                await self._merge_range(plan, slot, lower, upper, diffs, stats)
                if diffs.total == before:
                    false_alarms[0] += 1
                    if false_alarms[0] >= o.false_alarm_limit and diffs.total == 0:
                        raise _SwitchToMerge("false alarms")
                return
            parts = min(o.max_split, -(-max(cs, cd) // o.leaf_rows))
            side, conn = (plan.src, a) if cs >= cd else (plan.dst, b)
            bounds = await _walk_bounds(conn, side, lower, upper, -(-max(cs, cd) // parts), parts - 1)
            if not bounds:
                await self._merge_range(plan, slot, lower, upper, diffs, stats)
                return
            edges = [lower, *bounds, upper]
            for i in range(len(edges) - 1):
                put(edges[i], edges[i + 1], depth + 1)

        async def worker(i: int) -> None:
            await self._pair(i)
            while True:
                neg_depth, _seq, lower, upper = await queue.get()
                depth = -neg_depth
                try:
                    if not failure and not self._cancel.is_set():
                        await handle(i, lower, upper, depth)
                except BaseException as exc:  # noqa: BLE001 - reported after the queue drains
                    if not failure:
                        failure.append(exc)
                finally:
                    prog.segments_done += 1
                    queue.task_done()
                    prog.add(0)

        n = max(n_src, n_dst)
        segment_rows = o.segment_rows
        whole = plan.row_bytes is not None
        if plan.row_bytes is not None:  # keep a segment's text near 8 MB on the server
            segment_rows = max(o.leaf_rows, min(segment_rows, int(_WHOLE_SEGMENT_BYTES // max(plan.row_bytes, 1.0))))
        parts = max(1, min(4096, -(-n // segment_rows)))
        if parts > 1 and n > o.leaf_rows:
            parts = max(parts, min(o.workers * 2, -(-n // o.leaf_rows)))
        workers_n = max(1, min(o.workers, parts))
        for i in range(workers_n):  # open the pairs before the clock of the first segment
            await self._pair(i)
        tasks = [asyncio.create_task(worker(i)) for i in range(workers_n)]
        sampler: psycopg.AsyncConnection[Any] | None = None
        try:
            if parts <= 1:
                put(None, None, 0)
            else:  # the top-level cuts come from a connection of their own, while the workers hash
                side = plan.src if n_src >= n_dst else plan.dst
                sampler = conn = await self._open(side.svc)
                bounds = await _sample_bounds(conn, side, n, parts)
                if bounds is None:  # no sampling on this server: walk the key, segments start as found
                    prev: Any = None
                    async for bound in _walk(conn, side, None, None, -(-n // parts), parts - 1):
                        put(prev, bound, 0)
                        prev = bound
                        self._check_cancel()
                    put(prev, None, 0)
                else:
                    edges = [None, *bounds, None]
                    for i in range(len(edges) - 1):
                        put(edges[i], edges[i + 1], 0)
            await queue.join()
        finally:
            if sampler is not None:
                with contextlib.suppress(Exception):
                    await sampler.close()
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await t
        self._check_cancel()
        if failure:
            raise failure[0]
        if not counted:
            tv.source_rows, tv.target_rows = top
        if false_alarms[0]:
            stats["segments_equal_after_normalisation"] = false_alarms[0]
            tv.notes.append(f"{false_alarms[0]} segment(s) had different checksums but equal rows after "
                            "normalisation (the servers print some values differently)")

    async def _merge_range(self, plan: _Plan, slot: int, lower: Any, upper: Any, diffs: _Diffs,
                           stats: dict[str, int]) -> None:
        """Fetch a key range from both sides (in parallel, page by page) and compare row by row.

        A value Python cannot hold (an infinite or BC timestamp) fails the load: the range is
        then read again with loaders that keep such values as text.
        """
        assert plan.src is not None and plan.dst is not None
        ws, ps = range_condition(plan.src, lower, upper)
        wd, pd = range_condition(plan.dst, lower, upper)
        page = self.options.page_rows
        while True:
            a, b = await self._pair(slot)
            local = _Diffs(self.options.max_diffs)
            src_rows = _Rows(_stream(a, rows_query(plan.src, ws), ps, page))
            dst_rows = _Rows(_stream(b, rows_query(plan.dst, wd), pd, page))
            try:
                fetched = await self._merge(plan, src_rows, dst_rows, local)
            except psycopg.DataError:
                if self._safe:
                    raise
                await src_rows.close()
                await dst_rows.close()
                await self._use_safe_loaders(slot)
                continue
            finally:
                await src_rows.close()
                await dst_rows.close()
            break
        diffs.absorb(local)
        stats["ranges_fetched"] = stats.get("ranges_fetched", 0) + 1
        stats["rows_fetched"] = stats.get("rows_fetched", 0) + fetched

    async def _use_safe_loaders(self, slot: int) -> None:
        """From now on load such values as text; the pair whose read failed mid-result is reopened."""
        self._safe = True
        for pair in self._pairs:
            for conn in pair:
                _safe_loaders(conn)
        for conn in self._pairs[slot]:
            with contextlib.suppress(Exception):
                await conn.close()
        self._pairs[slot] = await _both(self._open(self.src), self._open(self.dst))

    async def _merge(self, plan: _Plan, src_rows: _Rows, dst_rows: _Rows, diffs: _Diffs) -> int:
        """The streaming merge of two key-ordered row streams; returns the source rows read."""
        pairs = plan.pairs
        nk = len(plan.key)
        ncols = len(pairs)
        modes = [(p.mode, p.ms) for p in pairs]
        simple_key = all(m in ("int", "text") for m, _ in modes[:nk])

        def norm_key(row: tuple[Any, ...]) -> tuple[Any, ...]:
            if simple_key:
                key = row[:nk]
            else:
                key = tuple(normalise(modes[i][0], row[i], ms=modes[i][1]) for i in range(nk))
            if None in key:
                raise KwtuiError(f"the key ({', '.join(plan.key)}) is NULL in some rows: "
                                 f"{_key_text(plan.key, key)}", hint="give a --key of NOT NULL columns")
            return key

        s, d = await src_rows.next(), await dst_rows.next()
        sk = norm_key(s) if s is not None else None
        dk = norm_key(d) if d is not None else None
        last_s: tuple[Any, ...] | None = None
        last_d: tuple[Any, ...] | None = None
        fetched = 0
        while s is not None or d is not None:
            try:
                if s is not None and (d is None or sk < dk):  # type: ignore[operator]
                    take_s, take_d = True, False
                elif d is not None and (s is None or dk < sk):  # type: ignore[operator]
                    take_s, take_d = False, True
                else:
                    take_s = take_d = True
            except TypeError:
                raise KwtuiError(f"the keys of {plan.spec.source} cannot be ordered alike on both sides "
                                 f"({', '.join(p.source_type + ' vs ' + p.target_type for p in pairs[:nk])})"
                                 ) from None
            if take_s and take_d:
                assert s is not None and d is not None
                changed = None
                for i in range(nk, ncols):
                    x, y = s[i], d[i]
                    if x == y and type(x) is type(y):
                        continue  # the common case, no normalisation needed
                    p = pairs[i]
                    if not same_value(normalise(p.mode, x, ms=p.ms), normalise(p.mode, y, ms=p.ms),
                                      tolerance=p.tolerance):
                        if changed is None:
                            changed = []
                        changed.append(ColumnDiff(p.name, x, y))
                if changed:
                    diffs.add(sk, RowDiff(CHANGED, self._key_dict(plan, s), changed))
            elif take_s:
                assert s is not None
                diffs.add(sk, RowDiff(MISSING_IN_TARGET, self._key_dict(plan, s),
                                      [ColumnDiff(p.name, s[i], None) for i, p in enumerate(pairs)]))
            else:
                assert d is not None
                diffs.add(dk, RowDiff(EXTRA_IN_TARGET, self._key_dict(plan, d),
                                      [ColumnDiff(p.name, None, d[i]) for i, p in enumerate(pairs)]))
            if take_s:
                if last_s is not None and sk == last_s:
                    raise KwtuiError(f"the key ({', '.join(plan.key)}) is not unique in the source: "
                                     f"{_key_text(plan.key, sk)} repeats", hint="give a unique --key")
                last_s = sk
                fetched += 1
                s = await src_rows.next()
                sk = norm_key(s) if s is not None else None
                if fetched % 1000 == 0:
                    self.progress.add(1000)
                    self._check_cancel()
            if take_d:
                if last_d is not None and dk == last_d:
                    raise KwtuiError(f"the key ({', '.join(plan.key)}) is not unique in the target: "
                                     f"{_key_text(plan.key, dk)} repeats", hint="give a unique --key")
                last_d = dk
                d = await dst_rows.next()
                dk = norm_key(d) if d is not None else None
        self.progress.add(fetched % 1000)
        return fetched

    @staticmethod
    def _key_dict(plan: _Plan, row: tuple[Any, ...]) -> dict[str, Any]:
        return {k: row[i] for i, k in enumerate(plan.key)}

    async def _keyless_merge(self, plan: _Plan, tv: TableValidation, diffs: _Diffs) -> None:
        """A table without a key: both sides' rows as sorted canonical texts, merged as multisets."""
        assert plan.src is not None and plan.dst is not None
        self.progress.phase = "merge"
        a, b = await self._pair(0)
        page = self.options.page_rows
        src_rows = _Rows(_stream(a, keyless_query(plan.src, plan.pairs), [], page))
        dst_rows = _Rows(_stream(b, keyless_query(plan.dst, plan.pairs), [], page))
        names = [p.name for p in plan.pairs]

        def values(row: tuple[Any, ...]) -> dict[str, Any]:
            return {n: (None if v == "n" else str(v)[1:]) for n, v in zip(names, row, strict=True)}

        fetched = 0
        try:
            s, d = await src_rows.next(), await dst_rows.next()
            while s is not None or d is not None:
                if d is None or (s is not None and s < d):
                    assert s is not None
                    diffs.add(s, RowDiff(MISSING_IN_TARGET, values(s)))
                    s = await src_rows.next()
                    fetched += 1
                elif s is None or d < s:
                    diffs.add(d, RowDiff(EXTRA_IN_TARGET, values(d)))
                    d = await dst_rows.next()
                else:
                    s, d = await src_rows.next(), await dst_rows.next()
                    fetched += 1
                if fetched and fetched % 1000 == 0:
                    self.progress.add(1000)
                    self._check_cancel()
        finally:
            await src_rows.close()
            await dst_rows.close()
        tv.stats["rows_fetched"] = fetched

    # -- referential checks -------------------------------------------------------------------

    async def _references(self, plan: _Plan, tv: TableValidation) -> None:
        assert plan.source_table is not None and plan.target_table is not None and plan.dst is not None
        self.progress.emit(phase="references", message="foreign keys")
        try:
            fks = await foreign_keys(self.src, plan.source_table)
        except (psycopg.Error, KwtuiError) as exc:
            tv.warnings.append(f"foreign keys not checked: those of the source could not be read ({_message(exc)})")
            return
        if not fks:
            return
        dst_cat = _Catalog(self.dst)
        kind = self.dst.info.kind if self.dst.info else "postgres"
        a, b = await self._pair(0)
        for fk in fks:
            ref_schema, ref_table, cols, ref_cols = fk.ref_schema, fk.ref_table, fk.columns, fk.ref_columns
            parent = await dst_cat.find(target_schema_for(ref_schema, kind), ref_table)
            parent_name = parent.qualified if parent else f"{target_schema_for(ref_schema, kind)}.{ref_table}"
            check = OrphanCheck(fk.name, list(cols), parent_name, list(ref_cols))
            tv.references.append(check)
            if parent is None:
                check.error = f"the parent table {parent_name} is absent in the target"
                tv.warnings.append(f"foreign key {fk.name} not checked: {check.error}")
                continue
            t_cols = [_target_column(plan, c) for c in cols]
            if any(c is None for c in t_cols):
                check.error = "the foreign key columns are absent in the target"
                tv.warnings.append(f"foreign key {fk.name} not checked: {check.error}")
                continue
            child = sql.SQL("{}.{}").format(sql.Identifier(plan.target_table.schema),
                                            sql.Identifier(plan.target_table.name))
            par = sql.SQL("{}.{}").format(sql.Identifier(parent.schema), sql.Identifier(parent.name))
            not_null = sql.SQL(" AND ").join(sql.SQL("c.{} IS NOT NULL").format(sql.Identifier(str(c)))
                                             for c in t_cols)
            join = sql.SQL(" AND ").join(sql.SQL("p.{} = c.{}").format(sql.Identifier(r), sql.Identifier(str(c)))
                                         for r, c in zip(ref_cols, t_cols, strict=True))
            where = sql.SQL("{nn} AND NOT EXISTS (SELECT 1 FROM {par} p WHERE {j})").format(nn=not_null, par=par,
                                                                                       j=join)
            try:
                check.orphans = int(await _scalar(b, sql.SQL("SELECT count(*) FROM {} c WHERE {}").format(
                    child, where)) or 0)
                if check.orphans:
                    show = [c for c in [*(_target_column(plan, k) for k in plan.key), *t_cols] if c]
                    show = list(dict.fromkeys(show))
                    q = sql.SQL("SELECT {} FROM {} c WHERE {} LIMIT {}").format(
                        sql.SQL(", ").join(sql.SQL("c.{}").format(sql.Identifier(str(c))) for c in show), child,
                        where, sql.Literal(self.options.max_orphans_shown))
                    async with b.cursor() as cur:
                        await cur.execute(q)
                        check.examples = [dict(zip(show, r, strict=True)) for r in await cur.fetchall()]
                    check.source_orphans = await self._source_orphans(a, plan, fk)
                    if check.source_orphans is not None and check.extra_orphans == 0:
                        tv.warnings.append(
                            f"foreign key {fk.name}: {check.orphans:,} row(s) of the target have no parent, exactly "
                            f"as in the source (its key is not enforced there: NOT VALID or disabled)")
            except psycopg.Error as exc:
                check.error = _message(exc)
                tv.warnings.append(f"foreign key {fk.name} not checked: {check.error}")

    @staticmethod
    async def _source_orphans(a: Any, plan: _Plan, fk: Any) -> int | None:
        """The same foreign key's orphan rows counted in the source (None when it cannot be counted)."""
        assert plan.source_table is not None
        child = sql.SQL("{}.{}").format(sql.Identifier(plan.source_table.schema),
                                        sql.Identifier(plan.source_table.name))
        par = sql.SQL("{}.{}").format(sql.Identifier(fk.ref_schema), sql.Identifier(fk.ref_table))
        not_null = sql.SQL(" AND ").join(sql.SQL("c.{} IS NOT NULL").format(sql.Identifier(c)) for c in fk.columns)
        join = sql.SQL(" AND ").join(sql.SQL("p.{} = c.{}").format(sql.Identifier(r), sql.Identifier(c))
                                     for r, c in zip(fk.ref_columns, fk.columns, strict=True))
        try:
            return int(await _scalar(a, sql.SQL("SELECT count(*) FROM {} c WHERE {} AND NOT EXISTS "
                                                "(SELECT 1 FROM {} p WHERE {})").format(child, not_null, par, join))
                       or 0)
        except psycopg.Error:
            return None


def _target_column(plan: _Plan, source_name: str) -> str | None:
    for p in plan.pairs:
        if p.name == source_name:
            return p.target_name
    if plan.target_detail is not None:
        c = _match_column(source_name, plan.target_detail.columns)
        return c.name if c else None
    return None


def _key_text(key: Sequence[str], values: Sequence[Any] | None) -> str:
    return ", ".join(f"{k}={text_value(v)}" for k, v in zip(key, values or (), strict=False))


# -- aggregates -----------------------------------------------------------------------------------


def _agg_value(p: ColumnPair, metric: str, text: Any) -> Any:
    if text is None:
        return None
    if metric in ("distinct", "nan"):
        return int(text)
    if p.mode in ("int", "num"):
        try:
            return decimal.Decimal(str(text))
        except decimal.InvalidOperation:
            return text
    if p.mode in ("float8", "float4"):
        try:
            return float(decimal.Decimal(str(text)))
        except (decimal.InvalidOperation, ValueError, OverflowError):
            return text
    if p.mode in ("ts", "date"):
        s = str(text)
        try:
            v = dt.datetime.fromisoformat(s.replace("T", " "))
        except ValueError:
            if p.mode == "date":
                return s
            try:
                v = dt.datetime.combine(dt.date.fromisoformat(s), dt.time())
            except ValueError:
                return s
        return normalise("ts", v, ms=p.ms) if p.mode == "ts" else v
    if p.mode == "char":
        return str(text).rstrip(" ")
    if p.mode == "uuid":
        return str(text).lower()
    return text


def _same_aggregate(p: ColumnPair, metric: str, sv: Any, dv: Any, o: ValidateOptions) -> tuple[bool, str]:
    a, b = _agg_value(p, metric, sv), _agg_value(p, metric, dv)
    if metric in ("sum", "min", "max") and p.mode in ("float8", "float4"):
        tol = o.float4_tolerance if p.mode == "float4" else o.float_tolerance
        if metric != "sum" and p.source_class == p.target_class:
            tol = 0.0  # the same float type: min and max are exact
        if isinstance(a, float) and isinstance(b, float):
            return same_value(a, b, tolerance=tol or None), (f"relative tolerance {tol:g}" if tol else "")
    return same_value(a, b), ""


# -- foreign keys ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ForeignKey:
    name: str
    columns: tuple[str, ...]
    ref_schema: str
    ref_table: str
    ref_columns: tuple[str, ...]


_PG_FKS = sql.SQL("""
SELECT c.conname,
       ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i),
       pn.nspname, pc.relname,
       ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
             JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i)
FROM pg_constraint c
JOIN pg_class pc ON pc.oid = c.confrelid
JOIN pg_namespace pn ON pn.oid = pc.relnamespace
WHERE c.conrelid = %s::regclass AND c.contype = 'f'
ORDER BY c.conname
""")

_IS_FKS = sql.SQL("""
SELECT rc.constraint_name, kcu.column_name, kcu2.table_schema, kcu2.table_name, kcu2.column_name
FROM information_schema.referential_constraints rc
JOIN information_schema.key_column_usage kcu
  ON kcu.constraint_name = rc.constraint_name AND kcu.constraint_schema = rc.constraint_schema
JOIN information_schema.key_column_usage kcu2
  ON kcu2.constraint_name = rc.unique_constraint_name AND kcu2.constraint_schema = rc.unique_constraint_schema
 AND kcu2.ordinal_position = kcu.position_in_unique_constraint
WHERE kcu.table_schema = %s AND kcu.table_name = %s
ORDER BY rc.constraint_name, kcu.ordinal_position
""")


async def foreign_keys(svc: ConnectionService, table: Table) -> list[ForeignKey]:
    """The foreign keys of a table (pg_constraint on PostgreSQL, information_schema on KWDB)."""
    if table.is_ts or table.kind in (VIEW, MATVIEW):
        return []
    if svc.info is not None and svc.info.kind == "postgres":
        from kwtui.dialects.postgres import regclass

        res = await svc.query(_PG_FKS, (regclass(table),))
        return [ForeignKey(str(r[0]), tuple(r[1]), str(r[2]), str(r[3]), tuple(r[4])) for r in res.rows]
    res = await svc.query(_IS_FKS, (table.schema, table.name))
    grouped: dict[str, list[tuple[Any, ...]]] = {}
    for r in res.rows:
        grouped.setdefault(str(r[0]), []).append(r)
    return [ForeignKey(name, tuple(str(r[1]) for r in rows), str(rows[0][2]), str(rows[0][3]),
                       tuple(str(r[4]) for r in rows)) for name, rows in grouped.items()]


# -- low-level reads ------------------------------------------------------------------------------


async def _both(first: Awaitable[Any], second: Awaitable[Any]) -> tuple[Any, Any]:
    """Both awaitables at once (one per server); the first failure is raised after both ended,
    so no statement is left running on a connection that is used again."""
    results: list[Any] = list(await asyncio.gather(first, second, return_exceptions=True))
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return results[0], results[1]


async def _row(conn: psycopg.AsyncConnection[Any], query: sql.SQL | sql.Composed,
               params: Sequence[Any] | None = None) -> tuple[Any, ...]:
    async with conn.cursor() as cur:
        await cur.execute(query, params or None)
        row = await cur.fetchone()
    assert row is not None
    return tuple(row)


async def _scalar(conn: psycopg.AsyncConnection[Any], query: sql.SQL | sql.Composed,
                  params: Sequence[Any] | None = None) -> Any:
    return (await _row(conn, query, params))[0]


async def _stream(conn: psycopg.AsyncConnection[Any], query: sql.SQL | sql.Composed, params: Sequence[Any],
                  page: int) -> AsyncGenerator[list[tuple[Any, ...]], None]:
    """Rows in pages (libpq chunked rows: no server-side cursor, works on KWDB too)."""
    batch: list[tuple[Any, ...]] = []
    async with conn.cursor() as cur:
        async for row in cur.stream(query, params or None, size=min(page, 1000)):
            batch.append(tuple(row))
            if len(batch) >= page:
                yield batch
                batch = []
    if batch:
        yield batch


class _Rows:
    """One side's rows, read ahead page by page in a task (both sides read at once), at most
    ``depth`` pages ahead. ``await rows.next()`` is one row, or None at the end."""

    def __init__(self, pages: AsyncGenerator[list[tuple[Any, ...]], None], depth: int = 2) -> None:
        self._pages = pages
        self._queue: asyncio.Queue[list[tuple[Any, ...]] | BaseException | None] = asyncio.Queue(maxsize=depth)
        self._page: list[tuple[Any, ...]] = []
        self._i = 0
        self._done = False
        self._task = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        try:
            async for p in self._pages:
                await self._queue.put(p)
            await self._queue.put(None)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - handed to the reader
            await self._queue.put(exc)

    async def next(self) -> tuple[Any, ...] | None:
        if self._i < len(self._page):
            row = self._page[self._i]
            self._i += 1
            return row
        if self._done:
            return None
        item = await self._queue.get()
        if item is None or isinstance(item, BaseException):
            self._done = True
            if item is not None:
                raise item
            return None
        self._page, self._i = item, 1
        return item[0]

    async def close(self) -> None:
        self._done = True
        if not self._task.done():
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
        with contextlib.suppress(Exception):
            await self._pages.aclose()


async def _walk(conn: psycopg.AsyncConnection[Any], side: _Side, lower: Any, upper: Any, step: int,
                limit: int) -> AsyncIterator[tuple[Any, ...]]:
    """Every ``step``-th key in (lower, upper], at most ``limit`` of them: one short query each."""
    keys = sql.SQL(", ").join(sql.Identifier(side.columns[i]) for i in side.key_idx)
    last = lower
    for _ in range(limit):
        where, params = range_condition(side, last, upper)
        q = sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY {} LIMIT 1 OFFSET {}").format(
            keys, side.ident, where, _order_by(side), sql.Literal(max(0, step - 1)))
        async with conn.cursor() as cur:
            await cur.execute(q, params or None)
            row = await cur.fetchone()
        if row is None:
            return
        last = tuple(row)
        yield last


async def _walk_bounds(conn: psycopg.AsyncConnection[Any], side: _Side, lower: Any, upper: Any, step: int,
                       limit: int) -> list[tuple[Any, ...]]:
    out = [b async for b in _walk(conn, side, lower, upper, step, limit)]
    if upper is not None and out and out[-1] == tuple(upper):
        out.pop()
    return out


async def _sample_bounds(conn: psycopg.AsyncConnection[Any], side: _Side, rows: int,
                         parts: int) -> list[tuple[Any, ...]] | None:
    """Segment bounds from a random sample of the key (PostgreSQL TABLESAMPLE BERNOULLI).

    None where the server has no TABLESAMPLE or the table is small (then the key is walked).
    """
    if side.kind != "postgres" or rows < 100_000:
        return None
    want = parts * 40
    pct = min(100.0, 100.0 * want / rows)
    keys = sql.SQL(", ").join(sql.Identifier(side.columns[i]) for i in side.key_idx)
    q = sql.SQL("SELECT {} FROM {} TABLESAMPLE BERNOULLI ({}) REPEATABLE (7) ORDER BY {}").format(
        keys, side.ident, sql.Literal(round(pct, 6)), _order_by(side))
    try:
        async with conn.cursor() as cur:
            await cur.execute(q)
            sample = [tuple(r) for r in await cur.fetchall()]
    except psycopg.Error:
        return None
    if len(sample) < parts:
        return None
    bounds: list[tuple[Any, ...]] = []
    for i in range(1, parts):
        b = sample[i * len(sample) // parts]
        if not bounds or bounds[-1] != b:
            bounds.append(b)
    return bounds


def _message(exc: BaseException) -> str:
    if isinstance(exc, KwtuiError):
        return exc.one_line()
    if isinstance(exc, psycopg.Error) and exc.diag.message_primary:
        return exc.diag.message_primary
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


async def validate(src: ConnectionService, dst: ConnectionService, tables: Sequence[str | TableSpec] | None = None,
                   options: ValidateOptions | None = None, listener: Listener | None = None) -> ValidationResult:
    """Validate ``tables`` (``schema.table`` names or :class:`TableSpec`; None: every source table)."""
    return await Validation(src, dst, tables, options, listener).run()


# -- reports --------------------------------------------------------------------------------------


def _cell(value: Any, limit: int = 200) -> str:
    text = ("true" if value else "false") if isinstance(value, bool) else text_value(value)
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _row_text(diff: RowDiff, side: str) -> str:
    vals = [(c.column, c.source if side == "source" else c.target) for c in diff.columns]
    return ", ".join(f"{k}={_cell(v, 60)}" for k, v in vals)


def _diff_lines(t: TableValidation) -> list[tuple[str, str, str, str, str]]:
    """(kind, key, column, source, target) rows for the side-by-side tables."""
    out = []
    for d in t.differences:
        key = d.key_text()
        if d.kind == CHANGED:
            for c in d.columns:
                out.append((d.kind, key, c.column, _cell(c.source), _cell(c.target)))
        elif d.kind == MISSING_IN_TARGET:
            out.append((d.kind, key, "(row)", _row_text(d, "source"), "(absent)"))
        else:
            out.append((d.kind, key, "(row)", "(absent)", _row_text(d, "target")))
    return out


def findings(t: TableValidation) -> str:
    """What was found beyond the row counts, in a few words (for summary tables)."""
    out = []
    if t.error:
        out.append(f"error: {t.error}")
    bad = len(t.differing_aggregates)
    if bad:
        out.append(f"{bad} aggregate{'s' if bad != 1 else ''} differ{'s' if bad == 1 else ''}")
    orphans = sum(r.extra_orphans for r in t.references)
    if orphans:
        out.append(f"{orphans:,} orphan row{'s' if orphans != 1 else ''}")
    if t.warnings:
        out.append(f"{len(t.warnings)} warning{'s' if len(t.warnings) != 1 else ''}")
    if t.verdict == MISSING:
        out.extend(n for n in t.notes if n.startswith("the table is absent"))
    return "; ".join(out)


def _count_text(n: int | None) -> str:
    return "-" if n is None else f"{n:,}"


def render_text(result: ValidationResult) -> str:
    """The CLI's text output: one line per table, then its differences."""
    lines = []
    for t in result.tables:
        how = t.method or t.level
        lines.append(f"{t.table} -> {t.target}: {t.verdict}  source {_count_text(t.source_rows)} rows, "
                     f"target {_count_text(t.target_rows)} rows  ({how}, {t.elapsed:.2f} s)")
        if t.error:
            lines.append(f"  error: {t.error}")
        counts = {k: v for k, v in t.diff_counts.items() if v}
        if counts:
            lines.append("  " + ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in counts.items()))
        for d in t.differences:
            if d.kind == CHANGED:
                cols = "; ".join(f"{c.column}: {_cell(c.source, 60)} -> {_cell(c.target, 60)}" for c in d.columns)
                lines.append(f"  {d.kind:<17}  {d.key_text()}  {cols}")
            else:
                lines.append(f"  {d.kind:<17}  {d.key_text()}")
        for a in t.differing_aggregates:
            lines.append(f"  aggregate {a.column}.{a.metric}: {_cell(a.source, 60)} -> {_cell(a.target, 60)}")
        for r in t.references:
            if r.extra_orphans:
                ex = "; ".join(", ".join(f"{k}={text_value(v)}" for k, v in e.items()) for e in r.examples)
                lines.append(f"  foreign key {r.constraint} ({', '.join(r.columns)}) -> {r.parent}: "
                             f"{r.orphans:,} orphan row{'s' if r.orphans != 1 else ''} in the target"
                             + (f" (first: {ex})" if ex else ""))
        for w in t.warnings:
            lines.append(f"  warning: {w}")
        for n in t.notes:
            lines.append(f"  note: {n}")
    vc = {k: v for k, v in result.verdict_counts().items() if v}
    warned = f", {_warnings_text(result.warnings)}" if result.warnings else ""
    lines.append(f"{len(result.tables)} table{'s' if len(result.tables) != 1 else ''}: "
                 + ", ".join(f"{v} {k}" for k, v in vc.items()) + warned
                 + f" ({result.level}, {result.elapsed:.2f} s)")
    return "\n".join(lines)


def _warnings_text(n: int) -> str:
    return f"{n} warning{'s' if n != 1 else ''}"


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(result: ValidationResult) -> str:
    out = ["# kwtui validation report", "",
           f"- Source: `{result.source}`", f"- Target: `{result.target}`",
           f"- Level: {result.level}", f"- Started: {result.started} (UTC), {result.elapsed:.2f} s",
           f"- Result: **{'all equal' if result.ok else 'differences found'}**"
           + (f" ({_warnings_text(result.warnings)}: checks that could not run)" if result.warnings else ""), "",
           "| Table | Target | Verdict | Source rows | Target rows | Changed | Missing in target | Extra in target "
           "| Other findings |",
           "|---|---|---|---:|---:|---:|---:|---:|---|"]
    for t in result.tables:
        c = t.diff_counts
        out.append(f"| {_md(t.table)} | {_md(t.target)} | **{t.verdict}** | {_count_text(t.source_rows)} | "
                   f"{_count_text(t.target_rows)} | {c.get(CHANGED, 0):,} | {c.get(MISSING_IN_TARGET, 0):,} | "
                   f"{c.get(EXTRA_IN_TARGET, 0):,} | {_md(findings(t))} |")
    for t in result.tables:
        out += ["", f"## {_md(t.table)}: {t.verdict}", ""]
        out.append(f"- Target: {_md(t.target)}; key: {_md(', '.join(t.key) or '(none)')}; "
                   f"method: {t.method or t.level}; {t.elapsed:.2f} s")
        if t.stats:
            out.append("- " + ", ".join(f"{k.replace('_', ' ')}: {v:,}" for k, v in t.stats.items()))
        if t.error:
            out.append(f"- Error: {_md(t.error)}")
        for w in t.warnings:
            out.append(f"- Warning: {_md(w)}")
        for n in t.notes:
            out.append(f"- Note: {_md(n)}")
        lines = _diff_lines(t)
        if lines:
            shown = len(t.differences)
            out += ["", f"### Differences (first {shown} of {sum(t.diff_counts.values()):,})", "",
                    "| Kind | Key | Column | Source | Target |", "|---|---|---|---|---|"]
            out += [f"| {k} | {_md(key)} | {_md(col)} | {_md(s)} | {_md(d)} |" for k, key, col, s, d in lines]
        bad = t.differing_aggregates
        if t.aggregates:
            out += ["", "### Aggregates" + (f" ({len(bad)} differ)" if bad else " (all equal)"), "",
                    "| Column | Metric | Source | Target | Equal |", "|---|---|---|---|---|"]
            out += [f"| {_md(a.column)} | {a.metric} | {_md(_cell(a.source))} | {_md(_cell(a.target))} | "
                    f"{'yes' if a.equal else '**no**'} |" for a in t.aggregates]
        if t.references:
            out += ["", "### Foreign keys", "", "| Constraint | Columns | Parent | Orphans | Examples |",
                    "|---|---|---|---:|---|"]
            for r in t.references:
                ex = r.error or "; ".join(", ".join(f"{k}={text_value(v)}" for k, v in e.items())
                                          for e in r.examples)
                out.append(f"| {_md(r.constraint)} | {_md(', '.join(r.columns))} | {_md(r.parent)} | "
                           f"{r.orphans:,} | {_md(ex)} |")
    return "\n".join(out) + "\n"


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:2rem auto;max-width:1200px;
padding:0 1rem;color:#1d2430;background:#fff}
h1{font-size:1.5rem;margin:0 0 .5rem}h2{font-size:1.2rem;margin:2rem 0 .5rem;border-bottom:1px solid #dde3ea;
padding-bottom:.25rem}h3{font-size:1rem;margin:1.2rem 0 .4rem}
.meta{color:#56606e;margin:0 0 1rem}.meta b{color:#1d2430}
table{border-collapse:collapse;width:100%;margin:.4rem 0 1rem;font-size:13px}
th,td{border:1px solid #dde3ea;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f6f9;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
td.v{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;white-space:pre-wrap;word-break:break-all}
.badge{display:inline-block;padding:.05rem .5rem;border-radius:1rem;font-weight:600;font-size:12px}
.equal{background:#dff5e3;color:#17642a}.differs{background:#fde2e1;color:#9b1c1c}
.missing{background:#fff1cc;color:#7a5200}.error{background:#ece3fb;color:#5b2a9e}
.src{background:#fff6f6}.dst{background:#f4fbf5}.notes li{color:#56606e}.notes li.warning{color:#7a5200}
"""


def render_html(result: ValidationResult) -> str:
    e = html.escape

    def badge(verdict: str) -> str:
        return f'<span class="badge {e(verdict)}">{e(verdict)}</span>'

    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>kwtui validation: {e(result.source)} vs {e(result.target)}</title>",
             f"<style>{_CSS}</style></head><body>",
             "<h1>kwtui validation report</h1>",
             f'<p class="meta">Source <b>{e(result.source)}</b> &middot; target <b>{e(result.target)}</b> &middot; '
             f"level <b>{e(result.level)}</b> &middot; started {e(result.started)} UTC &middot; "
             f"{result.elapsed:.2f} s &middot; {badge(EQUAL) if result.ok else badge(DIFFERS)}"
             + (f' &middot; <span class="badge missing">{_warnings_text(result.warnings)}</span>'
                if result.warnings else "") + "</p>",
             "<table><thead><tr><th>Table</th><th>Target</th><th>Verdict</th><th>Source rows</th>"
             "<th>Target rows</th><th>Changed</th><th>Missing in target</th><th>Extra in target</th><th>Other findings</th>"
             "</tr></thead><tbody>"]
    for i, t in enumerate(result.tables):
        c = t.diff_counts
        parts.append(f'<tr><td><a href="#t{i}">{e(t.table)}</a></td><td>{e(t.target)}</td><td>{badge(t.verdict)}</td>'
                     f'<td class="n">{_count_text(t.source_rows)}</td><td class="n">{_count_text(t.target_rows)}</td>'
                     f'<td class="n">{c.get(CHANGED, 0):,}</td><td class="n">{c.get(MISSING_IN_TARGET, 0):,}</td>'
                     f'<td class="n">{c.get(EXTRA_IN_TARGET, 0):,}</td><td>{e(findings(t))}</td></tr>')
    parts.append("</tbody></table>")
    for i, t in enumerate(result.tables):
        parts.append(f'<h2 id="t{i}">{e(t.table)} {badge(t.verdict)}</h2>')
        parts.append(f'<p class="meta">target {e(t.target)} &middot; key {e(", ".join(t.key) or "(none)")} &middot; '
                     f"method {e(t.method or t.level)} &middot; {t.elapsed:.2f} s"
                     + ("".join(f" &middot; {e(k.replace('_', ' '))} {v:,}" for k, v in t.stats.items())) + "</p>")
        items = ([f"<li>error: {e(t.error)}</li>"] if t.error else []) \
            + [f'<li class="warning">warning: {e(w)}</li>' for w in t.warnings] + [f"<li>{e(n)}</li>" for n in t.notes]
        if items:
            parts.append('<ul class="notes">' + "".join(items) + "</ul>")
        lines = _diff_lines(t)
        if lines:
            parts.append(f"<h3>Differences (first {len(t.differences)} of {sum(t.diff_counts.values()):,})</h3>")
            parts.append("<table><thead><tr><th>Kind</th><th>Key</th><th>Column</th><th>Source</th><th>Target</th>"
                         "</tr></thead><tbody>")
            for kind, key, col, s, d in lines:
                parts.append(f'<tr><td>{e(kind.replace("_", " "))}</td><td class="v">{e(key)}</td><td>{e(col)}</td>'
                             f'<td class="v src">{e(s)}</td><td class="v dst">{e(d)}</td></tr>')
            parts.append("</tbody></table>")
        if t.aggregates:
            bad = t.differing_aggregates
            parts.append(f"<h3>Aggregates ({len(bad)} differ)</h3>" if bad else "<h3>Aggregates (all equal)</h3>")
            parts.append("<table><thead><tr><th>Column</th><th>Metric</th><th>Source</th><th>Target</th>"
                         "<th>Equal</th></tr></thead><tbody>")
            for a in t.aggregates:
                parts.append(f"<tr><td>{e(a.column)}</td><td>{e(a.metric)}</td><td class=\"v src\">{e(_cell(a.source))}"
                             f"</td><td class=\"v dst\">{e(_cell(a.target))}</td><td>"
                             f"{badge(EQUAL) if a.equal else badge(DIFFERS)}</td></tr>")
            parts.append("</tbody></table>")
        if t.references:
            parts.append("<h3>Foreign keys</h3><table><thead><tr><th>Constraint</th><th>Columns</th><th>Parent</th>"
                         "<th>Orphans</th><th>Examples</th></tr></thead><tbody>")
            for r in t.references:
                ex = r.error or "; ".join(", ".join(f"{k}={text_value(v)}" for k, v in x.items()) for x in r.examples)
                parts.append(f"<tr><td>{e(r.constraint)}</td><td>{e(', '.join(r.columns))}</td><td>{e(r.parent)}</td>"
                             f'<td class="n">{r.orphans:,}</td><td class="v">{e(ex)}</td></tr>')
            parts.append("</tbody></table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


REPORT_FORMATS = {".md": "markdown", ".markdown": "markdown", ".json": "json", ".html": "html", ".htm": "html"}


def report_format(path: str | Path) -> str:
    """The report format for a file name (by extension); UsageError for others."""
    fmt = REPORT_FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise UsageError(f"report file {path}: use a .md, .json or .html name")
    return fmt


def write_report(result: ValidationResult, path: str | Path) -> Path:
    """Write the result as Markdown, JSON or a self-contained HTML page (chosen by extension)."""
    p = Path(path)
    fmt = report_format(p)
    if fmt == "markdown":
        text = render_markdown(result)
    elif fmt == "json":
        text = json.dumps(result.as_dict(), indent=2, ensure_ascii=False) + "\n"
    else:
        text = render_html(result)
    if p.parent and not p.parent.exists():
        p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
    return p


__all__ = [
    "LEVELS", "COUNT", "AGGREGATE", "CHECKSUM", "EQUAL", "DIFFERS", "MISSING", "ERROR", "CHANGED",
    "MISSING_IN_TARGET", "EXTRA_IN_TARGET", "TableSpec", "ValidateOptions", "ColumnDiff", "RowDiff",
    "AggregateCheck", "OrphanCheck", "TableValidation", "ValidationResult", "Validation", "validate",
    "write_report", "render_markdown", "render_html", "render_text", "report_format", "findings", "type_class",
    "pair_mode", "canonical_sql", "normalise", "same_value", "default_key", "list_source_tables",
    "specs_from_transfer", "foreign_keys", "ForeignKey", "target_schema_for", "plan_table",
]
