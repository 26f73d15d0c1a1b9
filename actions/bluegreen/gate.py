"""The gate after every traffic step: one window of probe results judged
against the thresholds. No data is a halt, never a pass: fewer than
`min_requests` results, or a colour with weight > 0 that received nothing
(the flagger #1689 trap: a metric with no data read as healthy). A wrong
completion is already a failed result (the probe checks the answer, not
only the status), so it counts against the success rate like a 5xx. A
breach the window's data shows is a breach even with fewer than
`min_requests`: enough data is needed to pass, not to fail.

Each colour in traffic is judged on its own figures as well as the whole:
at 90/10 a green failing every request is 10 % of the total and could hide
under a loose overall threshold; its own success rate cannot."""
from __future__ import annotations

from dataclasses import dataclass, field

from console.probes.window import ProbeResult, Window

from .nginx_upstream import Weights
from .spec import Gate

COLOURS = ("blue", "green")
GateRule = Gate   # the thresholds: the bluegreen: section's gate (P99 500 ms: the deployment guide's alert)


@dataclass(frozen=True)
class GateVerdict:
    passed: bool
    halted: bool                   # no data: neither a pass nor a breach of a threshold
    reason: str
    per_colour: dict[str, Window] = field(default_factory=dict)
    failed: int = 0                # failed requests in the window
    served: dict[str, int] | None = None   # per colour from /metrics, where the answers name no colour


def evaluate(samples: list[ProbeResult], weights: Weights, rule: GateRule | None = None,
             served: dict[str, int] | None = None) -> GateVerdict:
    """`samples`: the window's results, `pod` = the colour that answered ("" unknown);
    `served`: requests each colour served in the window by its /metrics counters
    (served_counts.py), for answers that name no colour."""
    rule = rule or GateRule()
    per = {c: Window.of([s for s in samples if s.pod == c]) for c in COLOURS}
    failed = sum(1 for s in samples if not s.ok)
    # a breach shown by the data there is counts even in a short window (a
    # slow green answers fewer probes); only its absence needs enough data
    low = [f"{name} {100 * w.success_rate:.1f} % ({w.sent - w.succeeded} of {w.sent} failed)"
           for name, w in [("all", Window.of(samples))] + [(c, per[c]) for c in COLOURS if weights.of(c) > 0]
           if w.success_rate is not None and w.success_rate < rule.success_rate]
    if low:
        return GateVerdict(False, False, f"success rate below {100 * rule.success_rate:g} %: {', '.join(low)}",
                           per, failed, served)
    slow = [f"{c} P99 {1000 * w.p99_s:.0f} ms" for c, w in per.items()
            if w.p99_s is not None and 1000 * w.p99_s > rule.p99_ms]
    if slow:
        return GateVerdict(False, False, f"latency above {rule.p99_ms:g} ms: {', '.join(slow)}", per, failed, served)
    if len(samples) < rule.min_requests:
        return GateVerdict(False, True, f"no data: {len(samples)} request(s) in the window, at least "
                                        f"{rule.min_requests} needed (no data is a halt, never a pass)",
                           per, failed, served)
    silent = [c for c in COLOURS if weights.of(c) > 0 and not per[c].sent and not (served or {}).get(c)]
    if silent:
        return GateVerdict(False, True, f"no data: {', '.join(silent)} at weight > 0 received no request "
                                        "(no data is a halt, never a pass)", per, failed, served)
    figures = ", ".join(f"{c} {w.sent} req P99 {1000 * (w.p99_s or 0):.0f} ms" for c, w in per.items() if w.sent)
    if served is not None:
        figures += (", " if figures else "") + "served by /metrics " + ", ".join(f"{c} {n}" for c, n in served.items())
    return GateVerdict(True, False, f"passed: {len(samples)} requests, {failed} failed; {figures}", per, failed, served)


def early_breach(samples: list[ProbeResult], elapsed_s: float, weights: Weights,
                 rule: GateRule | None = None) -> GateVerdict | None:
    """A breach certain before the window ends (None: not yet), so a green
    failing hard is rolled back in a fraction of the window, not at its end:
    the failures (or answers slower than p99_ms) so far already exceed what
    the whole window may hold. The window's count is projected from the rate
    so far and doubled, a margin against a burst early in the window."""
    rule = rule or GateRule()
    if elapsed_s <= 0 or len(samples) < rule.min_requests:
        return None
    scale = 2 * max(1.0, rule.window_s / elapsed_s)
    # the colours first: the reason names the culprit
    groups = [(c, [s for s in samples if s.pod == c]) for c in COLOURS if weights.of(c) > 0] + [("all", samples)]
    for name, rs in groups:
        if len(rs) < rule.min_requests:
            continue       # a colour's first answers prove nothing yet: one failure of one is not 0 %
        failed = sum(1 for s in rs if not s.ok)
        slow = sum(1 for s in rs if s.ok and 1000 * s.latency_s > rule.p99_ms)
        if failed > (1 - rule.success_rate) * len(rs) * scale:
            why = (f"success rate below {100 * rule.success_rate:g} %: {name} {failed} of {len(rs)} failed "
                   f"in the first {elapsed_s:.1f} s, more than the whole window allows")
        elif slow > 0.01 * len(rs) * scale:
            why = (f"latency above {rule.p99_ms:g} ms: {name} {slow} of {len(rs)} answers slower in the first "
                   f"{elapsed_s:.1f} s, more than the 1 % a P99 allows over the whole window")
        else:
            continue
        bad = [s.pod or "unknown" for s in samples if not s.ok or 1000 * s.latency_s > rule.p99_ms]
        why += " (" + ", ".join(f"{c}: {bad.count(c)}" for c in sorted(set(bad))) + ")"   # who, by colour
        per = {c: Window.of([s for s in samples if s.pod == c]) for c in COLOURS}
        return GateVerdict(False, False, why, per, sum(1 for s in samples if not s.ok))
    return None
