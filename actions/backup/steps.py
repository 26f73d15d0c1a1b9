"""The backup wizard's steps. Per copy: one step per source (its data
snapshot and the snapshot of its SHA-256 manifest), then `complete`, which
looks at the repository for the whole set (console.backup.sets: a set counts
once every part is listed). A step that finds its part already in the
repository (a resumed set) has nothing to do.

A backup changes nothing that could be put back, so rollback does nothing:
an incomplete set never counts, and retention removes its leftovers.

Every restic start opens the repository (key derivation, index: ~0.5 s on a
2-core machine), the fixed cost over a plain `restic backup`; the steps keep
the number of starts down: a new set is not listed (nothing can be in it), a
path repository is probed through the Transport (`config`, `snapshots/ID`)
rather than by restic, and the manifest is hashed while restic reads."""
from __future__ import annotations

import re
import shlex
import threading
import time
from collections.abc import Callable

from console.backup import manifest as mf
from console.backup.content import read_content
from console.backup.context import BackupContext
from console.backup.progress import BackupProgress, human_bytes, parse_status
from console.backup.restic import NO_REPOSITORY, Restic, ResticError, last_words, summary_of
from console.backup.sets import MANIFEST_FILE, assemble, run_parts, tags
from console.hosts.transport import CommandResult, TransportError
from console.site_config import BackupCopy, BackupSource

from ..step import NEEDED, BeforeState, CheckResult, Step, StepError, VerifyResult

# how often a running backup is looked at: soon at first (short backups end
# soon), then every half second
POLL_FIRST_S, POLL_MAX_S = 0.05, 0.5


class CopyMemo:
    """What the steps of one copy know of its repository within one process:
    the set's parts (listed once, then kept up to date from restic's own
    summaries of what it saved) and each source's figures."""

    def __init__(self, *, new_set: bool):
        self.lock = threading.Lock()
        # a set id made by this process has nothing in any repository yet
        self.parts: dict[str, dict[str, dict]] | None = {} if new_set else None
        self.exists: bool | None = None
        self.stats: dict[str, dict] = {}
        self.of = 0   # sources in the set


class _CopyStep(Step):
    def __init__(self, ctx: BackupContext, copy: BackupCopy, set_id: str, restic: Restic,
                 memo: CopyMemo):
        super().__init__(restic.host)
        self.ctx, self.copy, self.set_id, self.restic, self.memo = ctx, copy, set_id, restic, memo
        self.on_progress: Callable[[str, str, BackupProgress], None] | None = None
        self.result: dict = {}

    @property
    def _on_copy_host(self) -> bool:
        """A path repository probed through the Transport of its host."""
        return not self.copy.is_sftp and self.restic.host is self.ctx.transport(self.copy.host)

    def _exists(self) -> bool:
        with self.memo.lock:
            if self.memo.exists is None:
                if self._on_copy_host:
                    q = shlex.quote(self.copy.repository + "/config")
                    self.memo.exists = self.restic.host.run(f"test -f {q}", timeout=30).ok
                else:
                    self._list_locked()
            return bool(self.memo.exists)

    def _list_locked(self) -> None:
        try:
            self.memo.parts = run_parts(self.restic, self.set_id)
            self.memo.exists = True
        except ResticError as e:
            if not NO_REPOSITORY.search(str(e)):
                raise StepError(f"copy {self.copy.name}: {e}") from None
            self.memo.parts, self.memo.exists = {}, False

    def _parts(self, *, fresh: bool = False) -> dict[str, dict[str, dict]]:
        """source -> part -> snapshot of this set (the set snapshot under "")."""
        with self.memo.lock:
            return self._parts_locked(fresh=fresh)

    def _parts_locked(self, *, fresh: bool = False) -> dict[str, dict[str, dict]]:
        if self.memo.parts is None or fresh:
            self._list_locked()
        assert self.memo.parts is not None   # _list_locked sets it or raises
        return self.memo.parts

    def _saved(self, source: str, part: str, snapshot_id: str, tag_list: list[str], **extra: object) -> None:
        with self.memo.lock:
            self._parts_locked().setdefault(source, {})[part] = {
                "id": snapshot_id, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "tags": tag_list, **extra}

    def _ensure_repository(self) -> None:
        if not self._exists():
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
        if self._done():
            return CheckResult(False, f"{self.title}: already in set {self.set_id}")
        where = (f"restic on {self.restic.host.name}"
                 + (f" from {self.source.host}:{self.source.path}" if self.source.kind == "directory" else ""))
        notes = () if self._exists() else (f"repository {self.copy.repository} does not exist yet: it "
                                           "will be initialised (restic init)",)
        return CheckResult(True, f"{self.title}: new snapshot in {self.copy.repository}",
                           persistent=(f"{self.copy.repository}: + snapshot of {self.source.name} and its "
                                       f"SHA-256 manifest (set {self.set_id}), {where}",),
                           notes=notes, status=NEEDED)

    def apply(self, before: BeforeState) -> tuple[str, ...]:
        self._ensure_repository()
        if self._done():
            return ("already in the repository (an earlier attempt)",)
        if self.source.kind == "directory":
            path = _directory_of(self.source)
            summary, files_hashed = self._backup_directory(path)
            paths = [path]
        else:
            data, name, _ = read_content(self.source, self.ctx.site)
            try:
                summary = self.restic.backup_stdin(data, name, tags(self.set_id, self.source.name, "data"))
            except ResticError as e:
                raise StepError(f"restic backup failed: {e}") from None
            self._save_manifest(mf.of_bytes(name, data), len(data), 1)
            paths, files_hashed = ["/" + name], 1
        stats = {"bytes": int(summary.get("total_bytes_processed") or 0),
                 "files": int(summary.get("total_files_processed") or 0),
                 "duration_s": float(summary.get("total_duration") or 0.0)}
        self._saved(self.source.name, "data", summary["snapshot_id"],
                    tags(self.set_id, self.source.name, "data"), paths=paths)
        self.memo.stats[self.source.name] = stats
        self.result = {"copy": self.copy.name, "source": self.source.name,
                       "snapshot": summary["snapshot_id"], "paths": paths, "files_hashed": files_hashed,
                       **stats}
        return (f"snapshot {summary['snapshot_id'][:8]}: {human_bytes(stats['bytes'])} in "
                f"{stats['files']} file(s), {stats['duration_s']:.1f} s; manifest of {files_hashed} file(s)",)

    def _save_manifest(self, manifest: dict[str, str], size: int, files: int) -> None:
        tag_list = tags(self.set_id, self.source.name, "manifest", of=self.memo.of, bytes=size, files=files)
        try:
            saved = self.restic.backup_stdin(mf.render(manifest), MANIFEST_FILE, tag_list)
        except ResticError as e:
            raise StepError(f"storing the manifest failed: {e}") from None
        self._saved(self.source.name, "manifest", saved["snapshot_id"], tag_list)

    def _backup_directory(self, path: str) -> tuple[dict, int]:
        """restic detached on the source's host, progress polled until it
        ends; alongside, the manifest is taken (both read the same files: two
        cores beat one) and stored as its own snapshot (restic lets several
        processes write one repository: its locks are shared for backups)."""
        job = self.restic.start("backup", "--json", *[f"--tag={t}" for t in
                                                      tags(self.set_id, self.source.name, "data")],
                                path)
        box: dict = {}

        def manifest_alongside() -> None:
            try:
                m = mf.take(self.restic.host, path)
                self._save_manifest(m, *mf.size(self.restic.host, path))
                box["files"] = len(m)
            except Exception as e:   # reported after restic ends
                box["error"] = e

        side = threading.Thread(target=manifest_alongside, daemon=True)
        side.start()
        try:
            delay, rc = POLL_FIRST_S, None
            while rc is None:
                time.sleep(delay)
                delay = min(POLL_MAX_S, delay * 2)
                line, rc = job.poll()
                prog = parse_status(line)
                if prog is not None:
                    if self.on_progress is not None:
                        self.on_progress(self.copy.name, self.source.name, prog)
                    if prog.bytes_total and prog.bytes_done >= prog.bytes_total:
                        delay = POLL_FIRST_S   # all read: it is about to end
            out, err = job.output()
        except BaseException:
            try:
                job.stop()
            except TransportError:
                pass
            raise
        finally:
            side.join()
        job.clean()
        if rc != 0:
            raise StepError(f"restic backup failed on {self.restic.host.name}: "
                            f"{last_words(CommandResult(rc, out, err))}")
        if "error" in box:
            raise StepError(str(box["error"]))
        try:
            return summary_of(out), box["files"]
        except ResticError as e:
            raise StepError(str(e)) from None

    def verify(self) -> VerifyResult:
        # restic's own summaries said both snapshots were saved; the commit's
        # verify looks at the repository for the whole set
        ok = self._done()
        return VerifyResult(ok, f"{self.source.name}: snapshot and manifest saved in {self.copy.name}" if ok
                            else f"{self.source.name}: no snapshot with manifest in {self.copy.name}")


class CompleteStep(_CopyStep):
    """Looks at the repository for every part of the set: once they are all
    listed the set counts as a copy (nothing is written: restic wrote each
    snapshot whole or not at all)."""
    id = "complete"

    def __init__(self, ctx: BackupContext, copy: BackupCopy, set_id: str, memo: CopyMemo):
        super().__init__(ctx, copy, set_id, ctx.restic(copy), memo)
        self.title = f"set {set_id} complete in {copy.name}"

    def check(self) -> CheckResult:
        # always looked at (apply): what this process saved is not yet what
        # the repository lists
        return CheckResult(True, f"{self.title}: the set counts once every part is listed",
                           status=NEEDED)

    def apply(self, before: BeforeState) -> tuple[str, ...]:
        v = self.verify()
        if not v.ok:
            raise StepError(v.message)
        bset = assemble(self.set_id, self._parts())
        self.result = {"copy": self.copy.name, **bset.summary()}
        return (f"set {self.set_id}: {len(bset.sources)} source(s), {human_bytes(bset.bytes)}",)

    def verify(self) -> VerifyResult:
        """Every part is in the repository: its snapshot files, for a path
        repository (no restic start), or else restic's listing."""
        if self._on_copy_host:
            # the parts this process saved or listed (listed now if it has not:
            # a verify of its own, without the source steps before it)
            parts = self._parts()
            with self.memo.lock:
                ids = [snap["id"] for by_part in parts.values() for snap in by_part.values()]
            whole = bool(ids) and self.restic.host.run(" && ".join(
                f"test -f {shlex.quote(f'{self.copy.repository}/snapshots/')}{_full_id_glob(i)}" for i in ids),
                timeout=60).ok and assemble(self.set_id, parts).complete
        else:
            whole = assemble(self.set_id, self._parts(fresh=True)).complete
        return VerifyResult(whole, f"set {self.set_id} in {self.copy.name}: "
                            + ("every source's snapshot and manifest are in the repository" if whole
                               else "incomplete: it does not count"))


def _directory_of(source: BackupSource) -> str:
    """A directory source's path (the site file's parser requires one)."""
    if source.path is None:
        raise StepError(f"source {source.name}: a directory source without `path:`")
    return source.path


def _full_id_glob(snapshot_id: str) -> str:
    """restic's summary gives the short id; the file is named by the full one."""
    if not re.fullmatch(r"[0-9a-f]{8,64}", snapshot_id):
        raise StepError(f"not a snapshot id: {snapshot_id[:80]!r}")
    return snapshot_id if len(snapshot_id) == 64 else snapshot_id + "*"
