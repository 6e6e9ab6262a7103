"""What the attack tests share."""

from __future__ import annotations

from typing import Any

import psycopg


def execute(uri: str, text: str) -> list[Any]:
    """One statement (or a script) on ``uri`` in autocommit; its rows, if any."""
    with psycopg.connect(uri, autocommit=True) as conn:
        cur = conn.execute(text)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []
