"""Where kwtui keeps its files (platformdirs; honours XDG_* variables on Linux)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "kwtui"


def _ensure(path: Path, mode: int = 0o700) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=mode)
    return path


def config_dir() -> Path:
    """Profiles and settings (TOML). Created with mode 0700."""
    return _ensure(Path(platformdirs.user_config_dir(APP)))


def data_dir() -> Path:
    """Large data: the embedded demo server's cluster."""
    return _ensure(Path(platformdirs.user_data_dir(APP)))


def state_dir() -> Path:
    """Journal, query history."""
    return _ensure(Path(platformdirs.user_state_dir(APP)))


def log_dir() -> Path:
    return _ensure(Path(platformdirs.user_log_dir(APP)))


def profiles_file() -> Path:
    override = os.environ.get("KWTUI_PROFILES")
    if override:
        return Path(override)
    return config_dir() / "profiles.toml"
