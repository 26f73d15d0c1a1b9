"""The gate observed over one window: real completions sent to the pods of
the colours in traffic (actions/drills/prober.py's Prober: a bounded rate,
bounded timeouts), then gate.py's verdict. No data is a halt, never a pass.

Used where the console reaches the pods themselves (mode service: the
preview Service's and the Service's endpoints are the colour's warm pods;
the model-load warmup reaches pods the same way), and through an nginx
balancer (nginx_traffic.py's BalancerGate). The verdict is gate.py's."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from ..drills.prober import Prober
from ..model_load import cluster_reads as cr
from ..model_load.rollout import pod_progress
from ..model_load.spec import WARM_LABEL
from ..model_load.steps import pod_endpoint
from ..step import StepControl
from . import gate
from .live import ColourStats, Live
from .nginx_upstream import Weights
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
             colours: tuple[str, ...], served: dict[str, int] | None = None) -> Verdict:
    """The gate's verdict on a window of probe results whose `pod` colour_of
    maps to a colour: gate.py's rule, the colours in `colours` in traffic;
    `served`: requests per colour by the servers' /metrics, for answers
    that name no colour."""
    samples = [replace(r, pod=colour_of.get(r.pod, "")) for r in results]
    # gate.py judges each colour with weight > 0: the weights' sizes do not matter
    blue, green = "blue" in colours, "green" in colours
    in_traffic = Weights(50, 50) if blue and green else Weights(100, 0) if blue else Weights(0, 100)
    v = gate.evaluate(samples, in_traffic, spec.gate, served)
    per = {c: ColourStats(w.sent, w.succeeded, None if w.p99_s is None else 1000 * w.p99_s)
           for c, w in v.per_colour.items() if c in colours}
    return Verdict(v.passed, v.halted, v.reason, per)


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
           control: StepControl, live: Live, served: Callable[[], dict[str, int] | None] | None = None) -> Verdict:
    """One gate window over a started prober (pods' Prober, or the balancer's
    BalancerProber: both give ProbeResults whose `pod` colour_of maps to a
    colour), stopped at the end; pause and abort are honoured between
    samples (a paused window starts over). `served()` at the end: the
    requests each colour served meanwhile by /metrics (None: not needed)."""
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
    verdict = evaluate([r for r in prober.results if r.t >= start], colour_of, spec, colours,
                       served() if served else None)
    live.update(stats=verdict.per_colour, verdict=verdict.reason)
    return verdict
