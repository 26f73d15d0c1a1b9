"""Server-side printing (meta.k8s.io/v1 Table), which kubectl asks for on
`get`: the same columns the real apiserver prints for each kind, including
the `-o wide` ones (priority 1)."""
from __future__ import annotations

from typing import Any

from .clock import parse_timestamp


def human_duration(seconds: float) -> str:
    """apimachinery's duration.HumanDuration."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m" if s % 60 == 0 else f"{m}m{s % 60}s"
    if m < 180:
        return f"{m}m"
    h = s // 3600
    if h < 8:
        return f"{h}h" if m % 60 == 0 else f"{h}h{m % 60}m"
    if h < 48:
        return f"{h}h"
    if h < 24 * 8:
        return f"{h // 24}d" if h % 24 == 0 else f"{h // 24}d{h % 24}h"
    if h < 24 * 365 * 2:
        return f"{h // 24}d"
    if h < 24 * 365 * 8:
        dy = (h // 24) % 365
        return f"{h // 24 // 365}y" if dy == 0 else f"{h // 24 // 365}y{dy}d"
    return f"{h // 24 // 365}y"


def _age(ts: str | None, now: float) -> str:
    if not ts:
        return "<unknown>"
    try:
        return human_duration(now - parse_timestamp(ts))
    except ValueError:
        return "<unknown>"


def _col(name: str, type_: str = "string", priority: int = 0, fmt: str = "") -> dict:
    return {"name": name, "type": type_, "format": fmt, "description": name, "priority": priority}


def _cond(obj: dict, type_: str) -> str | None:
    for c in (obj.get("status") or {}).get("conditions") or ():
        if c.get("type") == type_:
            return c.get("status")
    return None


def _pod_status(pod: dict) -> str:
    if pod["metadata"].get("deletionTimestamp"):
        return "Terminating"
    st = pod.get("status") or {}
    reason = st.get("reason") or st.get("phase") or "Pending"
    for cs in st.get("containerStatuses") or ():
        w = (cs.get("state") or {}).get("waiting")
        if w and w.get("reason"):
            reason = w["reason"]
    if reason == "Pending" and pod["spec"].get("nodeName"):
        reason = "ContainerCreating"
    return reason


def _pod_row(pod: dict, now: float) -> list:
    st = pod.get("status") or {}
    cs = st.get("containerStatuses") or []
    total = len(pod["spec"].get("containers") or [])
    ready = sum(1 for c in cs if c.get("ready"))
    restarts = sum(c.get("restartCount", 0) for c in cs)
    return [pod["metadata"]["name"], f"{ready}/{total}", _pod_status(pod), str(restarts),
            _age(pod["metadata"].get("creationTimestamp"), now), st.get("podIP") or "<none>",
            pod["spec"].get("nodeName") or "<none>", st.get("nominatedNodeName") or "<none>", "<none>"]


def _node_row(node: dict, now: float) -> list:
    ready = _cond(node, "Ready")
    status = "Ready" if ready == "True" else ("NotReady" if ready == "False" else "Unknown")
    if ready == "Unknown":
        status = "NotReady"
    if (node.get("spec") or {}).get("unschedulable"):
        status += ",SchedulingDisabled"
    labels = node["metadata"].get("labels") or {}
    roles = sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/"))
    info = (node.get("status") or {}).get("nodeInfo") or {}
    addrs = {a.get("type"): a.get("address") for a in (node.get("status") or {}).get("addresses") or ()}
    return [node["metadata"]["name"], status, ",".join(roles) or "<none>",
            _age(node["metadata"].get("creationTimestamp"), now), info.get("kubeletVersion", ""),
            addrs.get("InternalIP", "<none>"), addrs.get("ExternalIP", "<none>"), info.get("osImage", ""),
            info.get("kernelVersion", ""), info.get("containerRuntimeVersion", "")]


def _containers(obj: dict) -> tuple[str, str]:
    cs = ((obj["spec"].get("template") or {}).get("spec") or {}).get("containers") or []
    return ",".join(c.get("name", "") for c in cs), ",".join(c.get("image", "") for c in cs)


def _selector(obj: dict) -> str:
    sel = obj["spec"].get("selector") or {}
    if "matchLabels" in sel or "matchExpressions" in sel:
        return ",".join(f"{k}={v}" for k, v in (sel.get("matchLabels") or {}).items()) or "<none>"
    return ",".join(f"{k}={v}" for k, v in sel.items()) or "<none>"


def _deploy_row(d: dict, now: float) -> list:
    st = d.get("status") or {}
    c, i = _containers(d)
    return [d["metadata"]["name"], f"{st.get('readyReplicas', 0)}/{d['spec'].get('replicas', 1)}",
            st.get("updatedReplicas", 0), st.get("availableReplicas", 0),
            _age(d["metadata"].get("creationTimestamp"), now), c, i, _selector(d)]


def _rs_row(r: dict, now: float) -> list:
    st = r.get("status") or {}
    c, i = _containers(r)
    return [r["metadata"]["name"], r["spec"].get("replicas", 1), st.get("replicas", 0), st.get("readyReplicas", 0),
            _age(r["metadata"].get("creationTimestamp"), now), c, i, _selector(r)]


def _ds_row(d: dict, now: float) -> list:
    st = d.get("status") or {}
    sel = ((d["spec"].get("template") or {}).get("spec") or {}).get("nodeSelector") or {}
    c, i = _containers(d)
    return [d["metadata"]["name"], st.get("desiredNumberScheduled", 0), st.get("currentNumberScheduled", 0),
            st.get("numberReady", 0), st.get("updatedNumberScheduled", 0), st.get("numberAvailable", 0),
            ",".join(f"{k}={v}" for k, v in sel.items()) or "<none>",
            _age(d["metadata"].get("creationTimestamp"), now), c, i, _selector(d)]


def _svc_row(s: dict, now: float) -> list:
    spec = s.get("spec") or {}
    ports = ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" if not p.get("nodePort")
                     else f"{p.get('port')}:{p['nodePort']}/{p.get('protocol', 'TCP')}"
                     for p in spec.get("ports") or ()) or "<none>"
    sel = spec.get("selector") or {}
    return [s["metadata"]["name"], spec.get("type", "ClusterIP"), spec.get("clusterIP") or "<none>",
            ",".join(spec.get("externalIPs") or []) or "<none>", ports,
            _age(s["metadata"].get("creationTimestamp"), now),
            ",".join(f"{k}={v}" for k, v in sel.items()) or "<none>"]


def _event_row(e: dict, now: float) -> list:
    io = e.get("involvedObject") or {}
    last = e.get("lastTimestamp") or e.get("eventTime") or e["metadata"].get("creationTimestamp")
    first = e.get("firstTimestamp") or e["metadata"].get("creationTimestamp")
    src = e.get("source") or {}
    return [_age(last, now), e.get("type", ""), e.get("reason", ""),
            f"{(io.get('kind') or '').lower()}/{io.get('name', '')}", io.get("fieldPath", ""),
            ", ".join(x for x in (src.get("component"), src.get("host")) if x),
            e.get("message", ""), _age(first, now), e.get("count", 1), e["metadata"]["name"]]


def _pdb_row(p: dict, now: float) -> list:
    spec = p.get("spec") or {}
    return [p["metadata"]["name"], str(spec.get("minAvailable", "N/A")), str(spec.get("maxUnavailable", "N/A")),
            (p.get("status") or {}).get("disruptionsAllowed", 0), _age(p["metadata"].get("creationTimestamp"), now)]


def _ns_row(n: dict, now: float) -> list:
    return [n["metadata"]["name"], (n.get("status") or {}).get("phase", "Active"),
            _age(n["metadata"].get("creationTimestamp"), now)]


def _cm_row(c: dict, now: float) -> list:
    return [c["metadata"]["name"], len(c.get("data") or {}) + len(c.get("binaryData") or {}),
            _age(c["metadata"].get("creationTimestamp"), now)]


def _secret_row(s: dict, now: float) -> list:
    return [s["metadata"]["name"], s.get("type", "Opaque"), len(s.get("data") or {}),
            _age(s["metadata"].get("creationTimestamp"), now)]


def _ep_row(e: dict, now: float) -> list:
    addrs = [f"{a.get('ip')}:{p.get('port')}" for s in e.get("subsets") or () for a in s.get("addresses") or ()
             for p in s.get("ports") or [{}]]
    text = ",".join(addrs[:3]) + (f" + {len(addrs) - 3} more..." if len(addrs) > 3 else "")
    return [e["metadata"]["name"], text or "<none>", _age(e["metadata"].get("creationTimestamp"), now)]


N = "name"
TABLES = {
    "pods": ([_col("Name", fmt=N), _col("Ready"), _col("Status"), _col("Restarts"), _col("Age"),
              _col("IP", priority=1), _col("Node", priority=1), _col("Nominated Node", priority=1),
              _col("Readiness Gates", priority=1)], _pod_row),
    "nodes": ([_col("Name", fmt=N), _col("Status"), _col("Roles"), _col("Age"), _col("Version"),
               _col("Internal-IP", priority=1), _col("External-IP", priority=1), _col("OS-Image", priority=1),
               _col("Kernel-Version", priority=1), _col("Container-Runtime", priority=1)], _node_row),
    "deployments": ([_col("Name", fmt=N), _col("Ready"), _col("Up-to-date", "integer"), _col("Available", "integer"),
                     _col("Age"), _col("Containers", priority=1), _col("Images", priority=1),
                     _col("Selector", priority=1)], _deploy_row),
    "replicasets": ([_col("Name", fmt=N), _col("Desired", "integer"), _col("Current", "integer"),
                     _col("Ready", "integer"), _col("Age"), _col("Containers", priority=1),
                     _col("Images", priority=1), _col("Selector", priority=1)], _rs_row),
    "daemonsets": ([_col("Name", fmt=N), _col("Desired", "integer"), _col("Current", "integer"),
                    _col("Ready", "integer"), _col("Up-to-date", "integer"), _col("Available", "integer"),
                    _col("Node Selector"), _col("Age"), _col("Containers", priority=1), _col("Images", priority=1),
                    _col("Selector", priority=1)], _ds_row),
    "services": ([_col("Name", fmt=N), _col("Type"), _col("Cluster-IP"), _col("External-IP"), _col("Port(s)"),
                  _col("Age"), _col("Selector", priority=1)], _svc_row),
    "events": ([_col("Last Seen"), _col("Type"), _col("Reason"), _col("Object"), _col("Subobject", priority=1),
                _col("Source", priority=1), _col("Message"), _col("First Seen", priority=1),
                _col("Count", "integer", priority=1), _col("Name", fmt=N, priority=1)], _event_row),
    "poddisruptionbudgets": ([_col("Name", fmt=N), _col("Min Available"), _col("Max Unavailable"),
                              _col("Allowed Disruptions", "integer"), _col("Age")], _pdb_row),
    "namespaces": ([_col("Name", fmt=N), _col("Status"), _col("Age")], _ns_row),
    "configmaps": ([_col("Name", fmt=N), _col("Data", "integer"), _col("Age")], _cm_row),
    "endpoints": ([_col("Name", fmt=N), _col("Endpoints"), _col("Age")], _ep_row),
    "secrets": ([_col("Name", fmt=N), _col("Type"), _col("Data", "integer"), _col("Age")], _secret_row),
}


def _partial(obj: dict) -> dict:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}


def table(res, objs: list[dict], now: float, list_meta: dict | None = None, include: str = "PartialObjectMetadata",
          headers: bool = True) -> dict:
    cols, row_fn = TABLES.get(res.plural, (
        [_col("Name", fmt=N), _col("Created At", fmt="date")],
        lambda o, n: [o["metadata"]["name"], o["metadata"].get("creationTimestamp")]))
    rows = []
    for o in objs:
        row: dict[str, Any] = {"cells": row_fn(o, now)}
        if include == "Object":
            row["object"] = o
        elif include != "None":
            row["object"] = _partial(o)
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta or {},
            "columnDefinitions": cols if headers else [], "rows": rows}


def wants_table(accept: str | None) -> bool:
    return accept is not None and "as=Table" in accept.split(",")[0].replace(" ", "")
