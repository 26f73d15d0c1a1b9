"""`dsconsole bluegreen plan|apply|pause|resume|abort|rollback|status`: the
blue-green switchover wizard, headless. Exit codes: 0 done, 1 a step failed
(a gate breach included: traffic is back on the old colour) or a preflight
refused the plan, 2 bad input (including --read-only refusals).

pause / resume / abort act on the switch another `bluegreen apply` is
running now (through a control file beside its journal); with no switch
running, resume finishes the latest unfinished run and abort rolls it back.
Every abort ends in a rollback of the run."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from console.commands.wizard_cli import BadInput, confirm, default_run, open_cluster, print_progress, run_action
from console.safe_text import visible_text as visible

ACTIONS = ("plan", "apply", "pause", "resume", "abort", "rollback", "status")
# the options of console/cli.py SITE_OPTIONS this command uses
SITE_OPTIONS = ("site", "kubeconfig", "context", "read_only", "operator")
WIZARD = "bluegreen"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=ACTIONS,
                        help="plan: preflight and every step; apply: green up, warm, traffic moved through the "
                             "gates, blue drained and scaled to zero; pause/resume/abort: the running switch; "
                             "rollback [RUN_ID]; status: the live colour or weights and unfinished runs")
    parser.add_argument("run_id", nargs="?", help="run id for rollback/resume/abort")
    parser.add_argument("--demo", action="store_true", help="against an embedded demo site (this command only)")
    parser.add_argument("--mode", choices=("nginx", "service"),
                        help="how traffic moves (default: the site's bluegreen.mode, else service)")
    parser.add_argument("--model", metavar="NAME", help="model (default: the site's bluegreen.model)")
    parser.add_argument("--to", choices=("green", "blue"), default="green",
                        help="the colour traffic moves to: green (default), or blue (back to blue: scaled up, "
                             "warmed, switched back through the same gates)")
    parser.add_argument("--yes", action="store_true", help="confirm without asking (headless)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def _out(text: str) -> None:
    print(visible(text))


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except BadInput as e:
        print(f"dsconsole bluegreen: {visible(str(e))}", file=sys.stderr)
        return 2


def _site(args: argparse.Namespace) -> tuple[Any, str | None, str | None]:
    """(site or None, kubeconfig, context)."""
    from console.site_config import ConfigError, load_site, site_file_path
    path = site_file_path(getattr(args, "site", None))
    if not path:
        return None, getattr(args, "kubeconfig", None), getattr(args, "context", None)
    try:
        site = load_site(path)
    except ConfigError as e:
        raise BadInput(str(e)) from None
    return (site, getattr(args, "kubeconfig", None) or site.cluster.kubeconfig,
            getattr(args, "context", None) or site.cluster.context)


def spec_from(args: argparse.Namespace, site: Any) -> Any:
    from actions.bluegreen.spec import spec_for_site
    try:
        return spec_for_site(site, args.model, args.mode)
    except (ValueError, TypeError) as e:
        raise BadInput(f"bluegreen: {e}") from None


def _run(args: argparse.Namespace) -> int:
    from actions.wizard_runner import build_runner, journal_site
    demo = None
    site: Any
    kubeconfig: str | None
    context: str | None
    if args.demo:
        from console.sim.demo_site import start_demo_site
        # one 671B replica in service (blue): room for green's beside it
        demo = start_demo_site(nodes=4, gpus_per_node=8, replicas=1, time_scale=30.0, model_load_s=60.0)
        site, kubeconfig, context = demo.bluegreen_site(), str(demo.kubeconfig_path), demo.context
        site_name = journal_site(is_demo=True, name=None)
    else:
        site, kubeconfig, context = _site(args)
        site_name = journal_site(is_demo=False, name=getattr(site, "name", None))
    try:
        spec = spec_from(args, site)
        kube = open_cluster(kubeconfig, context)
        transports = _transports(spec, site, demo, kube)
        runner = build_runner(site=site_name, operator=getattr(args, "operator", None),
                              read_only=bool(getattr(args, "read_only", False)),
                              on_progress=None if args.json else print_progress)
        return run_action("bluegreen", kube, lambda: _action(args, spec, transports, runner))
    finally:
        if demo is not None:
            demo.stop()


def _transports(spec: Any, site: Any, demo: Any, kube: Any) -> dict:
    """The cluster, and in mode nginx the balancer host (a site host over SSH,
    or the demo's simulated one)."""
    from actions.plan import CLUSTER
    out: dict[str, Any] = {CLUSTER: kube}
    if spec.mode == "nginx":
        assert spec.lb is not None
        if demo is not None:
            from console.sim.demo_site import LB_HOST
            if spec.lb.host == LB_HOST:   # the demo's balancer host, whose nginx routes its traffic
                out[LB_HOST] = demo.lb_host()
        elif site is not None:
            from console.site_config import LOCAL_HOST
            if spec.lb.host == LOCAL_HOST:   # nginx on this machine
                from console.hosts.local import LocalTransport
                out[LOCAL_HOST] = LocalTransport(LOCAL_HOST)
            else:
                from console.hosts.ssh import transports_for_hosts
                out.update(transports_for_hosts([h for h in site.hosts if h.name == spec.lb.host]))
        if spec.lb.host not in out:
            raise BadInput(f"balancer.host {spec.lb.host!r}: not a host of this site")
    return out


def _plan(spec: Any, transports: dict, to: str) -> Any:
    from actions.plan import build_plan
    return build_plan(WIZARD, transports, {**spec.to_params(), "to": to})


def _emit(args: argparse.Namespace, result: Any, extra: dict | None = None) -> None:
    from actions.text_report import render
    if args.json:
        print(json.dumps({**result.to_dict(), **(extra or {})}, indent=2))
    else:
        _out(render(result, title="Blue-green"))
        for k, v in (extra or {}).items():
            _out(f"{k}: {v}")


def _running_run(journal: Any) -> Any:
    runs = [r for r in journal.list_runs() if r.wizard == WIZARD and r.status == journal.RUNNING]
    return runs[-1] if runs else None


def _action(args: argparse.Namespace, spec: Any, transports: dict, runner: Any) -> int:
    from actions import journal
    from actions.bluegreen import control_file
    if args.action == "status":
        return _status(args, spec, transports)
    if args.action in ("pause", "resume", "abort"):
        live_run = _running_run(journal)
        if live_run is not None and not args.run_id or (live_run and args.run_id == live_run.run_id):
            runner.refuse_if_read_only(args.action, live_run.hosts, {"wizard": WIZARD, "run_id": live_run.run_id})
            control_file.request(live_run.run_id, {"pause": "pause", "resume": "run", "abort": "abort"}[args.action])
            runner.requested(args.action, live_run.hosts, {"wizard": WIZARD, "run_id": live_run.run_id})
            msg = f"{args.action} requested for the running switch {live_run.run_id}" + (
                " (it rolls back once stopped)" if args.action == "abort" else "")
            print(json.dumps({"action": args.action, "run_id": live_run.run_id, "status": "requested",
                              "message": msg}) if args.json else msg)
            return 0
        if args.action == "pause":
            raise BadInput("pause: no switch is running now")
    plan = _plan(spec, transports, args.to)
    if args.action == "plan":
        result = runner.check(plan)
        _emit(args, result, {"mode": spec.mode, "to": args.to})
        return 0 if result.ok else 1
    if args.action == "apply":
        runner.refuse_if_read_only("apply", plan.host_names, {"wizard": WIZARD})
        checked = runner.check(plan)
        if not checked.ok:
            _emit(args, checked)
            print("nothing applied: a preflight check refused the plan", file=sys.stderr)
            return 1
        how = confirm(args, runner, "apply", f"the blue-green switch of {spec.name} to {args.to} ({spec.mode})")
        if how is None:
            print("not confirmed: nothing changed", file=sys.stderr)
            return 1
        return _watched(args, runner, lambda: runner.apply(plan, confirmation=how), spec, transports)
    # resume / abort / rollback of a run no process is running
    run_id = args.run_id or default_run(journal, WIZARD, "resume" if args.action == "resume" else "rollback")
    if run_id is None:
        msg = "no unfinished run to resume" if args.action == "resume" else "no run to roll back"
        print(json.dumps({"action": args.action, "status": "no-change", "message": msg}) if args.json else msg)
        return 0
    try:
        state = journal.load(run_id)
    except FileNotFoundError as e:
        raise BadInput(str(e)) from None
    plan = _plan_for_state(state, transports)
    how = confirm(args, runner, args.action, f"run {run_id}")
    if how is None:
        print("not confirmed: nothing changed", file=sys.stderr)
        return 1
    if args.action == "resume":
        return _watched(args, runner, lambda: runner.resume(run_id, plan, confirmation=how), spec, transports)
    result = runner.rollback(run_id, plan, confirmation=how)
    _emit(args, result, {"weights": _weights_text(spec, transports)})
    return 0 if result.ok else 1


def _plan_for_state(state: Any, transports: dict) -> Any:
    """The journaled run's plan, from its own params (the balancer host
    passed along: it is not a target of its own)."""
    from actions.plan import build_plan
    return build_plan(state.wizard, transports, state.params)


def _watched(args: argparse.Namespace, runner: Any, go: Any, spec: Any, transports: dict) -> int:
    """Run an apply/resume with the control file watched; an abort rolls the run back."""
    from actions.bluegreen.control_file import ControlWatcher
    watcher = ControlWatcher(runner)
    shown = runner.on_progress

    def progress(ev: Any) -> None:
        if ev.kind == "run-start" and ev.run_id:
            watcher.run_id = ev.run_id
        if shown is not None:
            shown(ev)
    runner.on_progress = progress
    watcher.start()
    try:
        result = go()
    finally:
        watcher.stop()
    if watcher.seen == "abort" and result.run_id:
        _emit(args, result) if not args.json else None
        rolled = runner.rollback(result.run_id, _plan_for_state(_load(result.run_id), transports),
                                 confirmation="abort")
        _emit(args, rolled, {"aborted": True, "weights": _weights_text(spec, transports)})
        return 1
    _emit(args, result, {"weights": _weights_text(spec, transports)})
    return 0 if result.ok else 1


def _load(run_id: str) -> Any:
    from actions import journal
    return journal.load(run_id)


def _weights_text(spec: Any, transports: dict) -> str:
    from actions.bluegreen.plan import read_weights
    try:
        w = read_weights(spec, transports)
    except Exception as e:  # noqa: BLE001 - an unreachable balancer is reported, not a crash
        return f"unknown ({e})"
    return "unknown" if w is None else f"blue {w[0]} / green {w[1]}"


def _status(args: argparse.Namespace, spec: Any, transports: dict) -> int:
    from actions import journal
    from actions.bluegreen.plan import read_weights
    from actions.bluegreen.steps import deployment_replicas, warm_ready
    from actions.plan import CLUSTER
    kube = transports[CLUSTER]
    colours = {c: {"deployment": spec.colour(c).name, "replicas": deployment_replicas(kube, spec, c),
                   "warm_ready": warm_ready(kube, spec, c)} for c in ("blue", "green")}
    try:
        w = read_weights(spec, transports)
        weights: dict | None = None if w is None else {"blue": w[0], "green": w[1]}
        weights_error = None
    except Exception as e:  # noqa: BLE001 - an unreachable balancer is reported, not a crash
        weights, weights_error = None, str(e)
    runs = [r for r in journal.list_runs() if r.wizard == WIZARD and (r.unfinished or r.status == journal.RUNNING)]
    unfinished: list[dict[str, Any]] = []
    for r in runs:
        done = [s for s, rec in r.steps.get(CLUSTER, {}).items() if rec.status == "applied" and not rec.rolled_back]
        failed = {s: rec.error for s, rec in r.steps.get(CLUSTER, {}).items() if rec.status == "failed"}
        unfinished.append({"run_id": r.run_id, "status": r.status, "title": r.title, "last_action": r.last_action,
                           "done": done, "failed": failed})
    doc = {"model": spec.name, "mode": spec.mode, "weights": weights, "colours": colours,
           "unfinished": unfinished, **({"weights_error": weights_error} if weights_error else {})}
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    _out(f"blue-green {spec.name} ({spec.mode}): weights read back: "
         + (f"blue {weights['blue']} / green {weights['green']}" if weights else f"unknown {weights_error or ''}"))
    for c, d in colours.items():
        _out(f"  {c}: {d['deployment']} replicas {d['replicas']}, {d['warm_ready']} warm and Ready")
    for u in unfinished:
        done, failed = list(u["done"]), dict(u["failed"])
        _out(f"unfinished run {u['run_id']} ({u['status']}, last {u['last_action']}): done "
             + (", ".join(done) or "nothing") + "".join(f"; {s} failed: {e}" for s, e in failed.items()))
        _out("  resume: dsconsole bluegreen resume; roll back: dsconsole bluegreen rollback")
    return 0
