"""The model-load wizard's steps, all targeting the cluster (the console's
Kubernetes client): preflight checks that refuse a plan that cannot work,
server-side apply of the workload, the rollout watched, the compiled warmup
that sets the warm label, and last the Service that selects that label (so a
failed rollout or warmup never touches traffic)."""
from __future__ import annotations

import difflib
from concurrent.futures import ThreadPoolExecutor
from typing import cast

import yaml

from console.hosts.transport import Transport
from console.kube.client import KubeApiError, KubeHttp, object_path

from ..step import OK, WARN, BeforeState, CheckResult, Step, StepError, VerifyResult
from . import cluster_reads as cr
from . import manifests
from .fit import fit
from .rollout import PodProgress, pod_progress
from .spec import WARM_LABEL, ModelSpec
from .warmup import SettleRule, ShapeReport, compile_cache_from_log, warm_endpoint

MIB = 1024 ** 2
# fields the server owns: ignored when comparing an object with what it was
_SERVER_FIELDS = ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields",
                  "deletionTimestamp")
_SERVER_ANNOTATIONS = ("deployment.kubernetes.io/revision",)


def comparable(obj: dict | None) -> dict | None:
    if obj is None:
        return None
    md = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _SERVER_FIELDS}
    ann = {k: v for k, v in (md.get("annotations") or {}).items() if k not in _SERVER_ANNOTATIONS}
    md.pop("annotations", None)
    if ann:
        md["annotations"] = ann
    out = {k: v for k, v in obj.items() if k not in ("status", "metadata")}
    out["metadata"] = md
    return out


class ModelStep(Step):
    def __init__(self, kube: KubeHttp, spec: ModelSpec):
        # the cluster is this step's target (Step.host is typed for host steps)
        super().__init__(cast(Transport, kube))
        self.kube = kube
        self.spec = spec


class PreflightStep(ModelStep):
    """A check that must pass before anything changes: check() raises
    StepError with the reason, which stops apply before the first change."""

    def findings(self) -> tuple[str, tuple[str, ...]]:
        raise NotImplementedError

    def check(self) -> CheckResult:
        summary, facts = self.findings()
        return CheckResult(needed=False, summary=f"{self.title}: {summary}", facts=facts, status=OK)

    def verify(self) -> VerifyResult:
        return VerifyResult(ok=True, message=self.check().summary)


class FitCheck(PreflightStep):
    id, title = "preflight.fit", "model fits the GPUs"

    def findings(self) -> tuple[str, tuple[str, ...]]:
        gib = self.spec.gpu_memory_gib
        if not gib:
            mems = [int(n["metadata"].get("labels", {}).get("nvidia.com/gpu.memory", 0))
                    for n in cr.gpu_nodes(self.kube)]
            mems = [m for m in mems if m]
            if not mems:
                raise StepError("model fits the GPUs: no node says its GPU memory (label nvidia.com/gpu.memory); "
                                "set gpu_memory_gib")
            gib = min(mems) * MIB / 1024 ** 3
        f = fit(self.spec, gib)
        if not f.ok:
            raise StepError("model does not fit: " + "; ".join(f.lines))
        return f.lines[-1], f.lines


class GpuCapacityCheck(PreflightStep):
    id, title = "preflight.gpus", "free GPUs for every replica"

    def findings(self) -> tuple[str, tuple[str, ...]]:
        free = cr.free_gpus(self.kube, cr.gpu_nodes(self.kube), self.spec.selector)
        per = self.spec.gpus_per_replica
        fits = {n: f // per for n, f in free.items() if f >= per}
        total = sum(fits.values())
        facts = tuple(f"{n}: {f} free nvidia.com/gpu -> {f // per} replica(s)" for n, f in sorted(free.items()))
        if total < self.spec.replicas:
            raise StepError(f"not enough GPUs: {self.spec.replicas} replica(s) of {per} GPU(s) on one node each "
                            f"need {self.spec.replicas} slot(s), Ready schedulable nodes have {total} "
                            f"({sum(free.values())} free GPUs on {len(free)} node(s))")
        return f"{total} replica slot(s) for {self.spec.replicas} replica(s)", facts


class ImageCheck(PreflightStep):
    id, title = "preflight.image", "image present on the nodes"

    def findings(self) -> tuple[str, tuple[str, ...]]:
        nodes = cr.gpu_nodes(self.kube)
        have = [n["metadata"]["name"] for n in nodes if self.spec.image in cr.node_images(n)]
        if self.spec.registry:
            return f"pulled from the in-site registry {self.spec.registry}", (f"{len(have)} node(s) have it already",)
        if not have:
            raise StepError(f"image {self.spec.image} is on none of the {len(nodes)} GPU node(s) and no in-site "
                            "registry is configured (an air-gapped site cannot pull it)")
        missing = [n["metadata"]["name"] for n in nodes if n["metadata"]["name"] not in have]
        return (f"on {len(have)} of {len(nodes)} GPU node(s)",
                tuple(f"missing on {n}" for n in missing))


class CompileCacheCheck(PreflightStep):
    id, title = "preflight.cache", "compile-cache volume"

    def findings(self) -> tuple[str, tuple[str, ...]]:
        where = self.spec.compile_cache
        env = ", ".join(k for k, _v in manifests.CACHE_ENV)
        if where.startswith("pvc:"):
            name = where[4:].partition("/")[0]
            pvc = cr.get_or_none(self.kube, "persistentvolumeclaims", self.spec.namespace, name)
            if pvc is None:
                raise StepError(f"compile-cache volume: PVC {self.spec.namespace}/{name} does not exist "
                                f"({env} must persist so a restart reuses compiled graphs)")
            phase = (pvc.get("status") or {}).get("phase")
            if phase != "Bound":
                raise StepError(f"compile-cache volume: PVC {name} is {phase or 'not bound'}, expected Bound")
            return f"PVC {name} Bound", (f"{env} on it",)
        return f"host path {where} (not checked through the API)", (f"{env} on it",)


class HostTuningCheck(ModelStep):
    """The host-tuning wizard's verify on the GPU hosts given to the plan:
    reported (a warning), not a refusal."""
    id, title, report_only = "preflight.tuning", "hosts pass the tuning checks", True

    def __init__(self, kube: KubeHttp, spec: ModelSpec, hosts: dict[str, Transport]):
        super().__init__(kube, spec)
        self.hosts = hosts

    def check(self) -> CheckResult:
        if not self.hosts:
            return CheckResult(False, f"{self.title}: no hosts given to check", status=WARN,
                               notes=("run `dsconsole tune verify` on the GPU hosts",))
        from ..host_tuning.plan import steps_for
        from ..host_tuning.targets import TuningTargets
        bad = []
        for name, t in self.hosts.items():
            try:
                for s in steps_for(t, TuningTargets()):
                    if not s.report_only and not s.verify().ok:
                        bad.append(f"{name}: {s.title}")
            except Exception as e:  # noqa: BLE001 - an unreachable host is a finding, not a refusal
                bad.append(f"{name}: could not check ({e})")
        if bad:
            return CheckResult(False, f"{self.title}: {len(bad)} finding(s)", notes=tuple(bad), status=WARN)
        return CheckResult(False, f"{self.title}: {len(self.hosts)} host(s) tuned", status=OK)


class ApplyObjects(ModelStep):
    """Server-side apply (field manager dsconsole) of some objects. Before:
    the live objects (None: absent). Rollback deletes what the run created
    and puts back what it changed (other managers' later edits included)."""

    def __init__(self, kube: KubeHttp, spec: ModelSpec, step_id: str, title: str, objects: list[dict]):
        super().__init__(kube, spec)
        self.id, self.title, self.objects = step_id, title, objects

    def _live(self, obj: dict) -> dict | None:
        md = obj["metadata"]
        return cr.get_or_none(self.kube, obj["kind"], md.get("namespace"), md["name"])

    def capture(self) -> BeforeState:
        return BeforeState(objects={manifests.key(o): self._live(o) for o in self.objects})

    def diff(self) -> list[str]:
        lines: list[str] = []
        for o in self.objects:
            live = self._live(o)
            want = self.kube.apply(o, dry_run=True)
            a = yaml.safe_dump(comparable(live), sort_keys=True).splitlines() if live else []
            b = yaml.safe_dump(comparable(want), sort_keys=True).splitlines()
            k = manifests.key(o)
            lines += difflib.unified_diff(a, b, fromfile=k if live else "/dev/null", tofile=k, n=1, lineterm="")
        return lines

    def check(self) -> CheckResult:
        d = self.diff()
        return CheckResult(bool(d), f"{self.title}: " + ("would change " + ", ".join(
            manifests.key(o) for o in self.objects) if d else "as applied"), persistent=tuple(d),
            status="needed" if d else OK)

    def apply(self, before: BeforeState) -> tuple[str, ...]:
        for o in self.objects:
            self.kube.apply(o)
        return ()

    def rollback(self, before: BeforeState) -> None:
        for key, old in reversed(list(before.objects.items())):
            kind, ns, name = key.split("/", 2)
            if old is None:
                self.kube.delete(kind, ns or None, name)
                continue
            body = comparable(old)
            assert body is not None
            body["metadata"].pop("managedFields", None)
            live = cr.get_or_none(self.kube, kind, ns or None, name)
            if live is None:
                self.kube.send("POST", object_path(kind, ns or None), body)
            else:
                self.kube.send("PUT", object_path(kind, ns or None, name), body, {"fieldManager": "dsconsole"})

    def restored(self, now: BeforeState, before: BeforeState) -> bool:
        return all(comparable(now.objects.get(k)) == comparable(v) for k, v in before.objects.items())


class RolloutStep(ModelStep):
    """Watches the pods through their phases until every replica is Ready; a
    stall with a known cause fails the step at once, with the cause."""
    id, title, long = "rollout", "rollout", True
    poll_s = 0.5

    def __init__(self, kube: KubeHttp, spec: ModelSpec):
        super().__init__(kube, spec)
        self.progress: list[PodProgress] = []

    def check(self) -> CheckResult:
        ready = sum(1 for p in self.observe() if p.phase == "ready")
        done = ready >= self.spec.replicas
        return CheckResult(not done, f"rollout: {ready} of {self.spec.replicas} pod(s) ready",
                           status=OK if done else "needed")

    def observe(self) -> list[PodProgress]:
        out = []
        for pod in cr.pods(self.kube, self.spec.namespace, self.spec.selector):
            name = pod["metadata"]["name"]
            ready = pod_progress(pod, [], "").phase == "ready"
            events = [] if ready else cr.pod_events(self.kube, self.spec.namespace, name)
            log = ("" if ready or not pod["spec"].get("nodeName")
                   else cr.pod_log_tail(self.kube, self.spec.namespace, name))
            out.append(pod_progress(pod, events, log))
        self.progress = out
        return out

    def apply(self, before: BeforeState) -> tuple[str, ...]:
        import time
        deadline = time.monotonic() + self.spec.rollout_timeout_s
        while True:
            self.control.checkpoint()
            pods = self.observe()
            ready = sum(1 for p in pods if p.phase == "ready")
            self.control.report(ready / max(1, self.spec.replicas),
                                f"{ready}/{self.spec.replicas} ready; " + "; ".join(p.line() for p in pods))
            stalled = [p for p in pods if p.cause]
            if stalled:
                raise StepError("rollout stalled: " + "; ".join(f"{p.name}: {p.cause}" for p in stalled))
            if ready >= self.spec.replicas and len(pods) == self.spec.replicas:
                return tuple(p.line() for p in pods)
            if time.monotonic() > deadline:
                raise StepError("rollout timed out: " + "; ".join(p.line() for p in pods))
            self.control.sleep(self.poll_s)


def pod_endpoint(pod: dict, default_port: int) -> tuple[str, int]:
    ann = pod["metadata"].get("annotations") or {}
    return pod["status"]["podIP"], int(ann.get("dsconsole.io/model-port") or default_port)


class WarmupStep(ModelStep):
    """Warms every Ready pod of the model without the warm label (directly,
    not through the Service), a bounded number at once, and labels it warm
    when each shape settled. Run again (`model warmup`) it warms only pods
    that appeared since: a restarted or rescheduled pod gets no traffic
    until then."""
    id, title, long = "warmup", "compiled warmup", True

    def __init__(self, kube: KubeHttp, spec: ModelSpec):
        super().__init__(kube, spec)
        self.reports: dict[str, list[ShapeReport]] = {}

    def cold_pods(self) -> list[dict]:
        return [p for p in cr.pods(self.kube, self.spec.namespace, self.spec.selector)
                if pod_progress(p, [], "").phase == "ready"
                and (p["metadata"].get("labels") or {}).get(WARM_LABEL) != "true"]

    def check(self) -> CheckResult:
        cold = self.cold_pods()
        return CheckResult(bool(cold), f"warmup: {len(cold)} ready pod(s) not warm",
                           status="needed" if cold else OK)

    def verify(self) -> VerifyResult:
        return VerifyResult(ok=True, message="warm pods labelled")

    def apply(self, before: BeforeState) -> tuple[str, ...]:
        rule = SettleRule(self.spec.settle_k, self.spec.settle_pct, self.spec.warmup_max_requests)
        pods = self.cold_pods()
        done: list[str] = []

        def warm(pod: dict) -> str:
            name = pod["metadata"]["name"]
            host, port = pod_endpoint(pod, self.spec.port)
            reps = warm_endpoint(host, port, None, self.spec.shapes, rule, self.control.checkpoint)
            if any(r.cache.verdict == "unknown" for r in reps):
                # no counters on /metrics (vLLM has none): what the server's log says
                said = compile_cache_from_log(cr.pod_log_tail(self.kube, self.spec.namespace, name, 400))
                if said is not None:
                    reps = [r.with_cache(said) if r.cache.verdict == "unknown" else r for r in reps]
            self.reports[name] = reps
            if not all(r.settled for r in reps):
                raise StepError(f"{name}: latency did not settle: "
                                + "; ".join(r.line() for r in reps if not r.settled))
            self.kube.merge_patch("pods", self.spec.namespace, name, {"metadata": {"labels": {WARM_LABEL: "true"}}})
            done.append(name)
            self.control.report(len(done) / max(1, len(pods)), f"{name} warm")
            return name

        with ThreadPoolExecutor(max_workers=max(1, min(self.spec.warmup_parallel, len(pods) or 1))) as pool:
            futures = [pool.submit(warm, p) for p in pods]
            errors = []
            for f in futures:
                try:
                    f.result()
                except Exception as e:  # noqa: BLE001 - one pod's failure is reported with the others
                    errors.append(str(e))
        if errors:
            raise StepError("warmup failed: " + "; ".join(errors))
        return tuple(f"{pod}: {r.line()}" for pod, reps in self.reports.items() for r in reps)

    def rollback(self, before: BeforeState) -> None:
        for p in cr.pods(self.kube, self.spec.namespace, self.spec.selector):
            if (p["metadata"].get("labels") or {}).get(WARM_LABEL):
                try:
                    self.kube.merge_patch("pods", self.spec.namespace, p["metadata"]["name"],
                                          {"metadata": {"labels": {WARM_LABEL: None}}})
                except KubeApiError as e:
                    if e.status != 404:
                        raise

    def restored(self, now: BeforeState, before: BeforeState) -> bool:
        return True
