"""Graceful pod deletion, as the apiserver and kubelet do it: DELETE (or an
eviction) sets metadata.deletionTimestamp (now + grace period) and the pod
shows Terminating, NotReady; its containers stop within the grace period
(SHUTDOWN_S of simulated time here, a model server exits quickly) and the
kubelet then removes the object. Grace 0, a pod that never ran, a pod on a
node that is not Ready, or a frozen clock: removed at once."""
from __future__ import annotations

from .controllers.base import set_condition
from .resources import BY_PLURAL

PODS = BY_PLURAL["pods"]
SHUTDOWN_S = 5.0  # simulated seconds a container takes to exit after SIGTERM


def graceful_delete(cluster, ns: str, name: str, grace: int | None = None, uid: str | None = None) -> dict:
    """Start deleting a pod; returns the pod as the DELETE response shows it."""
    from . import api_errors
    store = cluster.store
    with store.lock:
        pod = store.get("pods", ns, name)
        if pod is None:
            raise api_errors.not_found(PODS, name)
        if uid and pod["metadata"].get("uid") != uid:
            raise api_errors.conflict(PODS, name, f"Precondition failed: UID in precondition: {uid}, "
                                                  f"UID in object meta: {pod['metadata'].get('uid')}")
        if pod["metadata"].get("deletionTimestamp") and grace != 0:
            return pod  # already terminating
        if grace is None:
            grace = int(pod["spec"].get("terminationGracePeriodSeconds", 30))
        node = pod["spec"].get("nodeName")
        running = (pod.get("status") or {}).get("phase") == "Running"
        if grace <= 0 or not running or cluster.clock.frozen or not cluster.kubelet.node_ok.get(node):
            return store.delete(PODS, ns, name, uid=pod["metadata"]["uid"])
        now = cluster.clock.timestamp()
        until = cluster.clock.timestamp(cluster.clock.now() + grace)

        def fn(obj):
            obj["metadata"]["deletionTimestamp"] = until
            obj["metadata"]["deletionGracePeriodSeconds"] = grace
            conds = (obj.get("status") or {}).get("conditions") or []
            set_condition(conds, "Ready", "False", now, "ContainersNotReady",
                          "containers are terminating")
            for cs in (obj.get("status") or {}).get("containerStatuses") or ():
                cs["ready"] = False
        return store.modify(PODS, ns, name, fn)


def finish_later(cluster, pod: dict) -> None:
    """(kubelet, loop thread) remove a terminating pod once its containers exit."""
    md = pod["metadata"]
    k, uid = (md["namespace"], md["name"]), md["uid"]
    wait = min(float(md.get("deletionGracePeriodSeconds", 30)), SHUTDOWN_S)

    def finish():
        cur = cluster.store.get("pods", *k)
        if cur is not None and cur["metadata"]["uid"] == uid:
            try:
                cluster.store.delete(PODS, k[0], k[1], uid=uid)
            except Exception:
                pass
    cluster.after(wait, finish)
