"""The objects a demo site starts with: nodes shaped like H200 GPU nodes, the
namespaces, system DaemonSets, the model-server Deployment `deepseek-v3-blue`
(model deepseek-v3, colour blue, as the model-load and blue-green wizards
leave it), its Service and PodDisruptionBudget `deepseek-v3`, and on 8-GPU
nodes a second, small model beside it. Pure builders: no store access."""
from __future__ import annotations

from dataclasses import dataclass

from .load_physics import TOY_SHAPE_ANNOTATION
from .node_lifecycle import HEALTHY

NAMESPACE = "deepseek"
# the blue-green and model-load wizards' labels (actions/bluegreen/spec.py, actions/model_load/spec.py)
COLOUR_LABEL = "dsconsole.io/colour"
BLUEGREEN_LABEL = "dsconsole.io/bluegreen"
MODEL_LABEL = "dsconsole.io/model"
WARM_LABEL = "dsconsole.io/warm"
MODEL = "deepseek-v3"            # the model blue-green switches: its Service and PDB are named so
DEPLOYMENT = f"{MODEL}-blue"     # the version in service, as the blue-green wizard names a colour
APP_LABEL = "deepseek-server"
MODEL_PATH = "/models/deepseek-v3"
IMAGE = "vllm/vllm-openai:v0.8.5"
GPU_PRODUCT = "NVIDIA-H200"
MODEL_PORT = 8000  # in templates; pods get the model-server pool's port
# weights on every node's local disk: DeepSeek-V3/R1 671B (FP8, one replica =
# 8 GPUs of an H200 node), a 14B distill (BF16, one GPU) and a 13B model
MODEL_PATHS = ("/models/deepseek-v3", "/models/deepseek-r1", "/models/deepseek-r1-distill-qwen-14b",
               "/models/deepseek-13b")
SGLANG_IMAGE = "lmsysorg/sglang:v0.4.6-cu124"
NEXT_IMAGE = "vllm/vllm-openai:v0.9.0"   # preloaded for the next rollout (blue-green)
COMPILE_CACHE_PVC = "compile-cache"
H200_NODE_GPUS = 8   # an HGX H200 board: what a 671B replica takes (tensor parallel 8)


@dataclass(frozen=True)
class DemoModel:
    """A model the demo site serves, sized as it would be on H200 nodes
    (141 GB each): a DeepSeek-V3/R1 671B replica in FP8 holds 671 GB of
    weights, an eighth per GPU with tensor parallel 8, so it takes a whole
    node; a 14B distill in BF16 (30 GB) fits one GPU. vLLM reserves
    gpu_memory_fraction of each GPU it uses (weights + KV cache), which is
    what nvidia-smi shows as used."""
    deployment: str
    service: str                  # the model's Service and PodDisruptionBudget
    colour: str | None            # blue-green colour of the Deployment (None: not switched by blue-green)
    app: str                      # the pods' `app` label (one Service per model)
    model_path: str
    gpus: int                     # per replica, all on one node
    tensor_parallel: int
    memory: str                   # container memory (host RAM: weights are staged through it)
    cpu: str
    gpu_memory_fraction: float


V3_671B = DemoModel(DEPLOYMENT, MODEL, "blue", APP_LABEL, MODEL_PATH, gpus=8, tensor_parallel=8,
                    memory="512Gi", cpu="64", gpu_memory_fraction=0.9)
R1_14B = DemoModel("deepseek-r1-14b", "deepseek-r1-14b", None, "deepseek-r1-14b-server",
                   "/models/deepseek-r1-distill-qwen-14b", gpus=1,
                   tensor_parallel=1, memory="64Gi", cpu="8", gpu_memory_fraction=0.9)
# nodes with fewer than 8 GPUs cannot hold a 671B replica: on such (test-sized)
# sites the deepseek-v3-blue Deployment keeps one GPU per pod, a toy shape
SMALL_NODE_V3 = DemoModel(DEPLOYMENT, MODEL, "blue", APP_LABEL, MODEL_PATH, gpus=1, tensor_parallel=1,
                          memory="64Gi", cpu="8", gpu_memory_fraction=0.9)
SYSTEM_DAEMONSETS = (  # (name, image): what a GPU node runs besides the model
    ("kube-proxy", "registry.k8s.io/kube-proxy:v1.37.0"),
    ("nvidia-device-plugin-daemonset", "nvcr.io/nvidia/k8s-device-plugin:v0.17.1"),
    ("nvidia-dcgm-exporter", "nvcr.io/nvidia/k8s/dcgm-exporter:4.2.3-4.1.3-ubuntu22.04"),
    ("node-exporter", "quay.io/prometheus/node-exporter:v1.9.1"),
)


def node_name(i: int) -> str:
    return f"gpu-node-{i:04d}"


def namespace(name: str, created: str) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "creationTimestamp": created,
                         "labels": {"kubernetes.io/metadata.name": name}},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}


def node(i: int, gpus: int, created: str, now: str) -> dict:
    name = node_name(i)
    ip = f"10.0.{i // 250}.{i % 250 + 1}"
    cap = {"cpu": "192", "memory": "2113638400Ki", "pods": "110", "ephemeral-storage": "7499362556Ki",
           "hugepages-1Gi": "0", "hugepages-2Mi": "0", "nvidia.com/gpu": str(gpus)}
    alloc = dict(cap, cpu="191", memory="2113126400Ki", **{"ephemeral-storage": "6911470683412"})
    conds = []
    for t in ("MemoryPressure", "DiskPressure", "PIDPressure", "Ready"):
        status, reason, msg = HEALTHY[t]
        conds.append({"type": t, "status": status, "lastHeartbeatTime": now, "lastTransitionTime": created,
                      "reason": reason, "message": msg})
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "creationTimestamp": created,
                         "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                    "kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
                                    "beta.kubernetes.io/arch": "amd64",
                                    "node.kubernetes.io/instance-type": "gpu-h200-8x",
                                    "topology.kubernetes.io/zone": f"zone-{'abc'[i % 3]}",
                                    "nvidia.com/gpu.product": GPU_PRODUCT, "nvidia.com/gpu.count": str(gpus),
                                    "nvidia.com/gpu.memory": "143771"},
                         "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                                         "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
            "spec": {"podCIDR": f"10.244.{i % 256}.0/24", "podCIDRs": [f"10.244.{i % 256}.0/24"]},
            "status": {"capacity": cap, "allocatable": alloc, "conditions": conds,
                       # what an air-gapped node has preloaded (there is no registry to pull from)
                       "images": [{"names": [img], "sizeBytes": size} for img, size in (
                           (IMAGE, 9_861_238_118), (NEXT_IMAGE, 10_122_734_910), (SGLANG_IMAGE, 11_204_017_542),
                           *((im, 60_000_000) for _n, im in SYSTEM_DAEMONSETS))],
                       "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
                       "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                       "nodeInfo": {"machineID": f"{i:032x}", "systemUUID": f"4c4c4544-0000-1000-8000-{i:012x}",
                                    "bootID": f"{i * 7919:08x}-0000-4000-8000-000000000000",
                                    "kernelVersion": "5.15.0-126-generic", "osImage": "Ubuntu 22.04.5 LTS",
                                    "containerRuntimeVersion": "containerd://2.0.5", "kubeletVersion": "v1.37.0",
                                    "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64"}}}


def daemonset(name: str, image: str, created: str) -> dict:
    labels = {"app.kubernetes.io/name": name}
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": name, "namespace": "kube-system", "creationTimestamp": created, "labels": labels},
            "spec": {"selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"hostNetwork": name in ("kube-proxy", "node-exporter"),
                                           "priorityClassName": "system-node-critical",
                                           "containers": [{
                                               "name": name, "image": image,
                                               "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}},
                     "updateStrategy": {"type": "RollingUpdate",
                                        "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
                     "revisionHistoryLimit": 10},
            "status": {}}


def colour_labels(model: str, colour: str) -> dict[str, str]:
    """The labels the blue-green wizard gives a colour's Deployment and pods
    (actions/bluegreen/spec.py colour_spec: the model-load selector of
    `<model>-<colour>`, the model, the colour). Spelled here as sim/ imports
    nothing of actions/; tests/test_sim_lb.py checks they agree."""
    name = f"{model}-{colour}"
    return {"app.kubernetes.io/name": name, MODEL_LABEL: name, BLUEGREEN_LABEL: model, COLOUR_LABEL: colour}


def model_deployment(replicas: int, model_port: int, created: str, *, version: str = "blue",
                     name: str | None = None, model_path: str | None = None,
                     model: DemoModel = SMALL_NODE_V3, colour: str | None = None) -> dict:
    """A model's Deployment. With a colour (the model's own, else `colour`)
    its pods carry the blue-green wizard's labels and are marked warm: the
    demo's story is that the model-load wizard deployed and warmed them."""
    colour = colour or model.colour
    name = name or (f"{model.service}-{colour}" if colour else model.deployment)
    model_path = model_path or model.model_path
    labels = {"app": model.app, "version": version}
    selector = dict(labels)
    if colour:
        labels.update(colour_labels(model.service, colour), **{WARM_LABEL: "true"})
        selector = {k: labels[k] for k in ("app.kubernetes.io/name", MODEL_LABEL)}
    args = ["--model", model_path, "--port", str(model_port),
            "--gpu-memory-utilization", f"{model.gpu_memory_fraction:g}"]
    if model.tensor_parallel > 1:
        args += ["--tensor-parallel-size", str(model.tensor_parallel)]
    gpus = str(model.gpus)
    annotations = {"dsconsole.io/model-port": str(model_port)}
    if model is SMALL_NODE_V3:
        annotations[TOY_SHAPE_ANNOTATION] = "true"
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": NAMESPACE, "creationTimestamp": created,
                         "labels": dict(labels)},
            "spec": {"replicas": replicas, "selector": {"matchLabels": selector},
                     "template": {
                         "metadata": {"labels": dict(labels), "annotations": annotations},
                         "spec": {"nodeSelector": {"nvidia.com/gpu.product": GPU_PRODUCT},
                                  "containers": [{
                                      "name": "vllm", "image": IMAGE,
                                      "args": args,
                                      "env": [{"name": "MODEL_PATH", "value": model_path}],
                                      "ports": [{"name": "http", "containerPort": model_port, "protocol": "TCP"}],
                                      "resources": {"limits": {"nvidia.com/gpu": gpus, "memory": model.memory},
                                                    "requests": {"nvidia.com/gpu": gpus, "memory": model.memory,
                                                                 "cpu": model.cpu}},
                                      "readinessProbe": {"httpGet": {"path": "/health", "port": model_port},
                                                         "periodSeconds": 10, "failureThreshold": 3},
                                  }]}},
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
                     "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600},
            "status": {}}


def model_service(created: str, model: DemoModel = SMALL_NODE_V3, cluster_ip: str = "10.96.100.10") -> dict:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": model.service, "namespace": NAMESPACE, "creationTimestamp": created,
                         "labels": {"app": model.app}},
            "spec": {"type": "ClusterIP", "clusterIP": cluster_ip, "clusterIPs": [cluster_ip],
                     "selector": {"app": model.app, "version": "blue"}, "sessionAffinity": "None",
                     "ports": [{"name": "http", "port": MODEL_PORT, "targetPort": "http", "protocol": "TCP"}]},
            "status": {"loadBalancer": {}}}


def compile_cache_pvc(created: str) -> dict:
    """The ReadWriteMany volume the model servers keep their compile caches on."""
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": COMPILE_CACHE_PVC, "namespace": NAMESPACE, "creationTimestamp": created},
            "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "200Gi"}},
                     "storageClassName": "nfs", "volumeMode": "Filesystem", "volumeName": "pv-compile-cache"},
            "status": {"phase": "Bound", "accessModes": ["ReadWriteMany"], "capacity": {"storage": "200Gi"}}}


def model_pdb(created: str, model: DemoModel = SMALL_NODE_V3) -> dict:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": model.service, "namespace": NAMESPACE, "creationTimestamp": created},
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": model.app}}},
            "status": {}}
