"""The command palette (ctrl+p): the same commands as `:` command mode,
from the same registry (screens/keymap.py COMMANDS)."""
from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

from screens import keymap

if TYPE_CHECKING:
    from screens.app_base import DashboardAppBase


class DashboardCommands(Provider):
    if TYPE_CHECKING:
        @property
        def app(self) -> DashboardAppBase: ...   # the palette only runs on DashboardApp

    async def discover(self) -> Hits:
        for c in keymap.COMMANDS:
            yield DiscoveryHit(f":{c.name}", partial(self.app.run_command, c.name), help=c.description)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query.lstrip(":"))
        for c in keymap.COMMANDS:
            text = f":{c.name}"
            score = max(matcher.match(c.name), *(matcher.match(a) for a in c.aliases), 0)
            if score > 0:
                yield Hit(score, matcher.highlight(text), partial(self.app.run_command, c.name),
                          help=c.description)
