"""LogFollower: a pod's log followed on a thread of its own into a capped buffer.

The detail view shows the newest `max_lines` lines and is told about new ones
(`on_lines`, from the follower's thread; batched per network read). A stream
that ends or breaks while the pod is still there (API server restarted, a
proxy's idle timeout, a dropped connection) never ends silently: a line
`[log stream ended: why]` is shown and the follower reconnects with backoff,
from where it was, without repeating lines: it asks for timestamps, reconnects
with `sinceTime` at the second of the last line it has, and skips as many lines
of that second as it already had. It stops when the pod is gone (404).
"""
from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from console.kube.client import LineStream


class LogSession(Protocol):
    """Where the follower gets a pod's log from (console.site_session.SiteSession)."""

    def pod_log(self, namespace: str, name: str, follow: bool = True, *,
                tail_lines: int | None = 500, container: str | None = None,
                timestamps: bool = False, since_time: str | None = None) -> LineStream: ...

BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 10.0


def ended_line(why: str) -> str:
    return f"[log stream ended: {why}]"


class _Resume:
    """Where a followed log was: the second of its last line (the log's RFC 3339
    timestamp, cut to seconds, as sinceTime is) and how many lines of that
    second were received, so a reconnect from that second skips exactly those."""
    __slots__ = ("second", "count", "skip")

    def __init__(self) -> None:
        self.second: str | None = None
        self.count = 0
        self.skip = 0

    def since_time(self) -> str | None:
        return self.second + "Z" if self.second else None

    def reconnecting(self) -> None:
        self.skip = self.count

    def take(self, raw: list[str]) -> list[str]:
        """The lines of `raw` (timestamp, space, text) not had before, without
        their timestamps."""
        out = []
        for entry in raw:
            ts, sep, text = entry.partition(" ")
            if not sep or len(ts) < 20 or ts[4] != "-":   # no timestamp: nothing to resume from
                out.append(entry)
                continue
            second = ts[:19]
            if self.second is not None and second < self.second:
                continue                          # before the resume point (fixed-width: compares as text)
            if second == self.second:
                if self.skip:
                    self.skip -= 1
                    continue
                self.count += 1
            else:
                self.second, self.count, self.skip = second, 1, 0
            out.append(text)
        return out


class LogFollower:
    def __init__(self, session: LogSession, namespace: str, name: str, *, max_lines: int = 5000,
                 on_lines: Callable[[list[str]], None] | None = None, container: str | None = None,
                 tail_lines: int = 500) -> None:
        self._session = session
        self.namespace, self.name, self.container = namespace, name, container
        self._buf: collections.deque[str] = collections.deque(maxlen=max_lines)
        self._on_lines = on_lines
        self._tail = min(tail_lines, max_lines)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._stream: LineStream | None = None
        self._thread: threading.Thread | None = None
        self.error: str | None = None     # last error, None while following
        self.ended = False                # the log ended for good (the pod is gone, or stop())
        self.received = 0                 # lines received in total (the buffer keeps max_lines)
        self.reconnects = 0               # streams opened again after one ended or broke

    def start(self) -> LogFollower:
        self._thread = threading.Thread(target=self._run, name=f"log-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, wait: bool = True) -> None:
        """Stop following (from any thread; `wait=False` on a UI thread: the
        closed stream ends the follower's read by itself)."""
        self._stop.set()
        stream = self._stream
        if stream is not None:
            try:
                stream.close()
            except Exception:  # noqa: BLE001 - closing from another thread is best effort
                pass
        if wait and self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)

    def lines(self) -> list[str]:
        with self._lock:
            return list(self._buf)

    def _emit(self, batch: list[str]) -> None:
        with self._lock:
            self._buf.extend(batch)
            self.received += len(batch)
        if self._on_lines is not None:
            try:
                self._on_lines(batch)
            except Exception:  # noqa: BLE001 - a UI callback error must not end the follow
                pass

    def _run(self) -> None:
        from console.kube.client import ApiUnreachable, KubeApiError
        backoff = BACKOFF_FIRST_S
        resume = _Resume()
        last_why: str | None = None
        while not self._stop.is_set():
            got = 0
            try:
                self._stream = self._session.pod_log(
                    self.namespace, self.name, follow=True, container=self.container,
                    tail_lines=self._tail if resume.second is None else None, timestamps=True,
                    since_time=resume.since_time())
                if self._stop.is_set():
                    break
                self.error = None
                for batch in self._stream.batches():
                    lines = resume.take(batch)
                    if lines:
                        got += len(lines)
                        self._emit(lines)
                why = "the API server closed the stream"
            except KubeApiError as e:
                why = str(e)
                if e.status == 404:
                    self.error = why
                    self._emit([ended_line(f"pod {self.namespace}/{self.name} not found")])
                    break
            except (ApiUnreachable, OSError) as e:
                why = str(e)
            except Exception as e:  # noqa: BLE001 - session not ready etc.
                why = f"{type(e).__name__}: {e}"
            if self._stop.is_set():
                break
            self.error = why
            if got:
                backoff = BACKOFF_FIRST_S
            # one line per outage, not one per failed attempt to reconnect
            if got or why != last_why:
                self._emit([ended_line(f"{why}; reconnecting")])
            last_why = why
            self._stop.wait(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_S)
            resume.reconnecting()
            self.reconnects += 1
        self.ended = True
