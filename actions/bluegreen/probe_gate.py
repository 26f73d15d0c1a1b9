"""The gate observed over one window: real completions sent to the pods of
the colours in traffic (actions/drills/prober.py's Prober: a bounded rate,
bounded timeouts), then a verdict. No data is a halt, never a pass: fewer
than `min_requests` answers, or a colour in traffic that answered nothing.

Used where the console reaches the pods themselves (mode service: the
preview Service's and the Service's endpoints are the colour's warm pods;
the model-load warmup reaches pods the same way). Through an nginx balancer
the gate of actions/bluegreen/gate.py measures instead."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..drills.prober import Prober, p99
from ..model_load import cluster_reads as cr
from ..model_load.rollout import pod_progress
from ..model_load.spec import WARM_LABEL
from ..model_load.steps import pod_endpoint
from ..step import StepControl
from .live import ColourStats, Live
from .spec import BlueGreenSpec


@dataclass(frozen=True)
class Target:
    """A pod as the Prober and console/probes/model_probe.request want it."""
    name: str
    ip: str
    model_port: int
    colour: str
    serving: bool = True

    @property
    def key(self) -> str:
        return self.name


@dataclass(frozen=True)
class Verdict:
    passed: bool
    halted: bool           # no data: neither a pass nor a breach of the thresholds
    reason: str
    per_colour: dict[str, ColourStats]


def warm_targets(kube: Any, spec: BlueGreenSpec, colours: tuple[str, ...]) -> list[Target]:
    out = []
    for colour in colours:
        cs = spec.colour(colour)
        for pod in cr.pods(kube, spec.namespace, cs.selector):
            labels = pod["metadata"].get("labels") or {}
            if labels.get(WARM_LABEL) != "true" or pod_progress(pod, [], "").phase != "ready":
                continue
            ip, port = pod_endpoint(pod, cs.port)
            out.append(Target(pod["metadata"]["name"], ip, port, colour))
    return out


def completion_problem(body: bytes) -> str | None:
    """What is wrong with a completion answer (None: a completion with text)."""
    import json
    try:
        doc = json.loads(body)
        text = doc["choices"][0]["text"]
    except (ValueError, KeyError, IndexError, TypeError):
        return "not a completion"
    return None if isinstance(text, str) and text.strip() else "empty completion"


def evaluate(results: list, colour_of: dict[str, str], spec: BlueGreenSpec,
             colours: tuple[str, ...]) -> Verdict:
    g = spec.gate
    per: dict[str, ColourStats] = {}
    for colour in colours:
        mine = [r for r in results if colour_of.get(r.pod) == colour]
        ok = [r.latency_s for r in mine if r.ok]
        p = p99(ok)
        per[colour] = ColourStats(len(mine), len(ok), None if p is None else p * 1000)
    sent = len(results)
    if sent < g.min_requests:
        return Verdict(False, True, f"no data: {sent} answer(s) in the window, at least {g.min_requests} "
                                    "needed (no data is a halt, never a pass)", per)
    silent = [c for c, s in per.items() if not s.sent]
    if silent:
        return Verdict(False, True, f"no data: {', '.join(silent)} received no request", per)
    failed = sum(1 for r in results if not r.ok)
    rate = (sent - failed) / sent
    if rate < g.success_rate:
        return Verdict(False, False, f"success rate {100 * rate:.1f} % below {100 * g.success_rate:.1f} % "
                                     f"({failed} of {sent} failed)", per)
    slow = [f"{c} P99 {s.p99_ms:.0f} ms" for c, s in per.items() if s.p99_ms is not None and s.p99_ms > g.p99_ms]
    if slow:
        return Verdict(False, False, f"{', '.join(slow)} above {g.p99_ms:g} ms", per)
    return Verdict(True, False, f"passed: {sent} requests, success {100 * rate:.1f} %, "
                                + ", ".join(f"{c} P99 {s.p99_ms:.0f} ms" for c, s in per.items()
                                            if s.p99_ms is not None), per)


def probe_prompt(spec: BlueGreenSpec) -> dict:
    """The gate's probe: a real completion of the model's own name, deterministic."""
    return {"model": spec.model.served_model_name, "prompt": "blue-green gate probe",
            "max_tokens": 4, "temperature": 0, "seed": 1}


def observe(kube: Any, spec: BlueGreenSpec, colours: tuple[str, ...], control: StepControl, live: Live,
            targets: Callable[[], list[Target]] | None = None) -> Verdict:
    """Probe the colours' warm pods (the Service's endpoints) for one gate window."""
    find = targets or (lambda: warm_targets(kube, spec, colours))
    colour_of: dict[str, str] = {}

    def current() -> list[Target]:
        ts = find()
        colour_of.update({t.name: t.colour for t in ts})
        return ts

    prober = Prober(current, rate=spec.probe_rate, workers=4, refresh_s=1.0, timeout_s=5.0,
                    prompt=probe_prompt(spec), accept=completion_problem).start()
    return window(prober, colour_of, spec, colours, control, live)


def window(prober: Any, colour_of: dict[str, str], spec: BlueGreenSpec, colours: tuple[str, ...],
           control: StepControl, live: Live) -> Verdict:
    """One gate window over a started prober (pods' Prober, or the balancer's
    BalancerProber: both give ProbeResults whose `pod` colour_of maps to a
    colour), stopped at the end; pause and abort are honoured between
    samples (a paused window starts over)."""
    try:
        start = time.monotonic()
        while True:
            if control.paused:
                control.report(None, "paused: the gate window starts again on resume")
                control.checkpoint()
                start = time.monotonic()
            now = time.monotonic()
            done = min(1.0, (now - start) / spec.gate.window_s)
            v = evaluate([r for r in prober.results if r.t >= start], colour_of, spec, colours)
            live.update(stats=v.per_colour)
            control.report(done, f"gate window {now - start:.0f}/{spec.gate.window_s:g} s: "
                                 + "; ".join(f"{c} {s.sent} req" for c, s in v.per_colour.items()))
            if done >= 1.0:
                break
            control.sleep(min(0.5, spec.gate.window_s / 4))
    finally:
        prober.stop()
    verdict = evaluate([r for r in prober.results if r.t >= start], colour_of, spec, colours)
    live.update(stats=verdict.per_colour, verdict=verdict.reason)
    return verdict
