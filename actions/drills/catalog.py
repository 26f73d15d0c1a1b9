"""The drills: what each one disrupts (its blast radius, chosen before the
confirmation) and how. Recovery is observed by the engine (engine.py) the
same way for all: every disrupted pod replaced by a serving one that has
answered a real request."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from console.kube.tolerations import toleration_seconds


class DrillRefused(Exception):
    """The drill cannot run here (no fault injector, no pod to disrupt ...)."""


@dataclass(frozen=True)
class BlastRadius:
    nodes: tuple[str, ...]
    pods: tuple[str, ...]

    @property
    def names(self) -> list[str]:
        return list(self.nodes or self.pods)

    def to_dict(self) -> dict:
        return {"nodes": list(self.nodes), "pods": list(self.pods)}

    def describe(self) -> str:
        parts = []
        if self.nodes:
            parts.append("node(s) " + ", ".join(self.nodes))
        if self.pods:
            parts.append(f"{len(self.pods)} model-server pod(s): " + ", ".join(self.pods))
        return "; ".join(parts)


def _busiest_node(run: Any) -> str:
    counts: dict[str, int] = {}
    for p in run.before_pods:
        if p.serving and p.node:
            counts[p.node] = counts.get(p.node, 0) + 1
    if not counts:
        raise DrillRefused("no serving model-server pod to disrupt")
    return sorted(counts, key=lambda n: (-counts[n], n))[0]


class Drill:
    name = ""
    title = ""
    needs_faults = False
    fault_kind = ""          # what the injector must be able to do ("node", "gpu")
    bypasses_pdb = False

    def blast_radius(self, run: Any, target: str | None) -> BlastRadius:
        raise NotImplementedError

    def inject(self, run: Any, radius: BlastRadius) -> None:
        raise NotImplementedError


def _node_radius(run: Any, target: str | None) -> BlastRadius:
    node = target or _busiest_node(run)
    if node not in run.ops.node_names():
        raise DrillRefused(f"no node {node!r} in the cluster")
    pods = tuple(sorted(p.name for p in run.before_pods if p.node == node))
    return BlastRadius((node,), pods)


def cordon(run: Any, node: str) -> None:
    if run.ops.node(node)["spec"].get("unschedulable"):
        run.event("action", f"node {node} already cordoned (left so)")
        return
    run.undo({"op": "uncordon", "node": node})
    run.ops.cordon(node)
    run.event("action", f"cordoned node {node}")


def evict_all(run: Any, pods: tuple[str, ...], retry_s: float = 1.0) -> None:
    """Evict through the Eviction API; a 429 (the PDB forbids it now) is
    expected, shown and retried every `retry_s` site seconds (scaled on the
    demo's clock, else the retry period is the drain's measurement error)
    until the drill's deadline."""
    left = list(pods)
    while left:
        run.check_abort()
        for name in list(left):
            code = run.ops.evict(name)
            if code == 429:
                run.evictions_429 += 1
                run.event("429", f"eviction of {name}: 429 TooManyRequests (PDB allows no disruption now); "
                                 f"retry in {retry_s:g} s")
            else:
                left.remove(name)
                run.mark_disrupted()
                run.event("action", f"evicted pod {name}" + (" (already gone)" if code == 404 else ""))
        if left:
            if time.monotonic() > run.deadline:
                raise TimeoutError(f"evictions still refused at the deadline: {', '.join(left)}")
            run.sleep(max(0.02, retry_s / run.time_scale))


class PodKill(Drill):
    name = "pod-kill"
    title = "Pod kill: delete one model-server pod"
    bypasses_pdb = True

    def blast_radius(self, run: Any, target: str | None) -> BlastRadius:
        serving = sorted(p.name for p in run.before_pods if p.serving)
        if target:
            if target not in serving:
                raise DrillRefused(f"no serving model-server pod {target!r}")
            serving = [target]
        if not serving:
            raise DrillRefused("no serving model-server pod to kill")
        return BlastRadius((), (serving[0],))

    def inject(self, run: Any, radius: BlastRadius) -> None:
        name = radius.pods[0]
        run.note("a pod delete bypasses the PodDisruptionBudget: this drill measures recovery, "
                 "not what the PDB protects")
        run.ops.delete_pod(name)   # nothing to roll back: the ReplicaSet replaces it
        run.mark_disrupted()
        run.event("action", f"deleted pod {name}")


class NodeDrain(Drill):
    name = "node-drain"
    title = "Node drain: cordon and evict through the Eviction API"

    def blast_radius(self, run: Any, target: str | None) -> BlastRadius:
        return _node_radius(run, target)

    def inject(self, run: Any, radius: BlastRadius) -> None:
        cordon(run, radius.nodes[0])
        evict_all(run, radius.pods)


class NodeLoss(Drill):
    name = "node-loss"
    title = "Node loss: the node stops"
    needs_faults = True
    fault_kind = "node"

    def blast_radius(self, run: Any, target: str | None) -> BlastRadius:
        return _node_radius(run, target)

    def inject(self, run: Any, radius: BlastRadius) -> None:
        node = radius.nodes[0]
        if radius.pods:
            tol = toleration_seconds(run.ops.raw_pod(radius.pods[0]))
            run.measurements["toleration_s"] = tol
            run.event("info", f"pods tolerate an unreachable node for "
                              f"{'ever' if tol is None else f'{tol:g} s'}")
        run.undo({"op": "recover_node", "node": node})
        run.faults.fail_node(node)
        run.mark_disrupted()
        if getattr(run.faults, "real", False):
            run.event("action", f"node {node} stopped {run.faults.describe(node)}")
        else:
            run.event("action", f"node {node} stopped (injected)")


class GpuFault(Drill):
    name = "gpu-fault"
    title = "GPU fault: XID 79 / uncorrected ECC on a node"
    needs_faults = True
    fault_kind = "gpu"
    kind = "xid79"

    def blast_radius(self, run: Any, target: str | None) -> BlastRadius:
        return _node_radius(run, target)

    def inject(self, run: Any, radius: BlastRadius) -> None:
        node = radius.nodes[0]
        run.undo({"op": "clear_gpu", "node": node, "gpu": 0})
        run.faults.gpu_fault(node, 0, self.kind)
        run.event("action", f"injected {self.kind} on {node} gpu0")
        alerts = run.faults.gpu_alerts(node)
        run.measurements["alerts"] = alerts
        run.measurements["alert_fired"] = bool(alerts)
        for a in alerts:
            run.event("alert", a)
        if not alerts:
            run.event("alert", f"NO alert fired for the fault on {node}")
        cordon(run, node)
        evict_all(run, radius.pods)


DRILLS: dict[str, Drill] = {d.name: d for d in (PodKill(), NodeDrain(), NodeLoss(), GpuFault())}
# drills outside the cluster engine (engine.py): their own runner, same journal and report
OTHER_DRILLS: dict[str, str] = {
    "restore": "Restore: restore a backup set and prove it, timed against the RTO (--site or --demo, --copy)",
    "lb-upstream-loss": "Load-balancer upstream loss: one nginx upstream stops; errors and the time out of "
                        "rotation measured (--site with balancer:, or --demo; --target ADDR)",
}
