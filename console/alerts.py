"""Alerts from the site's thresholds (site file `thresholds:`; the guide's values by default).

- node-not-ready: a node whose Ready condition is not True (since its transition);
- pod-restarting: a model-server pod in CrashLoopBackOff, or whose containers
  restarted within `restart_window_s`;
- pdb-blocking: a PodDisruptionBudget that allows 0 disruptions (a drain or
  an eviction would hang);
- gpu-util: a GPU above `gpu_util_pct` for every poll of `gpu_util_window_s`
  (from the TelemetryPoller's history);
- xid: a critical XID seen on a host within the last hour;
- p99-latency: a model server's P99 end-to-end latency above `p99_latency_ms`
  (console.probes.latency, from the /metrics histograms);
- consistency: a model server whose consistency-check failure rate is above
  `consistency_failure_pct` (console.probes.consistency).

AlertEngine evaluates once a second on its own thread from the session's latest
Snapshot plus the probes' results; `current()` never blocks. An alert keeps the
time its condition was first seen (`since`) while it stays active.
"""
from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from console.snapshot import Alert, PodRow, Snapshot

if TYPE_CHECKING:
    from console.probes.consistency import ConsistencyChecker, ConsistencyStat
    from console.probes.latency import LatencyStat, LatencyWatch
    from console.site_config import ConsistencyConfig, Thresholds
    from console.telemetry.poller import HostGpuState

SEVERITY_ORDER = {"critical": 0, "warning": 1}
XID_RECENT_S = 3600.0


def sorted_alerts(alerts: Iterable[Alert]) -> tuple[Alert, ...]:
    return tuple(sorted(alerts, key=lambda a: (SEVERITY_ORDER.get(a.severity, 9), a.kind, a.target)))


def cluster_alerts(snap: Snapshot, thresholds: Thresholds, now: float) -> list[Alert]:
    """Alerts that follow from the cluster rows alone."""
    out = []
    for n in snap.nodes:
        if not n.ready:
            out.append(Alert("critical", "node-not-ready", n.name,
                             f"node {n.name} is NotReady" + (f": {n.ready_reason}" if n.ready_reason else ""),
                             n.ready_since or now))
    window = thresholds.restart_window_s
    for p in snap.pods:
        if p.status == "CrashLoopBackOff":
            out.append(Alert("critical", "pod-restarting", p.key,
                             f"pod {p.name} is in CrashLoopBackOff ({p.restarts} restarts)",
                             p.last_restart or now))
        elif p.restarts and p.last_restart and now - p.last_restart <= window:
            out.append(Alert("warning", "pod-restarting", p.key,
                             f"pod {p.name} restarted ({p.restarts} restarts, last at "
                             f"{time.strftime('%H:%M:%S', time.localtime(p.last_restart))})",
                             p.last_restart))
    for b in snap.pdbs:
        if b.disruptions_allowed <= 0 and b.expected_pods > 0:
            out.append(Alert("warning", "pdb-blocking", f"{b.namespace}/{b.name}",
                             f"PDB {b.name} allows 0 disruptions ({b.current_healthy} healthy, "
                             f"{b.desired_healthy} needed): drains and evictions will wait", now))
    return out


def gpu_alerts(gpus: Mapping[str, HostGpuState], thresholds: Thresholds, interval_s: float,
               now: float) -> list[Alert]:
    """Sustained GPU utilization and recent critical XIDs, from the poller's state."""
    out = []
    limit = thresholds.gpu_util_pct
    need = max(1, math.ceil(thresholds.gpu_util_window_s / max(interval_s, 1e-3)))
    for host, state in gpus.items():
        for index, history in (getattr(state, "util_history", None) or {}).items():
            recent = [u for u in history[-need:] if u is not None]
            if len(history) >= need and len(recent) == need and min(recent) > limit:
                out.append(Alert("warning", "gpu-util", f"{host}:gpu{index}",
                                 f"GPU {index} on {host} above {limit:g}% for {thresholds.gpu_util_window_s:g}s "
                                 f"(now {recent[-1]:.0f}%)", now))
        for x in getattr(state, "xids", ()) or ():
            if x.critical and now - (x.time or now) <= XID_RECENT_S:
                gpu = f"gpu{x.gpu_index}" if x.gpu_index is not None else (x.pci_bus_id or "gpu?")
                out.append(Alert("critical", "xid", f"{host}:{gpu}",
                                 f"XID {x.code} on {host} {gpu}: {x.message}"[:200], x.time or now))
    return out


def latency_alerts(stats: Mapping[str, LatencyStat], thresholds: Thresholds, now: float) -> list[Alert]:
    out = []
    limit_s = thresholds.p99_latency_ms / 1000.0
    for key, s in stats.items():
        if s.p99_s is not None and s.current_p99_s is not None and s.p99_s > limit_s \
                and s.current_p99_s > limit_s:
            out.append(Alert("warning", "p99-latency", key,
                             f"P99 latency {s.p99_s * 1000:.0f} ms > {thresholds.p99_latency_ms:g} ms "
                             f"({s.requests:.0f} requests)", now))
    return out


def consistency_alerts(stats: Mapping[str, ConsistencyStat], thresholds: Thresholds, now: float) -> list[Alert]:
    out = []
    for key, s in stats.items():
        if s.checks and s.failure_pct > thresholds.consistency_failure_pct:
            out.append(Alert("critical", "consistency", key,
                             f"{s.failures}/{s.checks} consistency checks failed "
                             f"({s.failure_pct:.1f}% > {thresholds.consistency_failure_pct:g}%): "
                             f"reply {_clip(s.last_reply)!r} vs {_clip(s.reference)!r}", now))
    return out


def _clip(text: str | None, n: int = 40) -> str | None:
    return text if text is None or len(text) <= n else text[: n - 1] + "…"


class AlertEngine:
    """Evaluates alerts once a second; the session reads `current()`."""

    def __init__(self, snapshot: Callable[[], Snapshot], thresholds: Thresholds, *,
                 consistency: ConsistencyConfig | None = None,
                 telemetry_interval_s: float = 5.0, on_change: Callable[[], None] | None = None,
                 probes: bool = True, eval_interval_s: float = 1.0, max_probe_targets: int = 512) -> None:
        from console.probes.consistency import ConsistencyChecker
        from console.probes.latency import LatencyWatch
        from console.site_config import ConsistencyConfig
        self._snapshot = snapshot
        self.thresholds = thresholds
        self.telemetry_interval_s = telemetry_interval_s
        self._on_change = on_change or (lambda: None)
        self.eval_interval_s = eval_interval_s
        self._since: dict[tuple[str, str], float] = {}
        self._alerts: tuple[Alert, ...] = ()
        self.evaluated_at: float | None = None   # last evaluation on synced data
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.latency: LatencyWatch | None = None
        self.consistency: ConsistencyChecker | None = None
        if probes:
            def pods() -> tuple[PodRow, ...]:
                return self._snapshot().pods
            cc = consistency or ConsistencyConfig()
            self.latency = LatencyWatch(pods, interval_s=thresholds.p99_scrape_interval_s,
                                        window_s=max(thresholds.p99_scrape_interval_s * 4, 300.0),
                                        max_targets=max_probe_targets, max_workers=16, start_delay_s=1.0)
            self.consistency = ConsistencyChecker(
                pods, prompt=cc.prompt, seed=cc.seed, max_tokens=cc.max_tokens, reference=cc.reference,
                interval_s=thresholds.consistency_interval_s, window_s=thresholds.consistency_window_s,
                max_targets=max_probe_targets, max_workers=16, start_delay_s=1.0)

    def start(self) -> AlertEngine:
        for probe in (self.latency, self.consistency):
            if probe is not None:
                probe.start()
        self._thread = threading.Thread(target=self._run, name="alert-engine", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for probe in (self.latency, self.consistency):
            if probe is not None:
                probe.stop()
        if self._thread:
            self._thread.join(timeout=5)

    def current(self) -> tuple[Alert, ...]:
        return self._alerts

    def evaluate(self, now: float | None = None, snap: Snapshot | None = None, *,
                 notify: bool = True) -> tuple[Alert, ...]:
        """Evaluate now, from `snap` (default: the session's latest snapshot).
        `notify=False`: the caller publishes the result itself (no on_change)."""
        now = time.time() if now is None else now
        snap = snap if snap is not None else self._snapshot()
        found = cluster_alerts(snap, self.thresholds, now)
        found += gpu_alerts(snap.gpus, self.thresholds, self.telemetry_interval_s, now)
        if self.latency is not None:
            found += latency_alerts(self.latency.stats(), self.thresholds, now)
        if self.consistency is not None:
            found += consistency_alerts(self.consistency.stats(), self.thresholds, now)
        since: dict[tuple[str, str], float] = {}
        out = []
        for a in found:
            key = (a.kind, a.target)
            first = self._since.get(key, a.since)
            since[key] = first
            out.append(Alert(a.severity, a.kind, a.target, a.message, min(first, a.since)))
        self._since = since
        # The first evaluation of synced data is news even when no alert changed:
        # the first complete frame waits for it (Snapshot.alerts_time).
        first_synced = snap.synced and self.evaluated_at is None
        if snap.synced:
            self.evaluated_at = now     # alerts reflect complete cluster data
        alerts = sorted_alerts(out)
        if alerts != self._alerts or first_synced:
            self._alerts = alerts
            if notify:
                self._on_change()
        return alerts

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.evaluate()
            except Exception:  # noqa: BLE001 - keep evaluating
                import logging
                logging.getLogger(__name__).exception("alert evaluation failed")
            self._stop.wait(self.eval_interval_s)
