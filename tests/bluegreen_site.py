"""The demo site with a blue version serving, for the blue-green wizard's
tests: the model-load wizard's own steps deploy `<model>-blue` (rollout
watched, pods warmed and labelled warm) and the Service selects blue, as a
site looks after a `dsconsole model apply` of the version in service."""
from __future__ import annotations

from pathlib import Path

MODEL = "deepseek-r1-distill-qwen-14b"
NS = "deepseek"


def bluegreen_spec(**gate):
    from actions.bluegreen.spec import BlueGreenSpec, Gate
    from actions.model_load.spec import spec_for
    return BlueGreenSpec(model=spec_for(MODEL, replicas=1), mode="service",
                         gate=Gate(**{"window_s": 2.0, "min_requests": 10, **gate}), drain_s=1.0)


def deploy_blue(kube, spec) -> None:
    """Blue up, warm, and the Service on blue (the model-load steps, run directly)."""
    from actions.bluegreen.service_switch import colour_service
    from actions.model_load import manifests
    from actions.model_load.steps import RolloutStep, WarmupStep
    from actions.step import BeforeState
    blue = spec.colour("blue")
    for obj in manifests.workload(blue):
        kube.apply(obj)
    RolloutStep(kube, blue).apply(BeforeState())
    WarmupStep(kube, blue).apply(BeforeState())
    kube.apply(colour_service(spec, "blue"))


def site_file(path: Path, kubeconfig, context: str, *, window_s: float = 2, drain_s: float = 1,
              p99_ms: float = 500) -> Path:
    path.write_text(f"""name: bg-test
cluster:
  kubeconfig: {kubeconfig}
  context: {context}
models:
  - name: {MODEL}
    replicas: 1
bluegreen:
  model: {MODEL}
  mode: service
  gate: {{window_s: {window_s}, min_requests: 10, success_rate: 0.99, p99_ms: {p99_ms}}}
  drain_s: {drain_s}
""")
    return path
