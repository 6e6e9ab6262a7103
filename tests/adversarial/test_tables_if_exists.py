"""Attack: write into a target table that already holds rows.

Before issue 16 a second ``kwtui transfer`` of a keyless table doubled it and said
"completed". Now a non-empty target is refused (exit 1, the table and its row count named)
unless ``--if-exists`` says what to do, and each word does what it says.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from kwtui.cli import main

from ..test_cli import error_lines


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def execute(uri: str, text: str) -> list[Any]:
    with psycopg.connect(uri, autocommit=True) as conn:
        cur = conn.execute(text)  # type: ignore[arg-type]
        return cur.fetchall() if cur.description else []


def count(uri: str, table: str) -> int:
    return int(execute(uri, f"SELECT count(*) FROM {table}")[0][0])


def seed_keyless(uri: str, rows: int = 1000) -> None:
    execute(uri, f"CREATE TABLE events (a int, b text); "
                 f"INSERT INTO events SELECT g, 'e' || g FROM generate_series(1, {rows}) g")


def test_second_transfer_of_a_keyless_table_is_refused(capsys: pytest.CaptureFixture[str],
                                                       two_dbs: tuple[str, str]) -> None:
    src, dst = two_dbs
    seed_keyless(src)
    execute(dst, "CREATE TABLE events (a int, b text)")  # an existing, empty target needs no choice
    code, _out, err = run(capsys, "transfer", "-s", src, "-t", dst, "--table", "public.events")
    assert code == 0, err
    assert count(dst, "events") == 1000
    # the attack: the same transfer again (before: exit 0, "completed", 2,000 rows)
    code, out, err = run(capsys, "transfer", "-s", src, "-t", dst, "--table", "public.events")
    assert code == 1, (out, err)
    assert "public.events" in err and "1,000 rows" in err and "--if-exists" in err
    assert len(error_lines(err)) == 1 and "Traceback" not in err
    assert count(dst, "events") == 1000


@pytest.mark.parametrize(("word", "expected"), [("append", 2000), ("truncate", 1000), ("replace", 1000)])
def test_transfer_if_exists_words(capsys: pytest.CaptureFixture[str], two_dbs: tuple[str, str], word: str,
                                  expected: int) -> None:
    src, dst = two_dbs
    seed_keyless(src)
    # the target holds 1,000 other rows, and a column the source lacks (replace drops it)
    execute(dst, "CREATE TABLE events (a int, b text, extra int DEFAULT 7); "
                 "INSERT INTO events (a, b) SELECT -g, 'old' FROM generate_series(1, 1000) g")
    code, out, err = run(capsys, "transfer", "-s", src, "-t", dst, "--table", "public.events", "--if-exists", word)
    assert code == 0, (out, err)
    assert count(dst, "events") == expected
    old = int(execute(dst, "SELECT count(*) FROM events WHERE b = 'old'")[0][0])
    assert old == (1000 if word == "append" else 0)
    cols = [r[0] for r in execute(dst, "SELECT column_name FROM information_schema.columns "
                                       "WHERE table_name = 'events' ORDER BY ordinal_position")]
    assert cols == (["a", "b"] if word == "replace" else ["a", "b", "extra"])


def test_bad_if_exists_word_is_a_usage_error(capsys: pytest.CaptureFixture[str], two_dbs: tuple[str, str]) -> None:
    src, dst = two_dbs
    for argv in (["transfer", "-s", src, "-t", dst, "--table", "t"], ["import", "--dsn", dst, "--from", ".", "--create"],
                 ["run", "plan.toml"]):
        code, _out, err = run(capsys, *argv, "--if-exists", "merge")
        assert code == 2 and "'merge'" in err and "'truncate'" in err, err  # the four words are named
