"""Node lifecycle: failure injection (the node stops reporting: Ready=Unknown,
unreachable taints, its pods NotReady), taint-based eviction of its pods after
their toleration (default 300 s of simulated time), recovery, and removal of
pods bound to a deleted node (pod GC)."""
from __future__ import annotations

import functools

from console.kube.tolerations import UNREACHABLE, toleration_seconds

from .controllers.base import Controller, key_of, set_condition
from .resources import BY_PLURAL

NODES = BY_PLURAL["nodes"]
PODS = BY_PLURAL["pods"]
# condition type -> (status, reason, message) of a healthy node's kubelet
HEALTHY = {
    "MemoryPressure": ("False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    "DiskPressure": ("False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    "PIDPressure": ("False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
    "Ready": ("True", "KubeletReady", "kubelet is posting ready status"),
}


class NodeLifecycle(Controller):
    def __init__(self, cluster):
        super().__init__(cluster)
        self.failed: dict[str, float] = {}   # node -> sim time it failed

    def on_event(self, ev) -> None:
        if ev is not None and ev.res == "nodes" and ev.type == "DELETED":
            self.dirty[ev.obj["metadata"]["name"]] = True

    def reconcile(self, name) -> None:
        """A node was deleted: its pods go too."""
        self.failed.pop(name, None)
        for pod in self._pods_on(name):
            self._delete(pod)

    def _pods_on(self, name: str) -> list[dict]:
        return [p for p in self.store.values("pods") if p["spec"].get("nodeName") == name]

    def _delete(self, pod: dict) -> None:
        md = pod["metadata"]
        try:
            self.store.delete(PODS, md["namespace"], md["name"], uid=md["uid"])
        except Exception:
            pass

    def fail(self, name: str) -> None:
        now = self.clock.timestamp()
        t = self.clock.now()

        def fn(node):
            st = node.setdefault("status", {})
            conds = st.setdefault("conditions", [])
            for c in conds:
                if c.get("type") in ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure"):
                    set_condition([c], c["type"], "Unknown", now, "NodeStatusUnknown",
                                  "Kubelet stopped posting node status.")
            taints = [x for x in node["spec"].get("taints") or [] if x.get("key") != UNREACHABLE]
            taints += [{"key": UNREACHABLE, "effect": "NoSchedule", "timeAdded": now},
                       {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": now}]
            node.setdefault("spec", {})["taints"] = taints
        node = self.store.modify(NODES, "", name, fn)
        if node is None:
            raise KeyError(f"no node {name}")
        self.failed[name] = t
        self.cluster.kubelet.node_ok[name] = False
        self._set_reachable(name, False)
        self.recorder.record(node, "Normal", "NodeNotReady", f"Node {name} status is now: NodeNotReady",
                             "node-controller")
        for pod in self._pods_on(name):
            self._mark_not_ready(pod, now)
            wait = toleration_seconds(pod)
            if wait is None:
                continue
            self.cluster.at(t + wait, functools.partial(self._evict, name, key_of(pod), pod["metadata"]["uid"], t))

    def _mark_not_ready(self, pod: dict, now: str) -> None:
        def fn(obj):
            conds = (obj.get("status") or {}).get("conditions")
            if not conds:
                return False
            set_condition(conds, "Ready", "False", now, "NodeNotReady", "")
            for cs in obj["status"].get("containerStatuses") or ():
                cs["ready"] = False
        self.store.modify(PODS, *key_of(pod), fn)
        self.recorder.record(pod, "Warning", "NodeNotReady", "Node is not ready", "node-controller")

    def _evict(self, node: str, k, uid: str, failed_at: float) -> None:
        if self.failed.get(node) != failed_at:
            return  # recovered (or failed again since)
        pod = self.store.get("pods", *k)
        if pod is None or pod["metadata"]["uid"] != uid:
            return
        self.recorder.record(pod, "Normal", "TaintManagerEviction", f"Marking for deletion Pod {k[0]}/{k[1]}",
                             "taint-eviction-controller")
        self._delete(pod)

    def _set_reachable(self, name: str, reachable: bool) -> None:
        """A failed node's GPUs and host stop answering too (telemetry and
        SSH-like transports see it unreachable)."""
        if self.cluster.fleet is not None and name in self.cluster.fleet:
            self.cluster.fleet.set_reachable(name, reachable)
        host = self.cluster.hosts.get(name)
        if host is not None and hasattr(host, "set_reachable"):
            host.set_reachable(reachable)

    def recover(self, name: str) -> None:
        now = self.clock.timestamp()

        def fn(node):
            for c in node.get("status", {}).get("conditions") or []:
                if c.get("type") in HEALTHY:
                    status, reason, message = HEALTHY[c["type"]]
                    set_condition([c], c["type"], status, now, reason, message)
            taints = [x for x in node["spec"].get("taints") or [] if x.get("key") != UNREACHABLE]
            if taints:
                node["spec"]["taints"] = taints
            else:
                node["spec"].pop("taints", None)
        node = self.store.modify(NODES, "", name, fn)
        if node is None:
            raise KeyError(f"no node {name}")
        self.failed.pop(name, None)
        self.cluster.kubelet.node_ok[name] = True
        self._set_reachable(name, True)
        self.recorder.record(node, "Normal", "NodeReady", f"Node {name} status is now: NodeReady", "node-controller")
        # pods that survived (tolerating forever, e.g. DaemonSet pods) are Ready again
        for pod in self._pods_on(name):
            if (pod.get("status") or {}).get("phase") == "Running":
                self.cluster.kubelet.recheck(pod)
