"""Field ownership as the apiserver tracks it (structured-merge-diff), for
the simulator's writes: `metadata.managedFields`, server-side apply with its
409 conflicts, and the removal of a field its only applier stops applying.

A field path is a tuple of fieldsV1 segments: `f:spec`, `k:{"name":"vllm"}`
(an element of a list merged by key), `v:"x"` (an element of a set-like list
of primitives). An apply by manager M with configuration C:
  1. owns exactly the fields C sets (its previous Apply set is replaced);
  2. conflicts (409, each field named) on a field another manager owns whose
     value C would change, unless forced (force moves the field to M);
     applying the same value shares ownership, as the real server does;
  3. removes the fields M applied last time and no longer applies that no
     other manager owns.
Any other write (create, update, patch) gives its manager ("Update") the
fields whose value it set or changed, taking them from the others.
Status is never tracked here (the simulator's controllers own it).
"""
from __future__ import annotations

import copy
import json
import time

from .api_errors import ApiError

APPLY, UPDATE = "Apply", "Update"
# metadata the server owns; never part of a manager's fields
_SERVER_METADATA = {"name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
                    "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "selfLink"}
# list field -> the fields of its elements' key (structured-merge-diff's listMapKeys)
_LIST_KEYS = {
    "containers": ("name",), "initContainers": ("name",), "ephemeralContainers": ("name",),
    "env": ("name",), "volumes": ("name",), "volumeMounts": ("mountPath",),
    "imagePullSecrets": ("name",), "conditions": ("type",), "ownerReferences": ("uid",),
    "topologySpreadConstraints": ("topologyKey", "whenUnsatisfiable"), "hostAliases": ("ip",),
}
_SET_LISTS = {"finalizers"}


def _list_key(path: tuple[str, ...], field: str, kind: str) -> tuple[str, ...] | None:
    if field == "ports":
        # a Service's ports are keyed by port; a container's by containerPort
        return ("port", "protocol") if kind == "Service" and path == ("f:spec",) else ("containerPort", "protocol")
    return _LIST_KEYS.get(field)


def _key_values(item: dict, key: tuple[str, ...]) -> dict | None:
    out = {}
    for k in key:
        if k in item:
            out[k] = item[k]
        elif k == "protocol":
            out[k] = "TCP"   # the defaulted value is part of the key
        else:
            return None
    return out


def _key_segment(values: dict | None) -> str:
    return "k:" + json.dumps(values or {}, separators=(",", ":"), sort_keys=True)


def fields_of(obj: dict, kind: str) -> dict[tuple[str, ...], object]:
    """Every field path `obj` sets -> its value (leaves and list elements)."""
    out: dict[tuple[str, ...], object] = {}

    def walk(node, path):
        for k, v in node.items():
            if not path and k in ("apiVersion", "kind", "status"):
                continue
            if path == ("f:metadata",) and k in _SERVER_METADATA:
                continue
            p = path + (f"f:{k}",)
            if isinstance(v, dict) and v:
                walk(v, p)
                continue
            if isinstance(v, list) and v:
                key = _list_key(path, k, kind)
                if k in _SET_LISTS and all(not isinstance(x, (dict, list)) for x in v):
                    for x in v:
                        out[p + ("v:" + json.dumps(x),)] = x
                    continue
                if key and all(isinstance(x, dict) for x in v):
                    keyed = [(_key_values(x, key), x) for x in v]
                    if all(kv is not None for kv, _x in keyed):
                        for kv, x in keyed:
                            ep = p + (_key_segment(kv),)
                            out[ep] = None      # the element itself
                            walk(x, ep)
                        continue
            out[p] = v                         # a leaf: scalar, empty map/list or atomic list
    walk(obj, ())
    return out


def to_fields_v1(paths) -> dict:
    tree: dict = {}
    for p in sorted(paths):
        node = tree
        for seg in p:
            node = node.setdefault(seg, {})
        if p and p[-1].startswith("k:"):
            node.setdefault(".", {})
    return tree


def from_fields_v1(tree: dict) -> set[tuple[str, ...]]:
    out: set[tuple[str, ...]] = set()

    def walk(node, path):
        if not node and path:
            out.add(path)
        for seg, sub in node.items():
            if seg == ".":
                out.add(path)
            else:
                walk(sub, path + (seg,))
    walk(tree or {}, ())
    return out


def _child(node, seg: str):
    """The value under one segment, or a KeyError."""
    if seg.startswith("f:"):
        if isinstance(node, dict) and seg[2:] in node:
            return node[seg[2:]]
        raise KeyError(seg)
    if isinstance(node, list):
        want = json.loads(seg[2:])
        for x in node:
            if seg.startswith("k:") and isinstance(x, dict) and all(
                    x.get(k, "TCP" if k == "protocol" else None) == v for k, v in want.items()):
                return x
            if seg.startswith("v:") and x == want:
                return x
    raise KeyError(seg)


def value_at(obj: dict, path: tuple[str, ...]):
    node = obj
    for seg in path:
        node = _child(node, seg)
    return node


def remove_path(obj: dict, path: tuple[str, ...]) -> None:
    try:
        parent = value_at(obj, path[:-1])
    except KeyError:
        return
    seg = path[-1]
    if seg.startswith("f:") and isinstance(parent, dict):
        parent.pop(seg[2:], None)
    elif isinstance(parent, list):
        try:
            parent.remove(_child(parent, seg))
        except KeyError:
            pass


def _prune_empty(obj: dict, path: tuple[str, ...]) -> None:
    """Drop maps a removal left empty (as the real server does), up the path."""
    for n in range(len(path) - 1, 0, -1):
        try:
            v = value_at(obj, path[:n])
        except KeyError:
            continue
        if v in ({}, []) and path[n - 1].startswith("f:"):
            remove_path(obj, path[:n])


def merge(live, config, path: tuple[str, ...] = (), kind: str = ""):
    """The applied configuration merged into the live object: maps field by
    field, keyed lists element by element, everything else replaced."""
    if not isinstance(config, dict) or not isinstance(live, dict):
        return copy.deepcopy(config)
    out = dict(live)
    for k, v in config.items():
        p = path + (f"f:{k}",)
        if isinstance(v, dict) and v:
            out[k] = merge(out.get(k), v, p, kind)
        elif isinstance(v, list) and isinstance(out.get(k), list):
            key = _list_key(path, k, kind)
            if k in _SET_LISTS:
                out[k] = list(out[k]) + [x for x in v if x not in out[k]]
            elif key and all(isinstance(x, dict) and _key_values(x, key) for x in v):
                cur = list(out[k])
                for x in v:
                    seg = _key_segment(_key_values(x, key))
                    try:
                        old = _child(cur, seg)
                        cur[cur.index(old)] = merge(old, x, p + (seg,), kind)
                    except KeyError:
                        cur.append(copy.deepcopy(x))
                out[k] = cur
            else:
                out[k] = copy.deepcopy(v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _entries(obj: dict) -> list[dict]:
    return [e for e in (obj.get("metadata") or {}).get("managedFields") or () if isinstance(e, dict)]


def _sets(obj: dict) -> dict[tuple[str, str], set]:
    return {(e.get("manager", ""), e.get("operation", UPDATE)): from_fields_v1(e.get("fieldsV1") or {})
            for e in _entries(obj)}


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _write_entries(obj: dict, old: dict | None, sets: dict, api_version: str, touched: tuple[str, str]) -> None:
    old_entries = {(e.get("manager", ""), e.get("operation", UPDATE)): e for e in _entries(old or {})}
    entries = []
    for (manager, op), paths in sets.items():
        if not paths:
            continue
        prev = old_entries.get((manager, op))
        if prev is not None and from_fields_v1(prev.get("fieldsV1") or {}) == paths and (manager, op) != touched:
            entries.append(prev)
            continue
        entries.append({"manager": manager, "operation": op, "apiVersion": api_version,
                        "time": prev["time"] if prev is not None and (manager, op) != touched else _now(),
                        "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(paths)})
    obj.setdefault("metadata", {})["managedFields"] = entries


def _dotted(path: tuple[str, ...]) -> str:
    return "".join("." + s[2:] if s.startswith("f:") else f"[{s[2:]}]" for s in path)


def apply(live: dict | None, config: dict, *, manager: str, force: bool, kind: str, api_version: str,
          res=None, name: str = "") -> dict:
    """The object after manager's server-side apply of config (live None: a
    create); raises a 409 ApiError naming the conflicting fields."""
    if not manager:
        raise ApiError("BadRequest", 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
                       "is required for apply patch", code=422)
    applied = fields_of(config, kind)
    if live is None:
        obj = copy.deepcopy(config)
        _write_entries(obj, None, {(manager, APPLY): set(applied)}, api_version, (manager, APPLY))
        return obj
    live_fields = fields_of(live, kind)
    sets = _sets(live)
    conflicts: dict[str, list[str]] = {}
    for p, v in applied.items():
        if v is None and p[-1].startswith("k:"):
            continue      # a list element's identity never conflicts; its fields may
        if p in live_fields and live_fields[p] == v:
            continue
        for (other, _op), paths in sets.items():
            if other != manager and p in paths:
                if force:
                    paths.discard(p)
                else:
                    conflicts.setdefault(other, []).append(_dotted(p))
    if conflicts:
        n = sum(len(v) for v in conflicts.values())
        lines = [f'conflict with "{m}": {f}' for m, fs in conflicts.items() for f in fs]
        what = f"{res.plural}.{res.group}" if res is not None and res.group else (res.plural if res else kind)
        raise ApiError("Conflict", f"Apply failed with {n} conflict{'s' if n > 1 else ''}: " + "\n".join(lines),
                       code=409, details={"name": name, "group": res.group if res else "", "kind": what,
                                          "causes": [{"reason": "FieldManagerConflict",
                                                      "message": f'conflict with "{m}"', "field": f}
                                                     for m, fs in conflicts.items() for f in fs]})
    previous = sets.get((manager, APPLY), set())
    obj = merge(live, config, (), kind)
    others = set().union(*(paths for mo, paths in sets.items() if mo != (manager, APPLY))) if sets else set()
    dropped = sorted((p for p in previous - set(applied) if p not in others), key=len, reverse=True)
    for p in dropped:
        remove_path(obj, p)
        _prune_empty(obj, p)
    sets[(manager, APPLY)] = set(applied)
    if strip(obj) == strip(live) and sets == _sets(live):
        return copy.deepcopy(live)    # a no-op apply: not even the entry's time changes
    _write_entries(obj, live, sets, api_version, (manager, APPLY))
    return obj


def record_update(old: dict | None, new: dict, *, manager: str, kind: str, api_version: str) -> None:
    """Give `manager` the fields this (non-apply) write set or changed; fields
    the write removed leave every manager. Modifies new's managedFields."""
    new_fields = fields_of(new, kind)
    old_fields = fields_of(old, kind) if old is not None else {}
    sets = _sets(old) if old is not None else {}
    changed = {p for p, v in new_fields.items() if p not in old_fields or old_fields[p] != v}
    gone = set(old_fields) - set(new_fields)
    for key, paths in sets.items():
        paths -= gone
        if key != (manager, UPDATE):
            paths -= changed
    if changed:
        sets.setdefault((manager, UPDATE), set()).update(changed)
    elif old is not None and sets == _sets(old):
        new.setdefault("metadata", {})["managedFields"] = copy.deepcopy(_entries(old))
        return
    _write_entries(new, old, sets, api_version, (manager, UPDATE) if changed else ("", ""))


def strip(obj: dict) -> dict:
    """obj without managedFields (for comparing contents)."""
    out = dict(obj)
    out["metadata"] = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}
    return out
