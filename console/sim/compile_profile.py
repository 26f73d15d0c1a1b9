"""CompileProfile: how a simulated torch.compile'd model server spends its time.

A compiled inference server (vLLM with torch.compile / CUDA graphs) is slow the
first time it meets a new input shape — it compiles a graph for it — and fast for
every later request of that shape. A shape is (batch-size bucket, prompt-length
bucket): requests are padded up to the next bucket, so a handful of warmup
requests per bucket makes a server fast for everything. All durations here are
simulated seconds; the model server converts them through its clock's time scale.
"""
from __future__ import annotations

import bisect
import hashlib

import msgspec

Shape = tuple[int, int]  # (batch bucket, prompt-length bucket in tokens)


class CompileProfile(msgspec.Struct, frozen=True):
    compile_s: float = 8.0
    """Extra time of the first request of a shape (graph compile + capture)."""
    prefill_s: float = 0.04
    """Time to first token of an already compiled shape, before the per-token part."""
    prefill_s_per_1k_tokens: float = 0.02
    """Prefill cost per 1,000 prompt tokens (of the padded bucket)."""
    decode_s_per_token: float = 0.008
    """Time per generated token (one decode step of the whole batch)."""
    batch_buckets: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256)
    prompt_buckets: tuple[int, ...] = (128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768)
    jitter: float = 0.05
    """Relative spread of fast latencies, deterministic per request."""
    max_running: int = 256
    """Requests running at once per server; more wait (vllm:num_requests_waiting)."""
    kv_cache_tokens: int = 1_000_000
    """KV-cache capacity in tokens, for vllm:gpu_cache_usage_perc."""

    def __post_init__(self) -> None:
        for name in ("batch_buckets", "prompt_buckets"):
            buckets = getattr(self, name)
            if not buckets or list(buckets) != sorted(set(buckets)) or buckets[0] < 1:
                raise ValueError(f"CompileProfile.{name}: expected increasing positive sizes, got {buckets!r}")
        for name in ("compile_s", "prefill_s", "prefill_s_per_1k_tokens", "decode_s_per_token", "jitter"):
            if getattr(self, name) < 0:
                raise ValueError(f"CompileProfile.{name}: expected >= 0, got {getattr(self, name)!r}")

    @property
    def max_model_len(self) -> int:
        return self.prompt_buckets[-1]

    def shape(self, batch: int, prompt_tokens: int) -> Shape:
        """The compiled shape a request runs in; ValueError when it fits none."""
        return (_bucket(self.batch_buckets, batch, "batch size"),
                _bucket(self.prompt_buckets, prompt_tokens, "prompt length"))

    def fast_timing(self, shape: Shape, max_tokens: int, key: str = "") -> tuple[float, float]:
        """(time to first token, end-to-end) of a request in a compiled shape.

        `key` makes the jitter deterministic: the same request gets the same time.
        """
        ttft = self.prefill_s + self.prefill_s_per_1k_tokens * shape[1] / 1000.0
        e2e = ttft + self.decode_s_per_token * max(0, max_tokens - 1)
        if self.jitter and key:
            digest = hashlib.blake2b(key.encode(), digest_size=4).digest()
            factor = 1.0 + self.jitter * (int.from_bytes(digest, "big") / 0xFFFFFFFF * 2.0 - 1.0)
            ttft, e2e = ttft * factor, e2e * factor
        return ttft, e2e

    def all_shapes(self) -> list[Shape]:
        return [(b, p) for b in self.batch_buckets for p in self.prompt_buckets]


def _bucket(buckets: tuple[int, ...], size: int, what: str) -> int:
    i = bisect.bisect_left(buckets, max(1, size))
    if i == len(buckets):
        raise ValueError(f"{what} {size} exceeds the largest compiled size {buckets[-1]}")
    return buckets[i]
