"""The scheduler: binds pending pods to Ready, schedulable nodes whose taints
they tolerate, whose labels match their nodeSelector, with enough free
nvidia.com/gpu. Otherwise the pod stays Pending with PodScheduled=False and a
FailedScheduling event, and is retried when capacity changes.

GPU accounting is kept from pod events (pod -> node, gpus), so a decision is
O(1) per node; nodes are tried round-robin from where the last bind stopped,
which spreads replicas over the fleet."""
from __future__ import annotations

import bisect
from collections import OrderedDict

from .controllers.base import Controller, key_of, set_condition
from .quantities import parse_quantity, pod_request
from .resources import BY_PLURAL

PODS = BY_PLURAL["pods"]
GPU = "nvidia.com/gpu"


class NodeInfo:
    __slots__ = ("name", "gpus", "used", "ready", "unschedulable", "taints", "labels")

    def __init__(self, node: dict):
        self.name = node["metadata"]["name"]
        self.used = 0.0
        self.update(node)

    def update(self, node: dict) -> None:
        alloc = (node.get("status") or {}).get("allocatable") or {}
        self.gpus = parse_quantity(alloc.get(GPU, 0))
        self.ready = node_ready(node)
        self.unschedulable = bool((node.get("spec") or {}).get("unschedulable"))
        self.taints = [t for t in (node.get("spec") or {}).get("taints") or ()
                       if t.get("effect") in ("NoSchedule", "NoExecute")]
        self.labels = node["metadata"].get("labels") or {}


def node_ready(node: dict) -> bool:
    for c in (node.get("status") or {}).get("conditions") or ():
        if c.get("type") == "Ready":
            return c.get("status") == "True"
    return False


def tolerates(pod: dict, taint: dict) -> bool:
    for t in (pod.get("spec") or {}).get("tolerations") or ():
        if t.get("effect") and t.get("effect") != taint.get("effect"):
            continue
        if t.get("operator") == "Exists" and (not t.get("key") or t.get("key") == taint.get("key")):
            return True
        if t.get("key") == taint.get("key") and t.get("value", "") == taint.get("value", ""):
            return True
    return False


class Scheduler(Controller):
    def __init__(self, cluster):
        super().__init__(cluster)
        self.nodes: dict[str, NodeInfo] = {}
        self.order: list[str] = []
        self.ptr = 0
        self.alloc: dict[tuple, tuple[str, float]] = {}   # pod key -> (node, gpus)
        self.pending: OrderedDict = OrderedDict()         # try these next round
        self.waiting: OrderedDict = OrderedDict()         # unschedulable until capacity changes

    # ---- state from events -----------------------------------------------
    def resync(self) -> None:
        for n in self.store.values("nodes"):
            self._node_event("ADDED", n)
        for p in self.store.values("pods"):
            self._pod_event("ADDED", p)

    def on_event(self, ev) -> None:
        if ev is None:
            return
        if ev.res == "nodes":
            self._node_event(ev.type, ev.obj)
        elif ev.res == "pods":
            self._pod_event(ev.type, ev.obj)

    def _node_event(self, type_: str, node: dict) -> None:
        name = node["metadata"]["name"]
        if type_ == "DELETED":
            self.nodes.pop(name, None)
            i = bisect.bisect_left(self.order, name)
            if i < len(self.order) and self.order[i] == name:
                self.order.pop(i)
            return
        info = self.nodes.get(name)
        if info is None:
            info = self.nodes[name] = NodeInfo(node)
            bisect.insort(self.order, name)
            info.used = sum(g for (n, g) in self.alloc.values() if n == name)
            self._retry_waiting()
            return
        before = (info.ready, info.unschedulable, len(info.taints), info.gpus, dict(info.labels))
        info.update(node)
        if before != (info.ready, info.unschedulable, len(info.taints), info.gpus, info.labels):
            self._retry_waiting()

    def _pod_event(self, type_: str, pod: dict) -> None:
        k = key_of(pod)
        node = pod["spec"].get("nodeName")
        phase = (pod.get("status") or {}).get("phase")
        if type_ == "DELETED" or phase in ("Succeeded", "Failed"):
            self.pending.pop(k, None)
            self.waiting.pop(k, None)
            prev = self.alloc.pop(k, None)
            if prev is not None:
                info = self.nodes.get(prev[0])
                if info is not None:
                    info.used -= prev[1]
                if prev[1]:
                    self._retry_waiting()
            return
        if node:
            self.pending.pop(k, None)
            self.waiting.pop(k, None)
            if k not in self.alloc:
                g = pod_request(pod, GPU)
                self.alloc[k] = (node, g)
                info = self.nodes.get(node)
                if info is not None:
                    info.used += g
        elif pod["spec"].get("schedulerName", "default-scheduler") == "default-scheduler" \
                and k not in self.waiting:
            self.pending[k] = True

    def _retry_waiting(self) -> None:
        self.pending.update(self.waiting)
        self.waiting.clear()

    # ---- decisions ----------------------------------------------------------
    def sync(self) -> None:
        if not self.pending:
            return
        keys, self.pending = list(self.pending), OrderedDict()
        for k in keys:
            pod = self.store.get("pods", *k)
            if pod is None or pod["spec"].get("nodeName") or k in self.alloc:
                continue
            node = self._pick(pod)
            if node is None:
                self.waiting[k] = True
                self._unschedulable(pod)
            else:
                self._bind(pod, node)

    def _fits(self, info: NodeInfo, pod: dict, gpus: float) -> bool:
        if not info.ready or info.unschedulable or info.gpus - info.used < gpus:
            return False
        sel = pod["spec"].get("nodeSelector") or {}
        if any(info.labels.get(k) != v for k, v in sel.items()):
            return False
        return all(tolerates(pod, t) for t in info.taints)

    def _pick(self, pod: dict) -> str | None:
        gpus = pod_request(pod, GPU)
        n = len(self.order)
        for i in range(n):
            name = self.order[(self.ptr + i) % n]
            if self._fits(self.nodes[name], pod, gpus):
                self.ptr = (self.ptr + i + 1) % n
                return name
        return None

    def _bind(self, pod: dict, node: str) -> None:
        now = self.clock.timestamp()

        def fn(obj):
            if obj["spec"].get("nodeName"):
                return False
            obj["spec"]["nodeName"] = node
            st = obj.setdefault("status", {})
            set_condition(st.setdefault("conditions", []), "PodScheduled", "True", now, probe_time=True)
        k = key_of(pod)
        new = self.store.modify(PODS, *k, fn)
        if new is None:
            return
        g = pod_request(pod, GPU)
        self.alloc[k] = (node, g)
        self.nodes[node].used += g
        self.recorder.record(new, "Normal", "Scheduled",
                             f"Successfully assigned {k[0]}/{k[1]} to {node}", "default-scheduler")

    def _unschedulable(self, pod: dict) -> None:
        gpus = pod_request(pod, GPU)
        counts: dict[str, int] = {}
        for info in self.nodes.values():
            if not info.ready:
                why = "1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }" \
                    if any(t.get("key") == "node.kubernetes.io/unreachable" for t in info.taints) \
                    else "node(s) were not ready"
            elif info.unschedulable:
                why = "node(s) were unschedulable"
            elif info.gpus - info.used < gpus:
                why = f"Insufficient {GPU}"
            elif any(info.labels.get(k) != v for k, v in (pod["spec"].get("nodeSelector") or {}).items()):
                why = "node(s) didn't match Pod's node affinity/selector"
            else:
                why = "node(s) had untolerated taint"
            why = why.replace("1 node(s)", "node(s)")
            counts[why] = counts.get(why, 0) + 1
        detail = ", ".join(f"{n} {w}" for w, n in sorted(counts.items()))
        msg = f"0/{len(self.nodes)} nodes are available: {detail}." if counts else "no nodes available to schedule pods"
        now = self.clock.timestamp()

        def fn(obj):
            st = obj.setdefault("status", {})
            conds = st.setdefault("conditions", [])
            before = [dict(c) for c in conds]
            set_condition(conds, "PodScheduled", "False", now, "Unschedulable", msg, probe_time=True)
            if before == conds:
                return False
        new = self.store.modify(PODS, *key_of(pod), fn)
        if new is not None:
            self.recorder.record(new, "Warning", "FailedScheduling", msg, "default-scheduler")
