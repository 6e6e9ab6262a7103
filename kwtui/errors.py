"""Errors the user can act on. Each carries one clear line for the CLI and the error modal."""

from __future__ import annotations


class KwtuiError(Exception):
    """A runtime failure with a message meant for a person (CLI exit code 1)."""

    exit_code = 1

    def __init__(self, message: str, *, detail: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        self.hint = hint

    def one_line(self) -> str:
        text = self.message
        if self.hint:
            text = f"{text} ({self.hint})"
        return " ".join(text.split())


class UsageError(KwtuiError):
    """The command line or a form was filled in wrongly (CLI exit code 2)."""

    exit_code = 2


class ProfileError(KwtuiError):
    """A saved profile is missing, invalid or incomplete."""


class ConnectError(KwtuiError):
    """The server could not be reached or refused us."""
