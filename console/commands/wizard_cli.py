"""What the headless wizard commands share (`model`, `bluegreen`): the
confirmation (`--yes`, or `yes` typed in a terminal, a refusal audited),
progress lines on stderr, the run that rollback/resume act on by default."""
from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from console.safe_text import visible_text as visible


class BadInput(Exception):
    pass


def confirm(args: Any, runner: Any, action: str, what: str, hosts: list[str] | None = None) -> str | None:
    """How the operator confirmed `action` on `what` (None: declined, audited)."""
    if args.yes:
        return "--yes"
    if not sys.stdin.isatty():
        raise BadInput(f"{action} needs a confirmation: run it in a terminal or pass --yes")
    print(f"{action} {what} on the cluster? Type yes to confirm: ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline().strip().lower()
    if answer in ("yes", "y"):
        return f"typed {answer!r}"
    runner.declined(action, hosts or ["cluster"])
    return None


def print_progress(ev: Any) -> None:
    """A runner progress event as a line on stderr (long steps' progress, outcomes)."""
    if ev.kind == "step-progress":
        sys.stderr.write(visible(f"  {ev.step}: {ev.message}") + "\n")
    elif ev.kind == "step-done" and ev.status in ("applied", "failed", "rolled-back"):
        sys.stderr.write(visible(f"  {ev.step} {ev.status}" + (f": {ev.message}" if ev.status == "failed"
                                                                 and ev.message else "")) + "\n")
    sys.stderr.flush()


def default_run(journal: Any, wizard: str, action: str) -> str | None:
    """The run `resume` (the latest unfinished) or `rollback` (the latest that
    changed something) acts on when none is named."""
    cands = [r for r in journal.list_runs() if r.wizard == wizard and (
        r.unfinished if action == "resume" else any(r.changed_steps(h) for h in r.hosts))]
    return cands[-1].run_id if cands else None


def open_cluster(kubeconfig: str | None, context: str | None) -> Any:
    """The console's Kubernetes client for a wizard (BadInput when the
    kubeconfig cannot be resolved)."""
    from console.kube.client import ApiUnreachable, KubeHttp
    from console.kube.kubeconfig import KubeConfigError, resolve
    try:
        return KubeHttp(resolve(kubeconfig, context))
    except (KubeConfigError, ApiUnreachable, OSError, ValueError) as e:
        raise BadInput(f"cluster: {e}") from None


def run_action(command: str, kube: Any, action: Callable[[], int]) -> int:
    """Runs a wizard action on the cluster client `kube` (closed after): a
    --read-only refusal exits 2, a run busy in another process or a cluster
    error 1, said on stderr with control characters made visible."""
    from actions import journal
    from actions.confirm import ReadOnlyRefused
    from console.kube.client import ApiUnreachable, KubeApiError
    try:
        return action()
    except ReadOnlyRefused as e:
        print(f"dsconsole {command}: {e}", file=sys.stderr)
        return 2
    except journal.JournalBusy as e:
        print(f"dsconsole {command}: {e}", file=sys.stderr)
        return 1
    except (ApiUnreachable, KubeApiError) as e:
        print(visible(f"dsconsole {command}: cluster: {e}"), file=sys.stderr)
        return 1
    finally:
        kube.close()
