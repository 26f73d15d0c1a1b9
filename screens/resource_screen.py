"""A full-screen table of one kind (`:nodes`, `:pods`, `:gpus`, `:events`, `:alerts`)."""
from __future__ import annotations

from textual.app import ComposeResult

from screens.dashboard_screen import DashboardScreen
from screens.table_specs import SPECS
from screens.widgets.data_panel import DataPanel
from screens.widgets.key_bar import KeyBar
from screens.widgets.site_header import SiteHeader


class ResourceScreen(DashboardScreen):
    def __init__(self, kind: str) -> None:
        super().__init__(name=kind)
        self.kind = kind

    def compose(self) -> ComposeResult:
        yield SiteHeader(self.app.session, self.app.clock, id="header")
        yield DataPanel(SPECS[self.kind], self.app.clock, id="table", classes="full")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one(DataPanel).focus()
        self.show_snapshot(self.app.session.snapshot())
