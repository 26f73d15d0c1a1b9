"""The kubelets of all simulated nodes: start bound pods (Pending -> Running,
pod IP, container statuses), start each model-server pod's simulated server
(ModelServerPool, reachable at status.podIP), assign GPU indices, and run
readiness probes against the server: a pod turns Ready only once its model
has loaded and /health answers 200; a Ready pod whose server turns unhealthy
turns NotReady. Also writes container logs and drives GPU load in the fleet."""
from __future__ import annotations

import hashlib
import os
import time
import zlib

from . import load_physics, pod_termination
from .controllers.base import Controller, key_of, pod_ready, set_condition
from .quantities import pod_request
from .resources import BY_PLURAL
from .scheduler import GPU, node_ready
from .site_objects import COLOUR_LABEL

PODS = BY_PLURAL["pods"]
MODEL_PORT_ANNOTATION = "dsconsole.io/model-port"
GPU_INDEX_ANNOTATION = "dsconsole.io/gpu-indices"
VLLM_MEM_FRACTION = 0.9   # vLLM's default gpu_memory_utilization
H200_MEM_MIB = 143771
SWEEP_MIN_REAL_S = 0.5
SWEEP_CPU_SHARE_DIVISOR = 20


def model_path(pod: dict) -> str | None:
    """A pod is a model server when a container sets MODEL_PATH."""
    for c in pod["spec"].get("containers") or ():
        for e in c.get("env") or ():
            if e.get("name") == "MODEL_PATH" and e.get("value"):
                return e["value"]
    return None


def gpu_memory_fraction(pod: dict) -> float:
    """The share of each GPU the server reserves (weights + KV cache), from its
    arguments as vLLM (--gpu-memory-utilization) or SGLang (--mem-fraction-static)
    take it; vLLM's default otherwise."""
    for c in pod["spec"].get("containers") or ():
        args = [*(c.get("command") or ()), *(c.get("args") or ())]
        for i, a in enumerate(args):
            flag, eq, val = a.partition("=")
            if flag in ("--gpu-memory-utilization", "--mem-fraction-static"):
                try:
                    return min(1.0, max(0.0, float(val if eq else args[i + 1])))
                except (ValueError, IndexError):
                    break
    return VLLM_MEM_FRACTION


def pod_colour(pod: dict) -> str | None:
    """The blue-green colour of a pod (its server sends it as X-Dsconsole-Colour):
    its colour label only, so a model blue-green does not switch (the demo's
    14B, version label "blue") is no colour's upstream."""
    return ((pod.get("metadata") or {}).get("labels") or {}).get(COLOUR_LABEL)


def bind_model_port(pod: dict, port: int) -> None:
    """Point the pod at its simulated server: all model servers listen on the
    pool's one port (routed by pod IP), whatever port the template names."""
    pod["metadata"].setdefault("annotations", {})[MODEL_PORT_ANNOTATION] = str(port)
    for c in pod["spec"].get("containers") or ():
        for p in c.get("ports") or ():
            if p.get("name") == "http" or len(c["ports"]) == 1:
                p["containerPort"] = port


def readiness_period(pod: dict, default: float) -> float:
    for c in pod["spec"].get("containers") or ():
        p = c.get("readinessProbe")
        if p:
            return float(p.get("periodSeconds", 10))
    return default


_CONDITION_ORDER = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")


def running_status(pod: dict, *, node: dict | None, pod_ip: str, now: str, ready: bool,
                   host_ip: str = "") -> dict:
    """The status of a pod whose containers run (Ready or not yet). A
    condition keeps its lastTransitionTime unless its status changes."""
    old = pod.get("status") or {}
    prev = {c.get("type"): c for c in old.get("conditions") or ()}
    unready = "" if ready else f"containers with unready status: [{_names(pod)}]"
    conds = []
    for t in _CONDITION_ORDER:
        status = "True" if ready or t not in ("Ready", "ContainersReady") else "False"
        p = prev.get(t)
        c = {"type": t, "status": status, "lastProbeTime": None,
             "lastTransitionTime": p["lastTransitionTime"] if p and p.get("status") == status else now}
        if status == "False":
            c["reason"], c["message"] = "ContainersNotReady", unready
        conds.append(c)
    prev_cs = {c["name"]: c for c in old.get("containerStatuses") or ()}
    md = pod["metadata"]
    statuses = []
    for c in pod["spec"].get("containers") or ():
        p = prev_cs.get(c["name"]) or {}
        started_at = ((p.get("state") or {}).get("running") or {}).get("startedAt", now)
        cid = p.get("containerID") or "containerd://" + hashlib.sha256(
            f"{md.get('namespace', '')}/{md.get('name', '')}/{md.get('uid', '')}/{c['name']}".encode()).hexdigest()
        statuses.append({"name": c["name"], "state": {"running": {"startedAt": started_at}},
                         "lastState": {}, "ready": ready, "restartCount": p.get("restartCount", 0),
                         "image": c.get("image", ""), "imageID": f"{c.get('image', '')}@sha256:" + "0" * 64,
                         "containerID": cid, "started": True})
    return {"phase": "Running", "conditions": conds, "hostIP": host_ip,
            "hostIPs": [{"ip": host_ip}] if host_ip else [], "podIP": pod_ip, "podIPs": [{"ip": pod_ip}],
            "startTime": old.get("startTime", now), "containerStatuses": statuses,
            "qosClass": old.get("qosClass", "Burstable")}


def cs_restarts(pod: dict) -> int:
    return max((cs.get("restartCount", 0) for cs in (pod.get("status") or {}).get("containerStatuses") or ()),
               default=0)


def _names(pod: dict) -> str:
    return " ".join(c["name"] for c in pod["spec"].get("containers") or ())


def node_ip(node: dict | None) -> str:
    for a in ((node or {}).get("status") or {}).get("addresses") or ():
        if a.get("type") == "InternalIP":
            return a.get("address", "")
    return ""


def overlay_ip(k: tuple[str, str]) -> str:
    """A stable pod-network address for a pod that serves nothing."""
    h = zlib.crc32(f"{k[0]}/{k[1]}".encode()) & 0xFFFF
    return f"10.244.{h >> 8}.{(h & 0xFF) or 1}"


class Kubelet(Controller):
    def __init__(self, cluster):
        super().__init__(cluster)
        self.pool = cluster.pool
        self.fleet = cluster.fleet
        self.starting: set = set()             # pod keys with a start timer
        self.probing: dict[tuple, str] = {}    # model pods not yet Ready: key -> uid
        self.ips: dict[tuple, str] = {}        # pod key -> pool IP
        self.gpu_idx: dict[str, dict[int, tuple]] = {}  # node -> gpu index -> pod key
        self.pod_gpus: dict[tuple, tuple[str, list[int]]] = {}
        self.mem_fraction: dict[tuple, float] = {}   # model pod -> share of each of its GPUs reserved
        self.node_ok: dict[str, bool] = {}
        self.pending_on: dict[str, set] = {}   # node -> bound pods waiting for it to be Ready
        self.terminating: set = set()          # pods with a deletionTimestamp, removal scheduled
        self.pulling: dict[tuple, str] = {}    # pods whose image is not on their node: key -> uid
        # what the periodic sweep needs, kept from pod events (no store reads)
        self.node_of: dict[tuple, str] = {}
        self.ready: dict[tuple, bool] = {}
        self.util: dict[tuple, float] = {}
        self._sweep_cost_s = 0.0  # CPU seconds of the last sweep (spaces the next one)
        self._sweep_armed = False

    def resync(self) -> None:
        for n in self.store.values("nodes"):
            self.node_ok[n["metadata"]["name"]] = node_ready(n)
        for p in self.store.values("pods"):
            self._pod(p, "ADDED")
        self._arm_sweep()

    def adopt(self, pod: dict, ip: str | None, gpus: list[int]) -> None:
        """Record a pod the demo site built already running (bootstrap)."""
        k = key_of(pod)
        node = pod["spec"]["nodeName"]
        if ip:
            self.ips[k] = ip
            self.node_of[k] = node
            self.ready[k] = pod_ready(pod)
        self.mem_fraction[k] = gpu_memory_fraction(pod)
        if gpus:
            self.pod_gpus[k] = (node, gpus)
            for i in gpus:
                self.gpu_idx.setdefault(node, {})[i] = k

    def on_event(self, ev) -> None:
        if ev is None:
            return
        if ev.res == "nodes":
            name = ev.obj["metadata"]["name"]
            if ev.type == "DELETED":
                self.node_ok.pop(name, None)
                return
            ok = node_ready(ev.obj)
            was = self.node_ok.get(name)
            self.node_ok[name] = ok
            if ok and not was:
                for k in self.pending_on.pop(name, ()):
                    p = self.store.get("pods", *k)
                    if p is not None:
                        self._pod(p, "MODIFIED")
        elif ev.res == "pods":
            self._pod(ev.obj, ev.type)

    def _pod(self, pod: dict, type_: str) -> None:
        k = key_of(pod)
        if type_ == "DELETED":
            self._teardown(k, pod)
            return
        node = pod["spec"].get("nodeName")
        if k in self.ips:
            self.node_of[k] = node
            self.ready[k] = pod_ready(pod)
        if pod["metadata"].get("deletionTimestamp"):
            if k not in self.terminating:
                self.terminating.add(k)
                self.probing.pop(k, None)
                self.cluster.recorder.record(pod, "Normal", "Killing", "Stopping container "
                                             + pod["spec"]["containers"][0]["name"], "kubelet", node)
                pod_termination.finish_later(self.cluster, pod)
            return
        phase = (pod.get("status") or {}).get("phase")
        if not node or phase != "Pending" or k in self.starting or k in self.pulling:
            return
        if not self.node_ok.get(node):
            self.pending_on.setdefault(node, set()).add(k)
            return
        self.starting.add(k)
        uid = pod["metadata"]["uid"]
        self.cluster.after(self.cluster.container_start_s, lambda: self._start(k, uid))

    def _teardown(self, k, pod) -> None:
        self.starting.discard(k)
        self.terminating.discard(k)
        self.pulling.pop(k, None)
        self.node_of.pop(k, None)
        self.ready.pop(k, None)
        self.util.pop(k, None)
        self.probing.pop(k, None)
        self.mem_fraction.pop(k, None)
        ip = self.ips.pop(k, None)
        if ip and self.pool is not None:
            self.pool.remove(ip)
        node_gpus = self.pod_gpus.pop(k, None)
        if node_gpus:
            node, idx = node_gpus
            held = self.gpu_idx.get(node, {})
            for i in idx:
                if held.get(i) == k:
                    del held[i]
            self.push_models(node)
        self.cluster.logs.close(*k)

    def _alloc_gpus(self, node: str, k, n: int) -> list[int]:
        held = self.gpu_idx.setdefault(node, {})
        idx = [i for i in range(64) if i not in held][:n]
        for i in idx:
            held[i] = k
        self.pod_gpus[k] = (node, idx)
        return idx

    def push_models(self, node: str) -> None:
        if self.fleet is None or node not in self.fleet:
            return
        held = self.gpu_idx.get(node, {})
        self.fleet.set_models(node, {i: H200_MEM_MIB * self.mem_fraction.get(held[i], VLLM_MEM_FRACTION)
                                     for i in held if self.ips.get(held[i])})

    def _start(self, k, uid: str) -> None:
        self.starting.discard(k)
        pod = self.store.get("pods", *k)
        if pod is None or pod["metadata"]["uid"] != uid or (pod.get("status") or {}).get("phase") != "Pending":
            return
        node_name = pod["spec"]["nodeName"]
        if not self.node_ok.get(node_name):
            self.pending_on.setdefault(node_name, set()).add(k)
            return
        node = self.store.get("nodes", "", node_name)
        host_ip = node_ip(node)
        model = model_path(pod)
        image = (pod["spec"].get("containers") or [{}])[0].get("image", "")
        if model and not load_physics.image_on_node(node, image):
            self.pulling[k] = uid
            self._pull_failed(k, uid, image, overlay_ip(k), host_ip, 0)
            return
        now = self.clock.timestamp()
        gpus = int(pod_request(pod, GPU))
        idx = self._alloc_gpus(node_name, k, gpus) if gpus else []
        model_missing = model is not None and not self._model_exists(model)
        if model and self.pool is not None and not model_missing:
            ip = self.pool.allocate_ip()
            self.pool.add(ip, k[1], os.path.basename(model.rstrip("/")), node_name,
                          load_s=self.cluster.model_load_s, colour=pod_colour(pod))
            self.ips[k] = ip
            self.mem_fraction[k] = gpu_memory_fraction(pod)
        elif pod["spec"].get("hostNetwork"):
            ip = host_ip
        else:
            ip = overlay_ip(k)
        ready = not model
        status = running_status(pod, node=node, pod_ip=ip, now=now, ready=ready, host_ip=host_ip)

        def fn(obj):
            if obj["metadata"]["uid"] != uid:
                return False
            obj["status"] = status
            if model and self.pool is not None:
                bind_model_port(obj, self.pool.port)
            if idx:
                obj["metadata"].setdefault("annotations", {})[GPU_INDEX_ANNOTATION] = ",".join(map(str, idx))
        if self.store.modify(PODS, *k, fn) is None:
            self._teardown(k, pod)
            return
        self.push_models(node_name)
        for c in pod["spec"].get("containers") or ():
            self.recorder.record(pod, "Normal", "Pulled",
                                 f'Container image "{c.get("image")}" already present on machine', "kubelet", node_name)
            self.recorder.record(pod, "Normal", "Created", f"Created container: {c['name']}", "kubelet", node_name)
            self.recorder.record(pod, "Normal", "Started", f"Started container {c['name']}", "kubelet", node_name)
        self._startup_logs(k, model)
        if model_missing:
            self.cluster.after(self.cluster.container_start_s, lambda: self._missing_model(k, uid, model))
        elif model and not self._load_fault(k, uid, pod, model):
            self.probing[k] = uid
            first = max(self.cluster.model_load_s, 0.0)
            self._phase_logs(k, uid, first)
            self.cluster.after(first, lambda: self._probe(k, uid))

    # ---- how a model server fails to start (load_physics.py) --------------------
    def _pull_failed(self, k, uid: str, image: str, pod_ip: str, host_ip: str, attempt: int) -> None:
        """The image is not on the node and there is no registry: ErrImagePull,
        then ImagePullBackOff, retried with the kubelet's back-off (10 s doubling
        to 300 s), as the real kubelet reports it."""
        pod = self.store.get("pods", *k)
        if pod is None or pod["metadata"]["uid"] != uid or self.pulling.get(k) != uid:
            return
        node = pod["spec"].get("nodeName")
        err = load_physics.pull_error(image)
        self.recorder.record(pod, "Normal", "Pulling", f'Pulling image "{image}"', "kubelet", node)
        self.recorder.record(pod, "Warning", "Failed", f'Failed to pull image "{image}": {err}', "kubelet", node)
        self.recorder.record(pod, "Warning", "Failed", "Error: ErrImagePull", "kubelet", node)
        self._set_waiting(k, uid, "ErrImagePull", err, pod_ip, host_ip)
        backoff = min(300.0, 10.0 * 2 ** attempt)

        def back_off():
            p = self.store.get("pods", *k)
            if p is None or self.pulling.get(k) != uid:
                return
            self.recorder.record(p, "Normal", "BackOff", f'Back-off pulling image "{image}"', "kubelet", node)
            self.recorder.record(p, "Warning", "Failed", "Error: ImagePullBackOff", "kubelet", node)
            self._set_waiting(k, uid, "ImagePullBackOff", f'Back-off pulling image "{image}": ErrImagePull: {err}',
                              pod_ip, host_ip)
            self.cluster.after(backoff, lambda: self._pull_failed(k, uid, image, pod_ip, host_ip, attempt + 1))
        self.cluster.after(self.cluster.container_start_s, back_off)

    def _set_waiting(self, k, uid: str, reason: str, message: str, pod_ip: str, host_ip: str) -> None:
        """A pod whose container cannot be created: phase Pending, its sandbox up
        (pod IP), the container waiting with the reason."""
        now = self.clock.timestamp()

        def fn(obj):
            if obj["metadata"]["uid"] != uid:
                return False
            st = obj.setdefault("status", {})
            conds = st.setdefault("conditions", [])
            unready = f"containers with unready status: [{_names(obj)}]"
            for t in ("PodReadyToStartContainers", "Initialized", "PodScheduled"):
                set_condition(conds, t, "True", now, "", "")
            set_condition(conds, "Ready", "False", now, "ContainersNotReady", unready)
            set_condition(conds, "ContainersReady", "False", now, "ContainersNotReady", unready)
            st.update(phase="Pending", hostIP=host_ip, hostIPs=[{"ip": host_ip}] if host_ip else [],
                      podIP=pod_ip, podIPs=[{"ip": pod_ip}], startTime=st.get("startTime", now))
            st["containerStatuses"] = [
                {"name": c["name"], "state": {"waiting": {"reason": reason, "message": message}},
                 "lastState": {}, "ready": False, "restartCount": 0, "image": c.get("image", ""), "imageID": "",
                 "started": False} for c in obj["spec"].get("containers") or ()]
        self.store.modify(PODS, *k, fn)

    def _load_fault(self, k, uid: str, pod: dict, model: str) -> bool:
        """Schedule the way this container dies while loading, if it must: the
        OOM killer (host memory over the limit) or CUDA out of memory (its share
        of the weights over the GPU memory it may use). True when one is due."""
        load_s = max(self.cluster.model_load_s, 0.0)
        short = load_physics.host_memory_shortfall(pod, model)
        if short is not None:
            def oom():
                if self._alive(k, uid):
                    self.cluster.logs.append(*k, "INFO Loading safetensors checkpoint shards: 37% Completed")
                    self.crash(k, exit_code=137, reason="OOMKilled")
            self.cluster.after(load_s * 0.3, oom)
            return True
        line = load_physics.cuda_oom_line(pod, model, self.mem_fraction.get(k, VLLM_MEM_FRACTION))
        if line is not None:
            def cuda_oom():
                if self._alive(k, uid):
                    self.cluster.logs.append(*k, line)
                    self.crash(k, exit_code=1, reason="Error")
            self.cluster.after(load_s * 0.45, cuda_oom)
            return True
        return False

    def _alive(self, k, uid: str) -> bool:
        pod = self.store.get("pods", *k)
        return (pod is not None and pod["metadata"]["uid"] == uid and not pod["metadata"].get("deletionTimestamp")
                and (pod.get("status") or {}).get("phase") == "Running")

    def _model_exists(self, model: str) -> bool:
        """Whether the weights are on the node (cluster.model_paths: None = anywhere)."""
        paths = getattr(self.cluster, "model_paths", None)
        return paths is None or model.rstrip("/") in paths

    def _phase_logs(self, k, uid: str, load_s: float) -> None:
        """The server's log through a cold start, as vLLM writes it: weights,
        torch.compile, CUDA graphs (what the wizard's progress view reads)."""
        steps = ((0.45, "INFO Loading weights took {t:.2f} seconds"),
                 (0.5, "INFO torch.compile: compiling the model graph (dynamo + inductor)"),
                 (0.85, "INFO torch.compile takes {t:.2f} s in total"),
                 (0.9, "INFO Capturing cudagraphs for decoding"))

        def line(text, t):
            pod = self.store.get("pods", *k)
            if pod is not None and pod["metadata"]["uid"] == uid and self.probing.get(k) == uid:
                self.cluster.logs.append(*k, text.format(t=t))
        for frac, text in steps:
            self.cluster.after(load_s * frac, lambda text=text, t=load_s * frac: line(text, t))

    def _missing_model(self, k, uid: str, model: str | None) -> None:
        """A model path with no weights: the server exits at start, over and
        over (CrashLoopBackOff), and never turns Ready."""
        pod = self.store.get("pods", *k)
        if pod is None or pod["metadata"]["uid"] != uid or (pod.get("status") or {}).get("phase") != "Running":
            return
        self.cluster.logs.append(*k, f"ERROR FileNotFoundError: [Errno 2] No such file or directory: "
                                     f"'{(model or '').rstrip('/')}/config.json'")
        self.crash(k, exit_code=1, reason="Error")


    def _startup_logs(self, k, model: str | None) -> None:
        log = self.cluster.logs
        log.reopen(*k)
        if model:
            log.append(*k, f"INFO vLLM API server version 0.8.5 (dsconsole simulator) starting, model={model}")
            log.append(*k, f"INFO Loading model weights from {model}")
        else:
            log.append(*k, "INFO started")

    def _probe(self, k, uid: str) -> None:
        """Readiness probe of a model pod that is not Ready yet."""
        if self.probing.get(k) != uid:
            return
        pod = self.store.get("pods", *k)
        if pod is None or pod["metadata"]["uid"] != uid:
            self.probing.pop(k, None)
            return
        ip = self.ips.get(k)
        node = pod["spec"].get("nodeName")
        if ip and self.pool.healthy(ip) and self.node_ok.get(node):
            self.probing.pop(k, None)
            self._set_ready(pod, True)
            self.cluster.logs.append(*k, "INFO Application startup complete.")
            self.cluster.logs.append(*k, f"INFO Uvicorn running on http://{ip}:{self.pool.port}")
        else:
            self.cluster.after(readiness_period(pod, self.cluster.probe_period_s), lambda: self._probe(k, uid))

    def _unhealthy(self, k, pod: dict) -> None:
        self._set_ready(pod, False)
        node = pod["spec"].get("nodeName")
        self.recorder.record(pod, "Warning", "Unhealthy",
                             "Readiness probe failed: HTTP probe failed with statuscode: 503", "kubelet", node)
        uid = pod["metadata"]["uid"]
        self.probing[k] = uid
        self.cluster.after(readiness_period(pod, self.cluster.probe_period_s), lambda: self._probe(k, uid))

    def crash(self, k, exit_code: int = 137, reason: str = "Error") -> None:
        """The pod's container dies and is restarted in place: restartCount+1,
        lastState terminated, NotReady until its model has loaded again."""
        pod = self.store.get("pods", *k)
        if pod is None or (pod.get("status") or {}).get("phase") != "Running":
            raise KeyError(f"no running pod {k[0]}/{k[1]}")
        now = self.clock.timestamp()
        uid = pod["metadata"]["uid"]

        def fn(obj):
            for cs in obj["status"].get("containerStatuses") or ():
                started = ((cs.get("state") or {}).get("running") or {}).get("startedAt", now)
                cs["lastState"] = {"terminated": {"exitCode": exit_code, "reason": reason,
                                                  "startedAt": started, "finishedAt": now,
                                                  "containerID": cs.get("containerID", "")}}
                cs["restartCount"] = cs.get("restartCount", 0) + 1
                cs["state"] = {"running": {"startedAt": now}}
                cs["ready"] = False
            msg = f"containers with unready status: [{_names(obj)}]"
            set_condition(obj["status"]["conditions"], "Ready", "False", now, "ContainersNotReady", msg)
            set_condition(obj["status"]["conditions"], "ContainersReady", "False", now, "ContainersNotReady", msg)
        self.store.modify(PODS, *k, fn)
        node = pod["spec"].get("nodeName")
        for c in pod["spec"].get("containers") or ():
            self.recorder.record(pod, "Warning", "BackOff", f"Back-off restarting failed container {c['name']} "
                                 f"in pod {k[1]}", "kubelet", node)
        ip = self.ips.get(k)
        model = model_path(pod)
        if model and not self._model_exists(model):
            # the log keeps the earlier attempts' errors (read without ?previous=true)
            self.cluster.after(max(self.cluster.container_start_s, 10.0) * min(8, 2 ** cs_restarts(pod)),
                               lambda: self._missing_model(k, uid, model))
        elif ip and model and self.pool is not None:
            self.pool.remove(ip)
            self.pool.add(ip, k[1], os.path.basename(model.rstrip("/")), node, load_s=self.cluster.model_load_s,
                          colour=pod_colour(pod))
            self._startup_logs(k, model)
            if not self._load_fault(k, uid, pod, model):
                self.probing[k] = uid
                self.cluster.after(self.cluster.model_load_s, lambda: self._probe(k, uid))
        else:
            self.cluster.after(self.cluster.container_start_s,
                               lambda: self._set_ready(self.store.get("pods", *k) or pod, True))

    def recheck(self, pod: dict) -> None:
        """Probe a running pod again now (its node came back)."""
        k, uid = key_of(pod), pod["metadata"]["uid"]
        if k in self.ips:
            self.probing[k] = uid
            self._probe(k, uid)
        else:
            self._set_ready(pod, True)

    def _set_ready(self, pod: dict, ready: bool) -> None:
        now = self.clock.timestamp()
        uid = pod["metadata"]["uid"]

        def fn(obj):
            if obj["metadata"]["uid"] != uid or (obj.get("status") or {}).get("phase") != "Running":
                return False
            st = obj["status"]
            conds = st.setdefault("conditions", [])
            msg = "" if ready else f"containers with unready status: [{_names(obj)}]"
            set_condition(conds, "Ready", "True" if ready else "False", now, "" if ready else "ContainersNotReady", msg)
            set_condition(conds, "ContainersReady", "True" if ready else "False", now,
                          "" if ready else "ContainersNotReady", msg)
            for cs in st.get("containerStatuses") or ():
                cs["ready"] = ready
        self.store.modify(PODS, *key_of(pod), fn)

    # ---- periodic sweep: probes of Ready model pods, GPU load -----------------
    def _arm_sweep(self) -> None:
        if self._sweep_armed or self.clock.frozen:
            return
        self._sweep_armed = True
        # every probe period of simulated time, but not more often than
        # SWEEP_MIN_REAL_S of real time (a fast clock on a big site would
        # otherwise spend the CPU on sweeps)
        # A sweep costs CPU per model pod (~20,000 on the scale benchmarks' site),
        # so sweeps are also spaced to use at most 1/SWEEP_CPU_SHARE_DIVISOR of a core.
        min_real_s = max(SWEEP_MIN_REAL_S, self._sweep_cost_s * SWEEP_CPU_SHARE_DIVISOR)
        every = max(self.cluster.probe_period_s, self.clock.time_scale * min_real_s)
        self.cluster.after(every, self._sweep)

    def _sweep(self) -> None:
        """Probe every Ready model pod (in process: pool.healthy) and pass
        its server's load to its GPUs. Touches the store only for changes."""
        self._sweep_armed = False
        if self.pool is None:
            return
        began = time.thread_time()
        healthy, load = self.pool.healthy, self.pool.load
        for k, ip in list(self.ips.items()):
            if k in self.probing:
                continue
            node = self.node_of.get(k)
            if self.ready.get(k) and node is not None and self.node_ok.get(node) and not healthy(ip):
                pod = self.store.get("pods", *k)
                if pod is not None:
                    self._unhealthy(k, pod)
            node_gpus = self.pod_gpus.get(k)
            if self.fleet is not None and node_gpus:
                lo = load(ip)
                util = min(1.0, 0.02 + 0.25 * lo.get("requests_running", 0) + 0.05 * lo.get("requests_per_s", 0))
                if self.util.get(k) != util and node_gpus[0] in self.fleet:
                    self.util[k] = util
                    for i in node_gpus[1]:
                        self.fleet.set_load(node_gpus[0], i, util)
        self._sweep_cost_s = time.thread_time() - began
        self._arm_sweep()
