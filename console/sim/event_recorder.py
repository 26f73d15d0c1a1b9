"""core/v1 Events for what the simulated controllers do (Scheduled,
FailedScheduling, ScalingReplicaSet, NodeNotReady, ...). Repeats of the same
event on the same object bump `count` instead of adding objects, and the
oldest events are dropped beyond a cap (the apiserver's event TTL)."""
from __future__ import annotations

from collections import OrderedDict

from .resources import BY_PLURAL

EVENTS = BY_PLURAL["events"]
MAX_EVENTS = 5000


class EventRecorder:
    def __init__(self, store, clock, *, max_events: int = MAX_EVENTS):
        self.store = store
        self.clock = clock
        self.max_events = max_events
        self._seen: OrderedDict = OrderedDict()  # (uid, reason, message) -> (ns, name)

    def record(self, obj: dict, type_: str, reason: str, message: str, component: str,
               host: str | None = None) -> None:
        md = obj["metadata"]
        ns = md.get("namespace") or "default"
        key = (md.get("uid"), reason, message)
        now = self.clock.timestamp()
        with self.store.lock:
            prev = self._seen.get(key)
            if prev is not None:
                ev = self.store.get_copy("events", *prev)
                if ev is not None:
                    ev["count"] = ev.get("count", 1) + 1
                    ev["lastTimestamp"] = now
                    self.store.update(EVENTS, ev, check_rv=False)
                    self._seen.move_to_end(key)
                    return
            name = f"{md['name']}.{self.store.rng.getrandbits(64):016x}"
            source = {"component": component}
            if host:
                source["host"] = host
            ev = {"apiVersion": "v1", "kind": "Event",
                  "metadata": {"name": name, "namespace": ns, "creationTimestamp": now},
                  "involvedObject": {"kind": obj.get("kind"), "namespace": md.get("namespace"),
                                     "name": md["name"], "uid": md.get("uid"),
                                     "apiVersion": obj.get("apiVersion"),
                                     "resourceVersion": md.get("resourceVersion")},
                  "reason": reason, "message": message, "source": source,
                  "firstTimestamp": now, "lastTimestamp": now, "count": 1, "type": type_,
                  "eventTime": None, "reportingComponent": component, "reportingInstance": host or ""}
            if not md.get("namespace"):
                ev["involvedObject"].pop("namespace")
            self.store.create(EVENTS, ev)
            self._seen[key] = (ns, name)
            while len(self._seen) > self.max_events:
                _k, (ons, oname) = self._seen.popitem(last=False)
                try:
                    self.store.delete(EVENTS, ons, oname)
                except Exception:
                    pass

