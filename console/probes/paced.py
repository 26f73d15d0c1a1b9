"""Probe requests at a steady rate: `workers` threads share `rate` requests
a second, evenly staggered, each waiting for its own answer before its
next turn (a slow answer delays that worker, never piles requests up).
Shared by the drills' prober (requests to pods) and the blue-green gate's
(requests through the balancer)."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable


class PacedThreads:
    def __init__(self, *, rate: float, workers: int, join_s: float, name: str):
        self.rate, self.workers, self.join_s, self.name = rate, workers, join_s, name
        self.stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sent_at: dict[int, float] = {}   # worker -> when its unanswered request was sent
        self._answered = threading.Condition()

    def start(self, send: Callable[[], None], *also: tuple[str, Callable[[], None]]) -> None:
        """`send()` at the rate until stop(); `also`: (name, function) threads run beside."""
        self._threads = [threading.Thread(target=fn, name=n, daemon=True) for n, fn in also]
        self._threads += [threading.Thread(target=self._paced, args=(i, send), name=f"{self.name}-{i}", daemon=True)
                          for i in range(self.workers)]
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self.stopping.set()
        for t in self._threads:
            t.join(timeout=self.join_s)

    def _paced(self, i: int, send: Callable[[], None]) -> None:
        period = self.workers / self.rate
        next_at = time.monotonic() + period * i / self.workers
        while not self.stopping.is_set():
            delay = next_at - time.monotonic()
            if delay > 0 and self.stopping.wait(delay):
                return
            next_at = max(next_at + period, time.monotonic())
            with self._answered:
                self._sent_at[i] = time.monotonic()
            try:
                send()
            finally:
                with self._answered:
                    del self._sent_at[i]
                    self._answered.notify_all()

    def wait_answered(self, before: float, timeout: float) -> bool:
        """Wait (at most `timeout` s) until every request sent before
        `before` (time.monotonic()) has its answer recorded; False if not."""
        with self._answered:
            return self._answered.wait_for(lambda: all(t >= before for t in self._sent_at.values()), timeout)
