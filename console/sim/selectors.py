"""Label and field selectors, parsed once per request into predicates.

Label selector grammar (apimachinery labels.Parse): comma-separated
requirements `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`.
Field selectors: `path=v`, `path==v`, `path!=v`, comma-separated, where path is
a dotted field (metadata.name, spec.nodeName, status.phase ...)."""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from console.lazy_regex import LazyRegex

from .api_errors import bad_request

Predicate = Callable[[dict], bool]

_SET_RE = LazyRegex(r"^\s*([A-Za-z0-9_.\-/]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_KEY_RE = LazyRegex(r"^[A-Za-z0-9_.\-/]+$")


def _split_top(expr: str) -> list[str]:
    """Split on commas not inside parentheses."""
    parts: list[str] = []
    depth = 0
    cur: list[str] = []
    for ch in expr:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return [p.strip() for p in parts if p.strip()]


# label requirements (key, operand, the object's labels) -> whether they hold
def _in(key: str, values: set[str], labels: dict) -> bool:
    return labels.get(key) in values


def _not_in(key: str, values: set[str], labels: dict) -> bool:
    return labels.get(key) not in values


def _equal(key: str, value: str, labels: dict) -> bool:
    return labels.get(key) == value


def _not_equal(key: str, value: str, labels: dict) -> bool:
    return labels.get(key) != value


def _present(key: str, labels: dict) -> bool:
    return key in labels


def _absent(key: str, labels: dict) -> bool:
    return key not in labels


def parse_label_selector(expr: str | None) -> Predicate | None:
    """None when the selector is empty (matches everything)."""
    if not expr or not expr.strip():
        return None
    reqs: list[Callable[[dict], bool]] = []
    for part in _split_top(expr):
        m = _SET_RE.match(part)
        if m:
            key, op, vals = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",") if v.strip()}
            if op == "in":
                reqs.append(functools.partial(_in, key, vals))
            else:
                reqs.append(functools.partial(_not_in, key, vals))
            continue
        for op in ("!=", "==", "="):
            if op in part:
                key, val = (s.strip() for s in part.split(op, 1))
                if not _KEY_RE.match(key):
                    raise bad_request(f"unable to parse requirement: invalid label key {key!r}")
                if op == "!=":
                    reqs.append(functools.partial(_not_equal, key, val))
                else:
                    reqs.append(functools.partial(_equal, key, val))
                break
        else:
            if part.startswith("!"):
                key = part[1:].strip()
                if not _KEY_RE.match(key):
                    raise bad_request(f"unable to parse requirement: invalid label key {key!r}")
                reqs.append(functools.partial(_absent, key))
            elif _KEY_RE.match(part):
                reqs.append(functools.partial(_present, part))
            else:
                raise bad_request(f"unable to parse requirement: {part!r}")

    def match(obj: dict) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(r(labels) for r in reqs)
    return match


def labels_match(selector: dict | None, labels: dict | None) -> bool:
    """metav1.LabelSelector (matchLabels + matchExpressions) against labels.
    An empty selector matches everything; None matches nothing."""
    if selector is None:
        return False
    labels = labels or {}
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        k, op, vals = e.get("key"), e.get("operator"), e.get("values") or []
        if op == "In" and labels.get(k) not in vals:
            return False
        if op == "NotIn" and labels.get(k) in vals:
            return False
        if op == "Exists" and k not in labels:
            return False
        if op == "DoesNotExist" and k in labels:
            return False
    return True


def field_value(obj: dict, path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
        if cur is None:
            return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    if isinstance(cur, dict):  # e.g. events' "source" field selector is source.component
        return cur.get("component", "")
    return str(cur)


def parse_field_selector(expr: str | None, allowed: tuple[str, ...], kind: str) -> Predicate | None:
    if not expr or not expr.strip():
        return None
    ok = {"metadata.name", "metadata.namespace", *allowed}
    reqs = []
    for part in _split_top(expr):
        for op in ("!=", "==", "="):
            if op in part:
                path, val = (s.strip() for s in part.split(op, 1))
                break
        else:
            raise bad_request(f"invalid selector: '{expr}'; can't understand '{part}'")
        if path not in ok:
            raise bad_request(f'field label not supported: {path}')
        if op == "!=":
            reqs.append(lambda o, p=path, v=val: field_value(o, p) != v)
        else:
            reqs.append(lambda o, p=path, v=val: field_value(o, p) == v)
    return lambda o: all(r(o) for r in reqs)


def combine(*preds: Predicate | None) -> Predicate | None:
    ps = [p for p in preds if p is not None]
    if not ps:
        return None
    if len(ps) == 1:
        return ps[0]
    return lambda o: all(p(o) for p in ps)
