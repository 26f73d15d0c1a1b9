"""DashboardScreen: the base of every screen that renders Snapshots.

The app hands the latest Snapshot to the active screen only (`show_snapshot`);
a screen that comes back to the top catches up on resume. `tick()` runs once a
second so ages and STALE marks move even when no new data arrives.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from textual.screen import Screen

from screens.widgets.data_panel import DataPanel
from screens.widgets.site_header import SiteHeader

if TYPE_CHECKING:
    from textual import getters

    from console.snapshot import Snapshot
    from screens.app_base import DashboardAppBase


class DashboardScreen(Screen[None], inherit_bindings=False):
    shown_version: int = -1

    if TYPE_CHECKING:
        # Our screens only ever run on DashboardApp: tell the type checker, as
        # Textual's own MessagePump does (at run time `app` is Textual's property).
        app = getters.app(DashboardAppBase)

    def show_snapshot(self, snapshot: Snapshot) -> None:
        self.shown_version = snapshot.version
        for header in self.query(SiteHeader):
            header.show(snapshot)
        for panel in self.query(DataPanel):
            panel.show(snapshot)

    def _compositor_refresh(self) -> None:
        # Inside a batch update Textual still renders the whole screen after a
        # resume or resize layout, then drops the result unseen (App._display
        # ignores it). During the app's start-up paint hold that is a full render
        # of the empty panels on the way to the first frame: skip it; the hold's
        # end lays out and paints the screen.
        if self.app.paint_held:
            return
        super()._compositor_refresh()

    def tick(self) -> None:
        for header in self.query(SiteHeader):
            header.tick()
        for panel in self.query(DataPanel):
            panel.update_title()
            panel.refresh()  # ages are formatted at paint time

    def current_table(self) -> DataPanel | None:
        """The table `/` filters and Enter opens: the focused one, else the first."""
        focused = self.focused
        if isinstance(focused, DataPanel):
            return focused
        panels = list(self.query(DataPanel))
        return panels[0] if panels else None

    def panel(self, kind: str) -> DataPanel | None:
        for p in self.query(DataPanel):
            if p.spec.kind == kind:
                return p
        return None

    def on_screen_resume(self) -> None:
        app = self.app
        if app.paint_held:
            # start-up: the app decides (it holds partial snapshots back)
            app.call_later(app.apply_latest)
            return
        snap = app.session.snapshot()
        if snap.version != self.shown_version:
            self.show_snapshot(snap)
