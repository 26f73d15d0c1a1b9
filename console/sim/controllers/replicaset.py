"""ReplicaSet controller: keeps spec.replicas pods per ReplicaSet (creating
from the template, deleting the least useful first) and its status current."""
from __future__ import annotations

import json
from typing import Any

from ..resources import BY_PLURAL
from .base import OwnerController, is_active_pod, owner_reference, pod_change_matters, pod_ready

PODS = BY_PLURAL["pods"]
RS = BY_PLURAL["replicasets"]
MAX_CREATES_PER_ROUND = 500  # bounded burst, like the controller's slow-start batches


def new_pod_from_template(store, owner: dict, template: dict, *, node: str | None = None) -> dict:
    """A pod of a ReplicaSet / DaemonSet template (not yet stored)."""
    md = owner["metadata"]
    t = json.loads(json.dumps(template))
    tmd = t.get("metadata") or {}
    pod: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"generateName": md["name"] + "-", "namespace": md["namespace"],
                        "labels": dict(tmd.get("labels") or {}),
                        "ownerReferences": [owner_reference(owner)]},
           "spec": t.get("spec") or {},
           "status": {"phase": "Pending", "qosClass": "Burstable"}}
    if tmd.get("annotations"):
        pod["metadata"]["annotations"] = dict(tmd["annotations"])
    if node:
        pod["spec"]["nodeName"] = node
    return pod


def pod_rank(pod: dict) -> tuple:
    """Deletion order (lower first): unscheduled, pending, not ready, newest."""
    st = pod.get("status") or {}
    return (bool(pod["spec"].get("nodeName")), st.get("phase") == "Running", pod_ready(pod),
            -_ts(pod["metadata"].get("creationTimestamp")))


def _ts(s) -> float:
    from ..clock import parse_timestamp
    try:
        return parse_timestamp(s)
    except Exception:
        return 0.0


class ReplicaSetController(OwnerController):
    owner, child = "replicasets", "pods"

    def child_change_matters(self, ev) -> bool:
        return pod_change_matters(ev)

    def reconcile(self, key) -> None:
        rs = self.store.get("replicasets", *key)
        if rs is None:
            return
        uid = rs["metadata"]["uid"]
        pods = [p for p in (self.store.get("pods", *k) for k in self.children.children(uid)) if p is not None]
        active = [p for p in pods if is_active_pod(p)]
        want = rs["spec"].get("replicas", 1)
        diff = want - len(active)
        if diff > 0:
            for _ in range(min(diff, MAX_CREATES_PER_ROUND)):
                pod = self.store.create(PODS, new_pod_from_template(self.store, rs, rs["spec"]["template"]))
                active.append(pod)
                self.recorder.record(rs, "Normal", "SuccessfulCreate",
                                     f"Created pod: {pod['metadata']['name']}", "replicaset-controller")
            if diff > MAX_CREATES_PER_ROUND:
                self.dirty[key] = True
        elif diff < 0:
            victims = sorted(active, key=pod_rank)[:-diff]
            for p in victims:
                try:
                    self.store.delete(PODS, p["metadata"]["namespace"], p["metadata"]["name"],
                                      uid=p["metadata"]["uid"])
                except Exception:
                    continue
                active.remove(p)
                self.recorder.record(rs, "Normal", "SuccessfulDelete",
                                     f"Deleted pod: {p['metadata']['name']}", "replicaset-controller")
        ready = sum(1 for p in active if pod_ready(p))
        status = {"replicas": len(active), "fullyLabeledReplicas": len(active),
                  "readyReplicas": ready, "availableReplicas": ready,
                  "observedGeneration": rs["metadata"].get("generation", 1)}
        if not ready:
            status.pop("readyReplicas")
            status.pop("availableReplicas")
        if rs.get("status") != status:
            def fn(obj):
                obj["status"] = status
            self.store.modify(RS, *key, fn)
