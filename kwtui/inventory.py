"""Every object a PostgreSQL source holds, and its fate on the chosen target kind.

:func:`read_inventory` reads the catalog (one query per kind, every name through
``quote_ident``/``pg_get_*def`` on the server): schemas, extensions, enum / composite /
range types, domains, sequences, functions, procedures, aggregates, tables, partitions,
columns (defaults, identity, generated, collation), constraints (primary key, unique,
check, exclusion, foreign key with its actions and deferrability), indexes (every access
method, partial, expression), views, materialized views, triggers, rules, policies,
comments, owners and grants. Each :class:`DbObject` carries the PostgreSQL statement that
re-creates it and its stage: ``pre`` (before the tables), ``table`` (inside its table's
CREATE), ``post`` (after the data).

:func:`assign_fates` gives every object its fate for a target kind: ``created`` as it is,
``translated`` (the translation is in the note) or ``refused`` (the reason and the manual
step). A refused object blocks ``kwtui run`` until the loss is accepted, per object or per
kind (:func:`unaccepted`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from psycopg import sql

from kwtui.names import TableName, pg_ident

CREATED, TRANSLATED, REFUSED = "created", "translated", "refused"
FATES = (CREATED, TRANSLATED, REFUSED)

#: kinds in the order the inventory lists them
KINDS = (
    "extension", "schema", "enum type", "composite type", "range type", "domain", "sequence", "sequence position", "function",
    "procedure", "aggregate", "table", "partitioned table", "partition", "column", "primary key",
    "unique constraint", "check constraint", "exclusion constraint", "foreign key", "index", "view",
    "materialized view", "trigger", "rule", "policy", "comment", "owner", "grant",
)
#: words --accept-loss takes for a family of kinds
FAMILIES = {
    "type": ("enum type", "composite type", "range type"),
    "constraint": ("primary key", "unique constraint", "check constraint", "exclusion constraint", "foreign key"),
    "function": ("function", "procedure", "aggregate"),
    "table": ("table", "partitioned table"),
}

#: the prefix every function statement runs with (bodies may name tables created later, as pg_dump does)
NO_BODY_CHECK = "SET check_function_bodies = false; "


@dataclass
class DbObject:
    kind: str
    name: str  # qualified display name: schema.object, schema.table.column, "index on schema.table", ...
    table: str = ""  # the table it belongs to (schema.table), "" for database-wide objects
    detail: str = ""  # what it is, in one line (its definition where short)
    create: str = ""  # the PostgreSQL statement(s) re-creating it ("" when its table's CREATE makes it)
    stage: str = "post"  # pre | table | post
    fate: str = ""
    note: str = ""  # the translation, or the reason and the manual step
    accepted: bool = False

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.name}"


@dataclass
class Inventory:
    database: str = ""
    target_kind: str = ""
    objects: list[DbObject] = field(default_factory=list)

    def of_kind(self, *kinds: str) -> list[DbObject]:
        return [o for o in self.objects if o.kind in kinds]

    def counts(self) -> dict[str, dict[str, int]]:
        """{kind: {fate: n}} in KINDS order."""
        out: dict[str, dict[str, int]] = {}
        for k in KINDS:
            objs = self.of_kind(k)
            if objs:
                out[k] = {f: sum(1 for o in objs if o.fate == f) for f in FATES}
                out[k]["total"] = len(objs)
        return out

    def refused(self) -> list[DbObject]:
        return [o for o in self.objects if o.fate == REFUSED]

    def statements(self, stage: str) -> list[str]:
        return [o.create for o in self.objects if o.stage == stage and o.create and o.fate != REFUSED]

    def as_dict(self) -> dict[str, Any]:
        return {"database": self.database, "target_kind": self.target_kind,
                "objects": [asdict(o) for o in self.objects]}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Inventory | None:
        if not data:
            return None
        fields_ = DbObject.__dataclass_fields__
        return cls(data.get("database", ""), data.get("target_kind", ""),
                   [DbObject(**{k: v for k, v in o.items() if k in fields_}) for o in data.get("objects", [])])


# -- reading the catalog ------------------------------------------------------------------------

_SYS = sql.SQL("('pg_catalog', 'information_schema', 'kwtui_journal')")


def _not_ext(cls: str, oid: str) -> sql.Composed:
    """An object made by an extension is the extension's (CREATE EXTENSION brings it back)."""
    return sql.SQL("NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = {}::regclass AND e.objid = {} "
                   "AND e.deptype = 'e')").format(sql.SQL(cls), sql.SQL(oid))


_PARTS = {"sys": _SYS, "ne_namespace": _not_ext("'pg_namespace'", "n.oid"), "ne_type": _not_ext("'pg_type'", "t.oid"),
          "ne_class": _not_ext("'pg_class'", "c.oid"), "ne_proc": _not_ext("'pg_proc'", "p.oid"),
          "ne_desc": _not_ext("d.classoid", "d.objoid")}


def _q(text: str) -> sql.Composed:
    """A catalog query: its {sys} and {ne_*} parts filled in (constant text, composed by psycopg)."""
    return sql.SQL(text).format(**{k: v for k, v in _PARTS.items() if "{" + k + "}" in text})


_SCHEMAS = _q("""
SELECT n.nspname, pg_get_userbyid(n.nspowner)
FROM pg_namespace n
WHERE n.nspname NOT IN {sys} AND n.nspname !~ '^pg_' AND {ne_namespace}
ORDER BY n.nspname""")

_EXTENSIONS = _q("""
SELECT e.extname, e.extversion, n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname <> 'plpgsql' ORDER BY e.extname""")

_TYPES = _q("""
SELECT n.nspname, t.typname, t.typtype,
       CASE t.typtype
         WHEN 'e' THEN (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
                        FROM pg_enum e WHERE e.enumtypid = t.oid)
         WHEN 'c' THEN (SELECT string_agg(quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod),
                                          ', ' ORDER BY a.attnum)
                        FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped)
         WHEN 'r' THEN (SELECT 'SUBTYPE = ' || format_type(r.rngsubtype, NULL) FROM pg_range r
                        WHERE r.rngtypid = t.oid)
         ELSE format_type(t.typbasetype, t.typtypmod) END,
       t.typnotnull, t.typdefault,
       (SELECT string_agg('CONSTRAINT ' || quote_ident(c.conname) || ' ' || pg_get_constraintdef(c.oid), ' '
                          ORDER BY c.conname)
        FROM pg_constraint c WHERE c.contypid = t.oid AND c.contype = 'c')
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE t.typtype IN ('e', 'c', 'r', 'd') AND n.nspname NOT IN {sys} AND n.nspname !~ '^pg_'
  AND (t.typtype <> 'c' OR (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c')
  AND {ne_type}
ORDER BY t.oid""")

_SEQUENCES = _q("""
SELECT n.nspname, c.relname, format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax,
       s.seqcache, s.seqcycle,
       CASE WHEN has_sequence_privilege(c.oid, 'SELECT') THEN pg_sequence_last_value(c.oid) END,
       (SELECT tn.nspname || '.' || tc.relname || '|' || a.attname || '|' || d.deptype::text
        FROM pg_depend d JOIN pg_class tc ON tc.oid = d.refobjid JOIN pg_namespace tn ON tn.oid = tc.relnamespace
        JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
        WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass
          AND d.deptype IN ('a', 'i') LIMIT 1)
FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT IN {sys} AND {ne_class}
ORDER BY c.oid""")

_FUNCTIONS = _q("""
SELECT n.nspname, p.proname, p.prokind, pg_get_function_identity_arguments(p.oid),
       CASE WHEN p.prokind <> 'a' THEN pg_get_functiondef(p.oid) END,
       EXISTS (SELECT 1 FROM pg_type t JOIN pg_class r ON r.oid = t.typrelid
               WHERE r.relkind IN ('r', 'p', 'v', 'm', 'f')
                 AND (t.oid = p.prorettype OR t.oid = ANY (p.proargtypes::oid[])
                      OR t.oid = ANY (coalesce(p.proallargtypes, '{{}}'::oid[])))),
       l.lanname
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang
WHERE n.nspname NOT IN {sys} AND n.nspname !~ '^pg_' AND {ne_proc}
  AND NOT EXISTS (SELECT 1 FROM pg_depend i WHERE i.classid = 'pg_proc'::regclass AND i.objid = p.oid
                  AND i.deptype = 'i')
ORDER BY p.oid""")

_AGGREGATES = _q("""
SELECT n.nspname, p.proname, pg_get_function_identity_arguments(p.oid),
       a.aggtransfn::regproc::text, format_type(a.aggtranstype, NULL),
       CASE WHEN a.aggfinalfn <> 0 THEN a.aggfinalfn::regproc::text END,
       CASE WHEN a.aggcombinefn <> 0 THEN a.aggcombinefn::regproc::text END,
       a.agginitval, a.aggkind,
       (SELECT bool_or(sp.prokind = 'f' AND sp.oid IN (a.aggtransfn, a.aggfinalfn)
                       AND sn.nspname NOT IN {sys})
        FROM pg_proc sp JOIN pg_namespace sn ON sn.oid = sp.pronamespace)
FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname NOT IN {sys} AND n.nspname !~ '^pg_' AND {ne_proc}
ORDER BY p.oid""")

_RELATIONS = _q("""
SELECT c.oid, n.nspname, c.relname, c.relkind, c.relispartition,
       CASE WHEN c.relispartition THEN (SELECT pn.nspname || '.' || pc.relname FROM pg_inherits i
            JOIN pg_class pc ON pc.oid = i.inhparent JOIN pg_namespace pn ON pn.oid = pc.relnamespace
            WHERE i.inhrelid = c.oid) END,
       CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END,
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END,
       CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END,
       c.relispopulated, c.relrowsecurity, c.relforcerowsecurity, pg_get_userbyid(c.relowner),
       c.relpersistence
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm') AND n.nspname NOT IN {sys} AND n.nspname !~ '^pg_'
  AND {ne_class}
ORDER BY c.oid""")

_COLUMNS = _q("""
SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated,
       CASE WHEN a.attcollation <> t.typcollation AND a.attcollation <> 0
            THEN (SELECT quote_ident(cn.nspname) || '.' || quote_ident(co.collname) FROM pg_collation co
                  JOIN pg_namespace cn ON cn.oid = co.collnamespace WHERE co.oid = a.attcollation) END,
       a.attislocal
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = ANY (%s) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum""")

_CONSTRAINTS = _q("""
SELECT c.conrelid, c.conname, c.contype, pg_get_constraintdef(c.oid), c.conislocal
FROM pg_constraint c
WHERE c.conrelid = ANY (%s) AND c.contype IN ('p', 'u', 'c', 'x', 'f') AND c.conparentid = 0
ORDER BY c.conrelid, CASE c.contype WHEN 'p' THEN 0 WHEN 'u' THEN 1 WHEN 'c' THEN 2 WHEN 'x' THEN 3 ELSE 4 END,
         c.conname""")

_INDEXES = _q("""
SELECT ix.indrelid, i.relname, pg_get_indexdef(ix.indexrelid), am.amname, ix.indisunique,
       ix.indpred IS NOT NULL, ix.indexprs IS NOT NULL
FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid JOIN pg_am am ON am.oid = i.relam
WHERE ix.indrelid = ANY (%s)
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = ix.indexrelid AND c.contype IN ('p', 'u', 'x'))
  AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = ix.indexrelid)
ORDER BY ix.indrelid, i.relname""")

_VIEW_DEPS = _q("""
SELECT DISTINCT r.ev_class, d.refobjid FROM pg_rewrite r
JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid AND d.refclassid = 'pg_class'::regclass
WHERE d.refobjid <> r.ev_class AND r.ev_class = ANY (%s)""")

_TRIGGERS = _q("""
SELECT t.tgrelid, t.tgname, pg_get_triggerdef(t.oid), t.tgenabled
FROM pg_trigger t WHERE t.tgrelid = ANY (%s) AND NOT t.tgisinternal AND t.tgparentid = 0
ORDER BY t.tgrelid, t.tgname""")

_RULES = _q("""
SELECT r.ev_class, r.rulename, pg_get_ruledef(r.oid) FROM pg_rewrite r
WHERE r.ev_class = ANY (%s) AND r.rulename <> '_RETURN' ORDER BY r.ev_class, r.rulename""")

_POLICIES = _q("""
SELECT p.polrelid, p.polname, p.polpermissive,
       CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE'
                     ELSE 'ALL' END,
       CASE WHEN p.polroles = '{{0}}' THEN 'PUBLIC'
            ELSE (SELECT string_agg(quote_ident(rolname), ', ' ORDER BY rolname) FROM pg_roles
                  WHERE oid = ANY (p.polroles)) END,
       pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)
FROM pg_policy p WHERE p.polrelid = ANY (%s) ORDER BY p.polrelid, p.polname""")

_COMMENTS = _q("""
SELECT o.type, o.identity, d.description, d.classoid::regclass::text, d.objoid, d.objsubid
FROM pg_description d, LATERAL pg_identify_object(d.classoid, d.objoid, d.objsubid) o
WHERE d.classoid IN ('pg_class'::regclass, 'pg_proc'::regclass, 'pg_type'::regclass,
                     'pg_namespace'::regclass, 'pg_constraint'::regclass, 'pg_trigger'::regclass,
                     'pg_policy'::regclass, 'pg_rewrite'::regclass)
  AND coalesce(o.schema, '') NOT IN {sys} AND coalesce(o.schema, '') !~ '^pg_'
  AND NOT (o.type = 'schema' AND (o.identity IN {sys} OR o.identity ~ '^pg_'))
  AND {ne_desc}
ORDER BY o.type, o.identity""")

_ACLS = _q("""
SELECT kind, identity, owner, acl FROM (
  SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
              ELSE 'TABLE' END AS kind,
         quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS identity,
         pg_get_userbyid(c.relowner) AS owner, c.relacl AS acl, n.nspname AS nsp, c.oid AS oid,
         'pg_class' AS cls
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S') AND NOT c.relispartition
  UNION ALL
  SELECT CASE p.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END,
         quote_ident(n.nspname) || '.' || quote_ident(p.proname) || '(' ||
         pg_get_function_identity_arguments(p.oid) || ')', pg_get_userbyid(p.proowner), p.proacl, n.nspname, p.oid,
         'pg_proc'
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
  UNION ALL
  SELECT CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END,
         quote_ident(n.nspname) || '.' || quote_ident(t.typname), pg_get_userbyid(t.typowner), t.typacl,
         n.nspname, t.oid, 'pg_type'
  FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
  WHERE t.typtype IN ('e', 'r', 'd') OR (t.typtype = 'c' AND
        (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c')
  UNION ALL
  SELECT 'SCHEMA', quote_ident(n.nspname), pg_get_userbyid(n.nspowner), n.nspacl, n.nspname, n.oid, 'pg_namespace'
  FROM pg_namespace n
) x
WHERE nsp NOT IN {sys} AND nsp !~ '^pg_'
  AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = cls::regclass AND e.objid = x.oid
                  AND e.deptype IN ('e', 'i'))
ORDER BY kind, identity""")

_ACL_ITEMS = _q("""
SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
       a.privilege_type, a.is_grantable, pg_get_userbyid(a.grantee)
FROM aclexplode(%s::aclitem[]) a ORDER BY 1, 2""")

_ME = _q("SELECT current_user")


def _qn(schema: str, name: str) -> str:
    return f"{pg_ident(schema)}.{pg_ident(name)}"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _topo(items: Sequence[int], deps: dict[int, set[int]]) -> list[int]:
    """Items in an order where each comes after what it depends on (ties keep the input order)."""
    placed: list[int] = []
    seen: set[int] = set()
    pending = list(items)
    while pending:
        progress = False
        for i in list(pending):
            if deps.get(i, set()) & set(pending) - {i}:
                continue
            placed.append(i)
            seen.add(i)
            pending.remove(i)
            progress = True
        if not progress:  # a cycle (cannot happen for views): keep the rest in input order
            placed += pending
            break
    return placed


async def read_inventory(svc: Any, tables: Iterable[str] | None = None) -> Inventory:
    """The inventory of a PostgreSQL source (``tables``: only these ``schema.table`` and their objects).

    Read in one read-only transaction with ``search_path`` set to ``pg_catalog`` alone, so every
    definition the server prints names its objects with their schema (as pg_dump does).
    """
    assert svc.info is not None
    conn = await svc.open_raw()
    try:
        await conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        await conn.execute("SET LOCAL search_path = pg_catalog")

        async def rows(query: sql.Composable, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
            cur = await conn.execute(query, params)
            return list(await cur.fetchall())

        return await _read(svc, rows, tables)
    finally:
        await conn.rollback()
        await conn.close()


async def _read(svc: Any, rows: Any, tables: Iterable[str] | None) -> Inventory:
    inv = Inventory(svc.info.database)
    add = inv.objects.append
    wanted = {str(TableName.parse(t)) for t in tables} if tables else None
    me = str((await rows(_ME))[0][0])

    for name, version, schema in (await rows(_EXTENSIONS)):
        add(DbObject("extension", name, detail=f"{name} {version} in schema {schema}", stage="pre",
                     create=f"CREATE EXTENSION IF NOT EXISTS {pg_ident(name)} WITH SCHEMA {pg_ident(schema)};"))
    for name, _owner in (await rows(_SCHEMAS)):
        add(DbObject("schema", name, detail="schema", stage="pre",
                     create=f"CREATE SCHEMA IF NOT EXISTS {pg_ident(name)};"))

    for schema, name, typtype, body, notnull, default, checks in (await rows(_TYPES)):
        qn = _qn(schema, name)
        if typtype == "e":
            add(DbObject("enum type", f"{schema}.{name}", detail=f"ENUM ({body})", stage="pre",
                         create=f"CREATE TYPE {qn} AS ENUM ({body});"))
        elif typtype == "c":
            add(DbObject("composite type", f"{schema}.{name}", detail=f"({body})", stage="pre",
                         create=f"CREATE TYPE {qn} AS ({body});"))
        elif typtype == "r":
            add(DbObject("range type", f"{schema}.{name}", detail=f"RANGE ({body})", stage="pre",
                         create=f"CREATE TYPE {qn} AS RANGE ({body});"))
        else:
            text = f"{body}" + (f" DEFAULT {default}" if default else "") + (" NOT NULL" if notnull else "") \
                + (f" {checks}" if checks else "")
            add(DbObject("domain", f"{schema}.{name}", detail=text, stage="pre",
                         create=f"CREATE DOMAIN {qn} AS {text};"))

    rels = (await rows(_RELATIONS))
    by_oid: dict[int, tuple[str, str, str]] = {}  # oid -> (qualified, kind, owning table)
    table_oids: list[int] = []
    schema_of: dict[int, str] = {}
    for oid, schema, name, relkind, is_part, parent, _bound, _key, _vdef, *_rest in rels:
        q = f"{schema}.{name}"
        owner = parent if is_part else q
        if relkind in ("r", "p") and wanted is not None and owner not in wanted:
            continue
        by_oid[int(oid)] = (q, relkind, owner)
        schema_of[int(oid)] = schema
        if relkind in ("r", "p"):
            table_oids.append(int(oid))
    oids = list(by_oid)

    # sequences: serial ones (owned by a column) are made before the tables, owned and moved after
    for (schema, name, typ, start, inc, smin, smax, cache, cycle, last, owned) in (await rows(_SEQUENCES)):
        q = f"{schema}.{name}"
        owner_table, owner_col, deptype = (owned.split("|") + ["", "", ""])[:3] if owned else ("", "", "")
        if wanted is not None and owner_table and owner_table not in wanted:
            continue
        qn = _qn(schema, name)
        move = (f"SELECT setval({_literal(qn)}, {int(last)}, true);" if last is not None else "")
        at = f", at {last}" if last is not None else ""
        if deptype == "i":  # an identity column's sequence: the column makes it; the position still moves
            add(DbObject("sequence", q, owner_table, f"identity of {owner_table}.{owner_col}", stage="table"))
            add(DbObject("sequence position", q, owner_table, f"after the load{at}", move, "post"))
            continue
        text = (f"AS {typ} START {start} INCREMENT {inc} MINVALUE {smin} MAXVALUE {smax} CACHE {cache}"
                + (" CYCLE" if cycle else ""))
        stmts = [f"CREATE SEQUENCE IF NOT EXISTS {qn} {text};"]
        post = []
        if owner_table:
            ot = TableName.parse(owner_table)
            post.append(f"ALTER SEQUENCE {qn} OWNED BY {ot.pg()}.{pg_ident(owner_col)};")
        if move:
            post.append(move)
        add(DbObject("sequence", q, owner_table, (f"serial of {owner_table}.{owner_col}, " if owner_table else "")
                     + text, " ".join(stmts), "pre"))
        if post:  # owned by (once the table exists) and the position: after the data
            add(DbObject("sequence position", q, owner_table, ("OWNED BY, " if owner_table else "")
                         + f"after the load{at}", " ".join(post), "post"))

    funcs = (await rows(_FUNCTIONS))
    post_funcs: set[str] = set()
    for schema, name, prokind, args, definition, uses_rowtype, lang in funcs:
        if prokind == "a":
            continue
        kind = "procedure" if prokind == "p" else "function"
        ident = f"{schema}.{name}({args})"
        stage = "post" if uses_rowtype else "pre"
        if stage == "post":
            post_funcs.add(f"{schema}.{name}")
        add(DbObject(kind, ident, detail=f"LANGUAGE {lang}" + (" (uses a table's row type: made after the tables)"
                                                                if uses_rowtype else ""),
                     create=NO_BODY_CHECK + str(definition).rstrip().rstrip(";") + ";", stage=stage))
    for (schema, name, args, sfunc, stype, ffunc, cfunc, init, aggkind, _own) in (await rows(_AGGREGATES)):
        parts = [f"SFUNC = {sfunc}", f"STYPE = {stype}"]
        if ffunc:
            parts.append(f"FINALFUNC = {ffunc}")
        if cfunc:
            parts.append(f"COMBINEFUNC = {cfunc}")
        if init is not None:
            parts.append(f"INITCOND = {_literal(str(init))}")
        ident = f"{schema}.{name}({args})"
        support = {str(sfunc).split("(")[0], str(ffunc or "").split("(")[0]}
        stage = "post" if any(s in post_funcs or f"public.{s}" in post_funcs for s in support) else "pre"
        add(DbObject("aggregate", ident, detail=", ".join(parts) + ("" if aggkind == "n" else " (ordered-set)"),
                     create=f"CREATE AGGREGATE {_qn(schema, name)}({args}) ({', '.join(parts)});", stage=stage))

    cols: dict[int, list[tuple[Any, ...]]] = {}
    for row in (await rows(_COLUMNS, (table_oids,))) if table_oids else []:
        cols.setdefault(int(row[0]), []).append(row[1:])
    cons: dict[int, list[tuple[Any, ...]]] = {}
    for row in (await rows(_CONSTRAINTS, (table_oids,))) if table_oids else []:
        cons.setdefault(int(row[0]), []).append(row[1:])

    views: list[int] = []
    for oid, schema, name, relkind, is_part, parent, bound, key, _vdef, _pop, rls, force, _owner, persist in rels:
        oid = int(oid)
        if oid not in by_oid:
            continue
        q = f"{schema}.{name}"
        qn = _qn(schema, name)
        if relkind in ("v", "m"):
            views.append(oid)
            continue
        lines: list[str] = []
        for cname, typ, notnull, default, identity, generated, collation, local in cols.get(oid, []):
            parts = [pg_ident(cname), typ]
            if collation:
                parts.append(f"COLLATE {collation}")
            if generated:
                parts.append(f"GENERATED ALWAYS AS ({default}) {'STORED' if generated == 's' else 'VIRTUAL'}")
            elif identity:
                parts.append(f"GENERATED {'ALWAYS' if identity == 'a' else 'BY DEFAULT'} AS IDENTITY")
            elif default is not None:
                parts.append(f"DEFAULT {default}")
            if notnull:
                parts.append("NOT NULL")
            if is_part and not local:
                continue  # the parent's column
            lines.append("    " + " ".join(parts))
            what = ("generated " if generated else "identity " if identity else "") + typ \
                + (f" {parts[2]}" if collation else "") + (f" DEFAULT {default}" if default and not generated else "") \
                + (" NOT NULL" if notnull else "")
            add(DbObject("column", f"{q}.{cname}", by_oid[oid][2], what, stage="table"))
        for cname, contype, definition, local in cons.get(oid, []):
            if not local:
                continue
            kind = {"p": "primary key", "u": "unique constraint", "c": "check constraint",
                    "x": "exclusion constraint", "f": "foreign key"}[contype]
            text = f"CONSTRAINT {pg_ident(cname)} {definition}"
            if is_part:
                definition = f"{definition} (on partition {q})"
            if contype == "f":
                add(DbObject(kind, f"{q}.{cname}", by_oid[oid][2], definition,
                             f"ALTER TABLE {qn} ADD {text};", "post"))
            else:
                lines.append(f"    {text}")
                add(DbObject(kind, f"{q}.{cname}", by_oid[oid][2], definition, stage="table"))
        unlogged = "UNLOGGED " if persist == "u" else ""
        if is_part:
            pt = TableName.parse(parent)
            body = " (\n" + ",\n".join(lines) + "\n)" if lines else ""
            create = f"CREATE {unlogged}TABLE {qn} PARTITION OF {pt.pg()}{body} {bound}" \
                + (f" PARTITION BY {key}" if key else "") + ";"
            add(DbObject("partition", q, parent, f"of {parent} {bound}", create, "table"))
        else:
            create = f"CREATE {unlogged}TABLE {qn} (\n" + ",\n".join(lines) + "\n)" \
                + (f" PARTITION BY {key}" if key else "") + ";"
            add(DbObject("partitioned table" if relkind == "p" else "table", q, q,
                         f"PARTITION BY {key}" if key else "table", create, "table"))
        if rls or force:
            stmts = [f"ALTER TABLE {qn} ENABLE ROW LEVEL SECURITY;"] + (
                [f"ALTER TABLE {qn} FORCE ROW LEVEL SECURITY;"] if force else [])
            add(DbObject("policy", f"{q} (row level security)", by_oid[oid][2],
                         "row level security enabled" + (", forced" if force else ""), " ".join(stmts), "post"))

    if oids:
        for relid, name, definition, am, unique, partial, expr in (await rows(_INDEXES, (oids,))):
            q, relkind, owner = by_oid[int(relid)]
            flags = [am] + (["unique"] if unique else []) + (["partial"] if partial else []) \
                + (["expression"] if expr else []) + (["on partition " + q] if q != owner else [])
            # a partitioned table's index reads ON ONLY (pg_dump attaches each partition's own); without
            # ONLY, PostgreSQL makes the partitions' indexes itself
            stmt = str(definition).replace(" ON ONLY ", " ON ", 1) if relkind == "p" else str(definition)
            add(DbObject("index", f"{schema_of[int(relid)]}.{name}", owner, f"{', '.join(flags)}: {definition}",
                         f"{stmt};", "post"))

    deps: dict[int, set[int]] = {}
    if views:
        for ev, ref in (await rows(_VIEW_DEPS, (views,))):
            deps.setdefault(int(ev), set()).add(int(ref))
    rel_rows = {int(r[0]): r for r in rels}
    view_objects = []
    for oid in _topo(views, deps):
        _, schema, name, relkind, _p, _par, _b, _k, vdef, populated, *_ = rel_rows[oid]
        qn = _qn(schema, name)
        body = str(vdef).rstrip().rstrip(";")
        if relkind == "m":
            obj = DbObject("materialized view", f"{schema}.{name}", detail="populated" if populated else "not populated",
                           create=f"CREATE MATERIALIZED VIEW {qn} AS\n{body}\nWITH {'' if populated else 'NO '}DATA;")
        else:
            obj = DbObject("view", f"{schema}.{name}", detail=" ".join(body.split())[:200],
                           create=f"CREATE VIEW {qn} AS\n{body};")
        view_objects.append(obj)
    # views and materialized views come before their indexes: move the index objects after them
    idx_on_views = [o for o in inv.objects if o.kind == "index" and o.table in {v.name for v in view_objects}]
    inv.objects[:] = [o for o in inv.objects if o not in idx_on_views] + view_objects + idx_on_views

    if oids:
        for relid, name, definition, enabled in (await rows(_TRIGGERS, (oids,))):
            q, _, owner = by_oid[int(relid)]
            # made disabled: the catch-up syncs write like a replica; the cutover enables it (cutover_statements)
            stmt = f"{definition}; ALTER TABLE {TableName.parse(q).pg()} DISABLE TRIGGER {pg_ident(name)};"
            add(DbObject("trigger", f"{q}.{name}", owner, definition + (" (disabled)" if enabled == "D" else ""),
                         stmt, "post"))
        for relid, name, definition in (await rows(_RULES, (oids,))):
            q, _, owner = by_oid[int(relid)]
            add(DbObject("rule", f"{q}.{name}", owner, " ".join(str(definition).split()),
                         f"{definition} ALTER TABLE {TableName.parse(q).pg()} DISABLE RULE {pg_ident(name)};", "post"))
        for relid, name, permissive, cmd, roles, qual, check in (await rows(_POLICIES, (oids,))):
            q, _, owner = by_oid[int(relid)]
            text = (f"AS {'PERMISSIVE' if permissive else 'RESTRICTIVE'} FOR {cmd} TO {roles}"
                    + (f" USING ({qual})" if qual else "") + (f" WITH CHECK ({check})" if check else ""))
            add(DbObject("policy", f"{q}.{name}", owner, text,
                         f"CREATE POLICY {pg_ident(name)} ON {TableName.parse(q).pg()} {text};", "post"))

    for typ, identity, text, _cls, _oid, _sub in (await rows(_COMMENTS)):
        if typ == "schema" and identity == "public" and text == "standard public schema":
            continue  # every database's
        if wanted is not None and typ in ("table", "table column") and not any(
                str(identity).replace('"', "").startswith(w + ".") or str(identity).replace('"', "") == w
                for w in wanted):
            continue
        word = {"table column": "COLUMN", "table constraint": "CONSTRAINT", "domain constraint": "CONSTRAINT"}.get(
            str(typ), str(typ).upper())
        ident = str(identity).replace(" on ", " ON ") if word in ("CONSTRAINT", "TRIGGER", "POLICY", "RULE") \
            else str(identity)
        if typ == "domain constraint":
            ident = ident.replace(" ON ", " ON DOMAIN ", 1)
        add(DbObject("comment", f"{typ} {identity}", detail=str(text),
                     create=f"COMMENT ON {word} {ident} IS {_literal(str(text))};", stage="post"))

    owned_by_me = 0
    for kind, identity, owner, acl in (await rows(_ACLS)):
        if wanted is not None and kind == "TABLE" and str(identity).replace('"', "") not in wanted:
            continue
        if kind == "SCHEMA" and identity == "public" and owner == "pg_database_owner":
            continue  # as every database has it (PostgreSQL 15 and later)
        if owner != me:
            add(DbObject("owner", f"{kind.lower()} {identity}", detail=f"owned by {owner}",
                         create=f"ALTER {kind} {identity} OWNER TO {pg_ident(owner)};", stage="post"))
        else:
            owned_by_me += 1
        if acl is None:
            continue
        for grantee, priv, grantable, grantee_name in (await rows(_ACL_ITEMS, (acl,))):
            if grantee_name == owner or (kind == "SCHEMA" and identity == "public" and grantee == "PUBLIC"
                                         and priv == "USAGE"):
                continue  # the owner's own rights; the public schema's default
            on = "TABLE" if kind in ("VIEW", "MATERIALIZED VIEW") else kind
            if on == "AGGREGATE":
                on = "FUNCTION"
            add(DbObject("grant", f"{priv} on {kind.lower()} {identity} to {grantee}",
                         detail=f"{priv} to {grantee}" + (" WITH GRANT OPTION" if grantable else ""),
                         create=f"GRANT {priv} ON {on} {identity} TO {grantee}"
                                + (" WITH GRANT OPTION" if grantable else "") + ";", stage="post"))
    if owned_by_me:
        add(DbObject("owner", me, detail=f"owns {owned_by_me} object(s) (the user kwtui reads the source as)"))
    return inv


# -- fates -----------------------------------------------------------------------------------

_KWDB_NONE = {
    "extension": "KWDB has no PostgreSQL extensions: move what it provides into the application, or drop it",
    "composite type": "KWDB has no composite types: store the fields as columns of the tables that use it",
    "range type": "KWDB has no range types: store the bounds as two columns",
    "function": "KWDB runs no PL/pgSQL or SQL functions of PostgreSQL: move the logic into the application "
                "(its definition is in the plan file)",
    "procedure": "KWDB has no PostgreSQL procedures: move the logic into the application",
    "aggregate": "KWDB has no user-defined aggregates: compute it in the application or with a query",
    "trigger": "KWDB has no triggers: the application must do what the trigger did (the copied rows already "
               "hold its past effects)",
    "rule": "KWDB has no rules: rewrite them as application logic or views",
    "policy": "KWDB has no row level security: enforce the policy in the application or with views and grants",
    "materialized view": "KWDB has no materialized views: replace it by a table refreshed by the application, "
                         "or a view",
    "view": "kwtui does not carry views to KWDB (they use PostgreSQL functions): create it by hand from its "
            "definition once the functions it calls exist there",
    "exclusion constraint": "KWDB has no exclusion constraints: enforce the rule in the application",
    "check constraint": "not carried to KWDB: add it by hand (ALTER TABLE ... ADD CONSTRAINT ... CHECK ...) if "
                        "KWDB takes the expression",
    "comment": "comments are not carried to KWDB: COMMENT ON by hand",
    "owner": "KWDB has its own users: the objects belong to the user kwtui connects as; change owners by hand",
    "grant": "KWDB has its own users and privileges: GRANT by hand once the users exist",
}


def _family(kind: str) -> set[str]:
    out = {kind}
    for fam, kinds in FAMILIES.items():
        if kind in kinds:
            out.add(fam)
    return out


def is_accepted(obj: DbObject, accept: Iterable[str]) -> bool:
    """Whether an --accept-loss entry (a kind, a family of kinds, an object's name, or "all") covers ``obj``."""
    acc = {a.strip().lower() for a in accept if a.strip()}
    if "all" in acc:
        return True
    names = {obj.name.lower(), obj.key.lower()}
    return bool(acc & (_family(obj.kind) | names))


def assign_fates(inv: Inventory, target_kind: str, tables: Sequence[Any] = (), columns: dict[str, str] | None = None,
                 accept: Iterable[str] = ()) -> Inventory:
    """Set every object's fate for ``target_kind`` (postgres | kwdb | kwdb-ts).

    ``tables`` are the plan's TableDdl (``table``, ``ts``, ``warnings``); ``columns`` the
    translation notes of the columns (``schema.table.column`` -> note), from the DDL translation.
    """
    inv.target_kind = target_kind
    accept = list(accept)
    ts_tables = {t.table for t in tables if getattr(t, "ts", False)}
    ts_keys = {t.table: _ts_key(t.create) for t in tables if getattr(t, "ts", False)}
    notes = columns or {}
    for o in inv.objects:
        o.fate, o.note = CREATED, ""
        if target_kind == "postgres":
            if o.kind == "owner" and not o.create:
                o.fate, o.note = TRANSLATED, "owned on the target by the user kwtui connects as"
            elif o.kind == "sequence" and not o.create:
                o.note = "made by its identity column"
            elif o.kind in ("trigger", "rule"):
                o.note = "made after the load, disabled while catch-up syncs run, enabled at the cutover"
            elif o.kind == "function" and "LANGUAGE c" in o.detail:
                o.fate, o.note = REFUSED, "a C function needs its library on the target server: install it there"
        elif o.table in ts_tables:
            _ts_fate(o, notes)
            key = ts_keys.get(o.table)
            if o.kind == "primary key" and key and _names(o.detail) == key:
                o.fate, o.note = TRANSLATED, ("carried as the TS table's deduplication key (timestamp, primary "
                                              "tags): a repeated key overwrites its row instead of failing")
            elif o.kind == "index" and key and _covered_index(o.detail, key):
                o.fate, o.note = TRANSLATED, ("covered: a TS table is indexed by its timestamp and primary tags "
                                              "(no index to create)")
        else:
            _kwdb_fate(o, notes)
        o.accepted = o.fate == REFUSED and is_accepted(o, accept)
    return inv


def _kwdb_fate(o: DbObject, notes: dict[str, str]) -> None:
    k = o.kind
    if k == "owner" and not o.create:
        o.fate, o.note = TRANSLATED, "owned on the target by the user kwtui connects as"
    elif k in _KWDB_NONE:
        o.fate, o.note = REFUSED, _KWDB_NONE[k]
    elif k == "schema":
        o.fate, o.note = TRANSLATED, "its tables go to the target database's public schema"
    elif k == "enum type":
        o.fate, o.note = TRANSLATED, "each column of this type becomes VARCHAR with a CHECK (column IN (labels))"
    elif k == "domain":
        o.fate, o.note = TRANSLATED, "each column of this domain gets its base type; the domain's CHECK is dropped"
    elif k in ("sequence", "sequence position"):
        if o.table:
            o.fate, o.note = TRANSLATED, ("values copied; the column's DEFAULT nextval is dropped: after cutover "
                                          "give it DEFAULT unique_rowid() or a KWDB sequence")
        else:
            o.fate, o.note = REFUSED, "not carried: CREATE SEQUENCE by hand on KWDB and set its position"
    elif k == "partitioned table":
        o.fate, o.note = TRANSLATED, ("one plain table holding the rows of every partition (KWDB splits ranges "
                                      "itself)")
    elif k == "partition":
        o.fate, o.note = TRANSLATED, f"its rows go into {o.table}"
    elif k == "column":
        note = notes.get(o.name)
        if note:
            o.fate, o.note = TRANSLATED, note
    elif "on partition " in o.detail and k in ("foreign key", "index", "primary key", "unique constraint"):
        o.fate, o.note = REFUSED, ("KWDB holds the partitions' rows in one table: a partition's own key or index "
                                   "is not carried (the partitioned table's are); add it to the table by hand")
    elif k == "foreign key":
        o.note = "with its ON UPDATE / ON DELETE actions; an index leading with its columns is made first if none"
        if "DEFERRABLE" in o.detail.upper() and "NOT DEFERRABLE" not in o.detail.upper():
            o.fate, o.note = TRANSLATED, "created without DEFERRABLE (KWDB checks at once)"
    elif k == "index":
        plain = o.detail.startswith("btree") and "partial" not in o.detail.split(":")[0] \
            and "expression" not in o.detail.split(":")[0]
        if not plain:
            o.fate, o.note = REFUSED, ("no KWDB counterpart for this index (" + o.detail.split(":")[0] + "): "
                                       "create a plain index by hand, or search outside the database")


def _names(definition: str) -> frozenset[str] | None:
    """The column names of ``PRIMARY KEY (a, "b")`` (unquoted), or None."""
    m = re.search(r"PRIMARY KEY \((.*)\)", definition)
    return frozenset(n.strip().strip('"').replace('""', '"') for n in m.group(1).split(",")) if m else None


def _covered_index(detail: str, key: frozenset[str]) -> bool:
    """A plain, non-unique btree index on some of (timestamp, primary tags): a TS table has it already."""
    m = re.search(r"USING btree \(([^()]*)\)$", detail)
    if not m or "UNIQUE" in detail.upper() or " WHERE " in detail.upper():
        return False
    cols = {n.strip().strip('"') for n in m.group(1).split(",")}
    return bool(cols) and cols <= key


def _ts_key(create: str) -> frozenset[str] | None:
    """(timestamp, primary tags) of a TS table's CREATE TABLE text (kwtui.plan's), unquoted."""
    first = re.search(r"\(\n\s+(\"(?:[^\"]|\"\")+\"|\S+)\s", create)
    tags = re.search(r"PRIMARY TAGS \(([^)]*)\)", create)
    if not first or not tags:
        return None
    names = [first.group(1), *tags.group(1).split(",")]
    return frozenset(n.strip().strip('"').replace('""', '"') for n in names)


_TS_REFUSES = {
    "primary key": "a TS table has no primary key: rows deduplicate on (timestamp, primary tags)",
    "unique constraint": "a TS table has no UNIQUE constraints",
    "check constraint": "a TS table has no CHECK constraints: check the values in the application",
    "foreign key": "a TS table has no foreign keys: keep the reference in the application",
    "exclusion constraint": "a TS table has no exclusion constraints",
    "index": "a TS table has no secondary indexes (it is indexed by timestamp and primary tags)",
}


def _ts_fate(o: DbObject, notes: dict[str, str]) -> None:
    if o.kind in _TS_REFUSES:
        o.fate, o.note = REFUSED, _TS_REFUSES[o.kind]
    elif o.kind == "column":
        note = notes.get(o.name, "")
        if "DEFAULT" in o.detail or "identity" in o.detail or "generated" in o.detail:
            what = "serial/identity" if "nextval(" in o.detail or "identity" in o.detail else \
                "computed" if "generated" in o.detail else "DEFAULT"
            o.fate, o.note = REFUSED, (f"a TS table takes no {what} column default: the values are copied; new rows "
                                       "need the value from the application" + (f"; {note}" if note else ""))
        elif note:
            o.fate, o.note = TRANSLATED, note
    elif o.kind in ("table", "partitioned table"):
        o.fate, o.note = TRANSLATED, "time-series table (timestamp first, tags, PRIMARY TAGS)"
    elif o.kind == "partition":
        o.fate, o.note = TRANSLATED, f"its rows go into the TS table {o.table}"
    elif o.kind in ("sequence", "sequence position"):
        o.fate, o.note = REFUSED, "a TS table takes no sequence default: values copied, new ids from the application"
    else:
        _kwdb_fate(o, notes)


def cutover_statements(inv: Inventory) -> list[str]:
    """PostgreSQL target, at the cutover once the validation is equal: the triggers and rules made
    disabled after the load are enabled (unless disabled on the source), materialized views refreshed."""
    out = []
    for o in inv.objects:
        if o.fate == REFUSED or not o.create or o.kind not in ("trigger", "rule", "materialized view"):
            continue
        if o.kind == "materialized view":
            if o.detail == "populated":
                out.append(f"REFRESH MATERIALIZED VIEW {TableName.parse(o.name).pg()};")
            continue
        if o.detail.endswith("(disabled)"):
            continue
        table, _, name = o.name.rpartition(".")
        out.append(f"ALTER TABLE {TableName.parse(table).pg()} ENABLE {o.kind.upper()} {pg_ident(name)};")
    return out


def unaccepted(inv: Inventory | None) -> list[DbObject]:
    """The refused objects whose loss the user has not accepted (they block ``kwtui run``)."""
    return [o for o in (inv.objects if inv else []) if o.fate == REFUSED and not o.accepted]


def accept_loss(inv: Inventory, accept: Iterable[str]) -> list[str]:
    """Mark the refused objects ``accept`` covers as accepted; returns the entries that matched nothing."""
    unknown = []
    for a in accept:
        hit = False
        for o in inv.objects:
            if o.fate == REFUSED and is_accepted(o, [a]):
                o.accepted = hit = True
        if not hit:
            unknown.append(a)
    return unknown


def toggle_accept(inv: Inventory, accepted: list[str], entry: str) -> bool:
    """The plan screen's key: accept the loss ``entry`` (a kind or an object's name) or take it back.

    ``accepted`` is the plan's list (changed in place); returns whether ``entry`` is accepted now.
    """
    if entry in accepted:
        accepted.remove(entry)
        now = False
    else:
        accepted.append(entry)
        now = True
    for o in inv.objects:
        o.accepted = o.fate == REFUSED and is_accepted(o, accepted)
    return now


# -- showing it --------------------------------------------------------------------------------


def summary_lines(inv: Inventory) -> list[str]:
    """One line per kind: n objects, created / translated / refused."""
    out = []
    for kind, c in inv.counts().items():
        out.append(f"{kind}: {c['total']} ({c[CREATED]} created, {c[TRANSLATED]} translated, {c[REFUSED]} refused)")
    return out


def render_text(inv: Inventory, *, created: bool = False) -> str:
    """The inventory for a terminal: the counts, then each translated and refused object with its note
    (``created``: the created ones too)."""
    lines = [f"Inventory of {inv.database or 'the source'} for a {inv.target_kind} target: "
             f"{len(inv.objects)} objects"]
    lines += [f"  {line}" for line in summary_lines(inv)]
    for fate in (REFUSED, TRANSLATED) + ((CREATED,) if created else ()):
        objs = [o for o in inv.objects if o.fate == fate]
        if not objs:
            continue
        lines.append(f"\n{fate.capitalize()} ({len(objs)}):")
        for o in objs:
            mark = " [loss accepted]" if o.accepted else ""
            lines.append(f"  [{o.kind}] {o.name}{mark}" + (f": {o.note}" if o.note else ""))
    left = unaccepted(inv)
    if left:
        kinds = sorted({o.kind for o in left})
        lines.append(f"\n{len(left)} refused object(s) block kwtui run until their loss is accepted: "
                     f"kwtui plan ... --save FILE --accept-loss {','.join(kinds)} (or name objects one by one)")
    return "\n".join(lines)


def render_markdown(inv: Inventory) -> str:
    lines = [f"## Inventory ({len(inv.objects)} objects, target {inv.target_kind})", "",
             "| kind | objects | created | translated | refused |", "|---|---:|---:|---:|---:|"]
    for kind, c in inv.counts().items():
        lines.append(f"| {kind} | {c['total']} | {c[CREATED]} | {c[TRANSLATED]} | {c[REFUSED]} |")
    notable = [o for o in inv.objects if o.fate != CREATED]
    if notable:
        lines += ["", "| object | kind | fate | translation / reason and manual step |", "|---|---|---|---|"]
        for o in notable:
            fate = o.fate + (" (loss accepted)" if o.accepted else "")
            lines.append(f"| {o.name.replace('|', '/')} | {o.kind} | {fate} | {o.note.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def signature(inv: Inventory) -> set[tuple[str, str, str]]:
    """What must match between a source and a PostgreSQL target (sequence positions left out)."""
    out = set()
    for o in inv.objects:
        detail = o.detail
        if o.kind == "sequence position":
            detail = detail.split(", at ")[0]
        out.add((o.kind, o.name, detail))
    return out


__all__ = [
    "DbObject", "Inventory", "read_inventory", "assign_fates", "unaccepted", "accept_loss", "is_accepted",
    "render_text", "render_markdown", "summary_lines", "signature", "CREATED", "TRANSLATED", "REFUSED", "KINDS",
    "FAMILIES", "NO_BODY_CHECK", "toggle_accept", "cutover_statements",
]
