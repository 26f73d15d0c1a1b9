"""Shared pieces of the simulated controllers: a dirty-key base class and an
index of children by owner uid (ownerReferences)."""
from __future__ import annotations

from ..resources import BY_PLURAL


def key_of(obj: dict) -> tuple[str, str]:
    md = obj["metadata"]
    return (md.get("namespace", ""), md["name"])


def controller_ref(obj: dict) -> dict | None:
    for ref in obj["metadata"].get("ownerReferences") or ():
        if ref.get("controller"):
            return ref
    return None


def owner_reference(owner: dict) -> dict:
    md = owner["metadata"]
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": md["name"],
            "uid": md["uid"], "controller": True, "blockOwnerDeletion": True}


def is_active_pod(pod: dict) -> bool:
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed") \
        and not pod["metadata"].get("deletionTimestamp")


def pod_ready(pod: dict) -> bool:
    for c in (pod.get("status") or {}).get("conditions") or ():
        if c.get("type") == "Ready":
            return c.get("status") == "True"
    return False


def _pod_state(pod: dict) -> tuple:
    """What the owner controllers (ReplicaSet, DaemonSet, Endpoints, PDB
    status) read from a pod."""
    md, st = pod["metadata"], pod.get("status") or {}
    return (md.get("labels"), md.get("ownerReferences"), md.get("deletionTimestamp"), pod.get("spec"),
            st.get("phase"), st.get("podIP"),
            [(c.get("type"), c.get("status"), c.get("lastTransitionTime")) for c in st.get("conditions") or ()],
            [(c.get("ready"), c.get("started")) for c in st.get("containerStatuses") or ()])


def pod_change_matters(ev) -> bool:
    """False for a pod MODIFIED event that changes nothing an owner
    controller reads (an annotation, a probe time): like a real controller's
    update filter, so a stream of heartbeats does not requeue work that walks
    every pod of a namespace."""
    if ev.type != "MODIFIED" or ev.old is None:
        return True
    return _pod_state(ev.old) != _pod_state(ev.obj)


def set_condition(conds: list, type_: str, status: str, now: str, reason: str = "", message: str = "",
                  probe_time: bool = False) -> list:
    """Upsert a condition; lastTransitionTime moves only when status changes."""
    for c in conds:
        if c.get("type") == type_:
            if c.get("status") != status:
                c["lastTransitionTime"] = now
            c["status"] = status
            if reason:
                c["reason"] = reason
            else:
                c.pop("reason", None)
            if message:
                c["message"] = message
            else:
                c.pop("message", None)
            return conds
    c = {"type": type_, "status": status, "lastTransitionTime": now}
    if probe_time:
        c["lastProbeTime"] = None
    if reason:
        c["reason"] = reason
    if message:
        c["message"] = message
    conds.append(c)
    return conds


class OwnerIndex:
    """child keys by the uid of their controlling owner, kept from events."""

    def __init__(self, child_plural: str):
        self.child_plural = child_plural
        self._by_owner: dict[str, set] = {}
        self._owner_of: dict[tuple, str] = {}

    def load(self, store) -> None:
        for obj in store.values(self.child_plural):
            self.add(obj)

    def add(self, obj: dict) -> str | None:
        ref = controller_ref(obj)
        k = key_of(obj)
        old = self._owner_of.pop(k, None)
        if old is not None:
            self._by_owner.get(old, set()).discard(k)
        if ref is None:
            return old
        self._owner_of[k] = ref["uid"]
        self._by_owner.setdefault(ref["uid"], set()).add(k)
        return ref["uid"]

    def on_event(self, ev) -> tuple[str | None, str | None]:
        """Returns (owner uid before, owner uid after)."""
        k = key_of(ev.obj)
        before = self._owner_of.get(k)
        if ev.type == "DELETED":
            self._owner_of.pop(k, None)
            if before is not None:
                self._by_owner.get(before, set()).discard(k)
            return before, None
        return before, self.add(ev.obj)

    def children(self, uid: str) -> set:
        return self._by_owner.get(uid, set())


class Controller:
    """Dirty-key reconciler: on_event marks keys, sync() reconciles them."""
    watches: tuple[str, ...] = ()

    def __init__(self, cluster):
        self.cluster = cluster
        self.store = cluster.store
        self.clock = cluster.clock
        self.recorder = cluster.recorder
        self.dirty: dict = {}

    def resync(self) -> None:
        pass

    def on_event(self, ev) -> None:
        pass

    def sync(self) -> None:
        if not self.dirty:
            return
        keys, self.dirty = list(self.dirty), {}
        for k in keys:
            self.reconcile(k)

    def reconcile(self, key) -> None:
        raise NotImplementedError

    def res(self, plural: str):
        return BY_PLURAL[plural]


class OwnerController(Controller):
    """A controller of one owner kind (`owner`) whose children (`child`) it
    indexes by owner uid: an owner's change, or a change of one of its children,
    marks that owner dirty. Subclasses reconcile one owner at a time."""
    owner: str = ""
    child: str = ""

    def __init__(self, cluster):
        super().__init__(cluster)
        self.children = OwnerIndex(self.child)
        self.by_uid: dict[str, tuple] = {}

    def resync(self) -> None:
        self.children.load(self.store)
        for obj in self.store.values(self.owner):
            self.by_uid[obj["metadata"]["uid"]] = key_of(obj)
            self.dirty[key_of(obj)] = True

    def child_change_matters(self, ev) -> bool:
        return True

    def on_other_event(self, ev) -> None:
        pass

    def on_event(self, ev) -> None:
        if ev is None:
            return
        if ev.res == self.owner:
            k = key_of(ev.obj)
            if ev.type == "DELETED":
                self.by_uid.pop(ev.obj["metadata"]["uid"], None)
                self.dirty.pop(k, None)
            else:
                self.by_uid[ev.obj["metadata"]["uid"]] = k
                self.dirty[k] = True
        elif ev.res == self.child:
            if not self.child_change_matters(ev):
                return
            before, after = self.children.on_event(ev)
            for uid in (before, after):
                if uid in self.by_uid:
                    self.dirty[self.by_uid[uid]] = True
        else:
            self.on_other_event(ev)
