"""The Textual user interface of kwtui, installed as ``kwtui.screens``.

Screens never run SQL: they ask the core (``kwtui.connection``, ``kwtui.profiles``, ...)
from workers and turn the answers into widgets.
"""
