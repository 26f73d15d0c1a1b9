"""The blue-green steps that do not depend on how traffic moves: the old
colour checked, the new colour brought up (green: the model-load manifests
applied; blue on the way back: scaled up again), a gate observed over a
window, the drain delay, the old colour scaled to zero. The model-load
wizard's rollout and warmup steps are used as they are, under ids of their
own (`plan.py`)."""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..model_load import cluster_reads as cr
from ..model_load.rollout import pod_progress
from ..model_load.spec import WARM_LABEL
from ..step import OK, BeforeState, CheckResult, Step, StepAborted, StepError, VerifyResult
from . import probe_gate
from .live import Live
from .spec import BlueGreenSpec


class BlueGreenStep(Step):
    def __init__(self, kube: Any, spec: BlueGreenSpec, live: Live):
        super().__init__(kube)
        self.kube = kube
        self.spec = spec
        self.live = live


def deployment_replicas(kube: Any, spec: BlueGreenSpec, colour: str) -> int | None:
    d = cr.get_or_none(kube, "deployments", spec.namespace, spec.colour(colour).name)
    return None if d is None else int((d.get("spec") or {}).get("replicas") or 0)


def warm_ready(kube: Any, spec: BlueGreenSpec, colour: str) -> int:
    return sum(1 for p in cr.pods(kube, spec.namespace, spec.colour(colour).selector)
               if (p["metadata"].get("labels") or {}).get(WARM_LABEL) == "true"
               and pod_progress(p, [], "").phase == "ready")


class OldColourCheck(BlueGreenStep):
    """The colour in service now runs, warm (a preflight: refuses the plan before anything changes)."""

    def __init__(self, kube: Any, spec: BlueGreenSpec, live: Live, old: str):
        super().__init__(kube, spec, live)
        self.old = old
        self.id, self.title = f"preflight.{old}", f"{old} serves ({spec.colour(old).name})"

    def check(self) -> CheckResult:
        name = self.spec.colour(self.old).name
        replicas = deployment_replicas(self.kube, self.spec, self.old)
        if replicas is None:
            raise StepError(f"{self.old}: Deployment {self.spec.namespace}/{name} does not exist; expected the "
                            f"version in service there (deploy it with `dsconsole model apply`, name {name}, "
                            f"label dsconsole.io/colour={self.old})")
        warm = warm_ready(self.kube, self.spec, self.old)
        if not warm:
            raise StepError(f"{self.old}: no warm Ready pod of {name}; expected the version in service")
        return CheckResult(False, f"{self.title}: {warm} warm pod(s) of {replicas}", status=OK)

    def verify(self) -> VerifyResult:
        return VerifyResult(True, self.check().summary)


class ScaleStep(BlueGreenStep):
    """Scales one colour's Deployment (before: its replicas; rollback scales back)."""

    def __init__(self, kube: Any, spec: BlueGreenSpec, live: Live, colour: str, replicas: int, step_id: str, title: str,
                 wait_ready: bool = False):
        super().__init__(kube, spec, live)
        self.colour, self.replicas, self.wait_ready = colour, replicas, wait_ready
        self.id, self.title = step_id, title
        self.long = wait_ready

    def _name(self) -> str:
        return self.spec.colour(self.colour).name

    def check(self) -> CheckResult:
        now = deployment_replicas(self.kube, self.spec, self.colour)
        if now is None:
            raise StepError(f"{self.title}: Deployment {self.spec.namespace}/{self._name()} does not exist")
        needed = now != self.replicas
        return CheckResult(needed, f"{self.title}: " + (f"{now} -> {self.replicas} replica(s)" if needed
                                                         else f"{now} replica(s)"),
                           runtime=(f"{self._name()} replicas: {now} -> {self.replicas}",) if needed else (),
                           status="needed" if needed else OK)

    def capture(self) -> BeforeState:
        return BeforeState(runtime={"replicas": str(deployment_replicas(self.kube, self.spec, self.colour))})

    def _scale(self, n: int) -> None:
        self.kube.merge_patch("deployments", self.spec.namespace, self._name(), {"spec": {"replicas": n}})

    def apply(self, before: BeforeState) -> tuple[str, ...]:
        self._scale(self.replicas)
        self.live.update(phase=f"{self.colour} scaled to {self.replicas}")
        return ()

    def rollback(self, before: BeforeState) -> None:
        old = before.runtime.get("replicas")
        if old not in (None, "None"):
            self._scale(int(old))

    def restored(self, now: BeforeState, before: BeforeState) -> bool:
        return now.runtime == before.runtime


class GateStep(BlueGreenStep):
    """A gate observed over one window on the colours in traffic. A breach
    calls `on_breach` (traffic back to the old colour; the new colour kept
    for inspection) and fails the step with the reason; an abort does the
    same and says it was aborted. It changes nothing itself: always run
    (on resume too: a gate is observed again, never taken from the journal)."""
    long = True

    def __init__(self, kube: Any, spec: BlueGreenSpec, live: Live, step_id: str, title: str, colours: tuple[str, ...],
                 on_breach: Callable[[], str] | None = None,
                 observe: Callable[[Step], probe_gate.Verdict] | None = None):
        super().__init__(kube, spec, live)
        self.id, self.title, self.colours = step_id, title, colours
        self.on_breach = on_breach
        self._observe = observe
        self.verdict: probe_gate.Verdict | None = None

    def check(self) -> CheckResult:
        g = self.spec.gate
        how = getattr(self._observe, "preview", None)   # mode nginx: how the colours are told apart
        return CheckResult(True, f"{self.title}: will observe {g.window_s:g} s; pass: success >= "
                                 f"{100 * g.success_rate:g} %, P99 <= {g.p99_ms:g} ms, at least "
                                 f"{g.min_requests} answers, {' and '.join(self.colours)} answering",
                           notes=(how,) if how else (), status="needed")

    def verify(self) -> VerifyResult:
        v = self.verdict
        return VerifyResult(v is not None and v.passed, v.reason if v else "not observed")

    def _breach(self, reason: str) -> str:
        back = self.on_breach() if self.on_breach else ""
        return reason + (f"; {back}" if back else "")

    def apply(self, before: BeforeState) -> tuple[str, ...]:
        self.live.update(phase=self.title)
        try:
            if self._observe is not None:
                v = self._observe(self)
            else:
                v = probe_gate.observe(self.kube, self.spec, self.colours, self.control, self.live)
        except StepAborted:
            raise StepAborted(self._breach("aborted by the operator")) from None
        self.verdict = v
        source = getattr(self._observe, "source", None)   # mode nginx: which header told the colours
        if not v.passed:
            what = "gate halted" if v.halted else "gate breached"
            raise StepError(self._breach(f"{what}: {v.reason}"))
        return (v.reason,) + ((f"colours from {source}",) if source else ())


class DrainStep(BlueGreenStep):
    """After the last step the old colour stays up this long, so long
    streamed responses finish (nginx's worker_shutdown_timeout included by
    the plan in mode nginx)."""
    id, title, long = "drain", "drain delay", True

    def __init__(self, kube: Any, spec: BlueGreenSpec, live: Live, seconds: float, why: str = "",
                 extra: Callable[[], tuple[float, str]] | None = None):
        super().__init__(kube, spec, live)
        self.seconds, self.why, self.extra = seconds, why, extra

    def check(self) -> CheckResult:
        return CheckResult(True, f"{self.title}: {self.seconds:g} s" + (f" ({self.why})" if self.why else ""),
                           status="needed")

    def verify(self) -> VerifyResult:
        return VerifyResult(True, f"drained {self.seconds:g} s")

    def apply(self, before: BeforeState) -> tuple[str, ...]:
        seconds, notes = self.seconds, ""
        if self.extra is not None:
            more, why = self.extra()
            seconds, notes = seconds + more, why
        self.live.update(phase=f"draining {seconds:g} s")
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self.control.report(1 - left / max(seconds, 1e-9), f"{left:.0f} s left")
            self.control.sleep(min(left, 0.5))
        return (notes,) if notes else ()
