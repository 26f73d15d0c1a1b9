"""What a drill does to and reads from the cluster, over our own Kubernetes
client (console/kube/client.py): model-server pods, nodes, cordon, pod
delete and the Eviction API (each 429 returned to the drill, never retried
silently: the report shows them)."""
from __future__ import annotations

from dataclasses import dataclass

from console.kube.client import KubeApiError, KubeHttp, object_path

MODEL_PORT_ANNOTATION = "dsconsole.io/model-port"
MERGE_PATCH = "application/merge-patch+json"


@dataclass(frozen=True)
class ModelPod:
    """A model-server pod as a drill sees it; `ip` and `model_port` make it a
    probe target for console/probes/model_probe.request."""
    name: str
    uid: str
    node: str | None
    ready: bool
    terminating: bool
    ip: str | None
    model_port: int | None

    @property
    def serving(self) -> bool:
        return self.ready and not self.terminating and bool(self.ip and self.model_port)


def _model_port(pod: dict) -> int | None:
    ann = (pod["metadata"].get("annotations") or {}).get(MODEL_PORT_ANNOTATION)
    if ann and ann.isdigit():
        return int(ann)
    for c in pod["spec"].get("containers") or ():
        for p in c.get("ports") or ():
            if p.get("containerPort"):
                return int(p["containerPort"])
    return None


def _ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or ())


MODEL = "deepseek-v3"   # the model drills disrupt


class ClusterOps:
    """`deployment`: the model-server Deployment the drill disrupts; or
    `model`, whose serving Deployment is found on first use (`serving_deployment`)."""

    def __init__(self, http: KubeHttp, *, namespace: str, deployment: str | None = None, model: str = MODEL):
        self.http = http
        self.namespace = namespace
        self.model = model
        self._deployment = deployment
        self._selector: str | None = None

    @property
    def deployment(self) -> str:
        if self._deployment is None:
            self._deployment = self.serving_deployment()
        return self._deployment

    def serving_deployment(self) -> str:
        """The Deployment serving the model now: of the blue-green wizard's
        colours `<model>-blue` and `<model>-green` the one with replicas (the
        other is scaled to zero after a switch), else `<model>` itself."""
        found: list[tuple[int, str]] = []
        for name in (f"{self.model}-blue", f"{self.model}-green", self.model):
            try:
                d = self.http.get_object("deployments", self.namespace, name)
            except KubeApiError as e:
                if e.status == 404:
                    continue
                raise
            found.append((int(d["spec"].get("replicas", 1)), name))
        return max(found, key=lambda f: f[0])[1] if found else self.model

    # ---- reads -----------------------------------------------------------
    def selector(self) -> str:
        if self._selector is None:
            d = self.http.get_object("deployments", self.namespace, self.deployment)
            labels = d["spec"]["selector"].get("matchLabels") or {}
            self._selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        return self._selector

    def desired_replicas(self) -> int:
        d = self.http.get_object("deployments", self.namespace, self.deployment)
        return int(d["spec"].get("replicas", 1))

    def model_pods(self) -> list[ModelPod]:
        page = self.http.get_json(object_path("pods", self.namespace), {"labelSelector": self.selector()})
        out = []
        for p in page.get("items") or ():
            md = p["metadata"]
            out.append(ModelPod(md["name"], md.get("uid", ""), p["spec"].get("nodeName"), _ready(p),
                                bool(md.get("deletionTimestamp")), (p.get("status") or {}).get("podIP"),
                                _model_port(p)))
        return out

    def raw_pod(self, name: str) -> dict:
        return self.http.get_object("pods", self.namespace, name)

    def node(self, name: str) -> dict:
        return self.http.get_object("nodes", None, name)

    def node_names(self) -> list[str]:
        return [n["metadata"]["name"] for n in self.http.get_json(object_path("nodes")).get("items") or ()]

    def pdbs(self) -> list[dict]:
        return list(self.http.get_json(object_path("pdbs", self.namespace)).get("items") or ())

    # ---- writes ----------------------------------------------------------
    def _send(self, method: str, path: str, body: dict | None, content_type: str = "application/json",
              retry_throttled: bool = True) -> dict:
        return self.http.send(method, path, body, content_type=content_type, retry_throttled=retry_throttled)

    def cordon(self, node: str, unschedulable: bool = True) -> None:
        self._send("PATCH", object_path("nodes", None, node),
                   {"spec": {"unschedulable": True if unschedulable else None}}, MERGE_PATCH)

    def delete_pod(self, name: str) -> None:
        self._send("DELETE", object_path("pods", self.namespace, name), None)

    def evict(self, name: str) -> int:
        """POST an Eviction; the HTTP status: 201 (evicted), 429 (the PDB
        forbids it now), 404 (already gone). Other errors raise."""
        body = {"apiVersion": "policy/v1", "kind": "Eviction",
                "metadata": {"name": name, "namespace": self.namespace}}
        try:
            self._send("POST", object_path("pods", self.namespace, name) + "/eviction", body,
                       retry_throttled=False)
        except KubeApiError as e:
            if e.status in (429, 404):
                return e.status
            raise
        return 201
