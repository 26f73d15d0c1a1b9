"""LogFollower: a pod's log followed on a thread of its own into a capped buffer.

The detail view shows the newest `max_lines` lines and is told about new ones
(`on_lines`, from the follower's thread; batched per network read). When the
stream breaks (API gone, pod deleted) the follower retries with backoff and
resumes with `sinceTime`-free tailing of a few lines, marking the gap.
"""
from __future__ import annotations

import collections
import threading
from collections.abc import Callable


class LogFollower:
    def __init__(self, session, namespace: str, name: str, *, max_lines: int = 5000,
                 on_lines: Callable[[list[str]], None] | None = None, container: str | None = None,
                 tail_lines: int = 500):
        self._session = session
        self.namespace, self.name, self.container = namespace, name, container
        self._buf: collections.deque[str] = collections.deque(maxlen=max_lines)
        self._on_lines = on_lines
        self._tail = min(tail_lines, max_lines)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._stream = None
        self._thread: threading.Thread | None = None
        self.error: str | None = None     # last error, None while following
        self.ended = False                # the log ended (pod gone / not following any more)
        self.received = 0                 # lines received in total (the buffer keeps max_lines)

    def start(self) -> LogFollower:
        self._thread = threading.Thread(target=self._run, name=f"log-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        stream = self._stream
        if stream is not None:
            stream.close()
        if self._thread is not None and self._thread is not threading.current_thread():
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
        backoff = 0.5
        first = True
        while not self._stop.is_set():
            try:
                self._stream = self._session.pod_log(self.namespace, self.name, follow=True,
                                                     tail_lines=self._tail if first else 10,
                                                     container=self.container)
                if not first:
                    self._emit(["--- reconnected; lines may be missing ---"])
                first = False
                self.error = None
                for batch in self._stream.batches():
                    if batch:
                        self._emit(batch)
                if self._stop.is_set():
                    break
                self.ended = True
                return
            except KubeApiError as e:
                self.error = str(e)
                if e.status == 404:
                    self.ended = True
                    return
            except (ApiUnreachable, OSError) as e:
                self.error = str(e)
            except Exception as e:  # noqa: BLE001 - session not ready etc.
                self.error = f"{type(e).__name__}: {e}"
            self._stop.wait(backoff)
            backoff = min(backoff * 2, 5.0)
