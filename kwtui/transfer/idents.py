"""KWDB identifier quoting, kept light: the CSV export's meta.sql needs it without the
whole IMPORT/EXPORT builder (:mod:`kwtui.transfer.native` re-exports all of this)."""

from __future__ import annotations

import re

from kwtui.errors import UsageError


class NativeOptionError(UsageError):
    """An IMPORT/EXPORT form or option is wrong; raised before anything is sent."""


# -- quoting ------------------------------------------------------------------------------------

# KWDB's grammar (sql.y): reserved_keyword, type_func_name_keyword and col_name_keyword.
# Quoting a col_name keyword is not strictly needed everywhere, but it is what KWDB's own QA
# does ("time") and it is never wrong.
_KEYWORDS = frozenset("""
ALL ANALYSE ANALYZE AND ANY ARRAY AS ASC ASSIGN ASYMMETRIC ATTRIBUTE ATTRIBUTES BOTH CASE CAST CAST_CHECK
CHECK COLLATE COLUMN COMMENT COMPRESS CONCURRENTLY CONSTRAINT CREATE CURRENT_CATALOG CURRENT_DATE
CURRENT_ROLE CURRENT_SCHEMA CURRENT_TIME CURRENT_TIMESTAMP CURRENT_USER DDLREPLAY DELIMITER_EOF DEFAULT
DEFERRABLE DESC DISTINCT DO EACH ELSE ELSIF END ENDIF ENDWHILE ENDCASE ENDLOOP ENDHANDLER CURSOR HANDLER
EXIT CONTINUE FOUND SQLEXCEPTION EXCEPT FALSE FETCH FILL FOR FOREIGN FROM GRANT GROUP HAVING IN INITIALLY
INTERSECT INTO LATERAL LEADING LIMIT LOCALTIME LOCALTIMESTAMP LOOP NOT NEVER NULL OFFSET ON ONLY OR ORDER
PLACING PRIMARY REBALANCE REFERENCES RECURRING RETURNING RETURNS SAMPLE SELECT SESSION_USER SOME SYMMETRIC
TABLE TAG TAGS TAG_TABLE TAG_ONLY THEN TO TRAILING TRUE UNION UNIQUE USER USING VARIADIC WHEN WHERE WHILE
WINDOW WITH INDEX NOTHING
COLLATION CROSS ENCODE FULL INNER ILIKE IS ISNULL JOIN LEFT LIKE NATURAL NONE NOTNULL OUTER OVERLAPS RIGHT
SIMILAR FAMILY
ANNOTATE_TYPE BETWEEN BIGINT BIT BOOLEAN CHAR CHARACTER CHARACTERISTICS COALESCE DEC DECIMAL EXISTS EXTRACT
EXTRACT_DURATION FLOAT GEOMETRY GREATEST GROUPING IF IFERROR IFNULL INT INTEGER INTERVAL ISERROR LEAST NCHAR
NULLIF NUMERIC NVARCHAR OUT OVERLAY POSITION PRECISION REAL ROW SMALLINT SUBSTRING TIME TIMETZ TIMESTAMP
TIMESTAMPTZ TINYINT TREAT TRIM VALUES VARBIT VARCHAR VARBYTES VIRTUAL WORK
""".split())

_PLAIN_IDENT = re.compile(r"[a-z_][a-z0-9_]*")


def quote_ident(name: str) -> str:
    """One identifier: bare when it is a lower-case plain non-keyword, else double-quoted."""
    if not isinstance(name, str) or name == "":
        raise NativeOptionError("a name is empty: give the table, column or database name")
    if "\x00" in name:
        raise NativeOptionError(f"the name {name!r} contains a NUL character")
    if _PLAIN_IDENT.fullmatch(name) and name.upper() not in _KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'
