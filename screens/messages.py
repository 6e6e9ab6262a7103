"""Past-tense messages that workers post; ``@on`` handlers own UI state."""

from __future__ import annotations

from typing import Any

from textual.message import Message

from kwtui.catalog import Database
from kwtui.connection import ConnectionService, ConnectTarget, ServerInfo
from kwtui.errors import KwtuiError


class Connected(Message):
    def __init__(self, service: ConnectionService, info: ServerInfo, databases: list[Database]) -> None:
        super().__init__()
        self.service = service
        self.info = info
        self.databases = databases


class ConnectFailed(Message):
    def __init__(self, target: ConnectTarget, error: KwtuiError) -> None:
        super().__init__()
        self.target = target
        self.error = error


class DemoStarted(Message):
    def __init__(self, demo: Any) -> None:
        super().__init__()
        self.demo = demo
