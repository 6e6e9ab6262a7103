"""Textual stylesheets (.tcss) of kwtui, installed as ``kwtui.styles``."""

from pathlib import Path

STYLES_DIR = Path(__file__).parent
APP_CSS = STYLES_DIR / "kwtui.tcss"
