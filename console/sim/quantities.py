"""Kubernetes resource quantities ("64Gi", "500m", "8") as numbers."""
from __future__ import annotations

_BIN = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DEC = {"n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}


def parse_quantity(q) -> float:
    if isinstance(q, (int, float)):
        return float(q)
    s = str(q).strip()
    for suf, mul in _BIN.items():
        if s.endswith(suf):
            return float(s[:-2]) * mul
    if s and s[-1] in _DEC and not s[-1].isdigit():
        return float(s[:-1]) * _DEC[s[-1]]
    return float(s)


def pod_request(pod: dict, resource: str) -> float:
    """Sum of the containers' requests (limits when no request) of a resource."""
    total = 0.0
    for c in (pod.get("spec") or {}).get("containers") or ():
        r = c.get("resources") or {}
        v = (r.get("requests") or {}).get(resource)
        if v is None:
            v = (r.get("limits") or {}).get(resource)
        if v is not None:
            try:
                total += parse_quantity(v)
            except ValueError:
                pass
    return total
