"""The backup wizard's steps. Per copy: one step per source (data snapshot,
then its SHA-256 manifest snapshot), then `commit` (the set snapshot that
makes the run count). A step that finds its part already in the repository
(a resumed or rerun set) has nothing to do.

A backup changes nothing that could be put back, so rollback does nothing:
an uncommitted set never counts, and retention removes old ones."""
from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

from console.backup import manifest as mf
from console.backup.content import read_content
from console.backup.context import BackupContext
from console.backup.progress import BackupProgress, human_bytes, parse_status
from console.backup.restic import Restic, ResticError, last_words, summary_of
from console.backup.sets import (
    MANIFEST_FILE,
    SET_FILE,
    BackupSet,
    SourceEntry,
    run_parts,
    tag_value,
    tags,
)
from console.backup.times import parse_restic_time
from console.hosts.transport import CommandResult
from console.site_config import BackupCopy, BackupSource

from ..step import NEEDED, OK, CheckResult, Step, StepError, VerifyResult

# restic's words for "there is no repository here" (init it), as opposed to
# "cannot reach it" or "wrong password" (an error)
NO_REPOSITORY = re.compile(r"unable to open config file|does not exist|Is there a repository at")

# how often a running backup is looked at: soon at first (short backups end
# soon), then at most once a second
POLL_FIRST_S, POLL_MAX_S = 0.05, 1.0


class CopyMemo:
    """What the steps of one copy know of its repository within one process:
    every restic start opens the repository (key derivation, index: ~0.5 s
    here), so the set's snapshots are listed once and then kept up to date
    from restic's own summaries of what it saved. The commit step's verify
    lists them afresh: one real look at the whole set per copy."""

    def __init__(self):
        self.lock = threading.Lock()
        self.parts: dict[str, dict[str, dict]] | None = None   # None: not looked yet
        self.exists: bool | None = None


class _CopyStep(Step):
    def __init__(self, ctx: BackupContext, copy: BackupCopy, set_id: str, restic: Restic,
                 memo: CopyMemo):
        super().__init__(restic.host)
        self.ctx, self.copy, self.set_id, self.restic, self.memo = ctx, copy, set_id, restic, memo
        self.on_progress: Callable[[str, str, BackupProgress], None] | None = None
        self.result: dict = {}

    def _parts(self, *, fresh: bool = False) -> dict[str, dict[str, dict]]:
        """source -> part -> snapshot of this set ({} while the repository does not exist)."""
        with self.memo.lock:
            if self.memo.parts is None or fresh:
                try:
                    self.memo.parts = run_parts(self.restic, self.set_id)
                    self.memo.exists = True
                except ResticError as e:
                    if not NO_REPOSITORY.search(str(e)):
                        raise StepError(f"copy {self.copy.name}: {e}") from None
                    self.memo.parts, self.memo.exists = {}, False
            return self.memo.parts

    def _saved(self, source: str, part: str, snapshot_id: str, extra_tags: list[str] = ()) -> None:
        with self.memo.lock:
            if self.memo.parts is None:
                self.memo.parts = {}
            self.memo.parts.setdefault(source, {})[part] = {
                "id": snapshot_id, "tags": list(extra_tags), "time": _now_rfc3339()}

    def _ensure_repository(self) -> None:
        self._parts()
        if not self.memo.exists:
            try:
                self.restic.init()
            except ResticError as e:
                raise StepError(f"cannot create repository {self.copy.repository}: {e}") from None
            self.memo.exists = True


class BackupSourceStep(_CopyStep):
    def __init__(self, ctx: BackupContext, copy: BackupCopy, source: BackupSource, set_id: str,
                 memo: CopyMemo):
        on_host = source.host if source.kind == "directory" else copy.host
        super().__init__(ctx, copy, set_id, ctx.restic(copy, on_host), memo)
        self.source = source
        self.id = f"backup.{source.name}"
        what = source.path if source.kind == "directory" else source.kind
        self.title = f"back up {source.name} ({what}) to {copy.name}"

    def _done(self) -> bool:
        parts = self._parts().get(self.source.name, {})
        return "data" in parts and "manifest" in parts

    def check(self) -> CheckResult:
        done = self._done()
        exists = self.memo.exists
        if done:
            return CheckResult(False, f"{self.title}: already in set {self.set_id}")
        where = (f"restic on {self.restic.host.name}"
                 + (f" from {self.source.host}:{self.source.path}" if self.source.kind == "directory" else ""))
        notes = () if exists else (f"repository {self.copy.repository} does not exist yet: it will be "
                                   "initialised (restic init)",)
        return CheckResult(True, f"{self.title}: new snapshot in {self.copy.repository}",
                           persistent=(f"{self.copy.repository}: + snapshot of {self.source.name} and its "
                                       f"SHA-256 manifest (set {self.set_id}), {where}",),
                           notes=notes, status=NEEDED)

    def apply(self, before) -> tuple[str, ...]:
        self._ensure_repository()
        if self._done():
            return ("already in the repository (an earlier attempt)",)
        if self.source.kind == "directory":
            summary, manifest = self._backup_directory()
            paths = [self.source.path]
        else:
            data, name, desc = read_content(self.source, self.ctx.site)
            manifest = mf.of_bytes(name, data)
            try:
                summary = self.restic.backup_stdin(data, name, tags(self.set_id, self.source.name, "data"))
            except ResticError as e:
                raise StepError(f"restic backup failed: {e}") from None
            paths = ["/" + name]
        self._saved(self.source.name, "data", summary["snapshot_id"])
        self.memo.parts[self.source.name]["data"]["paths"] = paths
        stats = {"bytes": int(summary.get("total_bytes_processed") or 0),
                 "files": int(summary.get("total_files_processed") or 0),
                 "duration_s": float(summary.get("total_duration") or 0.0)}
        manifest_tags = (tags(self.set_id, self.source.name, "manifest")
                         + [f"{k}={v}" for k, v in stats.items()] + [f"data={summary['snapshot_id']}"])
        try:
            saved = self.restic.backup_stdin(mf.render(manifest), MANIFEST_FILE, manifest_tags)
        except ResticError as e:
            raise StepError(f"storing the manifest failed: {e}") from None
        self._saved(self.source.name, "manifest", saved["snapshot_id"], manifest_tags)
        self.result = {"copy": self.copy.name, "source": self.source.name,
                       "snapshot": summary["snapshot_id"], "paths": paths, "files_hashed": len(manifest),
                       **stats}
        return (f"snapshot {summary['snapshot_id'][:8]}: {human_bytes(stats['bytes'])} in "
                f"{stats['files']} file(s), {stats['duration_s']:.1f} s; manifest of {len(manifest)} file(s)",)

    def _backup_directory(self) -> tuple[dict, dict]:
        """restic detached on the source's host, the manifest taken alongside
        (both read the same files; two cores beat one), progress polled."""
        job = self.restic.start("backup", "--json", *[f"--tag={t}" for t in
                                                      tags(self.set_id, self.source.name, "data")],
                                self.source.path)
        box: dict = {}

        def hash_files():
            try:
                box["manifest"] = mf.take(self.restic.host, self.source.path)
            except Exception as e:   # reported after restic ends
                box["error"] = e

        hasher = threading.Thread(target=hash_files, daemon=True)
        hasher.start()
        try:
            delay, rc = POLL_FIRST_S, None
            while rc is None:
                time.sleep(delay)
                delay = min(POLL_MAX_S, delay * 2)
                line, rc = job.poll()
                prog = parse_status(line)
                if prog is not None and self.on_progress is not None:
                    self.on_progress(self.copy.name, self.source.name, prog)
            out, err = job.output()
        except BaseException:
            job.stop()
            raise
        finally:
            hasher.join()
        job.clean()
        if rc != 0:
            raise StepError(f"restic backup failed on {self.restic.host.name}: "
                            f"{last_words(CommandResult(rc, out, err))}")
        if "error" in box:
            raise StepError(str(box["error"]))
        try:
            return summary_of(out), box["manifest"]
        except ResticError as e:
            raise StepError(str(e)) from None

    def verify(self) -> VerifyResult:
        ok = self._done()
        return VerifyResult(ok, f"{self.source.name}: snapshot and manifest in {self.copy.name}" if ok
                            else f"{self.source.name}: no snapshot with manifest in {self.copy.name}")


class CommitStep(_CopyStep):
    """Writes the set snapshot once every source of the copy is in."""
    id = "commit"

    def __init__(self, ctx: BackupContext, copy: BackupCopy, set_id: str, memo: CopyMemo):
        super().__init__(ctx, copy, set_id, ctx.restic(copy), memo)
        self.title = f"commit set {set_id} in {copy.name}"

    def check(self) -> CheckResult:
        if "set" in self._parts().get("", {}):
            return CheckResult(False, f"{self.title}: committed")
        return CheckResult(True, f"{self.title}: the set counts once every source is in",
                           persistent=(f"{self.copy.repository}: + {SET_FILE} (set {self.set_id})",),
                           status=NEEDED)

    def apply(self, before) -> tuple[str, ...]:
        parts = self._parts()
        bset = BackupSet(self.set_id, time.time())
        missing = []
        for src in self.ctx.cfg.sources:
            p = parts.get(src.name, {})
            if "data" not in p or "manifest" not in p:
                missing.append(src.name)
                continue
            m = p["manifest"]
            bset.sources[src.name] = SourceEntry(
                data=p["data"]["id"], manifest=m["id"], paths=list(p["data"].get("paths") or ()),
                bytes=int(tag_value(m, "bytes") or 0), files=int(tag_value(m, "files") or 0),
                duration_s=float(tag_value(m, "duration_s") or 0))
            bset.time = min(bset.time, parse_restic_time(p["data"]["time"]))
        if missing:
            raise StepError(f"set {self.set_id} lacks {', '.join(missing)}: not committed")
        try:
            summary = self.restic.backup_stdin(bset.to_json(), SET_FILE, tags(self.set_id, None, "set"))
        except ResticError as e:
            raise StepError(f"writing the set snapshot failed: {e}") from None
        bset.snapshot = summary["snapshot_id"]
        self._saved("", "set", bset.snapshot)
        self.result = {"copy": self.copy.name, **bset.summary()}
        return (f"set {self.set_id} committed ({human_bytes(bset.bytes)}, snapshot "
                f"{bset.snapshot[:8]})",)

    def verify(self) -> VerifyResult:
        parts = self._parts(fresh=True)
        whole = "set" in parts.get("", {}) and all(
            {"data", "manifest"} <= set(parts.get(s.name, {})) for s in self.ctx.cfg.sources)
        return VerifyResult(whole, f"set {self.set_id} in {self.copy.name}: "
                            + ("every source and the set snapshot listed" if whole else "incomplete"))


def _now_rfc3339() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


__all__ = ["BackupSourceStep", "CommitStep", "OK"]
