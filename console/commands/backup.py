"""`dsconsole backup plan|run|verify|restore|status|detach|prune`: the 3-2-1
backup wizard, headless (README.md, "Backup"). Exit codes: 0 done (status:
every rule met), 1 something failed (status: a rule not met), 2 bad input."""
from __future__ import annotations

import argparse
import json
import sys
import threading
from typing import TYPE_CHECKING

from console.commands.bad_input import BadInput, run_reporting_bad_input

if TYPE_CHECKING:
    from actions.runner import Runner
    from console.audit import AuditLog
    from console.backup.context import BackupContext
    from console.backup.progress import BackupProgress
    from console.backup.retention import RetentionPlan

# the options of console/cli.py SITE_OPTIONS this command uses
SITE_OPTIONS = ("site", "read_only", "operator")

ACTIONS = ("plan", "run", "verify", "restore", "status", "detach", "prune")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=ACTIONS,
                        help="plan: what a run would do; run: back up to the copies; verify: restic "
                             "check; restore: restore drill; status: the 3-2-1 matrix; detach: record "
                             "the offline copy as unplugged; prune: retention (previewed)")
    parser.add_argument("--copy", metavar="NAME[,NAME]", help="only these copies")
    parser.add_argument("--set", metavar="ID", dest="set_id", help="restore: this set (default: the newest)")
    parser.add_argument("--subset", type=float, metavar="PCT",
                        help="verify: restic check --read-data-subset (default: the site's policy)")
    parser.add_argument("--yes", action="store_true", help="confirm without asking (headless)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--demo", action="store_true",
                        help="the demo site: local repositories in the state directory standing in for "
                             "the four copies, and the embedded demo cluster's objects")


def run(args: argparse.Namespace) -> int:
    return run_reporting_bad_input("backup", _run, args)


def _context(args: argparse.Namespace, demo_kubeconfig: str | None = None) -> BackupContext:
    from console.backup.context import BackupContext
    from console.backup.password import PasswordError, read_password
    from console.site_config import ConfigError, load_site, site_file_path
    path: str | None
    if args.demo:
        from console.backup.demo import demo_site_file
        path = str(demo_site_file(demo_kubeconfig))
    else:
        path = site_file_path(getattr(args, "site", None))
    if not path:
        raise BadInput("backup needs a site file with a backup: section: --site FILE (or DSCONSOLE_SITE)")
    try:
        site = load_site(path)
    except ConfigError as e:
        raise BadInput(str(e)) from None
    if site.backup is None or not site.backup.copies:
        raise BadInput(f"{path}:1: no backup copies; expected a `backup:` section with `copies:` "
                       "(README.md, Backup)")
    try:
        password = read_password(site.backup)
    except PasswordError as e:
        raise BadInput(f"{path}: {e}") from None
    return BackupContext(site, password)


def _copies(args: argparse.Namespace, ctx: BackupContext) -> list[str]:
    known = [c.name for c in ctx.cfg.copies]
    if not args.copy:
        return known
    names = [n.strip() for n in args.copy.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise BadInput(f"--copy: unknown copy {', '.join(unknown) or '(none given)'}; known: {', '.join(known)}")
    return names


def _out(args: argparse.Namespace, data: dict, text: str) -> None:
    from console.safe_text import visible_text
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(visible_text(text))


_PRINT_LOCK = threading.Lock()


def _progress_printer(copy: str, source: str, prog: BackupProgress) -> None:
    with _PRINT_LOCK:
        sys.stderr.write(f"  {copy}: {source}: {prog.line()}\n")
        sys.stderr.flush()


def _confirm(args: argparse.Namespace, what: str, names: list[str]) -> str | None:
    from actions import confirm
    if args.yes:
        return "--yes"
    if not sys.stdin.isatty():
        raise BadInput(f"{what} needs a confirmation: run it in a terminal or pass --yes")
    n = len(names)
    ask = (f"{what} on copy {names[0]}? Type yes to confirm: " if n == 1 else
           f"{what} on {n} copies: {', '.join(names)}. Type the number of copies ({n}) to confirm: ")
    print(ask, end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline()
    return f"typed {answer.strip()!r}" if confirm.accepts(names, answer) else None


def _run(args: argparse.Namespace) -> int:
    if not args.demo:
        return _run_on(args, _context(args))
    # the embedded demo cluster, for its objects (no hosts, no traffic: only the API)
    from console.backup.demo import demo_dir
    from console.sim.demo_site import start_demo_site
    demo_dir().mkdir(parents=True, exist_ok=True)
    site = start_demo_site(nodes=2, gpus_per_node=8, kubeconfig=demo_dir() / "kubeconfig", hosts=False,
                           traffic=False, frozen=True)
    try:
        return _run_on(args, _context(args, str(site.kubeconfig_path)))
    finally:
        site.stop()


def _run_on(args: argparse.Namespace, ctx: BackupContext) -> int:
    from actions.wizard_runner import build_runner, journal_site
    read_only = bool(getattr(args, "read_only", False))
    runner = build_runner(site=journal_site(is_demo=args.demo, name=ctx.name),
                          operator=getattr(args, "operator", None), read_only=read_only, max_parallel=4)
    audit = runner.audit
    assert audit is not None   # build_runner always gives its Runner an audit log
    try:
        names = _copies(args, ctx)
        if args.action in ("plan", "run"):
            return _backup(args, ctx, runner, audit, names)
        if args.action == "status":
            from console.backup.matrix import build_matrix, render
            m = build_matrix(ctx, names)
            _out(args, m.to_dict(), render(m))
            return 0 if m.all_met else 1
        if args.action in ("verify", "restore"):
            return _verify(args, ctx, audit, names)
        if args.action == "detach":
            return _detach(args, ctx, audit, names, read_only)
        return _prune(args, ctx, audit, names, read_only)
    finally:
        ctx.close()


def _backup(args: argparse.Namespace, ctx: BackupContext, runner: Runner, audit: AuditLog,
            names: list[str]) -> int:
    from actions.backup.plan import plan_for
    from actions.backup.report import audit_snapshots, copy_results
    from actions.backup.steps import BackupSourceStep
    from actions.confirm import ReadOnlyRefused
    from actions.text_report import render
    from console.backup import offline
    from console.backup.sets import new_set_id
    if args.action == "run" and not args.copy:
        # an unplugged offline copy is left out unless named
        skipped = [n for n in names if offline.is_detached(ctx, n)]
        names = [n for n in names if n not in skipped]
        if skipped and not args.json:
            print(f"left out (detached): {', '.join(skipped)}; name it with --copy to write to it",
                  file=sys.stderr)
    plan = plan_for(ctx, new_set_id(), names)
    for hp in plan.hosts:
        for step in hp.steps:
            if isinstance(step, BackupSourceStep):
                step.on_progress = None if args.json else _progress_printer
    title = f"Backup {ctx.name}"
    checked = runner.check(plan)
    if args.action == "plan" or not checked.ok:
        _out(args, checked.to_dict(), render(checked, title=title))
        return 0 if checked.ok else 1
    try:
        runner.refuse_if_read_only("apply", plan.host_names, {"wizard": plan.wizard})
    except ReadOnlyRefused as e:
        print(f"dsconsole backup: {e}", file=sys.stderr)
        return 2
    if not args.json:
        print(render(checked, title=title, verbose=False))
    how = _confirm(args, "Back up", plan.host_names)
    if how is None:
        runner.declined("apply", plan.host_names)
        print("not confirmed: nothing backed up", file=sys.stderr)
        return 1
    for n in names:
        offline.attach(ctx, n)
    result = runner.apply(plan, confirmation=how)
    audit_snapshots(audit, plan, result.run_id)
    data = {**result.to_dict(), "set": plan.params["set"], "copies": copy_results(plan)}
    _out(args, data, render(result, title=title))
    return 0 if result.ok else 1


def _verify(args: argparse.Namespace, ctx: BackupContext, audit: AuditLog, names: list[str]) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from console.backup.verify import audit_outcome, check_copy, drill
    if args.action == "verify":
        if args.subset is not None and not 0 < args.subset <= 100:
            raise BadInput("--subset: expected a percentage greater than 0 and at most 100")
        work = lambda n: check_copy(ctx, n, subset_pct=args.subset)  # noqa: E731
    else:
        work = lambda n: drill(ctx, n, set_id=args.set_id)  # noqa: E731
    with ThreadPoolExecutor(max_workers=min(4, len(names))) as pool:
        results = list(pool.map(work, names))
    lines = []
    for r in results:
        audit_outcome(audit, r)
        line = f"{r['copy']}: {'ok' if r['ok'] else 'FAILED'}: {r['message']}"
        if r.get("rto"):
            rto = r["rto"]
            line += (f"\n    RTO: restore measured {rto['measured_s']:.2f} s for {rto['restored_bytes']} "
                     f"bytes; extrapolated to the full set ({rto['full_bytes']} bytes): "
                     f"{rto['extrapolated_s']:.2f} s")
        lines += [line] + [f"    {m}" for m in r.get("mismatches", [])]
    _out(args, {"action": args.action, "ok": all(r["ok"] for r in results), "results": results},
         "\n".join(lines))
    return 0 if all(r["ok"] for r in results) else 1


def _detach(args: argparse.Namespace, ctx: BackupContext, audit: AuditLog, names: list[str],
            read_only: bool) -> int:
    from console.backup.offline import DetachError, detach
    if not args.copy:
        names = [c.name for c in ctx.cfg.copies if c.kind == "offline"]
        if not names:
            raise BadInput("no offline copy in the site file")
    if read_only:
        print("dsconsole backup: read-only session: detach refused", file=sys.stderr)
        return 2
    out = []
    for n in names:
        try:
            rec = detach(ctx, n)
        except DetachError as e:
            raise BadInput(str(e)) from None
        audit.append("backup.detach", host=n, args={"set": rec["set"]}, result="ok: recorded as detached")
        out.append({"copy": n, **rec})
    _out(args, {"action": "detach", "detached": out},
         "\n".join(f"{r['copy']}: recorded as detached, holding set {r['set']}; unplug it now" for r in out))
    return 0


def _prune(args: argparse.Namespace, ctx: BackupContext, audit: AuditLog, names: list[str],
           read_only: bool) -> int:
    from console.backup import retention
    from console.backup.restic import ResticError
    plans: dict[str, RetentionPlan | ResticError] = {}
    for n in names:
        try:
            plans[n] = retention.plan(ctx.restic(ctx.copy(n)), ctx.cfg.policy)
        except ResticError as e:
            plans[n] = e
    lines = []
    for n, rp in plans.items():
        if isinstance(rp, Exception):
            lines.append(f"{n}: cannot read: {rp}")
            continue
        lines.append(f"{n}: keep {len(rp.keep)} set(s); remove {', '.join(rp.remove) or 'none'}"
                     + (f"; unfinished runs {', '.join(rp.leftovers)}" if rp.leftovers else ""))
    preview = {n: (rp.to_dict() if not isinstance(rp, Exception) else {"error": str(rp)})
               for n, rp in plans.items()}
    readable = {n: rp for n, rp in plans.items() if not isinstance(rp, ResticError)}
    todo = [n for n, rp in readable.items() if rp.snapshots]
    if not todo:
        _out(args, {"action": "prune", "preview": preview, "applied": {}}, "\n".join(lines))
        return 0
    if not args.json:
        print("\n".join(lines))
    if read_only:
        print("dsconsole backup: read-only session: prune refused", file=sys.stderr)
        return 2
    how = _confirm(args, "Remove these sets", todo)
    if how is None:
        print("not confirmed: nothing removed", file=sys.stderr)
        return 1
    applied = {}
    for n in todo:
        try:
            applied[n] = retention.apply(ctx.restic(ctx.copy(n)), readable[n])
            audit.append("backup.prune", host=n, args={"removed_sets": readable[n].remove,
                                                        "unfinished": readable[n].leftovers},
                         result="ok: " + applied[n])
        except ResticError as e:
            applied[n] = f"failed: {e}"
            audit.append("backup.prune", host=n, result=f"failed: {e}")
    _out(args, {"action": "prune", "preview": preview, "applied": applied},
         "\n".join(f"{n}: {m}" for n, m in applied.items()))
    return 0 if all(not m.startswith("failed") for m in applied.values()) else 1
