"""The objects the wizard applies: Deployment (GPU limits, memory,
MODEL_PATH, persistent compile caches, the guide's allocator setting, a
startupProbe whose budget covers a cold load and compile, readiness on
/health, liveness), PodDisruptionBudget and Service. The Service selects the
warm label as well as the model's labels: only pods whose warmup passed get
traffic (the pod template never carries that label, so a new pod starts cold)."""
from __future__ import annotations

from pathlib import Path

from .flavour import model_dir, server_command
from .spec import WARM_LABEL, ModelSpec

CACHE_DIR = "/cache"
CACHE_ENV = (("VLLM_CACHE_ROOT", f"{CACHE_DIR}/vllm"), ("TORCHINDUCTOR_CACHE_DIR", f"{CACHE_DIR}/inductor"),
             ("TRITON_CACHE_DIR", f"{CACHE_DIR}/triton"))
PROBE_PERIOD_S = 10


def _volume(name: str, where: str) -> dict:
    if where.startswith("pvc:"):
        return {"name": name, "persistentVolumeClaim": {"claimName": where[4:].partition("/")[0]}}
    return {"name": name, "hostPath": {"path": where, "type": "Directory"}}


def deployment(spec: ModelSpec) -> dict:
    cmd = server_command(spec)
    labels = {**spec.selector, **spec.labels}
    model_mount = f"/models/{spec.name}" if spec.model_path.startswith("pvc:") else spec.model_path
    env = [{"name": "MODEL_PATH", "value": model_dir(spec)},
           *({"name": k, "value": v} for k, v in CACHE_ENV),
           *({"name": k, "value": v} for k, v in cmd.env)]
    container = {
        "name": "server", "image": spec.image,
        "args": list(cmd.args) if spec.flavour == "vllm" else list(cmd.args[1:]),
        "env": env,
        "ports": [{"name": "http", "containerPort": spec.port, "protocol": "TCP"}],
        "resources": {"limits": {"nvidia.com/gpu": str(spec.gpus_per_replica), "memory": spec.memory},
                      "requests": {"nvidia.com/gpu": str(spec.gpus_per_replica), "memory": spec.memory}},
        "volumeMounts": [{"name": "model", "mountPath": model_mount, "readOnly": True},
                         {"name": "compile-cache", "mountPath": CACHE_DIR},
                         {"name": "dshm", "mountPath": "/dev/shm"}],
        # a cold load + compile may take many minutes: liveness and readiness
        # only start once the startup probe has passed
        "startupProbe": {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": PROBE_PERIOD_S,
                         "failureThreshold": max(1, spec.startup_budget_s // PROBE_PERIOD_S)},
        "readinessProbe": {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": PROBE_PERIOD_S,
                           "failureThreshold": 3},
        "livenessProbe": {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 30,
                          "failureThreshold": 5},
    }
    if spec.flavour == "sglang":
        container["command"] = [cmd.args[0]]
    pod_spec = {
        "containers": [container],
        "volumes": [_volume("model", spec.model_path), _volume("compile-cache", spec.compile_cache),
                    {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "32Gi"}}],
        "terminationGracePeriodSeconds": 60,
    }
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": spec.name, "namespace": spec.namespace, "labels": dict(labels)},
            "spec": {"replicas": spec.replicas, "selector": {"matchLabels": dict(spec.selector)},
                     "strategy": {"type": "RollingUpdate",
                                  "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}},
                     "progressDeadlineSeconds": int(spec.startup_budget_s) + 600,
                     "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec}}}


def pdb(spec: ModelSpec) -> dict:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": spec.name, "namespace": spec.namespace, "labels": dict(spec.selector)},
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": dict(spec.selector)}}}


def service(spec: ModelSpec) -> dict:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": spec.name, "namespace": spec.namespace, "labels": dict(spec.selector)},
            "spec": {"selector": {**spec.selector, WARM_LABEL: "true"},
                     "ports": [{"name": "http", "port": spec.port, "targetPort": "http", "protocol": "TCP"}]}}


def workload(spec: ModelSpec) -> list[dict]:
    """What the apply step applies (before the rollout)."""
    return [deployment(spec), pdb(spec)]


def all_objects(spec: ModelSpec) -> list[dict]:
    return [deployment(spec), pdb(spec), service(spec)]


def key(obj: dict) -> str:
    md = obj["metadata"]
    return f"{obj['kind']}/{md.get('namespace', '')}/{md['name']}"


def to_yaml(objs: list[dict]) -> str:
    import yaml
    return "".join("---\n" + yaml.safe_dump(o, sort_keys=False, default_flow_style=False) for o in objs)


def export(spec: ModelSpec, directory: str | Path) -> list[Path]:
    """One file per object, which `kubectl apply -f DIR` accepts."""
    import yaml
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    out = []
    for n, obj in enumerate(all_objects(spec), 1):
        p = d / f"{n:02d}-{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"
        p.write_text(yaml.safe_dump(obj, sort_keys=False))
        out.append(p)
    return out
