"""Mode nginx: each traffic step writes the weights into the include file
dsconsole owns on the balancer host (nginx_upstream.NginxUpstream: `nginx
-t` before the reload, the running weights read back), then the gate over
real completions sent through the balancer (balancer_probe.BalancerProber:
each answer's colour from the response headers, its text checked against
the old colour's). A breach sets the starting weights again (the new colour
kept for inspection). The first step shows the adoption diff of an
existing upstream block. The drain adds nginx's worker_shutdown_timeout."""
from __future__ import annotations

from typing import Any

from ..step import BeforeState, CheckResult, StepError
from .live import Live
from .spec import BlueGreenSpec
from .steps import BlueGreenStep


def upstream_for(transport: Any, spec: BlueGreenSpec) -> Any:
    from .nginx_upstream import NginxUpstream
    lb = spec.lb
    assert lb is not None   # (BlueGreenSpec refuses mode nginx without a balancer)
    return NginxUpstream(transport, include_path=lb.include, upstream=lb.upstream, nginx_cmd=lb.nginx)


def pool_for(spec: BlueGreenSpec, kube: Any = None) -> Any:
    """The upstream servers of each colour: bluegreen.blue / .green as the
    site file gives them, else the warm Ready pods of the colour (pod IP and model
    port), read from the cluster."""
    from .nginx_upstream import Pool
    lb = spec.lb
    assert lb is not None
    blue, green = list(lb.blue), list(lb.green)
    if (not blue or not green) and kube is not None:
        from .probe_gate import warm_targets
        found = warm_targets(kube, spec, ("blue", "green"))
        blue = blue or [f"{t.ip}:{t.model_port}" for t in found if t.colour == "blue"]
        green = green or [f"{t.ip}:{t.model_port}" for t in found if t.colour == "green"]
    if not blue or not green:
        raise StepError("bluegreen: no upstream servers for " + " and ".join(
            c for c, servers in (("blue", blue), ("green", green)) if not servers)
            + ": give bluegreen.blue / bluegreen.green (host:port), or have warm pods of each colour")
    return Pool(blue=blue, green=green)


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def worker_shutdown_timeout_s(transport: Any, nginx_cmd: str) -> float | None:
    """nginx's worker_shutdown_timeout from its running configuration
    (`nginx -T`), in seconds; None when it is not set (old workers then
    keep a streamed response until it ends, however long)."""
    import re
    r = transport.run(f"{nginx_cmd} -T", sudo=True)
    if not r.ok:
        raise StepError(f"{nginx_cmd} -T failed: {(r.stderr or r.stdout).strip()[-300:]}")
    found = None
    for m in re.finditer(r"^\s*worker_shutdown_timeout\s+(\d+)(ms|s|m|h|d)?\s*;", r.stdout, re.M):
        found = int(m.group(1)) * _UNITS[m.group(2) or "s"]   # the last one wins, as in nginx
    return found


def drain_extra(transport: Any, spec: BlueGreenSpec) -> tuple[float, str]:
    """What the drain adds in mode nginx: worker_shutdown_timeout (a reload's
    old workers may serve that long after the last weight change)."""
    assert spec.lb is not None
    t = worker_shutdown_timeout_s(transport, spec.lb.nginx)
    if t is None:
        return 0.0, "nginx sets no worker_shutdown_timeout: old workers finish their streams whenever they end"
    return t, f"plus nginx's worker_shutdown_timeout {t:g} s"


class BalancerGate:
    """The observe() of the gates in mode nginx: probes through the balancer.
    The reference answer (the old colour's text) is handed from one gate to
    the next, for the last step where the old colour gets no traffic. Who
    answered: the upstreams' colour header, else nginx's upstream address,
    else (answers naming no colour) the servers' /metrics counters, read
    around the window."""
    preview = ("colours told by the upstreams' X-Dsconsole-Colour header, else nginx's X-Upstream-Addr "
               "mapped through the pool, else the model servers' /metrics request counters")

    def __init__(self, kube: Any, spec: BlueGreenSpec, old: str):
        self.kube, self.spec, self.old = kube, spec, old
        self.expected: str | None = None
        self.source: str | None = None

    def __call__(self, step: Any) -> Any:
        from . import probe_gate
        from .balancer_probe import BalancerProber
        from .served_counts import SOURCE, ServedCounts
        lb = self.spec.lb
        if lb is None or not lb.url:
            raise StepError("balancer.url: the balancer's URL is needed for the gate in mode nginx")
        pool = pool_for(self.spec, self.kube)
        counts = ServedCounts(pool)
        before = counts.read()
        prober = BalancerProber(lb.url, pool, prompt=probe_gate.probe_prompt(self.spec),
                                rate=self.spec.probe_rate, reference_colour=self.old, expected=self.expected).start()

        def served() -> dict[str, int] | None:   # only where no answer named its colour
            return None if prober.source else counts.since(before)
        try:
            v = probe_gate.window(prober, {"blue": "blue", "green": "green"}, self.spec, step.colours,
                                  step.control, step.live, served)
        finally:
            self.expected = self.expected or prober.expected
            self.source = prober.source or SOURCE
        step.live.update(verdict=f"{v.reason} (colours from {self.source})")
        return v


class WeightStep(BlueGreenStep):
    """One traffic step: the weights written, tested, reloaded and read back.
    Before: the weights nginx ran; rollback writes them again."""

    def __init__(self, kube: Any, spec: BlueGreenSpec, live: Live, lb_transport: Any, weights: tuple[int, int],
                 first: bool = False):
        super().__init__(kube, spec, live)
        self.lb_transport, self.weights, self.first = lb_transport, weights, first
        self.id = f"traffic.{weights[0]}-{weights[1]}"
        self.title = f"weights blue {weights[0]} / green {weights[1]}"

    def _weights(self, blue: int, green: int) -> Any:
        from .nginx_upstream import Weights
        return Weights(blue=blue, green=green)

    def check(self) -> CheckResult:
        up = upstream_for(self.lb_transport, self.spec)
        try:
            pool = pool_for(self.spec, self.kube)
        except StepError as e:   # planned before green is up: its servers are read when the step runs
            running = up.running()
            return CheckResult(True, f"{self.title}: nginx runs "
                                     + ("unknown weights" if running is None else f"{running.blue}/{running.green}"),
                               notes=(f"{e} (read again when the step runs)",), status="needed")
        running = up.running(pool)
        now = (running.blue, running.green) if running is not None else None
        diff = up.adopt_diff(pool, self._weights(*self.weights)) if self.first else ""
        lines = tuple(diff.splitlines())
        notes = ("first run: dsconsole will own this upstream block (the diff above)",) if diff else ()
        needed = now != self.weights or bool(diff)   # the first step adopts the block even at the same weights
        return CheckResult(needed, f"{self.title}: nginx runs "
                                   + ("unknown weights" if now is None else f"{now[0]}/{now[1]}"),
                           persistent=lines, notes=notes,
                           status="needed" if needed else "ok")

    def capture(self) -> BeforeState:
        r = upstream_for(self.lb_transport, self.spec).running(pool_for(self.spec, self.kube))
        return BeforeState(runtime={"weights": "" if r is None else f"{r.blue}/{r.green}"})

    def apply(self, before: BeforeState) -> tuple[str, ...]:
        self.set(*self.weights)
        return ()

    def set(self, blue: int, green: int) -> str:
        up = upstream_for(self.lb_transport, self.spec)
        r = up.apply(pool_for(self.spec, self.kube), self._weights(blue, green))
        self.live.update(weights=(r.blue, r.green))
        return f"nginx runs blue {r.blue} / green {r.green}"

    def rollback(self, before: BeforeState) -> None:
        w = before.runtime.get("weights") or "100/0"
        b, g = (int(x) for x in w.split("/"))
        self.set(b, g)

    def restored(self, now: BeforeState, before: BeforeState) -> bool:
        return now.runtime == before.runtime or not before.runtime.get("weights")
