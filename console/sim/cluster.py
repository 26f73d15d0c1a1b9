"""The behaviour of the simulated cluster: one loop thread that feeds every
store change to the controllers (deployment, replicaset, daemonset,
scheduler, kubelet, node lifecycle, disruption), runs their timers on the
simulation clock, and lets them reconcile what changed. Single-threaded on
purpose: controllers share no locks with each other, only the store's.

Fault injection (fail_node, recover_node, delete_pod ...) is called from any
thread and runs on the loop thread."""
from __future__ import annotations

import heapq
import itertools
import queue
import threading
import time
from concurrent.futures import Future
from queue import SimpleQueue

from .controllers.daemonset import DaemonSetController
from .controllers.deployment import DeploymentController
from .controllers.endpoints import EndpointsController
from .controllers.replicaset import ReplicaSetController
from .disruption import DisruptionController
from .event_recorder import EventRecorder
from .kubelet import Kubelet
from .node_lifecycle import NodeLifecycle
from .resources import BY_PLURAL
from .scheduler import Scheduler
from .store import Watcher

MAX_EVENTS_PER_ROUND = 5000


class SimCluster:
    def __init__(self, store, clock, logs, *, pool=None, fleet=None, model_load_s: float = 60.0,
                 container_start_s: float = 2.0, probe_period_s: float = 10.0):
        self.store = store
        self.clock = clock
        self.logs = logs
        self.pool = pool
        self.fleet = fleet
        self.model_load_s = model_load_s
        self.container_start_s = container_start_s
        self.probe_period_s = probe_period_s
        self.recorder = EventRecorder(store, clock)
        self.hosts: dict = {}  # node -> simulated host (Transport), set by the demo site
        self.model_paths: set[str] | None = None  # weights on the nodes' disks; None: any path loads
        self._timers: list = []
        self._seq = itertools.count()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._watcher: Watcher | None = None
        self.scheduler = Scheduler(self)
        self.kubelet = Kubelet(self)
        self.replicasets = ReplicaSetController(self)
        self.deployments = DeploymentController(self)
        self.daemonsets = DaemonSetController(self)
        self.nodes = NodeLifecycle(self)
        self.disruption = DisruptionController(self)
        self.endpoints = EndpointsController(self)
        # order matters within a round: owners before pods, scheduling before starting
        self.controllers = [self.deployments, self.replicasets, self.daemonsets, self.scheduler,
                            self.kubelet, self.nodes, self.disruption, self.endpoints]

    # ---- lifecycle --------------------------------------------------------
    def start(self) -> SimCluster:
        self._watcher, _ = self.store.watch(None, self.store.resource_version)
        for c in self.controllers:
            c.resync()
        # one synchronous round: statuses (ReplicaSets, Deployments, PDBs,
        # Endpoints) are current before anyone can look
        for c in self.controllers:
            c.sync()
        self._thread = threading.Thread(target=self._run, name="sim-cluster", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.queue.put(None)
            self.store.unwatch(self._watcher)
        if self._thread is not None:
            self._thread.join(timeout=5)

    # ---- timers (simulated time) -------------------------------------------
    def after(self, sim_s: float, fn) -> None:
        """Run fn on the loop thread after sim_s simulated seconds."""
        self.at(self.clock.now() + sim_s, fn)

    def at(self, sim_t: float, fn) -> None:
        heapq.heappush(self._timers, (sim_t, next(self._seq), fn))
        if self._watcher is not None and threading.current_thread() is not self._thread:
            self._watcher.queue.put(None)

    def call(self, fn, *, wait: bool = True, timeout: float = 30.0):
        """Run fn on the loop thread (fault injection from tests / the UI)."""
        if self._thread is None or threading.current_thread() is self._thread:
            return fn()
        fut: Future = Future()
        self._loop_queue().put(("call", fn, fut))
        return fut.result(timeout) if wait else fut

    # ---- the loop -----------------------------------------------------------
    def _loop_queue(self) -> SimpleQueue:
        """What the loop thread waits on: the store's events and our calls."""
        if self._watcher is None:
            raise RuntimeError("the simulated cluster is not started")
        return self._watcher.queue

    def _run(self) -> None:
        q = self._loop_queue()
        while not self._stop.is_set():
            wait = 0.2
            if self._timers:
                wait = max(0.0, min(wait, self.clock.real_seconds(self._timers[0][0] - self.clock.now())))
                if self.clock.frozen:
                    wait = 0.2
            try:
                item = q.get(timeout=wait) if wait > 0 else q.get_nowait()
            except queue.Empty:
                item = None
            n = 0
            while True:
                if item is not None:
                    self._dispatch(item)
                    n += 1
                if n >= MAX_EVENTS_PER_ROUND:
                    break
                try:
                    item = q.get_nowait()
                except queue.Empty:
                    break
            self._run_timers()
            for c in self.controllers:
                try:
                    c.sync()
                except Exception:  # keep the cluster alive; a bug shows in the log
                    import traceback
                    traceback.print_exc()

    def _dispatch(self, item) -> None:
        if isinstance(item, tuple) and item and item[0] == "call":
            _, fn, fut = item
            try:
                fut.set_result(fn())
            except BaseException as e:
                fut.set_exception(e)
            return
        for c in self.controllers:
            try:
                c.on_event(item)
            except Exception:
                import traceback
                traceback.print_exc()

    def _run_timers(self) -> None:
        if self.clock.frozen:
            return
        now = self.clock.now()
        while self._timers and self._timers[0][0] <= now:
            _, _, fn = heapq.heappop(self._timers)
            try:
                fn()
            except Exception:
                import traceback
                traceback.print_exc()

    def settle(self, timeout: float = 10.0) -> bool:
        """Wait until the loop has handled everything queued so far (tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.call(lambda: None, timeout=max(0.1, deadline - time.monotonic()))
            except Exception:
                return False
            if self._loop_queue().empty():
                return True
        return False

    # ---- fault injection / operations ----------------------------------------
    def fail_node(self, name: str) -> None:
        """The node stops reporting: NotReady (Unknown), unreachable taints; its
        pods are evicted after their toleration (default 300 s, scaled)."""
        self.call(lambda: self.nodes.fail(name))

    def recover_node(self, name: str) -> None:
        self.call(lambda: self.nodes.recover(name))

    def crash_pod(self, namespace: str, name: str) -> None:
        """The pod's container dies and restarts (restartCount+1, NotReady
        until the model has loaded again)."""
        self.call(lambda: self.kubelet.crash((namespace, name)))

    def delete_pod(self, namespace: str, name: str) -> None:
        self.store.delete(BY_PLURAL["pods"], namespace, name)

    def cordon(self, name: str, unschedulable: bool = True) -> None:
        def fn(node):
            node.setdefault("spec", {})["unschedulable"] = unschedulable or None
            if not unschedulable:
                node["spec"].pop("unschedulable", None)
        self.store.modify(BY_PLURAL["nodes"], "", name, fn)
