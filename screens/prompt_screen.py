"""The bottom prompt for `:` commands and `/` filters (a modal line over the screen).

`/` applies the filter as it is typed; an invalid regular expression is shown
as an error under the line and the table keeps its last valid filter. Esc puts
back the filter that was on before the prompt opened.
"""
from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input, Static

from screens import keymap


class PromptScreen(ModalScreen[str | None], inherit_bindings=False):
    BINDINGS = keymap.bindings("prompt")

    def __init__(self, prefix: str, *, initial: str = "",
                 on_change: Callable[[str], str | None] | None = None,
                 on_submit: Callable[[str], str | None] | None = None,
                 suggestions: list[str] | None = None, placeholder: str = "") -> None:
        super().__init__()
        self.prefix = prefix
        self.initial = initial
        self.on_change_cb = on_change
        self.on_submit_cb = on_submit
        self.suggestions = suggestions
        self.placeholder = placeholder
        self.error = ""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("", id="prompt-error", classes="-empty")
            suggester = SuggestFromList(self.suggestions, case_sensitive=False) if self.suggestions else None
            with Horizontal():
                yield Static(self.prefix, id="prompt-prefix")
                yield Input(self.initial, placeholder=self.placeholder, id="prompt-input",
                            suggester=suggester)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def _show_error(self, error: str | None) -> None:
        self.error = error or ""
        label = self.query_one("#prompt-error", Static)
        label.update(self.error)
        label.set_class(not self.error, "-empty")

    def on_input_changed(self, event: Input.Changed) -> None:
        if self.on_change_cb is not None:
            self._show_error(self.on_change_cb(event.value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    def action_submit(self) -> None:
        value = self.query_one(Input).value
        error = self.on_submit_cb(value) if self.on_submit_cb is not None else None
        if error:
            self._show_error(error)
            return
        self.dismiss(value)

    def action_cancel(self) -> None:
        if self.on_change_cb is not None:
            self.on_change_cb(self.initial)
        self.dismiss(None)
