"""The simulation clock: simulated seconds pass `time_scale` times faster than
real ones (a 300 s toleration passes in 3 s at time_scale=100). A frozen clock
never moves: same seed -> same timestamps -> same screen (SVG snapshots)."""
from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from functools import lru_cache

# Fixed start of a frozen clock: 2026-01-01T00:00:00Z
FROZEN_EPOCH = 1767225600.0


class SimClock:
    def __init__(self, time_scale: float = 1.0, *, frozen: bool = False, start: float | None = None):
        if time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        self.time_scale = float(time_scale)
        self.frozen = frozen
        self._start = start if start is not None else (FROZEN_EPOCH if frozen else time.time())
        self._t0 = time.monotonic()
        self._ts_sec: int | None = None
        self._ts = ""

    def now(self) -> float:
        """Simulated epoch seconds."""
        if self.frozen:
            return self._start
        return self._start + (time.monotonic() - self._t0) * self.time_scale

    def timestamp(self, at: float | None = None) -> str:
        """RFC 3339 seconds, as metav1.Time serializes (cached per second)."""
        sec = int(self.now() if at is None else at)
        if sec != self._ts_sec:
            self._ts = datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            self._ts_sec = sec
        return self._ts

    def real_seconds(self, sim_seconds: float) -> float:
        """How long `sim_seconds` of simulated time take in real time."""
        return sim_seconds / self.time_scale

    def sleep(self, sim_seconds: float, stop: threading.Event | None = None) -> bool:
        """Sleep for simulated seconds; returns True if `stop` was set."""
        real = self.real_seconds(sim_seconds)
        if stop is not None:
            return stop.wait(real)
        time.sleep(real)
        return False


@lru_cache(maxsize=8192)
def parse_timestamp(ts: str) -> float:
    """metav1.Time text -> epoch seconds (cached: many objects share one)."""
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
