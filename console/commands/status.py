"""`dsconsole status [--site FILE | --kubeconfig PATH | --demo] [--json]`.

Prints one snapshot of what the overview shows (nodes, model-server pods, GPUs,
alerts) and exits: 0 when the cluster could be read, 1 when not, 2 on bad input.
"""
from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from console.site_session import SiteSession
    from console.snapshot import Snapshot
    from console.telemetry.sample import GpuSample

# the options of console/cli.py SITE_OPTIONS this command uses
SITE_OPTIONS = ("site", "kubeconfig", "context")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--demo", action="store_true",
                        help="start the embedded demo site, wait for its pods, print, stop")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--timeout", type=float, default=20.0, metavar="S",
                        help="how long to wait for the cluster (default 20 s)")
    parser.add_argument("--namespace", metavar="NS", help="namespace of the model servers (default deepseek)")


def run(args: argparse.Namespace) -> int:
    import time

    from console.site_session import SessionError, SiteSession
    if args.timeout <= 0:
        print("dsconsole status: --timeout must be greater than 0", file=sys.stderr)
        return 2
    try:
        session = SiteSession.from_args(args)
    except SessionError as e:
        print(str(e), file=sys.stderr)
        return 2
    # Telemetry and probes are for the live dashboard; status wants one round.
    session.probes = False
    with session:
        deadline = time.monotonic() + args.timeout
        synced = session.wait_synced(args.timeout)
        if synced and session.is_demo:
            _wait_demo_pods(session, deadline)
        if synced and session.poller is not None:
            _wait_gpus(session, min(deadline, time.monotonic() + 5.0))
        if synced and session.alerts is not None:
            session.alerts.evaluate()
        session.refresh()
        snap = session.snapshot()
    import json
    text = json.dumps(to_json(session, snap), indent=2) if args.json else render_text(session, snap)
    try:
        print(text, flush=True)
    except BrokenPipeError:   # `dsconsole status | head`: not an error of ours
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0 if synced and snap.synced else 1


def _wait_demo_pods(session: SiteSession, deadline: float) -> None:
    """The demo's pods take a moment to be scheduled and turn Ready: wait (bounded)."""
    import time
    while time.monotonic() < deadline:
        session.refresh()
        snap = session.snapshot()
        deps = snap.deployments
        if snap.pods and deps and all(d.ready >= d.replicas for d in deps) \
                and all(p.ready for p in snap.pods):
            return
        time.sleep(0.1)


def _wait_gpus(session: SiteSession, deadline: float) -> None:
    import time
    while time.monotonic() < deadline:
        gpus = session.poller.snapshot() if session.poller is not None else {}
        if gpus and all(s.latest is not None for s in gpus.values()):
            return
        time.sleep(0.05)


def to_json(session: SiteSession, snap: Snapshot) -> dict[str, Any]:
    from console.redact import redact
    def sample(s: GpuSample) -> dict[str, Any]:
        return {"index": s.index, "util_pct": s.util_pct, "mem_used_mib": s.mem_used_mib,
                "mem_total_mib": s.mem_total_mib, "temp_c": s.temp_c, "power_w": s.power_w,
                "health_flags": list(s.health_flags)}

    gpus = {}
    for host, st in sorted(snap.gpus.items()):
        latest = st.latest
        gpus[host] = {"state": latest.state if latest else "pending", "last_ok": st.last_ok,
                      "error": latest.error if latest else None,
                      "gpus": [sample(s) for s in latest.samples] if latest else []}
    return {
        "site": session.title, "demo": session.is_demo, "context": session.context,
        "namespace": session.namespace, "time": snap.time, "api_ok": snap.api_ok,
        "api_error": redact(snap.api_error), "last_update": snap.last_update, "synced": snap.synced,
        "nodes": [{"name": n.name, "ready": n.ready, "cordoned": n.cordoned, "gpu_alloc": n.gpu_alloc,
                   "gpu_cap": n.gpu_cap, "pods": n.pods} for n in snap.nodes],
        "pods": [{"namespace": p.namespace, "name": p.name, "phase": p.phase, "status": p.status,
                  "ready": p.ready, "restarts": p.restarts, "node": p.node, "created": p.created,
                  "version": p.version} for p in snap.pods],
        "pod_total": snap.pod_total,
        "gpus": gpus,
        "alerts": [{"severity": a.severity, "kind": a.kind, "target": a.target, "message": a.message,
                    "since": a.since} for a in snap.alerts],
    }


def render_text(session: SiteSession, snap: Snapshot) -> str:
    import time

    from console.redact import redact
    from console.safe_text import visible_text
    now = time.time()
    age = snap.age(now)
    api = "reachable" if snap.api_ok else f"UNREACHABLE ({redact(snap.api_error)})"
    lines = [f"site {session.title}  context {session.context}  namespace {session.namespace}",
             f"API {api}" + (f", newest data {age:.1f}s old" if age is not None else ", no data")]
    ready = sum(1 for n in snap.nodes if n.ready)
    alloc = sum(n.gpu_alloc for n in snap.nodes)
    cap = sum(n.gpu_cap for n in snap.nodes)
    lines.append(f"\nNODES {ready}/{len(snap.nodes)} ready, GPUs {alloc}/{cap} allocated")
    for n in snap.nodes[:50]:
        state = ("Ready" if n.ready else "NotReady") + (",SchedulingDisabled" if n.cordoned else "")
        lines.append(f"  {n.name:<24} {state:<28} gpu {n.gpu_alloc}/{n.gpu_cap}  pods {n.pods}")
    if len(snap.nodes) > 50:
        lines.append(f"  ... {len(snap.nodes) - 50} more")
    lines.append(f"\nPODS in {session.namespace}: {len(snap.pods)} ({snap.pod_total} in all namespaces)")
    for p in snap.pods[:50]:
        lines.append(f"  {p.name:<40} {p.status:<18} {p.ready_containers:<5} restarts {p.restarts:<3} "
                     f"{p.node or '-':<20} {p.version or ''}")
    if len(snap.pods) > 50:
        lines.append(f"  ... {len(snap.pods) - 50} more")
    lines.append(f"\nGPUS {len(snap.gpus)} host(s)")
    for host, st in sorted(snap.gpus.items()):
        latest = st.latest
        if latest is None:
            lines.append(f"  {host:<24} pending")
        elif latest.state != "ok":
            lines.append(f"  {host:<24} {latest.state}: {latest.error or ''}")
        else:
            utils = [s.util_pct for s in latest.samples if s.util_pct is not None]
            avg = sum(utils) / len(utils) if utils else 0.0
            flags = sorted({f for s in latest.samples for f in s.health_flags})
            lines.append(f"  {host:<24} {len(latest.samples)} GPUs, util avg {avg:.0f}%"
                         + (f"  {' '.join(flags)}" if flags else ""))
    lines.append(f"\nALERTS {len(snap.alerts)}")
    for a in snap.alerts:
        lines.append(f"  {a.severity:<8} {a.kind:<15} {a.target:<30} {a.message}")
    # names, reasons and messages come from the cluster and the hosts
    return visible_text("\n".join(lines))
