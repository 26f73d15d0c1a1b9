"""Retention by backup set: the site's keep_* policy picks the sets to keep
(as restic's forget does with snapshots: the newest N; the newest of each of
the last N days, ISO weeks, months); every snapshot of the others goes, and
so do the leftovers of runs that never completed. Previewed before it runs."""
from __future__ import annotations

import time
from dataclasses import dataclass

from console.site_config import BackupPolicy

from .restic import Restic, ResticError, last_words
from .sets import TAG, assemble, group, tag_value
from .times import parse_restic_time


@dataclass
class RetentionPlan:
    keep: list[str]                 # set ids kept
    remove: list[str]               # set ids removed
    leftovers: list[str]            # incomplete set ids removed (runs that never finished)
    snapshots: list[str]            # snapshot ids to forget

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def has_policy(p: BackupPolicy) -> bool:
    return any(v for v in (p.keep_last, p.keep_daily, p.keep_weekly, p.keep_monthly))


def choose(sets: list[tuple[str, float]], p: BackupPolicy) -> set[str]:
    """Set ids to keep from (set id, time) pairs."""
    newest_first = sorted(sets, key=lambda s: -s[1])
    keep: set[str] = set()
    if p.keep_last:
        keep.update(s for s, _ in newest_first[:p.keep_last])
    for n, bucket in ((p.keep_daily, "%Y-%m-%d"), (p.keep_weekly, "%G-W%V"), (p.keep_monthly, "%Y-%m")):
        if not n:
            continue
        seen: list[str] = []
        for s, t in newest_first:
            b = time.strftime(bucket, time.gmtime(t))
            if b not in seen:
                if len(seen) == n:
                    break
                seen.append(b)
                keep.add(s)
    return keep


def plan(restic: Restic, policy: BackupPolicy) -> RetentionPlan:
    snaps = restic.snapshots(TAG)
    grouped = group(snaps)
    sets = {sid: assemble(sid, parts) for sid, parts in grouped.items()}
    complete = {sid: b.time for sid, b in sets.items() if b.complete}
    keep = choose(list(complete.items()), policy) if has_policy(policy) else set(complete)
    newest = max(complete.values(), default=0.0)
    by_set: dict[str, list[str]] = {}
    for s in snaps:
        sid = tag_value(s, "set")
        if sid:
            by_set.setdefault(sid, []).append(s["id"])
    # an incomplete set older than the newest complete one is a run that never finished
    leftovers = sorted(sid for sid in by_set if sid not in complete
                       and max(parse_restic_time(x["time"]) for x in snaps if tag_value(x, "set") == sid) < newest)
    remove = sorted(sid for sid in complete if sid not in keep)
    ids = [i for sid in remove + leftovers for i in by_set[sid]]
    return RetentionPlan(sorted(keep), remove, leftovers, ids)


def apply(restic: Restic, rp: RetentionPlan) -> str:
    if not rp.snapshots:
        return "nothing to remove"
    # a run cut short leaves its lock behind, which prune (an exclusive lock)
    # trips over; `unlock` removes only stale ones (dead process, or old)
    restic.run("unlock", timeout=600)
    r = restic.run("forget", "--prune", *rp.snapshots, timeout=24 * 3600)
    if not r.ok:
        raise ResticError(last_words(r))
    return f"removed {len(rp.remove)} set(s) and {len(rp.leftovers)} unfinished run(s): " \
           f"{len(rp.snapshots)} snapshot(s), pruned"
