"""Migration planning: assess a source, translate its DDL, suggest time-series tables, pick a strategy.

``assess(svc)`` reads the catalog of the source (PostgreSQL in full; KWDB through its
dialect) and lists per table rows, bytes, columns and types, primary key, foreign keys,
indexes, owned sequences / identity columns, and the objects KWDB cannot take as they are
(each a :class:`Finding` with advice). ``translate_ddl`` turns the assessment into CREATE
TABLE text for a target kind; ``suggest_ts`` measures candidate device-id columns and
proposes time-series tables; ``strategy`` orders tables parents-first and sizes batches.

Complexity score per table (higher = more work and risk)::

    1
    + columns // 10
    + 2 x foreign keys
    + 1 x secondary indexes
    + 3 x findings on the table (constructs KWDB cannot take as they are)
    + 2 if the table has no primary key (no safe keyset paging, no upsert, no row diff)
    + size class: 0 below 100k rows, 1 below 1M, 2 below 10M, 3 above

No I/O outside the functions taking a service; the translation is a pure function.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from psycopg import sql

from kwtui.catalog import BASE, PARTITIONED, TS_TABLE, Column, Index
from kwtui.inventory import Inventory, assign_fates, cutover_statements, read_inventory
from kwtui.names import TableName, pg_ident
from kwtui.transfer.engine import kwdb_to_pg_type
from kwtui.transfer.native import quote_ident

TARGET_KINDS = ("kwdb", "kwdb-ts", "postgres")

#: a table's method when KWDB's IMPORT pulls the rows kwtui serves over HTTP (kwtui.transfer.pull)
VIA_IMPORT = "via-import"
#: from this many rows a relational PostgreSQL -> KWDB table goes by KWDB's IMPORT (bench/bench_kwdb.py,
#: 1,000,000 rows: 165,000 rows/s pulled vs 29,000 streamed; below this the IMPORT job's start-up outweighs it)
VIA_IMPORT_MIN_ROWS = 100_000
VIA_IMPORT_MODES = ("auto", "always", "never")

#: KWDB TS limits (REFERENCE.md)
MAX_PRIMARY_TAGS = 4
MAX_TAGS = 128


@dataclass(frozen=True)
class Finding:
    table: str  # schema.table, or "" for database-wide objects (extensions)
    construct: str  # "partitioned table", "enum", "domain", "array", "tsvector", "extension", ...
    detail: str
    advice: str


@dataclass
class ColumnInfo:
    name: str
    type: str  # format_type() text (PostgreSQL) or the type KWDB reports
    nullable: bool = True
    default: str | None = None
    primary_key: bool = False
    is_tag: bool = False
    primary_tag: bool = False
    kind: str = "base"  # base | enum | domain | array | tsvector | generated
    base_type: str | None = None  # domain: the base type; array: the element type
    enum_labels: list[str] = field(default_factory=list)
    generated: str | None = None  # the expression of a generated column
    identity: bool = False  # identity column or owned by a sequence (serial)


@dataclass(frozen=True)
class ForeignKey:
    name: str
    columns: tuple[str, ...]
    ref_table: str  # schema.table
    ref_columns: tuple[str, ...]
    definition: str = ""


@dataclass
class TableAssessment:
    schema: str
    name: str
    kind: str = BASE
    est_rows: int | None = None
    exact_rows: int | None = None
    bytes: int | None = None
    columns: list[ColumnInfo] = field(default_factory=list)
    primary_key: list[str] = field(default_factory=list)
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    indexes: list[Index] = field(default_factory=list)
    sequences: list[str] = field(default_factory=list)  # "seq -> column" / "identity column"
    findings: list[Finding] = field(default_factory=list)
    complexity: int = 1

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def rows(self) -> int:
        return self.exact_rows if self.exact_rows is not None else max(0, self.est_rows or 0)

    @property
    def is_ts(self) -> bool:
        return self.kind == TS_TABLE

    def column(self, name: str) -> ColumnInfo:
        return next(c for c in self.columns if c.name == name)


@dataclass
class TsSuggestion:
    table: str
    timestamp: str
    primary_tag: str
    tags: list[str]  # the primary tag first, then per-device attributes
    data_columns: list[str]
    devices: int
    rows: int
    reason: str = ""

    @property
    def rows_per_device(self) -> float:
        return self.rows / self.devices if self.devices else 0.0


@dataclass
class TablePlanChoice:
    table: str
    method: str  # "streamed" | "native IMPORT"
    workers: int
    chunk_rows: int
    batch_rows: int
    reason: str
    thread_concurrency: int = 1  # for a native IMPORT


@dataclass
class Assessment:
    server_kind: str  # "postgres" | "kwdb"
    database: str = ""
    tables: list[TableAssessment] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)  # every finding, database-wide ones included
    ts_suggestions: list[TsSuggestion] = field(default_factory=list)
    inventory: Any = None  # kwtui.inventory.Inventory: every object of a PostgreSQL source, with its fate

    def table(self, qualified: str) -> TableAssessment:
        return next(t for t in self.tables if t.qualified == qualified)

    def suggestion(self, qualified: str) -> TsSuggestion | None:
        return next((s for s in self.ts_suggestions if s.table == qualified), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "server_kind": self.server_kind, "database": self.database,
            "tables": [{**asdict(t), "qualified": t.qualified, "indexes": [asdict(i) for i in t.indexes]}
                       for t in self.tables],
            "findings": [asdict(f) for f in self.findings],
            "ts_suggestions": [{**asdict(s), "rows_per_device": round(s.rows_per_device, 1)}
                               for s in self.ts_suggestions],
            "inventory": self.inventory.as_dict() if self.inventory is not None else None,
        }


def assessment_from_dict(data: dict[str, Any]) -> Assessment:
    """The inverse of :meth:`Assessment.as_dict` (a saved plan keeps the assessment it was made from)."""
    def table(t: dict[str, Any]) -> TableAssessment:
        return TableAssessment(
            schema=t["schema"], name=t["name"], kind=t.get("kind", BASE), est_rows=t.get("est_rows"),
            exact_rows=t.get("exact_rows"), bytes=t.get("bytes"),
            columns=[ColumnInfo(**{**c, "enum_labels": list(c.get("enum_labels") or [])}) for c in t.get("columns", [])],
            primary_key=list(t.get("primary_key") or []),
            foreign_keys=[ForeignKey(f["name"], tuple(f["columns"]), f["ref_table"], tuple(f["ref_columns"]),
                                     f.get("definition", "")) for f in t.get("foreign_keys", [])],
            indexes=[Index(i["name"], tuple(i["columns"]), bool(i.get("unique")), bool(i.get("primary")),
                           i.get("definition")) for i in t.get("indexes", [])],
            sequences=list(t.get("sequences") or []),
            findings=[Finding(**f) for f in t.get("findings", [])], complexity=int(t.get("complexity", 1)))

    fields_ = {f for f in TsSuggestion.__dataclass_fields__}
    return Assessment(
        server_kind=data.get("server_kind", "postgres"), database=data.get("database", ""),
        tables=[table(t) for t in data.get("tables", [])],
        findings=[Finding(**f) for f in data.get("findings", [])],
        ts_suggestions=[TsSuggestion(**{k: v for k, v in s.items() if k in fields_})
                        for s in data.get("ts_suggestions", [])],
        inventory=Inventory.from_dict(data.get("inventory")))


# -- assessment -------------------------------------------------------------------------------

_PG_COLUMNS = sql.SQL("""
SELECT a.attname, t.typtype, t.typcategory, t.typname,
       CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END,
       CASE WHEN t.typcategory = 'A' THEN format_type(t.typelem, NULL) END,
       CASE WHEN t.typtype = 'e' THEN ARRAY(SELECT e.enumlabel::text FROM pg_enum e
                                            WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder) END,
       a.attgenerated, pg_get_expr(d.adbin, d.adrelid), a.attidentity
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
""")

_PG_FKS = sql.SQL("""
SELECT c.conname,
       ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i),
       rn.nspname, r.relname,
       ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, i)
             JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.i),
       pg_get_constraintdef(c.oid, true)
FROM pg_constraint c JOIN pg_class r ON r.oid = c.confrelid JOIN pg_namespace rn ON rn.oid = r.relnamespace
WHERE c.conrelid = %s::regclass AND c.contype = 'f'
ORDER BY c.conname
""")

_PG_PK = sql.SQL("""
SELECT ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, i)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i)
FROM pg_constraint c WHERE c.conrelid = %s::regclass AND c.contype = 'p'
""")

_PG_EXCLUSION = sql.SQL("""
SELECT conname, pg_get_constraintdef(oid, true) FROM pg_constraint
WHERE conrelid = %s::regclass AND contype = 'x' ORDER BY conname
""")

_PG_SEQUENCES = sql.SQL("""
SELECT s.relname, a.attname
FROM pg_depend d
JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
WHERE d.refobjid = %s::regclass AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
ORDER BY s.relname
""")

_PG_TRIGGERS = sql.SQL("""
SELECT tgname, pg_get_triggerdef(oid, true) FROM pg_trigger
WHERE tgrelid = %s::regclass AND NOT tgisinternal ORDER BY tgname
""")

_PG_RULES = sql.SQL("SELECT rulename, definition FROM pg_rules WHERE schemaname = %s AND tablename = %s"
                    " ORDER BY rulename")

_PG_PARTITIONS = sql.SQL("SELECT pg_get_partkeydef(%s::regclass),"
                         " (SELECT count(*) FROM pg_partition_tree(%s::regclass) WHERE isleaf)")

_PG_EXTENSIONS = sql.SQL("SELECT extname, extversion FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY extname")


def _regclass(schema: str, name: str) -> str:
    return '"' + schema.replace('"', '""') + '"."' + name.replace('"', '""') + '"'


async def assess(svc: Any, *, tables: Sequence[str] | None = None, exact: bool = False) -> Assessment:
    """Read the source catalog: every base, partitioned and TS table (or the named ``schema.table``s).

    ``exact`` counts rows with ``count(*)`` instead of trusting the planner's estimate.
    """
    assert svc.dialect is not None and svc.info is not None
    kind = svc.info.kind
    out = Assessment(server_kind=kind, database=svc.info.database)
    wanted = set(tables) if tables else None
    listed = []
    for sch in await svc.dialect.list_schemas(svc):
        for t in await svc.dialect.list_tables(svc, sch.name):
            if t.kind in (BASE, PARTITIONED, TS_TABLE) and (wanted is None or t.qualified in wanted):
                listed.append(t)
    if kind == "postgres":
        out.inventory = await read_inventory(svc, tables)
        for name, version in (await svc.query(_PG_EXTENSIONS)).rows:
            out.findings.append(Finding(
                "", "extension", f"extension {name} {version}",
                "KWDB has no PostgreSQL extensions: move what it provides (types, functions, indexes) "
                "into the application or drop it; columns of its types need a plain type"))
    for t in listed:
        detail = await svc.dialect.table_detail(svc, t)
        ta = TableAssessment(t.schema, t.name, t.kind, t.est_rows, bytes=t.size_bytes,
                             columns=[_column_info(c) for c in detail.columns],
                             primary_key=list(detail.primary_key),
                             indexes=[i for i in detail.indexes])
        if exact or (t.est_rows is None and (t.size_bytes or 0) < 64 << 20):  # never analysed and small: count
            q = sql.SQL("SELECT count(*) FROM {}").format(TableName(t.schema, t.name).sql())
            ta.exact_rows = int((await svc.query(q)).rows[0][0])
        if kind == "postgres":
            await _assess_pg_table(svc, ta)
        ta.complexity = complexity(ta)
        out.tables.append(ta)
        out.findings.extend(ta.findings)
    return out


def _column_info(c: Column) -> ColumnInfo:
    return ColumnInfo(c.name, c.type, c.nullable, c.default, c.primary_key, c.is_tag, c.primary_tag,
                      identity=bool(c.default and ("IDENTITY" in c.default or "nextval(" in c.default)))


async def _assess_pg_table(svc: Any, ta: TableAssessment) -> None:
    rc = _regclass(ta.schema, ta.name)
    q = ta.qualified
    add = ta.findings.append
    if ta.kind == PARTITIONED:
        keydef, parts = (await svc.query(_PG_PARTITIONS, (rc, rc))).rows[0]
        add(Finding(q, "partitioned table", f"PARTITION BY {keydef}, {parts} partition(s)",
                    "a PostgreSQL target gets the same partitions; on KWDB the partitions are lost: "
                    "created as one plain table holding the rows of every partition; KWDB splits and "
                    "distributes ranges itself (for time-based partitions consider a TS table with a "
                    "RETENTIONS / PARTITION INTERVAL)"))
    rows = (await svc.query(_PG_COLUMNS, (rc,))).rows
    by_name = {c.name: c for c in ta.columns}
    for name, typtype, category, typname, domain_base, elem, labels, generated, expr, identity in rows:
        col = by_name.get(name)
        if col is None:
            continue
        col.identity = col.identity or bool(identity)
        if generated:
            col.kind = "generated"
            col.generated = expr
            col.default = None
            add(Finding(q, "generated column", f"{name} GENERATED ALWAYS AS ({expr}) STORED",
                        "created as a plain column holding the copied values; compute it in the application "
                        "(or a view) after cutover"))
        elif typtype == "e":
            col.kind = "enum"
            col.enum_labels = list(labels or [])
            add(Finding(q, "enum", f"{name} of enum type {col.type} ({', '.join(col.enum_labels)})",
                        "becomes VARCHAR with a CHECK (column IN (labels)); the label order is lost"))
        elif typtype == "d":
            col.kind = "domain"
            col.base_type = domain_base
            add(Finding(q, "domain", f"{name} of domain {col.type} over {domain_base}",
                        "becomes its base type; re-create the domain's CHECK as a table CHECK constraint "
                        "if it matters"))
        elif category == "A":
            col.kind = "array"
            col.base_type = elem
            add(Finding(q, "array", f"{name} {col.type}",
                        "KWDB relational keeps one-dimensional arrays of plain types (verify on the "
                        "target); arrays of enums/domains/other become TEXT holding the array literal; "
                        "a KWDB TS table has no arrays (NVARCHAR); consider a child table"))
        elif typname in ("tsvector", "tsquery"):
            col.kind = "tsvector"
            add(Finding(q, "tsvector", f"{name} {col.type}",
                        "KWDB has no full-text search types: becomes TEXT (the lexeme list as text); "
                        "search with LIKE or an external search engine, or rebuild it from source columns"))
        elif typtype in ("r", "m", "c"):
            col.kind = "range" if typtype != "c" else "composite"
            add(Finding(q, f"{col.kind} column", f"{name} {col.type}",
                        f"KWDB has no {col.kind} types: becomes TEXT holding the value's text form; store its "
                        "parts as separate columns if they are queried"))
    for name, definition in (await svc.query(_PG_EXCLUSION, (rc,))).rows:
        add(Finding(q, "exclusion constraint", f"{name} {definition}",
                    "KWDB has no exclusion constraints: enforce the rule in the application or with a "
                    "unique key on a derived column"))
    for name, definition in (await svc.query(_PG_TRIGGERS, (rc,))).rows:
        add(Finding(q, "trigger", definition or name,
                    "a PostgreSQL target gets the trigger after the load; on KWDB it is lost: KWDB has no "
                    "triggers, so the application must do what it did (set columns, keep others up to date) or "
                    "its writes break (a NOT NULL column the trigger filled, a timestamp that no longer moves); "
                    "the copied rows already hold its past effects"))
    for name, definition in (await svc.query(_PG_RULES, (ta.schema, ta.name))).rows:
        add(Finding(q, "rule", f"{name}: {' '.join(str(definition).split())}",
                    "KWDB has no rules: rewrite them as application logic or views"))
    pk = (await svc.query(_PG_PK, (rc,))).rows
    if pk and pk[0][0]:
        ta.primary_key = list(pk[0][0])  # the key's own column order (not the table's)
    for name, cols, rschema, rname, rcols, definition in (await svc.query(_PG_FKS, (rc,))).rows:
        ta.foreign_keys.append(ForeignKey(name, tuple(cols), f"{rschema}.{rname}", tuple(rcols), definition))
    for seq, col in (await svc.query(_PG_SEQUENCES, (rc,))).rows:
        c = by_name.get(col)
        is_identity = c is not None and bool(c.default and "AS IDENTITY" in c.default)
        ta.sequences.append(f"{seq} -> {col}" + (" (identity)" if is_identity else " (serial)"))
        if c is not None:
            c.identity = True
    for c in ta.columns:
        if c.identity and not any(f"-> {c.name} (" in s for s in ta.sequences):
            ta.sequences.append(f"identity -> {c.name}")


def complexity(ta: TableAssessment) -> int:
    """The score of the module docstring."""
    rows = ta.rows
    size_class = 0 if rows < 100_000 else 1 if rows < 1_000_000 else 2 if rows < 10_000_000 else 3
    secondary = [i for i in ta.indexes if not i.primary]
    return (1 + len(ta.columns) // 10 + 2 * len(ta.foreign_keys) + len(secondary) + 3 * len(ta.findings)
            + (0 if ta.primary_key or ta.is_ts else 2) + size_class)


# -- DDL translation --------------------------------------------------------------------------


@dataclass
class TableDdl:
    table: str
    target: str  # the target table name (schema.table)
    create: str
    post_load: list[str] = field(default_factory=list)  # indexes and foreign keys, after the data
    warnings: list[str] = field(default_factory=list)
    ts: bool = False


@dataclass
class Translation:
    target_kind: str
    tables: list[TableDdl] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # every warning (database-wide ones included)
    pre: list[str] = field(default_factory=list)  # before the tables: extensions, schemas, types, functions
    post: list[str] = field(default_factory=list)  # after the tables' post-load: views, triggers, comments...
    cutover: list[str] = field(default_factory=list)  # at the cutover: enable triggers and rules, refresh views

    def script(self) -> str:
        return ddl_script(f"-- kwtui plan: DDL for target kind {self.target_kind}", self.warnings, self.tables,
                          self.pre, self.post)


def ddl_script(header: str, warnings: Sequence[str], tables: Sequence[Any], pre: Sequence[str] = (),
               post_data: Sequence[str] = ()) -> str:
    """A DDL script: what comes before the tables, the CREATE TABLEs, then what runs after the
    load (``tables`` have ``create`` and ``post_load``; ``post_data`` after those)."""
    parts = [header, *(f"-- WARNING: {w}" for w in warnings), *pre, *(t.create for t in tables)]
    post = [s for t in tables for s in t.post_load] + list(post_data)
    if post:
        parts += ["-- after the data is loaded:", *post]
    return "\n\n".join(parts) + "\n"


def _q(name: str) -> str:
    return quote_ident(name)


def _qt(schema: str, name: str) -> str:
    return f"{_q(schema)}.{_q(name)}"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _kwdb_type(pg_type: str) -> str:
    from kwtui.transfer.files import _kwdb_type as spell

    return spell(pg_type)


_SERIAL = {"smallint": "INT2", "integer": "INT4", "bigint": "INT8"}


def _base(type_text: str) -> str:
    return type_text.lower().split("(")[0].strip()


def kwdb_relational_type(c: ColumnInfo) -> tuple[str, str | None, str | None]:
    """(type, extra CHECK or None, warning or None) for a KWDB relational column."""
    if c.kind == "tsvector":
        return "TEXT", None, f"{c.name}: {c.type} -> TEXT (no full-text search in KWDB)"
    if c.kind in ("range", "composite"):
        return "TEXT", None, f"{c.name}: {c.kind} {c.type} -> TEXT (its text form; KWDB has no {c.kind} types)"
    if c.kind == "enum":
        width = max([len(label) for label in c.enum_labels] or [1])
        check = f"CHECK ({_q(c.name)} IN ({', '.join(_literal(v) for v in c.enum_labels)}))"
        return f"VARCHAR({width})", check, f"{c.name}: enum {c.type} -> VARCHAR({width}) + CHECK"
    if c.kind == "domain" and c.base_type:
        return _kwdb_type(c.base_type), None, f"{c.name}: domain {c.type} -> its base type {c.base_type}"
    if c.kind == "array":
        elem = c.base_type or ""
        if elem and not elem.endswith("[]") and "." not in elem and _base(elem) in _PLAIN_TYPES:
            return _kwdb_type(elem) + "[]", None, f"{c.name}: array {c.type} kept as an array (KWDB relational; verify)"
        return "TEXT", None, f"{c.name}: array {c.type} -> TEXT (array literal as text)"
    if c.kind == "generated":
        return _kwdb_type(c.type), None, f"{c.name}: generated column -> plain column (values copied)"
    return _kwdb_type(c.type), None, None


_PLAIN_TYPES = {
    "smallint", "integer", "bigint", "real", "double precision", "numeric", "boolean", "text",
    "character varying", "character", "date", "timestamp with time zone", "timestamp without time zone",
    "uuid", "bytea", "time without time zone", "interval", "inet", "jsonb",
}


def kwdb_ts_type(c: ColumnInfo) -> tuple[str, str | None]:
    """(type, warning or None) for a column of a KWDB time-series table (REFERENCE.md mapping)."""
    t = c.base_type if c.kind == "domain" and c.base_type else c.type
    low = t.lower()
    base = _base(low)
    note = None
    if c.kind == "enum":
        width = max([len(label) for label in c.enum_labels] or [1])
        return f"VARCHAR({width})", f"{c.name}: enum {c.type} -> VARCHAR({width}) (no CHECK on TS tables)"
    if c.kind in ("array", "tsvector", "range", "composite"):
        return "NVARCHAR", f"{c.name}: {c.type} -> NVARCHAR (text form; TS tables have no {c.kind})"
    if c.kind == "domain":
        note = f"{c.name}: domain {c.type} -> base type {c.base_type}"
    if base in _SERIAL and c.identity:
        return _SERIAL[base], f"{c.name}: serial/identity -> {_SERIAL[base]} (no default on TS tables)"
    if base in _SERIAL:
        return _SERIAL[base], note
    if base == "real":
        return "FLOAT4", note
    if base == "double precision":
        return "FLOAT8", note
    if base in ("numeric", "decimal", "money"):
        return "FLOAT8", f"{c.name}: {c.type} -> FLOAT8 (LOSSY: TS tables have no DECIMAL; ~15 significant digits)"
    if base == "boolean":
        return "BOOL", note
    if base in ("text", "json", "jsonb", "xml", "citext"):
        return "NVARCHAR", f"{c.name}: {c.type} -> NVARCHAR" if base != "text" else note
    if base == "character varying":
        return ("VARCHAR" + low[len("character varying"):]) if "(" in low else "NVARCHAR", note
    if base in ("character", "char"):
        return "CHAR" + low[len("character"):] if "(" in low else "CHAR(1)", note
    if base == "timestamp with time zone":
        return "TIMESTAMPTZ", note
    if base.startswith("timestamp"):
        return "TIMESTAMP", note
    if base in ("date", "time without time zone", "time with time zone"):
        return "TIMESTAMP", f"{c.name}: {c.type} -> TIMESTAMP"
    if base == "uuid":
        return "VARCHAR(36)", f"{c.name}: uuid -> VARCHAR(36)"
    if base == "bytea":
        return "VARBYTES", note
    if base in ("int2", "int4", "int8", "float4", "float8", "bool", "timestamptz", "varbytes", "nvarchar",
                "varchar", "nchar", "geometry"):
        return t.upper(), note
    return "NVARCHAR", f"{c.name}: {c.type} -> NVARCHAR (no matching TS type)"


def primary_tag_type(c: ColumnInfo, typ: str, note: str | None) -> tuple[str, str | None]:
    """A primary tag's type by REFERENCE.md: no float or VARBYTES, VARCHAR of at most 128."""
    if typ in ("NVARCHAR", "TEXT"):
        return "VARCHAR(64)", f"{c.name}: primary tag {c.type} -> VARCHAR(64) (check the longest value)"
    m = re.fullmatch(r"(N?VARCHAR|N?CHAR)\((\d+)\)", typ)
    if m and int(m.group(2)) > 128:
        return (f"{m.group(1)}(128)", f"{c.name}: primary tag {c.type} -> {m.group(1)}(128) (a primary tag holds at "
                                      "most 128 characters: longer values are refused)")
    if typ.startswith(("FLOAT", "VARBYTES")):
        return "VARCHAR(64)", (f"{c.name}: primary tag {c.type} -> VARCHAR(64) (a primary tag cannot be {typ}: "
                               "its text form)")
    return typ, note


_ROW_TIME = re.compile(r"^(updated|modified|changed|created|inserted|deleted|last_)|"
                       r"_(updated|modified|changed|created|inserted)(_at|_on|_time)?$", re.IGNORECASE)
_TIMESTAMP_TYPES = ("timestamp with time zone", "timestamp without time zone", "timestamptz", "timestamp")
_ID_NAME = re.compile(r"(device|meter|sensor|station|machine|vehicle|asset|node|host|(^|_)id$)", re.IGNORECASE)


def is_timestamp(type_text: str) -> bool:
    return _base(type_text) in _TIMESTAMP_TYPES


#: column type overrides: {"schema.table": {"column": "TARGET TYPE"}} (the plan screen's edits)
TypeOverrides = dict[str, dict[str, str]]


def translate_ddl(assessment: Assessment, target_kind: str, overrides: TypeOverrides | None = None, *,
                  suggested_only: bool = False) -> Translation:
    """CREATE TABLE text per table for ``kwdb`` (relational), ``kwdb-ts`` or ``postgres``, plus warnings.

    ``overrides`` replaces the mapped type of a column (the user's edit); each one is noted.
    ``suggested_only`` (a mixed plan: TS database + relational one): only the tables with a TS
    suggestion become TS tables, the others stay relational.
    """
    if target_kind not in TARGET_KINDS:
        raise ValueError(f"target kind {target_kind!r}: one of {', '.join(TARGET_KINDS)}")
    out = Translation(target_kind)
    for f in assessment.findings:
        if not f.table:
            out.warnings.append(f"{f.construct}: {f.detail}: {f.advice}")
    inv = assessment.inventory if assessment.server_kind == "postgres" else None
    if inv is not None and target_kind == "postgres":
        out.pre = inv.statements("pre")
    for ta in order_tables(assessment)[0]:
        edits = (overrides or {}).get(ta.qualified) or {}
        if target_kind == "postgres" and inv is not None:
            ddl = _from_inventory(ta, inv)
        elif target_kind == "postgres":
            ddl = _to_postgres(ta, edits)
        elif target_kind == "kwdb-ts" and (not suggested_only or assessment.suggestion(ta.qualified)):
            ddl = _to_kwdb_ts(ta, assessment.suggestion(ta.qualified), edits)
        else:
            ddl = _to_kwdb(ta, edits)
        for col, typ in edits.items():
            if any(c.name == col for c in ta.columns):
                ddl.warnings.append(f"{col}: type set to {typ} by hand")
        if target_kind != "postgres":
            for f in ta.findings:
                if f.construct in ("trigger", "rule", "exclusion constraint", "partitioned table"):
                    ddl.warnings.append(f"{f.construct}: {f.detail} -- {f.advice}")
        out.tables.append(ddl)
        out.warnings += [f"{ta.qualified}: {w}" for w in ddl.warnings]
    if inv is not None:
        notes = {f"{t.qualified}.{m.name}": m.note for t in assessment.tables
                 for m in column_mapping(assessment, target_kind, t.qualified, overrides) if m.note}
        assign_fates(inv, target_kind, out.tables, notes)
        if target_kind == "postgres":
            per_table = {s for t in out.tables for s in t.post_load}
            out.post = [s for s in inv.statements("post") if s not in per_table]
            out.cutover = cutover_statements(inv)
    return out


def _from_inventory(ta: TableAssessment, inv: Inventory) -> TableDdl:
    """A PostgreSQL target from a PostgreSQL source: the table as the catalog holds it (columns, defaults,
    identity / serial, collations, constraints, partitions); its indexes and foreign keys after the load."""
    q = ta.qualified
    ddl = TableDdl(q, q, "")
    mine = [o for o in inv.objects if o.table == q and o.create]
    ddl.create = "\n".join(o.create for o in mine if o.stage == "table")
    ddl.post_load = [o.create for o in mine if o.stage == "post" and o.kind in ("index", "foreign key")]
    return ddl


_FK_ACTION = re.compile(r"\bON (UPDATE|DELETE) (CASCADE|RESTRICT|SET NULL|SET DEFAULT)\b", re.IGNORECASE)


def _post_load(ta: TableAssessment, target: str, *, indexes: bool = True, q: Any = None,
               fk_index: bool = False) -> list[str]:
    """Indexes and foreign keys (with their ON UPDATE / ON DELETE actions), quoted by ``q`` (the target's rules).

    ``fk_index`` (KWDB): a foreign key whose columns lead no index gets one first; KWDB refuses to add a
    foreign key to a table holding rows without it ("foreign key requires an existing index on columns").
    """
    _q = q or globals()["_q"]
    stmts = []
    leading = [tuple(ta.primary_key)] + [tuple(ix.columns) for ix in ta.indexes
                                         if not ix.definition or " USING BTREE" in ix.definition.upper()]
    if indexes:
        for ix in ta.indexes:
            if ix.primary or not ix.columns or any(not re.fullmatch(r"[\w\" ]+", c) for c in ix.columns):
                continue
            if ix.definition and " USING " in ix.definition.upper() and " USING BTREE" not in ix.definition.upper():
                continue  # gin / gist / brin: no KWDB counterpart
            unique = "UNIQUE " if ix.unique else ""
            stmts.append(f"CREATE {unique}INDEX {_q(ix.name)} ON {target} ({', '.join(_q(c) for c in ix.columns)});")
    for fk in ta.foreign_keys:
        ref = TableName.parse(fk.ref_table)
        if fk_index and not any(cols[:len(fk.columns)] == tuple(fk.columns) for cols in leading):
            name = f"{ta.name}_{'_'.join(fk.columns)}_fkey_idx"[:63]
            stmts.append(f"CREATE INDEX {_q(name)} ON {target} ({', '.join(_q(c) for c in fk.columns)});")
            leading.append(tuple(fk.columns))
        actions = "".join(f" ON {m.group(1).upper()} {m.group(2).upper()}" for m in _FK_ACTION.finditer(fk.definition))
        stmts.append(f"ALTER TABLE {target} ADD CONSTRAINT {_q(fk.name)} FOREIGN KEY "
                     f"({', '.join(_q(c) for c in fk.columns)}) REFERENCES {_q(ref.schema)}.{_q(ref.name)} "
                     f"({', '.join(_q(c) for c in fk.ref_columns)}){actions};")
    return stmts


def _to_kwdb(ta: TableAssessment, edits: dict[str, str] | None = None) -> TableDdl:
    target = _qt(ta.schema, ta.name)
    ddl = TableDdl(ta.qualified, f"{ta.schema}.{ta.name}", "")
    lines, checks = [], []
    for c in ta.columns:
        typ, check, warning = kwdb_relational_type(c)
        if edits and c.name in edits:
            typ, check, warning = edits[c.name], None, None
        parts = [_q(c.name), typ]
        if c.default and not c.identity and c.kind != "generated" and not c.default.startswith("GENERATED"):
            default = c.default
            if c.kind in ("enum", "domain", "array", "tsvector", "range", "composite"):  # casts to types KWDB will not have
                default = re.sub(r"::[\w\".]+(\[\])?$", "", default)
            parts.append(f"DEFAULT {default}")
        parts.append("NULL" if c.nullable else "NOT NULL")
        lines.append("    " + " ".join(parts))
        if check:
            checks.append(f"    {check}")
        if warning:
            ddl.warnings.append(warning)
        if c.identity:
            ddl.warnings.append(f"{c.name}: sequence/identity default dropped (values are copied); "
                                "after cutover give it DEFAULT unique_rowid() or a KWDB sequence")
    if ta.primary_key:
        lines.append(f"    CONSTRAINT \"primary\" PRIMARY KEY ({', '.join(_q(k) for k in ta.primary_key)})")
    else:
        ddl.warnings.append("no primary key: KWDB adds a hidden rowid; sync and row-level validation need a key")
    ddl.create = f"CREATE TABLE {target} (\n" + ",\n".join(lines + checks) + "\n);"
    ddl.post_load = _post_load(ta, target, fk_index=True)
    return ddl


def _to_kwdb_ts(ta: TableAssessment, suggestion: TsSuggestion | None,
                edits: dict[str, str] | None = None) -> TableDdl:
    edits = edits or {}
    target = _qt(ta.schema, ta.name)
    ddl = TableDdl(ta.qualified, f"{ta.schema}.{ta.name}", "", ts=True)
    roles = ts_roles(ta, suggestion)
    if isinstance(roles, str):
        rel = _to_kwdb(ta, edits)
        rel.warnings.insert(0, roles)
        return rel
    ts_col, tags, primary = roles
    if suggestion is None:
        ddl.warnings.append(f"primary tag {primary[0]} chosen by its name only (--ts-suggest measures it)")
    data_lines, tag_lines = [], []
    ts = ta.column(ts_col)
    ts_type = "TIMESTAMPTZ" if _base(ts.type) in ("timestamp with time zone", "timestamptz") else "TIMESTAMP"
    ts_type = edits.get(ts_col, ts_type)
    data_lines.append(f"    {_q(ts_col)} {ts_type} NOT NULL")
    for c in ta.columns:
        if c.name == ts_col or c.name in tags:
            continue
        typ, warning = kwdb_ts_type(c)
        if c.name in edits:
            typ, warning = edits[c.name], None
        data_lines.append(f"    {_q(c.name)} {typ}" + ("" if c.nullable else " NOT NULL"))
        if warning:
            ddl.warnings.append(warning)
    for name in tags:
        c = ta.column(name)
        typ, warning = kwdb_ts_type(c)
        if name in primary:
            typ, warning = primary_tag_type(c, typ, warning)
        elif typ == "NVARCHAR":  # KWDB V3.2.1: "unsupported tag type nvarchar in timeseries table"
            typ, warning = "VARCHAR", f"{name}: tag {c.type} -> VARCHAR (KWDB tags take no NVARCHAR)"
        if name in edits:
            typ, warning = edits[name], None
        null = " NOT NULL" if name in primary or not c.nullable else ""
        tag_lines.append(f"    {_q(name)} {typ}{null}")
        if warning:
            ddl.warnings.append(warning)
    if len(tags) > MAX_TAGS:
        ddl.warnings.append(f"{len(tags)} tags: KWDB takes at most {MAX_TAGS}")
    dropped = [k for k in ta.primary_key if k != ts_col and k not in primary]
    if dropped:
        ddl.warnings.append(f"primary key ({', '.join(ta.primary_key)}) -> rows dedupe on "
                            f"({ts_col}, {', '.join(primary)}) instead")
    if ta.foreign_keys or any(not i.primary for i in ta.indexes):
        ddl.warnings.append("indexes and foreign keys are not carried to a TS table")
    ddl.create = (f"CREATE TABLE {target} (\n" + ",\n".join(data_lines) + "\n) TAGS (\n" + ",\n".join(tag_lines)
                  + f"\n) PRIMARY TAGS ({', '.join(_q(p) for p in primary)});")
    return ddl


def ts_roles(ta: TableAssessment, suggestion: TsSuggestion | None) -> tuple[str, list[str], list[str]] | str:
    """(timestamp column, tags, primary tags) of a table made time-series, or why it cannot be one."""
    ts_col = suggestion.timestamp if suggestion else next(
        (c.name for c in ta.columns if is_timestamp(c.type) and not c.nullable), None)
    if ts_col is None:
        return ("no NOT NULL timestamp column: cannot be a TS table, kept relational (create it in a relational "
                "database: KWDB keeps relational tables out of TS databases)")
    if suggestion:
        return ts_col, list(suggestion.tags), [suggestion.primary_tag]
    cands = [c.name for c in ta.columns if c.name != ts_col and _ID_NAME.search(c.name)
             and not c.nullable and c.kind == "base"]
    if not cands:
        return ("no device/id column for a primary tag (run --ts-suggest to measure one, or set one in the "
                "plan's mapping): kept relational (create it in a relational database: KWDB keeps relational "
                "tables out of TS databases)")
    return ts_col, cands[:1], cands[:1]


@dataclass
class ColumnMap:
    """One row of the plan screen's mapping: a source column and what it becomes on the target."""

    name: str
    source_type: str
    target_type: str
    role: str = "column"  # column | timestamp | tag | primary tag | key
    note: str = ""
    edited: bool = False

    @property
    def lossy(self) -> bool:
        return "LOSSY" in self.note


def column_mapping(assessment: Assessment, target_kind: str, table: str,
                   overrides: TypeOverrides | None = None) -> list[ColumnMap]:
    """The mapping of one table's columns for ``target_kind``, in target order, edits applied."""
    ta = assessment.table(table)
    edits = (overrides or {}).get(table) or {}
    out: list[ColumnMap] = []
    if target_kind == "kwdb-ts":
        roles = ts_roles(ta, assessment.suggestion(table))
        if not isinstance(roles, str):
            ts_col, tags, primary = roles
            tsc = ta.column(ts_col)
            ts_type = "TIMESTAMPTZ" if _base(tsc.type) in ("timestamp with time zone", "timestamptz") \
                else "TIMESTAMP"
            out.append(ColumnMap(ts_col, tsc.type, ts_type, "timestamp", "first column, NOT NULL"))
            for c in ta.columns:
                if c.name != ts_col and c.name not in tags:
                    typ, note = kwdb_ts_type(c)
                    out.append(ColumnMap(c.name, c.type, typ, "column", note or ""))
            for name in tags:
                c = ta.column(name)
                typ, note = kwdb_ts_type(c)
                if name in primary:
                    typ, note = primary_tag_type(c, typ, note)
                elif typ == "NVARCHAR":
                    typ, note = "VARCHAR", "KWDB tags take no NVARCHAR"
                out.append(ColumnMap(name, c.type, typ, "primary tag" if name in primary else "tag", note or ""))
        else:
            target_kind = "kwdb"
    if target_kind == "kwdb":
        for c in ta.columns:
            typ, check, note = kwdb_relational_type(c)
            out.append(ColumnMap(c.name, c.type, typ, "key" if c.name in ta.primary_key else "column",
                                 "; ".join(x for x in (note, check) if x)))
    elif target_kind == "postgres":
        cols = [c for c in ta.columns if not c.is_tag] + [c for c in ta.columns if c.is_tag]
        for c in cols:
            role = "primary tag" if c.primary_tag else "tag" if c.is_tag else \
                "key" if c.name in ta.primary_key else "column"
            out.append(ColumnMap(c.name, c.type, kwdb_to_pg_type(c.type), role))
    for m in out:
        if m.name in edits:
            m.target_type, m.edited = edits[m.name], True
            m.note = f"set by hand (mapped: {m.note or 'as is'})" if m.note else "set by hand"
    for m in out:
        if m.note and m.note.startswith(f"{m.name}: "):
            m.note = m.note[len(m.name) + 2:]
    return out


ROLES = ("column", "tag", "primary tag", "timestamp")


def set_ts_role(assessment: Assessment, table: str, column: str, role: str) -> None:
    """Change a column's role for a TS target (the plan screen's edit); raises ValueError if KWDB would refuse."""
    ta = assessment.table(table)
    c = ta.column(column)
    current = ts_roles(ta, assessment.suggestion(table))
    if isinstance(current, str):
        if role != "primary tag":
            raise ValueError(f"{table} is not a TS table yet: first choose its primary tag")
        ts_col = next((x.name for x in ta.columns if is_timestamp(x.type) and not x.nullable), None)
        if ts_col is None:
            raise ValueError(f"{table} has no NOT NULL timestamp column: it cannot be a TS table")
        current = (ts_col, [], [])
    ts_col, tags, primary = current
    if role == "timestamp":
        if not is_timestamp(c.type) or c.nullable:
            raise ValueError(f"{column} is {c.type}{'' if not c.nullable else ' NULL'}: the TS timestamp must be "
                             "a NOT NULL timestamp")
        tags = [t for t in tags if t != column]
        ts_col = column
    elif role == "primary tag":
        if column == ts_col:
            raise ValueError(f"{column} is the timestamp column")
        if c.kind not in ("base", "enum", "domain") or _base(c.type) in ("real", "double precision", "jsonb", "json"):
            raise ValueError(f"{column} ({c.type}) cannot be a primary tag")
        tags = [column] + [t for t in tags if t != column]
        primary = [column]
    elif role == "tag":
        if column in primary:
            raise ValueError(f"{column} is the primary tag: make another column the primary tag first")
        if column == ts_col:
            raise ValueError(f"{column} is the timestamp column")
        if column not in tags:
            tags.append(column)
        if len(tags) > MAX_TAGS:
            raise ValueError(f"KWDB takes at most {MAX_TAGS} tags")
    elif role == "column":
        if column in primary:
            raise ValueError(f"{column} is the primary tag: make another column the primary tag first")
        if column == ts_col:
            raise ValueError(f"{column} is the timestamp column: choose another timestamp first")
        tags = [t for t in tags if t != column]
    else:
        raise ValueError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    old = assessment.suggestion(table)
    data = [x.name for x in ta.columns if x.name != ts_col and x.name not in tags]
    new = TsSuggestion(table, ts_col, primary[0], tags, data, old.devices if old else 0, old.rows if old else ta.rows,
                       (old.reason if old else "") + ("; " if old and old.reason else "") + "roles edited in the plan")
    assessment.ts_suggestions = [s for s in assessment.ts_suggestions if s.table != table] + [new]


def _to_postgres(ta: TableAssessment, edits: dict[str, str] | None = None) -> TableDdl:
    _q = pg_ident  # PostgreSQL's keywords, not KWDB's
    target = TableName(ta.schema, ta.name).pg()
    ddl = TableDdl(ta.qualified, f"{ta.schema}.{ta.name}", "")
    cols = [c for c in ta.columns if not c.is_tag] + [c for c in ta.columns if c.is_tag]
    lines = []
    for c in cols:
        typ = (edits or {}).get(c.name) or kwdb_to_pg_type(c.type)
        parts = [_q(c.name), typ]
        if c.identity and _base(typ) in ("smallint", "integer", "bigint", "int2", "int4", "int8"):
            # the copied values are kept (BY DEFAULT accepts them); the cutover moves the sequence past them
            parts.append("GENERATED BY DEFAULT AS IDENTITY")
        elif c.default and not c.default.startswith("GENERATED") and "unique_rowid" not in c.default \
                and not c.identity:
            parts.append(f"DEFAULT {c.default}")
        if not c.nullable or c.primary_tag:
            parts.append("NOT NULL")
        lines.append("    " + " ".join(parts))
    if ta.is_ts:
        key = [ta.columns[0].name] + [c.name for c in ta.columns if c.primary_tag]
        ddl.warnings.append(f"TS table -> ordinary table: tags {', '.join(c.name for c in cols if c.is_tag)} last, "
                            f"primary key ({', '.join(key)}); consider partitioning by {ta.columns[0].name}")
    else:
        key = list(ta.primary_key)
    if key:
        lines.append(f"    PRIMARY KEY ({', '.join(_q(k) for k in key)})")
    ddl.create = f"CREATE TABLE {target} (\n" + ",\n".join(lines) + "\n);"
    ddl.post_load = _post_load(ta, target, indexes=not ta.is_ts, q=pg_ident)
    return ddl


# -- time-series suggestion -------------------------------------------------------------------


async def suggest_ts(assessment: Assessment, svc: Any) -> list[TsSuggestion]:
    """Measure candidate device-id columns of tables with a NOT NULL timestamp; propose TS tables.

    A candidate id column is NOT NULL in practice and has few distinct values: its name looks
    like a device / meter / sensor id and it has at most half as many values as rows, or
    (any name) at most a tenth. Attributes are the columns functionally dependent on it
    (``count(DISTINCT (id, col)) = count(DISTINCT id)``); they become tags too.
    The suggestions are stored on the assessment (``translate_ddl`` to ``kwdb-ts`` uses them).
    """
    out: list[TsSuggestion] = []
    for ta in assessment.tables:
        if ta.is_ts:
            continue
        # a row-version time (updated_at, created_at) says when a row was written, not when it was measured
        ts_cols = [c for c in ta.columns if is_timestamp(c.type) and not c.nullable and not _ROW_TIME.search(c.name)]
        if not ts_cols:
            continue
        ts_col = ts_cols[0]
        cands = [c for c in ta.columns if c.name != ts_col.name and c.kind in ("base", "enum", "domain")
                 and not is_timestamp(c.type) and _base(c.type) not in ("real", "double precision", "json",
                                                                        "jsonb", "bytea", "numeric")]
        if not cands:
            continue
        table = sql.SQL("{}.{}").format(sql.Identifier(ta.schema), sql.Identifier(ta.name))
        parts: list[sql.Composable] = [sql.SQL("count(*)")]
        for c in cands:
            parts.append(sql.SQL("count(DISTINCT {c}), count(*) - count({c})").format(c=sql.Identifier(c.name)))
        row = (await svc.query(sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(parts), table))).rows[0]
        total = int(row[0])
        if total == 0:
            continue
        scored = []
        for i, c in enumerate(cands):
            distinct, nulls = int(row[1 + 2 * i]), int(row[2 + 2 * i])
            if distinct == 0 or nulls or distinct >= total:
                continue
            named = bool(_ID_NAME.search(c.name))
            if (named and distinct * 2 <= total) or distinct * 10 <= total:
                strong = bool(re.search(r"device|meter|sensor", c.name, re.IGNORECASE))
                scored.append((0 if strong else 1 if named else 2, distinct, c, distinct))
        if not scored:
            continue
        scored.sort(key=lambda s: (s[0], s[1]))
        _, _, idc, devices = scored[0]
        # KWDB tags take no TIMESTAMP ("unsupported tag type timestamp"): those stay data columns
        others = [c for c in ta.columns if c.name not in (ts_col.name, idc.name)
                  and c.kind in ("base", "enum", "domain") and not is_timestamp(c.type)]
        attrs: list[str] = []
        # KWDB keeps one row per (timestamp, primary tag): a table where that pair repeats would lose rows
        dep = [sql.SQL("count(DISTINCT ({ts}::text, {id}::text))").format(
            ts=sql.Identifier(ts_col.name), id=sql.Identifier(idc.name))]
        dep += [sql.SQL("count(DISTINCT ({id}::text, {c}::text))").format(
            id=sql.Identifier(idc.name), c=sql.Identifier(c.name)) for c in others]
        drow = (await svc.query(sql.SQL("SELECT {} FROM {}").format(sql.SQL(", ").join(dep), table))).rows[0]
        if int(drow[0]) != total:
            continue
        attrs = [c.name for c, n in zip(others, drow[1:], strict=True) if int(n) == devices]
        if total / devices < 2:
            attrs = []  # one row per device: every column looks dependent; measure again with more data
        tags = [idc.name, *attrs][:MAX_TAGS]
        data = [c.name for c in ta.columns if c.name != ts_col.name and c.name not in tags]
        out.append(TsSuggestion(
            ta.qualified, ts_col.name, idc.name, tags, data, devices, total,
            f"{ts_col.name} is a NOT NULL {ts_col.type}; {idc.name} has {devices:,} distinct values in "
            f"{total:,} rows" + (f"; {', '.join(attrs)} depend on {idc.name} only" if attrs else "")))
    assessment.ts_suggestions = out
    return out


# -- strategy ---------------------------------------------------------------------------------


def order_tables(assessment: Assessment) -> tuple[list[TableAssessment], list[str]]:
    """Parents before children (topological by foreign keys; self references ignored).

    Returns (order, warnings); tables on a reference cycle go last, in name order, with a warning.
    """
    tables = {t.qualified: t for t in assessment.tables}
    deps = {q: {fk.ref_table for fk in t.foreign_keys if fk.ref_table in tables and fk.ref_table != q}
            for q, t in tables.items()}
    done: list[str] = []
    placed: set[str] = set()
    while len(done) < len(tables):
        ready = sorted(q for q in tables if q not in placed and deps[q] <= placed)
        if not ready:
            cycle = sorted(q for q in tables if q not in placed)
            done += cycle
            return [tables[q] for q in done], [f"foreign keys form a cycle among {', '.join(cycle)}: "
                                               "load them with the foreign keys added afterwards"]
        done += ready
        placed.update(ready)
    return [tables[q] for q in done], []


DEPLOYMENTS = ("single node", "single-replica", "multi-replica")


def strategy(assessment: Assessment, target_kind: str, *, cores: int = 4, deployment: str | None = None,
             via_import: str = "never") -> tuple[list[TablePlanChoice], list[str]]:
    """Per table: streamed or native IMPORT, workers, chunk_rows, batch_rows and thread_concurrency, with reasons.

    ``cores`` are the cores of the machine kwtui runs on (streamed workers); ``deployment`` is the
    target's (single node, single-replica, multi-replica): a multi-replica cluster writes every row
    to three nodes, so it gets smaller batches and a lower IMPORT concurrency per node.
    """
    ordered, warnings = order_tables(assessment)
    out = []
    multi = deployment == "multi-replica"
    for ta in ordered:
        rows = ta.rows
        size = ta.bytes or 0
        ts = target_kind == "kwdb-ts" or ta.is_ts
        if target_kind.startswith("kwdb") and size > 1 << 30:
            method, why = "native IMPORT", f"{size / 1e9:.1f} GB: server-side IMPORT of exported files is fastest"
        else:
            method, why = "streamed", ("small enough to stream (under 1 GB)" if size <= 1 << 30
                                       else "target is PostgreSQL: COPY is its fastest path")
        workers = 1 if rows < 200_000 else min(max(1, cores), 8)
        chunk_rows = 100_000 if rows <= 100_000 else max(10_000, min(100_000, math.ceil(rows / (workers * 8))))
        ncols = max(1, len(ta.columns))
        batch_rows = min(1000 if ts else 500, 65535 // ncols)
        if multi:
            batch_rows = max(100, batch_rows // 2)
        # KWDB clamps a TS import to 2 x CPU; a relational import gains little past the core count
        tc_cap = 2 * max(1, cores) if ts else max(1, cores)
        thread_concurrency = 1 if rows < 100_000 else max(1, min(tc_cap, 8 if not multi else 4))
        reason = (f"{rows:,} rows, {size / 1e6:.1f} MB: {why}; {workers} worker(s)"
                  + (" (under 200,000 rows one worker is enough)" if workers == 1 and rows < 200_000 else
                     f" (one per core of {cores}, at most 8)" if workers > 1 else "")
                  + ("; TS: multi-row INSERT of rows sorted by timestamp (KWDB writes in time order fastest)"
                     if ts else "")
                  + (f"; thread_concurrency {thread_concurrency}"
                     + (" (multi-replica: each row written 3 times, kept low)" if multi else
                        " (TS clamps to 2 x CPU)" if ts else "") if method == "native IMPORT" else "")
                  + ("; batches halved for a multi-replica cluster" if multi else "")
                  + ("; indexes and foreign keys after the load" if ta.foreign_keys or len(ta.indexes) > 1 else ""))
        choice = TablePlanChoice(ta.qualified, method, workers, chunk_rows, batch_rows, reason, thread_concurrency)
        ts_table = ta.is_ts or target_kind == "kwdb-ts" and (
            assessment.suggestion(ta.qualified) is not None or not assessment.ts_suggestions)
        _choose_via_import(choice, ta, target_kind, via_import, multi, ts_table)
        out.append(choice)
    return out, warnings


def _choose_via_import(choice: TablePlanChoice, ta: TableAssessment, target_kind: str, mode: str,
                       multi: bool, ts: bool) -> None:
    """PostgreSQL -> KWDB: let KWDB's IMPORT pull the rows (``mode`` auto: from VIA_IMPORT_MIN_ROWS rows)."""
    if mode == "never" or not target_kind.startswith("kwdb") or choice.method != "streamed":
        return
    rows = ta.rows
    if mode == "auto" and (rows < VIA_IMPORT_MIN_ROWS or ts):
        # under VIA_IMPORT_MIN_ROWS rows the IMPORT job's start-up outweighs its speed; a TS table measured no
        # gain (the demo's 1,000,000 readings, 1,000 meters: 72 s pulled vs 75 s streamed): asked for only
        return
    choice.method = VIA_IMPORT
    choice.thread_concurrency = 1 if ts else max(1, min(choice.workers, 4))
    choice.reason = (f"{rows:,} rows: KWDB's IMPORT pulls them from kwtui over HTTP "
                     + ("(asked for)" if mode == "always" else f"(from {VIA_IMPORT_MIN_ROWS:,} rows: bench/bench_kwdb.py "
                        "measured it several times the streamed rows/s)")
                     + "; the target table must be empty (a relational IMPORT loads all or nothing; a re-run "
                     "skips tables already loaded and refuses a table holding rows)"
                     + ("; TS: rows sorted by time, one IMPORT thread" if ts
                        else f"; thread_concurrency {choice.thread_concurrency}")
                     + ("; multi-replica target" if multi else ""))


# -- report -----------------------------------------------------------------------------------


def render_markdown(assessment: Assessment, translation: Translation | None,
                    choices: Sequence[TablePlanChoice] = ()) -> str:
    lines = [f"# Migration plan: {assessment.database or 'source'} ({assessment.server_kind})", ""]
    lines += ["## Tables", "", "| table | kind | rows | MB | columns | PK | FKs | indexes | sequences | complexity |",
              "|---|---|---:|---:|---:|---|---:|---:|---|---:|"]
    for t in assessment.tables:
        lines.append(f"| {t.qualified} | {t.kind} | {t.rows:,} | {(t.bytes or 0) / 1e6:.2f} | {len(t.columns)} | "
                     f"{', '.join(t.primary_key) or '-'} | {len(t.foreign_keys)} | {len(t.indexes)} | "
                     f"{'; '.join(t.sequences) or '-'} | {t.complexity} |")
    lines += ["", "## Findings", ""]
    if not assessment.findings:
        lines.append("None: every object carries over as it is.")
    for f in assessment.findings:
        lines.append(f"- **{f.construct}** {f.table or '(database)'}: {f.detail}. *Advice:* {f.advice}")
    never = [t.qualified for t in assessment.tables if t.exact_rows is None and t.est_rows is None]
    if never:
        lines += ["", f"Rows 0 is an estimate: {', '.join(never)} never analysed (ANALYZE the source, or --exact)."]
    if assessment.inventory is not None:
        from kwtui.inventory import render_markdown as inventory_markdown

        lines += ["", inventory_markdown(assessment.inventory).rstrip()]
    if assessment.ts_suggestions:
        lines += ["", "## Time-series suggestions", ""]
        for s in assessment.ts_suggestions:
            lines.append(f"- {s.table}: timestamp `{s.timestamp}`, primary tag `{s.primary_tag}`, tags "
                         f"{', '.join(s.tags)}, data {', '.join(s.data_columns) or '-'}; {s.devices:,} devices, "
                         f"{s.rows_per_device:,.1f} rows per device ({s.reason})")
    if choices:
        lines += ["", "## Strategy", "", "| order | table | method | workers | chunk_rows | batch_rows | reason |",
                  "|---:|---|---|---:|---:|---:|---|"]
        for i, c in enumerate(choices, 1):
            lines.append(f"| {i} | {c.table} | {c.method} | {c.workers} | {c.chunk_rows:,} | {c.batch_rows} | "
                         f"{c.reason} |")
    if translation is not None:
        lines += ["", f"## DDL ({translation.target_kind})", ""]
        if translation.warnings:
            lines += [f"- {w}" for w in translation.warnings] + [""]
        lines += ["```sql", translation.script().rstrip(), "```"]
    return "\n".join(lines) + "\n"


__all__ = [
    "Finding", "ColumnInfo", "ForeignKey", "TableAssessment", "TsSuggestion", "Assessment", "Translation",
    "TableDdl", "TablePlanChoice", "assess", "translate_ddl", "suggest_ts", "order_tables", "strategy",
    "render_markdown", "complexity", "TARGET_KINDS", "ColumnMap", "column_mapping", "set_ts_role", "ts_roles",
    "assessment_from_dict", "DEPLOYMENTS", "ROLES", "VIA_IMPORT", "VIA_IMPORT_MIN_ROWS",
]
