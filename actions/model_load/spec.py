"""What the model-load wizard deploys: one model's inputs (site file
`models:` entry, overridden by CLI flags) with the deployment guide's serving
settings as defaults. JSON-able (`to_params`), so the journal rebuilds the plan."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

FLAVOURS = ("vllm", "sglang")
DTYPES = {"fp8": 1.0, "bf16": 2.0, "fp16": 2.0}   # bytes per parameter
WARM_LABEL = "dsconsole.io/warm"
MODEL_LABEL = "dsconsole.io/model"


@dataclass(frozen=True)
class ModelSpec:
    name: str = "deepseek-v3"
    image: str = "vllm/vllm-openai:v0.8.5"
    model_path: str = "/models/deepseek-v3"       # host path on the nodes, or pvc:NAME[/sub/path]
    flavour: str = "vllm"
    extra_args: tuple[str, ...] = ()
    params_b: float = 671.0                        # parameters, billions
    dtype: str = "fp8"
    replicas: int = 1
    gpus_per_replica: int = 8
    tensor_parallel: int = 8
    gpu_memory_gib: float = 0.0                    # 0: read from the nodes (nvidia.com/gpu.memory label)
    memory: str = "512Gi"                          # container memory limit
    namespace: str = "deepseek"
    port: int = 8000
    kv_reserve_gib: float = 0.0                    # 0: 10 % of the weights per replica
    memory_fraction: float = 0.8                   # guide: GPU memory fraction
    max_batch: int = 128                           # guide: dynamic batching
    max_wait_ms: int = 50
    alloc_conf: str = "max_split_size_mb:128"      # guide: PYTORCH_CUDA_ALLOC_CONF
    compile_cache: str = "pvc:compile-cache"       # pvc:NAME or a host path
    startup_budget_s: int = 1800                   # startupProbe budget: a cold load + compile
    warmup_batches: tuple[int, ...] = (1, 8)
    warmup_prompt_lens: tuple[int, ...] = (128, 1024)
    settle_k: int = 3                              # settled: the last k latencies ...
    settle_pct: float = 10.0                       # ... within this % of each other
    warmup_max_requests: int = 20                  # per shape, before giving up
    warmup_parallel: int = 4                       # pods warmed at once
    registry: str = ""                             # an in-site registry (the image may be pulled)
    rollout_timeout_s: float = 1800.0
    labels: dict = field(default_factory=dict)
    served_name: str = ""                          # the model name clients ask for (default: name);
                                                   # the blue-green colours serve their model's name

    def __post_init__(self) -> None:
        problems = []
        if self.flavour not in FLAVOURS:
            problems.append(f"flavour: expected one of {', '.join(FLAVOURS)}, got {self.flavour!r}")
        if self.dtype not in DTYPES:
            problems.append(f"dtype: expected one of {', '.join(DTYPES)}, got {self.dtype!r}")
        for name in ("replicas", "gpus_per_replica", "tensor_parallel", "settle_k", "warmup_parallel"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < (0 if name == "replicas" else 1):
                problems.append(f"{name}: expected a positive integer, got {v!r}")
        if not 0 < self.memory_fraction <= 1:
            problems.append(f"memory_fraction: expected 0 < x <= 1, got {self.memory_fraction!r}")
        if isinstance(self.tensor_parallel, int) and isinstance(self.gpus_per_replica, int) \
                and self.tensor_parallel > self.gpus_per_replica:
            problems.append(f"tensor_parallel {self.tensor_parallel} exceeds gpus_per_replica {self.gpus_per_replica}")
        if not self.name or not all(c.isalnum() or c == "-" for c in self.name) or self.name != self.name.lower():
            problems.append(f"name: expected a DNS label (lower-case letters, digits, -), got {self.name!r}")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def weight_bytes(self) -> float:
        return self.params_b * 1e9 * DTYPES[self.dtype]

    @property
    def served_model_name(self) -> str:
        return self.served_name or self.name

    @property
    def selector(self) -> dict:
        return {"app.kubernetes.io/name": self.name, MODEL_LABEL: self.name}

    @property
    def shapes(self) -> list[tuple[int, int]]:
        return [(b, p) for b in self.warmup_batches for p in self.warmup_prompt_lens]

    def to_params(self) -> dict:
        d = asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d

    @classmethod
    def from_params(cls, params: dict | None) -> ModelSpec:
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for k, v in (params or {}).items():
            if k in known:
                values[k] = tuple(v) if isinstance(v, list) else v
        return cls(**values)


# Models the wizard knows by name (used when the site file has no entry):
# DeepSeek-V3/R1 671B in FP8 take a whole 8-GPU node per replica; the 14B
# distill in BF16 one GPU.
PRESETS: dict[str, dict] = {
    "deepseek-v3": {"model_path": "/models/deepseek-v3", "params_b": 671.0, "dtype": "fp8",
                    "gpus_per_replica": 8, "tensor_parallel": 8, "memory": "512Gi"},
    "deepseek-r1": {"model_path": "/models/deepseek-r1", "params_b": 671.0, "dtype": "fp8",
                    "gpus_per_replica": 8, "tensor_parallel": 8, "memory": "512Gi"},
    "deepseek-r1-distill-qwen-14b": {"model_path": "/models/deepseek-r1-distill-qwen-14b", "params_b": 14.8,
                                     "dtype": "bf16", "gpus_per_replica": 1, "tensor_parallel": 1,
                                     "memory": "64Gi"},
}


def spec_for(name: str, site_model: object | None = None, **overrides: Any) -> ModelSpec:
    """The spec of model `name`: its preset, then the site file's entry, then
    the command line's overrides (None: not given)."""
    values: dict[str, Any] = {"name": name, **PRESETS.get(name, {})}
    if site_model is not None:
        for f in fields(ModelSpec):
            v = getattr(site_model, f.name, None)
            if v is not None:
                values[f.name] = v
    values.update({k: v for k, v in overrides.items() if v is not None})
    return ModelSpec(**values)
