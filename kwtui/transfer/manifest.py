"""The export manifest: an export is whole only when its manifest says so.

kwtui's streamed export writes ``kwtui.manifest.json`` at the root of the export directory:
first (before meta.sql) with ``"complete": false``, again after each finished chunk (so an
interrupted export still lists the chunks it finished, each with its rows and sha256), and
last with ``"complete": true``. A dropped connection, a full disk or a kill -9 therefore
leaves a manifest marked incomplete, never a directory that looks whole.

``kwtui import`` reads it first (:func:`check_import`): an incomplete export is refused
unless ``--allow-incomplete``; every chunk it lists is checked (bytes, sha256, records)
before a row is loaded; a directory without a manifest (KWDB's own EXPORT writes none) gets
a one-line warning. The name does not end in ``.csv``, so KWDB's IMPORT and kwtui's layout
reader never take it for data.
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import json
import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kwtui.errors import KwtuiError
from kwtui.transfer.chunks import write_atomic

MANIFEST = "kwtui.manifest.json"
FORMAT = "kwtui-export-manifest"
VERSION = 1
#: chunks above this size are checked by sha256 only (their records are not counted again)
COUNT_LIMIT = 256 << 20


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def command_text(argv: list[str] | None = None) -> str:
    """The command line that made the export, without any password (URIs, keyword strings)."""
    args = sys.argv[1:] if argv is None else argv
    text = " ".join(args)
    text = re.sub(r"(://[^:/@\s]+):[^@\s]*@", r"\1@", text)
    text = re.sub(r"(password\s*=\s*)\S+", r"\1***", text, flags=re.IGNORECASE)
    return "kwtui " + text


class Sha256Writer:
    """Counts and hashes what goes into one chunk file."""

    def __init__(self) -> None:
        self.h = hashlib.sha256()
        self.bytes = 0

    def update(self, data: bytes) -> None:
        self.h.update(data)
        self.bytes += len(data)

    def hexdigest(self) -> str:
        return self.h.hexdigest()


@dataclass
class ManifestTable:
    table: str
    directory: str  # relative to the manifest's directory ("." for a table export)
    rows: int = 0
    bytes: int = 0
    header: bool = False
    complete: bool = False
    files: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"table": self.table, "directory": self.directory, "rows": self.rows, "bytes": self.bytes,
                "header": self.header, "complete": self.complete, "files": self.files}


class ManifestWriter:
    """Writes the manifest of one export: :meth:`begin`, :meth:`chunk_done` per chunk, :meth:`finish`."""

    def __init__(self, root: Path, kind: str, command: str | None = None) -> None:
        self.root = root
        self.kind = kind  # table | database | query
        self.command = command or command_text()
        self.started = _now()
        self.tables: list[ManifestTable] = []
        self.error: str | None = None
        self.complete = False

    def doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "format": FORMAT, "version": VERSION, "complete": self.complete, "kind": self.kind,
            "command": self.command, "started": self.started, "finished": _now() if self.complete else None,
            "rows": sum(t.rows for t in self.tables), "tables": [t.as_dict() for t in self.tables]}
        if self.error and not self.complete:
            doc["error"] = self.error
        return doc

    def write(self, *, fsync: bool = False) -> None:
        write_atomic(self.root / MANIFEST, (json.dumps(self.doc(), indent=1) + "\n").encode(), fsync=fsync)

    def begin(self) -> ManifestWriter:
        self.root.mkdir(parents=True, exist_ok=True)
        self.write(fsync=True)
        return self

    def table(self, table: str, directory: Path, *, header: bool = False) -> ManifestTable:
        rel = os.path.relpath(directory, self.root)
        entry = ManifestTable(table, Path(rel).as_posix(), header=header)
        self.tables.append(entry)
        return entry

    def chunk_done(self, entry: ManifestTable, name: str, rows: int, nbytes: int, sha256: str) -> None:
        entry.files.append({"name": name, "rows": rows, "bytes": nbytes, "sha256": sha256})
        entry.rows += rows
        entry.bytes += nbytes
        try:
            self.write()
        except OSError:
            pass  # a full disk: the chunk is whole; the manifest stays as it was (incomplete)

    def table_done(self, entry: ManifestTable) -> None:
        entry.complete = True

    def failed(self, exc: BaseException) -> None:
        """Best effort: say why the export stopped (the manifest stays incomplete either way)."""
        from kwtui.transfer.engine import error_message

        self.error = error_message(exc)
        try:
            self.write()
        except OSError:
            pass

    def finish(self) -> None:
        self.complete = True
        self.write(fsync=True)


def disk_full(exc: BaseException, where: Path, rows: int) -> KwtuiError | None:
    """A full disk (ENOSPC, EDQUOT) while writing an export, as one clear line."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return KwtuiError(f"disk full while writing the export in {where} after {rows:,} rows: the export is "
                          "incomplete (its manifest says so)", hint="free some space or export elsewhere")
    return None


def check_space(directory: Path, estimate: int | None, what: str) -> None:
    """Refuse an export before a row moves when the free space is below the estimate (the table size)."""
    if not estimate:
        return
    probe = directory
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < estimate:
        raise KwtuiError(f"not enough disk space for {what}: about {estimate / 1e6:,.1f} MB estimated from the "
                         f"table size, {free / 1e6:,.1f} MB free in {probe}: nothing was written",
                         hint="free some space or export elsewhere")


# -- import side -------------------------------------------------------------------------------


@dataclass
class ManifestCheck:
    """What :func:`check_import` found."""

    path: Path | None = None  # the manifest, None when there is none
    complete: bool = True
    notices: list[str] = field(default_factory=list)
    verified: int = 0  # chunks checked against the manifest
    unlisted: list[Path] = field(default_factory=list)  # chunks present but not in an incomplete manifest
    expected_rows: dict[Path, int] = field(default_factory=dict)  # table directory -> rows the manifest lists


def find_manifest(source: Path) -> Path | None:
    """The manifest of an export that holds ``source`` (the directory, a table in a database tree, a file)."""
    start = source if source.is_dir() else source.parent
    for d in (start, start.parent, start.parent.parent):
        m = d / MANIFEST
        if m.is_file():
            return m
    return None


def _sha256(path: Path) -> tuple[str, int, bytes | None]:
    h = hashlib.sha256()
    size = path.stat().st_size
    keep = size <= COUNT_LIMIT
    parts: list[bytes] = []
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
            if keep:
                parts.append(block)
    return h.hexdigest(), size, b"".join(parts) if keep else None


def check_import(layout: Any, source: Path, dialect: Any, *, allow_incomplete: bool = False) -> ManifestCheck:
    """Check an export against its manifest before anything is loaded (see the module text).

    Raises KwtuiError for an incomplete export (unless ``allow_incomplete``), a chunk whose
    bytes, checksum or record count differ from the manifest, a listed chunk that is missing,
    or a chunk a complete manifest does not list.
    """
    from kwtui.transfer.layout import count_block_records

    res = ManifestCheck()
    if layout.kind not in ("table", "database"):
        return res  # plain CSV files: nothing kwtui exported
    mpath = find_manifest(source)
    if mpath is None:
        res.notices.append(f"{source} has no kwtui manifest (an export written by KWDB itself?): "
                           "its chunks cannot be checked for completeness")
        return res
    try:
        doc = json.loads(mpath.read_text(encoding="utf-8"))
        if doc.get("format") != FORMAT:
            raise ValueError("not a kwtui export manifest")
    except (OSError, ValueError) as exc:
        raise KwtuiError(f"{mpath}: unreadable export manifest ({exc}): refused",
                         hint="re-export, or load the files with --into") from None
    res.path = mpath
    root = mpath.parent
    res.complete = bool(doc.get("complete"))
    listed: dict[Path, tuple[dict[str, Any], dict[str, Any]]] = {}
    for t in doc.get("tables", []):
        tdir = (root / t.get("directory", ".")).resolve()
        res.expected_rows[tdir] = int(t.get("rows", 0))
        for f in t.get("files", []):
            listed[(tdir / f["name"]).resolve()] = (t, f)
    if not res.complete:
        why = f" ({doc['error']})" if doc.get("error") else ""
        rows = sum(int(f["rows"]) for _t, f in listed.values())
        if not allow_incomplete:
            raise KwtuiError(f"{source} is an incomplete export: its manifest {mpath.name} is not marked complete"
                             f"{why}; {len(listed)} chunk(s), {rows:,} rows finished: nothing loaded",
                             hint="export again, or load what is there with --allow-incomplete")
        res.notices.append(f"{source} is an incomplete export{why}: loading only the chunks present "
                           "(--allow-incomplete)")
    present = [p.resolve() for p in layout.data_files]
    for p in present:
        entry = listed.get(p)
        if entry is None:
            if res.complete:
                raise KwtuiError(f"{p}: a data file the export's manifest does not list (added after the export?): "
                                 "refused", hint="remove it, or load it on its own with --into")
            res.unlisted.append(p)
            continue
        t, f = entry
        digest, size, data = _sha256(p)
        if size != int(f["bytes"]) or digest != f["sha256"]:
            raise KwtuiError(f"{p}: its checksum differs from the export's manifest (changed or damaged after the "
                             f"export): refused, nothing loaded", hint="export the table again")
        if data is not None:
            records = count_block_records(data, dialect) - (1 if t.get("header") and data else 0)
            if records != int(f["rows"]):
                raise KwtuiError(f"{p}: {records:,} records, the manifest says {int(f['rows']):,}: refused")
        res.verified += 1
    src, here = source.resolve(), set(present)
    missing = [p for p in listed if source.is_dir() and src in p.parents and p not in here]
    if missing:
        raise KwtuiError(f"{missing[0]}: listed in the export's manifest but missing ({len(missing)} chunk(s)): "
                         "refused, nothing loaded", hint="copy the whole export directory")
    if res.unlisted:
        res.notices.append(f"{len(res.unlisted)} chunk(s) finished after the manifest's last update: loaded "
                           "unverified (" + ", ".join(p.name for p in res.unlisted[:3]) + ")")
    return res


__all__ = ["MANIFEST", "ManifestWriter", "ManifestTable", "Sha256Writer", "check_import", "check_space",
           "command_text", "disk_full", "find_manifest"]
