"""What a pod's tolerations say about a node that stops answering: the
simulator's node lifecycle evicts by it, and the node-loss drill reports it."""
from __future__ import annotations

UNREACHABLE = "node.kubernetes.io/unreachable"


def toleration_seconds(pod: dict) -> float | None:
    """How long a pod stays bound to an unreachable node (None: forever)."""
    for t in pod["spec"].get("tolerations") or ():
        if t.get("effect") not in (None, "", "NoExecute"):
            continue
        if (t.get("operator") == "Exists" and not t.get("key")) or t.get("key") == UNREACHABLE:
            s = t.get("tolerationSeconds")
            return None if s is None else float(s)
    return 0.0
