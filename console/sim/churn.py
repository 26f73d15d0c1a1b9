"""Background churn of a simulated site: pods change at a steady rate, the way
a live cluster's kubelets keep touching their pods, so watchers (the
dashboard, benchmarks) see a stream of MODIFIED events without a client
paying an HTTP request per change.

Each change is one store write = one watch MODIFIED event on one pod,
spread round-robin over the pods of a namespace (the model servers by
default). Each sets a heartbeat annotation, every other one also the
Ready condition's lastProbeTime: invisible in the tables, so they measure a
console's per-event cost, not its repaint of changed rows.

Cheap on purpose: a change builds the new object by shallow-copying only
the parts it changes (the store's dicts are never mutated, so the rest is
shared), instead of a JSON round trip per change; writes are paced on the
real clock in small batches (every TICK_S)."""
from __future__ import annotations

import threading
import time

from .resources import BY_PLURAL

HEARTBEAT_ANNOTATION = "dsconsole.io/heartbeat"
TICK_S = 0.02            # one batch of changes every 20 ms
MAX_BEHIND_S = 1.0       # after a stall, catch up at most this much (no bursts of thousands)
REFRESH_KEYS_S = 2.0     # re-read which pods exist (deleted ones leave, replacements join)

_PODS = BY_PLURAL["pods"]


def touch_pod(store, ns: str, name: str, seq: int, *, restart: bool = False) -> dict | None:
    """One small, realistic change to a pod: the heartbeat annotation set to
    `seq`, and for odd `seq` also the Ready condition's lastProbeTime; with
    `restart`, also its first container's restartCount + 1 and lastState (a
    change the pods table shows). One MODIFIED event; None if the pod is gone
    or being deleted."""
    with store.lock:  # read and write as one step: no other writer's change is lost
        old = store.get("pods", ns, name)
        if old is None or old["metadata"].get("deletionTimestamp"):
            return None
        md = old["metadata"]
        # the heartbeat always: `seq` makes every change a real one (a write
        # equal to the stored object would emit no event)
        new = dict(old, metadata=dict(md, annotations=dict(md.get("annotations") or {},
                                                           **{HEARTBEAT_ANNOTATION: str(seq)})))
        status = old.get("status") or {}
        conds = status.get("conditions") or []
        ready_at = next((i for i, c in enumerate(conds) if c.get("type") == "Ready"), None)
        if seq % 2 and ready_at is not None:
            conds = list(conds)
            conds[ready_at] = dict(conds[ready_at], lastProbeTime=store.timestamp())
            new["status"] = dict(status, conditions=conds)
        containers = status.get("containerStatuses") or []
        if restart and containers:
            now = store.timestamp()
            cs = dict(containers[0], restartCount=containers[0].get("restartCount", 0) + 1,
                      lastState={"terminated": {"exitCode": 137, "reason": "Error", "finishedAt": now}})
            new["status"] = dict(new.get("status") or status, containerStatuses=[cs, *containers[1:]])
        return store.update(_PODS, new, check_rv=False)


class PodChurn:
    """Changes pods of `namespace` (None: every namespace) at `rate` per real
    second on its own thread until stop(). `changed` counts the writes made.
    `visible` (0..1): the fraction of changes that also bump a restartCount
    (spread evenly), for a load the tables must repaint."""

    def __init__(self, store, rate: float, *, namespace: str | None = None, visible: float = 0.0):
        if not rate > 0:
            raise ValueError("churn rate must be > 0")
        if not 0.0 <= visible <= 1.0:
            raise ValueError("visible must be 0..1")
        self.visible = visible
        self.store = store
        self.rate = float(rate)
        self.namespace = namespace
        self.changed = 0
        self.started_at: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _keys(self) -> list[tuple[str, str]]:
        return self.store.keys("pods", self.namespace)

    def start(self) -> PodChurn:
        self._thread = threading.Thread(target=self._run, name="sim-churn", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def running(self) -> bool:
        """Whether the thread that changes pods is still alive (after stop(): no)."""
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        keys = self._keys()
        refreshed = t0 = self.started_at = time.monotonic()
        done = 0   # changes due so far that were made (or skipped: pod gone)
        i = 0      # round-robin position
        while not self._stop.is_set():
            now = time.monotonic()
            if now - refreshed >= REFRESH_KEYS_S:
                keys, refreshed = self._keys(), now
            due = int((now - t0) * self.rate)
            if due - done > self.rate * MAX_BEHIND_S:  # stalled: drop the backlog, keep the rate
                done = due - int(self.rate * MAX_BEHIND_S)
            while done < due and keys:
                ns, name = keys[i % len(keys)]
                restart = int((done + 1) * self.visible) > int(done * self.visible)
                if touch_pod(self.store, ns, name, done, restart=restart) is not None:
                    self.changed += 1
                i += 1
                done += 1
            if not keys:
                done = due
            self._stop.wait(TICK_S)
