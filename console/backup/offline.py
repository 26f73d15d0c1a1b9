"""The offline copy's life: written while attached, then recorded as detached
(with what it held) before it is unplugged and stored away; the matrix judges
it by that record and warns when it grows older than the policy allows."""
from __future__ import annotations

import time

from . import records
from .context import BackupContext
from .sets import latest_set


class DetachError(Exception):
    pass


def detach(ctx: BackupContext, name: str) -> dict:
    copy = ctx.copy(name)
    if copy.kind != "offline":
        raise DetachError(f"copy {name} is {copy.kind}, not offline: only an offline copy is detached")
    bset = latest_set(ctx.restic(copy))
    if bset is None:
        raise DetachError(f"copy {name} holds no complete set: back it up before detaching it")
    rec = {"time": time.time(), "repository": copy.repository, "set": bset.set_id,
           "set_time": bset.time, "bytes": bset.bytes}
    records.update(ctx.name, name, detached=rec)
    return rec


def attach(ctx: BackupContext, name: str) -> None:
    """The copy is plugged in again (a backup is about to write to it)."""
    records.update(ctx.name, name, detached=None)


def is_detached(ctx: BackupContext, name: str) -> bool:
    rec = records.load(ctx.name, name).get("detached")
    return bool(rec and rec.get("repository") == ctx.copy(name).repository)
