"""A model-server pod's phase on its way to serving, read from its status,
its events and its server's log lines, and the likely cause when it stalls.

Phases: pending -> scheduled -> image present -> loading weights ->
compiling -> ready. A stall names its cause: FailedScheduling, an image
missing on an air-gapped node, OOMKilled, probe failures, a model path
without weights, CUDA out of memory (with the allocator advice)."""
from __future__ import annotations

from dataclasses import dataclass

PHASES = ("pending", "scheduled", "image present", "loading weights", "compiling", "ready")
ALLOC_ADVICE = ("CUDA out of memory: lower the GPU memory fraction or --max-num-seqs, or set "
                "PYTORCH_CUDA_ALLOC_CONF=max_split_size_mb:128 against fragmentation")


@dataclass(frozen=True)
class PodProgress:
    name: str
    phase: str
    restarts: int = 0
    cause: str | None = None       # a stall's likely cause: the rollout cannot succeed as is

    @property
    def fraction(self) -> float:
        return PHASES.index(self.phase) / (len(PHASES) - 1)

    def line(self) -> str:
        bar = "#" * PHASES.index(self.phase) + "." * (len(PHASES) - 1 - PHASES.index(self.phase))
        return f"{self.name} [{bar}] {self.phase}" + (f" (restarts {self.restarts})" if self.restarts else "") \
            + (f": {self.cause}" if self.cause else "")


def _ready(pod: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or ())


def pod_progress(pod: dict, events: list[dict], log: str) -> PodProgress:
    name = pod["metadata"]["name"]
    st = pod.get("status") or {}
    css = st.get("containerStatuses") or []
    restarts = max((c.get("restartCount", 0) for c in css), default=0)
    reasons = [e.get("reason", "") for e in events]
    messages = {e.get("reason", ""): e.get("message", "") for e in events}
    cause = None
    for c in css:
        waiting = (c.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in ("ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull"):
            cause = f"image {c.get('image')} missing on the node and no registry to pull it from"
        last = (c.get("lastState") or {}).get("terminated") or {}
        if last.get("reason") == "OOMKilled":
            cause = "OOMKilled: the container memory limit is too small for loading the weights"
    if "CUDA out of memory" in log or "OutOfMemoryError" in log:
        cause = ALLOC_ADVICE
    elif "No such file or directory" in log and restarts:
        missing = log[log.index("No such file or directory"):].splitlines()[0]
        cause = f"the model path has no weights on the node ({missing.strip()}); check model_path"
    if not pod.get("spec", {}).get("nodeName"):
        if "FailedScheduling" in reasons:
            cause = f"FailedScheduling: {messages['FailedScheduling']}"
        return PodProgress(name, "pending", restarts, cause)
    if _ready(pod):
        return PodProgress(name, "ready", restarts, None)
    if cause is None and restarts >= 3 and "Unhealthy" in reasons:
        cause = f"probe failures: {messages['Unhealthy']}"
    running = any("running" in (c.get("state") or {}) for c in css)
    if not running:
        return PodProgress(name, "scheduled", restarts, cause)
    if "torch.compile" in log or "cudagraph" in log.lower():
        return PodProgress(name, "compiling", restarts, cause)
    if "Loading" in log:
        return PodProgress(name, "loading weights", restarts, cause)
    return PodProgress(name, "image present", restarts, cause)
