"""Attack: a migration's historical copy into target tables that already hold rows.

Before issue 16 the schema phase kept an existing table "as it is" and the history was
appended to whatever it held. Now the historical phase refuses a filled table unless the
plan (``kwtui plan --if-exists``) or the run (``kwtui run --if-exists``) says what to do.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kwtui.migration import MigrationPlan, MigrationState

from ..test_cli import run
from .helpers import execute


def setup(src: str, dst: str) -> None:
    execute(src, "CREATE TABLE t (a int, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 50) g")
    execute(dst, "CREATE TABLE t (a int, v text, extra int); INSERT INTO t SELECT -g, 'old' FROM generate_series(1, 20) g")


def count(uri: str) -> int:
    return int(execute(uri, "SELECT count(*) FROM t")[0][0])


def test_history_into_a_filled_table_is_refused_then_each_word(capsys: pytest.CaptureFixture[str],
                                                              two_dbs: tuple[str, str], tmp_path: Path) -> None:
    src, dst = two_dbs
    setup(src, dst)
    planfile = tmp_path / "p.toml"
    code, _out, err = run(capsys, "plan", "--source", src, "--target", dst, "--save", str(planfile),
                          "--no-source-writes")
    assert code == 0, err
    code, out, err = run(capsys, "run", str(planfile), "--through", "historical",
                         "--accept-warnings")  # the keyless t is a preflight warning
    assert code == 1, (out, err)
    st = MigrationState.load(MigrationPlan.load(planfile), planfile)
    hist = st.phase("historical")
    assert hist.state == "failed" and "public.t" in hist.summary and "20 rows" in hist.summary, hist.summary
    assert count(dst) == 20  # nothing was added
    # this run empties it first
    code, out, err = run(capsys, "run", str(planfile), "--through", "historical", "--if-exists", "truncate",
                         "--accept-warnings")
    assert code == 0, (out, err)
    assert count(dst) == 50 and execute(dst, "SELECT count(*) FROM t WHERE v = 'old'")[0][0] == 0


@pytest.mark.parametrize(("word", "expected", "cols"), [("append", 70, 3), ("replace", 50, 2)])
def test_plan_level_if_exists(capsys: pytest.CaptureFixture[str], two_dbs: tuple[str, str], tmp_path: Path,
                              word: str, expected: int, cols: int) -> None:
    src, dst = two_dbs
    setup(src, dst)
    planfile = tmp_path / "p.toml"
    code, _out, err = run(capsys, "plan", "--source", src, "--target", dst, "--save", str(planfile),
                          "--no-source-writes", "--if-exists", word)
    assert code == 0, err
    assert MigrationPlan.load(planfile).requirements.if_exists == word
    code, out, err = run(capsys, "run", str(planfile), "--through", "historical",
                         "--accept-warnings")  # the keyless t is a preflight warning
    assert code == 0, (out, err)
    assert count(dst) == expected
    assert len(execute(dst, "SELECT column_name FROM information_schema.columns WHERE table_name = 't'")) == cols
