"""Deployment controller: one ReplicaSet per pod-template (pod-template-hash),
rolling updates bounded by maxSurge / maxUnavailable (the same arithmetic as
kube-controller-manager's rolling.go), Recreate, scaling, revision history and
the status fields `kubectl rollout status` reads."""
from __future__ import annotations

import hashlib
import json
import math

from ..resources import BY_PLURAL
from ..store import NAME_CHARS
from .base import OwnerController, key_of, owner_reference, set_condition

RS = BY_PLURAL["replicasets"]
DEPLOY = BY_PLURAL["deployments"]
REVISION = "deployment.kubernetes.io/revision"


def template_hash(template: dict) -> str:
    """Stable short hash of a pod template (label pod-template-hash)."""
    t = json.loads(json.dumps(template))
    (t.get("metadata") or {}).get("labels", {}).pop("pod-template-hash", None)
    h = int.from_bytes(hashlib.sha256(json.dumps(t, sort_keys=True).encode()).digest()[:8], "big")
    out = []
    for _ in range(10):
        h, r = divmod(h, len(NAME_CHARS))
        out.append(NAME_CHARS[r])
    return "".join(out)


def resolve(value, total: int, round_up: bool) -> int:
    """An IntOrString (3 or "25%") against a total."""
    if isinstance(value, str) and value.endswith("%"):
        x = float(value[:-1]) * total / 100.0
        return int(math.ceil(x) if round_up else math.floor(x))
    return int(value or 0)


def surge_unavailable(d: dict) -> tuple[int, int]:
    replicas = d["spec"].get("replicas", 1)
    ru = ((d["spec"].get("strategy") or {}).get("rollingUpdate")) or {}
    surge = resolve(ru.get("maxSurge", "25%"), replicas, True)
    unavail = resolve(ru.get("maxUnavailable", "25%"), replicas, False)
    if surge == 0 and unavail == 0:
        unavail = 1
    return surge, unavail


def new_replicaset(d: dict, h: str, revision: int, replicas: int) -> dict:
    md = d["metadata"]
    tmpl = json.loads(json.dumps(d["spec"]["template"]))
    tmpl.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = h
    sel = json.loads(json.dumps(d["spec"]["selector"]))
    sel.setdefault("matchLabels", {})["pod-template-hash"] = h
    labels = dict(tmpl["metadata"]["labels"])
    surge, _ = surge_unavailable(d)
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": f"{md['name']}-{h}", "namespace": md["namespace"], "labels": labels,
                         "annotations": {REVISION: str(revision),
                                         "deployment.kubernetes.io/desired-replicas": str(d["spec"].get("replicas", 1)),
                                         "deployment.kubernetes.io/max-replicas":
                                             str(d["spec"].get("replicas", 1) + surge)},
                         "ownerReferences": [owner_reference(d)]},
            "spec": {"replicas": replicas, "selector": sel, "template": tmpl},
            "status": {"replicas": 0}}


def _rev(rs: dict) -> int:
    try:
        return int(rs["metadata"].get("annotations", {}).get(REVISION, "0"))
    except ValueError:
        return 0


class DeploymentController(OwnerController):
    owner, child = "deployments", "replicasets"

    def __init__(self, cluster):
        super().__init__(cluster)
        self.progress: dict[str, tuple] = {}  # deployment uid -> (rollout state, sim time it was first seen)

    def _scale(self, rs: dict, n: int, d: dict) -> dict:
        old = rs["spec"].get("replicas", 0)
        if old == n:
            return rs
        surge, _ = surge_unavailable(d)

        def fn(obj):
            obj["spec"]["replicas"] = n
            ann = obj["metadata"].setdefault("annotations", {})
            ann["deployment.kubernetes.io/desired-replicas"] = str(d["spec"].get("replicas", 1))
            ann["deployment.kubernetes.io/max-replicas"] = str(d["spec"].get("replicas", 1) + surge)
        new = self.store.modify(RS, rs["metadata"]["namespace"], rs["metadata"]["name"], fn) or rs
        verb = "up" if n > old else "down"
        self.recorder.record(d, "Normal", "ScalingReplicaSet",
                             f"Scaled {verb} replica set {rs['metadata']['name']} from {old} to {n}",
                             "deployment-controller")
        return new

    def reconcile(self, key) -> None:
        d = self.store.get("deployments", *key)
        if d is None:
            return
        uid = d["metadata"]["uid"]
        rss = [r for r in (self.store.get("replicasets", *k) for k in self.children.children(uid)) if r is not None]
        h = template_hash(d["spec"]["template"])
        new = next((r for r in rss if r["metadata"].get("labels", {}).get("pod-template-hash") == h), None)
        olds = [r for r in rss if r is not new]
        desired = d["spec"].get("replicas", 1)
        strategy = (d["spec"].get("strategy") or {}).get("type", "RollingUpdate")
        paused = d["spec"].get("paused", False)
        if new is None and not paused:
            revision = max([_rev(r) for r in rss] + [0]) + 1
            start = 0
            if strategy == "RollingUpdate":
                surge, _ = surge_unavailable(d)
                total = sum(r["spec"].get("replicas", 0) for r in olds)
                start = max(0, min(desired, desired + surge - total)) if olds else desired
            new = self.store.create(RS, new_replicaset(d, h, revision, start))
            self.children.add(new)
            if start:
                self.recorder.record(d, "Normal", "ScalingReplicaSet",
                                     f"Scaled up replica set {new['metadata']['name']} from 0 to {start}",
                                     "deployment-controller")
        elif new is not None and not paused:
            # a rollback to an old template makes that RS the newest revision
            newest = max([_rev(r) for r in rss] + [0])
            if _rev(new) < newest:
                def bump(obj, rev=newest + 1):
                    obj["metadata"].setdefault("annotations", {})[REVISION] = str(rev)
                new = self.store.modify(RS, new["metadata"]["namespace"], new["metadata"]["name"], bump) or new
        if new is not None and not paused:
            if strategy == "Recreate":
                self._recreate(d, new, olds, desired)
            else:
                self._rolling(d, new, olds, desired)
            self._cleanup(d, olds)
        self._status(d, new, olds, desired)

    def _recreate(self, d, new, olds, desired) -> None:
        active_old = [r for r in olds if r["spec"].get("replicas", 0) or (r.get("status") or {}).get("replicas", 0)]
        for r in active_old:
            self._scale(r, 0, d)
        if all(not (r.get("status") or {}).get("replicas", 0) for r in olds):
            self._scale(new, desired, d)

    def _rolling(self, d, new, olds, desired) -> None:
        surge, unavail = surge_unavailable(d)
        cur_new = new["spec"].get("replicas", 0)
        # scale up the new ReplicaSet as far as maxSurge allows
        if cur_new > desired:
            new = self._scale(new, desired, d)
        elif cur_new < desired:
            total = cur_new + sum(r["spec"].get("replicas", 0) for r in olds)
            room = desired + surge - total
            if room > 0:
                new = self._scale(new, cur_new + min(room, desired - cur_new), d)
        # scale down old ReplicaSets as far as maxUnavailable allows
        old_count = sum(r["spec"].get("replicas", 0) for r in olds)
        if old_count == 0:
            return
        all_count = new["spec"].get("replicas", 0) + old_count
        min_available = desired - unavail
        new_unavailable = new["spec"].get("replicas", 0) - (new.get("status") or {}).get("availableReplicas", 0)
        max_down = all_count - min_available - new_unavailable
        if max_down <= 0:
            return
        olds = sorted(olds, key=lambda r: r["metadata"].get("creationTimestamp", ""))
        # first the old pods that are not available anyway
        for r in olds:
            if max_down <= 0:
                break
            spec_n = r["spec"].get("replicas", 0)
            unhealthy = spec_n - (r.get("status") or {}).get("availableReplicas", 0)
            if spec_n and unhealthy > 0:
                n = min(max_down, unhealthy)
                self._scale(r, spec_n - n, d)
                max_down -= n
                r["spec"] = dict(r["spec"], replicas=spec_n - n)  # local view only
        all_available = (new.get("status") or {}).get("availableReplicas", 0) + \
            sum((r.get("status") or {}).get("availableReplicas", 0) for r in olds)
        if all_available <= min_available:
            return
        down = min(max_down, all_available - min_available)
        for r in olds:
            if down <= 0:
                break
            spec_n = r["spec"].get("replicas", 0)
            if spec_n:
                n = min(spec_n, down)
                self._scale(r, spec_n - n, d)
                down -= n

    def _cleanup(self, d, olds) -> None:
        limit = d["spec"].get("revisionHistoryLimit", 10)
        idle = sorted((r for r in olds
                       if not r["spec"].get("replicas") and not (r.get("status") or {}).get("replicas")),
                      key=_rev)
        for r in idle[:max(0, len(idle) - limit)]:
            try:
                self.store.delete(RS, r["metadata"]["namespace"], r["metadata"]["name"])
            except Exception:
                pass

    def _stalled(self, d: dict, state: tuple) -> bool:
        """No progress (new pods updated / available) for progressDeadlineSeconds
        of simulated time: the rollout has timed out, as kubectl rollout
        status reports it."""
        uid = d["metadata"]["uid"]
        now = self.clock.now()
        seen = self.progress.get(uid)
        if seen is None or seen[0] != state:
            self.progress[uid] = (state, now)
            deadline = d["spec"].get("progressDeadlineSeconds", 600)
            key = key_of(d)
            self.cluster.after(deadline + 1, lambda: self.dirty.__setitem__(key, True))
            return False
        return now - seen[1] > d["spec"].get("progressDeadlineSeconds", 600)

    def _status(self, d, new, olds, desired) -> None:
        all_rs = ([new] if new else []) + olds
        st = lambda r, f: (r.get("status") or {}).get(f, 0)  # noqa: E731
        replicas = sum(st(r, "replicas") for r in all_rs)
        updated = st(new, "replicas") if new else 0
        ready = sum(st(r, "readyReplicas") for r in all_rs)
        available = sum(st(r, "availableReplicas") for r in all_rs)
        _, unavail = surge_unavailable(d)
        now = self.clock.timestamp()
        old = d.get("status") or {}
        conds = [dict(c) for c in old.get("conditions") or []]
        is_available = available >= desired - unavail
        set_condition(conds, "Available", "True" if is_available else "False", now,
                      "MinimumReplicasAvailable" if is_available else "MinimumReplicasUnavailable",
                      "Deployment has minimum availability." if is_available
                      else "Deployment does not have minimum availability.")
        complete = new is not None and updated == desired and replicas == updated and available == updated
        name = new["metadata"]["name"] if new else ""
        if complete:
            set_condition(conds, "Progressing", "True", now, "NewReplicaSetAvailable",
                          f'ReplicaSet "{name}" has successfully progressed.')
        elif self._stalled(d, (name, updated, replicas, available)):
            set_condition(conds, "Progressing", "False", now, "ProgressDeadlineExceeded",
                          f'ReplicaSet "{name}" has timed out progressing.')
        else:
            set_condition(conds, "Progressing", "True", now, "ReplicaSetUpdated",
                          f'ReplicaSet "{name}" is progressing.')
        if complete:
            self.progress.pop(d["metadata"]["uid"], None)
        for c in conds:
            c.setdefault("lastUpdateTime", now)
            prev = next((p for p in old.get("conditions") or [] if p.get("type") == c["type"]), None)
            if prev is None or (prev.get("reason"), prev.get("status")) != (c.get("reason"), c.get("status")):
                c["lastUpdateTime"] = now
        status = {"observedGeneration": d["metadata"].get("generation", 1), "replicas": replicas,
                  "updatedReplicas": updated, "readyReplicas": ready, "availableReplicas": available,
                  "unavailableReplicas": max(0, desired - available), "conditions": conds}
        for f in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas", "unavailableReplicas"):
            if not status[f]:
                del status[f]
        rev = _rev(new) if new else 0
        ann_ok = not rev or d["metadata"].get("annotations", {}).get(REVISION) == str(rev)
        if old == status and ann_ok:
            return

        def fn(obj):
            obj["status"] = status
            if rev:
                obj["metadata"].setdefault("annotations", {})[REVISION] = str(rev)
        self.store.modify(DEPLOY, *key_of(d), fn)
