"""DaemonSet controller: one pod per matching node, bound directly to it (the
way DaemonSet pods land on their node), tolerating every taint."""
from __future__ import annotations

from ..resources import BY_PLURAL
from ..selectors import labels_match
from .base import OwnerController, is_active_pod, pod_change_matters, pod_ready
from .replicaset import new_pod_from_template

PODS = BY_PLURAL["pods"]
DS = BY_PLURAL["daemonsets"]
TOLERATE_ALL = [{"operator": "Exists"}]


def node_matches(ds: dict, node: dict) -> bool:
    sel = ds["spec"]["template"].get("spec", {}).get("nodeSelector") or {}
    return labels_match({"matchLabels": sel}, node["metadata"].get("labels"))


def daemon_pod(store, ds: dict, node_name: str) -> dict:
    pod = new_pod_from_template(store, ds, ds["spec"]["template"], node=node_name)
    pod["spec"]["tolerations"] = list(TOLERATE_ALL)
    return pod


class DaemonSetController(OwnerController):
    owner, child = "daemonsets", "pods"

    def child_change_matters(self, ev) -> bool:
        return pod_change_matters(ev)

    def on_other_event(self, ev) -> None:
        if ev.res == "nodes" and ev.type != "MODIFIED":
            for k in self.by_uid.values():
                self.dirty[k] = True

    def reconcile(self, key) -> None:
        ds = self.store.get("daemonsets", *key)
        if ds is None:
            return
        nodes = {n["metadata"]["name"]: n for n in self.store.values("nodes")}
        want = {name for name, n in nodes.items() if node_matches(ds, n)}
        pods = [p for p in (self.store.get("pods", *k) for k in self.children.children(ds["metadata"]["uid"]))
                if p is not None and is_active_pod(p)]
        have = {}
        for p in pods:
            node = p["spec"].get("nodeName")
            if node in have or node not in want:  # duplicate or misplaced
                try:
                    self.store.delete(PODS, p["metadata"]["namespace"], p["metadata"]["name"])
                except Exception:
                    pass
                continue
            have[node] = p
        for node in sorted(want - set(have)):
            p = self.store.create(PODS, daemon_pod(self.store, ds, node))
            have[node] = p
            self.recorder.record(ds, "Normal", "SuccessfulCreate", f"Created pod: {p['metadata']['name']}",
                                 "daemonset-controller")
        ready = sum(1 for p in have.values() if pod_ready(p))
        status = {"currentNumberScheduled": len(have), "numberMisscheduled": 0,
                  "desiredNumberScheduled": len(want), "numberReady": ready,
                  "observedGeneration": ds["metadata"].get("generation", 1),
                  "updatedNumberScheduled": len(have), "numberAvailable": ready}
        if len(want) - ready:
            status["numberUnavailable"] = len(want) - ready
        if not ready:
            status.pop("numberAvailable")
        if ds.get("status") != status:
            def fn(obj):
                obj["status"] = status
            self.store.modify(DS, *key, fn)
