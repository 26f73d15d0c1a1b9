"""In-memory object store of the simulated API server.

One global resourceVersion (like etcd's revision), objects kept as dicts AND
as their JSON bytes serialized once per version, so GET/LIST/WATCH serve bytes
without copying or re-encoding. Stored dicts are never mutated after they are
stored: readers may share them, writers build a new dict (`get_copy`).

Each kind keeps a bounded history of its events; a watch from a
resourceVersion older than that history gets 410 Expired, as on a real
apiserver after etcd compaction.
"""
from __future__ import annotations

import bisect
import json
import random
import threading
import uuid
from collections import deque
from queue import SimpleQueue

from . import api_errors
from .resources import RESOURCES, Resource

# ASCII output and no cycle check: the C encoder's fastest path
_dumps = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode
NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # apimachinery's generateName alphabet
# kinds whose metadata.generation the apiserver maintains (spec changes bump it)
_GENERATION_KINDS = {"deployments", "replicasets", "daemonsets", "poddisruptionbudgets", "pods"}


def dumps(obj) -> bytes:
    return _dumps(obj).encode()


class Event:
    """One change: type ADDED/MODIFIED/DELETED, the object after (for DELETED:
    the last state) and before, and the watch-stream line, built once."""
    __slots__ = ("rv", "type", "res", "obj", "old", "raw", "line")

    def __init__(self, rv: int, type_: str, res: str, obj: dict, old: dict | None, raw: bytes):
        self.rv = rv
        self.type = type_
        self.res = res
        self.obj = obj
        self.old = old
        self.raw = raw
        self.line = b'{"type":"' + type_.encode() + b'","object":' + raw + b'}\n'


class Watcher:
    """A subscription: events are pushed (under the store lock, so cheaply)
    into a queue that the consumer's own thread drains. A consumer that falls
    too far behind is cut off (`overflowed`), as the apiserver closes a watch
    it cannot keep up with; its client relists."""
    MAX_BACKLOG = 200_000

    def __init__(self, res: str | None, limit: int | None = None):
        self.res = res
        self.queue: SimpleQueue = SimpleQueue()
        self.limit = limit
        self.overflowed = False

    def push(self, ev: Event) -> bool:
        """False when this watcher has fallen too far behind."""
        if self.limit is not None and self.queue.qsize() >= self.limit:
            self.overflowed = True
            self.queue.put(None)  # wake the consumer: it ends the stream
            return False
        self.queue.put(ev)
        return True


class Store:
    def __init__(self, clock, *, history_limit: int = 20000, seed: int = 0):
        self.clock = clock
        self.lock = threading.RLock()
        self.rng = random.Random(seed)
        self.history_limit = history_limit
        self._rv = 0
        self._objs: dict[str, dict[tuple[str, str], dict]] = {r.plural: {} for r in RESOURCES}
        self._raws: dict[str, dict[tuple[str, str], bytes]] = {r.plural: {} for r in RESOURCES}
        self._sorted: dict[str, list | None] = {r.plural: None for r in RESOURCES}
        self._history: dict[str, deque] = {r.plural: deque() for r in RESOURCES}
        self._compacted: dict[str, int] = {r.plural: 0 for r in RESOURCES}
        self._watchers: dict[str, set] = {r.plural: set() for r in RESOURCES}
        self._all_watchers: set = set()

    # ---- ids and time -------------------------------------------------
    @property
    def resource_version(self) -> int:
        return self._rv

    def new_uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def random_suffix(self, n: int = 5) -> str:
        x = self.rng.getrandbits(5 * n)
        out = []
        for _ in range(n):
            x, r = divmod(x, len(NAME_CHARS))
            out.append(NAME_CHARS[r])
        return "".join(out)

    def timestamp(self) -> str:
        return self.clock.timestamp()

    # ---- reads ---------------------------------------------------------
    def get(self, res: str, ns: str, name: str) -> dict | None:
        """The stored dict (shared: never mutate it)."""
        return self._objs[res].get((ns or "", name))

    def get_raw(self, res: str, ns: str, name: str) -> bytes | None:
        return self._raws[res].get((ns or "", name))

    def get_copy(self, res: str, ns: str, name: str) -> dict | None:
        raw = self._raws[res].get((ns or "", name))
        return json.loads(raw) if raw is not None else None

    def count(self, res: str) -> int:
        return len(self._objs[res])

    def values(self, res: str) -> list[dict]:
        """Snapshot of the stored dicts of a kind (shared; never mutate)."""
        with self.lock:
            return list(self._objs[res].values())

    def _range(self, res: str, ns: str | None) -> tuple[list, int, int]:
        """The sorted keys of a kind and the slice of namespace `ns`; lock held."""
        keys = self._sorted[res]
        if keys is None:
            keys = self._sorted[res] = sorted(self._objs[res])
        lo, hi = 0, len(keys)
        if ns:
            lo = bisect.bisect_left(keys, (ns, ""))
            hi = bisect.bisect_left(keys, (ns + "\x00", ""))
        return keys, lo, hi

    def keys(self, res: str, ns: str | None = None) -> list[tuple[str, str]]:
        """The (namespace, name) keys of a kind (in `ns`), sorted; a copy."""
        with self.lock:
            keys, lo, hi = self._range(res, ns)
            return keys[lo:hi]

    def list(self, res: str, ns: str | None = None, start_after: tuple | None = None):
        """(resourceVersion, [(key, obj, raw)...]) sorted by (namespace, name);
        `start_after` continues a chunked list after that key."""
        with self.lock:
            keys, lo, hi = self._range(res, ns)
            if start_after is not None:
                lo = max(lo, bisect.bisect_right(keys, start_after))
            objs, raws = self._objs[res], self._raws[res]
            return self._rv, [(k, objs[k], raws[k]) for k in keys[lo:hi]]

    def scan(self, res: str, ns: str | None, start_after: tuple | None, pred, limit: int):
        """One page of a list, assembled under the lock without copying the
        rest of the kind: (resourceVersion, [(key, obj, raw)...], more,
        remaining) where `more` says items follow and `remaining` counts
        them (without a predicate; else None)."""
        with self.lock:
            keys, lo, hi = self._range(res, ns)
            if start_after is not None:
                lo = max(lo, bisect.bisect_right(keys, start_after))
            objs, raws = self._objs[res], self._raws[res]
            out = []
            i = lo
            if pred is None:
                end = min(hi, lo + limit) if limit else hi
                out = [(k, objs[k], raws[k]) for k in keys[lo:end]]
                i = end
            else:
                while i < hi and (not limit or len(out) < limit):
                    k = keys[i]
                    if pred(objs[k]):
                        out.append((k, objs[k], raws[k]))
                    i += 1
            more = i < hi
            return self._rv, out, more, (hi - i if pred is None else None)

    # ---- writes --------------------------------------------------------
    def _key(self, res: Resource, obj: dict) -> tuple[str, str]:
        md = obj.get("metadata") or {}
        return (md.get("namespace", "") if res.namespaced else "", md.get("name", ""))

    def create(self, res: Resource, obj: dict) -> dict:
        """Store a new object (the dict becomes the store's: do not reuse it)."""
        md = obj.setdefault("metadata", {})
        with self.lock:
            if not md.get("name"):
                if md.get("generateName"):
                    # like the apiserver (GenerateNameRetries), retry a taken name
                    ns_key = (md.get("namespace") or "default") if res.namespaced else ""
                    for _ in range(8):
                        md["name"] = md["generateName"] + self.random_suffix()
                        if (ns_key, md["name"]) not in self._objs[res.plural]:
                            break
                else:
                    raise api_errors.invalid(res, "", [
                        ("metadata.name", "Required value: name or generateName is required")])
            if res.namespaced:
                ns = md.get("namespace") or "default"
                md["namespace"] = ns
                if res.plural != "events" and ("", ns) not in self._objs["namespaces"]:
                    raise api_errors.not_found(_NS_RES, ns)
            else:
                md.pop("namespace", None)
            key = self._key(res, obj)
            if key in self._objs[res.plural]:
                raise api_errors.already_exists(res, md["name"])
            md["uid"] = self.new_uid()
            md.setdefault("creationTimestamp", self.timestamp())
            if res.plural in _GENERATION_KINDS:
                md["generation"] = 1
            md.pop("deletionTimestamp", None)
            obj.setdefault("apiVersion", res.api_version)
            obj.setdefault("kind", res.kind)
            self._sorted[res.plural] = None
            return self._put(res.plural, key, obj, None, "ADDED")

    def update(self, res: Resource, obj: dict, *, status: str = "all", check_rv: bool = True) -> dict:
        """Replace an object. status: "all" (take obj as is), "keep" (a main
        resource write: keep the stored status), "only" (a /status write: take
        only obj's status). 409 if obj carries a stale resourceVersion."""
        md = obj.setdefault("metadata", {})
        if not res.namespaced:
            md.pop("namespace", None)
        key = self._key(res, obj)
        with self.lock:
            old = self._objs[res.plural].get(key)
            if old is None:
                raise api_errors.not_found(res, key[1])
            want = md.get("resourceVersion")
            if check_rv and want and want != old["metadata"]["resourceVersion"]:
                raise api_errors.conflict(res, key[1])
            if status == "keep" and "status" in old:
                obj["status"] = old["status"]
            elif status == "only":
                new_status = obj.get("status")
                obj = json.loads(self._raws[res.plural][key])
                if new_status is None:
                    obj.pop("status", None)
                else:
                    obj["status"] = new_status
                md = obj["metadata"]
            # identity fields are the server's
            omd = old["metadata"]
            for f in ("uid", "creationTimestamp", "namespace", "deletionTimestamp"):
                if f in omd:
                    md[f] = omd[f]
            obj["apiVersion"], obj["kind"] = res.api_version, res.kind
            if "generation" in omd:
                md["generation"] = omd["generation"]
                if _spec_changed(old, obj):
                    md["generation"] = omd["generation"] + 1
            md["resourceVersion"] = omd["resourceVersion"]
            if obj == old:  # no-op writes do not bump resourceVersion (like the apiserver)
                return old
            return self._put(res.plural, key, obj, old, "MODIFIED")

    def delete(self, res: Resource, ns: str, name: str, *, uid: str | None = None) -> dict:
        key = ((ns or "") if res.namespaced else "", name)
        with self.lock:
            old = self._objs[res.plural].get(key)
            if old is None:
                raise api_errors.not_found(res, name)
            if uid and old["metadata"].get("uid") != uid:
                raise api_errors.conflict(res, name, f"Precondition failed: UID in precondition: {uid}, "
                                                     f"UID in object meta: {old['metadata'].get('uid')}")
            obj = json.loads(self._raws[res.plural][key])
            del self._objs[res.plural][key]
            del self._raws[res.plural][key]
            self._sorted[res.plural] = None
            self._rv += 1
            obj["metadata"]["resourceVersion"] = str(self._rv)
            raw = dumps(obj)
            self._emit(Event(self._rv, "DELETED", res.plural, obj, old, raw))
            return obj

    def _put(self, plural: str, key, obj: dict, old: dict | None, type_: str) -> dict:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        raw = dumps(obj)
        self._objs[plural][key] = obj
        self._raws[plural][key] = raw
        self._emit(Event(self._rv, type_, plural, obj, old, raw))
        return obj

    def _emit(self, ev: Event) -> None:
        hist = self._history[ev.res]
        if len(hist) >= self.history_limit:
            self._compacted[ev.res] = hist.popleft().rv
        hist.append(ev)
        dropped = [w for w in self._watchers[ev.res] if not w.push(ev)]
        for w in dropped:
            self._watchers[ev.res].discard(w)
        for w in self._all_watchers:
            w.push(ev)

    def modify(self, res: Resource, ns: str, name: str, fn) -> dict | None:
        """Read-modify-write under the lock (controllers): fn(copy) edits the
        copy in place; returning False skips the write. None if not found."""
        with self.lock:
            obj = self.get_copy(res.plural, ns, name)
            if obj is None:
                return None
            if fn(obj) is False:
                return self.get(res.plural, ns, name)
            return self.update(res, obj, check_rv=False)

    # ---- watch -------------------------------------------------------
    def watch(self, res: str | None, since_rv: int | None, *, limit: int | None = None):
        """Register a watcher. Returns (watcher, backlog): backlog holds the
        events after since_rv (or, when since_rv is None, synthetic ADDED
        events for every current object). Both are taken under the lock, so
        nothing is missed or repeated between backlog and live events.
        Raises 410 Expired if since_rv is older than the kept history."""
        with self.lock:
            w = Watcher(res, limit)
            kinds = [res] if res else list(self._objs)
            backlog: list[Event] = []
            for plural in kinds:
                if since_rv is None:
                    for key in (self._sorted[plural] or sorted(self._objs[plural])):
                        obj = self._objs[plural][key]
                        backlog.append(Event(int(obj["metadata"]["resourceVersion"]), "ADDED",
                                             plural, obj, None, self._raws[plural][key]))
                else:
                    if since_rv < self._compacted[plural]:
                        raise api_errors.expired(
                            f"too old resource version: {since_rv} ({self._compacted[plural] + 1})")
                    hist = self._history[plural]
                    i = len(hist)
                    while i > 0 and hist[i - 1].rv > since_rv:
                        i -= 1
                    backlog.extend(list(hist)[i:] if i < len(hist) else ())
            if res:
                self._watchers[res].add(w)
            else:
                self._all_watchers.add(w)
            return w, backlog

    def unwatch(self, w: Watcher) -> None:
        with self.lock:
            if w.res:
                self._watchers[w.res].discard(w)
            else:
                self._all_watchers.discard(w)

    def compacted_rv(self, res: str) -> int:
        return self._compacted[res]

    def compact(self) -> None:
        """Forget all event history (like etcd compaction): watches and
        continue tokens from before now get 410 Expired."""
        with self.lock:
            for plural, hist in self._history.items():
                hist.clear()
                self._compacted[plural] = self._rv


def _spec_changed(old: dict, new: dict) -> bool:
    keys = (set(old) | set(new)) - {"metadata", "status", "apiVersion", "kind"}
    return any(old.get(k) != new.get(k) for k in keys)


from .resources import BY_PLURAL as _BY_PLURAL  # noqa: E402

_NS_RES = _BY_PLURAL["namespaces"]
