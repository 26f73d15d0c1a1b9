"""`?`: every bound key and every `:` command, straight from screens/keymap.py."""
from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Static

from screens import keymap
from screens.key_bar import KeyBar
from screens.scroll_widgets import ScrollText

SCOPE_TITLES = {
    "app": "Everywhere",
    "table": "In a table (nodes, pods, GPUs, alerts, events)",
    "scroll": "In scrolling text (YAML, a pod's log, this help)",
    "detail": "In a detail view (Enter on a row)",
    "wizard": "In a wizard (:tune)",
    "confirm": "In a wizard's confirmation",
    "prompt": "In the : command / / filter line",
    "wizard": "In a wizard (:tune)",
}


def help_table() -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    table.add_column(style="dim")
    for scope, title in SCOPE_TITLES.items():
        table.add_row(Text(title, style="bold underline"), "", "")
        for k in keymap.keys(scope):
            table.add_row(keymap.display_key(k.key), k.description, k.id)
        table.add_row("", "", "")
    table.add_row(Text("Commands (type : then the name; the palette, ctrl+p, has the same)",
                       style="bold underline"), "", "")
    for c in keymap.COMMANDS:
        names = ":" + c.name + ("".join(f"  :{a}" for a in c.aliases) if c.aliases else "")
        table.add_row(names, c.description, "")
    table.add_row("", "", "")
    table.add_row(Text("Filter", style="bold underline"), "", "")
    table.add_row("/text", "rows containing text (any case)", "")
    table.add_row("/re.*gex", "a regular expression (any case) when it has regex characters", "")
    return table


class HelpScreen(Screen, inherit_bindings=False):
    DEFAULT_CSS = """
    HelpScreen ScrollText { padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        with ScrollText(id="help"):
            yield Static(help_table(), id="help-keys")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#help", ScrollText).focus()
