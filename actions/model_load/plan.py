"""Builds the model-load plan on the cluster target. Registered as wizard
"model-load" in actions.plan.WIZARDS; params are ModelSpec.to_params()."""
from __future__ import annotations

from console.hosts.transport import Transport
from console.kube.client import KubeHttp

from ..plan import CLUSTER, HostPlan, Plan
from ..step import Step
from . import manifests
from .spec import ModelSpec
from .steps import (
    ApplyObjects,
    CompileCacheCheck,
    FitCheck,
    GpuCapacityCheck,
    HostTuningCheck,
    ImageCheck,
    RolloutStep,
    WarmupStep,
)

WIZARD = "model-load"


def steps_for(kube: KubeHttp, spec: ModelSpec, hosts: dict[str, Transport] | None = None) -> list[Step]:
    return [FitCheck(kube, spec), GpuCapacityCheck(kube, spec), ImageCheck(kube, spec),
            CompileCacheCheck(kube, spec), HostTuningCheck(kube, spec, hosts or {}),
            ApplyObjects(kube, spec, "apply.workload", "Deployment and PodDisruptionBudget",
                         manifests.workload(spec)),
            RolloutStep(kube, spec), WarmupStep(kube, spec),
            ApplyObjects(kube, spec, "apply.service", "Service (warm pods only)", [manifests.service(spec)])]


def build_plan(transports: dict, params: dict | None = None) -> Plan:
    spec = ModelSpec.from_params(params)
    kube = transports[CLUSTER]
    hosts = {n: t for n, t in transports.items() if n != CLUSTER}
    return Plan(WIZARD, f"Model load: {spec.name}", spec.to_params(),
                [HostPlan(CLUSTER, kube, steps_for(kube, spec, hosts))])
