"""The one-line (two at 80 columns) header: which site, whether it is live.

It never shows stale data as live: when the API is unreachable it says so in the
error colour, with the age of the last good data, until the cache recovers.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual.markup import escape
from textual.widgets import Static

from console.safe_text import visible
from screens.formatting import format_age

if TYPE_CHECKING:
    from console.session_view import SessionView
    from console.snapshot import Alert, NodeRow, PodRow, Snapshot


def _shown_text(s: str) -> str:
    """Site names, contexts, API errors and host names are text from outside:
    control characters made visible, and no markup."""
    return escape(visible(s))


class SiteHeader(Static):
    def __init__(self, session: SessionView, clock: Callable[[], float] = time.time, **kw: Any) -> None:
        super().__init__("", **kw)
        self.session = session
        self.clock = clock
        self.snapshot: Snapshot | None = None
        self.api_state = "connecting"   # "connecting" | "live" | "stale" (tests and benchmarks read it)
        self.hosts_down: tuple[str, ...] = ()
        self._shown: str | None = None      # the markup shown, and its height in lines
        self._lines: int | None = None
        self._counts_key: tuple[int, int, int] | None = None
        self._counted_at = 0.0
        self._counts_text = ""
        self._counts_refs: tuple[tuple[NodeRow, ...], tuple[PodRow, ...], tuple[Alert, ...]] = ((), (), ())

    def show(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.tick()

    def tick(self) -> None:
        markup = self._markup()
        if markup == self._shown:
            return
        # a full layout pass only when the header may change its height (1 or 2
        # lines): on every snapshot it would repaint the whole screen
        from textual.content import Content
        lines = 1 + (Content.from_markup(markup).cell_length > max(1, self.size.width - 2))
        self.update(markup, layout=lines != self._lines)
        self._shown, self._lines = markup, lines

    def _markup(self) -> str:
        s, snap, now = self.session, self.snapshot, self.clock()
        parts = ["[b]dsconsole[/]"]
        if s.is_demo:
            parts.append("[b reverse $warning] DEMO [/]")
        title = s.title
        if title and title != "DEMO":
            parts.append(f"site [b]{_shown_text(title)}[/]")
        ctx = s.context
        if ctx:
            parts.append(f"ctx {_shown_text(ctx)}")
        if s.read_only:
            parts.append("[b reverse $error] READ-ONLY [/]")
        start_error = s.start_error
        if snap is None or (snap.last_update is None and not snap.api_ok):
            why = start_error or (snap.api_error if snap is not None else None) or "connecting"
            style = "$error" if start_error else "$warning"
            parts.append(f"[b {style}]API {_shown_text(why)}[/]")
            self.api_state = "connecting"
        elif not snap.api_ok:
            age = format_age(now - snap.last_update) if snap.last_update else "-"
            why = snap.api_error or "unreachable"
            parts.append(f"[b reverse $error] API UNREACHABLE [/] [$error]{_shown_text(why[:60])}; "
                         f"last good data {age} ago[/]")
            self.api_state = "stale"
        else:
            age = format_age(now - snap.last_update) if snap.last_update else "-"
            sync = "" if snap.synced else " [$warning]syncing[/]"
            parts.append(f"API [b $success]live[/]{sync} · updated {age} ago")
            self.api_state = "live" if snap.synced else "connecting"
        if snap is not None:
            parts.extend(self._hosts_down(snap, now))
        if snap is not None and snap.nodes:
            parts.append(self._counts(snap))
        return "  ".join(parts)

    def _counts(self, snap: Snapshot) -> str:
        """'nodes 8/8 · pods 48/48 · alerts 0'; recounted only when a tuple changed
        (the cache hands out the same tuple while nothing changed) and at most
        twice a second (20,000 pods under a stream of watch events)."""
        key = (id(snap.nodes), id(snap.pods), id(snap.alerts))
        now = time.monotonic()
        if key != self._counts_key and now - self._counted_at >= 0.5:
            self._counted_at = now
            ready = sum(1 for n in snap.nodes if n.ready)
            pods_ready = sum(1 for p in snap.pods if p.ready)
            crit = sum(1 for a in snap.alerts if a.severity == "critical")
            alerts = f"alerts {len(snap.alerts)}" + (f" ([$error]{crit} crit[/])" if crit else "")
            self._counts_text = f"nodes {ready}/{len(snap.nodes)} · pods {pods_ready}/{len(snap.pods)} · {alerts}"
            self._counts_key = key
            self._counts_refs = (snap.nodes, snap.pods, snap.alerts)  # keep ids valid
        return self._counts_text

    def _hosts_down(self, snap: Snapshot, now: float) -> list[str]:
        """GPU hosts whose last telemetry round failed, with the age of the
        oldest good data among them."""
        down: list[tuple[str, str, float | None]] = []
        for host, st in snap.gpus.items():
            latest = st.latest
            if latest is not None and latest.state != "ok":
                down.append((host, latest.state, st.last_ok))
        if not down:
            self.hosts_down = ()
            return []
        self.hosts_down = tuple(h for h, _, _ in down)
        oks = [t for _, _, t in down if t]
        age = f"; last good data {format_age(now - min(oks))} ago" if oks else ""
        if len(down) == 1:
            host, state, _ = down[0]
            what = f"host {_shown_text(host)} {_shown_text(state)}"
        else:
            what = f"{len(down)} hosts unreachable or failing"
        return [f"[b $error]{what}{age}[/]"]
