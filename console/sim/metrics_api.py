"""metrics.k8s.io/v1beta1 (what metrics-server serves, and `kubectl top`
reads): NodeMetrics and PodMetrics computed on request from the pods in the
store and their model servers' load. Read-only; nothing is stored."""
from __future__ import annotations

import zlib

from .quantities import parse_quantity

GROUP, VERSION = "metrics.k8s.io", "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"
WINDOW = "10.5s"
SYSTEM_CPU_M = 1500          # kubelet, containerd, system daemons per node
SYSTEM_MEM_KI = 6 * 1024 * 1024


def discovery_resources() -> list[dict]:
    return [{"name": "nodes", "singularName": "", "namespaced": False, "kind": "NodeMetrics", "verbs": ["get", "list"]},
            {"name": "pods", "singularName": "", "namespaced": True, "kind": "PodMetrics", "verbs": ["get", "list"]}]


def _jitter(key: str, spread: float) -> float:
    """A stable per-object factor in [1 - spread, 1 + spread]."""
    return 1.0 + spread * ((zlib.crc32(key.encode()) % 2001) / 1000.0 - 1.0)


def pod_usage(pod: dict, pool=None) -> list[dict]:
    """Per container: cpu in millicores, memory in Ki."""
    md = pod["metadata"]
    ip = (pod.get("status") or {}).get("podIP")
    busy = 0.0
    if pool is not None and ip and ip in pool:
        load = pool.load(ip)
        busy = min(1.0, 0.1 * load.get("requests_running", 0) + 0.02 * load.get("requests_per_s", 0))
    out = []
    for c in pod["spec"].get("containers") or ():
        req = (c.get("resources") or {}).get("requests") or {}
        cpu_req = parse_quantity(req.get("cpu", "100m")) * 1000
        mem_req = parse_quantity(req.get("memory", "128Mi")) / 1024
        j = _jitter(f"{md.get('namespace')}/{md['name']}/{c['name']}", 0.15)
        cpu = max(1, int(cpu_req * (0.25 + 0.6 * busy) * j))
        mem = max(1024, int(mem_req * 0.7 * j))
        out.append({"name": c["name"], "usage": {"cpu": f"{cpu}m", "memory": f"{mem}Ki"}})
    return out


def _meta(obj: dict, now_ts: str) -> dict:
    md = {"name": obj["metadata"]["name"], "creationTimestamp": now_ts}
    if obj["metadata"].get("namespace"):
        md["namespace"] = obj["metadata"]["namespace"]
    if obj["metadata"].get("labels"):
        md["labels"] = obj["metadata"]["labels"]
    return md


def pod_metrics(pod: dict, now_ts: str, pool=None) -> dict:
    return {"kind": "PodMetrics", "apiVersion": API_VERSION, "metadata": _meta(pod, now_ts),
            "timestamp": now_ts, "window": WINDOW, "containers": pod_usage(pod, pool)}


def node_metrics(node: dict, pods: list[dict], now_ts: str, pool=None) -> dict:
    cpu, mem = SYSTEM_CPU_M, SYSTEM_MEM_KI
    for p in pods:
        for c in pod_usage(p, pool):
            cpu += int(c["usage"]["cpu"][:-1])
            mem += int(c["usage"]["memory"][:-2])
    return {"kind": "NodeMetrics", "apiVersion": API_VERSION, "metadata": _meta(node, now_ts),
            "timestamp": now_ts, "window": WINDOW, "usage": {"cpu": f"{cpu}m", "memory": f"{mem}Ki"}}


def running(pod: dict) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running"


def list_nodes(store, pred, now_ts: str, pool=None) -> dict:
    by_node: dict[str, list] = {}
    for p in store.values("pods"):
        if running(p) and p["spec"].get("nodeName"):
            by_node.setdefault(p["spec"]["nodeName"], []).append(p)
    items = [node_metrics(n, by_node.get(n["metadata"]["name"], []), now_ts, pool)
             for _k, n, _r in store.list("nodes")[1]
             if pred is None or pred(n)]
    return {"kind": "NodeMetricsList", "apiVersion": API_VERSION, "metadata": {}, "items": items}


def list_pods(store, ns: str | None, pred, now_ts: str, pool=None) -> dict:
    items = [pod_metrics(p, now_ts, pool) for _k, p, _r in store.list("pods", ns)[1]
             if running(p) and (pred is None or pred(p))]
    return {"kind": "PodMetricsList", "apiVersion": API_VERSION, "metadata": {}, "items": items}
