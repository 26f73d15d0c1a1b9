"""DemoTraffic: light synthetic requests to the demo's model servers, so the
demo site looks alive: requests running in /metrics, a request rate, latency
histograms that fill, and GPU utilisation, temperature and power that follow
(the kubelet's sweep passes each server's load to its GPUs).

Each pod gets a request rate that varies slowly and smoothly with simulated
time (two sine waves, periods of 10-30 simulated minutes, phases and levels
from the seed and the pod's name), between RATE_MIN and RATE_MAX requests per
simulated second. Requests are short (PROMPT_TOKENS -> MAX_TOKENS: about 0.35
simulated seconds end to end, under the default 500 ms P99 threshold), and
the load stays well under the 90 % GPU-utilisation threshold: a healthy demo
raises no alert.

Cheap by construction: no sockets and no coroutine per request. One thread
wakes every TICK_S real seconds and, per pod, hands the server the number of
requests that completed since the last tick and the number in flight now
(Little's law: rate x latency, dithered to an integer); the server records
them as it records served requests (ModelServerPool.record_background). At
most MAX_PER_TICK requests are recorded per pod and tick, so a fast clock
cannot make it expensive. Deterministic: rates and dithering are functions of
(seed, pod name, simulated time), never of a random generator's state.

Not started on a frozen clock (SVG snapshots) or with traffic=False.
"""
from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Callable
from typing import Any

RATE_MIN = 1.0          # requests per simulated second per pod, at the quietest
RATE_MAX = 4.0          # ... and at the busiest (about 65 % GPU utilisation)
PERIOD_MIN_S = 600.0    # the slow wave's period, simulated seconds
PERIOD_MAX_S = 1800.0
PROMPT_TOKENS = 96
MAX_TOKENS = 40
TICK_S = 1.0            # real seconds between ticks (less with a fast clock, see tick_s)
MIN_TICK_S = 0.1
MAX_PER_TICK = 64       # requests recorded per pod and tick, at most
REAL_S_PER_POD = 0.002  # tick spacing per pod on big sites (see _run)


def _unit(*parts: Any) -> float:
    """A deterministic number in [0, 1) from its parts."""
    h = hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2.0 ** 64


class DemoTraffic:
    def __init__(self, pool: Any, clock: Any, seed: int = 0, *, tick_s: float | None = None,
                 shares: Callable[[], dict[str, float] | None] | None = None):
        """shares(): each pod IP's share of the traffic by the demo balancer's
        running upstream weights (LbProxy.shares), or None while nginx has
        not been reloaded: the split a blue-green switch sets then moves the
        per-pod request rates."""
        from .model_server import RATE_WINDOW_S
        self.pool = pool
        self.shares = shares
        self.clock = clock
        self.seed = seed
        if tick_s is None:
            # several ticks per rate window (10 simulated s), whatever the clock's speed
            scale = float(getattr(clock, "time_scale", 1.0) or 1.0)
            tick_s = max(MIN_TICK_S, min(TICK_S, RATE_WINDOW_S / 4 / scale))
        self.tick_s = tick_s
        self._waves: dict[str, tuple[float, float, float, float]] = {}  # pod name -> wave parameters
        self._credit: dict[str, float] = {}    # pod address -> requests begun but not yet counted
        self._last: float | None = None        # simulated time of the last tick
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._shape = pool.profile.shape(1, PROMPT_TOKENS)
        self.latency_s = pool.profile.fast_timing(self._shape, MAX_TOKENS)[1]
        self.ticks = 0

    # ---- the model -----------------------------------------------------------
    def rate(self, pod_name: str, t: float) -> float:
        """Requests per simulated second of a pod at simulated time t."""
        w = self._waves.get(pod_name)
        if w is None:
            period = PERIOD_MIN_S + (PERIOD_MAX_S - PERIOD_MIN_S) * _unit(self.seed, pod_name, "period")
            w = (period, 2 * math.pi * _unit(self.seed, pod_name, "phase"),
                 2 * math.pi * _unit(self.seed, pod_name, "phase2"), _unit(self.seed, pod_name, "level"))
            self._waves[pod_name] = w
        period, phase, phase2, level = w
        x = (0.35 + 0.3 * level + 0.25 * math.sin(2 * math.pi * t / period + phase)
             + 0.1 * math.sin(2 * math.pi * t * 3.7 / period + phase2))
        return RATE_MIN + (RATE_MAX - RATE_MIN) * min(1.0, max(0.0, x))

    def step(self) -> None:
        """One tick: every healthy server's completed and running requests."""
        now = self.clock.now()
        dt = 0.0 if self._last is None else max(0.0, now - self._last)
        self._last = now
        tick = int(now)
        pool = self.pool
        addresses = pool.addresses()
        for ip in [ip for ip in self._credit if ip not in addresses]:
            del self._credit[ip]                 # pods that went away
        rates = self.rates_at(now, addresses)
        for ip, name in addresses.items():
            if not pool.healthy(ip):            # loading, failed, or removed: no traffic
                self._credit.pop(ip, None)
                pool.record_background(ip, 0, 0, prompt_tokens=PROMPT_TOKENS, max_tokens=MAX_TOKENS,
                                       key=name)
                continue
            r = rates[ip]
            credit = self._credit.get(ip, 0.0) + r * dt
            done = int(credit)
            self._credit[ip] = credit - done
            running = int(r * self.latency_s + _unit(self.seed, name, tick, "dither"))
            pool.record_background(ip, running, min(done, MAX_PER_TICK), prompt_tokens=PROMPT_TOKENS,
                                   max_tokens=MAX_TOKENS, key=f"traffic/{name}/{now:.3f}", span_s=dt)
        self.ticks += 1

    def rates_at(self, now: float, addresses: dict[str, str] | None = None) -> dict[str, float]:
        """Each healthy pod's request rate: its own wave, or, once the balancer
        routes by weights, the healthy pods' summed rate split by the shares
        (a pod outside the upstream gets nothing, as behind nginx)."""
        if addresses is None:
            addresses = self.pool.addresses()
        own = {ip: self.rate(name, now) for ip, name in addresses.items() if self.pool.healthy(ip)}
        shares = self.shares() if self.shares is not None else None
        if shares is None:
            return own
        total = sum(own.values())
        return {ip: total * shares.get(ip, 0.0) for ip in own}

    # ---- lifecycle ---------------------------------------------------------------
    def start(self) -> DemoTraffic:
        self._thread = threading.Thread(target=self._run, name="demo-traffic", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except Exception:  # noqa: BLE001 - a traffic bug must not end the demo
                import logging
                logging.getLogger(__name__).exception("demo traffic tick failed")
            # A tick costs ~0.1 ms of CPU per pod, most of it on the model
            # servers' event loop (recording the requests): on a big site
            # (~20,000 pods under `sim serve` for the scale benchmarks) ticks
            # are spaced by REAL_S_PER_POD per pod, keeping the traffic near 5 %
            # of a core; completed requests are credited by elapsed time, so the
            # request rate stays the same, only coarser.
            self._stop.wait(max(self.tick_s, len(self._credit) * REAL_S_PER_POD))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
