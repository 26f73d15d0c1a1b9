"""Builds the blue-green plan on the cluster target (plus, in mode nginx,
the balancer host). Registered as wizard "bluegreen" in actions.plan.WIZARDS;
params are BlueGreenSpec.to_params() plus `to` (the colour traffic moves
to: green, or blue for "back to blue").

    preflight.<old>      the colour in service runs, warm
    <new>.up             green: the model-load Deployment and PDB applied;
                         blue (back to blue): scaled up again
    <new>.rollout        the model-load rollout, watched
    <new>.warmup         the model-load compiled warmup (warm label)
    mode service:  service.preview -> gate.preview -> service.switch -> gate.switch
    mode nginx:    traffic.B-G + gate.B-G for each step of bluegreen.steps
    drain                the old colour stays up (nginx: + worker_shutdown_timeout)
    <old>.scale-zero     the old colour scaled to zero (rollback scales it back)
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..model_load.manifests import deployment as model_deployment
from ..model_load.manifests import pdb
from ..model_load.steps import ApplyObjects, RolloutStep, WarmupStep
from ..plan import CLUSTER, HostPlan, Plan
from .live import Live
from .spec import BlueGreenSpec, other
from .steps import DrainStep, GateStep, OldColourCheck, ScaleStep

WIZARD = "bluegreen"


def live_of(plan: Plan) -> Live | None:
    """The live view the plan's steps publish to (the screen's panel reads it)."""
    for hp in plan.hosts:
        for s in hp.steps:
            live = getattr(s, "live", None)
            if isinstance(live, Live):
                return live
    return None


def _up_steps(kube: Any, spec: BlueGreenSpec, live: Live, new: str) -> list:
    cs = spec.colour(new)
    if new == "green":
        up: Any = ApplyObjects(kube, cs, "green.up", "green Deployment and PodDisruptionBudget",
                               [model_deployment(cs), pdb(cs)])
    else:
        up = ScaleStep(kube, spec, live, "blue", spec.model.replicas, "blue.up", "blue scaled up again")
    rollout, warmup = RolloutStep(kube, cs), WarmupStep(kube, cs)
    rollout.id, rollout.title = f"{new}.rollout", f"{new} rollout"
    warmup.id, warmup.title = f"{new}.warmup", f"{new} compiled warmup"
    return [up, rollout, warmup]


def _service_steps(kube: Any, spec: BlueGreenSpec, live: Live, new: str) -> list:
    from .service_switch import PreviewService, SelectorSwitch
    old = other(new)
    switch = SelectorSwitch(kube, spec, live, new)
    return [PreviewService(kube, spec, new),
            GateStep(kube, spec, live, "gate.preview", f"gate on the preview Service ({new})", (new,)),
            switch,
            GateStep(kube, spec, live, "gate.switch", f"gate on the Service ({new})", (new,),
                     on_breach=lambda: switch.switch_back(old))]


def _nginx_steps(kube: Any, spec: BlueGreenSpec, live: Live, new: str, lb: Any) -> list:
    from .nginx_traffic import BalancerGate, WeightStep
    steps: list = []
    gate = BalancerGate(kube, spec, other(new))
    order = spec.steps if new == "green" else tuple((g, b) for b, g in spec.steps)
    for i, w in enumerate(order):
        ws = WeightStep(kube, spec, live, lb, (int(w[0]), int(w[1])), first=i == 0)
        in_traffic = tuple(c for c, share in zip(("blue", "green"), w, strict=True) if share > 0)
        start = (100, 0) if new == "green" else (0, 100)
        steps += [ws, GateStep(kube, spec, live, f"gate.{w[0]}-{w[1]}", f"gate at {w[0]}/{w[1]}", in_traffic,
                               on_breach=_back_to(ws, start), observe=gate)]
    return steps


def _back_to(ws: Any, weights: tuple[int, int]) -> Callable[[], str]:
    """The automatic rollback of a breach in mode nginx: the starting weights again."""
    return lambda: ws.set(*weights) + "; the new colour kept for inspection"


def read_weights(spec: BlueGreenSpec, transports: dict) -> tuple[int, int] | None:
    """The weights in force, read back: the colour the Service selects (mode
    service: 100/0 or 0/100), or what nginx runs (mode nginx)."""
    if spec.mode == "service":
        from .service_switch import live_colour, weights_of
        return weights_of(live_colour(transports[CLUSTER], spec))
    from ..step import StepError
    from .nginx_traffic import pool_for, upstream_for
    assert spec.lb is not None
    try:
        pool = pool_for(spec, transports[CLUSTER])
    except StepError:   # a colour scaled to zero: dsconsole's file names each server's colour itself
        pool = None
    r = upstream_for(transports[spec.lb.host], spec).running(pool)
    return None if r is None else (int(r.blue), int(r.green))


def build_plan(transports: dict, params: dict | None = None) -> Plan:
    params = dict(params or {})
    to = params.pop("to", "green")
    spec = BlueGreenSpec.from_params(params)
    kube = transports[CLUSTER]
    live = Live(lambda: read_weights(spec, transports))
    old = other(to)
    steps: list = [OldColourCheck(kube, spec, live, old), *_up_steps(kube, spec, live, to)]
    hosts = []
    drain_why, drain_extra = "", None
    if spec.mode == "service":
        steps += _service_steps(kube, spec, live, to)
    else:
        assert spec.lb is not None
        lb = transports[spec.lb.host]
        steps += _nginx_steps(kube, spec, live, to, lb)
        drain_why = "plus nginx's worker_shutdown_timeout, read with nginx -T when the drain starts"
        from .nginx_traffic import drain_extra as extra_of
        drain_extra = lambda: extra_of(lb, spec)   # noqa: E731 - read when the drain starts
    steps += [DrainStep(kube, spec, live, spec.drain_s, drain_why, drain_extra),
              ScaleStep(kube, spec, live, old, 0, f"{old}.scale-zero", f"{old} scaled to zero")]
    hosts.append(HostPlan(CLUSTER, kube, steps))
    title = f"Blue-green: {spec.name} -> {to} ({spec.mode})"
    return Plan(WIZARD, title, {**spec.to_params(), "to": to}, hosts)
