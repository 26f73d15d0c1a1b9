"""Backup sets: what one run left in one repository, and when it counts.

A run backs up each source as a data snapshot and a snapshot of its SHA-256
manifest, tagged `dsconsole`, `set=ID`, `source=NAME`, `part=data|manifest`;
the manifest's tags also say how many sources the set has (`of=N`) and the
source's size when it was hashed (`bytes=`, `files=`). A set counts once the
repository lists a data and a manifest snapshot for each of its N sources:
restic writes a snapshot only when its backup is whole, so a run that stopped
half way (a dropped host, a killed console) leaves a set that never counts.
No separate commit snapshot: one restic start less on every backup (each
start opens the repository, ~0.5 s here), and one listing reads every set.
"""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

from .restic import Restic
from .times import parse_restic_time

TAG = "dsconsole"
MANIFEST_FILE = "manifest.sha256"


def new_set_id() -> str:
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


def tags(set_id: str, source: str, part: str, **extra: object) -> list[str]:
    return [TAG, f"set={set_id}", f"part={part}", f"source={source}"] + [f"{k}={v}" for k, v in extra.items()]


def tag_value(snapshot: dict, key: str) -> str | None:
    for t in snapshot.get("tags") or ():
        if t.startswith(key + "="):
            return t[len(key) + 1:]
    return None


@dataclass
class SourceEntry:
    data: str                 # snapshot id
    manifest: str             # snapshot id of its manifest
    paths: list[str]          # what restic backed up (the path, or /NAME of a --stdin file)
    bytes: int
    files: int

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class BackupSet:
    set_id: str
    time: float               # when its first data snapshot was taken (the recovery point)
    of: int = 0               # sources the set was made of
    sources: dict[str, SourceEntry] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.of > 0 and len(self.sources) == self.of

    @property
    def bytes(self) -> int:
        return sum(s.bytes for s in self.sources.values())

    def summary(self) -> dict:
        return {"set": self.set_id, "time": self.time, "bytes": self.bytes, "complete": self.complete,
                "sources": {n: {"snapshot": s.data, "manifest": s.manifest, "bytes": s.bytes,
                                "files": s.files} for n, s in self.sources.items()}}


def group(snapshots: list[dict]) -> dict[str, dict[str, dict[str, dict]]]:
    """set id -> source -> part -> snapshot."""
    out: dict[str, dict[str, dict[str, dict]]] = {}
    for snap in snapshots:
        sid, src, part = tag_value(snap, "set"), tag_value(snap, "source"), tag_value(snap, "part")
        if sid and src and part:
            out.setdefault(sid, {}).setdefault(src, {})[part] = snap
    return out


def assemble(set_id: str, parts: dict[str, dict[str, dict]]) -> BackupSet:
    bset = BackupSet(set_id, float("inf"))
    for src, p in parts.items():
        if "data" not in p or "manifest" not in p:
            continue
        m = p["manifest"]
        bset.of = max(bset.of, int(tag_value(m, "of") or 0))
        bset.sources[src] = SourceEntry(p["data"]["id"], m["id"], list(p["data"].get("paths") or ()),
                                        int(tag_value(m, "bytes") or 0), int(tag_value(m, "files") or 0))
        bset.time = min(bset.time, parse_restic_time(p["data"]["time"]))
    return bset


def all_sets(restic: Restic) -> list[BackupSet]:
    """Every set of the repository, complete or not, oldest first."""
    sets = [assemble(sid, parts) for sid, parts in group(restic.snapshots(TAG)).items()]
    return sorted((s for s in sets if s.sources), key=lambda s: s.time)


def run_parts(restic: Restic, set_id: str) -> dict[str, dict[str, dict]]:
    """source -> part -> snapshot of one set (what a run wrote so far)."""
    return group(restic.snapshots(TAG, f"set={set_id}")).get(set_id, {})


def latest_set(restic: Restic) -> BackupSet | None:
    """The newest complete set of the repository, or None."""
    done = [s for s in all_sets(restic) if s.complete]
    return done[-1] if done else None


def load_set(restic: Restic, set_id: str) -> BackupSet | None:
    bset = assemble(set_id, run_parts(restic, set_id))
    return bset if bset.complete else None
