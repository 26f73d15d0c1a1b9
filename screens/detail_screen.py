"""Enter on a row: the object's YAML, its events and, for a pod, its log.

The YAML is fetched and the log followed on worker threads (the UI thread never
waits on the API). The log is kept in a capped buffer (Log.max_lines) and lines
arrive in batches at most ten times a second, however fast the pod writes.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.widgets import Static, TabbedContent, TabPane, Tabs

from console.safe_text import visible
from screens import keymap
from screens.dashboard_screen import DashboardScreen
from screens.table_specs import EVENTS, TableSpec
from screens.widgets.data_panel import DataPanel
from screens.widgets.key_bar import KeyBar
from screens.widgets.scrolling import ScrollLog as Log
from screens.widgets.scrolling import ScrollText
from screens.widgets.site_header import SiteHeader

if TYPE_CHECKING:
    from console.kube.pod_log import LogFollower
    from console.session_view import SessionView
    from console.snapshot import EventRow, Snapshot
    from console.telemetry.poller import HostGpuState

LOG_MAX_LINES = 5000


@dataclass(frozen=True)
class Target:
    """What a detail view is about, in API terms."""
    kind: str                 # "Pod" | "Node" | "" (nothing to fetch)
    namespace: str | None
    name: str
    title: str
    host: str | None = None   # GPU host whose telemetry to show


def target_for(table_kind: str, source: Any) -> Target:
    if table_kind == "pods":
        return Target("Pod", source.namespace, source.name, f"Pod {source.namespace}/{source.name}")
    if table_kind == "nodes":
        return Target("Node", None, source.name, f"Node {source.name}")
    if table_kind == "gpus":
        host = source[0]
        return Target("Node", None, host, f"GPUs of {host}", host=host)
    if table_kind == "events":
        ns = source.namespace if source.kind != "Node" else None
        return Target(source.kind, ns, source.name, f"{source.kind} {source.name}")
    if table_kind == "alerts":
        target = source.target
        if "/" in target and source.kind in ("pod-restarting", "p99-latency", "consistency"):
            ns, _, name = target.partition("/")
            return Target("Pod", ns, name, f"Alert {source.kind}: Pod {target}")
        if source.kind in ("node-not-ready",):
            return Target("Node", None, target, f"Alert {source.kind}: Node {target}")
        if source.kind in ("gpu-util", "xid"):
            host = target.split(":")[0]
            return Target("Node", None, host, f"Alert {source.kind}: {target}", host=host)
        return Target("", None, target, f"Alert {source.kind}: {target}")
    return Target("", None, str(source), str(source))


def _object_events(session: SessionView, target: Target) -> TableSpec:
    """The EVENTS spec, with the rows the session's cache holds about one object."""
    def rows(_snapshot: Snapshot) -> tuple[EventRow, ...]:
        if not target.kind:
            return ()
        return session.events_for(target.kind, target.namespace, target.name)
    return TableSpec(kind="object-events", title=f"Events of {target.name}",
                     columns=EVENTS.columns, key=EVENTS.key, format=EVENTS.format,
                     rows=rows, empty_text="no events for this object")


class DetailScreen(DashboardScreen):
    BINDINGS = keymap.bindings("detail")

    def __init__(self, target: Target, alert_text: str | None = None) -> None:
        super().__init__()
        self.target = target
        self.alert_text = alert_text
        self._pending: list[str] = []
        self._pending_lock = threading.Lock()
        self._follower: LogFollower | None = None   # of a pod's log
        self.log_lines = 0  # lines received (tests read it)

    def compose(self) -> ComposeResult:
        t = self.target
        yield SiteHeader(self.app.session, self.app.clock, id="header")
        title = t.title + (f"  ·  {self.alert_text}" if self.alert_text else "")
        yield Static(Text(visible(title)), id="detail-title")   # names and messages from outside
        with TabbedContent(id="detail-tabs"):
            if t.host:
                with TabPane("GPUs", id="gpus"):
                    with ScrollText():
                        yield Static("", id="gpu-detail")
            with TabPane("YAML", id="yaml"):
                yield Log(id="yaml-text", max_lines=20000)
            with TabPane("Events", id="events"):
                yield DataPanel(_object_events(self.app.session, t), self.app.clock, id="object-events")
            if t.kind == "Pod":
                with TabPane("Log", id="log"):
                    yield Log(id="pod-log", max_lines=LOG_MAX_LINES, auto_scroll=True)
        yield KeyBar()

    def on_mount(self) -> None:
        # tabs are switched with y / e / o (registry keys), not focused
        for tabs in self.query(Tabs):
            tabs.can_focus = False
        self.show_snapshot(self.app.session.snapshot())
        if self.target.kind:
            self._fetch_yaml()
        else:
            self.query_one("#yaml-text", Log).write_line("(no API object behind this row)")
        if self.target.kind == "Pod":
            self._follow_log()
            self.set_interval(0.1, self._flush_log)

    # ---------------------------------------------------------------- data
    def show_snapshot(self, snapshot: Snapshot) -> None:
        super().show_snapshot(snapshot)   # the header and the events panel
        t = self.target
        if t.host:
            self.query_one("#gpu-detail", Static).update(_gpu_table(snapshot.gpus.get(t.host)))

    @work(thread=True, exclusive=True, group="yaml")
    def _fetch_yaml(self) -> None:
        t = self.target
        try:
            text = self.app.session.object_yaml(t.kind, t.namespace, t.name)
        except Exception as exc:  # noqa: BLE001 - shown to the user, never a crash
            text = f"could not fetch {t.kind} {t.name}: {exc}"
        self.app.call_from_thread(self._show_yaml, text)

    def _show_yaml(self, text: str) -> None:
        log = self.query_one("#yaml-text", Log)
        log.clear()
        log.write_lines(text.splitlines())
        log.scroll_home(animate=False)

    def _follow_log(self) -> None:
        """Follow the pod's log on the follower's own thread (console/kube/pod_log.py:
        a stream that ends or breaks is marked and reconnected without repeats)."""
        t = self.target
        assert t.namespace is not None   # (a pod's target always has one: target_for)
        try:
            self._follower = self.app.session.follow_pod_log(t.namespace, t.name, max_lines=LOG_MAX_LINES,
                                                             on_lines=self._on_log_lines)
        except Exception as exc:  # noqa: BLE001 - shown in the log pane (no cluster behind the session)
            self._on_log_lines([f"[log stream ended: {exc}]"])

    def _on_log_lines(self, batch: list[str]) -> None:
        """From the follower's thread: queue lines for the next flush."""
        with self._pending_lock:
            self._pending.extend(line.rstrip("\n") for line in batch)
            if len(self._pending) > LOG_MAX_LINES:
                del self._pending[: len(self._pending) - LOG_MAX_LINES]

    def _flush_log(self) -> None:
        with self._pending_lock:
            lines, self._pending = self._pending, []
        if lines:
            self.log_lines += len(lines)
            self.query_one("#pod-log", Log).write_lines(lines)

    def on_unmount(self) -> None:
        if self._follower is not None:
            self._follower.stop(wait=False)

    # ---------------------------------------------------------------- keys
    def action_show_tab(self, tab: str) -> None:
        tabs = self.query_one(TabbedContent)
        if tabs.query(f"TabPane#{tab}"):
            tabs.active = tab
            focusable = tabs.query_one(f"TabPane#{tab}").query("ScrollLog, DataPanel, ScrollText")
            if focusable:
                focusable.first().focus()

    def action_toggle_follow(self) -> None:
        for log in self.query("#pod-log").results(Log):
            log.auto_scroll = not log.auto_scroll
            self.notify("following the log" if log.auto_scroll else "log paused (f to follow)")

    def current_table(self) -> DataPanel | None:
        return self.query_one("#object-events", DataPanel)


def _gpu_table(state: HostGpuState | None) -> Table | str:
    latest = getattr(state, "latest", None)
    if latest is None:
        return "no telemetry from this host yet"
    # host names, errors and XID messages are host output: made visible, never markup
    title = f"{latest.host}: {latest.state}" + (f" ({latest.error})" if latest.error else "")
    table = Table(title=Text(visible(title)),
                  title_justify="left", box=None, pad_edge=False)
    for col in ("GPU", "UTIL", "MEM USED/TOTAL", "TEMP", "POWER/LIMIT", "SM MHz", "ECC", "FLAGS"):
        table.add_column(col)
    for s in latest.samples:
        table.add_row(
            str(s.index), "-" if s.util_pct is None else f"{s.util_pct:.0f}%",
            "-" if s.mem_used_mib is None else f"{s.mem_used_mib:.0f}/{s.mem_total_mib or 0:.0f} MiB",
            "-" if s.temp_c is None else f"{s.temp_c:.0f}C",
            "-" if s.power_w is None else f"{s.power_w:.0f}/{s.power_limit_w or 0:.0f}W",
            "-" if s.sm_clock_mhz is None else f"{s.sm_clock_mhz:.0f}",
            str(s.ecc_uncorrected_volatile or 0), " ".join(s.health_flags) or "ok")
    for x in getattr(state, "xids", ()) or ():
        table.add_row("", f"XID {x.code}", Text(visible(x.message[:60])), "", "", "", "",
                      "critical" if x.critical else "")
    return table
