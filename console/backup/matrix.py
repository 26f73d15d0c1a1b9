"""The 3-2-1 matrix: per copy what its repository holds and what the last
verification proved, and a verdict per rule (3 copies, 2 media, 1 offline,
1 off-site) counting only the copies that are good.

A copy is good when its newest complete set exists and a verification
(check or restore drill) passed for a set of it, with no failed verification
since. An incomplete set (a run that stopped half way) is invisible here.
A detached offline copy is judged by what was recorded when it was detached."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from console.hosts.transport import TransportError

from . import records
from .context import BackupContext
from .restic import NO_REPOSITORY, ResticError
from .sets import latest_set

GOOD, WARN, FAILED, MISSING, UNVERIFIED, UNREACHABLE = (
    "ok", "warn", "failed", "missing", "unverified", "unreachable")
COUNTS = (GOOD, WARN)


@dataclass
class CopyState:
    name: str
    kind: str
    medium: str
    repository: str
    status: str = MISSING
    set_id: str | None = None
    set_time: float | None = None
    set_bytes: int | None = None
    verified_set_time: float | None = None   # newest set a verification proved
    last_check: dict | None = None
    last_drill: dict | None = None
    detached_at: float | None = None
    notes: list[str] = field(default_factory=list)
    now: float = 0.0

    @property
    def counts(self) -> bool:
        return self.status in COUNTS

    @property
    def age_s(self) -> float | None:
        return None if self.set_time is None else self.now - self.set_time

    @property
    def rpo_s(self) -> float | None:
        return None if self.verified_set_time is None else self.now - self.verified_set_time

    @property
    def rto(self) -> dict | None:
        return (self.last_drill or {}).get("rto") if (self.last_drill or {}).get("ok") else None

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "medium": self.medium,
                "repository": self.repository, "status": self.status, "counts": self.counts,
                "set": self.set_id, "set_time": self.set_time, "set_bytes": self.set_bytes,
                "age_s": _r(self.age_s), "rpo_s": _r(self.rpo_s), "rto": self.rto,
                "verified_set_time": self.verified_set_time,
                "last_check": _brief(self.last_check), "last_drill": _brief(self.last_drill),
                "detached_at": self.detached_at, "notes": list(self.notes)}


@dataclass(frozen=True)
class Rule:
    name: str
    met: bool
    detail: str

    def to_dict(self) -> dict:
        return {"rule": self.name, "met": self.met, "detail": self.detail}


@dataclass
class Matrix:
    copies: list[CopyState]
    rules: list[Rule]
    time: float

    @property
    def all_met(self) -> bool:
        return all(r.met for r in self.rules)

    def to_dict(self) -> dict:
        return {"time": self.time, "all_met": self.all_met, "rules": [r.to_dict() for r in self.rules],
                "copies": [c.to_dict() for c in self.copies]}


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 1)


def _brief(v: dict | None) -> dict | None:
    if not v:
        return None
    return {k: v.get(k) for k in ("time", "ok", "message", "set", "restore_s", "read_data_subset_pct")
            if k in v}


def inspect_copy(ctx: BackupContext, name: str, now: float | None = None) -> CopyState:
    copy = ctx.copy(name)
    now = time.time() if now is None else now
    st = CopyState(copy.name, copy.kind, copy.medium, copy.repository, now=now)
    rec = records.load(ctx.name, name)
    # verifications of another repository (the site file changed) do not count
    for key in ("check", "drill"):
        v = rec.get(key)
        if v and v.get("repository") == copy.repository:
            setattr(st, "last_check" if key == "check" else "last_drill", v)
    detached = rec.get("detached")
    if detached and detached.get("repository") == copy.repository:
        st.detached_at = detached["time"]
        st.set_id, st.set_time, st.set_bytes = detached.get("set"), detached.get("set_time"), detached.get("bytes")
        st.notes.append(f"detached {_age(now - st.detached_at)} ago (judged by what it held then)")
    else:
        try:
            bset = latest_set(ctx.restic(copy))
        except ResticError as e:
            if NO_REPOSITORY.search(str(e)):
                bset = None   # not created yet: nothing backed up there
            else:
                st.status = UNREACHABLE
                st.notes.append(str(e)[:300])
                return _judge_verifications(st, ctx, reachable=False)
        except TransportError as e:
            st.status = UNREACHABLE
            st.notes.append(str(e)[:300])
            return _judge_verifications(st, ctx, reachable=False)
        if bset is not None:
            st.set_id, st.set_time, st.set_bytes = bset.set_id, bset.time, bset.bytes
    return _judge_verifications(st, ctx, reachable=True)


def _judge_verifications(st: CopyState, ctx: BackupContext, *, reachable: bool) -> CopyState:
    policy = ctx.cfg.policy
    done = [v for v in (st.last_check, st.last_drill) if v]
    passed = [v for v in done if v.get("ok") and v.get("set_time") is not None]
    if passed:
        st.verified_set_time = max(v["set_time"] for v in passed)
    if not reachable:
        return st
    if st.set_id is None:
        st.status = MISSING
        st.notes.append("no complete backup set")
        return st
    last = max(done, key=lambda v: v["time"]) if done else None
    if last is not None and not last.get("ok"):
        st.status = FAILED
        st.notes.append(f"last {last.get('kind', 'verification')} failed: {last.get('message', '')}"[:300])
        return st
    if not passed or last is None:   # last is None only when nothing was done, so nothing passed
        st.status = UNVERIFIED
        st.notes.append("not yet proven: run `dsconsole backup verify` / `restore`")
        return st
    st.status = GOOD
    if st.now - last["time"] > policy.verify_every_h * 3600:
        st.status = WARN
        st.notes.append(f"verification overdue: last {_age(st.now - last['time'])} ago, "
                        f"policy every {policy.verify_every_h:g} h")
    if st.kind == "offline" and st.age_s is not None and st.age_s > policy.offline_max_age_d * 86400:
        st.status = WARN
        st.notes.append(f"offline copy is {_age(st.age_s)} old, policy {policy.offline_max_age_d:g} days")
    return st


def rules(copies: list[CopyState]) -> list[Rule]:
    good = [c for c in copies if c.counts]
    names = lambda cs: ", ".join(c.name for c in cs) or "none"  # noqa: E731
    media = sorted({c.medium for c in good})
    offline = [c for c in good if c.kind == "offline"]
    offsite = [c for c in good if c.kind == "off-site"]
    return [Rule("3 copies", len(good) >= 3, f"{len(good)} good: {names(good)}"),
            Rule("2 media", len(media) >= 2, f"{len(media)}: {', '.join(media) or 'none'}"),
            Rule("1 offline", bool(offline), names(offline)),
            Rule("1 off-site", bool(offsite), names(offsite))]


def build_matrix(ctx: BackupContext, copies: list[str] | None = None, *, now: float | None = None) -> Matrix:
    """`now`: the time ages are counted to (default: now)."""
    from concurrent.futures import ThreadPoolExecutor
    now = time.time() if now is None else now
    names = copies or [c.name for c in ctx.cfg.copies]
    with ThreadPoolExecutor(max_workers=min(8, len(names) or 1)) as pool:
        states = list(pool.map(lambda n: inspect_copy(ctx, n, now), names))
    return Matrix(states, rules(states), now)


def render_age(s: float | None) -> str:
    return "-" if s is None else _age(s)


def _age(s: float) -> str:
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    if s < 172800:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} d"


def render(m: Matrix) -> str:
    """The matrix as plain text (outside text made visible by the caller's printer)."""
    lines = [f"{'copy':<12} {'kind':<10} {'medium':<9} {'status':<11} {'latest set':<12} "
             f"{'RPO':<8} {'RTO (restore)':<16}"]
    for c in m.copies:
        rto = c.rto
        rto_text = (f"{rto['measured_s']:.1f} s" + (f" -> {rto['extrapolated_s']:.0f} s full"
                                                   if rto['extrapolated_s'] != rto['measured_s'] else ""))\
            if rto else "-"
        lines.append(f"{c.name:<12} {c.kind:<10} {c.medium:<9} {c.status:<11} "
                     f"{(_age(c.age_s) + ' ago') if c.age_s is not None else '-':<12} "
                     f"{_age(c.rpo_s) if c.rpo_s is not None else '-':<8} {rto_text:<16}")
        lines += [f"    {n}" for n in c.notes]
    lines.append("")
    for r in m.rules:
        lines.append(f"[{'met' if r.met else 'NOT MET'}] {r.name}: {r.detail}")
    return "\n".join(lines)
