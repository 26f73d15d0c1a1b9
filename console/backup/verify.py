"""Proving a copy: `restic check` with a read-data subset, and the restore
drill (restore a set into a scratch directory on the copy's host, compare
every file with the SHA-256 manifest taken at backup time, time it).

Each outcome is recorded (console.backup.records) for the matrix: RPO counts
from the newest set a verification proved; RTO is the drill's measured
restore time, extrapolated to the set's full size and labelled as such."""
from __future__ import annotations

import shlex
import time
from typing import TYPE_CHECKING

from console.hosts.transport import TransportError

from . import manifest as mf
from . import records
from .content import FILE_NAMES
from .context import BackupContext
from .restic import Restic, ResticError, last_words
from .sets import MANIFEST_FILE, BackupSet, latest_set, load_set

if TYPE_CHECKING:
    from console.audit import AuditLog


def check_copy(ctx: BackupContext, name: str, *, subset_pct: float | None = None) -> dict:
    """restic check --read-data-subset on the copy; recorded; returns the outcome."""
    copy = ctx.copy(name)
    pct = ctx.cfg.policy.read_data_subset_pct if subset_pct is None else subset_pct
    restic = ctx.restic(copy)
    now = time.time()
    out = {"copy": name, "kind": "check", "time": now, "read_data_subset_pct": pct,
           "repository": copy.repository}
    try:
        bset = latest_set(restic)
        r = restic.run("check", f"--read-data-subset={pct:g}%", timeout=24 * 3600)
        out["ok"] = r.ok and bset is not None
        out["message"] = ("no errors were found" if r.ok else last_words(r)) if bset is not None \
            else "no complete set in the repository"
        if bset is not None:
            out["set"], out["set_time"] = bset.set_id, bset.time
    except (ResticError, TransportError) as e:
        out.update(ok=False, message=str(e))
    out["duration_s"] = round(time.time() - now, 3)
    records.update(ctx.name, name, check=out)
    return out


def drill(ctx: BackupContext, name: str, *, set_id: str | None = None) -> dict:
    """Restore a set (default: the newest) of the copy into a scratch directory
    on the copy's host and compare every file with its manifest."""
    copy = ctx.copy(name)
    restic = ctx.restic(copy)
    host = restic.host
    started = time.time()
    out: dict = {"copy": name, "kind": "drill", "time": started, "repository": copy.repository}
    scratch = None
    try:
        bset = load_set(restic, set_id) if set_id else latest_set(restic)
        if bset is None:
            raise ResticError(f"no complete set{' ' + set_id if set_id else ''} in {copy.repository}")
        out.update(set=bset.set_id, set_time=bset.time, bytes=bset.bytes)
        base = ctx.cfg.policy.scratch_dir
        r = host.run(f"mkdir -p {shlex.quote(base)} && mktemp -d {shlex.quote(base)}/dsconsole-drill.XXXXXX")
        if not r.ok:
            raise ResticError(f"cannot make a scratch directory in {base}: {r.stderr.strip()}")
        scratch = r.stdout.strip()
        mismatches, restore_s, files = _restore_and_compare(ctx, restic, bset, scratch)
        out.update(ok=not mismatches, mismatches=mismatches[:50], files=files,
                   restore_s=round(restore_s, 3),
                   message=(f"{files} file(s) restored, every SHA-256 matches its manifest"
                            if not mismatches else f"{len(mismatches)} file(s) differ from the manifest"))
        out["rto"] = rto(restore_s, bset.bytes, bset.bytes)
    except (ResticError, TransportError, mf.ManifestError) as e:
        out.update(ok=False, message=str(e))
    finally:
        if scratch:
            try:
                host.run(f"rm -rf -- {shlex.quote(scratch)}", timeout=3600)
            except TransportError:
                pass
    out["duration_s"] = round(time.time() - started, 3)
    records.update(ctx.name, name, drill=out)
    return out


def _restore_and_compare(ctx: BackupContext, restic: Restic, bset: BackupSet,
                         scratch: str) -> tuple[list[str], float, int]:
    mismatches: list[str] = []
    restore_s = 0.0
    files = 0
    for src_name, entry in bset.sources.items():
        target = f"{scratch}/{src_name}"
        t0 = time.monotonic()
        r = restic.run("restore", entry.data, "--target", target, timeout=24 * 3600)
        restore_s += time.monotonic() - t0
        if not r.ok:
            raise ResticError(f"restore of {src_name} failed: {last_words(r)}")
        expected = mf.parse(restic.dump(entry.manifest, "/" + MANIFEST_FILE).decode("utf-8", "surrogateescape"))
        is_directory = _was_directory(ctx, restic, src_name, target + (entry.paths[0] if entry.paths else ""))
        # a directory comes back under its absolute path, a --stdin file at the top
        root = target + (entry.paths[0] if is_directory and entry.paths else "")
        actual = mf.take(restic.host, root)
        if not is_directory:
            actual = {k: v for k, v in actual.items() if k in expected or k in FILE_NAMES.values()}
        mismatches += [f"{src_name}: {m}" for m in mf.compare(expected, actual)]
        files += len(actual)
    return mismatches, restore_s, files


def _was_directory(ctx: BackupContext, restic: Restic, name: str, restored_path: str) -> bool:
    """Whether source `name` was a directory (else a --stdin file): the site
    file says; for a source it no longer names (a set made with another site
    file, e.g. the demo's with its cluster objects), what came back says."""
    try:
        return ctx.source(name).kind == "directory"
    except KeyError:
        return restic.host.run(f"test -d {shlex.quote(restored_path)}").ok


def rto(restore_s: float, restored_bytes: int, full_bytes: int) -> dict:
    """Measured restore time and its extrapolation to the full size."""
    factor = full_bytes / restored_bytes if restored_bytes else 1.0
    return {"measured_s": round(restore_s, 3), "restored_bytes": restored_bytes,
            "full_bytes": full_bytes, "extrapolated_s": round(restore_s * factor, 3),
            "rate_bytes_per_s": round(restored_bytes / restore_s) if restore_s > 0 else None}


def audit_outcome(audit: AuditLog, r: dict) -> None:
    """One audit record for a check or drill outcome (no password: there is none in it)."""
    audit.append(f"backup.{r['kind']}", host=r["copy"],
                 args={k: r[k] for k in ("set", "read_data_subset_pct", "restore_s", "rto", "files",
                                         "duration_s") if k in r},
                 result=("ok: " if r["ok"] else "failed: ") + r["message"][:300])
