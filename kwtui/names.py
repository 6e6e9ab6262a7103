"""One table name type, and identifiers quoted by the target's own rules.

:class:`TableName` replaces "schema.table" strings in the planning and DDL code: ``parse``
reads the text form (quoted parts may hold dots), ``sql()`` is the ``psycopg.sql`` composable,
``pg()`` the PostgreSQL spelling (quoted only where PostgreSQL needs it) and ``str()`` the
plain text form kwtui shows and stores (``schema.table``).

PostgreSQL's reserved keywords differ from KWDB's: :func:`pg_ident` quotes by PostgreSQL's
list (``pg_get_keywords()``, categories R and T, which cannot be a bare column or table name),
:func:`kwtui.transfer.idents.quote_ident` by KWDB's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from psycopg import sql

# pg_get_keywords() WHERE catcode IN ('R', 'T') (PostgreSQL 17); a bare column name may not be one of them
PG_RESERVED = frozenset("""
all analyse analyze and any array as asc asymmetric authorization between bigint binary bit boolean both case
cast char character check coalesce collate collation column concurrently constraint create cross
current_catalog current_date current_role current_schema current_time current_timestamp current_user dec decimal
default deferrable desc distinct do else end except exists extract false fetch float for foreign freeze from full
grant greatest group grouping having ilike in initially inner inout int integer intersect interval into is isnull
join json json_array json_arrayagg json_exists json_object json_objectagg json_query json_scalar json_serialize
json_table json_value lateral leading least left like limit localtime localtimestamp merge_action national natural
nchar none normalize not notnull null nullif numeric offset on only or order out outer overlaps overlay placing
position precision primary real references returning right row select session_user setof similar smallint some
substring symmetric system_user table tablesample then time timestamp to trailing treat trim true union unique
user using values varchar variadic verbose when where window with xmlattributes xmlconcat xmlelement xmlexists
xmlforest xmlnamespaces xmlparse xmlpi xmlroot xmlserialize xmltable
""".split())

_PLAIN = re.compile(r"[a-z_][a-z0-9_$]*")


def pg_ident(name: str) -> str:
    """A PostgreSQL identifier: bare when plain lower case and not a reserved word, else double-quoted."""
    if _PLAIN.fullmatch(name) and name not in PG_RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


def _split(text: str) -> list[str]:
    parts, buf, i, quoted = [], [], 0, False
    while i < len(text):
        ch = text[i]
        if quoted:
            if ch == '"' and text[i + 1:i + 2] == '"':
                buf.append('"')
                i += 1
            elif ch == '"':
                quoted = False
            else:
                buf.append(ch)
        elif ch == '"':
            quoted = True
        elif ch == ".":
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
        i += 1
    parts.append("".join(buf))
    return parts


@dataclass(frozen=True, order=True)
class TableName:
    schema: str
    name: str

    @classmethod
    def parse(cls, text: str, default_schema: str = "public") -> TableName:
        """``schema.table``, ``"My schema"."a.b"`` or ``table`` (in ``default_schema``)."""
        parts = _split(text.strip())
        if len(parts) == 1:
            return cls(default_schema, parts[0])
        if len(parts) == 2:
            return cls(parts[0], parts[1])
        # an unquoted dotted name: the first part is the schema, the rest the table
        return cls(parts[0], ".".join(parts[1:]))

    def sql(self) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(self.schema), sql.Identifier(self.name))

    def pg(self) -> str:
        """PostgreSQL text: each part quoted by PostgreSQL's rules."""
        return f"{pg_ident(self.schema)}.{pg_ident(self.name)}"

    def regclass(self) -> str:
        """Always-quoted text for a ``::regclass`` parameter."""
        return '"' + self.schema.replace('"', '""') + '"."' + self.name.replace('"', '""') + '"'

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}"

    def __iter__(self) -> Iterator[str]:
        """``schema, name = TableName.parse(text)``."""
        yield self.schema
        yield self.name


__all__ = ["TableName", "pg_ident", "PG_RESERVED"]
