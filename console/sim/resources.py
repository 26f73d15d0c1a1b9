"""The resource kinds the simulated API server serves: one table that routing,
discovery, the store and kubectl's shortnames all read, so that adding a kind
is one line here."""
from __future__ import annotations

import msgspec

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


class Resource(msgspec.Struct, frozen=True):
    group: str            # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    singular: str = ""
    # field selectors the real apiserver accepts for this kind (besides
    # metadata.name / metadata.namespace, which every kind accepts)
    fields: tuple[str, ...] = ()
    verbs: tuple[str, ...] = tuple(VERBS)

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def api_version(self) -> str:
        return self.group_version

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def prefix(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"


RESOURCES: tuple[Resource, ...] = (
    Resource("", "v1", "namespaces", "Namespace", False, ("ns",), ("status", "finalize"),
             fields=("status.phase",)),
    Resource("", "v1", "nodes", "Node", False, ("no",), ("status", "proxy"),
             fields=("spec.unschedulable",)),
    Resource("", "v1", "pods", "Pod", True, ("po",), ("log", "eviction", "status", "binding"), ("all",),
             fields=("spec.nodeName", "status.phase", "spec.restartPolicy", "spec.schedulerName",
                     "spec.serviceAccountName", "status.podIP", "status.nominatedNodeName",
                     "spec.hostNetwork")),
    Resource("", "v1", "services", "Service", True, ("svc",), ("status", "proxy"), ("all",),
             fields=("spec.clusterIP", "spec.type")),
    Resource("", "v1", "endpoints", "Endpoints", True, ("ep",)),
    Resource("", "v1", "events", "Event", True, ("ev",),
             fields=("involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                     "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
                     "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type")),
    Resource("", "v1", "configmaps", "ConfigMap", True, ("cm",)),
    Resource("", "v1", "secrets", "Secret", True, (), fields=("type",)),
    Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, ("pvc",), ("status",)),
    Resource("apps", "v1", "deployments", "Deployment", True, ("deploy",), ("status", "scale"), ("all",)),
    Resource("apps", "v1", "replicasets", "ReplicaSet", True, ("rs",), ("status", "scale"), ("all",),
             fields=("status.replicas",)),
    Resource("apps", "v1", "daemonsets", "DaemonSet", True, ("ds",), ("status",), ("all",)),
    Resource("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True, ("pdb",), ("status",)),
)

BY_PATH: dict[tuple[str, str, str], Resource] = {(r.group, r.version, r.plural): r for r in RESOURCES}
BY_KIND: dict[str, Resource] = {r.kind: r for r in RESOURCES}
BY_PLURAL: dict[str, Resource] = {r.plural: r for r in RESOURCES}

# group -> versions served (discovery order matters to kubectl only for preference)
GROUPS: dict[str, list[str]] = {}
for _r in RESOURCES:
    GROUPS.setdefault(_r.group, [])
    if _r.version not in GROUPS[_r.group]:
        GROUPS[_r.group].append(_r.version)


def resource(plural_or_kind: str) -> Resource:
    """Look up by plural ('pods') or kind ('Pod'); KeyError if unknown."""
    return BY_PLURAL.get(plural_or_kind) or BY_KIND[plural_or_kind]
