"""The inventory's two hooks in a migration's phases (kept out of migration.py on purpose).

* :func:`check_losses` runs first in the schema phase: a refused object whose loss the user
  has not accepted (``kwtui plan --accept-loss``, saved in the plan file) stops the migration
  before anything is created, naming the objects and the way to accept them.
* :func:`run_statements` runs the plan's objects that are not tables: ``pre_data`` (extensions,
  schemas, types, domains, sequences, functions) before the tables in the schema phase,
  ``post_data`` (views, materialized views, triggers, rules, policies, comments, grants,
  sequence positions) after the tables' indexes and keys in the historical phase. A statement
  whose object exists already (a re-run) is kept as it is; any other failure fails the phase
  with the statement and the server's message.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import psycopg

from kwtui.inventory import accept_loss, unaccepted

#: duplicate_table, duplicate_object, duplicate_function, duplicate_schema: made by an earlier run
DUPLICATE = frozenset({"42P07", "42710", "42723", "42P06"})


def check_losses(plan: Any) -> None:
    from kwtui.migration import PhaseError

    inv = plan.assessment.inventory
    if inv is None:
        return
    accept_loss(inv, plan.requirements.accept_loss)
    left = unaccepted(inv)
    if not left:
        return
    kinds = sorted({o.kind for o in left})
    names = ", ".join(o.name for o in left[:5]) + (f" and {len(left) - 5} more" if len(left) > 5 else "")
    raise PhaseError(f"{len(left)} object(s) cannot be created on the target and their loss is not accepted "
                     f"({', '.join(kinds)}: {names}); see the plan's inventory, then accept: in the console the plan "
                     f"screen's inventory (i, then a for a kind), on the command line kwtui plan ... --save "
                     f"PLANFILE --accept-loss {','.join(kinds)} (or add them to accept_loss in the plan file)")


async def _schema_exists(runner: Any, statement: str) -> bool:
    """Whether ``CREATE SCHEMA IF NOT EXISTS name;`` names a schema the target already has."""
    m = re.fullmatch(r"CREATE SCHEMA IF NOT EXISTS (.+);", statement.strip())
    if m is None or runner.dst is None:
        return False
    try:
        res = await runner.dst.query("SELECT to_regnamespace(%s) IS NOT NULL", (m.group(1),))
    except Exception:
        return False
    return bool(res.rows and res.rows[0][0])


def _head(statement: str) -> str:
    text = statement.removeprefix("SET check_function_bodies = false; ")
    return " ".join(text.split())[:90]


async def run_statements(runner: Any, rec: Any, phase: str, statements: Sequence[str]) -> None:
    from kwtui.migration import PhaseError
    from kwtui.transfer.engine import error_message

    failed = []
    done = kept = 0
    for stmt in statements:
        runner.say(phase, _head(stmt))
        try:
            await runner._execute(rec, stmt)
            done += 1
        except psycopg.Error as exc:
            if exc.sqlstate in DUPLICATE or (exc.sqlstate == "42501" and await _schema_exists(runner, stmt)):
                # (CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the schema is
                # there: a user allowed to create only in it meets "permission denied")
                kept += 1
                rec.details.append(f"exists already, kept: {_head(stmt)}")
                continue
            failed.append(f"{_head(stmt)}: {error_message(exc)}")
    if statements:
        rec.details.append(f"{done} object statement(s) run" + (f", {kept} kept from an earlier run" if kept else "")
                           + (f", {len(failed)} failed" if failed else ""))
    if failed:
        rec.details += [f"FAILED: {f}" for f in failed]
        rec.data.setdefault("objects_failed", []).extend(failed)
        raise PhaseError(f"{len(failed)} object statement(s) failed, first: {failed[0]}")


#: what a table's columns may need before its CREATE TABLE (kwtui transfer on its own, not a migration)
TYPE_KINDS = ("extension", "schema", "enum type", "composite type", "range type", "domain")


async def make_types(src: Any, dst: Any) -> list[str]:
    """PostgreSQL -> PostgreSQL outside a migration (``kwtui transfer`` creating its tables): the source's
    extensions, schemas, types and domains on the target first; those there already are kept. Returns
    the statements that ran."""
    from kwtui.inventory import read_inventory

    inv = await read_inventory(src)
    ran = []
    conn = await dst.open_raw(autocommit=True)
    try:
        for o in inv.objects:
            if o.kind not in TYPE_KINDS or not o.create:
                continue
            try:
                await conn.execute(o.create)  # type: ignore[arg-type]
                ran.append(o.create)
            except psycopg.Error as exc:
                if exc.sqlstate not in DUPLICATE:
                    raise
    finally:
        await conn.close()
    return ran


__all__ = ["check_losses", "run_statements", "make_types", "DUPLICATE", "TYPE_KINDS"]
