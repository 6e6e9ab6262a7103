"""The light part of the KWDB export layout: chunk file names, the empty-directory check,
atomic writes and the COPY CSV options. A server-side CSV export needs only these, so it
does not import the layout reader/writer (:mod:`kwtui.transfer.layout`, which re-exports
them) or the loader.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from psycopg import sql

from kwtui.errors import UsageError

if TYPE_CHECKING:
    from kwtui.transfer.csvdialect import CsvDialect

#: the node number in file names (kwtui writes from one place: node 1)
NODE = 1
PART_SUFFIX = ".part"


def chunk_name(chunk: int, node: int = NODE) -> str:
    """``n1.0.csv``."""
    return f"n{node}.{chunk}.csv"


class ExportPathNotEmpty(UsageError):
    """The target of an export holds files already (KWDB refuses the same way)."""

    def __init__(self, path: Path, count: int) -> None:
        super().__init__(
            f"export path {path} is not empty (contains {count} files), "
            "please use an empty directory to prevent data loss",
            hint="choose an empty directory, or resume the export")
        self.path = path
        self.count = count


def check_empty(path: Path) -> None:
    """Raise :class:`ExportPathNotEmpty` if ``path`` is a directory with entries (counted
    as KWDB counts them: the entries directly inside); UsageError if it is a file."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"export path {path} is a file, not a directory")
    if path.is_dir():
        count = sum(1 for _ in path.iterdir())
        if count:
            raise ExportPathNotEmpty(path, count)


def _sync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, *, fsync: bool = True) -> None:
    """Write ``path`` through ``path.part`` and a rename: never a half-written file."""
    part = path.with_name(path.name + PART_SUFFIX)
    with open(part, "wb") as f:
        f.write(data)
        if fsync:
            f.flush()
            os.fsync(f.fileno())
    os.replace(part, path)
    if fsync:
        _sync_dir(path.parent)


def copy_options(dialect: CsvDialect, *, header: bool = False) -> sql.Composed:
    """COPY (FORMAT csv, ...) options for a dialect; the server does the parsing and decoding."""
    opts = [sql.SQL("FORMAT csv"),
            sql.SQL("DELIMITER {}").format(sql.Literal(dialect.delimiter)),
            sql.SQL("QUOTE {}").format(sql.Literal(dialect.enclosed)),
            sql.SQL("ESCAPE {}").format(sql.Literal(dialect.escaped)),
            sql.SQL("NULL {}").format(sql.Literal(dialect.nullas)),
            sql.SQL("ENCODING {}").format(sql.Literal(_pg_encoding(dialect.charset)))]
    if header:
        opts.append(sql.SQL("HEADER true"))
    return sql.SQL(", ").join(opts)


def _pg_encoding(charset: str) -> str:
    return {"UTF-8": "UTF8", "GBK": "GBK", "GB18030": "GB18030", "BIG5": "BIG5"}.get(charset.upper(), "UTF8")
