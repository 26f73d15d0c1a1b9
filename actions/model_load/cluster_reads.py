"""What the model-load steps read from the cluster, through the console's
own client (console/kube/client.py): nodes and their free GPUs, the model's
pods, their events and log tails."""
from __future__ import annotations

from console.kube.client import KubeApiError, KubeHttp, object_path

GPU = "nvidia.com/gpu"


def selector(labels: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in labels.items())


def get_or_none(kube: KubeHttp, kind: str, namespace: str | None, name: str) -> dict | None:
    try:
        return kube.get_object(kind, namespace, name)
    except KubeApiError as e:
        if e.status == 404:
            return None
        raise


def items(kube: KubeHttp, kind: str, namespace: str | None = None, **params: str) -> list[dict]:
    return kube.get_json(object_path(kind, namespace), params or None).get("items") or []


def pods(kube: KubeHttp, namespace: str, labels: dict) -> list[dict]:
    return [p for p in items(kube, "pods", namespace, labelSelector=selector(labels))
            if not p["metadata"].get("deletionTimestamp")]


def pod_events(kube: KubeHttp, namespace: str, name: str) -> list[dict]:
    return items(kube, "events", namespace, fieldSelector=f"involvedObject.name={name}")


def pod_log_tail(kube: KubeHttp, namespace: str, name: str, lines: int = 40) -> str:
    try:
        return kube.request(object_path("pods", namespace, name) + "/log", {"tailLines": str(lines)}).data.decode(
            "utf-8", "replace")
    except KubeApiError:
        return ""


def _quantity(v: object) -> float:
    s = str(v)
    return float(s[:-1]) / 1000 if s.endswith("m") else float(s)


def node_ready(node: dict) -> bool:
    return not (node.get("spec") or {}).get("unschedulable") and any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (node.get("status") or {}).get("conditions") or ())


def gpu_nodes(kube: KubeHttp) -> list[dict]:
    return [n for n in items(kube, "nodes") if _quantity(((n.get("status") or {}).get("allocatable") or {})
                                                         .get(GPU, 0)) > 0]


def free_gpus(kube: KubeHttp, nodes: list[dict], exclude_labels: dict | None = None) -> dict[str, int]:
    """Free nvidia.com/gpu per Ready, schedulable node; pods matching
    exclude_labels (the model's own, which a re-apply replaces) count as free."""
    used: dict[str, float] = {}
    for p in items(kube, "pods"):
        node = (p.get("spec") or {}).get("nodeName")
        if not node or (p.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        labels = p["metadata"].get("labels") or {}
        if exclude_labels and all(labels.get(k) == v for k, v in exclude_labels.items()):
            continue
        for c in p["spec"].get("containers") or ():
            res = c.get("resources") or {}
            used[node] = used.get(node, 0) + _quantity((res.get("requests") or res.get("limits") or {}).get(GPU, 0))
    out = {}
    for n in nodes:
        if node_ready(n):
            name = n["metadata"]["name"]
            out[name] = int(_quantity(n["status"]["allocatable"].get(GPU, 0)) - used.get(name, 0))
    return out


def node_images(node: dict) -> set[str]:
    return {name for img in (node.get("status") or {}).get("images") or () for name in img.get("names") or ()}
