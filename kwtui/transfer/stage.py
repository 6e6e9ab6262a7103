"""Staging local files into a KWDB node's extern directory over the wire.

KWDB (like CockroachDB) takes a file upload as ``COPY kwdb_internal.file_upload FROM STDIN
WITH destination = '<path>'``: the file's bytes travel as rows of text-format COPY, one
chunk a row, and land under the node's extern directory, where ``nodelocal://1/<path>``
finds them. That lets ``--native`` IMPORT read files that are on the user's machine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from psycopg import sql

from kwtui.errors import UsageError

CHUNK = 1 << 20
_ESCAPES = {ord("\\"): b"\\\\", ord("\n"): b"\\n", ord("\r"): b"\\r", ord("\t"): b"\\t"}


def escape_copy_text(data: bytes) -> bytes:
    """One text-format COPY field holding ``data`` (backslash, newline, CR and tab escaped)."""
    if not any(b in data for b in (b"\\", b"\n", b"\r", b"\t")):
        return data
    return (data.replace(b"\\", b"\\\\").replace(b"\n", b"\\n").replace(b"\r", b"\\r").replace(b"\t", b"\\t"))


def upload_statement(destination: str) -> sql.Composed:
    return sql.SQL("COPY kwdb_internal.file_upload FROM STDIN WITH destination = {}").format(
        sql.Literal(destination))


@dataclass(frozen=True)
class StagedFile:
    local: Path
    destination: str  # relative to the extern directory
    size: int


def plan_stage(local: Path, remote_dir: str) -> list[StagedFile]:
    """Every file under ``local`` (a file or a tree) with its destination under ``remote_dir``."""
    remote = PurePosixPath(remote_dir.strip("/"))
    if ".." in remote.parts:
        raise UsageError(f"staging path {remote_dir!r} must not contain '..'")
    if local.is_file():
        return [StagedFile(local, str(remote / local.name), local.stat().st_size)]
    if not local.is_dir():
        raise UsageError(f"{local} does not exist")
    files = sorted(p for p in local.rglob("*") if p.is_file() and not p.name.endswith(".part"))
    if not files:
        raise UsageError(f"{local} holds no files to stage")
    return [StagedFile(p, str(remote.joinpath(*p.relative_to(local).parts)), p.stat().st_size) for p in files]


def nodelocal_url(remote_dir: str, node: int = 1) -> str:
    return f"nodelocal://{node}/{remote_dir.strip('/')}"


async def stage_files(conn: Any, files: list[StagedFile], *,
                      on_bytes: Callable[[int], None] | None = None) -> int:
    """Upload the files through ``conn`` (a psycopg AsyncConnection in autocommit). Returns bytes sent."""
    total = 0
    for f in files:
        async with conn.cursor() as cur, cur.copy(upload_statement(f.destination)) as copy:
            with open(f.local, "rb") as fh:
                while chunk := fh.read(CHUNK):
                    await copy.write(escape_copy_text(chunk) + b"\n")
                    total += len(chunk)
                    if on_bytes is not None:
                        on_bytes(len(chunk))
    return total
