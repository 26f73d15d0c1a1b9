"""The overview: header, nodes, alerts, model-server pods and GPUs on one screen.

Layout (a grid, usable at 80x24): nodes | alerts on top, pods across, GPUs across.
From 140 columns the pods and GPU panels sit side by side.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Grid

from screens.dashboard_screen import DashboardScreen
from screens.table_specs import ALERTS, GPUS, NODES, PODS

if TYPE_CHECKING:
    from console.snapshot import Snapshot
from screens.widgets.data_panel import DataPanel
from screens.widgets.key_bar import KeyBar
from screens.widgets.site_header import SiteHeader


def _breakpoint(width: int, breakpoints: list[tuple[int, str]]) -> str:
    """The class of the widest breakpoint `width` reaches (Textual's rule)."""
    for threshold, name in sorted(breakpoints, reverse=True):
        if width >= threshold:
            return name
    return ""


class OverviewScreen(DashboardScreen):
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (140, "-wide")]
    # The pods table has the focus from the start: Textual focuses it while
    # composing (focusing the first panel and then moving the focus from on_mount
    # restyled both panels twice on the way to the first frame).
    AUTO_FOCUS = "#pods"

    def compose(self) -> ComposeResult:
        # The breakpoint class for the terminal's width now, before the panels
        # are styled: Textual sets it on the first Resize, after they were, and
        # restyling the grid then costs a second layout pass of the first frame.
        active = _breakpoint(self.app.size.width, self.HORIZONTAL_BREAKPOINTS)
        for _threshold, name in self.HORIZONTAL_BREAKPOINTS:
            self.set_class(name == active, name, update=False)
        clock = self.app.clock
        yield SiteHeader(self.app.session, clock, id="header")
        with Grid(id="overview"):
            yield DataPanel(NODES, clock, id="nodes")
            yield DataPanel(ALERTS, clock, id="alerts")
            yield DataPanel(PODS, clock, id="pods")
            yield DataPanel(GPUS, clock, id="gpus")
        yield KeyBar()

    def show_snapshot(self, snapshot: Snapshot) -> None:
        super().show_snapshot(snapshot)
        if self.app.first_frame_at is None and self.is_complete():
            self.call_after_refresh(self.app.first_frame_painted)

    def is_complete(self) -> bool:
        """Every panel filled from data (what 'first complete frame' means): the
        cache synced, nodes and pods shown, GPU telemetry shown when the site has
        any (the demo, or a site file with GPU hosts), and the alerts panel shows
        an evaluation of synced data (not an empty list before the first one)."""
        snap = self.app.session.snapshot()
        kinds = ("nodes", "pods", "gpus") if self._expects_gpus() else ("nodes", "pods")
        alerts = self.query_one("#alerts", DataPanel).snapshot
        evaluated_at = self.app.session.alerts_evaluated_at
        if evaluated_at is None or alerts is None or alerts.time < evaluated_at:
            return False
        return (self.shown_version >= 0 and snap.synced
                and all(self.query_one(f"#{k}", DataPanel).row_count > 0 for k in kinds)
                and alerts is not None)

    def _expects_gpus(self) -> bool:
        return self.app.session.expects_gpu_telemetry
