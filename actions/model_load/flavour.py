"""The guide's serving settings mapped onto a server flavour's own flags and
environment, with a plain note where the flavour has no equivalent."""
from __future__ import annotations

from dataclasses import dataclass

from .spec import ModelSpec


@dataclass(frozen=True)
class ServerCommand:
    args: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    notes: tuple[str, ...]          # settings with no equivalent in this flavour
    mapping: tuple[str, ...]        # "setting -> flag" lines for the preview


def server_command(spec: ModelSpec) -> ServerCommand:
    env = [("PYTORCH_CUDA_ALLOC_CONF", spec.alloc_conf)]
    if spec.flavour == "vllm":
        args = ["--model", model_dir(spec),
                "--port", str(spec.port), "--served-model-name", spec.served_model_name,
                "--tensor-parallel-size", str(spec.tensor_parallel),
                "--gpu-memory-utilization", f"{spec.memory_fraction:g}",
                "--max-num-seqs", str(spec.max_batch)]
        mapping = [f"max batch {spec.max_batch} -> --max-num-seqs {spec.max_batch}",
                   f"tensor parallel {spec.tensor_parallel} -> --tensor-parallel-size {spec.tensor_parallel}",
                   f"GPU memory fraction {spec.memory_fraction:g} -> --gpu-memory-utilization {spec.memory_fraction:g}",
                   f"allocator -> PYTORCH_CUDA_ALLOC_CONF={spec.alloc_conf}"]
        notes = [f"vLLM has no batching wait: max wait {spec.max_wait_ms} ms is not applied "
                 "(its scheduler batches continuously)"]
    else:
        args = ["python3", "-m", "sglang.launch_server", "--model-path", model_dir(spec),
                "--port", str(spec.port), "--host", "0.0.0.0", "--served-model-name", spec.served_model_name,
                "--tp-size", str(spec.tensor_parallel),
                "--mem-fraction-static", f"{spec.memory_fraction:g}",
                "--max-running-requests", str(spec.max_batch),
                # SGLang compiles only when asked (vLLM does by default), and
                # serves /metrics only when asked (the warmup reads it)
                "--enable-torch-compile", "--enable-metrics"]
        mapping = [f"max batch {spec.max_batch} -> --max-running-requests {spec.max_batch}",
                   f"tensor parallel {spec.tensor_parallel} -> --tp-size {spec.tensor_parallel}",
                   f"GPU memory fraction {spec.memory_fraction:g} -> --mem-fraction-static {spec.memory_fraction:g}",
                   f"allocator -> PYTORCH_CUDA_ALLOC_CONF={spec.alloc_conf}",
                   "torch.compile -> --enable-torch-compile (off by default in SGLang)"]
        notes = [f"SGLang has no batching wait: max wait {spec.max_wait_ms} ms is not applied "
                 "(its scheduler batches continuously)",
                 "SGLang does not read VLLM_CACHE_ROOT: its compiled graphs persist through "
                 "TORCHINDUCTOR_CACHE_DIR and TRITON_CACHE_DIR only"]
    return ServerCommand(tuple(args) + tuple(spec.extra_args), tuple(env), tuple(notes), tuple(mapping))


def model_dir(spec: ModelSpec) -> str:
    """Where the weights are inside the pod: a host path is mounted at the
    same path; a PVC at /models/<name>."""
    if spec.model_path.startswith("pvc:"):
        sub = spec.model_path[4:].partition("/")[2]
        return f"/models/{spec.name}" + (f"/{sub}" if sub else "")
    return spec.model_path
