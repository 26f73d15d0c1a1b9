"""TelemetryPoller: polls every host on its own schedule and keeps its history.

One thread per source: a slow or dead host delays only itself. The next poll of
a host is scheduled when its last one finished (interval_s later), so polls of
one host never overlap and a host that takes long to answer is simply polled
less often. Per host it keeps the latest round, the time of the last good one
(so an unreachable host shows the age of its data, never stale data as live),
the last good round itself, a ring buffer of GPU utilization per GPU (the
sparklines) and the XID events seen. A host that comes back recovers by itself:
its next poll just succeeds.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

import msgspec

from console.telemetry.sample import HostTelemetry, XidEvent
from console.telemetry.source import TelemetrySource, safe_read
from console.telemetry.xid import XidLog

log = logging.getLogger(__name__)


class HostGpuState(msgspec.Struct, frozen=True):
    """What the dashboard knows about one host's GPUs (immutable)."""
    latest: HostTelemetry | None            # the last round, whatever its state
    last_ok: float | None                   # when the last "ok" round was read
    util_history: dict[int, tuple[float, ...]] = msgspec.field(default_factory=dict)  # gpu index -> util %
    xids: tuple[XidEvent, ...] = ()
    last_good: HostTelemetry | None = None  # the last "ok" round (stale once latest is not ok)

    @property
    def state(self) -> str:
        return self.latest.state if self.latest else "pending"

    @property
    def stale(self) -> bool:
        """True when what there is to show is older than the last poll."""
        return self.latest is not None and self.latest.state != "ok"

    def age_s(self, now: float | None = None) -> float | None:
        """Seconds since the last good data (None: never had any)."""
        if self.last_ok is None:
            return None
        return max(0.0, (time.time() if now is None else now) - self.last_ok)


class _Host:
    """Mutable per-host bookkeeping, only touched under the poller's lock."""

    def __init__(self, source: TelemetrySource, history: int):
        self.source = source
        self.history = history
        self.util: dict[int, deque[float]] = {}
        self.latest: HostTelemetry | None = None
        self.last_good: HostTelemetry | None = None
        self.last_ok: float | None = None
        # merged: some sources report every remembered event, some only new ones
        self.xid_log = XidLog()
        self.polls = 0
        self.wake = threading.Event()
        self.state = HostGpuState(None, None)

    def record(self, tel: HostTelemetry) -> None:
        self.polls += 1
        self.latest = tel
        if tel.state == "ok":
            self.last_ok = tel.time
            self.last_good = tel
            self.xid_log.add(tel.xids)
            for s in tel.samples:
                if s.util_pct is not None:
                    self.util.setdefault(s.index, deque(maxlen=self.history)).append(s.util_pct)
        self.state = HostGpuState(
            latest=tel, last_ok=self.last_ok,
            util_history={i: tuple(d) for i, d in self.util.items()},
            xids=self.xid_log.events(), last_good=self.last_good)


class TelemetryPoller:
    def __init__(self, sources: Sequence[TelemetrySource], interval_s: float = 5.0,
                 history: int = 120):
        names = [s.name for s in sources]
        if len(set(names)) != len(names):
            raise ValueError(f"telemetry sources with the same name: {sorted(names)}")
        self.interval_s = float(interval_s)
        self._hosts = {s.name: _Host(s, history) for s in sources}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._callbacks: list[Callable[[str, HostGpuState], None]] = []

    # -- lifecycle
    def start(self) -> None:
        if self._threads:
            return
        self._stop.clear()
        for name, host in self._hosts.items():
            t = threading.Thread(target=self._loop, args=(host,), name=f"telemetry-{name}",
                                 daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 5.0) -> None:
        """Stops polling; a poll in progress finishes (bounded by its own timeouts)."""
        self._stop.set()
        for h in self._hosts.values():
            h.wake.set()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        self._threads = []

    def on_update(self, callback: Callable[[str, HostGpuState], None]) -> None:
        """callback(host, state), called from the host's worker thread after each poll."""
        self._callbacks.append(callback)

    def poll_now(self, host: str | None = None) -> None:
        """Poll `host` (or every host) now instead of at its next scheduled time."""
        for name, h in self._hosts.items():
            if host is None or host == name:
                h.wake.set()

    # -- reading
    def snapshot(self) -> dict[str, HostGpuState]:
        """host -> its current state. Cheap: the states are built when a poll ends."""
        with self._lock:
            return {name: h.state for name, h in self._hosts.items()}

    def polls(self, host: str) -> int:
        """How many polls of `host` have finished (for tests and benchmarks)."""
        with self._lock:
            return self._hosts[host].polls

    def poll_once(self) -> dict[str, HostGpuState]:
        """One round of every host, in parallel, without starting the schedule
        (what `dsconsole gpus` prints)."""
        threads = [threading.Thread(target=self._poll, args=(h,), daemon=True)
                   for h in self._hosts.values()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return self.snapshot()

    # -- the per-host worker
    def _loop(self, host: _Host) -> None:
        while not self._stop.is_set():
            self._poll(host)
            # next poll interval_s after this one FINISHED: never overlapping
            host.wake.wait(self.interval_s)
            host.wake.clear()

    def _poll(self, host: _Host) -> None:
        tel = safe_read(host.source)
        with self._lock:
            host.record(tel)
            state = host.state
        for cb in list(self._callbacks):
            try:
                cb(host.source.name, state)
            except Exception:  # noqa: BLE001 - a listener's bug must not stop polling
                log.exception("telemetry on_update callback failed")
