"""A gated switch: for each step set the weights, watch one gate window of
probe results through the balancer, judge it; a breach (or no data) puts
the starting weights back at once, the rollback, and says why and how many
requests failed. The wizard wraps this in its engine steps; tests and the
benchmark call it as it is.

`prober` is anything with `results` (a list of ProbeResult, pod = colour)
and `settle(before)`, already started: BalancerProber in mode nginx. Only results sent after a
step's weights are in force count for that step's window. A breach certain
before the window ends (gate.early_breach) rolls back at once."""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .gate import GateRule, GateVerdict, early_breach, evaluate
from .nginx_upstream import Weights
from .served_counts import ServedCounts
from .traffic_mode import TrafficSwitch


@dataclass(frozen=True)
class StepOutcome:
    weights: Weights
    verdict: GateVerdict


@dataclass
class SwitchOutcome:
    completed: bool                  # every step passed its gate
    rolled_back: bool
    reason: str
    weights: Weights | None          # what runs at the end (read back)
    failed_requests: int             # failed probe requests from the first step to the end
    steps: list[StepOutcome] = field(default_factory=list)
    aborted: bool = False
    counted_until: float = 0.0       # time.monotonic() the failed_requests count ends at


def run_steps(switch: TrafficSwitch, prober: Any, rule: GateRule, steps: Sequence[tuple[int, int]], *,
              on_step: Callable[[StepOutcome], None] | None = None,
              should_pause: Callable[[], bool] | None = None,
              should_abort: Callable[[], bool] | None = None,
              served: ServedCounts | None = None,
              poll_s: float = 0.05) -> SwitchOutcome:
    """Steps as (blue, green); the rollback goes back to the first step's
    weights (100/0 for a switch to green, 0/100 for a way back to blue).
    `served`: the model servers' counters, read around each window, where the
    probe's answers do not name their colour (prober.source is None)."""
    if not steps:
        raise ValueError("no steps: expected at least one (blue, green) pair")
    back = Weights(*steps[0])
    start = time.monotonic()
    done: list[StepOutcome] = []

    def failed() -> tuple[int, float]:
        # the count ends once the final weights are in force: the probes sent
        # until then, including those still waiting for their answer
        end = time.monotonic()
        prober.settle(end)
        return sum(1 for r in list(prober.results) if start <= r.t < end and not r.ok), end

    def rollback(why: str, aborted: bool = False) -> SwitchOutcome:
        running = switch.set_weights(back.blue, back.green)
        count, end = failed()
        return SwitchOutcome(False, True, f"{why}; rolled back to {back.blue}/{back.green}", running,
                             count, done, aborted, end)

    for blue, green in steps:
        if should_abort and should_abort():
            return rollback("aborted by the operator", aborted=True)
        running = switch.set_weights(blue, green)
        since = time.monotonic()
        counted = served.read() if served else None
        early: GateVerdict | None = None
        while early is None and time.monotonic() - since < rule.window_s:
            if should_abort and should_abort():
                return rollback("aborted by the operator", aborted=True)
            if should_pause and should_pause():
                while should_pause() and not (should_abort and should_abort()):
                    time.sleep(poll_s)
                since = time.monotonic()     # a paused window starts over: its figures are stale
                counted = served.read() if served else None
                continue
            time.sleep(poll_s)
            early = early_breach([r for r in list(prober.results) if r.t >= since], time.monotonic() - since,
                                 running, rule)
        if early is not None:
            outcome = StepOutcome(running, early)
        else:
            window = [r for r in list(prober.results) if since <= r.t < since + rule.window_s]
            split = served.since(counted) if served and counted is not None else None
            outcome = StepOutcome(running, evaluate(window, running, rule, split))
        done.append(outcome)
        if on_step:
            on_step(outcome)
        if not outcome.verdict.passed:
            what = "halted" if outcome.verdict.halted else "gate breached"
            return rollback(f"{what} at {blue}/{green}: {outcome.verdict.reason}")
    last = done[-1].weights
    count, end = failed()
    return SwitchOutcome(True, False, f"switched to {last.blue}/{last.green}: every gate passed", last,
                         count, done, counted_until=end)
