"""The last way to learn the split, where neither the upstreams nor nginx
name who answered: the model servers' own request counters on /metrics
(vLLM's `vllm:request_success_total`), summed per colour over the pool and
compared between two reads. It tells how many requests each colour served,
so "green actually received traffic" can still be judged; not which probe
failed where (the gate then judges the success rate as a whole)."""
from __future__ import annotations

from console import http1
from console.probes.prom_text import parse_counter

from .nginx_upstream import Pool

COUNTER = "vllm:request_success_total"
SOURCE = "the model servers' /metrics request counters (deltas per colour)"


def scrape(address: str, timeout_s: float = 5.0) -> float | None:
    """The counter of one server `host:port` (None: unreachable or no such series)."""
    host, _, port = address.rpartition(":")
    conn = http1.Connection(host, int(port), timeout=timeout_s)
    try:
        conn.request("GET", "/metrics", {"Connection": "close", "User-Agent": "dsconsole"})
        resp = conn.getresponse()
        body = resp.read()
    except (OSError, http1.ProtocolError):
        return None
    finally:
        conn.close()
    return parse_counter(body.decode("utf-8", "replace"), COUNTER) if resp.status == 200 else None


class ServedCounts:
    """`read()` -> served requests per colour so far; `since(before)` the deltas
    (a server that restarted, its counter lower, counts from zero)."""

    def __init__(self, pool: Pool):
        self.pool = pool

    def read(self) -> dict[str, dict[str, float | None]]:
        return {c: {a: scrape(a) for a in getattr(self.pool, c)} for c in ("blue", "green")}

    def since(self, before: dict[str, dict[str, float | None]]) -> dict[str, int]:
        now, out = self.read(), {}
        for colour, servers in now.items():
            total = 0.0
            for addr, value in servers.items():
                old = before.get(colour, {}).get(addr)
                if value is not None:
                    total += value if old is None or value < old else value - old
            out[colour] = int(total)
        return out
