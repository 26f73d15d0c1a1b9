"""PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and the
part of Kubernetes' strategic merge patch that kubectl sends (apply, cordon,
rollout restart, set image, label/annotate): lists merged by their patch
merge key, `$patch: replace|delete|merge`, `$retainKeys`,
`$setElementOrder/<list>`, `$deleteFromPrimitiveList/<list>`, null deletes."""
from __future__ import annotations

import copy

from .api_errors import ApiError

# list field name -> merge key (from the k8s.io/api struct tags
# `patchStrategy:"merge" patchMergeKey:...`). Lists not named here are
# replaced whole, as the real strategic merge does for atomic lists.
MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "env": "name", "volumes": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath",
    "ports": "containerPort", "imagePullSecrets": "name", "hostAliases": "ip",
    "conditions": "type", "ownerReferences": "uid", "taints": "key", "tolerations": None,
    "topologySpreadConstraints": "topologyKey", "resourceClaims": "name", "addresses": "type",
}
# lists of primitives merged as sets (patchStrategy:"merge" on []string)
MERGE_PRIMITIVE_LISTS = {"finalizers"}


class PatchError(ApiError):
    def __init__(self, message: str, code: int = 422):
        super().__init__("Invalid" if code == 422 else "BadRequest", message, code=code)


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


# ---- strategic merge ----------------------------------------------------
def strategic_merge_patch(target, patch, field: str = ""):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    out = dict(target)
    retain = patch.get("$retainKeys")
    for k, v in patch.items():
        if k in ("$patch", "$retainKeys"):
            continue
        if k.startswith("$setElementOrder/"):
            continue
        if k.startswith("$deleteFromPrimitiveList/"):
            name = k.split("/", 1)[1]
            if not isinstance(v, list):
                raise PatchError(f"invalid patch: {k} must be a list")
            if isinstance(out.get(name), list):
                out[name] = [x for x in out[name] if x not in v]
            continue
        if v is None:
            out.pop(k, None)
        elif isinstance(v, list):
            out[k] = _merge_list(out.get(k), v, k)
        elif isinstance(v, dict):
            merged = strategic_merge_patch(out.get(k), v, k)
            if merged is None:
                out.pop(k, None)
            else:
                out[k] = merged
        else:
            out[k] = v
    if retain is not None:
        if not isinstance(retain, list):
            raise PatchError("invalid patch: $retainKeys must be a list")
        out = {k: v for k, v in out.items() if k in retain}
    return out


def _merge_list(current, patch_list: list, field: str) -> list:
    if field in MERGE_PRIMITIVE_LISTS:
        cur = list(current or [])
        for x in patch_list:
            if x not in cur:
                cur.append(x)
        return cur
    key = MERGE_KEYS.get(field)
    if key is None or not all(isinstance(x, dict) for x in patch_list):
        # atomic list; a `$patch: replace` marker element is dropped
        return [copy.deepcopy(x) for x in patch_list
                if not (isinstance(x, dict) and x.get("$patch") == "replace")]
    if any(isinstance(x, dict) and x.get("$patch") == "replace" for x in patch_list):
        return [copy.deepcopy(x) for x in patch_list if x.get("$patch") != "replace"]
    cur = [x for x in (current or []) if isinstance(x, dict)]
    index = {x.get(key): i for i, x in enumerate(cur)}
    result = list(cur)
    deleted = set()
    for item in patch_list:
        if key not in item:
            raise PatchError(f"map: {item} does not contain declared merge key: {key}")
        k = item[key]
        if item.get("$patch") == "delete":
            deleted.add(k)
            continue
        if k in index:
            result[index[k]] = strategic_merge_patch(result[index[k]], item, field)
        else:
            index[k] = len(result)
            result.append(strategic_merge_patch({}, item, field))
    return [x for x in result if x.get(key) not in deleted]


# ---- JSON patch ------------------------------------------------------------
def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc, parts):
    cur = doc
    for p in parts:
        if isinstance(cur, dict):
            if p not in cur:
                raise PatchError(f"doc is missing path: /{'/'.join(parts)}")
            cur = cur[p]
        elif isinstance(cur, list):
            try:
                cur = cur[int(p)]
            except (ValueError, IndexError):
                raise PatchError(f"doc is missing path: /{'/'.join(parts)}") from None
        else:
            raise PatchError(f"doc is missing path: /{'/'.join(parts)}")
    return cur


def _add(doc, parts, value, replace=False):
    if not parts:
        return value
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise PatchError(f"replace operation does not apply: doc is missing key: /{'/'.join(parts)}")
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        else:
            try:
                i = int(last)
            except ValueError:
                raise PatchError(f"invalid array index {last!r}") from None
            if i < 0 or i > len(parent) or (replace and i >= len(parent)):
                raise PatchError(f"array index {i} out of bounds")
            if replace:
                parent[i] = value
            else:
                parent.insert(i, value)
    else:
        raise PatchError(f"doc is missing path: /{'/'.join(parts)}")
    return doc


def _remove(doc, parts):
    if not parts:
        raise PatchError("cannot remove the whole document")
    parent = _walk(doc, parts[:-1])
    last = parts[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"remove operation does not apply: doc is missing path: /{'/'.join(parts)}")
        return parent.pop(last)
    if isinstance(parent, list):
        try:
            return parent.pop(int(last))
        except (ValueError, IndexError):
            raise PatchError(f"array index {last} out of bounds") from None
    raise PatchError(f"doc is missing path: /{'/'.join(parts)}")


def json_patch(doc, ops) -> dict:
    if not isinstance(ops, list):
        raise PatchError("json patch must be a list of operations", code=400)
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f"invalid json patch operation: {op!r}", code=400)
        kind, parts = op["op"], _pointer(op["path"])
        if kind in ("add", "replace"):
            if "value" not in op:
                raise PatchError(f"{kind} operation needs a value", code=400)
            doc = _add(doc, parts, copy.deepcopy(op["value"]), replace=kind == "replace")
        elif kind == "remove":
            _remove(doc, parts)
        elif kind in ("move", "copy"):
            src = _pointer(op.get("from", ""))
            val = _remove(doc, src) if kind == "move" else copy.deepcopy(_walk(doc, src))
            doc = _add(doc, parts, val)
        elif kind == "test":
            if _walk(doc, parts) != op.get("value"):
                raise PatchError(f"testing value {op['path']} failed")
        else:
            raise PatchError(f"unexpected json patch operation {kind!r}", code=400)
    return doc


APPLY_PATCH = "application/apply-patch+yaml"
# Server-side apply, simplified: the applied configuration is merged like a
# strategic merge patch (fields set are set; there is no field ownership, so
# fields dropped from the configuration are not removed, and no conflicts).
CONTENT_TYPES = {
    "application/merge-patch+json": merge_patch,
    "application/strategic-merge-patch+json": strategic_merge_patch,
    "application/json-patch+json": json_patch,
    APPLY_PATCH: strategic_merge_patch,
}


def is_apply_patch(content_type: str) -> bool:
    return (content_type or "").split(";")[0].strip() == APPLY_PATCH


def apply_patch(content_type: str, target: dict, patch) -> dict:
    ct = (content_type or "").split(";")[0].strip()
    fn = CONTENT_TYPES.get(ct)
    if fn is None:
        raise ApiError("UnsupportedMediaType", f"the body of the request was in an unknown format - "
                       f"accepted media types include: {', '.join(CONTENT_TYPES)}", code=415)
    if fn is not json_patch and not isinstance(patch, dict):
        raise PatchError("invalid patch: the patch must be a JSON object", code=400)
    out = fn(target, patch)
    if not isinstance(out, dict):
        raise PatchError("patch result is not an object")
    return out
