"""Backup sets: what one run left in one repository, and when it counts.

A run backs up each source as a data snapshot followed by its manifest
snapshot (tags `dsconsole`, `set=ID`, `source=NAME`, `part=data|manifest`)
and, once every source is in, writes the set snapshot (`part=set`): a small
JSON file naming them all. The set snapshot is the commit point: a run that
stopped half way (a dropped host, a killed console) leaves no set snapshot,
and a repository without one does not count as a copy.
"""
from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field

from .restic import Restic

TAG = "dsconsole"
SET_FILE = "dsconsole-set.json"
MANIFEST_FILE = "manifest.sha256"


def new_set_id() -> str:
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


def tags(set_id: str, source: str | None, part: str) -> list[str]:
    out = [TAG, f"set={set_id}", f"part={part}"]
    if source is not None:
        out.append(f"source={source}")
    return out


def tag_value(snapshot: dict, key: str) -> str | None:
    for t in snapshot.get("tags") or ():
        if t.startswith(key + "="):
            return t[len(key) + 1:]
    return None


@dataclass
class SourceEntry:
    data: str                 # snapshot id
    manifest: str             # snapshot id of its manifest
    paths: list[str]          # what restic backed up (the path, or the --stdin file name)
    bytes: int
    files: int
    duration_s: float

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class BackupSet:
    set_id: str
    time: float               # when the run started backing up (the recovery point)
    snapshot: str = ""        # id of the set snapshot itself
    sources: dict[str, SourceEntry] = field(default_factory=dict)

    @property
    def bytes(self) -> int:
        return sum(s.bytes for s in self.sources.values())

    def to_json(self) -> bytes:
        return json.dumps({"set": self.set_id, "time": self.time,
                           "sources": {n: s.to_dict() for n, s in self.sources.items()}},
                          indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes, snapshot: str = "") -> BackupSet:
        d = json.loads(data)
        return cls(d["set"], float(d["time"]), snapshot,
                   {n: SourceEntry(**s) for n, s in d["sources"].items()})

    def summary(self) -> dict:
        return {"set": self.set_id, "time": self.time, "snapshot": self.snapshot, "bytes": self.bytes,
                "sources": {n: {"snapshot": s.data, "bytes": s.bytes, "files": s.files,
                                "duration_s": round(s.duration_s, 3)} for n, s in self.sources.items()}}


def run_parts(restic: Restic, set_id: str) -> dict[str, dict[str, dict]]:
    """source -> part -> snapshot, of one set (what a run wrote so far; the set
    snapshot is under source "")."""
    out: dict[str, dict[str, dict]] = {}
    for snap in restic.snapshots(TAG, f"set={set_id}"):
        # the set snapshot itself has no source: it is filed under ""
        src, part = tag_value(snap, "source") or "", tag_value(snap, "part")
        if part:
            out.setdefault(src, {})[part] = snap
    return out


def latest_set(restic: Restic) -> BackupSet | None:
    """The newest committed set of the repository, or None."""
    snaps = restic.snapshots(TAG, "part=set")
    if not snaps:
        return None
    snap = max(snaps, key=lambda s: s.get("time", ""))
    return BackupSet.from_json(restic.dump(snap["id"], "/" + SET_FILE), snap["id"])


def load_set(restic: Restic, set_id: str) -> BackupSet | None:
    snaps = restic.snapshots(TAG, "part=set", f"set={set_id}")
    if not snaps:
        return None
    return BackupSet.from_json(restic.dump(snaps[0]["id"], "/" + SET_FILE), snaps[0]["id"])
