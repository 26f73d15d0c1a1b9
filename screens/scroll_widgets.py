"""Textual's scrolling widgets with their keys from the registry ("scroll" scope),
so that `?` lists every key that does something on any of our screens."""
from __future__ import annotations

from textual.containers import VerticalScroll
from textual.widgets import Log

from screens import keymap


class ScrollText(VerticalScroll, inherit_bindings=False):
    BINDINGS = keymap.bindings("scroll")


class ScrollLog(Log, inherit_bindings=False):
    BINDINGS = keymap.bindings("scroll")
