from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import sql

from kwtui.catalog import (
    BASE,
    FOREIGN,
    MATVIEW,
    PARTITIONED,
    RELATIONAL,
    VIEW,
    Column,
    Database,
    Index,
    Schema,
    Table,
    TableDetail,
)
from kwtui.dialects.base import Capabilities

_KINDS = {"r": BASE, "p": PARTITIONED, "v": VIEW, "m": MATVIEW, "f": FOREIGN}

_SCHEMAS = sql.SQL("""
SELECT n.nspname,
       (SELECT count(*) FROM pg_class c
         WHERE c.relnamespace = n.oid AND c.relkind IN ('r','p','v','m','f') AND NOT c.relispartition)
FROM pg_namespace n
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
ORDER BY n.nspname
""")

_TABLES = sql.SQL("""
SELECT c.relname, c.relkind,
       CASE WHEN c.reltuples < 0 THEN NULL ELSE c.reltuples::bigint END,
       CASE WHEN c.relkind IN ('r','m') THEN pg_total_relation_size(c.oid)
            WHEN c.relkind = 'p' THEN (SELECT COALESCE(sum(pg_total_relation_size(t.relid)), 0)::bigint
                                       FROM pg_partition_tree(c.oid) t WHERE t.isleaf) END,
       obj_description(c.oid, 'pg_class')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relkind IN ('r','p','v','m','f') AND NOT c.relispartition
ORDER BY c.relname
""")

_COLUMNS = sql.SQL("""
SELECT a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid),
       COALESCE(a.attnum = ANY (pk.conkey), false),
       col_description(a.attrelid, a.attnum),
       a.attidentity, a.attgenerated
FROM pg_attribute a
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
LEFT JOIN pg_constraint pk ON pk.conrelid = a.attrelid AND pk.contype = 'p'
WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
""")

_INDEXES = sql.SQL("""
SELECT i.relname, ix.indisunique, ix.indisprimary, pg_get_indexdef(ix.indexrelid),
       ARRAY(SELECT pg_get_indexdef(ix.indexrelid, k, true) FROM generate_series(1, ix.indnkeyatts) AS k ORDER BY k)
FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid
WHERE ix.indrelid = %s::regclass
ORDER BY ix.indisprimary DESC, i.relname
""")

_CONSTRAINTS = sql.SQL("""
SELECT conname, contype, pg_get_constraintdef(oid, true)
FROM pg_constraint WHERE conrelid = %s::regclass AND contype IN ('p','u','f','c','x')
ORDER BY CASE contype WHEN 'p' THEN 0 WHEN 'u' THEN 1 WHEN 'c' THEN 2 WHEN 'f' THEN 3 ELSE 4 END, conname
""")

_VIEWDEF = sql.SQL("SELECT pg_get_viewdef(%s::regclass, true)")

_PARTKEY = sql.SQL("SELECT pg_get_partkeydef(%s::regclass)")


def regclass(table: Table) -> str:
    """A schema-qualified, quoted name for a ::regclass parameter."""
    def q(s: str) -> str:
        return '"' + s.replace('"', '""') + '"'
    return f"{q(table.schema)}.{q(table.name)}"


class PostgresDialect:
    kind = "postgres"
    label = "PostgreSQL"
    default_port = 5432
    caps = Capabilities(
        copy_from_stdin=True,
        copy_to_stdout=True,
        server_cursors=True,
        time_series=False,
        native_import_export=False,
        upsert=False,
        on_conflict=True,
        read_only_transactions=True,
    )
    one_database_per_connection = True

    def list_databases_query(self) -> sql.SQL:
        return sql.SQL(
            "SELECT d.datname,"
            " CASE WHEN has_database_privilege(d.oid, 'CONNECT') THEN pg_database_size(d.oid) END,"
            " shobj_description(d.oid, 'pg_database')"
            " FROM pg_database d WHERE NOT d.datistemplate AND d.datallowconn ORDER BY d.datname"
        )

    def parse_databases(self, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[Database]:
        return [Database(name=r[0], engine=RELATIONAL, size_bytes=r[1], comment=r[2]) for r in rows]

    async def list_schemas(self, svc: Any) -> list[Schema]:
        res = await svc.query(_SCHEMAS)
        return [Schema(r[0], int(r[1])) for r in res.rows]

    async def list_tables(self, svc: Any, schema: str, *, facts: bool = True) -> list[Table]:
        res = await svc.query(_TABLES, (schema,))
        return [Table(schema, r[0], _KINDS.get(r[1], BASE), r[2], r[3], r[4]) for r in res.rows]

    async def table_detail(self, svc: Any, table: Table, *, with_ddl: bool = True) -> TableDetail:
        rc = regclass(table)
        cols = await svc.query(_COLUMNS, (rc,))
        columns = []
        for name, typ, nullable, default, pk, comment, identity, generated in cols.rows:
            if identity:
                default = f"GENERATED {'ALWAYS' if identity == 'a' else 'BY DEFAULT'} AS IDENTITY"
            elif generated:
                default = f"GENERATED ALWAYS AS ({default}) {'VIRTUAL' if generated == 'v' else 'STORED'}"
            columns.append(Column(name, typ, bool(nullable), default, bool(pk), comment=comment))
        idx = await svc.query(_INDEXES, (rc,))
        indexes = [Index(r[0], tuple(r[4]), bool(r[1]), bool(r[2]), r[3]) for r in idx.rows]
        detail = TableDetail(table=table, columns=columns, indexes=indexes)
        if table.kind in (VIEW, MATVIEW):
            view = await svc.query(_VIEWDEF, (rc,))
            body = (view.rows[0][0] or "").rstrip().rstrip(";")
            word = "MATERIALIZED VIEW" if table.kind == MATVIEW else "VIEW"
            detail.ddl = f"CREATE {word} {rc} AS\n{body};"
        else:
            cons = await svc.query(_CONSTRAINTS, (rc,))
            partition_by = None
            if table.kind == PARTITIONED:
                partition_by = (await svc.query(_PARTKEY, (rc,))).rows[0][0]
            detail.ddl = postgres_ddl(table, columns, cons.rows, indexes, partition_by=partition_by)
        return detail

    def preview_query(self, table: Table, limit: int = 100) -> sql.Composed:
        return sql.SQL("SELECT * FROM {}.{} LIMIT {}").format(
            sql.Identifier(table.schema), sql.Identifier(table.name), sql.Literal(int(limit)))


# PostgreSQL's reserved and type/function-name keywords (pg_get_keywords() catcode R and T):
# such a name must be quoted where a column or table name goes
_RESERVED = frozenset("""
all analyse analyze and any array as asc asymmetric authorization binary both case cast check
collate collation column concurrently constraint create cross current_catalog current_date
current_role current_schema current_time current_timestamp current_user default deferrable desc
distinct do else end except false fetch for foreign freeze from full grant group having ilike in
initially inner intersect into is isnull join lateral leading left like limit localtime
localtimestamp natural not notnull null offset on only or order outer overlaps placing primary
references returning right select session_user similar some symmetric system_user table
tablesample then to trailing true union unique user using variadic verbose when where window with
""".split())


def _q(name: str) -> str:
    if name.isidentifier() and name == name.lower() and name.isascii() and name not in _RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


def postgres_ddl(table: Table, columns: list[Column], constraints: Sequence[Sequence[Any]],
                 indexes: list[Index], *, partition_by: str | None = None) -> str:
    """A readable CREATE TABLE from the catalog (columns, constraints, then other indexes, comments)."""
    lines = []
    for c in columns:
        line = f"    {_q(c.name)} {c.type}"
        if c.default:
            line += f" {c.default}" if c.default.startswith("GENERATED") else f" DEFAULT {c.default}"
        if not c.nullable:
            line += " NOT NULL"
        lines.append(line)
    for name, _contype, definition in constraints:
        lines.append(f"    CONSTRAINT {_q(name)} {definition}")
    word = "TABLE"
    qualified = f"{_q(table.schema)}.{_q(table.name)}"
    tail = f" PARTITION BY {partition_by}" if partition_by else ""
    ddl = f"CREATE {word} {qualified} (\n" + ",\n".join(lines) + f"\n){tail};"
    constraint_names = {r[0] for r in constraints}
    for ix in indexes:
        if ix.name not in constraint_names and ix.definition:
            ddl += f"\n{ix.definition};"
    if table.comment:
        ddl += f"\nCOMMENT ON TABLE {qualified} IS {_literal(table.comment)};"
    for c in columns:
        if c.comment:
            ddl += f"\nCOMMENT ON COLUMN {qualified}.{_q(c.name)} IS {_literal(c.comment)};"
    return ddl


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
