"""`dsconsole model plan|apply|warmup|status|rollback|resume|runs`: the
model-load wizard, headless. Exit codes: 0 done, 1 a step failed (or a
preflight refused the plan), 2 bad input (including --read-only refusals).

--demo runs against an embedded demo site started for the one command (it
does not outlive it); for several commands on one simulated cluster, run
`dsconsole sim serve` and pass its --kubeconfig."""
from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, cast

from console.commands.wizard_cli import BadInput, confirm, default_run, open_cluster, print_progress, run_action
from console.safe_text import visible_text as visible

if TYPE_CHECKING:   # the wizard and the client are imported when a command runs, not at parse time
    from actions.model_load.spec import ModelSpec
    from actions.runner import Runner, RunResult
    from console.hosts.transport import Transport
    from console.kube.client import KubeHttp
    from console.site_config import ModelConfig

ACTIONS = ("plan", "apply", "warmup", "status", "rollback", "resume", "runs")
# the options of console/cli.py SITE_OPTIONS this command uses
SITE_OPTIONS = ("site", "kubeconfig", "context", "read_only", "operator")
WIZARD = "model-load"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=ACTIONS,
                        help="plan: preflight and the diff; apply: deploy, roll out, warm up, open traffic; "
                             "warmup: warm pods that are not warm yet (new or restarted); status: pods and "
                             "phases; rollback/resume [RUN_ID]; runs: journaled runs")
    parser.add_argument("run_id", nargs="?", help="run id for rollback/resume")
    parser.add_argument("--demo", action="store_true", help="against an embedded demo site (this command only)")
    parser.add_argument("--model", metavar="NAME", help="model of the site's models: section (or a known name); "
                        "default: the site's first model, else deepseek-r1-distill-qwen-14b")
    parser.add_argument("--replicas", type=int, metavar="N")
    parser.add_argument("--model-path", metavar="PATH")
    parser.add_argument("--export", metavar="DIR", help="plan: also write the manifests to DIR (kubectl apply -f DIR)")
    parser.add_argument("--yes", action="store_true", help="confirm without asking (headless)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def _out(text: str) -> None:
    print(visible(text))


def _site_model(args: argparse.Namespace) -> tuple[str | None, ModelConfig | None, str | None, str | None]:
    """(site name, site model entry or None, kubeconfig, context)."""
    from console.site_config import ConfigError, load_site, site_file_path
    path = site_file_path(getattr(args, "site", None))
    if not path:
        return None, None, getattr(args, "kubeconfig", None), getattr(args, "context", None)
    try:
        site = load_site(path)
    except ConfigError as e:
        raise BadInput(str(e)) from None
    entry = None
    if site.models:
        entry = next((m for m in site.models if m.name == args.model), None) if args.model else site.models[0]
        if args.model and entry is None:
            raise BadInput(f"{path}: no model {args.model!r} in models: (known: "
                           f"{', '.join(m.name for m in site.models)})")
    return (site.name, entry, getattr(args, "kubeconfig", None) or site.cluster.kubeconfig,
            getattr(args, "context", None) or site.cluster.context)


def _spec(args: argparse.Namespace, entry: ModelConfig | None) -> ModelSpec:
    from actions.model_load.spec import spec_for
    name = args.model or (entry.name if entry is not None else "deepseek-r1-distill-qwen-14b")
    try:
        return spec_for(name, entry, replicas=args.replicas, model_path=args.model_path)
    except (ValueError, TypeError) as e:
        raise BadInput(f"model {name}: {e}") from None


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except BadInput as e:
        print(f"dsconsole model: {visible(str(e))}", file=sys.stderr)
        return 2


def _emit(args: argparse.Namespace, result: RunResult) -> None:
    from actions.text_report import render
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        _out(render(result, title="Model load"))


def _run(args: argparse.Namespace) -> int:
    from actions import journal
    from actions.text_report import render_run
    from actions.wizard_runner import build_runner, journal_site

    if args.action == "runs":
        runs = [r for r in journal.list_runs() if r.wizard == WIZARD]
        print(json.dumps([r.to_dict() for r in runs], indent=2) if args.json
              else "\n".join(render_run(r) for r in runs) or "no runs")
        return 0
    if args.replicas is not None and args.replicas < 0:
        raise BadInput("--replicas: expected a number >= 0")
    demo = None
    if args.demo:
        from console.sim.demo_site import start_demo_site
        demo = start_demo_site(nodes=4, gpus_per_node=8, time_scale=30.0, model_load_s=60.0)
        site_name: str | None = journal_site(is_demo=True, name=None)
        entry: ModelConfig | None = None
        kubeconfig: str | None = str(demo.kubeconfig_path)
        context: str | None = demo.context
    else:
        site_name, entry, kubeconfig, context = _site_model(args)
    try:
        spec = _spec(args, entry)
        kube = open_cluster(kubeconfig, context)
        runner = build_runner(site=site_name, operator=getattr(args, "operator", None),
                              read_only=bool(getattr(args, "read_only", False)),
                              on_progress=None if args.json else print_progress)
        return run_action("model", kube, lambda: _action(
            args, spec, kube, runner, hosts=dict(demo.hosts) if demo is not None else None))
    finally:
        if demo is not None:
            demo.stop()


def _action(args: argparse.Namespace, spec: ModelSpec, kube: KubeHttp, runner: Runner,
            hosts: dict[str, Transport] | None = None) -> int:
    from actions import journal
    from actions.model_load import manifests
    from actions.model_load.flavour import server_command
    from actions.plan import CLUSTER, build_plan
    from actions.runner import Runner
    # the GPU hosts (demo: the simulated ones) for the tuning check; not journaled as targets
    # the cluster target is the client (as the wizard screen passes it)
    plan = build_plan(WIZARD, {**(hosts or {}), CLUSTER: cast("Transport", kube)}, spec.to_params())
    if args.action == "status":
        from actions.model_load.steps import RolloutStep
        pods = RolloutStep(kube, spec).observe()
        from actions.model_load import cluster_reads as cr
        from actions.model_load.spec import WARM_LABEL
        warm = {p["metadata"]["name"] for p in cr.pods(kube, spec.namespace, spec.selector)
                if (p["metadata"].get("labels") or {}).get(WARM_LABEL) == "true"}
        if args.json:
            print(json.dumps({"model": spec.name, "pods": [
                {"name": p.name, "phase": p.phase, "restarts": p.restarts, "cause": p.cause,
                 "warm": p.name in warm} for p in pods]}, indent=2))
        else:
            _out(f"model {spec.name}: {sum(p.phase == 'ready' for p in pods)}/{spec.replicas} ready, "
                 f"{len(warm)} warm")
            for p in pods:
                _out("  " + p.line() + ("  WARM" if p.name in warm else ""))
        return 0
    if args.action == "plan":
        result = runner.check(plan)
        if args.export:
            written = manifests.export(spec, args.export)
            print(f"wrote {len(written)} manifest(s) to {args.export}", file=sys.stderr)
        if not args.json:
            cmd = server_command(spec)
            _out("serving settings (" + spec.flavour + "): " + "; ".join(cmd.mapping))
            for n in cmd.notes:
                _out("  ! " + n)
            _out(manifests.to_yaml(manifests.all_objects(spec)))
        _emit(args, result)
        return 0 if result.ok else 1
    if args.action in ("apply", "warmup"):
        if args.action == "warmup":
            plan.hosts[0].steps = [s for s in plan.hosts[0].steps if s.id == "warmup"]
        runner.refuse_if_read_only(args.action, plan.host_names, {"wizard": plan.wizard})
        checked = runner.check(plan)
        if not checked.ok:
            _emit(args, checked)
            print("nothing applied: a preflight check refused the plan", file=sys.stderr)
            return 1
        if checked.status == "no-change":
            runner.no_change("apply", plan)
            _emit(args, checked)
            return 0
        how = confirm(args, runner, args.action, f"model {spec.name} ({spec.replicas} replica(s))")
        if how is None:
            print("not confirmed: nothing changed", file=sys.stderr)
            return 1
        result = runner.apply(plan, confirmation=how)
        _emit(args, result)
        return 0 if result.ok else 1
    # rollback / resume
    run_id = args.run_id
    if run_id is None:
        run_id = default_run(journal, WIZARD, args.action)
    if run_id is None:
        msg = "no unfinished run to resume" if args.action == "resume" else "no run to roll back"
        print(json.dumps({"action": args.action, "status": "no-change", "message": msg}) if args.json else msg)
        return 0
    try:
        state, plan = Runner.plan_for_run(run_id, {CLUSTER: kube})
    except FileNotFoundError as e:
        raise BadInput(str(e)) from None
    how = confirm(args, runner, args.action, f"run {run_id}")
    if how is None:
        print("not confirmed: nothing changed", file=sys.stderr)
        return 1
    result = (runner.resume if args.action == "resume" else runner.rollback)(run_id, plan, confirmation=how)
    _emit(args, result)
    return 0 if result.ok else 1
