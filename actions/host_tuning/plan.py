"""Builds the host-tuning plan: per host, the two setting steps then the
report-only checks. Registered as wizard "host-tuning" in actions.plan.WIZARDS."""
from __future__ import annotations

from console.hosts.transport import Transport

from ..plan import HostPlan, Plan
from ..step import Step
from .reports import REPORTS
from .swappiness import SwappinessStep
from .targets import TuningTargets
from .thp import ThpStep

WIZARD = "host-tuning"


def steps_for(host: Transport, targets: TuningTargets) -> list[Step]:
    return [SwappinessStep(host, targets.swappiness),
            ThpStep(host, targets.thp, update_grub=targets.update_grub),
            *(cls(host, targets) for cls in REPORTS)]


def build_plan(transports: dict[str, Transport], params: dict | None = None) -> Plan:
    targets = TuningTargets.from_params(params)
    return Plan(WIZARD, "Host tuning", targets.to_params(),
                [HostPlan(name, t, steps_for(t, targets)) for name, t in transports.items()])
