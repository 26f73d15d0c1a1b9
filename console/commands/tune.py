"""`dsconsole tune plan|apply|verify|rollback|resume|runs`: the host-tuning
wizard, headless. Exit codes: 0 done, 1 a step (or verify) failed, 2 bad input
(including a refusal in a --read-only session)."""
from __future__ import annotations

import argparse
import json
import sys
import threading
from typing import TYPE_CHECKING

from console.safe_text import visible

if TYPE_CHECKING:
    from actions.host_tuning.targets import TuningTargets
    from actions.runner import Progress, Runner, RunResult
    from console.hosts.transport import Transport

ACTIONS = ("plan", "apply", "verify", "rollback", "resume", "runs")


# the options of console/cli.py SITE_OPTIONS this command uses
SITE_OPTIONS = ("site", "read_only", "operator")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=ACTIONS,
                        help="plan: show the per-host diff; apply: change the hosts; verify: check them; "
                             "rollback/resume [RUN_ID]: undo / finish a run (default: the latest); "
                             "runs: list journaled runs")
    parser.add_argument("run_id", nargs="?", help="run id for rollback/resume")
    parser.add_argument("--hosts", metavar="A,B", help="only these hosts of the site")
    parser.add_argument("--yes", action="store_true", help="confirm without asking (headless)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--demo", action="store_true",
                        help="run against the demo site's simulated hosts")
    parser.add_argument("--max-parallel", type=int, default=8, metavar="N",
                        help="hosts changed at once (default 8)")
    parser.add_argument("--stop-all", action="store_true",
                        help="a failure on one host stops every host's remaining steps")
    parser.add_argument("--update-grub", action="store_true",
                        help="run update-grub after changing /etc/default/grub (never reboots)")


class BadInput(Exception):
    pass


def _transports_and_targets(args: argparse.Namespace) -> tuple[str | None, dict[str, Transport], TuningTargets]:
    """(journal site name, {host: Transport}, TuningTargets) for --demo or the site."""
    from actions.host_tuning.targets import TuningTargets
    from actions.wizard_runner import journal_site
    overrides = {"update_grub": True} if args.update_grub else {}
    if args.demo:
        from console.sim import tuning_demo
        demo_hosts: dict[str, Transport] = dict(tuning_demo.saved_hosts())
        return journal_site(is_demo=True, name=None), demo_hosts, TuningTargets.from_site(None, **overrides)
    from console.site_config import load_site, site_file_path
    site_path = site_file_path(getattr(args, "site", None))
    if not site_path:
        raise BadInput("tune needs a site with hosts: --site FILE (or DSCONSOLE_SITE), or --demo")
    site = load_site(site_path)   # ConfigError: printed as it is (file:line: ...), exit 2
    if not site.hosts:
        raise BadInput(f"{site_path}: no hosts in the site file")
    try:
        targets = TuningTargets.from_site(site.tuning, **overrides)
    except (ValueError, TypeError) as e:
        raise BadInput(f"{site_path}: {e}") from None
    from console.hosts.ssh import transports_for_hosts
    site_hosts: dict[str, Transport] = dict(transports_for_hosts(site.hosts))
    return journal_site(is_demo=False, name=site.name), site_hosts, targets


def _select(hosts: dict[str, Transport], wanted: str | None) -> dict[str, Transport]:
    if not wanted:
        return hosts
    names = [n.strip() for n in wanted.split(",") if n.strip()]
    unknown = [n for n in names if n not in hosts]
    if unknown or not names:
        raise BadInput(f"--hosts: unknown host(s) {', '.join(unknown) or '(none given)'}; "
                       f"known: {', '.join(hosts)}")
    return {n: hosts[n] for n in names}


def _confirm(args: argparse.Namespace, runner: Runner, action: str, hosts: list[str]) -> str | None:
    """How the operator confirmed, or None (declined / cannot ask)."""
    from actions import confirm
    if args.yes:
        return "--yes"
    if not sys.stdin.isatty():
        raise BadInput(f"{action} needs a confirmation: run it in a terminal or pass --yes")
    # the question goes to stderr so that stdout stays clean for --json
    print(confirm.prompt(f"{action.capitalize()} host tuning", hosts), end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline()
    if confirm.accepts(hosts, answer):
        return f"typed {answer.strip()!r}"
    runner.declined(action, hosts)
    return None


_PRINT_LOCK = threading.Lock()


def _print_progress(ev: Progress) -> None:
    """Live progress of changing actions on stderr: each change made (or
    failed) and each host finished, one whole line at a time (hosts run in threads)."""
    if ev.action not in ("apply", "resume", "rollback"):
        return
    if ev.kind == "step-done" and ev.status in ("applied", "failed", "rolled-back"):
        line = f"  {ev.host}: {ev.step} {ev.status}"
    elif ev.kind == "host-done":
        line = f"  {ev.host}: {ev.status}" + (f" ({visible(ev.message)})" if ev.message else "")
    else:
        return
    with _PRINT_LOCK:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()


def _emit(args: argparse.Namespace, result: RunResult, title: str) -> None:
    from actions.text_report import render
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(render(result, title=title))


def _announce_unfinished(args: argparse.Namespace) -> None:
    from actions import journal
    from actions.text_report import render_run
    runs = journal.unfinished_runs("host-tuning")
    if runs and not args.json:
        for r in runs:
            print(f"unfinished run: {render_run(r)}\n"
                  f"  finish it: dsconsole tune resume {r.run_id}   undo it: dsconsole tune rollback {r.run_id}",
                  file=sys.stderr)


def _pick_run(args: argparse.Namespace, *, for_action: str) -> str | None:
    from actions import journal
    if args.run_id:
        return args.run_id
    runs = journal.list_runs()
    if for_action == "resume":
        candidates = [r for r in runs if r.unfinished and r.wizard == "host-tuning"]
    else:  # rollback: the latest run that changed something not yet rolled back
        candidates = [r for r in runs if r.wizard == "host-tuning"
                      and any(r.changed_steps(h) for h in r.hosts)]
    return candidates[-1].run_id if candidates else None


def run(args: argparse.Namespace) -> int:
    from console.site_config import ConfigError
    try:
        return _run(args)
    except BadInput as e:
        print(f"dsconsole tune: {e}", file=sys.stderr)
        return 2
    except ConfigError as e:   # a site file error is `file:line: ...` as it stands
        print(str(e), file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from actions import journal
    from actions.confirm import ReadOnlyRefused
    from actions.plan import build_plan
    from actions.runner import NO_CHANGE, Runner
    from actions.text_report import render, render_run
    from actions.wizard_runner import build_runner, made_on_demo_hosts
    from console.audit import AuditWriteError

    if args.action == "runs":
        runs = journal.list_runs()
        if args.json:
            print(json.dumps([r.to_dict() for r in runs], indent=2))
        else:
            print("\n".join(render_run(r) for r in runs) or "no runs")
        return 0
    if args.max_parallel < 1:
        raise BadInput("--max-parallel: expected a number >= 1")
    if args.action in ("rollback", "resume") and not args.demo and not getattr(args, "site", None):
        # a run made on the demo's hosts is undone / finished there without --demo
        run_id = _pick_run(args, for_action=args.action)
        if run_id:
            try:
                args.demo = made_on_demo_hosts(journal.load(run_id).site)
            except FileNotFoundError:
                pass
    site, transports, targets = _transports_and_targets(args)
    read_only = bool(getattr(args, "read_only", False))
    runner = build_runner(site=site, operator=getattr(args, "operator", None), read_only=read_only,
                          max_parallel=args.max_parallel, stop_all_on_failure=args.stop_all,
                          on_progress=None if args.json else _print_progress)
    title = "Host tuning"
    try:
        if args.action in ("plan", "verify", "apply"):
            hosts = _select(transports, args.hosts)
            plan = build_plan("host-tuning", hosts, targets.to_params())
            if args.action == "apply":
                runner.refuse_if_read_only("apply", plan.host_names, {"wizard": plan.wizard})
            _announce_unfinished(args)
            if args.action == "verify":
                result = runner.verify(plan)
                _emit(args, result, title)
                return 0 if result.ok else 1
            checked = runner.check(plan)
            if args.action == "plan" or checked.status != "complete":
                if args.action == "apply" and checked.status == NO_CHANGE:
                    runner.no_change("apply", plan)
                _emit(args, checked, title)
                if args.action == "apply" and not checked.ok:
                    print("nothing applied: a host could not be checked; fix it, or leave it out "
                          "with --hosts", file=sys.stderr)
                return 0 if checked.ok else 1
            if not args.json:
                print(render(checked, title=title))
            how = _confirm(args, runner, "apply", plan.host_names)
            if how is None:
                print("not confirmed: nothing changed", file=sys.stderr)
                return 1
            result = runner.apply(plan, confirmation=how)
            _emit(args, result, title)
            return 0 if result.ok else 1

        # rollback / resume of a journaled run
        run_id = _pick_run(args, for_action=args.action)
        if run_id is None:
            msg = "no unfinished run to resume" if args.action == "resume" else "no run to roll back"
            if args.json:
                print(json.dumps({"action": args.action, "status": NO_CHANGE, "message": msg,
                                  "run_id": None, "changed": 0, "hosts": {}}))
            else:
                print(msg)
            return 0
        try:
            state, plan = Runner.plan_for_run(run_id, transports)
        except FileNotFoundError as e:
            raise BadInput(str(e)) from None
        except KeyError as e:
            raise BadInput(e.args[0]) from None
        runner.refuse_if_read_only(args.action, state.hosts, {"run_id": run_id})
        how = _confirm(args, runner, args.action, state.hosts)
        if how is None:
            print("not confirmed: nothing changed", file=sys.stderr)
            return 1
        if args.action == "resume":
            result = runner.resume(run_id, plan, confirmation=how)
        else:
            result = runner.rollback(run_id, plan, confirmation=how)
        _emit(args, result, title)
        return 0 if result.ok else 1
    except ReadOnlyRefused as e:
        print(f"dsconsole tune: {e}", file=sys.stderr)
        return 2
    except journal.JournalBusy as e:
        print(f"dsconsole tune: {e}", file=sys.stderr)
        return 1
    except AuditWriteError as e:   # an apply or resume whose confirmation could not be audited
        print(f"dsconsole tune: {e}; nothing changed", file=sys.stderr)
        return 1
    finally:
        if args.demo:
            from console.sim import tuning_demo
            from console.sim.hosts import SimulatedHost
            # with --demo every transport is a SimulatedHost (_transports_and_targets)
            tuning_demo.save_hosts({n: h for n, h in transports.items() if isinstance(h, SimulatedHost)})
        from console.hosts.ssh import close_transports
        close_transports(transports.values())  # inner hosts first; never raises
