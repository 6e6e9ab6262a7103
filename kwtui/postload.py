"""Post-load steps (indexes, foreign keys) that fail: the cause and the offending rows, named.

A foreign key that cannot be added after the load means the target holds child rows whose
parent is missing. :func:`orphan_keys` lists the first of them with one anti-join on the
target, so the phase's failure says which rows to look at, not only that it failed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from psycopg import sql

_IDENT = r'(?:"(?:[^"]|"")*"|[A-Za-z_][\w$]*)'
_QUAL = rf"{_IDENT}(?:\s*\.\s*{_IDENT})?"
_LIST = rf"{_IDENT}(?:\s*,\s*{_IDENT})*"
_FK = re.compile(rf"^\s*ALTER\s+TABLE\s+(?:ONLY\s+)?(?P<child>{_QUAL})\s+ADD\s+CONSTRAINT\s+(?P<name>{_IDENT})\s+"
                 rf"FOREIGN\s+KEY\s*\((?P<cols>{_LIST})\)\s*REFERENCES\s+(?P<parent>{_QUAL})\s*"
                 rf"\((?P<refs>{_LIST})\)", re.IGNORECASE | re.DOTALL)
#: orphan keys named in a failure
SHOW_ORPHANS = 10


@dataclass
class ForeignKey:
    name: str
    child: tuple[str, ...]
    columns: list[str]
    parent: tuple[str, ...]
    ref_columns: list[str]


def _unquote(ident: str) -> str:
    ident = ident.strip()
    if ident.startswith('"'):
        return ident[1:-1].replace('""', '"')
    return ident.lower()


def _split(text: str) -> list[str]:
    return [_unquote(m.group(0)) for m in re.finditer(_IDENT, text)]


def parse_foreign_key(statement: str) -> ForeignKey | None:
    """The parts of an ``ALTER TABLE ... ADD CONSTRAINT ... FOREIGN KEY ... REFERENCES ...``; None otherwise."""
    m = _FK.match(statement)
    if m is None:
        return None
    return ForeignKey(_unquote(m.group("name")), tuple(_split(m.group("child"))), _split(m.group("cols")),
                      tuple(_split(m.group("parent"))), _split(m.group("refs")))


async def orphan_keys(dst: Any, fk: ForeignKey, limit: int = SHOW_ORPHANS) -> tuple[list[tuple[Any, ...]], int]:
    """(the first ``limit`` distinct child keys without a parent, how many child rows have none)."""
    child = sql.SQL(".").join(sql.Identifier(p) for p in fk.child)
    parent = sql.SQL(".").join(sql.Identifier(p) for p in fk.parent)
    cols = sql.SQL(", ").join(sql.SQL("c.{}").format(sql.Identifier(c)) for c in fk.columns)
    not_null = sql.SQL(" AND ").join(sql.SQL("c.{} IS NOT NULL").format(sql.Identifier(c)) for c in fk.columns)
    match = sql.SQL(" AND ").join(sql.SQL("p.{} = c.{}").format(sql.Identifier(r), sql.Identifier(c))
                                  for c, r in zip(fk.columns, fk.ref_columns, strict=True))
    base = sql.SQL("FROM {child} AS c WHERE {nn} AND NOT EXISTS (SELECT 1 FROM {parent} AS p WHERE {match})").format(
        child=child, nn=not_null, parent=parent, match=match)
    first = await dst.query(sql.SQL("SELECT DISTINCT {cols} {base} ORDER BY {cols} LIMIT {n}").format(
        cols=cols, base=base, n=sql.Literal(limit)))
    count = await dst.query(sql.SQL("SELECT count(*) {}").format(base))
    return [tuple(r) for r in first.rows], int(count.rows[0][0]) if count.rows else 0


def orphan_text(fk: ForeignKey, keys: list[tuple[Any, ...]], total: int) -> str:
    cols = ", ".join(fk.columns)
    shown = "; ".join("(" + ", ".join(str(v) for v in k) + ")" for k in keys)
    return (f"{total:,} row(s) of {'.'.join(fk.child)} have no parent in {'.'.join(fk.parent)}: ({cols}) = {shown}"
            + (" ..." if total > len(keys) else ""))


__all__ = ["ForeignKey", "parse_foreign_key", "orphan_keys", "orphan_text"]
