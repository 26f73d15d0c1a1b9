"""Prometheus text exposition (0.0.4): read histograms and compute quantiles.

Only what the alerts need: the cumulative `_bucket{le=...}` series of one
histogram (summed over label sets, e.g. several model_name values), the
difference between two scrapes (the requests served in between, robust to a
counter reset when a server restarts), and histogram_quantile with Prometheus'
linear interpolation inside the bucket.
"""
from __future__ import annotations

import math
from collections.abc import Iterator

from console.lazy_regex import LazyRegex

_LE = LazyRegex(r'(?:^|[{,])\s*le\s*=\s*"([^"]*)"')


def _samples(text: str, name: str) -> Iterator[tuple[str, str]]:
    """(labels, value text) of each sample line of metric `name` exactly."""
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        rest = line[len(name):]
        if rest[:1] not in ("{", " "):
            continue   # another metric whose name merely starts the same
        labels, _, value = rest.rpartition("}")
        yield labels, value


def parse_histogram(text: str, name: str) -> dict[float, float] | None:
    """Cumulative counts by upper bound (le, +Inf as math.inf) of histogram
    `name`, summed over its label sets; None when the page has no such series."""
    buckets: dict[float, float] = {}
    for labels, value in _samples(text, name + "_bucket"):
        m = _LE.search(labels)
        if not m:
            continue
        try:
            le = math.inf if m.group(1) in ("+Inf", "Inf") else float(m.group(1))
            count = float(value.split()[0])
        except (ValueError, IndexError):
            continue
        buckets[le] = buckets.get(le, 0.0) + count
    return buckets or None


def delta(new: dict[float, float], old: dict[float, float] | None) -> dict[float, float]:
    """Observations between two scrapes; a counter reset (server restarted) counts from zero."""
    if not old or any(new.get(le, 0.0) < c for le, c in old.items()):
        return dict(new)
    return {le: c - old.get(le, 0.0) for le, c in new.items()}


def merge(*hists: dict[float, float]) -> dict[float, float]:
    out: dict[float, float] = {}
    for h in hists:
        for le, c in h.items():
            out[le] = out.get(le, 0.0) + c
    return out


def total(hist: dict[float, float]) -> float:
    return hist.get(math.inf, max(hist.values(), default=0.0))


def quantile(q: float, hist: dict[float, float]) -> float | None:
    """histogram_quantile(q) as Prometheus computes it; None without observations."""
    bounds = sorted(hist)
    if not bounds:
        return None
    count = total(hist)
    if count <= 0:
        return None
    rank = q * count
    prev_bound, prev_count = 0.0, 0.0
    for le in bounds:
        c = hist[le]
        if c >= rank:
            if le == math.inf:
                return prev_bound   # above the highest finite bound: that bound (as Prometheus)
            if c == prev_count:
                return le
            return prev_bound + (le - prev_bound) * (rank - prev_count) / (c - prev_count)
        prev_bound, prev_count = le, c
    return bounds[-1] if bounds[-1] != math.inf else prev_bound


def parse_counter(text: str, name: str) -> float | None:
    """The value of counter (or gauge) `name` summed over its label sets;
    None when the page has no such series."""
    found = None
    for _, value in _samples(text, name):
        try:
            found = (found or 0.0) + float(value.split()[0])
        except (ValueError, IndexError):
            continue
    return found
