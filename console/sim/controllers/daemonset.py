"""DaemonSet controller: one pod per matching node, bound directly to it (the
way DaemonSet pods land on their node), tolerating every taint."""
from __future__ import annotations

from ..resources import BY_PLURAL
from ..selectors import labels_match
from .base import Controller, OwnerIndex, is_active_pod, key_of, pod_change_matters, pod_ready
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


class DaemonSetController(Controller):
    def __init__(self, cluster):
        super().__init__(cluster)
        self.pods = OwnerIndex("pods")
        self.by_uid: dict[str, tuple] = {}

    def resync(self) -> None:
        self.pods.load(self.store)
        for ds in self.store.values("daemonsets"):
            self.by_uid[ds["metadata"]["uid"]] = key_of(ds)
            self.dirty[key_of(ds)] = True

    def on_event(self, ev) -> None:
        if ev is None:
            return
        if ev.res == "daemonsets":
            k = key_of(ev.obj)
            if ev.type == "DELETED":
                self.by_uid.pop(ev.obj["metadata"]["uid"], None)
                self.dirty.pop(k, None)
            else:
                self.by_uid[ev.obj["metadata"]["uid"]] = k
                self.dirty[k] = True
        elif ev.res == "pods" and pod_change_matters(ev):
            before, after = self.pods.on_event(ev)
            for uid in (before, after):
                if uid in self.by_uid:
                    self.dirty[self.by_uid[uid]] = True
        elif ev.res == "nodes" and ev.type != "MODIFIED":
            for k in self.by_uid.values():
                self.dirty[k] = True

    def reconcile(self, key) -> None:
        ds = self.store.get("daemonsets", *key)
        if ds is None:
            return
        nodes = {n["metadata"]["name"]: n for n in self.store.values("nodes")}
        want = {name for name, n in nodes.items() if node_matches(ds, n)}
        pods = [p for p in (self.store.get("pods", *k) for k in self.pods.children(ds["metadata"]["uid"]))
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
