"""Continuous probing during a drill: real OpenAI-style completions sent in
rotation to the model-server pods that are serving (Ready, not terminating),
as a Service's endpoints would spread them. Availability is what it measures:
requests succeeded / sent, never inferred from pod states.

The list of serving pods is refreshed from the API every `refresh_s`, as
endpoints follow pods with a lag in a real cluster: a request to a pod killed
since the last refresh fails, and counts."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from console.probes import model_probe
from console.probes.paced import PacedThreads
from console.probes.window import ProbeResult, Window, p99

# re-exported: callers of the drills (and the blue-green probe gate) import them from here
__all__ = ["PROMPT", "ProbeResult", "Prober", "Window", "p99"]

PROMPT = {"model": "deepseek-v3", "prompt": "drill probe", "max_tokens": 4, "temperature": 0}


class Prober:
    """`targets()` returns the serving pods (objects with .name .ip .model_port);
    `rate` requests per second in total, `workers` at once."""

    def __init__(self, targets: Callable[[], list], *, rate: float = 20.0, workers: int = 4,
                 refresh_s: float = 0.5, timeout_s: float = 5.0, prompt: dict | None = None,
                 accept: Callable[[bytes], str | None] | None = None):
        """`prompt`: the completion request (default PROMPT); `accept(body)`:
        what is wrong with a 2xx answer (None: right), so a wrong completion
        counts as a failure, not only an error status."""
        self._targets_fn = targets
        self.prompt = prompt or PROMPT
        self.accept = accept
        self.workers = workers  # at most this many requests in flight (callers bound errors by it)
        self.refresh_s = refresh_s
        self.timeout_s = timeout_s
        self.results: list[ProbeResult] = []
        self._lock = threading.Lock()
        self._pace = PacedThreads(rate=rate, workers=workers, join_s=timeout_s + 2, name="drill-probe")
        self._targets: list = []
        self._next = 0
        self.refresh_errors = 0

    def start(self) -> Prober:
        self._refresh()
        self._pace.start(self._send, ("drill-targets", self._refresher))
        return self

    def stop(self) -> None:
        self._pace.stop()

    def _refresh(self) -> None:
        try:
            pods = [p for p in self._targets_fn() if p.serving]
        except Exception:  # noqa: BLE001 - the API blinked: keep the last list, as endpoints would
            self.refresh_errors += 1
            return
        with self._lock:
            self._targets = pods

    def _refresher(self) -> None:
        while not self._pace.stopping.wait(self.refresh_s):
            self._refresh()

    def _pick(self) -> Any:
        with self._lock:
            if not self._targets:
                return None
            pod = self._targets[self._next % len(self._targets)]
            self._next += 1
            return pod

    def _send(self) -> None:
        pod = self._pick()
        t0 = time.monotonic()
        if pod is None:   # nothing serving: the request has nowhere to go, a failure
            self._record(ProbeResult(t0, False, 0.0, "", "no serving pod"))
            return
        try:
            body = model_probe.request(pod, "POST", "/v1/completions", timeout=self.timeout_s,
                                       json_body=self.prompt)
            wrong = self.accept(body) if self.accept is not None else None
            self._record(ProbeResult(t0, wrong is None, time.monotonic() - t0, pod.name, wrong or ""))
        except Exception as e:  # noqa: BLE001 - refused, reset, timeout, HTTP error: all failures
            self._record(ProbeResult(t0, False, time.monotonic() - t0, pod.name, type(e).__name__))

    def _record(self, r: ProbeResult) -> None:
        with self._lock:
            self.results.append(r)

    def window(self, since: float | None = None, until: float | None = None) -> Window:
        with self._lock:
            rs = [r for r in self.results if (since is None or r.t >= since) and (until is None or r.t < until)]
        return Window.of(rs)

    def wait_for(self, n: int, timeout: float) -> bool:
        """Wait (bounded) until at least n results came back."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.results) >= n:
                    return True
            if self._pace.stopping.wait(0.05):
                return False
        return False
