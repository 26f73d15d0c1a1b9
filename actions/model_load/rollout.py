"""A model-server pod's phase on its way to serving, read from its status,
its events and its server's log lines, and the likely cause when it stalls.

Phases: pending -> scheduled -> image present -> loading weights ->
compiling -> ready. A stall names its cause: FailedScheduling, an image
missing on an air-gapped node, OOMKilled, probe failures, a model path
without weights, CUDA out of memory (with the allocator advice)."""
from __future__ import annotations

from dataclasses import dataclass

PHASES = ("pending", "scheduled", "image present", "loading weights", "compiling", "ready")
ALLOC_ADVICE = ("CUDA out of memory: the replica's share of the weights does not fit the GPU memory it may use: "
                "raise tensor parallel (more GPUs a replica) or the GPU memory fraction; if it ran out while "
                "serving, lower the max batch (--max-num-seqs); against fragmentation keep "
                "PYTORCH_CUDA_ALLOC_CONF=max_split_size_mb:128 (the guide's setting)")


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


def _memory_limit(pod: dict, container: str | None) -> str | None:
    for c in (pod.get("spec") or {}).get("containers") or ():
        if c.get("name") == container:
            return ((c.get("resources") or {}).get("limits") or {}).get("memory")
    return None


def pod_progress(pod: dict, events: list[dict], log: str) -> PodProgress:
    name = pod["metadata"]["name"]
    st = pod.get("status") or {}
    css = st.get("containerStatuses") or []
    restarts = max((c.get("restartCount", 0) for c in css), default=0)
    reasons = [e.get("reason", "") for e in events]
    messages = {e.get("reason", ""): e.get("message", "") for e in events}
    cause = None
    node = (pod.get("spec") or {}).get("nodeName") or "its node"
    for c in css:
        waiting = (c.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in ("ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull"):
            cause = (f"{waiting['reason']}: image {c.get('image')} is not on {node} and there is no registry "
                     "to pull it from (load it on the node, or configure an in-site registry)")
        last = (c.get("lastState") or {}).get("terminated") or {}
        if last.get("reason") == "OOMKilled":
            limit = _memory_limit(pod, c.get("name"))
            cause = (f"OOMKilled (exit {last.get('exitCode', 137)}): the container memory limit"
                     f"{' ' + limit if limit else ''} is too small for loading the weights; raise memory")
    oom_line = next((ln for ln in log.splitlines() if "CUDA out of memory" in ln or "OutOfMemoryError" in ln), None)
    if oom_line is not None:
        cause = f"{ALLOC_ADVICE} (log: {oom_line.strip()[:240]})"
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
