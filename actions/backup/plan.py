"""The backup plan: per copy (a HostPlan named after the copy), one step per
source, then the check that the set is complete. `params`: {"site": site file, "set": set id,
"copies": [names]}: enough to rebuild the same plan in another process
(resume); the password is read again from its file or variable, never kept."""
from __future__ import annotations

from console.backup.context import BackupContext
from console.backup.password import read_password
from console.hosts.transport import Transport
from console.site_config import load_site

from ..plan import HostPlan, Plan
from ..step import Step
from .steps import BackupSourceStep, CompleteStep, CopyMemo


def build_plan(transports: dict[str, Transport], params: dict) -> Plan:
    site = load_site(params["site"])
    if site.backup is None:   # the site file lost its backup: section since the run began
        raise ValueError(f"{site.path}: no backup: section")
    ctx = BackupContext(site, read_password(site.backup), transports)
    # rebuilt from a journal: the set may be partly in the repositories
    return plan_for(ctx, params["set"], params.get("copies"), new_set=False)


def plan_for(ctx: BackupContext, set_id: str, copies: list[str] | None = None, *,
             new_set: bool = True) -> Plan:
    """`new_set`: `set_id` was just made (console.backup.sets.new_set_id), so
    no repository holds any of it yet."""
    chosen = [ctx.copy(n) for n in copies] if copies else list(ctx.cfg.copies)
    plan = Plan("backup", f"Backup {ctx.name}", {"site": ctx.site.path, "set": set_id,
                                                  "copies": [c.name for c in chosen]})
    for copy in chosen:
        memo = CopyMemo(new_set=new_set)
        memo.of = len(ctx.cfg.sources)
        steps: list[Step] = [BackupSourceStep(ctx, copy, src, set_id, memo) for src in ctx.cfg.sources]
        steps.append(CompleteStep(ctx, copy, set_id, memo))
        plan.hosts.append(HostPlan(copy.name, ctx.transport(copy.host), steps))
    return plan
