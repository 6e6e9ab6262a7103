"""The ``kwtui`` command (kwtui/cli/entry.py), one module per subcommand."""

from kwtui.cli.entry import build_parser, main

__all__ = ["build_parser", "main"]
