"""Retention by backup set: the site's keep_* policy picks the sets to keep
(as restic's forget does with snapshots: the newest N; the newest of each of
the last N days, ISO weeks, months); every snapshot of the others goes, and
so do the leftovers of runs that never committed. Previewed before it runs."""
from __future__ import annotations

import time
from dataclasses import dataclass

from console.site_config import BackupPolicy

from .restic import Restic, ResticError, last_words
from .sets import TAG, tag_value
from .times import parse_restic_time


@dataclass
class RetentionPlan:
    keep: list[str]                 # set ids kept
    remove: list[str]               # set ids removed
    leftovers: list[str]            # uncommitted set ids removed
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
    by_set: dict[str, list[dict]] = {}
    for s in snaps:
        sid = tag_value(s, "set")
        if sid:
            by_set.setdefault(sid, []).append(s)
    committed = {sid: parse_restic_time(next(x for x in ss if tag_value(x, "part") == "set")["time"])
                 for sid, ss in by_set.items() if any(tag_value(x, "part") == "set" for x in ss)}
    keep = choose(list(committed.items()), policy) if has_policy(policy) else set(committed)
    newest = max(committed.values(), default=0.0)
    leftovers = [sid for sid, ss in by_set.items() if sid not in committed
                 and max(parse_restic_time(x["time"]) for x in ss) < newest]
    remove = sorted(sid for sid in committed if sid not in keep)
    ids = [x["id"] for sid in remove + leftovers for x in by_set[sid]]
    return RetentionPlan(sorted(keep), remove, sorted(leftovers), ids)


def apply(restic: Restic, rp: RetentionPlan) -> str:
    if not rp.snapshots:
        return "nothing to remove"
    r = restic.run("forget", "--prune", *rp.snapshots, timeout=24 * 3600)
    if not r.ok:
        raise ResticError(last_words(r))
    return f"removed {len(rp.remove)} set(s) and {len(rp.leftovers)} unfinished run(s): " \
           f"{len(rp.snapshots)} snapshot(s), pruned"
