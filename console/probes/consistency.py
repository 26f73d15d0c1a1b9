"""Output-consistency check of the model servers.

Every interval, the same prompt with the same seed (temperature 0) is sent to
each Ready model-server pod. A reply that differs from the reference counts as
a failure: the configured reference text, or else the majority reply among the
pods serving the same model in that round (with a tie, the previous round's
majority). Errors (timeouts, 5xx) are not consistency failures; they are kept
as the pod's last error. The failure rate is over the last `window_s`.
"""
from __future__ import annotations

import collections
import json
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from console.probes import model_probe
from console.probes.model_probe import ProbeLoop
from console.snapshot import PodRow


class ConsistencyStat(msgspec.Struct, frozen=True):
    checks: int          # replies compared in the window
    failures: int        # of which differed from the reference
    last_reply: str | None
    reference: str | None
    last_error: str | None
    time: float

    @property
    def failure_pct(self) -> float:
        return 100.0 * self.failures / self.checks if self.checks else 0.0


class ConsistencyChecker(ProbeLoop):
    def __init__(self, targets: Callable[[], Sequence[PodRow]], *, prompt: str, seed: int, max_tokens: int = 16,
                 reference: str | None = None, interval_s: float = 60.0, window_s: float = 3600.0,
                 **kw: Any) -> None:
        super().__init__("consistency-check", targets, interval_s, **kw)
        self.prompt, self.seed, self.max_tokens = prompt, seed, max_tokens
        self.reference = reference
        self.window_s = window_s
        self._models: dict[str, str] = {}            # pod ip -> served model id
        self._majority: dict[str, str] = {}          # model -> last round's majority reply
        self._results: dict[str, collections.deque] = {}
        self._last: dict[str, tuple] = {}            # pod -> (reply, reference, error)
        self._lock = threading.Lock()

    def _model(self, pod: PodRow) -> str:
        ip = pod.ip or ""   # (request() refuses a pod without one)
        model = self._models.get(ip)
        if model is None:
            model = json.loads(model_probe.request(pod, "GET", "/v1/models", timeout=5.0))["data"][0]["id"]
            self._models[ip] = model
        return model

    def probe(self, pod: PodRow) -> tuple[str | None, str | None, str | None]:
        """(model, reply text, error)."""
        try:
            model = self._model(pod)
            reply = model_probe.request(pod, "POST", "/v1/completions", timeout=30.0, json_body={
                "model": model, "prompt": self.prompt, "seed": self.seed,
                "max_tokens": self.max_tokens, "temperature": 0})
            return model, json.loads(reply)["choices"][0]["text"], None
        except Exception as e:  # noqa: BLE001 - no answer, HTTP errors, bad bodies
            self._models.pop(pod.ip or "", None)
            return None, None, f"{type(e).__name__}: {e}"[:200]

    def finish_round(self, pods: list[PodRow], results: list) -> None:
        now = time.time()
        by_model: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        for _, (model, text, _) in zip(pods, results, strict=True):
            if text is not None:
                by_model[model][text] += 1
        refs: dict[str, str | None] = {}
        for model, counter in by_model.items():
            if self.reference is not None:
                refs[model] = self.reference
                continue
            ranked = counter.most_common()
            if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
                refs[model] = self._majority.get(model)   # tie: keep the last clear majority
            else:
                refs[model] = ranked[0][0]
                self._majority[model] = ranked[0][0]
        with self._lock:
            for pod, (model, text, error) in zip(pods, results, strict=True):
                q = self._results.setdefault(pod.key, collections.deque())
                ref = refs.get(model) if model else None
                if text is not None and ref is not None:
                    q.append((now, text != ref))
                while q and q[0][0] < now - self.window_s:
                    q.popleft()
                self._last[pod.key] = (text, ref, error, now)
            live = {p.key for p in pods}
            if len(pods) >= len(self._results):
                for gone in set(self._results) - live:
                    self._results.pop(gone, None)
                    self._last.pop(gone, None)

    def stats(self) -> dict[str, ConsistencyStat]:
        with self._lock:
            out = {}
            for key, q in self._results.items():
                text, ref, error, t = self._last.get(key, (None, None, None, 0.0))
                out[key] = ConsistencyStat(checks=len(q), failures=sum(1 for _, bad in q if bad),
                                           last_reply=text, reference=ref, last_error=error, time=t)
            return out
