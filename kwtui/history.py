"""Query history of the SQL console: JSON lines in the platformdirs state directory."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from kwtui import paths

MAX_ENTRIES = 1000


@dataclass(frozen=True)
class HistoryEntry:
    sql: str
    database: str = ""
    status: str = ""
    rows: int | None = None
    elapsed: float | None = None
    at: float = 0.0


class History:
    def __init__(self, path: Path | None = None, *, max_entries: int = MAX_ENTRIES) -> None:
        self.path = path or paths.state_dir() / "history.jsonl"
        self.max_entries = max_entries

    def add(self, entry: HistoryEntry) -> None:
        if not entry.sql.strip():
            return
        if not entry.at:
            entry = HistoryEntry(**{**asdict(entry), "at": time.time()})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(asdict(entry), ensure_ascii=False) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(line)
        if self.path.stat().st_size > 4 * 1024 * 1024:  # keep the file small
            self._trim()

    def entries(self, limit: int | None = None) -> list[HistoryEntry]:
        """Newest first; unreadable lines are skipped."""
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                out.append(HistoryEntry(**json.loads(line)))
            except (ValueError, TypeError):
                continue
        out.reverse()
        # consecutive duplicates of the same text collapse to the newest
        deduped: list[HistoryEntry] = []
        for e in out:
            if not deduped or deduped[-1].sql != e.sql:
                deduped.append(e)
        return deduped[:limit] if limit else deduped

    def _trim(self) -> None:
        keep = list(reversed(self.entries(self.max_entries)))
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(asdict(e), ensure_ascii=False) + "\n" for e in keep), encoding="utf-8")
        os.replace(tmp, self.path)
