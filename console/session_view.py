"""SessionView: what the screens receive of a site session, as a typed contract.

DashboardApp and every screen read a site only through this Protocol: the
latest immutable Snapshot (never blocks), a subscription to new ones, and the
few calls that fetch more on demand (from workers: they may block). The demo
site's session and a real site's are both console.site_session.SiteSession,
which satisfies it (tests/test_session_view.py checks that, and mypy checks
every use in screens/). Below the composition root nothing in console/ knows
about screens; this module is the one both sides import.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from console.hosts.transport import Transport
    from console.kube.client import KubeHttp
    from console.kube.pod_log import LogFollower
    from console.sim.demo_site import DemoSite
    from console.site_config import Site
    from console.snapshot import EventRow, Snapshot


class LineSource(Protocol):
    """Lines of a pod's log as they come; close() ends a follow from another thread."""

    def __iter__(self) -> Iterator[str]: ...

    def batches(self) -> Iterator[list[str]]:
        """The lines each network read brought, as lists."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class SessionView(Protocol):
    """One site as the UI sees it (see console/site_session.py for the threads)."""

    @property
    def title(self) -> str:
        """Header text: the site's name, "DEMO", or the kubeconfig context."""
        ...

    @property
    def is_demo(self) -> bool: ...

    @property
    def read_only(self) -> bool:
        """--read-only: every action is refused."""
        ...

    @property
    def operator(self) -> str | None:
        """--operator, recorded in the audit log."""
        ...

    @property
    def site(self) -> Site | None:
        """The site file's contents (hosts, tuning targets), None without one."""
        ...

    @property
    def context(self) -> str | None:
        """The kubeconfig context in use."""
        ...

    @property
    def namespace(self) -> str:
        """The namespace the site's model servers run in (site file, flag, or default)."""
        ...

    @property
    def demo_site(self) -> DemoSite | None:
        """The embedded demo site's simulator once started (None on a real site):
        the drills inject their faults into it, the backup wizard finds its cluster."""
        ...

    @property
    def start_error(self) -> str | None:
        """Why the session could not start (shown in the header)."""
        ...

    @property
    def expects_gpu_telemetry(self) -> bool:
        """Whether the site has GPU hosts to poll (the first complete frame waits for them)."""
        ...

    @property
    def alerts_evaluated_at(self) -> float | None:
        """When the alert engine last evaluated (None: not yet, or no engine)."""
        ...

    def snapshot(self) -> Snapshot:
        """The latest Snapshot; never blocks."""
        ...

    def subscribe(self, cb: Callable[[Snapshot], None]) -> Callable[[], None]:
        """Call `cb` from a worker thread after each rebuild; returns the unsubscriber."""
        ...

    def is_complete(self, snap: Snapshot) -> bool:
        """Every kind of data is in `snap` (cache synced, alerts evaluated, GPUs read)."""
        ...

    def events_for(self, kind: str, namespace: str | None, name: str) -> tuple[EventRow, ...]:
        """Cached events about one object, newest first (reads the cache only)."""
        ...

    def object_yaml(self, kind: str, namespace: str | None, name: str) -> str:
        """The whole object as YAML, fetched now (blocking: call from a worker)."""
        ...

    def pod_log(self, namespace: str, name: str, follow: bool = True, *,
                tail_lines: int | None = 500, container: str | None = None) -> LineSource:
        """A pod's log lines (blocking: call from a worker; close() ends a follow)."""
        ...

    def follow_pod_log(self, namespace: str, name: str, *, max_lines: int = 5000,
                       on_lines: Callable[[list[str]], None] | None = None,
                       container: str | None = None) -> LogFollower:
        """Follow a pod's log on a thread of its own into a capped buffer (marks a
        dropped stream, reconnects without repeats)."""
        ...

    def transports(self, timeout: float = 10.0) -> dict[str, Transport]:
        """Host name -> Transport, for the wizards (may block: call from a worker)."""
        ...

    def kube_client(self) -> KubeHttp:
        """A Kubernetes client of its own, for a cluster wizard's writes."""
        ...
