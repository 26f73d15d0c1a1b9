"""`?`: every bound key and every `:` command, straight from screens/keymap.py."""
from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Static

from screens import keymap
from screens.widgets.key_bar import KeyBar
from screens.widgets.scrolling import ScrollText

SCOPE_TITLES = {
    "app": "Everywhere",
    "table": "In a table (nodes, pods, GPUs, alerts, events)",
    "scroll": "In scrolling text (YAML, a pod's log, this help)",
    "detail": "In a detail view (Enter on a row)",
    "wizard": "In a wizard (:tune)",
    "steps": "In a wizard's table of steps",
    "confirm": "In a wizard's confirmation",
    "backup": "In the backup matrix (:backup)",
    "drills": "In the drills screen (:drills)",
    "prompt": "In the : command / / filter line",
}


def _grid() -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True, min_width=12)
    table.add_column()
    table.add_column(style="dim", no_wrap=True)
    return table


def help_table() -> Group:
    """Every key of the registry by scope, every `:` command, the filter syntax."""
    parts: list = []
    for scope, title in SCOPE_TITLES.items():
        grid = _grid()
        for k in keymap.keys(scope):
            grid.add_row(keymap.display_key(k.key), k.description, k.id)
        parts += [Text(title, style="bold underline"), grid, Text("")]
    grid = _grid()
    for c in keymap.COMMANDS:
        names = ":" + c.name + ("".join(f"  :{a}" for a in c.aliases) if c.aliases else "")
        grid.add_row(names, c.description, "")
    parts += [Text("Commands (type : then the name; the palette, ctrl+p, has the same)",
                   style="bold underline"), grid, Text("")]
    grid = _grid()
    grid.add_row("/text", "rows containing text (any case)", "")
    grid.add_row("/re.*gex", "a regular expression (any case) when it has regex characters;"
                             " ^ and $ match at the start and end of any cell", "")
    parts += [Text("Filter", style="bold underline"), grid]
    return Group(*parts)


class HelpScreen(Screen, inherit_bindings=False):
    def compose(self) -> ComposeResult:
        with ScrollText(id="help"):
            yield Static(help_table(), id="help-keys")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#help", ScrollText).focus()
