"""`dsconsole drill list|run NAME|report RUN|rollback RUN`: disaster-recovery
drills, headless. --demo runs them on an embedded demo site started in this
process (the only place with fault injection: node loss, GPU fault).
Exit codes: 0 the drill completed and met its targets, 1 it deviated, failed
or was aborted, 2 bad input."""
from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Callable
from typing import Any

from console.commands.bad_input import BadInput, run_reporting_bad_input
from console.safe_text import visible

ACTIONS = ("list", "run", "report", "rollback")
SITE_OPTIONS = ("site", "kubeconfig", "context", "read_only", "operator")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from console.commands.arg_types import positive_float
    parser.add_argument("action", choices=ACTIONS, help="list: drills and saved reports; run NAME: run a drill; "
                        "report RUN: print a report; rollback RUN: run an unfinished drill's rollbacks")
    parser.add_argument("name", nargs="?", help="drill name (run) or run id (report, rollback)")
    parser.add_argument("--target", metavar="NAME", help="the node (or pod, for pod-kill) to disrupt")
    parser.add_argument("--demo", action="store_true", help="run on an embedded demo site")
    parser.add_argument("--time-scale", type=positive_float, default=1.0, metavar="X",
                        help="demo site: simulated seconds per real second (default 1)")
    parser.add_argument("--yes", action="store_true", help="confirm the blast radius without asking")
    parser.add_argument("--copy", metavar="NAME", help="restore drill: the backup copy to restore from "
                        "(default: the site file's first copy)")
    parser.add_argument("--confirm-node", metavar="NAME",
                        help="node-loss on a real site: the node whose kubelet is stopped, named to confirm it")
    parser.add_argument("--allow-production", action="store_true",
                        help="allow a drill on a context the site file marks production (cluster.production)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    from console.kube.client import ApiUnreachable, KubeApiError
    from console.kube.kubeconfig import KubeConfigError
    return run_reporting_bad_input("drill", _run, args, also=(KubeConfigError, ApiUnreachable, KubeApiError))


def _cluster(args: Any) -> tuple:
    """(ops, faults, site name, context, time scale, demo site or None, production)."""
    from actions.drills.cluster_ops import ClusterOps
    from console.kube.client import KubeHttp
    from console.kube.kubeconfig import resolve
    if args.demo:
        from actions.drills.faults import DemoFaults
        from console.sim.demo_site import start_demo_site
        site = start_demo_site(nodes=4, gpus_per_node=4, time_scale=args.time_scale, traffic=False)
        ops = ClusterOps(KubeHttp(resolve(str(site.kubeconfig_path))), namespace=site.namespace)
        return ops, DemoFaults(site), "demo", site.context, args.time_scale, site, False
    namespace, kubeconfig, context, name = "deepseek", getattr(args, "kubeconfig", None), args.context, None
    production, faults = False, None
    if getattr(args, "site", None):
        from console.site_config import load_site
        site_cfg = load_site(args.site)
        namespace, name = site_cfg.cluster.namespace, site_cfg.name
        kubeconfig = kubeconfig or site_cfg.cluster.kubeconfig
        context = context or site_cfg.cluster.context
        production = site_cfg.cluster.production
        if site_cfg.hosts:
            faults = _host_faults(site_cfg.hosts)
    target = resolve(kubeconfig, context)
    return (ClusterOps(KubeHttp(target), namespace=namespace), faults, name,
            getattr(target, "context", context), 1.0, None, production)


def _host_faults(hosts: tuple) -> Any:
    """Node loss through the node's host: its Transport made on first use."""
    from actions.drills.host_faults import HostFaults
    made: dict = {}

    def transport_for(h: Any) -> Any:
        if not made:
            from console.hosts.ssh import transports_for_hosts
            made.update(transports_for_hosts(hosts))
        return made[h.name]
    return HostFaults(hosts, transport_for)


def _node_confirmed(args: Any, node: str, how: str) -> str:
    """A real node stops: --confirm-node NAME, or its name typed at the prompt."""
    from actions.drills.confirm import node_refusal
    if args.confirm_node is not None:
        if args.confirm_node != node:
            raise BadInput(node_refusal(node, args.confirm_node))
        return node
    if how.startswith("typed"):     # the blast radius prompt took the node's name
        return node
    raise BadInput(node_refusal(node, None))


def _confirm(args: Any, names: list[str], what: str) -> str | None:
    if args.yes:
        return "--yes"
    if not sys.stdin.isatty():
        raise BadInput("a drill needs a confirmation: run it in a terminal or pass --yes")
    print(f"{what}\nType the target's name ({', '.join(names)}) to confirm: ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline().strip()
    return f"typed {answer!r}" if answer and answer in names else None


def _announce_unfinished(args: Any) -> None:
    from actions.drills import store
    for u in store.unfinished():
        print(f"unfinished drill {u['run_id']} ({u['drill']}): {len(u['pending'])} rollback(s) not run; "
              f"run them: dsconsole drill rollback {u['run_id']}", file=sys.stderr)


def _run(args: Any) -> int:
    from actions.drills import store
    from actions.drills.catalog import DRILLS, OTHER_DRILLS, DrillRefused
    if args.action == "list":
        reports = store.reports()
        if args.json:
            print(json.dumps({"drills": list(DRILLS) + list(OTHER_DRILLS),
                              "reports": [{k: r.get(k) for k in ("run_id", "drill", "status", "deviated")}
                                          for r in reports]}, indent=2))
            return 0
        for d in DRILLS.values():
            print(f"{d.name:<12} {d.title}")
        for n, title in OTHER_DRILLS.items():
            print(f"{n:<12} {title}")
        print("\nreports:" if reports else "\nno reports yet")
        for r in reports:
            print(f"  {r['run_id']}  {r['drill']:<12} {r['status']}{' (deviated)' if r['deviated'] else ''}")
        _announce_unfinished(args)
        return 0
    if not args.name:
        raise BadInput(f"{args.action} needs a {'drill name' if args.action == 'run' else 'run id'}")
    if args.action == "report":
        try:
            r = store.load_report(args.name)
        except FileNotFoundError as e:
            raise BadInput(str(e)) from None
        from actions.drills.report import render_markdown
        print(json.dumps(r, indent=2) if args.json else render_markdown(r))
        return 0
    if getattr(args, "read_only", False):
        raise BadInput(f"read-only session: drill {args.action} refused (started with --read-only)")
    if args.action == "run" and args.name == "restore":
        return _restore(args)
    if args.action == "run" and args.name == "lb-upstream-loss":
        return _lb_loss(args)
    if args.action == "run" and args.name not in DRILLS:
        raise BadInput(f"unknown drill {args.name!r}; expected one of {', '.join([*DRILLS, *OTHER_DRILLS])}")
    if args.action == "rollback" and _drill_of(args.name) == "lb-upstream-loss":
        return _lb_rollback(args)
    ops, faults, site_name, context, scale, demo, production = _cluster(args)
    try:
        if args.action == "rollback":
            try:
                done = store.rollback_run(args.name, ops, faults)
            except FileNotFoundError:
                raise BadInput(f"no drill run {args.name} in {store.drills_dir()}") from None
            return _print_rollbacks(done)
        return _drill(args, ops, faults, site_name, context, scale, production)
    except DrillRefused as e:
        raise BadInput(str(e)) from None
    finally:
        if demo is not None:
            demo.stop()


def _production_ok(args: Any, site_name: str | None, context: str | None) -> bool:
    """The extra confirmation of a production site: --allow-production, or
    the context's name typed at a terminal; refused (exit 2) otherwise."""
    from actions.drills.confirm import accepts_production, production_prompt, production_refusal
    if args.allow_production:
        return True
    if args.yes or not sys.stdin.isatty():
        raise BadInput(production_refusal(site_name, context))
    print(production_prompt(site_name, context), end="", file=sys.stderr, flush=True)
    return accepts_production(site_name, context, sys.stdin.readline())


def _drill(args: Any, ops: Any, faults: Any, site_name: str | None, context: str | None,
           scale: float, production: bool = False) -> int:
    from actions.drills.engine import DrillRun
    from console.audit import AuditLog
    _announce_unfinished(args)

    show = _event_printer(args)
    operator = getattr(args, "operator", None)
    drill = DrillRun(args.name, ops, faults=faults, site=site_name, context=context, time_scale=scale,
                     production=production, operator=operator, on_event=show,
                     audit=AuditLog(operator=operator, site=site_name))
    # production first: refused before the cluster is even looked at
    if production and not _production_ok(args, site_name, context):
        print("production not confirmed: nothing changed", file=sys.stderr)
        return 1
    radius = drill.plan(args.target)
    how = _confirm(args, radius.names, f"Drill {args.name} will disrupt {radius.describe()}.")
    if how is None:
        print("not confirmed: nothing changed", file=sys.stderr)
        return 1
    confirmed_node = None
    if drill.stops_real_node:
        confirmed_node = _node_confirmed(args, radius.nodes[0], how)
        how += f", node {confirmed_node} named"
    if production:
        how += ", production allowed" + (" (--allow-production)" if args.allow_production else " (typed)")
    # Ctrl-C (and SIGTERM) abort the drill; its rollbacks still run
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: drill.abort())
    report = drill.run(radius, how, production_confirmed=production, confirmed_node=confirmed_node)
    return _print_report(args, report)


def _restore(args: Any) -> int:
    """The restore drill (actions/drills/restore.py) on a site file's backup copy."""
    from actions.drills.restore import RestoreDrill
    from console.backup.context import BackupContext
    from console.backup.password import PasswordError, read_password
    from console.site_config import load_site
    if args.demo:      # the demo's local 3-2-1 setup (`dsconsole backup run --demo` fills it)
        from console.backup.demo import demo_site_file
        path = str(demo_site_file())
    elif getattr(args, "site", None):
        path = args.site
    else:
        raise BadInput("the restore drill needs a site file with a backup section: --site FILE (or --demo)")
    site = load_site(path)
    if site.backup is None or not site.backup.copies:
        raise BadInput(f"{path}: no backup copies in the site file; expected backup.copies (see README)")
    copy = args.copy or site.backup.copies[0].name
    if copy not in [c.name for c in site.backup.copies]:
        raise BadInput(f"no backup copy {copy!r} in {path}; expected one of "
                       f"{', '.join(c.name for c in site.backup.copies)}")
    if site.cluster.production and not _production_ok(args, site.name, site.cluster.context):
        print("production not confirmed: nothing changed", file=sys.stderr)
        return 1
    how = _confirm(args, [copy], f"Drill restore will restore copy {copy} into "
                                 f"{site.backup.policy.scratch_dir} on its host.")
    if how is None:
        print("not confirmed: nothing changed", file=sys.stderr)
        return 1

    show = _event_printer(args)
    try:
        ctx = BackupContext(site, read_password(site.backup))
    except PasswordError as e:
        raise BadInput(str(e)) from None
    try:
        report = RestoreDrill(ctx, copy, context=site.cluster.context, production=site.cluster.production,
                              operator=getattr(args, "operator", None), on_event=show).run(how)
    finally:
        ctx.close()
    return _print_report(args, report)


def _balancer_control(args: Any) -> tuple[Any, Any, str | None, str | None, bool]:
    """(control, demo site or None, site name, context, production) of the
    balancer the LB drill disrupts: the demo's, or the site file's balancer:."""
    from actions.drills.lb_control import DemoBalancer, SiteBalancer
    if args.demo:
        from console.sim.demo_site import start_demo_site
        site = start_demo_site(nodes=2, gpus_per_node=2, replicas=3, traffic=False)
        return DemoBalancer(site), site, "demo", site.context, False
    if not getattr(args, "site", None):
        raise BadInput("the load-balancer drill needs a site file with a balancer: section: --site FILE "
                       "(or --demo)")
    from console.site_config import load_site
    cfg = load_site(args.site)
    if cfg.balancer is None:
        raise BadInput(f"{args.site}:1: no balancer: section; expected the site's nginx balancer with its "
                       "upstreams (README.md, Site file)")
    made: dict = {}

    def transport_for(name: str) -> Any:
        if not made:
            from console.hosts.ssh import transports_for_hosts
            made.update(transports_for_hosts(cfg.hosts))
        return made[name]
    return SiteBalancer(cfg.balancer, transport_for), None, cfg.name, cfg.cluster.context, cfg.cluster.production


def _drill_of(run_id: str) -> str | None:
    from actions.drills import store
    try:
        return (store.records(run_id) or [{}])[0].get("drill")
    except FileNotFoundError:
        return None


def _lb_rollback(args: Any) -> int:
    """A killed LB drill's rollback: its upstream started through the site
    file's balancer: section (the demo's simulator is gone with its console)."""
    from actions.drills import store
    control, demo, *_ = _balancer_control(args)
    try:
        done = store.rollback_run(args.name, None, control)
    finally:
        if demo is not None:
            demo.stop()
    return _print_rollbacks(done)


def _print_rollbacks(done: list[dict]) -> int:
    for b in done:
        print(f"{b['op']} {b.get('node') or ''}: {'done' if b['ok'] else 'FAILED ' + visible(b['error'])}")
    print("nothing to roll back" if not done else "", end="")
    return 0 if all(b["ok"] for b in done) else 1


def _lb_loss(args: Any) -> int:
    """The load-balancer upstream loss drill (actions/drills/lb_control.py, lb_loss.py)."""
    from actions.drills.lb_control import BalancerRefused, lb_drill
    control, demo, site_name, context, production = _balancer_control(args)
    try:
        if production and not _production_ok(args, site_name, context):
            print("production not confirmed: nothing changed", file=sys.stderr)
            return 1

        show = _event_printer(args)
        try:
            drill = lb_drill(control, args.target, site=site_name, context=context, production=production,
                             operator=getattr(args, "operator", None), on_event=show)
        except BalancerRefused as e:
            raise BadInput(str(e)) from None
        how = _confirm(args, [drill.upstream], f"Drill lb-upstream-loss will stop upstream {drill.upstream} "
                                               f"behind the balancer {control.target().url}.")
        if how is None:
            print("not confirmed: nothing changed", file=sys.stderr)
            return 1
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.default_int_handler)   # Ctrl-C: the drill's rollback still runs
        report = drill.run(how, production_confirmed=production)
    finally:
        if demo is not None:
            demo.stop()
    return _print_report(args, report)


def _event_printer(args: Any) -> Callable[[dict], None]:
    """A drill's timeline on stderr as it happens (not with --json)."""
    def show(ev: dict) -> None:
        if not args.json:
            print(f"{ev['t_s']:8.1f}  {ev['kind']:<12} {visible(ev['text'])}", file=sys.stderr, flush=True)
    return show


def _print_report(args: Any, report: dict) -> int:
    """The report as JSON or Markdown; exit 0 only if it completed without deviating."""
    from actions.drills.outcomes import COMPLETED
    from actions.drills.report import render_markdown
    print(json.dumps(report, indent=2) if args.json else render_markdown(report))
    return 0 if report["status"] == COMPLETED and not report["deviated"] else 1
