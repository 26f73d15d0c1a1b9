"""The deployment's Kubernetes objects as one multi-document YAML stream, for
`restic backup --stdin`: it goes from the API straight into the encrypted
repository, so Secrets are never written to a plain file anywhere."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from console.kube.client import KubeHttp

# (API prefix, resource) of what makes up a deployment; read-only status
# and cluster bookkeeping are kept (a restore can drop them) except managedFields.
KINDS = (("/apis/apps/v1", "deployments"), ("/apis/apps/v1", "daemonsets"),
         ("/api/v1", "services"), ("/api/v1", "configmaps"), ("/api/v1", "secrets"),
         ("/apis/policy/v1", "poddisruptionbudgets"))


def export_yaml(http: KubeHttp, namespaces: tuple[str, ...]) -> tuple[bytes, int]:
    """(YAML of every object of KINDS in `namespaces`, number of objects);
    `http` is a console.kube.client.KubeHttp."""
    import yaml
    docs = []
    for ns in namespaces:
        for prefix, plural in KINDS:
            data = http.get_json(f"{prefix}/namespaces/{ns}/{plural}")
            kind = (data.get("kind") or "").removesuffix("List")
            api_version = data.get("apiVersion")
            for obj in sorted(data.get("items") or (), key=lambda o: o["metadata"]["name"]):
                obj = {"apiVersion": api_version, "kind": kind, **obj}
                obj["metadata"] = {k: v for k, v in obj["metadata"].items() if k != "managedFields"}
                docs.append(obj)
    text = yaml.safe_dump_all(docs, sort_keys=True) if docs else ""
    return text.encode(), len(docs)
