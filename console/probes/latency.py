"""P99 request latency of each model server, from its /metrics histogram.

Every interval each Ready model-server pod's /metrics is scraped and the
cumulative vllm:e2e_request_latency_seconds buckets are differenced against the
previous scrape: the requests served in between. The deltas of the last
`window_s` give the windowed P99; the latest non-empty delta gives the current
P99. A pod is over the threshold when both are (so a one-off slow request, such
as the compile of a new shape, does not keep an alert up for a whole window).
"""
from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from console.probes import model_probe, prom_text
from console.probes.model_probe import ProbeLoop
from console.snapshot import PodRow

METRIC = "vllm:e2e_request_latency_seconds"


class LatencyStat(msgspec.Struct, frozen=True):
    p99_s: float | None          # over the window
    current_p99_s: float | None  # latest scrape interval with requests
    requests: float              # requests in the window
    time: float                  # last successful scrape
    error: str | None = None


class LatencyWatch(ProbeLoop):
    def __init__(self, targets: Callable[[], Sequence[PodRow]], interval_s: float = 15.0, window_s: float = 300.0,
                 **kw: Any) -> None:
        super().__init__("latency-watch", targets, interval_s, **kw)
        self.window_s = window_s
        self._lock = threading.Lock()
        self._prev: dict[str, dict] = {}
        self._deltas: dict[str, collections.deque] = {}
        self._stats: dict[str, LatencyStat] = {}

    def probe(self, pod: PodRow) -> tuple[dict[float, float] | None, str | None]:
        try:
            page = model_probe.request(pod, "GET", "/metrics", timeout=3.0)
            return prom_text.parse_histogram(page.decode("utf-8", "replace"), METRIC), None
        except Exception as e:  # noqa: BLE001 - no answer, HTTP errors, bad pages
            return None, f"{type(e).__name__}: {e}"[:200]

    def finish_round(self, pods: list[PodRow], results: list) -> None:
        now = time.time()
        live = set()
        with self._lock:
            for pod, (hist, error) in zip(pods, results, strict=True):
                key = pod.key
                live.add(key)
                old = self._stats.get(key)
                if hist is None:
                    self._stats[key] = LatencyStat(old.p99_s if old else None,
                                                   old.current_p99_s if old else None,
                                                   old.requests if old else 0, old.time if old else 0.0,
                                                   error or "no latency histogram")
                    continue
                prev = self._prev.get(key)
                self._prev[key] = hist
                deltas = self._deltas.setdefault(key, collections.deque())
                if prev is not None:
                    d = prom_text.delta(hist, prev)
                    if prom_text.total(d) > 0:
                        deltas.append((now, d))
                while deltas and deltas[0][0] < now - self.window_s:
                    deltas.popleft()
                merged = prom_text.merge(*(d for _, d in deltas))
                current = prom_text.quantile(0.99, deltas[-1][1]) if deltas else None
                self._stats[key] = LatencyStat(prom_text.quantile(0.99, merged), current,
                                               prom_text.total(merged), now)
            if len(self._stats) > len(live) and len(pods) >= len(self._stats):
                for gone in set(self._stats) - live:   # pods that went away
                    self._stats.pop(gone, None)
                    self._prev.pop(gone, None)
                    self._deltas.pop(gone, None)

    def stats(self) -> dict[str, LatencyStat]:
        with self._lock:
            return dict(self._stats)
