"""What decides, in the simulator, whether a model-server container can start
and load its weights, and how it fails when it cannot (the kubelet acts on it):

- the image must be on the node (node status images): the demo site is
  air-gapped, there is no registry to pull from -> ErrImagePull, then
  ImagePullBackOff, with the kubelet's own event texts;
- the weights staged through host memory must fit the container's memory
  limit -> the kernel's OOM killer ends the container (OOMKilled, exit 137);
- each GPU's share of the weights (weights / tensor parallel) must fit the
  share of the GPU the server may use (--gpu-memory-utilization,
  --mem-fraction-static) -> torch.OutOfMemoryError in the server's log, exit 1.

Weights are known by model path (parameters x bytes per parameter of the
dtype the demo's copies are in). Pure functions: no store access."""
from __future__ import annotations

from .quantities import parse_quantity

GIB = 1024 ** 3
H200_GIB = 143771 / 1024            # what nvidia-smi reports for an H200 (MiB -> GiB)
# weight bytes of the models on the demo's nodes (FP8 for 671B, BF16 otherwise)
WEIGHTS_GIB = {"/models/deepseek-v3": 671e9 * 1 / GIB, "/models/deepseek-r1": 671e9 * 1 / GIB,
               "/models/deepseek-r1-distill-qwen-14b": 14.8e9 * 2 / GIB, "/models/deepseek-13b": 13e9 * 2 / GIB}
# loading reads the safetensors shards through host memory: the process peaks
# at about half the replica's weights (shards in flight) plus the runtime
STAGING_SHARE = 0.5
RUNTIME_GIB = 8.0
# a pod the demo built in a shape that could not run (deepseek-v3 on one GPU
# of a small test node): the simulator does not weigh it
TOY_SHAPE_ANNOTATION = "dsconsole.io/sim-toy-shape"


def image_on_node(node: dict | None, image: str) -> bool:
    names = {n for img in ((node or {}).get("status") or {}).get("images") or () for n in img.get("names") or ()}
    return image in names


def pull_error(image: str) -> str:
    """containerd's message when the image's registry cannot be reached."""
    ref = image if "/" in image.split(":")[0] and "." in image.split("/")[0] else f"docker.io/{image}"
    host = ref.split("/")[0]
    host = "registry-1.docker.io" if host == "docker.io" else host.split(":")[0]
    return (f'failed to pull and unpack image "{ref}": failed to resolve reference "{ref}": '
            f'failed to do request: Head "https://{host}/v2/": dial tcp: lookup {host}: no such host')


def _arg(args: list[str], *flags: str) -> str | None:
    for i, a in enumerate(args):
        flag, eq, val = a.partition("=")
        if flag in flags:
            return val if eq else (args[i + 1] if i + 1 < len(args) else None)
    return None


def _container(pod: dict) -> dict:
    return (pod["spec"].get("containers") or [{}])[0]


def tensor_parallel(pod: dict) -> int:
    c = _container(pod)
    v = _arg([*(c.get("command") or ()), *(c.get("args") or ())], "--tensor-parallel-size", "--tp-size", "--tp")
    try:
        return max(1, int(v)) if v else 1
    except ValueError:
        return 1


def weights_gib(pod: dict, model: str) -> float | None:
    if (pod["metadata"].get("annotations") or {}).get(TOY_SHAPE_ANNOTATION) == "true":
        return None
    return WEIGHTS_GIB.get(model.rstrip("/"))


def host_memory_shortfall(pod: dict, model: str) -> str | None:
    """Why the container would be OOM-killed while loading, or None."""
    w = weights_gib(pod, model)
    limit = ((_container(pod).get("resources") or {}).get("limits") or {}).get("memory")
    if w is None or not limit:
        return None
    need = w * STAGING_SHARE + RUNTIME_GIB
    have = parse_quantity(limit) / GIB
    if need <= have:
        return None
    return f"loading needs about {need:,.0f} GiB of host memory, the limit is {limit}"


def cuda_oom_line(pod: dict, model: str, fraction: float) -> str | None:
    """The server's error when its share of the weights does not fit the GPU
    memory it may use, or None."""
    w = weights_gib(pod, model)
    if w is None:
        return None
    per_gpu = w / tensor_parallel(pod)
    usable = H200_GIB * fraction
    if per_gpu <= usable:
        return None
    free = max(0.0, H200_GIB - usable)
    return (f"ERROR torch.OutOfMemoryError: CUDA out of memory. Tried to allocate {per_gpu - usable + 0.5:.2f} GiB. "
            f"GPU 0 has a total capacity of {H200_GIB:.2f} GiB of which {free:.2f} GiB is free. "
            f"Of the allocated memory {usable:.2f} GiB is allocated by PyTorch. If reserved but unallocated memory "
            "is large try setting PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.")
