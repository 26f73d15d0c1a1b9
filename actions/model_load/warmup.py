"""Compiled warmup of one model-server endpoint: requests of each shape of
the grid (batch size x prompt length), sent to the pod directly, until the
shape's latency settles (the last k within x % of each other), then a report
per shape: first latency, settled latency, speed-up, and whether the compile
cache was hit, on evidence only: the server's compile-cache counters on
/metrics read before and after the shape's first request
(inductor_fxgraph_cache_hits_total / _misses_total: graphs loaded from the
persisted cache vs compiled), else what its log said (compile_cache_from_log),
else "no evidence" -- never guessed from the latency.

A request of batch B and prompt length P is one /v1/completions call with B
prompts of about P tokens each (4 bytes a token, as the servers count)."""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from console import http1
from console.probes.prom_text import parse_counter

CACHE_HITS = "inductor_fxgraph_cache_hits_total"
CACHE_MISSES = "inductor_fxgraph_cache_misses_total"
# vLLM's log lines when it loads compiled graphs from VLLM_CACHE_ROOT, or compiles
LOG_CACHE_HIT = ("Directly load the compiled graph", "loaded from the cache")
LOG_CACHE_MISS = ("Compiling a graph for", "torch.compile takes")


@dataclass(frozen=True)
class CacheEvidence:
    verdict: str            # "hit" | "miss" | "unknown"
    evidence: str

    @classmethod
    def from_counters(cls, before: tuple[float, float] | None,
                      after: tuple[float, float] | None) -> CacheEvidence:
        if before is None or after is None:
            return cls("unknown", "the server exposes no compile-cache counters")
        hits, misses = after[0] - before[0], after[1] - before[1]
        if misses > 0:
            return cls("miss", f"/metrics: {misses:g} graph(s) compiled, {hits:g} loaded from the cache")
        if hits > 0:
            return cls("hit", f"/metrics: {hits:g} graph(s) loaded from the compile cache, none compiled")
        return cls("unknown", "/metrics: no graph compiled or loaded (the shape was already in memory)")


def compile_cache_from_log(log: str) -> CacheEvidence | None:
    """What a server's log says about its compile cache (vLLM's lines), or None."""
    for line in reversed(log.splitlines()):
        if any(m in line for m in LOG_CACHE_HIT):
            return CacheEvidence("hit", "server log: " + line.strip()[:160])
        if any(m in line for m in LOG_CACHE_MISS):
            return CacheEvidence("miss", "server log: " + line.strip()[:160])
    return None


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
    cache: CacheEvidence = CacheEvidence("unknown", "not asked")

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
    def cache_hit(self) -> bool | None:
        """True/False on evidence; None when the server gave none."""
        return {"hit": True, "miss": False}.get(self.cache.verdict)

    def with_cache(self, cache: CacheEvidence) -> ShapeReport:
        return ShapeReport(self.batch, self.prompt_tokens, self.latencies, self.settled, cache)

    def line(self) -> str:
        said = {"hit": "compile cache hit", "miss": "compiled now"}.get(self.cache.verdict, "compile cache: unknown")
        return (f"batch {self.batch:>3} x {self.prompt_tokens:>5} tokens: first {self.first_s * 1000:8.1f} ms, "
                f"settled {self.settled_s * 1000:8.1f} ms, x{self.speedup:5.1f}, {said} ({self.cache.evidence})"
                f"{'' if self.settled else f', NOT settled after {len(self.latencies)} requests'}")

    def to_dict(self) -> dict:
        return {"batch": self.batch, "prompt_tokens": self.prompt_tokens, "first_s": self.first_s,
                "settled_s": self.settled_s, "speedup": self.speedup, "cache_hit": self.cache_hit,
                "cache_evidence": self.cache.evidence, "settled": self.settled, "requests": len(self.latencies)}


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


def _get(host: str, port: int, path: str, timeout: float) -> tuple[int, bytes]:
    conn = http1.Connection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, {"Connection": "close"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def compile_counters(host: str, port: int, timeout: float = 30.0) -> tuple[float, float] | None:
    """(graphs loaded from the compile cache, graphs compiled) so far, from
    the server's /metrics; None when it does not expose them."""
    try:
        status, data = _get(host, port, "/metrics", timeout)
    except OSError:
        return None
    if status != 200:
        return None
    text = data.decode("utf-8", "replace")
    hits, misses = parse_counter(text, CACHE_HITS), parse_counter(text, CACHE_MISSES)
    return None if hits is None or misses is None else (hits, misses)


def served_model(host: str, port: int, timeout: float = 30.0) -> str:
    """The model id the server answers to (/v1/models), as the servers name it."""
    status, data = _get(host, port, "/v1/models", timeout)
    if status != 200:
        raise RuntimeError(f"HTTP {status} from {host}:{port}/v1/models")
    return json.loads(data)["data"][0]["id"]


def warm_shape(host: str, port: int, model: str, batch: int, prompt_tokens: int, rule: SettleRule,
               checkpoint: Callable[[], None] = lambda: None) -> ShapeReport:
    latencies: list[float] = []
    cache = CacheEvidence("unknown", "not asked")
    while len(latencies) < rule.max_requests:
        checkpoint()
        before = compile_counters(host, port) if not latencies else None
        latencies.append(completion(host, port, model, batch, prompt_tokens))
        if len(latencies) == 1:
            cache = CacheEvidence.from_counters(before, compile_counters(host, port) if before else None)
        if rule.settled(latencies):
            return ShapeReport(batch, prompt_tokens, tuple(latencies), True, cache)
    return ShapeReport(batch, prompt_tokens, tuple(latencies), False, cache)


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
