"""SiteSession: everything the screens need about one site, behind one object.

Opened from the command line (`SiteSession.from_args(args)`): a site file
(`--site` / DSCONSOLE_SITE), a kubeconfig (`--kubeconfig` / `--context`), or,
when nothing is configured, the embedded demo site (started in process and
labelled DEMO). It runs the ClusterCache (list+watch), the TelemetryPoller (SSH
to the site's GPU hosts, the simulated fleet in the demo) and the alert engine,
and publishes immutable Snapshots.

Threading contract for the UI:
- `start()` returns at once; the demo simulator, the cache and telemetry come up
  on worker threads. `snapshot()` never blocks (it returns the latest built
  Snapshot, an empty one with `synced=False` before the first data).
- `subscribe(cb)` calls `cb(snapshot)` from a worker thread after each rebuild;
  the UI hops to its own thread (App.call_from_thread).
- `pod_log`, `object_yaml`, `transports` may block: call them from a worker.
- `events_for` reads the cache only (never blocks).
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from console.redact import redact
from console.snapshot import EMPTY, EventRow, Snapshot

if TYPE_CHECKING:
    import argparse

    from console.alerts import AlertEngine
    from console.hosts.transport import Transport
    from console.kube.cache import ClusterCache
    from console.kube.client import KubeHttp, LineStream
    from console.kube.kubeconfig import KubeTarget
    from console.kube.pod_log import LogFollower
    from console.sim.demo_site import DemoSite
    from console.site_config import ConsistencyConfig, Site, Thresholds
    from console.telemetry.poller import TelemetryPoller
    from console.telemetry.source import TelemetrySource

DEMO_CONTEXT = "dsconsole-demo"
DEFAULT_NAMESPACE = "deepseek"


class SessionError(Exception):
    """Bad configuration given to a session (exit code 2 in the CLI)."""


class SiteSession:
    """One site: cluster cache + GPU telemetry + alerts, published as Snapshots."""

    def __init__(self, *, title: str, is_demo: bool = False, read_only: bool = False,
                 site: Site | None = None, kubeconfig: str | None = None, context: str | None = None,
                 namespace: str | None = None, demo_options: dict[str, Any] | None = None,
                 operator: str | None = None, probes: bool = True,
                 telemetry_interval_s: float | None = None, thresholds: Thresholds | None = None,
                 consistency: ConsistencyConfig | None = None) -> None:
        self.title = title                    # header text: site name, "DEMO", or the context
        self.is_demo = is_demo
        self.read_only = read_only
        self.operator = operator
        self.site = site                      # console.site_config.Site or None
        self._kubeconfig = kubeconfig
        self._context = context
        self.namespace = namespace or (site.cluster.namespace if site else DEFAULT_NAMESPACE)
        self._demo_options = dict(demo_options or {})
        self.thresholds = thresholds or (site.thresholds if site else None)  # None: defaults
        self.consistency = consistency or (site.consistency if site else None)
        self.probes = probes                  # latency scrapes + consistency checks of model servers
        if telemetry_interval_s is None:
            telemetry_interval_s = site.telemetry.interval_s if site else (1.0 if is_demo else 5.0)
        self.telemetry_interval_s = telemetry_interval_s
        self.demo_site: DemoSite | None = None        # once started
        self.cache: ClusterCache | None = None
        self.poller: TelemetryPoller | None = None
        self.alerts: AlertEngine | None = None
        self._snapshot: Snapshot = EMPTY
        self._subscribers: list[Callable[[Snapshot], None]] = []
        self._lock = threading.Lock()
        self._build_lock = threading.Lock()
        self._ready = threading.Event()       # demo started / cache created
        self._stopping = threading.Event()
        self._dirty = threading.Event()
        self._start_error: str | None = None
        self._threads: list[threading.Thread] = []
        self._transports: dict[str, Transport] | None = None
        self._target: KubeTarget | None = None
        self.telemetry_error: str | None = None  # why GPU telemetry could not start

    # ----------------------------------------------------------------- opening
    @classmethod
    def from_args(cls, args: argparse.Namespace) -> SiteSession:
        """Build (not start) a session from parsed CLI arguments.

        Precedence: CLI flag > environment (DSCONSOLE_SITE, DSCONSOLE_KUBECONFIG,
        DSCONSOLE_CONTEXT, DSCONSOLE_NAMESPACE) > site file (--site, else
        $XDG_CONFIG_HOME/dsconsole/site.yaml when it exists) > defaults (kubectl's:
        KUBECONFIG, ~/.kube/config, current-context). With none of them (or
        `args.demo` true): the embedded demo site.
        Bad input (a site file error, an unusable kubeconfig/context) raises
        SessionError whose str() is the message to print (exit code 2)."""
        from console.kube.kubeconfig import KubeConfigError
        from console.site_config import ConfigError
        try:
            return cls._from_args(args)
        except (ConfigError, KubeConfigError) as e:
            raise SessionError(str(e)) from None

    @classmethod
    def _from_args(cls, args: argparse.Namespace) -> SiteSession:
        def get(name: str, default: Any = None) -> Any:
            return getattr(args, name, default)
        read_only = bool(get("read_only", False))
        operator = get("operator")
        if get("demo"):
            return cls.demo(read_only=read_only, operator=operator, **_demo_options_from(args))
        from console.site_config import ENV_CONTEXT, ENV_KUBECONFIG, effective_cluster, site_file_path
        flags = get("kubeconfig") or get("context")
        env_cluster = os.environ.get(ENV_KUBECONFIG) or os.environ.get(ENV_CONTEXT)
        site_path = site_file_path(get("site"), use_default=not flags and not env_cluster)
        site = None
        if site_path:
            from console.site_config import load_site
            site = load_site(site_path)        # ConfigError: the CLI prints it, exit 2
        if site is not None or flags or env_cluster:
            cluster = effective_cluster(site, kubeconfig=get("kubeconfig"), context=get("context"),
                                        namespace=get("namespace"))
            from console.kube.kubeconfig import resolve
            target = resolve(cluster.kubeconfig, cluster.context)   # KubeConfigError: exit 2
            title = site.name if site is not None else target.context
            s = cls(title=title, site=site, kubeconfig=cluster.kubeconfig, context=target.context,
                    namespace=cluster.namespace, read_only=read_only, operator=operator)
            s._target = target
            return s
        return cls.demo(read_only=read_only, operator=operator, **_demo_options_from(args))

    @classmethod
    def demo(cls, *, read_only: bool = False, operator: str | None = None,
             session_options: dict[str, Any] | None = None, **sim_options: Any) -> SiteSession:
        """The embedded demo site; `sim_options` go to start_demo_site (nodes,
        gpus_per_node, replicas, time_scale, seed, frozen, ...); `session_options`
        to the session (probes, telemetry_interval_s, thresholds, consistency)."""
        return cls(title="DEMO", is_demo=True, read_only=read_only, context=DEMO_CONTEXT,
                   namespace=DEFAULT_NAMESPACE, demo_options=sim_options, operator=operator,
                   **(session_options or {}))

    @property
    def context(self) -> str | None:
        """The kubeconfig context in use (known before start for --context/demo)."""
        if self._target is not None:
            return self._target.context
        return self._context

    # --------------------------------------------------------------- lifecycle
    def start(self) -> SiteSession:
        """Start everything on worker threads and return at once."""
        t = threading.Thread(target=self._bring_up, name="site-session-start", daemon=True)
        self._threads.append(t)
        t.start()
        b = threading.Thread(target=self._build_loop, name="site-session-snapshots", daemon=True)
        self._threads.append(b)
        b.start()
        return self

    def stop(self) -> None:
        """Stop every worker (and the demo simulator); safe to call twice."""
        self._stopping.set()
        self._dirty.set()
        # Let a start in progress finish its step first (it checks _stopping between
        # steps), so that nothing it creates is left running.
        for t in self._threads:
            if t.name == "site-session-start" and t is not threading.current_thread():
                t.join(timeout=30)
        for part in (self.alerts, self.poller, self.cache):
            if part is not None:
                try:
                    part.stop()
                except Exception:  # noqa: BLE001 - stopping must not fail halfway
                    pass
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout=5)
        if self._transports:
            from console.hosts.ssh import close_transports
            close_transports(self._transports.values())  # inner hosts first; never raises
        if self.demo_site is not None:
            self.demo_site.stop()
            self.demo_site = None

    def __enter__(self) -> SiteSession:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def wait_ready(self, timeout: float) -> bool:
        """Block until the cache exists (demo started, config resolved)."""
        return self._ready.wait(timeout)

    def wait_synced(self, timeout: float) -> bool:
        """Block until a snapshot with every kind synced is published (bounded)."""
        deadline = time.monotonic() + timeout
        self._ready.wait(timeout)
        while time.monotonic() < deadline:
            if self._snapshot.synced:
                return True
            if self._start_error:
                return False
            time.sleep(0.02)
        return self._snapshot.synced

    @property
    def alerts_evaluated_at(self) -> float | None:
        """When the alert engine last evaluated (None: not yet, or not started)."""
        return self.alerts.evaluated_at if self.alerts is not None else None

    @property
    def start_error(self) -> str | None:
        """Why the session could not start (e.g. a kubeconfig it cannot use)."""
        return self._start_error

    def refresh(self) -> Snapshot:
        """Rebuild the snapshot now (on the calling thread) and return it; for
        one-shot callers such as `dsconsole status`. The UI does not need it."""
        with self._build_lock:
            self._snapshot = self._build()
        return self._snapshot

    # ----------------------------------------------------------- reading state
    def snapshot(self) -> Snapshot:
        """The latest Snapshot; never blocks."""
        return self._snapshot

    def subscribe(self, cb: Callable[[Snapshot], None]) -> Callable[[], None]:
        """Call `cb(snapshot)` (from a worker thread) after each rebuild.
        Returns a function that unsubscribes."""
        with self._lock:
            self._subscribers.append(cb)

        def unsubscribe() -> None:
            with self._lock:
                if cb in self._subscribers:
                    self._subscribers.remove(cb)
        return unsubscribe

    def events_for(self, kind: str, namespace: str | None, name: str) -> tuple[EventRow, ...]:
        """Cached events about one object (kind as in involvedObject: Pod, Node, ...),
        newest first. Reads the cache only."""
        if self.cache is None:
            return ()
        return self.cache.events_for(kind, namespace, name)

    # ------------------------------------------------------ blocking (workers)
    def object_yaml(self, kind: str, namespace: str | None, name: str) -> str:
        """The full object, fetched from the API now, as YAML. `kind`: a cache kind
        ("pods", "nodes", ...) or its Kind ("Pod"). Raises KubeApiError."""
        return self._require_cache().object_yaml(kind, namespace, name)

    def pod_log(self, namespace: str, name: str, follow: bool = True, *,
                tail_lines: int | None = 500, container: str | None = None,
                timestamps: bool = False, since_time: str | None = None) -> LineStream:
        """Lines of a pod's log; with `follow` it keeps yielding until the pod's
        log ends or `.close()` is called on the returned iterator. Blocking."""
        return self._require_cache().http.pod_log(namespace, name, follow=follow, tail_lines=tail_lines,
                                                  container=container, timestamps=timestamps,
                                                  since_time=since_time)

    def follow_pod_log(self, namespace: str, name: str, *, max_lines: int = 5000,
                       on_lines: Callable[[list[str]], None] | None = None,
                       container: str | None = None) -> LogFollower:
        """Follow a pod's log on a thread of its own into a capped buffer
        (console.kube.pod_log.LogFollower: .lines(), .stop(), .error)."""
        from console.kube.pod_log import LogFollower
        self._require_cache()
        return LogFollower(self, namespace, name, max_lines=max_lines, on_lines=on_lines,
                           container=container).start()

    def kube_client(self) -> KubeHttp:
        """A Kubernetes client of its own for a wizard's writes (the cache's
        is busy with its watches)."""
        from console.kube.client import KubeHttp
        self._require_cache()
        assert self._target is not None
        return KubeHttp(self._target)

    def transports(self, timeout: float = 10.0) -> dict[str, Transport]:
        """host name -> Transport: SshTransport per site host (not connected until
        used), the SimulatedHosts in the demo (waits for the demo to start)."""
        if self.is_demo:
            self._ready.wait(timeout)
            return dict(self.demo_site.hosts) if self.demo_site else {}
        if self._transports is None:
            self._transports = _site_transports(self.site)
        return dict(self._transports)

    # ---------------------------------------------------------------- internal
    def _require_cache(self) -> ClusterCache:
        if self.cache is None and not self._ready.wait(10):
            raise SessionError(self._start_error or "the cluster connection is not up yet")
        if self.cache is None:
            raise SessionError(self._start_error or "no cluster connection")
        return self.cache

    def _bring_up(self) -> None:
        try:
            from console.kube.cache import ClusterCache
            from console.kube.client import KubeHttp
            from console.kube.kubeconfig import resolve
            if self.is_demo:
                from console.sim.demo_site import start_demo_site
                opts = dict(self._demo_options)
                self.demo_site = start_demo_site(**opts)
                # Our own in-process simulator: plain HTTP on loopback, no credentials,
                # so no kubeconfig to parse (and no YAML import on the first frame's path).
                from console.kube.kubeconfig import KubeTarget
                self._target = KubeTarget(context=self.demo_site.context, cluster=self.demo_site.context,
                                          user=None, server=self.demo_site.url,
                                          namespace=self.namespace,
                                          files=(str(self.demo_site.kubeconfig_path),))
            elif self._target is None:
                self._target = resolve(self._kubeconfig, self._context)
            if self._stopping.is_set():
                return
            # The alert engine before the cache: the snapshot built when the cache
            # reports synced then always carries an evaluation of that data (_build),
            # which the first complete frame waits for.
            self._start_alerts()
            # Telemetry before the cache too: the first complete snapshot needs a GPU
            # reading as well, and a poller started after the cache (its imports
            # competing with the cache's first lists) is the last to arrive.
            try:
                self._start_telemetry()
            except Exception as e:  # noqa: BLE001 - the cluster view works without GPUs
                self.telemetry_error = f"{type(e).__name__}: {e}"
            self.cache = ClusterCache(KubeHttp(self._target), model_namespace=self.namespace,
                                      on_change=self._dirty.set)
            self.cache.start()
            if self._stopping.is_set():
                return
            self._ready.set()
        except Exception as e:  # noqa: BLE001 - reported in the header / status
            self._start_error = redact(f"{type(e).__name__}: {e}")
            self._ready.set()
            self._dirty.set()

    def _start_telemetry(self) -> None:
        try:
            from console.telemetry.poller import TelemetryPoller
        except ImportError:
            return
        sources = self._telemetry_sources()
        if not sources:
            return
        history = self.site.telemetry.history if self.site else 120
        self.poller = TelemetryPoller(sources, interval_s=self.telemetry_interval_s, history=history)
        self.poller.on_update(lambda *a: self._dirty.set())
        self.poller.start()

    def _telemetry_sources(self) -> list[TelemetrySource]:
        if self.demo_site is not None:
            fleet = self.demo_site.gpus
            return [fleet.source(node) for node in sorted(self.demo_site.hosts)]
        if not self.site:
            return []
        from console.telemetry.nvidia_smi import NvidiaSmiSource
        transports = self.transports()
        return [NvidiaSmiSource(transports[h.name]) for h in self.site.hosts if h.role == "gpu"]

    def _start_alerts(self) -> None:
        from console.alerts import AlertEngine
        from console.site_config import ConsistencyConfig, Thresholds
        thresholds = self.thresholds or Thresholds()
        consistency = self.consistency or ConsistencyConfig()
        # A frozen demo (SVG snapshots) must look the same every run: no live probes.
        probes = self.probes and not self._demo_options.get("frozen")
        self.alerts = AlertEngine(self.snapshot, thresholds, consistency=consistency,
                                  telemetry_interval_s=self.telemetry_interval_s,
                                  on_change=self._dirty.set, probes=probes)
        self.alerts.start()

    def _build_loop(self) -> None:
        """Rebuild the snapshot when something changed, at most every ~150 ms;
        at start-up at once, until a snapshot carries every kind of data (the
        first complete frame waits for it and should not wait out the gap)."""
        min_gap = 0.15
        last = 0.0
        heartbeat = 1.0  # rebuild anyway so ages and staleness stay current
        complete = False
        started = time.monotonic()
        while not self._stopping.is_set():
            self._dirty.wait(timeout=heartbeat)
            if self._stopping.is_set():
                break
            wait = last + min_gap - time.monotonic() if complete else 0.0
            if wait > 0:
                time.sleep(wait)
            self._dirty.clear()
            last = time.monotonic()
            try:
                with self._build_lock:
                    snap = self._build()
            except Exception as e:  # noqa: BLE001 - never kill the publisher
                snap = Snapshot(version=self._snapshot.version + 1, time=time.time(), api_ok=False,
                                api_error=redact(f"snapshot failed: {type(e).__name__}: {e}"),
                                last_update=self._snapshot.last_update)
            self._snapshot = snap
            # (bounded: a site whose API or hosts never answer gets the gap after 5 s)
            complete = complete or self.is_complete(snap) or time.monotonic() - started > 5.0
            with self._lock:
                subscribers = list(self._subscribers)
            for cb in subscribers:
                try:
                    cb(snap)
                except Exception:  # noqa: BLE001 - one bad subscriber must not stop the others
                    pass

    def is_complete(self, snap: Snapshot) -> bool:
        """Every kind of data there is: the cache synced, alerts evaluated on it
        and, where the site has GPU telemetry, a first reading."""
        gpus_done = (not self.expects_gpu_telemetry or self.telemetry_error is not None
                     or any(g.latest is not None for g in snap.gpus.values()))
        return snap.synced and snap.alerts_time is not None and gpus_done

    @property
    def expects_gpu_telemetry(self) -> bool:
        """Whether this site has GPU hosts to poll: the demo, or a site file
        listing hosts with role gpu (a kubeconfig alone has none)."""
        if self.is_demo:
            return True
        return any(h.role == "gpu" for h in (self.site.hosts if self.site else ()))

    def _build(self) -> Snapshot:
        now = time.time()
        version = self._snapshot.version + 1
        if self.cache is None:
            return Snapshot(version=version, time=now, api_ok=False,
                            api_error=self._start_error or "connecting", last_update=None)
        view = self.cache.view()
        gpus = self.poller.snapshot() if self.poller is not None else {}
        gpu_time = max((s.last_ok for s in gpus.values() if s.last_ok), default=None)
        alerts = self.alerts.current() if self.alerts is not None else ()
        snap = Snapshot(version=version, time=now, api_ok=view.api_ok, api_error=redact(view.api_error),
                        last_update=view.last_update, nodes=view.nodes, pods=view.pods, gpus=gpus,
                        alerts=alerts, events=view.events, synced=view.synced, kinds=view.kinds,
                        deployments=view.deployments, pdbs=view.pdbs, pod_total=view.pod_total,
                        gpu_time=gpu_time,
                        alerts_time=self.alerts.evaluated_at if self.alerts is not None else None)
        if snap.synced and self.alerts is not None and self.alerts.evaluated_at is None:
            # The first complete data: evaluate alerts on it now rather than show
            # alerts computed before the cache had synced (the engine runs once a second).
            alerts = self.alerts.evaluate(now, snap, notify=False)   # published in this snapshot
            snap = msgspec.structs.replace(snap, alerts=alerts, alerts_time=self.alerts.evaluated_at)
        return snap


def _demo_options_from(args: argparse.Namespace) -> dict[str, Any]:
    """start_demo_site options present on `args` (dsconsole demo / status --demo)."""
    out: dict[str, Any] = {}
    for name in ("nodes", "gpus_per_node", "replicas", "time_scale", "seed", "frozen", "port", "green_fault"):
        value = getattr(args, name, None)
        if value is not None:
            out[name] = value
    return out


def _site_transports(site: Site | None) -> dict[str, Transport]:
    """SshTransport per host of the site file, jump hosts wired by name."""
    if site is None:
        return {}
    from console.hosts.ssh import transports_for_hosts
    transports: dict[str, Transport] = dict(transports_for_hosts(site.hosts))
    return transports
