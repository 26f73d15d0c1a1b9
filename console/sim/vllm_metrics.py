"""The Prometheus metrics of one simulated model server, under vLLM's names.

Rendered in the Prometheus text exposition format (version 0.0.4) exactly as a
vLLM server's /metrics shows them: `vllm:` prefix, a `model_name` label,
histograms with `_bucket{le=...}`, `_sum`, `_count`, counters with `_total`.
Bucket bounds are vLLM's own, so dashboards and P99 estimates behave as on a
real server.
"""
from __future__ import annotations

import bisect

import msgspec

# vLLM's histogram bounds (vllm/engine/metrics.py).
E2E_BUCKETS = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0,
               40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0)
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75,
                1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0)
TPOT_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75,
                1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0)


class Histogram:
    __slots__ = ("bounds", "counts", "sum", "count")

    def __init__(self, bounds: tuple[float, ...]):
        self.bounds = bounds
        self.counts = [0] * len(bounds)  # per bucket, not cumulative
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        i = bisect.bisect_left(self.bounds, value)
        if i < len(self.counts):
            self.counts[i] += 1
        self.sum += value
        self.count += 1

    def render(self, name: str, labels: str, out: list[str]) -> None:
        cumulative = 0
        for bound, n in zip(self.bounds, self.counts, strict=True):
            cumulative += n
            out.append(f'{name}_bucket{{{labels},le="{_fmt(bound)}"}} {_fmt(cumulative)}')
        out.append(f'{name}_bucket{{{labels},le="+Inf"}} {_fmt(self.count)}')
        out.append(f"{name}_sum{{{labels}}} {_fmt(self.sum)}")
        out.append(f"{name}_count{{{labels}}} {_fmt(self.count)}")


class ServerMetrics(msgspec.Struct):
    """Counters and histograms of one server; gauges are passed in at render time."""
    prompt_tokens: int = 0
    generation_tokens: int = 0
    success: dict[str, int] = msgspec.field(default_factory=lambda: {"length": 0, "stop": 0})
    e2e: Histogram = msgspec.field(default_factory=lambda: Histogram(E2E_BUCKETS))
    ttft: Histogram = msgspec.field(default_factory=lambda: Histogram(TTFT_BUCKETS))
    tpot: Histogram = msgspec.field(default_factory=lambda: Histogram(TPOT_BUCKETS))

    def record(self, *, prompt_tokens: int, generation_tokens: int, finish_reason: str,
               ttft_s: float, e2e_s: float) -> None:
        self.prompt_tokens += prompt_tokens
        self.generation_tokens += generation_tokens
        self.success[finish_reason] = self.success.get(finish_reason, 0) + 1
        self.e2e.observe(e2e_s)
        self.ttft.observe(ttft_s)
        if generation_tokens > 1:
            self.tpot.observe((e2e_s - ttft_s) / (generation_tokens - 1))


def render_metrics(model: str, metrics: ServerMetrics | None, *, running: int, waiting: int,
                   cache_usage: float) -> str:
    """The /metrics page of a server serving `model` (metrics None: no request yet)."""
    m = metrics or ServerMetrics()
    labels = f'model_name="{_escape(model)}"'
    out: list[str] = []

    def head(name: str, kind: str, help_: str) -> None:
        out.append(f"# HELP {name} {help_}")
        out.append(f"# TYPE {name} {kind}")

    head("vllm:num_requests_running", "gauge", "Number of requests currently running on GPU.")
    out.append(f"vllm:num_requests_running{{{labels}}} {_fmt(running)}")
    head("vllm:num_requests_waiting", "gauge", "Number of requests waiting to be processed.")
    out.append(f"vllm:num_requests_waiting{{{labels}}} {_fmt(waiting)}")
    head("vllm:gpu_cache_usage_perc", "gauge", "GPU KV-cache usage. 1 means 100 percent usage.")
    out.append(f"vllm:gpu_cache_usage_perc{{{labels}}} {_fmt(cache_usage)}")
    head("vllm:prompt_tokens_total", "counter", "Number of prefill tokens processed.")
    out.append(f"vllm:prompt_tokens_total{{{labels}}} {_fmt(m.prompt_tokens)}")
    head("vllm:generation_tokens_total", "counter", "Number of generation tokens processed.")
    out.append(f"vllm:generation_tokens_total{{{labels}}} {_fmt(m.generation_tokens)}")
    head("vllm:request_success_total", "counter", "Count of successfully processed requests.")
    for reason in sorted(m.success):
        out.append(f'vllm:request_success_total{{finished_reason="{reason}",{labels}}} '
                   f"{_fmt(m.success[reason])}")
    head("vllm:time_to_first_token_seconds", "histogram", "Histogram of time to first token in seconds.")
    m.ttft.render("vllm:time_to_first_token_seconds", labels, out)
    head("vllm:time_per_output_token_seconds", "histogram", "Histogram of time per output token in seconds.")
    m.tpot.render("vllm:time_per_output_token_seconds", labels, out)
    head("vllm:e2e_request_latency_seconds", "histogram", "Histogram of end to end request latency in seconds.")
    m.e2e.render("vllm:e2e_request_latency_seconds", labels, out)
    out.append("")
    return "\n".join(out)


def _fmt(v: float) -> str:
    # Prometheus' own client prints floats with repr and a trailing ".0" for integers.
    return repr(float(v))


def _escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
