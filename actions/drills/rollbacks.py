"""Running a drill's journaled rollbacks (uncordon, recover a stopped node,
reset a faulted GPU), at the drill's end or later for a killed console's."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any


def run_undos(ops: Any, faults: Any, undos: list[dict], journal: Any,
              event: Callable[[str, str], None] | None = None) -> list[dict]:
    """Run rollbacks in reverse order; each outcome journaled ("undone")."""
    done = []
    for rec in reversed(undos):
        ok, err = True, None
        try:
            if rec["op"] == "uncordon":
                ops.cordon(rec["node"], False)
            elif rec["op"] == "recover_node":
                _need(faults, rec).recover_node(rec["node"])
            elif rec["op"] == "start_upstream":     # lb_loss.py: the stopped upstream
                _need(faults, rec).start_upstream(rec["upstream"])
            elif rec["op"] == "clear_gpu":
                _need(faults, rec).clear_gpu(rec["node"], rec["gpu"])
            else:
                raise ValueError(f"unknown rollback {rec['op']!r}")
        except Exception as e:  # noqa: BLE001 - the next rollback still runs
            ok, err = False, f"{type(e).__name__}: {e}"
        out = {"id": rec["id"], "op": rec["op"], "node": rec.get("node") or rec.get("upstream"), "ok": ok,
               "error": err}
        journal.write({"t": "undone", **out})
        if event:
            event("rollback", f"{rec['op']} {out['node'] or ''}: {'done' if ok else f'FAILED: {err}'}")
        done.append(out)
    return done


def _need(faults: Any, rec: dict) -> Any:
    if faults is None:
        raise RuntimeError(f"{rec['op']} needs the demo site that ran the drill (its simulator is gone)")
    return faults
