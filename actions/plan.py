"""Plan: the steps of one wizard, per target, and the registry that rebuilds a
plan from what the journal stored (so resume and rollback work in a new process).

A target is a host (its Transport) or the cluster (the Kubernetes client,
under the target name CLUSTER); a plan may mix both. The journal, the audit
log and the runner treat a target's name like a host's."""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from console.hosts.transport import Transport

from .step import Step

CLUSTER = "cluster"   # the target name of the cluster in plans, journals and audit records


@dataclass
class HostPlan:
    """One target's steps: `host` is its name, `transport` the Transport of a
    host or the Kubernetes client of the cluster (target CLUSTER)."""
    host: str
    transport: Transport
    steps: list[Step]

    def step(self, step_id: str) -> Step | None:
        return next((s for s in self.steps if s.id == step_id), None)


@dataclass
class Plan:
    """`wizard` names the builder in WIZARDS; `params` are JSON-able and,
    with the hosts' transports, rebuild the same plan."""
    wizard: str
    title: str
    params: dict
    hosts: list[HostPlan] = field(default_factory=list)
    # every transport the plan was built with: its hosts', and the ones its
    # steps only reach through (blue-green's balancer host): a rollback or
    # resume rebuilds the plan with them all (`auxiliary`)
    targets: dict[str, Transport] = field(default_factory=dict, repr=False, compare=False)

    @property
    def auxiliary(self) -> dict[str, Transport]:
        """The targets that are no host of the plan."""
        return {k: v for k, v in self.targets.items() if self.host(k) is None}

    @property
    def host_names(self) -> list[str]:
        return [h.host for h in self.hosts]

    def host(self, name: str) -> HostPlan | None:
        return next((h for h in self.hosts if h.host == name), None)


# wizard name -> "module:function(transports: dict[str, Transport], params: dict) -> Plan"
# (a cluster wizard finds its client under transports[CLUSTER])
WIZARDS: dict[str, str] = {
    "host-tuning": "actions.host_tuning.plan:build_plan",
    "model-load": "actions.model_load.plan:build_plan",
    "backup": "actions.backup.plan:build_plan",
    "bluegreen": "actions.bluegreen.plan:build_plan",
}


class UnknownWizard(ValueError):
    pass


def build_plan(wizard: str, transports: dict[str, Transport], params: dict) -> Plan:
    try:
        target = WIZARDS[wizard]
    except KeyError:
        raise UnknownWizard(f"unknown wizard {wizard!r} (known: {', '.join(WIZARDS)})") from None
    module_name, func = target.split(":")
    plan: Plan = getattr(importlib.import_module(module_name), func)(transports, params)
    plan.targets = dict(transports)
    return plan
