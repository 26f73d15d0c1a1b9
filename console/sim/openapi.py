"""A minimal OpenAPI v3 index and per-group-version documents: just enough
for kubectl to learn that the server validates fields itself (a PATCH
operation per kind with the `fieldValidation` query parameter), so that
`kubectl apply` / `create` validate server-side instead of failing with
"failed to download openapi". Without schemas, kubectl builds strategic
merge patches from its built-in types, as it does for any built-in kind."""
from __future__ import annotations

import hashlib
import json
from functools import cache, lru_cache

from .resources import GROUPS, RESOURCES

_QUERY_PARAMS = ("dryRun", "fieldManager", "fieldValidation", "force", "pretty")


def _gv_path(group: str, version: str) -> str:
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def _doc(group: str, version: str) -> dict:
    paths = {}
    for r in RESOURCES:
        if r.group != group or r.version != version:
            continue
        base = "/" + _gv_path(group, version)
        item = f"{base}/namespaces/{{namespace}}/{r.plural}/{{name}}" if r.namespaced else f"{base}/{r.plural}/{{name}}"
        gvk = {"group": group, "version": version, "kind": r.kind}
        op = {"operationId": f"patch{r.kind}", "x-kubernetes-action": "patch",
              "x-kubernetes-group-version-kind": gvk,
              "parameters": [{"name": p, "in": "query", "schema": {"type": "string"}} for p in _QUERY_PARAMS],
              "responses": {"200": {"description": "OK"}}}
        paths[item] = {"patch": op,
                       "get": {"operationId": f"read{r.kind}", "x-kubernetes-action": "get",
                               "x-kubernetes-group-version-kind": gvk,
                               "responses": {"200": {"description": "OK"}}}}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.37.0"},
            "paths": paths, "components": {"schemas": {}}}


@cache
def gv_document(group: str, version: str) -> bytes:
    return json.dumps(_doc(group, version)).encode()


@lru_cache(maxsize=1)
def index() -> bytes:
    paths = {}
    for group, versions in GROUPS.items():
        for v in versions:
            p = _gv_path(group, v)
            h = hashlib.sha512(gv_document(group, v)).hexdigest()[:128]
            paths[p] = {"serverRelativeURL": f"/openapi/v3/{p}?hash={h.upper()}"}
    return json.dumps({"paths": paths}).encode()


def lookup(parts: list[str]) -> bytes | None:
    """parts of a path under /openapi/v3/."""
    if not parts:
        return index()
    if parts[0] == "api" and len(parts) == 2 and parts[1] in GROUPS.get("", []):
        return gv_document("", parts[1])
    if parts[0] == "apis" and len(parts) == 3 and parts[2] in GROUPS.get(parts[1], []):
        return gv_document(parts[1], parts[2])
    return None
