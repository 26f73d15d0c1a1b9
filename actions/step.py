"""Step: the unit of every wizard (DESIGN.md "Step").

A step's target is a host (a Transport) or the cluster (a Kubernetes client,
plan target name CLUSTER). A step looks at its target (`check()`: is it needed, and what exactly would change,
persistent and runtime shown apart), records what it saw before changing
anything (`capture()` -> BeforeState: file contents byte for byte, including a
file's absence, and runtime values), changes it (`apply()`), checks that it
worked (`verify()`) and puts back exactly what it saw (`rollback(before)`).

On the cluster the before-state is whole objects (`BeforeState.objects`, keyed
"Kind/namespace/name", None = absent): rollback re-applies what was there, or
deletes what the run created.

A long step (a rollout, a warmup, a gate observed over a window) reports
progress and honours pause/abort through `self.control` (a StepControl the
runner hands it): call `control.report(fraction, message)` as it goes and
`control.checkpoint()` between units of work. It must be safe to run again:
on resume it is started afresh with the original before-state and picks up
from what it observes (pods already warm are not warmed again).

Report-only steps (`report_only = True`) only look: their check never says
"needed" and apply/rollback do nothing.

Most host steps are "make these files and these runtime values look like X";
`SettingStep` implements check/apply/verify/rollback once for all of them from
two small declarations (desired file contents, desired runtime values).
"""
from __future__ import annotations

import base64
import difflib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from console.hosts.transport import Transport

# Step states as shown by the runner, the journal and the wizard screen.
OK = "ok"                # compliant, nothing to do
NEEDED = "needed"        # check says it would change something
WARN = "warn"            # report-only finding that needs a person's attention
ERROR = "error"          # could not look / could not change
APPLIED = "applied"
UNCHANGED = "unchanged"  # apply found nothing to do
FAILED = "failed"
SKIPPED = "skipped"      # not run: an earlier step on the host (or another host) failed
ROLLED_BACK = "rolled-back"


@dataclass(frozen=True)
class CheckResult:
    """What a step found. `persistent` and `runtime` are human-readable change
    lines (empty when nothing would change there); `notes` are warnings and
    follow-ups (e.g. "update-grub and a reboot are needed"); `facts` are what a
    report-only check found (e.g. "driver 550.54.15")."""
    needed: bool
    summary: str
    persistent: tuple[str, ...] = ()
    runtime: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    facts: tuple[str, ...] = ()
    status: str = OK

    def to_dict(self) -> dict:
        return {"needed": self.needed, "status": self.status, "summary": self.summary,
                "persistent": list(self.persistent), "runtime": list(self.runtime),
                "notes": list(self.notes), "facts": list(self.facts)}


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    message: str
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"ok": self.ok, "message": self.message, "notes": list(self.notes)}


@dataclass
class BeforeState:
    """What a step saw before changing anything: on a host, files (None =
    absent) and runtime values; in the cluster, whole objects keyed
    "Kind/namespace/name" (None = absent), resourceVersion included.
    Serialisable for the journal so a later process can roll back."""
    files: dict[str, bytes | None] = field(default_factory=dict)
    runtime: dict[str, str] = field(default_factory=dict)
    objects: dict[str, dict | None] = field(default_factory=dict)

    def to_json(self) -> dict:
        d = {"files": {p: (None if b is None else base64.b64encode(b).decode())
                       for p, b in self.files.items()},
             "runtime": dict(self.runtime)}
        if self.objects:  # host steps' journal records stay as they were
            d["objects"] = dict(self.objects)
        return d

    @classmethod
    def from_json(cls, d: dict) -> BeforeState:
        return cls(files={p: (None if b is None else base64.b64decode(b))
                          for p, b in (d.get("files") or {}).items()},
                   runtime=dict(d.get("runtime") or {}),
                   objects=dict(d.get("objects") or {}))


class StepAborted(Exception):
    """The operator aborted a long step; the run can be resumed or rolled back."""


class StepControl:
    """The runner's handle on a running long step: progress out, pause and
    abort in. The runner makes one per action and binds a view of it to each
    step it runs (`bind`): the views share pause and abort; thread-safe."""

    def __init__(self, on_report: Callable[[str | None, str | None, float | None, str], None] | None = None):
        self._on_report = on_report          # (target, step_id, fraction, message)
        self._running = threading.Event()
        self._running.set()
        self._aborted = threading.Event()
        self._where: tuple[str | None, str | None] = (None, None)

    def bind(self, target: str, step_id: str) -> StepControl:
        view = StepControl(self._on_report)
        view._running, view._aborted, view._where = self._running, self._aborted, (target, step_id)
        return view

    def report(self, fraction: float | None, message: str) -> None:
        if self._on_report is not None:
            self._on_report(*self._where, fraction, message)

    def pause(self) -> None:
        self._running.clear()

    def unpause(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def abort(self) -> None:
        self._aborted.set()
        self._running.set()

    @property
    def aborted(self) -> bool:
        return self._aborted.is_set()

    def checkpoint(self) -> None:
        """Between units of work: wait while paused, raise StepAborted if aborted."""
        while not self._running.wait(0.2):
            pass
        if self._aborted.is_set():
            raise StepAborted("aborted by the operator")

    def sleep(self, seconds: float) -> None:
        """Wait that long (a poll interval), waking early on abort."""
        if self._aborted.wait(seconds):
            raise StepAborted("aborted by the operator")
        self.checkpoint()


NO_CONTROL = StepControl()


class StepError(Exception):
    """A step could not do what it set out to do (the message says why)."""


class Step:
    """Base of all steps. `id` is unique within a target's plan and stable across
    processes (the journal refers to steps by it). `host` is the target: a
    Transport, or for cluster steps the Kubernetes client."""

    id: str = ""
    title: str = ""
    report_only: bool = False
    long: bool = False     # reports progress, may be paused or aborted (see StepControl)

    def __init__(self, host: Transport):
        self.host = host
        self.control: StepControl = NO_CONTROL

    def check(self) -> CheckResult:
        raise NotImplementedError

    def capture(self) -> BeforeState:
        return BeforeState()

    def apply(self, before: BeforeState) -> tuple[str, ...]:
        """Make the change; returns notes for the operator (follow-ups)."""
        return ()

    def verify(self) -> VerifyResult:
        r = self.check()
        return VerifyResult(ok=not r.needed and r.status != ERROR, message=r.summary, notes=r.notes)

    def rollback(self, before: BeforeState) -> None:
        pass

    def restored(self, now: BeforeState, before: BeforeState) -> bool:
        """Whether the target is back to `before` (checked after rollback).
        Cluster steps compare objects without the fields the server owns."""
        return now.files == before.files and now.runtime == before.runtime and now.objects == before.objects


def _text(data: bytes | None) -> list[str]:
    return [] if data is None else data.decode("utf-8", "replace").splitlines(keepends=True)


def file_diff(path: str, old: bytes | None, new: bytes | None) -> tuple[str, ...]:
    """A unified diff of one file, absence shown as /dev/null like diff -N."""
    lines = difflib.unified_diff(_text(old), _text(new),
                                 fromfile=path if old is not None else "/dev/null",
                                 tofile=path if new is not None else "/dev/null", n=1)
    return tuple(line.rstrip("\n") for line in lines)


class SettingStep(Step):
    """A step that makes some files and runtime values look a certain way.

    Subclasses declare:
      files: paths they may write;
      desired_file(path, current) -> bytes | None: the wanted contents, or None
          to leave the file alone (e.g. it is absent and should stay so);
      runtime_keys: names of runtime values;
      read_runtime(key) -> str, write_runtime(key, value), desired_runtime(key, current) -> str;
      notes_for(current files) -> extra notes (warnings, follow-ups).
    """

    files: tuple[str, ...] = ()
    runtime_keys: tuple[str, ...] = ()

    def desired_file(self, path: str, current: bytes | None) -> bytes | None:
        raise NotImplementedError

    def read_runtime(self, key: str) -> str:
        raise NotImplementedError

    def write_runtime(self, key: str, value: str) -> None:
        raise NotImplementedError

    def desired_runtime(self, key: str, current: str) -> str:
        raise NotImplementedError

    def show_runtime(self, key: str, value: str) -> str:
        return value

    def notes_for(self, before: BeforeState) -> tuple[str, ...]:
        return ()

    def followup_notes(self, changing: list[str]) -> tuple[str, ...]:
        """What check() tells the operator will be needed after these files change."""
        return ()

    def after_file_change(self, changed: list[str]) -> tuple[str, ...]:
        """Follow-up once files changed (apply and rollback); returns notes."""
        return ()

    # -- the generic part ---------------------------------------------------
    def _read_file(self, path: str) -> bytes | None:
        try:
            return self.host.read(path, sudo=True)
        except FileNotFoundError:
            return None

    def capture(self) -> BeforeState:
        return BeforeState(files={p: self._read_file(p) for p in self.files},
                           runtime={k: self.read_runtime(k) for k in self.runtime_keys})

    def _changes(self, before: BeforeState) -> tuple[dict[str, bytes], dict[str, str]]:
        files: dict[str, bytes] = {}
        for path, cur in before.files.items():
            want = self.desired_file(path, cur)
            if want is not None and want != cur:
                files[path] = want
        runtime: dict[str, str] = {}
        for key, value in before.runtime.items():
            wanted = self.desired_runtime(key, value)
            if wanted != value:
                runtime[key] = wanted
        return files, runtime

    def check(self) -> CheckResult:
        before = self.capture()
        files, runtime = self._changes(before)
        persistent: list[str] = []
        for path, want in files.items():
            persistent.extend(file_diff(path, before.files[path], want))
        rt = tuple(f"{k}: {self.show_runtime(k, before.runtime[k])} -> {self.show_runtime(k, v)}"
                   for k, v in runtime.items())
        notes = self.notes_for(before) + (self.followup_notes(list(files)) if files else ())
        needed = bool(files or runtime)
        if needed:
            parts = (([f"{len(files)} file(s)"] if files else [])
                     + ([f"{len(runtime)} runtime value(s)"] if runtime else []))
            summary = f"{self.title}: would change {' and '.join(parts)}"
        else:
            summary = f"{self.title}: compliant"
        return CheckResult(needed=needed, summary=summary, persistent=tuple(persistent),
                           runtime=rt, notes=notes,
                           status=NEEDED if needed else (WARN if notes else OK))

    def apply(self, before: BeforeState) -> tuple[str, ...]:
        # Look again rather than trusting `before`: on resume `before` is the
        # original state and part of the change may already be in place.
        now = self.capture()
        files, runtime = self._changes(now)
        for path, data in files.items():
            self.host.write(path, data, mode=None if now.files[path] is not None else 0o644, sudo=True)
        for key, value in runtime.items():
            self.write_runtime(key, value)
        notes = self.notes_for(now)
        if files:
            notes += self.after_file_change(list(files))
        return notes

    def rollback(self, before: BeforeState) -> None:
        changed = []
        for path, data in before.files.items():
            cur = self._read_file(path)
            if cur == data:
                continue
            if data is None:
                r = self.host.run(f"rm -f -- {_quote(path)}", sudo=True)
                if not r.ok:
                    raise StepError(f"cannot remove {path}: {r.stderr.strip() or r.rc}")
            else:
                self.host.write(path, data, sudo=True)
            changed.append(path)
        for key, value in before.runtime.items():
            if self.read_runtime(key) != value:
                self.write_runtime(key, value)
        if changed:
            self.after_file_change(changed)


def _quote(s: str) -> str:
    import shlex
    return shlex.quote(s)
