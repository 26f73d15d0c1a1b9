"""What probe requests add up to over a window of time: each request's
result, the nearest-rank P99 and the sent/succeeded/P99 of a window. Shared
by the drills' prober (requests to pods) and the blue-green gate (requests
through the balancer), so both judge a window the same way."""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ProbeResult:
    t: float          # time.monotonic() when sent
    ok: bool
    latency_s: float
    pod: str          # who answered: a pod's name, or a colour through the balancer ("": unknown)
    error: str = ""


def p99(latencies: list[float]) -> float | None:
    if not latencies:
        return None
    s = sorted(latencies)
    return s[max(0, math.ceil(0.99 * len(s)) - 1)]   # nearest rank


@dataclass(frozen=True)
class Window:
    sent: int
    succeeded: int
    p99_s: float | None

    @classmethod
    def of(cls, results: list[ProbeResult]) -> Window:
        ok = [r.latency_s for r in results if r.ok]
        return cls(len(results), len(ok), p99(ok))

    @property
    def success_rate(self) -> float | None:
        return None if not self.sent else self.succeeded / self.sent

    def to_dict(self) -> dict:
        return {"sent": self.sent, "succeeded": self.succeeded, "success_rate": self.success_rate,
                "p99_s": self.p99_s}
