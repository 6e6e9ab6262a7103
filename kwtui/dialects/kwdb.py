from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import sql

from kwtui.catalog import RELATIONAL, TIME_SERIES, Database
from kwtui.dialects.base import Capabilities


class KwdbDialect:
    kind = "kwdb"
    label = "KWDB"
    default_port = 26257
    caps = Capabilities(
        copy_from_stdin=True,  # relational tables only
        copy_to_stdout=False,
        server_cursors=False,
        time_series=True,
        native_import_export=True,
        upsert=True,
        on_conflict=True,
        read_only_transactions=True,
    )

    def list_databases_query(self) -> sql.SQL:
        return sql.SQL("SHOW DATABASES WITH COMMENT")

    def parse_databases(self, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[Database]:
        """Parse SHOW DATABASES [WITH COMMENT]: database_name | engine_type [| comment]."""
        idx = {c.lower(): i for i, c in enumerate(columns)}
        name_i = idx.get("database_name", 0)
        engine_i = idx.get("engine_type")
        comment_i = idx.get("comment")
        out = []
        for row in rows:
            engine = RELATIONAL
            if engine_i is not None and str(row[engine_i]).strip().upper() == "TIME SERIES":
                engine = TIME_SERIES
            comment = row[comment_i] if comment_i is not None else None
            if comment in ("NULL", ""):
                comment = None
            out.append(Database(name=str(row[name_i]), engine=engine, comment=comment))
        return out
