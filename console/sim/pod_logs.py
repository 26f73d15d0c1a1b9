"""Container logs of simulated pods: lines appended by the kubelet simulation,
read (and followed) through GET pods/{name}/log."""
from __future__ import annotations

import threading
from collections import deque

MAX_LINES = 2000  # per pod, like a rotated container log


class PodLogBook:
    def __init__(self, clock):
        self.clock = clock
        self._logs: dict[tuple[str, str], deque] = {}
        self._closed: set[tuple[str, str]] = set()
        self._cond = threading.Condition()
        self._seq = 0

    def append(self, ns: str, name: str, line: str) -> None:
        with self._cond:
            buf = self._logs.setdefault((ns, name), deque(maxlen=MAX_LINES))
            self._seq += 1
            buf.append((self._seq, self.clock.timestamp(), line))
            self._cond.notify_all()

    def close(self, ns: str, name: str) -> None:
        """The pod is gone: followers stop; its log is dropped."""
        with self._cond:
            self._logs.pop((ns, name), None)
            self._closed.add((ns, name))
            self._cond.notify_all()

    def reopen(self, ns: str, name: str) -> None:
        with self._cond:
            self._closed.discard((ns, name))

    def lines(self, ns: str, name: str, tail: int | None = None, timestamps: bool = False,
              since: str | None = None) -> list[str]:
        """`since`: a timestamp as the log's (RFC 3339 seconds): only lines from then on."""
        with self._cond:
            buf = list(self._logs.get((ns, name), ()))
        if since is not None:
            buf = [e for e in buf if e[1] >= since]
        if tail is not None:
            buf = buf[-tail:] if tail > 0 else []
        return [f"{ts} {line}" if timestamps else line for _s, ts, line in buf]

    def follow(self, ns: str, name: str, tail: int | None = None, timestamps: bool = False,
               stop: threading.Event | None = None, since: str | None = None):
        """Yields existing lines (from `since` on), then new ones as they come,
        until the pod is gone or `stop` is set."""
        with self._cond:
            buf = list(self._logs.get((ns, name), ()))
        if since is not None:
            buf = [e for e in buf if e[1] >= since]
        if tail is not None:
            buf = buf[-tail:] if tail > 0 else []
        last = buf[-1][0] if buf else self._last_seq(ns, name)
        for _s, ts, line in buf:
            yield f"{ts} {line}" if timestamps else line
        while not (stop and stop.is_set()):
            with self._cond:
                new = [e for e in self._logs.get((ns, name), ()) if e[0] > last]
                if not new:
                    if (ns, name) in self._closed:
                        return
                    self._cond.wait(0.5)
                    continue
            last = new[-1][0]
            for _s, ts, line in new:
                yield f"{ts} {line}" if timestamps else line

    def _last_seq(self, ns: str, name: str) -> int:
        with self._cond:
            buf = self._logs.get((ns, name))
            return buf[-1][0] if buf else 0
