"""DashboardApp: the Textual application around one SiteSession.

Data path: the session publishes immutable Snapshots from its own threads and
calls our subscriber there; the subscriber only posts a message (never blocks,
never touches widgets). On the UI thread the latest snapshot is applied to the
active screen, at most every MIN_APPLY_INTERVAL (10 repaints/s) and, if applying
was slow (a 20,000-pod table), at most once every 3x the time it took, so a
flood of watch events can never starve key handling.
"""
from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from textual import work
from textual.message import Message
from textual.reactive import Initialize, Reactive
from textual.theme import Theme

import themes
from console import gc_policy
from screens import keymap
from screens.app_base import DashboardAppBase
from screens.dashboard_screen import DashboardScreen
from screens.overview_screen import OverviewScreen
from screens.palette import DashboardCommands
from screens.widgets.data_panel import DataPanel
from screens.widgets.virtual_table import VirtualTable

if TYPE_CHECKING:
    from actions.journal import RunState
    from console.session_view import SessionView
    from console.snapshot import Snapshot

# The prompt, help, detail and resource screens are imported when first opened:
# they are not on the path to the first frame.

MIN_APPLY_INTERVAL = 0.1   # at most ten snapshot repaints a second
SLOW_APPLY_FACTOR = 3.0    # after an apply that took t, wait at least 3t
START_HOLD_S = 0.5         # before the first frame, partial snapshots wait this long
VIEWS = ("overview", "nodes", "pods", "gpus", "events", "alerts")
SIGNAL_EXIT_GRACE_S = 5.0  # after SIGTERM/SIGHUP, the time Textual's exit path gets


def _exit_now(sig: int) -> None:
    """What the signal's default action would have done (from the grace timer's
    thread, which may not reset a signal's handler: only the main thread may)."""
    os._exit(128 + sig)
_THEMES_BY_NAME: dict[str, Theme] = {t.name: t for t in themes.THEMES.values()}


class SnapshotReady(Message):
    """Posted (from the session's thread) when a newer snapshot exists."""


def _start_theme(app: DashboardApp) -> str:
    return app.start_theme


class DashboardApp(DashboardAppBase, inherit_bindings=False):
    CSS_PATH = themes.CSS_PATHS
    BINDINGS = keymap.bindings("app")
    COMMANDS = {DashboardCommands}
    TITLE = "dsconsole"
    ENABLE_COMMAND_PALETTE = True

    # The theme the app starts with is App.theme's first value (Textual's
    # Initialize), not a change of it: setting App.theme in __init__ runs its
    # watcher, which re-parses and re-applies all CSS on the next idle (a second
    # CSS pass, ~15 ms, on the way to the first frame). Later changes (`:theme`,
    # ctrl+t, the palette) set App.theme as usual.
    theme: Reactive[str] = Reactive(Initialize(_start_theme))

    def __init__(self, session: SessionView, *, theme: str | None = None,
                 clock: Callable[[], float] = time.time, frame_log: str | None = None) -> None:
        # Before App.__init__: it reads the theme (for the CSS variables, the
        # ANSI colour filter and the dark/light classes).
        self.start_theme: str = themes.resolve(theme).name
        super().__init__()
        self.set_class(True, f"-theme-{self.start_theme}", update=False)
        self.session = session
        self.clock = clock
        self.frame_log = frame_log
        self._update_posted = False
        self._next_apply = 0.0
        self._hold_until = 0.0   # see _holding
        self._start_batch: AbstractContextManager[None] | None = self.batch_update()   # see _release_paint
        self._start_batch.__enter__()
        self._unsubscribe: Callable[[], None] | None = None
        self.first_frame_at: float | None = None   # time.time() of the first complete frame
        self.applies = 0                            # snapshots applied (benchmarks read it)
        self.apply_seconds = 0.0
        self.unfinished_runs: list[RunState] | None = None   # the site's unfinished wizard runs, read at start
        self._unfinished_checked = False
        self._previous_handlers: dict[int, Any] = {}   # see _handle_exit_signals
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def available_themes(self) -> dict[str, Theme]:
        """Textual's themes and ours: ours are there from the start (App.__init__
        looks the start theme up before a register_theme call could add them)."""
        return {**super().available_themes, **_THEMES_BY_NAME}

    def get_default_screen(self) -> OverviewScreen:
        return OverviewScreen()

    def on_load(self) -> None:
        # Load comes before the driver enters the alternate screen: a signal
        # that arrives once the terminal is in that state finds the handler.
        self._handle_exit_signals()

    def on_mount(self) -> None:
        self._unsubscribe = self.session.subscribe(self._on_session_update)
        self.set_interval(1.0, self._tick)
        self._hold_until = time.monotonic() + START_HOLD_S
        self.set_timer(START_HOLD_S, self._end_start_hold)
        self.apply_latest()
        # The journal is read after the first frame (its import and the scan would
        # compete with the first paint for the interpreter), or after 2 s without one.
        self.set_timer(2.0, self._check_unfinished_runs)

    def _handle_exit_signals(self) -> None:
        """SIGTERM and SIGHUP (the SSH session to the jump host dropped) end the
        app through Textual's own exit path, which restores the terminal: leaves
        the alternate screen, turns mouse reporting off, shows the cursor. Left
        to their default action they killed the process with the terminal in
        that state. A wizard run in progress stays journaled, so resumable.

        A plain Python handler rather than loop.add_signal_handler: it runs even
        while the event loop is stuck in a callback, so the grace timer below
        always starts."""
        self._loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGHUP):
            try:
                self._previous_handlers[sig] = signal.signal(sig, self._on_exit_signal)
            except ValueError:   # not the main thread (an app run in a test's thread)
                pass

    def _on_exit_signal(self, signum: int, _frame: Any) -> None:
        # Should the app not get to its exit within a grace period (its loop
        # stuck), the process ends as the signal's default action would have
        # ended it: a SIGTERM or SIGHUP must always end the console.
        timer = threading.Timer(SIGNAL_EXIT_GRACE_S, _exit_now, (signum,))
        timer.daemon = True
        timer.start()
        loop = self._loop   # (set before the handler was installed)
        if loop is not None:
            loop.call_soon_threadsafe(lambda: self.exit(return_code=128 + signum))

    def on_unmount(self) -> None:
        for sig, handler in self._previous_handlers.items():
            signal.signal(sig, handler)
        self._previous_handlers.clear()
        self._write_frame_log("applies", f"{self.applies} {self.apply_seconds:.3f}")
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    # ------------------------------------------------------------ snapshots
    def _on_session_update(self, _snapshot: Snapshot | None = None) -> None:
        """Called on the session's thread: only flag and post, never block."""
        if not self._update_posted:
            self._update_posted = True
            self.post_message(SnapshotReady())

    def on_snapshot_ready(self, _message: SnapshotReady) -> None:
        wait = self._next_apply - time.monotonic()
        if wait > 0:
            self.set_timer(wait, self.apply_latest)
        else:
            self.apply_latest()

    def dashboard_screen(self) -> DashboardScreen | None:
        """The top-most screen that renders snapshots (a prompt may be over it)."""
        for screen in reversed(self.screen_stack):
            if isinstance(screen, DashboardScreen):
                return screen
        return None

    def apply_latest(self) -> None:
        """Show the latest snapshot on the dashboard screen (subject to the
        start-up hold and the repaint rate limit set in on_snapshot_ready)."""
        self._update_posted = False
        snap = self.session.snapshot()
        screen = self.dashboard_screen()
        if screen is None or not screen.is_mounted or snap.version == screen.shown_version:
            return
        if self._holding(snap):
            return
        t0 = time.monotonic()
        screen.show_snapshot(snap)
        self._release_paint()
        took = time.monotonic() - t0
        self.applies += 1
        self.apply_seconds += took
        self._next_apply = time.monotonic() + max(MIN_APPLY_INTERVAL, SLOW_APPLY_FACTOR * took)

    def _holding(self, snap: Snapshot) -> bool:
        """At start-up the session publishes partial snapshots (not synced yet,
        no GPU reading yet) a few ms apart; painting each costs a layout pass of
        the whole screen on the way to the first complete frame. They wait until
        the complete one, for at most START_HOLD_S (then what there is is shown:
        a slow or unreachable API must not leave the screen blank)."""
        if self.first_frame_at is not None or time.monotonic() >= self._hold_until:
            return False
        return not self.session.is_complete(snap)

    def _end_start_hold(self) -> None:
        self.apply_latest()
        if self._start_batch is not None:   # nothing new was shown: paint what there is
            self._release_paint()
            self.screen.refresh()

    def _release_paint(self) -> None:
        """End the start-up paint hold: Textual lays out and paints from here on.

        Until the first snapshot is shown (a complete one, or after START_HOLD_S
        whatever there is), the app is inside a Textual batch update, so the empty
        panels are never laid out nor painted: on the way to the first complete
        frame that skeleton cost two layout passes and a full render of the
        screen, on the one interpreter that also brings the session up (see also
        DashboardScreen._compositor_refresh)."""
        if self._start_batch is not None:
            batch, self._start_batch = self._start_batch, None
            batch.__exit__(None, None, None)

    @property
    def paint_held(self) -> bool:
        """Whether the start-up paint hold is on (see _release_paint)."""
        return self._start_batch is not None

    def first_frame_painted(self) -> None:
        """Called (after the refresh) by the overview once every panel has data."""
        if self.first_frame_at is None:
            self.first_frame_at = time.time()
            self._write_frame_log("first_frame", self.first_frame_at)
            # Everything loaded so far (the cache's 20,000 rows, Textual's DOM) lives
            # as long as the session: out of the collector's sight, so a full
            # collection under a stream of watch events does not walk it and
            # freeze the event loop for hundreds of milliseconds.
            gc_policy.after_first_frame()
            self._check_unfinished_runs()

    def _tick(self) -> None:
        screen = self.dashboard_screen()
        if screen is not None and screen.is_mounted:
            screen.tick()

    # ------------------------------------------------------------ benchmark hook
    def _write_frame_log(self, what: str, value: object) -> None:
        """DSCONSOLE_FRAME_LOG (benchmarks/bench_dashboard.py): one line per event."""
        if self.frame_log:
            with open(self.frame_log, "a") as f:
                f.write(f"{what} {value}\n")

    @property
    def cursor_painted_hook(self) -> Callable[[], None] | None:
        """With a frame log, tables call this after the frame that shows a moved
        cursor: the benchmark's "key press reflected on screen" moment."""
        if not self.frame_log:
            return None
        return lambda: self._write_frame_log("cursor_painted", time.time())

    # ------------------------------------------------------------ unfinished wizard runs
    def _check_unfinished_runs(self) -> None:
        """Read the journal once at start (see on_mount)."""
        if not self._unfinished_checked:
            self._unfinished_checked = True
            self._find_unfinished_runs()

    @work(thread=True, group="journal")
    def _find_unfinished_runs(self) -> None:
        """A run the console was killed in (or whose SSH session dropped) is in
        the journal: say so at start and offer the wizard on it (off the UI
        thread: it reads every journal file)."""
        from screens.unfinished_runs import unfinished_site_runs
        runs = unfinished_site_runs(self.session)
        self.call_from_thread(self._show_unfinished_runs, runs)

    def _show_unfinished_runs(self, runs: list[RunState]) -> None:
        from screens.unfinished_runs import unfinished_notice
        self.unfinished_runs = runs
        if runs:
            key = keymap.display_key(next(k.key for k in keymap.KEYS if k.id == "app.unfinished_run"))
            self.notify(unfinished_notice(runs, key), title="Unfinished wizard run",
                        severity="warning", timeout=60, markup=False)

    def action_unfinished_run(self) -> None:
        """Open the wizard on the latest unfinished run, to resume or roll it back."""
        from screens.wizard_screen import WizardScreen
        if not isinstance(self.screen, WizardScreen):
            self._open_unfinished_run()

    @work(thread=True, exclusive=True, group="journal")
    def _open_unfinished_run(self) -> None:
        from screens.unfinished_runs import unfinished_site_runs
        runs = unfinished_site_runs(self.session)  # read again: one may have finished since
        self.call_from_thread(self._open_run, runs)

    def _open_run(self, runs: list[RunState]) -> None:
        from screens.wizard_screen import WizardScreen, open_run_wizard
        self.unfinished_runs = runs
        if not runs:
            self.notify("no unfinished wizard run")
        elif not isinstance(self.screen, WizardScreen):
            if runs[-1].wizard == "bluegreen":   # the blue-green screen, with its live panel
                from screens.bluegreen_screen import open_bluegreen_run
                open_bluegreen_run(self, self.session, runs[-1].run_id)
            else:
                open_run_wizard(self, self.session, runs[-1].run_id)

    # ------------------------------------------------------------ commands
    def run_command(self, text: str) -> str | None:
        """Run a `:` command; returns an error message for an unknown one."""
        cmd, arg = keymap.find_command(text)
        if cmd is None:
            return f"unknown command :{text.strip()} (:help lists them)"
        if cmd.name == "theme" and arg:
            try:
                self.theme = themes.resolve(arg).name
            except ValueError as exc:
                return str(exc)
            return None
        self.call_later(self.run_action, cmd.action)
        return None

    def _check_command(self, text: str) -> str | None:
        cmd, arg = keymap.find_command(text)
        if cmd is None:
            return f"unknown command :{text.strip()} (:help lists them)"
        if cmd.name == "theme" and arg and arg.strip().lower() not in themes.THEMES:
            return f"unknown theme {arg!r}: expected one of {', '.join(themes.THEMES)}"
        return None

    def action_command_mode(self) -> None:
        from screens.prompt_screen import PromptScreen
        if isinstance(self.screen, PromptScreen):
            return
        names = [c.name for c in keymap.COMMANDS]
        self.push_screen(
            PromptScreen(":", on_submit=self._check_command, suggestions=names,
                         placeholder="nodes | pods | gpus | events | alerts | tune | model | bluegreen | backup"
                                     " | drills | help | quit"),
            callback=self._run_entered_command)

    def _run_entered_command(self, text: str | None) -> None:
        if text:
            self.run_command(text)

    def action_filter_mode(self) -> None:
        from screens.prompt_screen import PromptScreen
        screen = self.screen
        if not isinstance(screen, DashboardScreen):
            return
        table = screen.current_table()
        if table is None:
            return
        self.push_screen(PromptScreen("/", initial=table.filter_text, on_change=table.set_filter,
                                      on_submit=table.set_filter,
                                      placeholder="filter: text, or a regular expression"))

    def action_view(self, kind: str) -> None:
        if kind not in VIEWS:
            return
        while len(self.screen_stack) > 1 and not isinstance(self.screen, OverviewScreen):
            self.pop_screen()
        if kind != "overview":
            from screens.resource_screen import ResourceScreen
            self.push_screen(ResourceScreen(kind))

    async def action_back(self) -> None:   # (Textual's is a coroutine too)
        screen = self.screen
        if isinstance(screen, DashboardScreen):
            table = screen.current_table()
            if table is not None and table.filter_text:
                table.set_filter("")
                return
        if len(self.screen_stack) > 1:
            self.pop_screen()

    def action_help(self) -> None:
        from screens.help_screen import HelpScreen
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_next_theme(self) -> None:
        self.theme = themes.resolve(themes.next_name(self.theme)).name
        self.notify(f"theme: {self.theme.removeprefix('dsconsole-')}")

    def action_tune(self) -> None:
        from screens.wizard_screen import open_tuning_wizard
        open_tuning_wizard(self, self.session)

    def action_model(self) -> None:
        from screens.wizard_screen import open_model_wizard
        open_model_wizard(self, self.session)

    def action_bluegreen(self) -> None:
        from screens.bluegreen_screen import open_bluegreen_wizard
        open_bluegreen_wizard(self, self.session)

    def action_backup(self) -> None:
        from screens.backup_screen import open_backup_screen
        open_backup_screen(self, self.session)

    def action_drills(self) -> None:
        from screens.drills_screen import open_drills_screen
        open_drills_screen(self, self.session)

    def on_virtual_table_row_opened(self, event: VirtualTable.RowOpened) -> None:
        from screens.detail_screen import DetailScreen, target_for
        kind = event.table.spec.kind if isinstance(event.table, DataPanel) else ""
        if kind == "object-events":
            kind = "events"
        alert_text = event.source.message if kind == "alerts" else None
        self.push_screen(DetailScreen(target_for(kind, event.source), alert_text))
