"""Discovery documents (legacy, non-aggregated form: kubectl and the Python
client fall back to it when the response is plain application/json)."""
from __future__ import annotations

from . import metrics_api
from .resources import GROUPS, RESOURCES, Resource

SERVER_VERSION = {
    "major": "1", "minor": "37", "gitVersion": "v1.37.0-dsconsole-sim",
    "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.25.0", "compiler": "gc",
    "platform": "linux/amd64",
}

# subresource -> (kind, group, version, verbs) as the real apiserver lists them
_SUB = {
    "status": (None, None, None, ["get", "patch", "update"]),
    "scale": ("Scale", "autoscaling", "v1", ["get", "patch", "update"]),
    "log": ("Pod", "", "", ["get"]),
    "eviction": ("Eviction", "policy", "v1", ["create"]),
    "binding": ("Binding", "", "", ["create"]),
    "finalize": (None, None, None, ["update"]),
    "proxy": ("NodeProxyOptions", "", "", ["create", "delete", "get", "patch", "update"]),
}


def version() -> dict:
    return dict(SERVER_VERSION)


def api_versions(server_address: str) -> dict:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def _versions(group: str) -> list[str]:
    if group == metrics_api.GROUP:
        return [metrics_api.VERSION]
    return GROUPS[group]


def _group_entry(group: str) -> dict:
    versions = [{"groupVersion": f"{group}/{v}", "version": v} for v in _versions(group)]
    return {"name": group, "versions": versions, "preferredVersion": versions[0]}


def api_group_list() -> dict:
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group_entry(g) for g in GROUPS if g] + [_group_entry(metrics_api.GROUP)]}


def api_group(group: str) -> dict | None:
    if (group not in GROUPS or not group) and group != metrics_api.GROUP:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry(group)}


def _entry(r: Resource) -> list[dict]:
    out = [{"name": r.plural, "singularName": r.singular or r.kind.lower(), "namespaced": r.namespaced,
            "kind": r.kind, "verbs": list(r.verbs)}]
    if r.short_names:
        out[0]["shortNames"] = list(r.short_names)
    if r.categories:
        out[0]["categories"] = list(r.categories)
    for sub in r.subresources:
        kind, group, ver, verbs = _SUB[sub]
        e = {"name": f"{r.plural}/{sub}", "singularName": "", "namespaced": r.namespaced,
             "kind": kind or r.kind, "verbs": verbs}
        if group is not None and (group or ver):
            e["group"], e["version"] = group, ver
        out.append(e)
    return out


def resource_list(group: str, version: str) -> dict | None:
    if (group, version) == (metrics_api.GROUP, metrics_api.VERSION):
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": metrics_api.API_VERSION,
                "resources": metrics_api.discovery_resources()}
    rs = [r for r in RESOURCES if r.group == group and r.version == version]
    if not rs:
        return None
    gv = f"{group}/{version}" if group else version
    resources = [e for r in rs for e in _entry(r)]
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}
