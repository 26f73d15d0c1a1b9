"""Cascading deletion: objects whose ownerReferences name a deleted object are
deleted too (background propagation, done at once), or released (orphan)."""
from __future__ import annotations

from .resources import BY_PLURAL

# kinds that can own something in the simulator, and the kinds they own
_OWNED_KINDS = {"deployments": ("replicasets",), "replicasets": ("pods",), "daemonsets": ("pods",),
                "nodes": (), "namespaces": ()}


def dependents(store, owner_plural: str, owner: dict) -> list[tuple[str, dict]]:
    uid = owner["metadata"].get("uid")
    ns = owner["metadata"].get("namespace")
    out = []
    for plural in _OWNED_KINDS.get(owner_plural, ()):
        _, items = store.list(plural, ns)
        for _key, obj, _raw in items:
            for ref in obj["metadata"].get("ownerReferences") or ():
                if ref.get("uid") == uid:
                    out.append((plural, obj))
                    break
    return out


def cascade(store, owner_plural: str, owner: dict, policy: str = "Background") -> None:
    if policy == "Orphan":
        uid = owner["metadata"].get("uid")
        for plural, obj in dependents(store, owner_plural, owner):
            copy = store.get_copy(plural, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
            if copy is None:
                continue
            copy["metadata"]["ownerReferences"] = [r for r in copy["metadata"].get("ownerReferences") or []
                                                   if r.get("uid") != uid]
            store.update(BY_PLURAL[plural], copy, check_rv=False)
        return
    for plural, obj in dependents(store, owner_plural, owner):
        md = obj["metadata"]
        try:
            gone = store.delete(BY_PLURAL[plural], md.get("namespace", ""), md["name"], uid=md.get("uid"))
        except Exception:  # already deleted by someone else
            continue
        cascade(store, plural, gone, policy)
    if owner_plural == "namespaces":
        name = owner["metadata"]["name"]
        for plural, res in BY_PLURAL.items():
            if res.namespaced:
                for _k, obj, _r in store.list(plural, name)[1]:
                    try:
                        store.delete(res, name, obj["metadata"]["name"])
                    except Exception:
                        pass
