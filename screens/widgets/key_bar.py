"""KeyBar: the one-line footer of the keys that work here, from the registry.

Textual's Footer builds a widget per key and recomposes them on every focus
change; this is one Static line rendered from the screen's active bindings
(which all come from screens/keymap.py), cheaper on the first frame.
"""
from __future__ import annotations

from textual.markup import escape
from textual.screen import Screen
from textual.widgets import Static


class KeyBar(Static):
    _shown: str | None = None   # the markup shown

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self.call_after_refresh(self._bindings_changed, self.screen)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        if self.is_attached and screen is self.screen:
            markup = self.markup_for_bindings()
            if markup != self._shown:
                # one line high (CSS): a new text never needs a layout pass of the
                # whole screen, which Static.update asks for by default
                self.update(markup, layout=False)
                self._shown = markup

    def markup_for_bindings(self) -> str:
        parts, seen = [], set()
        for _node, binding, enabled, _tooltip in self.screen.active_bindings.values():
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            key = escape(self.app.get_key_display(binding))
            style = "b $accent" if enabled else "dim"
            parts.append(f"[{style}]{key}[/] {escape(binding.description)}")
        return "  ".join(parts)
