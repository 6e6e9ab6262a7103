"""Layering: the core never pulls in Textual, the screens never talk to the database driver.

import-linter (configured in pyproject.toml) checks the ``kwtui/`` folder, which is exactly
the core. ``screens/`` and ``styles/`` are mapped into ``kwtui.*`` at install time, where
import-linter does not look, so their imports are read here from the source.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

CORE_MODULES = ["kwtui.cli", "kwtui.connection", "kwtui.profiles", "kwtui.demo", "kwtui.embedded", "kwtui.dialects"]
DRIVER_PACKAGES = {"psycopg", "psycopg_pool", "psycopg2"}


def test_core_imports_without_textual() -> None:
    code = (
        "import sys\n"
        f"import {', '.join(CORE_MODULES)}\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich') or m.startswith('kwtui.screens'))\n"
        "print(','.join(bad))\n"
        "sys.exit(1 if bad else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 0, f"the core imported UI modules: {proc.stdout.strip()} {proc.stderr}"


def test_cli_usage_error_path_does_not_import_textual() -> None:
    code = (
        "import sys\n"
        "from kwtui.cli import main\n"
        "rc = main(['--reset'])\n"
        "sys.exit(10 if 'textual' in sys.modules else rc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert proc.returncode == 2, proc.stderr


def _lint_imports() -> str | None:
    local = Path(sys.executable).parent / "lint-imports"
    if local.exists():
        return str(local)
    return shutil.which("lint-imports")


def test_import_linter_contracts() -> None:
    exe = _lint_imports()
    if exe is None:
        pytest.skip("import-linter is not installed")
    proc = subprocess.run([exe, "--no-cache"], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert " 0 broken" in proc.stdout


def _imported_packages(path: Path) -> set[str]:
    """Top-level names of every absolute import in one source file (inside functions too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.add(node.args[0].value.split(".")[0])
    return found


def test_screens_never_import_the_database_driver() -> None:
    files = [p for sub in ("screens", "styles") for p in sorted((REPO / sub).glob("**/*.py"))]
    if not files:
        pytest.skip("no screens yet")
    offenders = {str(p.relative_to(REPO)): sorted(_imported_packages(p) & DRIVER_PACKAGES) for p in files}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_driver_import_check_sees_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom psycopg import sql\n\ndef f():\n    import psycopg_pool\n    from . import x\n")
    assert _imported_packages(sample) & DRIVER_PACKAGES == {"psycopg", "psycopg_pool"}
