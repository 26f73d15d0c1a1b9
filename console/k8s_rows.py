"""Reduce raw Kubernetes objects (dicts from json.loads) to the rows the views show.

These run on the ClusterCache's hot path (20,000 pods, hundreds of watch events
per second), so they read only the fields needed and build small frozen rows;
the full object is fetched on demand for the YAML view.
"""
from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from console.snapshot import DeploymentRow, EventRow, NodeRow, PdbRow, PodRow

GPU = "nvidia.com/gpu"
MODEL_PORT_ANNOTATION = "dsconsole.io/model-port"


@lru_cache(maxsize=4096)
def parse_time(value: str | None) -> float | None:
    """RFC 3339 ('2026-11-28T18:19:04Z', with or without fractions) -> unix seconds."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def object_key(obj: dict) -> str:
    md = obj.get("metadata") or {}
    ns = md.get("namespace")
    return f"{ns}/{md.get('name')}" if ns else md.get("name", "")


def node_row(obj: dict) -> NodeRow:
    md = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    ready, since, reason = False, None, None
    for cond in status.get("conditions") or ():
        if cond.get("type") == "Ready":
            ready = cond.get("status") == "True"
            since = parse_time(cond.get("lastTransitionTime"))
            if not ready:
                reason = cond.get("message") or cond.get("reason") or "NotReady"
            break
    alloc = (status.get("allocatable") or {}).get(GPU)
    if alloc is None:
        alloc = (status.get("capacity") or {}).get(GPU)
    return NodeRow(name=md.get("name", ""), ready=ready, cordoned=bool(spec.get("unschedulable")),
                   gpu_alloc=0, gpu_cap=_int(alloc), pods=0, ready_since=since,
                   gpu_product=(md.get("labels") or {}).get("nvidia.com/gpu.product"),
                   created=parse_time(md.get("creationTimestamp")), ready_reason=reason)


def _container_gpus(c: dict) -> int:
    res = c.get("resources") or {}
    value = (res.get("requests") or {}).get(GPU)
    if value is None:
        value = (res.get("limits") or {}).get(GPU)  # extended resources: limits imply requests
    return _int(value)


def pod_row(obj: dict) -> PodRow:
    md = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    labels = md.get("labels") or {}
    phase = status.get("phase") or "Pending"
    containers = spec.get("containers") or ()
    statuses = status.get("containerStatuses") or ()
    restarts = 0
    ready_n = 0
    last_restart = None
    display = status.get("reason") or phase
    for cs in statuses:
        restarts += _int(cs.get("restartCount"))
        if cs.get("ready"):
            ready_n += 1
        state = cs.get("state") or {}
        if "waiting" in state and state["waiting"].get("reason"):
            display = state["waiting"]["reason"]
        elif "terminated" in state and state["terminated"].get("reason"):
            display = state["terminated"]["reason"]
        term = (cs.get("lastState") or {}).get("terminated")
        if term:
            t = parse_time(term.get("finishedAt"))
            if t and (last_restart is None or t > last_restart):
                last_restart = t
    if md.get("deletionTimestamp"):
        display = "Terminating"
    ready = False
    for cond in status.get("conditions") or ():
        if cond.get("type") == "Ready":
            ready = cond.get("status") == "True"
            break
    gpus = 0
    port = None
    for c in containers:
        gpus += _container_gpus(c)
        if port is None:
            for p in c.get("ports") or ():
                if p.get("containerPort"):
                    port = _int(p["containerPort"])
                    break
    annotated = (md.get("annotations") or {}).get(MODEL_PORT_ANNOTATION)
    if annotated:
        port = _int(annotated) or port
    return PodRow(namespace=md.get("namespace", ""), name=md.get("name", ""), phase=phase, ready=ready,
                  restarts=restarts, node=spec.get("nodeName"), created=parse_time(md.get("creationTimestamp")),
                  version=labels.get("version"), status=display, ip=status.get("podIP"), gpus=gpus,
                  ready_containers=f"{ready_n}/{len(containers)}", last_restart=last_restart,
                  app=labels.get("app"), model_port=port)


def deployment_row(obj: dict) -> DeploymentRow:
    md = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    tmpl_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    return DeploymentRow(namespace=md.get("namespace", ""), name=md.get("name", ""),
                         replicas=_int(spec.get("replicas", 1)), ready=_int(status.get("readyReplicas")),
                         updated=_int(status.get("updatedReplicas")),
                         available=_int(status.get("availableReplicas")),
                         version=tmpl_labels.get("version") or (md.get("labels") or {}).get("version"),
                         created=parse_time(md.get("creationTimestamp")))


def pdb_row(obj: dict) -> PdbRow:
    md = obj.get("metadata") or {}
    status = obj.get("status") or {}
    return PdbRow(namespace=md.get("namespace", ""), name=md.get("name", ""),
                  disruptions_allowed=_int(status.get("disruptionsAllowed")),
                  current_healthy=_int(status.get("currentHealthy")),
                  desired_healthy=_int(status.get("desiredHealthy")),
                  expected_pods=_int(status.get("expectedPods")))


def service_row(obj: dict) -> dict:
    md = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    return {"namespace": md.get("namespace", ""), "name": md.get("name", ""), "type": spec.get("type"),
            "cluster_ip": spec.get("clusterIP"), "selector": spec.get("selector") or {},
            "ports": [(p.get("port"), p.get("targetPort")) for p in spec.get("ports") or ()]}


def event_row(obj: dict) -> EventRow:
    md = obj.get("metadata") or {}
    inv = obj.get("involvedObject") or obj.get("regarding") or {}
    count = obj.get("count") or (obj.get("series") or {}).get("count") or 1
    when = (parse_time(obj.get("lastTimestamp")) or parse_time(obj.get("eventTime"))
            or parse_time(obj.get("firstTimestamp")) or parse_time(md.get("creationTimestamp")))
    return EventRow(namespace=inv.get("namespace") or md.get("namespace", ""), kind=inv.get("kind", ""),
                    name=inv.get("name", ""), type=obj.get("type") or "Normal",
                    reason=obj.get("reason") or "", message=obj.get("message") or obj.get("note") or "",
                    count=_int(count), time=when, uid=md.get("uid") or object_key(obj))


REDUCERS = {"nodes": node_row, "pods": pod_row, "deployments": deployment_row, "pdbs": pdb_row,
            "services": service_row, "events": event_row}
