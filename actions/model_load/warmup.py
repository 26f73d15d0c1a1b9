"""Compiled warmup of one model-server endpoint: requests of each shape of
the grid (batch size x prompt length), sent to the pod directly, until the
shape's latency settles (the last k within x % of each other), then a report
per shape: first latency, settled latency, speed-up, and whether the first
request already ran fast (the compile cache was hit).

A request of batch B and prompt length P is one /v1/completions call with B
prompts of about P tokens each (4 bytes a token, as the servers count)."""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from console import http1

CACHE_HIT_RATIO = 2.0   # a first request within 2x the settled latency found the shape compiled


@dataclass(frozen=True)
class SettleRule:
    k: int = 3
    pct: float = 10.0
    max_requests: int = 20
    floor_s: float = 0.005   # spreads below this are timer and scheduler noise, not compilation

    def settled(self, latencies: list[float]) -> bool:
        """The last k latencies are within pct % of their smallest, or within
        floor_s of it (the first request, which compiles, is never one of them)."""
        if len(latencies) < self.k + 1:
            return False
        last = latencies[-self.k:]
        return max(last) <= max(min(last) * (1 + self.pct / 100), min(last) + self.floor_s)


@dataclass(frozen=True)
class ShapeReport:
    batch: int
    prompt_tokens: int
    latencies: tuple[float, ...]
    settled: bool

    @property
    def first_s(self) -> float:
        return self.latencies[0]

    @property
    def settled_s(self) -> float:
        tail = self.latencies[-3:] if len(self.latencies) > 1 else self.latencies
        return sorted(tail)[len(tail) // 2]

    @property
    def speedup(self) -> float:
        return self.first_s / self.settled_s if self.settled_s > 0 else float("inf")

    @property
    def cache_hit(self) -> bool:
        return self.first_s <= self.settled_s * CACHE_HIT_RATIO

    def line(self) -> str:
        return (f"batch {self.batch:>3} x {self.prompt_tokens:>5} tokens: first {self.first_s * 1000:8.1f} ms, "
                f"settled {self.settled_s * 1000:8.1f} ms, x{self.speedup:5.1f}, "
                f"{'compile cache hit' if self.cache_hit else 'compiled now'}"
                f"{'' if self.settled else f', NOT settled after {len(self.latencies)} requests'}")

    def to_dict(self) -> dict:
        return {"batch": self.batch, "prompt_tokens": self.prompt_tokens, "first_s": self.first_s,
                "settled_s": self.settled_s, "speedup": self.speedup, "cache_hit": self.cache_hit,
                "settled": self.settled, "requests": len(self.latencies)}


def completion(host: str, port: int, model: str, batch: int, prompt_tokens: int, *, max_tokens: int = 4,
               timeout: float = 600.0) -> float:
    """One request of the shape; its wall time in seconds. Raises OSError /
    RuntimeError (an HTTP error answer)."""
    body = json.dumps({"model": model, "prompt": ["abc " * prompt_tokens] * batch, "max_tokens": max_tokens,
                       "temperature": 0, "seed": 1}).encode()
    conn = http1.Connection(host, port, timeout=timeout)
    try:
        t0 = time.perf_counter()
        conn.request("POST", "/v1/completions", {"Content-Type": "application/json", "Connection": "close"},
                     body)
        resp = conn.getresponse()
        data = resp.read()
        elapsed = time.perf_counter() - t0
    finally:
        conn.close()
    if resp.status != 200:
        raise RuntimeError(f"HTTP {resp.status} from {host}:{port}: {data[:200].decode('utf-8', 'replace')}")
    return elapsed


def served_model(host: str, port: int, timeout: float = 30.0) -> str:
    """The model id the server answers to (/v1/models), as the servers name it."""
    conn = http1.Connection(host, port, timeout=timeout)
    try:
        conn.request("GET", "/v1/models", {"Connection": "close"})
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    if resp.status != 200:
        raise RuntimeError(f"HTTP {resp.status} from {host}:{port}/v1/models")
    return json.loads(data)["data"][0]["id"]


def warm_shape(host: str, port: int, model: str, batch: int, prompt_tokens: int, rule: SettleRule,
               checkpoint: Callable[[], None] = lambda: None) -> ShapeReport:
    latencies: list[float] = []
    while len(latencies) < rule.max_requests:
        checkpoint()
        latencies.append(completion(host, port, model, batch, prompt_tokens))
        if rule.settled(latencies):
            return ShapeReport(batch, prompt_tokens, tuple(latencies), True)
    return ShapeReport(batch, prompt_tokens, tuple(latencies), False)


def warm_endpoint(host: str, port: int, model: str | None, shapes: list[tuple[int, int]], rule: SettleRule,
                  checkpoint: Callable[[], None] = lambda: None,
                  on_shape: Callable[[ShapeReport], None] = lambda r: None) -> list[ShapeReport]:
    model = model or served_model(host, port)
    out = []
    for batch, prompt in shapes:
        r = warm_shape(host, port, model, batch, prompt, rule, checkpoint)
        on_shape(r)
        out.append(r)
    return out
