"""PodDisruptionBudgets: status kept current from the pods they select
(expectedPods, currentHealthy, desiredHealthy, disruptionsAllowed), and the
Eviction API's check: an eviction that would take a budget below its
desired healthy count is refused with 429 TooManyRequests."""
from __future__ import annotations

import math
from typing import Any

from . import api_errors
from .controllers.base import Controller, is_active_pod, pod_change_matters, pod_ready
from .pod_termination import graceful_delete
from .resources import BY_PLURAL
from .selectors import labels_match

PDB = BY_PLURAL["poddisruptionbudgets"]
PODS = BY_PLURAL["pods"]


def _intstr(v, total: int, round_up: bool = True) -> int:
    if isinstance(v, str) and v.endswith("%"):
        x = float(v[:-1]) * total / 100.0
        return int(math.ceil(x) if round_up else math.floor(x))
    return int(v)


def budget(store, pdb: dict) -> dict:
    """The status numbers of a PDB computed from the pods now in the store."""
    ns = pdb["metadata"]["namespace"]
    sel = pdb["spec"].get("selector")
    pods = [p for _k, p, _r in store.list("pods", ns)[1]
            if is_active_pod(p) and labels_match(sel, p["metadata"].get("labels"))]
    expected = len(pods)
    healthy = sum(1 for p in pods if pod_ready(p))
    spec = pdb["spec"]
    if "minAvailable" in spec:
        desired = _intstr(spec["minAvailable"], expected)
    elif "maxUnavailable" in spec:
        desired = max(0, expected - _intstr(spec["maxUnavailable"], expected))
    else:
        desired = expected  # no budget given: no voluntary disruption allowed
    return {"expectedPods": expected, "currentHealthy": healthy, "desiredHealthy": desired,
            "disruptionsAllowed": max(0, healthy - desired), "_pods": pods}


class DisruptionController(Controller):
    def resync(self) -> None:
        for p in self.store.values("poddisruptionbudgets"):
            self.dirty[p["metadata"]["namespace"]] = True

    def on_event(self, ev) -> None:
        if ev is None:
            return
        if ev.res == "poddisruptionbudgets" or (ev.res == "pods" and pod_change_matters(ev)):
            ns = ev.obj["metadata"].get("namespace")
            if ev.res == "pods" and not self.store.list("poddisruptionbudgets", ns)[1]:
                return
            self.dirty[ns] = True

    def reconcile(self, ns) -> None:
        for _k, pdb, _r in self.store.list("poddisruptionbudgets", ns)[1]:
            self.update_status(pdb)

    def update_status(self, pdb: dict, disrupted: str | None = None) -> None:
        b = budget(self.store, pdb)
        now = self.clock.timestamp()
        old = pdb.get("status") or {}
        allowed = b["disruptionsAllowed"]
        # metav1.Condition: reason and message are required (message may be "")
        prev: dict[str, Any] = next((c for c in old.get("conditions") or [] if c.get("type") == "DisruptionAllowed"),
                                    {})
        cstatus = "True" if allowed > 0 else "False"
        conds = [{"type": "DisruptionAllowed", "status": cstatus,
                  "observedGeneration": pdb["metadata"].get("generation", 1),
                  "lastTransitionTime": prev.get("lastTransitionTime", now) if prev.get("status") == cstatus else now,
                  "reason": "SufficientPods" if allowed > 0 else "InsufficientPods", "message": ""}]
        status = {"observedGeneration": pdb["metadata"].get("generation", 1),
                  "disruptionsAllowed": allowed, "currentHealthy": b["currentHealthy"],
                  "desiredHealthy": b["desiredHealthy"], "expectedPods": b["expectedPods"],
                  "conditions": conds}
        if old.get("disruptedPods") and not disrupted:
            live = {p["metadata"]["name"] for p in b["_pods"]}
            left = {k: v for k, v in old["disruptedPods"].items() if k in live}
            if left:
                status["disruptedPods"] = left
        if disrupted:
            status["disruptedPods"] = {**(old.get("disruptedPods") or {}), disrupted: now}
        if status == old:
            return

        def fn(obj):
            obj["status"] = status
        self.store.modify(PDB, pdb["metadata"]["namespace"], pdb["metadata"]["name"], fn)


def make_evictor(cluster):
    """The pods/eviction handler: check the pod's budgets, then delete it."""
    store = cluster.store

    def evict(ns: str, name: str, body: dict) -> None:
        with store.lock:
            pod = store.get("pods", ns, name)
            if pod is None:
                raise api_errors.not_found(PODS, name)
            pdbs = [p for _k, p, _r in store.list("poddisruptionbudgets", ns)[1]
                    if labels_match(p["spec"].get("selector"), pod["metadata"].get("labels"))]
            if len(pdbs) > 1:
                raise api_errors.ApiError("InternalError", "This pod has more than one PodDisruptionBudget, "
                                          "which the eviction subresource does not support.", code=500)
            # a pod that is not Running (or not Ready) does not count toward
            # a budget, so it can always go (IfHealthyBudget for the simple case)
            if pdbs and pod_ready(pod) and (pod.get("status") or {}).get("phase") == "Running":
                pdb = pdbs[0]
                b = budget(store, pdb)
                if b["disruptionsAllowed"] <= 0:
                    raise api_errors.ApiError(
                        "TooManyRequests", "Cannot evict pod as it would violate the pod's disruption budget.",
                        details={"causes": [{"reason": "DisruptionBudget",
                                             "message": f"The disruption budget {pdb['metadata']['name']} needs "
                                                        f"{b['desiredHealthy']} healthy pods and has "
                                                        f"{b['currentHealthy']} currently"}]})
            opts = (body or {}).get("deleteOptions") or {}
            uid = (opts.get("preconditions") or {}).get("uid")
            grace = opts.get("gracePeriodSeconds")
            graceful_delete(cluster, ns, name, None if grace is None else int(grace), uid)
    return evict
