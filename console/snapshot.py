"""Snapshot: one immutable, versioned picture of a site, what every screen renders.

SiteSession builds a new Snapshot (at most every ~150 ms, only when something
changed) from the ClusterCache, the TelemetryPoller and the alert engine. The UI
never reads the cache directly and never waits on the API: it takes the latest
Snapshot (`SiteSession.snapshot()`, never blocks) and diffs it against what it
shows. Everything here is frozen; tuples, not lists, so a snapshot can be shared
between threads without copying. The rows of cluster objects are frozen
msgspec Structs rather than dataclasses: the cache makes 20,000 of them in the
initial list, and a Struct is built in C (~0.5 us vs ~5.5 us for a frozen
slots dataclass of 15 fields: 0.1 s of CPU on the first frame's path at
2,000 nodes). They compare, hash and repr like frozen dataclasses; copy one
with changes by msgspec.structs.replace.

Times are unix seconds (time.time()). `None` means unknown / never.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import msgspec
from msgspec import Struct

if TYPE_CHECKING:
    # (a name for the type checker only: msgspec never decodes a Snapshot, and the
    # telemetry poller is not imported on the way to the first frame)
    from console.telemetry.poller import HostGpuState

# Kinds the ClusterCache lists and watches, in the order they are shown.
KINDS = ("nodes", "pods", "deployments", "services", "pdbs", "events")


class _Row(Struct, frozen=True, gc=False):
    """A row of cluster objects (immutable; holds no containers, so the cyclic
    collector need not track it)."""


class NodeRow(_Row, frozen=True):   # (inherited; said again for mypy)
    name: str
    ready: bool
    cordoned: bool
    gpu_alloc: int          # nvidia.com/gpu requested by non-terminated pods bound here
    gpu_cap: int            # nvidia.com/gpu allocatable (capacity when allocatable is absent)
    pods: int               # non-terminated pods bound here
    ready_since: float | None = None   # lastTransitionTime of the Ready condition
    gpu_product: str | None = None     # label nvidia.com/gpu.product
    created: float | None = None
    ready_reason: str | None = None    # Ready condition reason/message when not ready


class PodRow(_Row, frozen=True):   # (inherited; said again for mypy)
    namespace: str
    name: str
    phase: str              # Pending | Running | Succeeded | Failed | Unknown
    ready: bool
    restarts: int
    node: str | None
    created: float | None
    version: str | None     # label `version` (blue / green) of model-server pods
    status: str = ""        # what kubectl's STATUS column says: Running, CrashLoopBackOff, Terminating, ...
    ip: str | None = None
    gpus: int = 0           # nvidia.com/gpu requested (sum over containers)
    ready_containers: str = "0/0"
    last_restart: float | None = None  # when a container last terminated (restarts)
    app: str | None = None  # label `app`
    model_port: int | None = None  # annotation dsconsole.io/model-port, else first container port

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


class DeploymentRow(_Row, frozen=True):   # (inherited; said again for mypy)
    namespace: str
    name: str
    replicas: int
    ready: int
    updated: int
    available: int
    version: str | None = None  # label `version` of its pod template
    created: float | None = None


class PdbRow(_Row, frozen=True):   # (inherited; said again for mypy)
    namespace: str
    name: str
    disruptions_allowed: int
    current_healthy: int
    desired_healthy: int
    expected_pods: int


class EventRow(_Row, frozen=True):   # (inherited; said again for mypy)
    namespace: str
    kind: str               # involvedObject.kind (Pod, Node, ...)
    name: str               # involvedObject.name
    type: str               # Normal | Warning
    reason: str
    message: str
    count: int
    time: float | None      # lastTimestamp (or eventTime / firstTimestamp)
    uid: str = ""


class Alert(msgspec.Struct, frozen=True):
    severity: str           # "critical" | "warning"
    # node-not-ready | pod-restarting | pdb-blocking | gpu-util | p99-latency | consistency | xid
    kind: str
    target: str             # what it is about: node name, ns/pod, ns/pdb, host:gpu
    message: str
    since: float            # when the condition was first seen


class KindStatus(msgspec.Struct, frozen=True):
    """Health of one list+watch of the ClusterCache."""
    synced: bool                    # the initial list completed (data is complete)
    last_contact: float | None      # last time the API answered for this kind
    error: str | None               # last error, None while healthy
    count: int = 0                  # objects cached
    denied: str | None = None       # the API refuses this kind (RBAC 403, or absent): shown empty


class Snapshot(msgspec.Struct, frozen=True):
    version: int                    # increases by one with every rebuild
    time: float                     # when this snapshot was built
    api_ok: bool                    # the API answered recently and every watch is healthy
    api_error: str | None           # why not, for the header
    last_update: float | None       # newest time good data came from the API
    nodes: tuple[NodeRow, ...] = ()
    pods: tuple[PodRow, ...] = ()   # pods of the model-server namespace, sorted by name
    gpus: Mapping[str, HostGpuState] = msgspec.field(default_factory=dict)  # host -> its GPU telemetry
    alerts: tuple[Alert, ...] = ()  # most severe first
    events: tuple[EventRow, ...] = ()  # newest first, capped
    # Extensions beyond the agreed contract (all optional for readers):
    synced: bool = False            # every kind finished its initial list
    kinds: Mapping[str, KindStatus] = msgspec.field(default_factory=dict)
    deployments: tuple[DeploymentRow, ...] = ()  # of the model-server namespace
    pdbs: tuple[PdbRow, ...] = ()   # all namespaces
    pod_total: int = 0              # pods in all namespaces (pods holds only the model namespace)
    gpu_time: float | None = None   # newest good GPU telemetry (any host)
    alerts_time: float | None = None  # when alerts were last evaluated on synced data (None: not yet)

    def age(self, now: float | None = None) -> float | None:
        """Seconds since the newest good data from the API (None: never had any)."""
        import time as _time
        if self.last_update is None:
            return None
        return max(0.0, (now if now is not None else _time.time()) - self.last_update)

    @property
    def stale(self) -> bool:
        """True when what this snapshot shows must not be presented as live."""
        return not self.api_ok or not self.synced


EMPTY = Snapshot(version=0, time=0.0, api_ok=False, api_error="connecting", last_update=None)
