"""A seeded monkey: random keys on every screen at 80x24, against a real server.

Each episode opens one screen the way a user reaches it (the footer's key, the palette or the
welcome menu) and then presses random keys, drawn from the keys that mean something on some
screen (arrows, Enter, Esc, Tab, F-keys, Ctrl combinations, letters, digits). Any exception in
the app, any exit, fails the test with the seed and the last keys pressed, so that a crash can be
replayed: ``KWTUI_MONKEY_SEEDS=1234 pytest tests/test_tui_monkey.py``.

The number of keys is fixed (``KWTUI_MONKEY_KEYS``, default 6,000 over all episodes); the time budget
(``KWTUI_MONKEY_SECONDS``, default 90, of key pressing) only stops a slow machine early, and the count
reached is printed: a timing never decides pass or fail.

Crashes it found (all fixed; see screens/textual_fixes.py and screens/base.py): Textual's Header
watching the title of a screen already popped (NoMatches HeaderTitle); PageDown in the command palette
before its list was laid out (KeyError 0); F7 during Ctrl+D, the wizard popped while it mounted
(NoMatches #f-source); Esc typed ahead twice dismissing the screen below as well, down to
"No screens on stack".
"""

from __future__ import annotations

import os
import random
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import pytest
from textual import events
from textual.pilot import Pilot

from kwtui.connection import ConnectTarget
from kwtui.profiles import ProfileStore
from kwtui.screens.app import KwtuiApp
from kwtui.screens.browse import BrowseScreen
from kwtui.screens.welcome import WelcomeScreen

from .conftest import TestDb
from .tui_helpers import wait_for

SIZE = (80, 24)
SEEDS = [int(s) for s in os.environ.get("KWTUI_MONKEY_SEEDS", "11,23,37").split(",")]
KEYS = int(os.environ.get("KWTUI_MONKEY_KEYS", "6000"))
BUDGET = float(os.environ.get("KWTUI_MONKEY_SECONDS", "90"))
BATCH = 50  # keys pressed before the pilot waits for the screen (a fast typist)

SEED_SQL = """
CREATE TABLE public.meters (
    id integer PRIMARY KEY, name text, reading numeric(12, 3), note text, taken timestamptz
);
INSERT INTO public.meters
SELECT g, 'meter ' || g, CASE WHEN g % 5 = 0 THEN NULL ELSE g * 1.25 END,
       CASE WHEN g % 4 = 0 THEN NULL WHEN g % 4 = 1 THEN 'NULL' WHEN g % 4 = 2 THEN '' ELSE repeat('long ', 60) END,
       '2024-01-01'::timestamptz + g * interval '1 hour'
FROM generate_series(1, 60) g;
CREATE TABLE public.empty_one (id bigint PRIMARY KEY, payload jsonb);
CREATE SCHEMA side;
CREATE TABLE side.tags (tag text PRIMARY KEY, weight double precision);
INSERT INTO side.tags VALUES ('a', 1.5), ('b', NULL), ('NULL', 'NaN');
CREATE VIEW public.meter_names AS SELECT id, name FROM public.meters;
ANALYZE;
"""

#: keys that do something somewhere; ctrl+q (quit), ctrl+c and ctrl+z (suspend) are left out
NAV = ["up", "down", "left", "right", "home", "end", "pageup", "pagedown", "enter", "escape", "tab",
       "shift+tab", "space", "backspace", "delete"]
FKEYS = [f"f{i}" for i in range(1, 11)]
CTRL = ["ctrl+p", "ctrl+n", "ctrl+b", "ctrl+l", "ctrl+s", "ctrl+r", "ctrl+e", "ctrl+a", "ctrl+k", "ctrl+enter",
        "ctrl+d", "ctrl+t", "ctrl+o", "ctrl+f"]
TEXT = list("abcdefghijklmnopqrstuvwxyz0123456789") + ["question_mark", "slash", "comma", "full_stop",
                                                   "semicolon", "asterisk", "quotation_mark", "minus"]


CHARS = {"question_mark": "?", "slash": "/", "comma": ",", "full_stop": ".", "semicolon": ";", "asterisk": "*",
         "quotation_mark": '"', "minus": "-", "space": " "}


async def type_ahead(pilot: Pilot, keys: list[str]) -> None:
    """Send ``keys`` as a fast typist does (queued before the app has drawn the first), then let the
    app settle. pilot.press waits for a redraw after every key: too slow for thousands of keys."""
    app = pilot.app
    assert app._driver is not None
    for key in keys:
        event = events.Key(key, CHARS.get(key, key if len(key) == 1 else None))
        event.set_sender(app)
        app._driver.send_message(event)
    await pilot.pause()


def pick(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.40:
        return rng.choice(NAV)
    if roll < 0.55:
        return rng.choice(FKEYS)
    if roll < 0.65:
        return rng.choice(CTRL)
    return rng.choice(TEXT)


class MonkeyApp(KwtuiApp):
    """The app as a user starts it, minus the ways out of the test: Quit and the demo server
    (a second embedded PostgreSQL) are recorded instead of done."""

    quits = 0

    async def action_quit(self) -> None:
        self.quits += 1

    def action_start_demo(self) -> None:
        self.notify("demo: not in the monkey test")


def _open(app: KwtuiApp, how: str) -> Callable[[], object]:
    """The ways to reach each screen: footer keys are pressed by the episode, these open the rest."""
    return {
        "jobs": app.action_open_jobs,
        "validation": app.action_open_validation,
        "migration": app.action_new_migration,
        "plan": app.action_open_plan,
        "connect": app.action_open_connect,
        "help": app.action_help,
        "export": app.open_export_wizard,
        "import": app.open_import_wizard,
    }[how]


#: (name, keys that open it from browse, or an app action)
EPISODES: list[tuple[str, list[str] | str]] = [
    ("browse", []),
    ("console", ["f2"]),
    ("console reads", ["f2"]),  # several reads in the editor: Run all (F6) runs them one after another
    ("export", ["f6"]),
    ("import", ["f7"]),
    ("jobs", "jobs"),
    ("validation", "validation"),
    ("migration", "migration"),
    ("plan", "plan"),
    ("connect", "connect"),
    ("palette", ["ctrl+p"]),
    ("help", "help"),
]


def _prepare(app: KwtuiApp, name: str) -> None:
    """What an episode finds on its screen before the keys start."""
    if name == "console reads":
        from textual.widgets import TextArea

        editor = app.screen.query_one("#sql-editor", TextArea)
        editor.text = "select * from meters;\nselect count(*) from side.tags;\nselect * from empty_one"


def _crashed(app: KwtuiApp) -> BaseException | None:
    return getattr(app, "_exception", None)


@pytest.fixture
def seeded(db: TestDb, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TestDb:
    db.execute(SEED_SQL)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # whatever the monkey exports or saves lands here
    monkeypatch.setenv("KWTUI_JOURNAL", str(tmp_path / "jobs.db"))
    return db


async def _back_to_browse(pilot: Pilot, app: KwtuiApp, target: ConnectTarget) -> None:
    """Pop whatever the monkey left open; reconnect when it disconnected."""
    for _ in range(20):
        if isinstance(app.screen, BrowseScreen):
            return
        if not any(isinstance(s, WelcomeScreen) for s in app.screen_stack):
            raise AssertionError(f"the welcome screen was popped: the stack is {app.screen_stack}")
        if isinstance(app.screen, WelcomeScreen) and len(app.screen_stack) <= 2:
            app.connect(target)
            await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen) or _crashed(app) is not None, 30)
            continue
        if len(app.screen_stack) > 1:
            app.pop_screen()
        await pilot.pause(0.05)
    await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen), 30)


async def test_monkey(seeded: TestDb, profiles_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = ConnectTarget.from_dsn(seeded.uri)
    per_episode = max(1, KEYS // (len(SEEDS) * len(EPISODES)))
    pressed_total = 0
    started = time.monotonic()
    spent = 0.0  # seconds spent pressing keys (the budget; app starts and reconnects are not counted)
    report: list[str] = []
    for seed in SEEDS:
        app = MonkeyApp(target=target, store=ProfileStore(profiles_path))
        last: deque[str] = deque(maxlen=40)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: isinstance(pilot.app.screen, BrowseScreen), 30)
            for episode, (name, how) in enumerate(EPISODES):
                rng = random.Random(seed * 1000 + episode)
                try:
                    await _back_to_browse(pilot, app, target)
                except AssertionError as exc:
                    pytest.fail(f"seed {seed}, before episode {name}: {exc}\nlast keys: {' '.join(last)}")
                last.append(f"<open {name}>")
                if isinstance(how, str):
                    _open(app, how)()
                else:
                    for key in how:
                        await pilot.press(key)
                await pilot.pause(0.1)
                _prepare(app, name)
                count = 0
                t0 = time.monotonic()
                while count < per_episode and spent + time.monotonic() - t0 < BUDGET:
                    batch = [pick(rng) for _ in range(min(BATCH, per_episode - count))]
                    last.extend(batch)
                    try:
                        await type_ahead(pilot, batch)
                    except Exception as exc:  # the pilot itself failed: the app is gone
                        pytest.fail(f"seed {seed}, episode {name}: {type(exc).__name__}: {exc}\n"
                                    f"last keys: {' '.join(last)}")
                    count += len(batch)
                    crash = _crashed(app)
                    if crash is not None or not app.is_running:
                        pytest.fail(f"seed {seed}, episode {name}, key {count}: "
                                    f"{type(crash).__name__ if crash else 'exit'}: {crash}\n"
                                    f"last keys: {' '.join(last)}")
                pressed_total += count
                spent += time.monotonic() - t0
                report.append(f"seed {seed} {name}: {count} keys in {time.monotonic() - t0:.1f} s")
        crash = _crashed(app)
        if crash is not None or (app.return_code not in (None, 0)):
            pytest.fail(f"seed {seed}: {type(crash).__name__ if crash else 'exit code'}: {crash or app.return_code}\n"
                        f"last keys: {' '.join(last)}")
    with capsys.disabled():
        print(f"\nmonkey: {pressed_total} keys, seeds {SEEDS}, {spent:.0f} s of keys, "
              f"{time.monotonic() - started:.0f} s in all")
        print("\n".join(report))
    assert pressed_total > 0, report
