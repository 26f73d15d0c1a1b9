"""The embedded demo site: a simulated GPU cluster served over the Kubernetes
API on 127.0.0.1, with a model server per model pod, simulated GPUs and
hosts. `start_demo_site()` builds the site already in its steady state (nodes
Ready, the deepseek-v3-blue Deployment rolled out, every pod Running and Ready),
so a dashboard's first frame shows a healthy cluster, then starts the
controllers that keep it behaving like one.

Imports nothing heavy (no kubernetes client): the dashboard starts a small
site in process on its path to the first frame."""
from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from console import gc_policy

from . import site_objects as so
from .clock import SimClock
from .cluster import SimCluster
from .controllers.daemonset import daemon_pod
from .controllers.deployment import new_replicaset, template_hash
from .controllers.replicaset import new_pod_from_template
from .defaults import _default_pod_spec, default_and_validate
from .disruption import make_evictor
from .http_server import ApiServer
from .kubeconfig import CONTEXT, write_kubeconfig
from .kubelet import GPU_INDEX_ANNOTATION, bind_model_port, node_ip, overlay_ip, pod_colour, running_status
from .pod_logs import PodLogBook
from .pod_termination import graceful_delete
from .resources import BY_PLURAL
from .store import Store

if TYPE_CHECKING:
    from console.site_config import Site

    from .churn import PodChurn
    from .demo_traffic import DemoTraffic
    from .hosts import SimulatedHost
    from .lb_proxy import LbProxy

SITE_AGE_S = 3 * 86400.0    # the site was installed three days "ago"
PODS_AGE_S = 2 * 3600.0     # the current rollout two hours "ago"
FREEZE_GC_PODS = 2000       # from this size on, bootstrap objects leave the cyclic GC
LB_HOST = "lb-0"            # the demo's load-balancer host (lb_host())
GREEN_FAULTS = ("5xx", "wrong", "slow", "none")   # inject_green_fault / dsconsole demo --green-fault
GREEN_5XX_AFTER = 60        # completions a "5xx" green answers first: more than its warmup sends
SLOW_GREEN_S = 0.6          # real seconds green's "slow" fault adds: over the gate's 500 ms P99


def default_replicas(nodes: int, gpus_per_node: int) -> int:
    """Three quarters of the GPUs: room left for a rolling update's surge and
    a green deployment beside blue (on 8-GPU nodes, a 671B replica per node)."""
    per = main_model(gpus_per_node).gpus
    return max(1, nodes * gpus_per_node * 3 // 4 // per)


def main_model(gpus_per_node: int) -> so.DemoModel:
    """deepseek-v3 as it runs on an 8-GPU H200 node; one GPU a pod on the
    smaller test sites (which could not hold a 671B replica at all)."""
    return so.V3_671B if gpus_per_node >= so.H200_NODE_GPUS else so.SMALL_NODE_V3


def small_model_replicas(free_gpus: int) -> int:
    """The 14B model beside the 671B one: half the GPUs left, at most 4."""
    return min(4, free_gpus // 2)


class DemoSite:
    namespace = so.NAMESPACE
    context = CONTEXT

    def __init__(self, *, nodes: int, gpus_per_node: int, replicas: int | None, port: int,
                 kubeconfig: str | os.PathLike | None, time_scale: float, seed: int,
                 model_load_s: float, frozen: bool, hosts: bool = True, churn: float = 0.0,
                 traffic: bool = True, churn_visible: float = 0.0):
        if nodes < 1:
            raise ValueError("nodes must be >= 1")
        if not 1 <= gpus_per_node <= 16:
            raise ValueError("gpus_per_node must be 1..16")
        self.nodes = nodes
        self.gpus_per_node = gpus_per_node
        self.replicas = default_replicas(nodes, gpus_per_node) if replicas is None else replicas
        if self.replicas < 0:
            raise ValueError("replicas must be >= 0")
        self.clock = SimClock(time_scale, frozen=frozen)
        self.store = Store(self.clock, seed=seed)
        self.logs = PodLogBook(self.clock)
        from .gpu_fleet import SimGpuFleet
        from .model_server import ModelServerPool
        self.model_servers = ModelServerPool(clock=self.clock)
        self.gpus = SimGpuFleet(seed=seed, clock=self.clock)
        self.cluster = SimCluster(self.store, self.clock, self.logs, pool=self.model_servers, fleet=self.gpus,
                                  model_load_s=model_load_s)
        self.server = ApiServer(self.store, self.logs, port=port, evictor=make_evictor(self.cluster),
                                pool=self.model_servers,
                                pod_deleter=lambda ns, name, grace, uid: graceful_delete(self.cluster, ns, name,
                                                                                          grace, uid))
        self.url = self.server.url
        self._own_kubeconfig_dir = None
        if kubeconfig is None:
            self._own_kubeconfig_dir = tempfile.mkdtemp(prefix="dsconsole-demo-")
            kubeconfig = Path(self._own_kubeconfig_dir) / "kubeconfig"
        self.kubeconfig_path = Path(kubeconfig)
        self.hosts: dict = {}
        self.cluster.hosts = self.hosts  # the same dict: node failures reach the hosts
        self._want_hosts = hosts
        if churn < 0:
            raise ValueError("churn must be >= 0")
        self._churn_rate = churn
        self._churn_visible = churn_visible
        self.churn: PodChurn | None = None  # the PodChurn while one runs
        # synthetic requests to the model servers (demo_traffic.py); never on a
        # frozen clock, whose SVG snapshots show the idle steady state
        self._want_traffic = traffic and not frozen
        self._seed = seed
        self.traffic: DemoTraffic | None = None  # the DemoTraffic while it runs
        self._balancer: LbProxy | None = None     # started on first use (balancer())
        self._balancer_lock = threading.Lock()
        self._lb_host: SimulatedHost | None = None
        self._stopped = False

    # ---- bootstrap: the steady state, built directly ---------------------------
    def _build(self) -> None:
        store, clock = self.store, self.clock
        t0 = clock.now()
        site_ts = clock.timestamp(t0 - SITE_AGE_S)
        pods_ts = clock.timestamp(t0 - PODS_AGE_S)
        now_ts = clock.timestamp(t0)
        R = BY_PLURAL
        for ns in ("default", "kube-system", "kube-public", "kube-node-lease", so.NAMESPACE):
            store.create(R["namespaces"], so.namespace(ns, site_ts))
        node_objs = [store.create(R["nodes"], so.node(i, self.gpus_per_node, site_ts, now_ts))
                     for i in range(1, self.nodes + 1)]
        for n in node_objs:
            self.gpus.add_node(n["metadata"]["name"], self.gpus_per_node)
        # system DaemonSets: one running pod per node
        for name, image in so.SYSTEM_DAEMONSETS:
            ds = so.daemonset(name, image, site_ts)
            default_and_validate(R["daemonsets"], ds)
            ds = store.create(R["daemonsets"], ds)
            proto = daemon_pod(store, ds, "")
            _default_pod_spec(proto["spec"])
            for n in node_objs:
                self._finish_pod(proto, n, pods_ts, ip=None)
        # the model-server Deployments, their ReplicaSets and Ready pods:
        # deepseek-v3-blue (on 8-GPU nodes a 671B replica per node, tensor parallel 8)
        # and, where GPUs are left, the 14B model on one GPU a pod
        main = main_model(self.gpus_per_node)
        free = [self.gpus_per_node] * len(node_objs)
        placed = self._deploy(main, self.replicas, node_objs, free, site_ts, pods_ts, "10.96.100.10")
        if main is so.V3_671B and placed == self.replicas:
            n14 = small_model_replicas(sum(free))
            if n14:
                self._deploy(so.R1_14B, n14, node_objs, free, site_ts, pods_ts, "10.96.100.11", pack=True)
        store.create(R["persistentvolumeclaims"], so.compile_cache_pvc(site_ts))
        self.cluster.model_paths = set(so.MODEL_PATHS)
        store.create(R["services"], {"apiVersion": "v1", "kind": "Service",
                                     "metadata": {"name": "kubernetes", "namespace": "default",
                                                  "creationTimestamp": site_ts,
                                                  "labels": {"component": "apiserver", "provider": "kubernetes"}},
                                     "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.1",
                                              "clusterIPs": ["10.96.0.1"], "sessionAffinity": "None",
                                              "ports": [{"name": "https", "port": 443, "targetPort": 6443,
                                                         "protocol": "TCP"}]},
                                     "status": {"loadBalancer": {}}})

    def _deploy(self, model: so.DemoModel, replicas: int, node_objs: list[dict], free: list[int], site_ts: str,
                pods_ts: str, cluster_ip: str, pack: bool = False) -> int:
        """A model's Deployment, ReplicaSet, Service and PDB, and as many of its
        pods Running and Ready as whole replicas fit the free GPUs (`free`, per
        node, is updated); the ReplicaSet controller makes the rest (Pending).
        Pods go round-robin over the nodes; `pack`: onto the fullest node that
        fits (a MostAllocated scheduler), so the small model leaves whole nodes
        free for a green 671B replica. Returns the pods placed."""
        store, R = self.store, BY_PLURAL
        # the template names vLLM's usual port (a stable pod-template-hash);
        # each pod is pointed at the pool's real port when it starts
        d = so.model_deployment(replicas, so.MODEL_PORT, site_ts, model=model)
        default_and_validate(R["deployments"], d)
        d["metadata"]["annotations"] = {"deployment.kubernetes.io/revision": "1"}
        d = store.create(R["deployments"], d)
        rs_obj = new_replicaset(d, template_hash(d["spec"]["template"]), 1, replicas)
        rs_obj["metadata"]["creationTimestamp"] = pods_ts
        rs = store.create(R["replicasets"], rs_obj)
        proto = self._proto(store, rs, rs["spec"]["template"])
        bind_model_port(proto, self.model_servers.port)
        placed = 0
        for i in range(replicas):
            fits = [k for k in range(len(node_objs)) if free[k] >= model.gpus]
            if not fits:
                break
            if pack:
                j = min(fits, key=lambda k: (free[k], k))
            else:   # round-robin over nodes with a whole replica's GPUs free
                j = next(k % len(node_objs) for k in range(i, i + len(node_objs))
                         if free[k % len(node_objs)] >= model.gpus)
            n = node_objs[j]
            first = self.gpus_per_node - free[j]
            free[j] -= model.gpus
            ip = self.model_servers.allocate_ip()
            self._finish_pod(proto, n, pods_ts, ip=ip, gpu_indices=list(range(first, first + model.gpus)),
                             model=model.model_path)
            placed += 1
        store.create(R["services"], so.model_service(site_ts, model, cluster_ip))
        store.create(R["poddisruptionbudgets"], so.model_pdb(site_ts, model))
        return placed

    def _finish_pod(self, proto: dict, node: dict, ts: str, *, ip: str | None,
                    gpu_indices: list[int] | None = None, model: str | None = None) -> None:
        """Store a pod made from its owner's defaulted pod `proto` as its
        kubelet would have left it: Running and Ready."""
        # share the (never mutated) spec parts of the owner's pod; new metadata
        pod = dict(proto, metadata=dict(proto["metadata"]), spec=dict(proto["spec"]))
        md = pod["metadata"]
        node_name = node["metadata"]["name"]
        prefix = md.pop("generateName")
        md["name"] = prefix + self.store.random_suffix()
        while self.store.get("pods", md["namespace"], md["name"]) is not None:
            md["name"] = prefix + self.store.random_suffix()
        md["creationTimestamp"] = ts
        pod["spec"]["nodeName"] = node_name
        host_ip = node_ip(node)
        if model:
            if ip is None or not gpu_indices:
                raise ValueError(f"model-server pod {md['name']}: needs its IP and GPU indices")
            md["annotations"] = dict(md.get("annotations") or {},
                                     **{GPU_INDEX_ANNOTATION: ",".join(map(str, gpu_indices))})
        elif pod["spec"].get("hostNetwork"):
            ip = host_ip
        else:
            ip = overlay_ip((md["namespace"], md["name"]))
        pod["status"] = running_status(pod, node=node, pod_ip=ip, now=ts, ready=True, host_ip=host_ip)
        stored = self.store.create(BY_PLURAL["pods"], pod)
        if model and gpu_indices:   # (checked above)
            self.model_servers.add(ip, md["name"], os.path.basename(model), node_name, load_s=0.0, warm=True,
                                   colour=pod_colour(pod))
            self.cluster.kubelet.adopt(stored, ip, gpu_indices)
        self.logs.append(md["namespace"], md["name"], "INFO Application startup complete." if model else "INFO started")

    @staticmethod
    def _proto(store, owner: dict, template: dict) -> dict:
        pod = new_pod_from_template(store, owner, template)
        _default_pod_spec(pod["spec"])
        return pod

    # ---- lifecycle ----------------------------------------------------------------
    def start(self) -> DemoSite:
        try:
            self._start()
        except BaseException:
            self.stop()  # no half-started threads or sockets left behind
            raise
        return self

    def _start(self) -> None:
        self.model_servers.start()
        # the build allocates millions of small objects: the cyclic GC would
        # walk them again and again (most of the build time at 20,000 pods);
        # a large site's objects then go to the permanent generation, so later
        # collections do not stall the API server walking them either
        with gc_policy.paused():
            self._build()
            if self.store.count("pods") >= FREEZE_GC_PODS:
                gc_policy.freeze_long_lived()
        for n in self.store.values("nodes"):
            self.cluster.kubelet.push_models(n["metadata"]["name"])
        if self._want_hosts:
            self._make_hosts()
        self.cluster.start()
        self.server.start()
        if self._churn_rate:
            from .churn import PodChurn
            self.churn = PodChurn(self.store, self._churn_rate, namespace=so.NAMESPACE,
                                  visible=self._churn_visible).start()
        if self._want_traffic:
            from .demo_traffic import DemoTraffic
            self.traffic = DemoTraffic(self.model_servers, self.clock, self._seed,
                                       shares=self._balancer_shares).start()
        write_kubeconfig(self.kubeconfig_path, self.url, so.NAMESPACE)

    def _make_hosts(self) -> None:
        try:
            from .hosts import SimulatedHost
        except ImportError:  # SIM-PARTS' hosts module not there: no hosts
            return
        for n in self.store.values("nodes"):
            name = n["metadata"]["name"]
            try:
                self.hosts[name] = SimulatedHost(name, self.gpus, clock=self.clock)
            except TypeError:
                self.hosts[name] = SimulatedHost(name, self.gpus)

    def balancer(self) -> LbProxy:
        """The demo's load balancer (lb_proxy.py), started on first use in
        front of the model servers running then, as an nginx upstream block
        written at that moment would list them (nginx's defaults: weight 1,
        max_fails 1, fail_timeout 10 s)."""
        with self._balancer_lock:
            return self._started_balancer()

    def _started_balancer(self) -> LbProxy:
        if self._balancer is None:
            from .lb_proxy import LbProxy, UpstreamServer
            pool = self.model_servers
            # the servers of deepseek-v3 only: on 8-GPU nodes the 14B model's
            # servers run beside them and answer to another model name
            model = os.path.basename(main_model(self.gpus_per_node).model_path)
            servers = [UpstreamServer(f"{ip}:{pool.port}") for ip in sorted(pool.addresses(model))]
            self._balancer = LbProxy(servers, refuses=pool.refuses).start()
        return self._balancer

    def _balancer_shares(self) -> dict[str, float] | None:
        """The running upstream's split of the demo traffic (None: no balancer yet)."""
        balancer = self._balancer
        return None if balancer is None else balancer.shares()

    def lb_host(self) -> SimulatedHost:
        """The demo's load-balancer host lb-0 (nginx_host.py), made on first
        use. Kept out of `hosts`, the GPU nodes that telemetry and host
        tuning walk: it has no GPU and is no node."""
        with self._balancer_lock:
            if self._lb_host is None:
                from .nginx_host import make_lb_host
                self._lb_host = make_lb_host(LB_HOST, self._started_balancer, clock=self.clock)
            return self._lb_host

    def host(self, name: str) -> SimulatedHost:
        """A demo host by name: a GPU node's, or the balancer lb-0 (made on first use)."""
        if name == LB_HOST:
            return self.lb_host()
        return self.hosts[name]

    # ---- blue-green (issue 13) ---------------------------------------------------
    def inject_green_fault(self, kind: str) -> list[str]:
        """Make the green colour's model servers fail, now and when the wizard
        starts them later, so a newcomer sees the gate roll a switch back:
        "5xx" (a 500 to every completion once a server has answered
        GREEN_5XX_AFTER: warmup passes, /health stays 200, and the fault shows
        under the traffic of the 90/10 or 50/50 step), "wrong" (200 with a
        completion that differs from blue's), "slow" (0.6 s more per request,
        real time, over the gate's 500 ms P99), "none" clears. The addresses
        of the green servers running now."""
        if kind not in GREEN_FAULTS:
            raise ValueError(f"green fault {kind!r}: expected one of {', '.join(GREEN_FAULTS)}")
        scale = float(getattr(self.clock, "time_scale", 1.0) or 1.0)
        return self.model_servers.inject_colour_fault(
            "green", fail_after=GREEN_5XX_AFTER if kind == "5xx" else None, bad_reply=kind == "wrong",
            latency_s=SLOW_GREEN_S * scale if kind == "slow" else 0.0)   # simulated seconds

    def balancer_section(self) -> dict:
        """The site file's `balancer:` section for this demo: lb-0, its
        balancer's loopback URL, the include file and upstream block its
        nginx (nginx_host.py) reads."""
        from .nginx_host import INCLUDE, UPSTREAM
        return {"host": LB_HOST, "url": self.balancer().url, "upstream": UPSTREAM, "include": INCLUDE,
                "nginx": "nginx"}

    def bluegreen_section(self) -> dict:
        """The site file's `bluegreen:` section for this demo (the contract's
        shape, parsed by actions/bluegreen/spec.py): deepseek-v3 in mode
        nginx on the balancer, each colour's upstream servers as running now
        (green's: none until the wizard has made them)."""
        pool = self.model_servers
        by_colour = {c: sorted(f"{ip}:{pool.port}" for ip in pool.addresses() if pool.colour(ip) == c)
                     for c in ("blue", "green")}
        return {"model": so.MODEL, "mode": "nginx", **by_colour,
                "steps": [[100, 0], [90, 10], [50, 50], [0, 100]],
                # shorter than a site's (20 s, 60 s), so a newcomer's whole switch takes about two minutes
                "gate": {"window_s": 10, "min_requests": 50, "success_rate": 0.99, "p99_ms": 500},
                "drain_s": 10}

    def bluegreen_site(self) -> Site:
        """The demo as a site file with only its balancer: and bluegreen:
        sections, what the blue-green wizard reads (`dsconsole bluegreen
        --demo`, `:bluegreen`)."""
        import msgspec

        from console.site_config import BalancerConfig, BlueGreenConfig, Site
        return Site(name="demo", balancer=msgspec.convert(self.balancer_section(), BalancerConfig),
                    bluegreen=msgspec.convert(self.bluegreen_section(), BlueGreenConfig))

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._balancer is not None:
            self._balancer.stop()
        if self.churn is not None:
            self.churn.stop()
        if self.traffic is not None:
            self.traffic.stop()
        self.server.stop()
        self.cluster.stop()
        self.model_servers.stop()
        if self._own_kubeconfig_dir:
            try:
                os.unlink(self.kubeconfig_path)
                os.rmdir(self._own_kubeconfig_dir)
            except OSError:
                pass

    def __enter__(self) -> DemoSite:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_demo_site(nodes: int = 8, gpus_per_node: int = 8, replicas: int | None = None, port: int = 0,
                    kubeconfig: str | os.PathLike | None = None, time_scale: float = 1.0, seed: int = 0,
                    model_load_s: float = 60.0, frozen: bool = False, hosts: bool = True,
                    churn: float = 0.0, traffic: bool = True, churn_visible: float = 0.0,
                    green_fault: str | None = None) -> DemoSite:
    """Build and start a demo site; call .stop() when done (or use `with`).
    churn > 0: the model-server pods change at that many per real second
    (see churn.PodChurn), a steady stream of watch MODIFIED events;
    churn_visible (0..1) of them also bump a restartCount (shown in tables).
    traffic: light synthetic requests to the model servers (demo_traffic.py),
    so GPU utilisation follows load; never with frozen=True.
    green_fault: a fault the blue-green wizard's green servers get
    (DemoSite.inject_green_fault)."""
    if green_fault is not None and green_fault not in GREEN_FAULTS:
        raise ValueError(f"green fault {green_fault!r}: expected one of {', '.join(GREEN_FAULTS)}")
    site = DemoSite(nodes=nodes, gpus_per_node=gpus_per_node, replicas=replicas, port=port,
                    kubeconfig=kubeconfig, time_scale=time_scale, seed=seed, model_load_s=model_load_s,
                    frozen=frozen, hosts=hosts, churn=churn, traffic=traffic,
                    churn_visible=churn_visible).start()
    if green_fault is not None:
        site.inject_green_fault(green_fault)
    return site
