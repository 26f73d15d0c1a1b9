"""DashboardAppBase: what DashboardApp's screens and widgets use of it.

The screens read the session, the clock and the start-up paint hold from the
app, and the palette runs `:` commands through it. They import this module for
those names, never screens/app.py (which imports them: tests/test_import_rules.py
allows no import cycle, type-checking imports included). DashboardApp
(screens/app.py) implements it.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from textual.app import App

if TYPE_CHECKING:
    from console.session_view import SessionView


class DashboardAppBase(App[object]):
    session: SessionView
    clock: Callable[[], float]
    first_frame_at: float | None   # time.time() of the first complete frame

    @property
    def paint_held(self) -> bool:
        """Whether the start-up paint hold is on (nothing laid out nor painted yet)."""
        raise NotImplementedError

    def apply_latest(self) -> None:
        """Show the session's latest snapshot on the dashboard screen."""
        raise NotImplementedError

    def first_frame_painted(self) -> None:
        """Called (after the refresh) by the overview once every panel has data."""
        raise NotImplementedError

    def run_command(self, text: str) -> str | None:
        """Run a `:` command; an error message for an unknown one."""
        raise NotImplementedError
