"""DataPanel: a VirtualTable bound to one kind of Snapshot row (a TableSpec).

It knows how to take its rows out of a Snapshot and how to say, in its border
title, how many rows it shows, what filter is on, and whether its data is stale
(the API unreachable: rows dimmed and the title says STALE with the data's age).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual.markup import escape

from console.safe_text import visible
from screens.formatting import format_age
from screens.table_specs import TableSpec
from screens.widgets.virtual_table import VirtualTable

if TYPE_CHECKING:
    from console.snapshot import Snapshot


class DataPanel(VirtualTable):
    def __init__(self, spec: TableSpec, clock: Callable[[], float] = time.time, **kw: Any) -> None:
        super().__init__(spec.columns, key=spec.key, format=spec.format, clock=clock,
                         empty_text=spec.empty_text, **kw)
        self.spec = spec
        self.snapshot: Snapshot | None = None
        self.stale_since: float | None = None  # last good data when stale
        self._title: str | None = None

    def show(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.set_rows(self.spec.rows(snapshot))
        stale = self.spec.api_data and not snapshot.api_ok and snapshot.last_update is not None
        self.stale_since = snapshot.last_update if stale else None
        if stale != self.stale:
            self.stale = stale
            self.set_class(stale, "-stale")
        self.update_title()

    def update_title(self) -> None:
        title = f"{self.spec.title} [b]{self.visible_count}[/]"
        if self.filter_text:
            title += f"/{self.row_count} [$accent]/{escape(visible(self.filter_text))}[/]"
        if self.stale:
            age = format_age(self.clock() - self.stale_since) if self.stale_since else "?"
            title += f" [b reverse $error] STALE {age} [/]"
        if title != self._title:  # setting border_title repaints the whole panel
            self._title = title
            self.border_title = title

    def set_filter(self, text: str) -> str | None:
        error = super().set_filter(text)
        self.update_title()
        return error
