"""Textual's scrolling widgets with their keys from the registry ("scroll" scope),
so that `?` lists every key that does something on any of our screens."""
from __future__ import annotations

from textual.containers import VerticalScroll
from textual.widgets import Log

from console.safe_text import visible
from screens import keymap


class ScrollText(VerticalScroll, inherit_bindings=False):
    BINDINGS = keymap.bindings("scroll")


class ScrollLog(Log, inherit_bindings=False):
    """Textual's Log, showing its lines (pod logs, YAML of cluster objects) with
    every control character made visible: Log itself only replaces U+0000..U+0014,
    so an ESC, a C1 code or a bidi override in a log line would reach the terminal."""
    BINDINGS = keymap.bindings("scroll")

    @classmethod
    def _process_line(cls, line: str) -> str:
        return visible(line.expandtabs())
