"""Which files a native IMPORT reads: KWDB's own rules, checked against a live node (V3.2.1).

A time-series IMPORT (INTO a TS table, or CREATE USING while connected to a TS database) takes
a directory and reads its ``*.csv`` files itself. A relational IMPORT INTO / IMPORT TABLE CREATE
USING needs the files named one by one: given a directory it answers ``expected a file but
"dir" is a directory``, and a failed CREATE USING keeps the table's name taken until KWDB's
background DROP job ends. So for a relational target kwtui lists the directory first, the way
KWDB lists one for IMPORT DATABASE (every ``*.csv`` directly in it), and names the files.

kwtui can list a ``nodelocal://<node>/dir`` when it runs on that node's host: the node's
command line (``kwdb_internal.kv_node_status.args``: ``--external-io-dir`` or ``--store`` +
``/extern``) says where its extern directory is. Elsewhere it says so and asks for the files.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from psycopg import sql

from kwtui.errors import UsageError

_NODELOCAL = re.compile(r"^nodelocal://(\d+)(/.*)?$", re.IGNORECASE)
_CHUNK = re.compile(r"^n(\d+)\.(\d+)\.csv$", re.IGNORECASE)


def split_nodelocal(url: str) -> tuple[int, str] | None:
    """``nodelocal://1/a/b`` -> (1, "a/b"); None for any other location."""
    m = _NODELOCAL.match(url.strip())
    if not m:
        return None
    rel = PurePosixPath((m.group(2) or "/").strip("/") or ".")
    if ".." in rel.parts:
        raise UsageError(f"{url}: a nodelocal path must not contain '..'")
    return int(m.group(1)), "" if str(rel) == "." else str(rel)


def is_file_url(url: str) -> bool:
    """A location naming one data file (``.csv``), not a directory."""
    return url.rstrip().lower().endswith(".csv")


def extern_dir_from_args(args: Any) -> Path | None:
    """The extern directory from a kwbase command line (``--external-io-dir``, else ``--store`` + extern)."""
    items = [str(a) for a in (args or [])]
    external: str | None = None
    store: str | None = None
    for i, arg in enumerate(items):
        nxt = items[i + 1] if i + 1 < len(items) else None
        for flag in ("--external-io-dir", "--store", "-s"):
            if arg == flag and nxt is not None:
                value = nxt
            elif arg.startswith(flag + "="):
                value = arg[len(flag) + 1:]
            else:
                continue
            if flag == "--external-io-dir":
                external = value
            elif store is None:
                store = value
    if external:
        return None if external.lower() == "disabled" else Path(external)
    if not store:
        return None
    # --store=path=/x,attrs=ssd or --store=/x
    parts = dict(p.split("=", 1) for p in store.split(",") if "=" in p)
    path = parts.get("path", store if "=" not in store else None)
    if not path or parts.get("type") == "mem":
        return None
    return Path(path) / "extern"


async def node_extern_dir(svc: Any, node: int) -> Path | None:
    """Where ``nodelocal://<node>/`` lives, when that directory is visible from this machine."""
    try:
        res = await svc.query(sql.SQL("SELECT args FROM kwdb_internal.kv_node_status WHERE node_id = {}").format(
            sql.Literal(int(node))))
    except Exception:  # no such table (not KWDB) or no right to read it: cannot tell
        return None
    if not res.rows:
        return None
    path = extern_dir_from_args(res.rows[0][0])
    return path if path is not None and path.is_dir() else None


def _order(name: str) -> tuple[int, int, str]:
    m = _CHUNK.match(name)
    return (int(m.group(1)), int(m.group(2)), name) if m else (1 << 30, 0, name)


def csv_files(directory: Path) -> list[str]:
    """The ``*.csv`` files directly in ``directory`` (KWDB's rule), n<node>.<k>.csv in chunk order."""
    return sorted((p.name for p in directory.iterdir() if p.is_file() and p.name.lower().endswith(".csv")),
                  key=_order)


async def relational_files(svc: Any, url: str) -> list[str]:
    """The data files a relational IMPORT must name for ``url`` (a file, or a directory listed here)."""
    if is_file_url(url):
        return [url]
    where = split_nodelocal(url)
    if where is None:
        raise UsageError(f"{url}: KWDB's relational IMPORT needs data files, not a directory; name the file(s) "
                         "(…/n1.0.csv)")
    node, rel = where
    extern = await node_extern_dir(svc, node)
    if extern is None:
        raise UsageError(
            f"{url} is a directory, and KWDB's relational IMPORT needs its files one by one; kwtui can only "
            f"list it on node {node}'s host: run kwtui there, give one file (--from {url.rstrip('/')}/n1.0.csv), "
            "or upload local files with --stage")
    directory = extern / rel if rel else extern
    if not directory.is_dir():
        if directory.is_file():
            return [url]
        raise UsageError(f"{url} does not exist on node {node} (looked in {directory})")
    names = csv_files(directory)
    if not names:
        raise UsageError(f"{url} holds no .csv file (looked in {directory})")
    base = url.rstrip("/")
    return [f"{base}/{name}" for name in names]


async def database_engine(svc: Any, database: str | None = None) -> str | None:
    """``RELATIONAL`` or ``TIME SERIES`` of ``database`` (default: the connection's own database)."""
    if database is None:
        res = await svc.query("SELECT current_database()")
        database = str(res.rows[0][0]) if res.rows else None
        if database is None:
            return None
    res = await svc.query("SHOW DATABASES")
    idx = {c.lower(): i for i, c in enumerate(res.columns)}
    name_i, engine_i = idx.get("database_name", 0), idx.get("engine_type")
    if engine_i is None:
        return None
    for row in res.rows:
        if str(row[name_i]) == database:
            return str(row[engine_i]).strip().upper()
    return None


def reject_file_hint(urls: list[str], node: int | None = None) -> str:
    """Where KWDB put the reject file(s): ``reject.n<node>.<idx>.txt`` beside the data."""
    if not urls:
        return "reject.n<node>.<idx>.txt beside the data files"
    first = urls[0].rstrip("/")
    base = first.rsplit("/", 1)[0] if is_file_url(first) else first
    where = split_nodelocal(first)
    n = node if node is not None else (where[0] if where else None)
    return f"{base}/reject.n{n if n is not None else '<node>'}.<idx>.txt"


async def table_is_time_series(svc: Any, table: str) -> bool:
    """Whether ``table`` (as the user wrote it) is a TS table: its DDL has PRIMARY TAGS."""
    from kwtui.catalog import parse_create_statement
    from kwtui.transfer.native import quote_name

    res = await svc.query(f"SHOW CREATE TABLE {quote_name(table)}")
    return re.search(r"\bPRIMARY\s+TAGS\s*\(", parse_create_statement(res.columns, res.rows),
                     re.IGNORECASE) is not None


async def local_path(svc: Any, url: str) -> Path | None:
    """Where a ``nodelocal://N/...`` URL is on this machine (the node's extern dir visible here), else None."""
    where = split_nodelocal(url)
    if where is None:
        return None
    extern = await node_extern_dir(svc, where[0])
    if extern is None:
        return None
    return extern / where[1] if where[1] else extern


async def reject_files(svc: Any, urls: list[str]) -> list[str]:
    """The reject.n<node>.<idx>.txt files KWDB wrote beside the data, when the node's extern dir is visible."""
    out: list[str] = []
    for url in urls:
        if await local_path(svc, url) is None:
            continue
        base = url.rstrip("/").rsplit("/", 1)[0] if is_file_url(url) else url.rstrip("/")
        directory = await local_path(svc, base)
        if directory is not None and directory.is_dir():
            for p in sorted(directory.glob("reject.n*.txt")):
                name = f"{base}/{p.name}"
                if name not in out:
                    out.append(name)
    return out


async def refuse_kwtui_arrays(svc: Any, meta_url: str) -> None:
    """KWDB's IMPORT reads an array only as its own EXPORT writes it (``ARRAY[1:::INT8,NULL]``); kwtui's export
    writes PostgreSQL's ``{1,NULL}`` (which kwtui's own import reads exact). Refused before the IMPORT fails on
    its first row (checked on V3.2.1: ``parse "a" as INT4[]: at or near "{": syntax error``)."""
    from kwtui.transfer.manifest import MANIFEST

    meta = await local_path(svc, meta_url)
    if meta is None or not meta.is_file() or not (meta.parent / MANIFEST).is_file():
        return  # not kwtui's export (KWDB's own writes ARRAY[...], which its IMPORT reads)
    arrays = re.findall(r"^\s*\"?([\w ]+?)\"?\s+[\w()., ]+\[\]", meta.read_text(encoding="utf-8", errors="replace"),
                        re.MULTILINE)
    if arrays:
        raise UsageError(f"{meta_url.rsplit('/', 1)[0]}: array column(s) {', '.join(arrays)}: KWDB's IMPORT reads "
                         "arrays only in its own ARRAY[...] form, and kwtui's export writes PostgreSQL's {...}",
                         hint="import these files with kwtui's streamed import (without --native): it carries "
                              "arrays exact")


async def import_statement(svc: Any | None, url: str, *, into: str | None = None, create: bool = False,
                           database: bool = False, columns: Sequence[str] | None = None,
                           options: Any = None, staged: Sequence[str] = ()) -> Any:
    """The IMPORT statement for ``url`` as the server needs it (CLI and wizards alike).

    ``into`` an existing table, ``create`` from ``<dir>/meta.sql``, or ``database``. With a KWDB
    service, a relational target gets the directory's ``*.csv`` files named (``staged``: the files
    kwtui just uploaded there); a TS target (a TS table, or CREATE USING while connected to a TS
    database) keeps the directory. Without a service (``--print-sql``) the statement is as written.
    """
    from kwtui.transfer import native

    if database:
        return native.import_database(url, options=options)
    if not into and not create:
        raise UsageError("say what to import into: a table, a new table from meta.sql, or a database")
    meta = (url.rsplit("/", 1)[0] if is_file_url(url) else url.rstrip("/")) + "/meta.sql"
    if svc is not None and getattr(svc.info, "kind", None) == "kwdb":
        await refuse_kwtui_arrays(svc, meta)
    if svc is None or getattr(svc.info, "kind", None) != "kwdb":
        files = [url]  # offline, or not KWDB: the statement as written
    elif into and await table_is_time_series(svc, into):
        files = [url]  # a TS IMPORT takes the directory and reads its *.csv itself
    elif create and (await database_engine(svc)) == "TIME SERIES":
        files = [url]  # a TS table is created while connected to a TS database
    elif staged and not is_file_url(url):
        files = list(staged)
    else:
        files = await relational_files(svc, url)
    if into:
        return native.import_into(into, files, columns=columns, options=options)
    return native.import_table_create_using(meta, files, options=options)
