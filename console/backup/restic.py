"""Restic, run through a Transport on the host where the data is.

The repository password reaches restic through its environment only: every
command starts with a shell that reads one line from its stdin into
RESTIC_PASSWORD and then runs restic (`exec`), so the password is never on a
command line (neither ours nor ssh's nor restic's: /proc/PID/cmdline shows
`restic -r REPO ...`), never in a file on the host, never in a log. Whatever
restic reads from stdin (`backup --stdin`) follows that first line.

Long backups run detached on the host (`start()`): restic's --json status lines
go to a private temporary directory there, read back by `poll()`, so progress
is the same over SSH and locally, and a dropped connection does not kill a
half-written backup by itself (restic finishes or fails on its own; only a
finished snapshot ever counts, see console.backup.sets).
"""
from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from typing import Any

from console.hosts.transport import CommandResult, Transport

# restic's words for "there is no repository here" (init it), as opposed to
# "cannot reach it" or "wrong password" (an error)
NO_REPOSITORY = re.compile(r"unable to open config file|does not exist|Is there a repository at")

# restic's --json status lines at most this often (the default is 60 a second)
PROGRESS_FPS = 2


class ResticError(Exception):
    """restic failed; the message is its own last words, with the password never in it."""


@dataclass(frozen=True)
class Repository:
    """Where a repository is, as restic on one host reaches it."""
    url: str                         # a path on the host, or sftp:[user@]host:/path
    ssh_config: str | None = None    # ssh -F for sftp:
    limit_upload_kib: int | None = None

    def options(self) -> list[str]:
        opts = ["-r", self.url]
        if self.url.startswith("sftp:") and self.ssh_config:
            user_host = self.url[len("sftp:"):].split(":", 1)[0]
            opts += ["-o", f"sftp.command=ssh -F {self.ssh_config} {user_host} -s sftp"]
        if self.limit_upload_kib:
            opts += ["--limit-upload", str(self.limit_upload_kib)]
        return opts


def _script(argv: list[str]) -> str:
    # `read` takes the first line of stdin byte by byte, leaving the rest to restic.
    return ("IFS= read -r RESTIC_PASSWORD || exit 97; export RESTIC_PASSWORD; "
            f"RESTIC_PROGRESS_FPS={PROGRESS_FPS} exec " + shlex.join(argv))


class Restic:
    def __init__(self, host: Transport, repo: Repository, password: str):
        if "\n" in password or not password:
            raise ValueError("the repository password must be one non-empty line")
        self.host = host
        self.repo = repo
        self._password = password

    def argv(self, *args: str) -> list[str]:
        return ["restic", *self.repo.options(), *args]

    def run(self, *args: str, stdin: bytes = b"", timeout: float = 3600) -> CommandResult:
        return self.host.run(_script(self.argv(*args)), timeout=timeout,
                             stdin=self._password.encode() + b"\n" + stdin)

    def json(self, *args: str, timeout: float = 3600) -> Any:
        r = self.run(*args, "--json", timeout=timeout)
        if not r.ok:
            raise ResticError(last_words(r))
        return json.loads(r.stdout or "null")

    # -- repository
    def init(self) -> None:
        r = self.run("init", timeout=300)
        if not r.ok:
            raise ResticError(last_words(r))

    def snapshots(self, *tags: str) -> list[dict]:
        # one --tag with commas: snapshots with all of them (several --tag: any of them)
        args = ["snapshots"] + ([f"--tag={','.join(tags)}"] if tags else [])
        return self.json(*args) or []

    def dump(self, snapshot: str, path: str) -> bytes:
        r = self.run("dump", snapshot, path, timeout=600)
        if not r.ok:
            raise ResticError(last_words(r))
        return r.stdout.encode("utf-8", "surrogateescape")

    def backup_stdin(self, data: bytes, filename: str, tags: list[str]) -> dict:
        """Back up `data` as one file; returns restic's summary."""
        r = self.run("backup", "--stdin", "--stdin-filename", filename, "--json",
                     *[f"--tag={t}" for t in tags], stdin=data)
        if not r.ok:
            raise ResticError(last_words(r))
        return summary_of(r.stdout)

    # -- a detached run (long backups, restores)
    def start(self, *args: str) -> Job:
        script = ("IFS= read -r RESTIC_PASSWORD || exit 97; export RESTIC_PASSWORD; "
                  "d=$(mktemp -d /tmp/dsconsole-restic.XXXXXX) || exit 98; "
                  f"(RESTIC_PROGRESS_FPS={PROGRESS_FPS} {shlex.join(self.argv(*args))} "
                  '>"$d/out" 2>"$d/err"; echo $? >"$d/rc.tmp"; mv "$d/rc.tmp" "$d/rc") '
                  '</dev/null >/dev/null 2>&1 & echo "$d $!"')
        r = self.host.run(script, stdin=self._password.encode() + b"\n", timeout=60)
        if not r.ok or len(r.stdout.split()) != 2:
            raise ResticError(last_words(r) or "could not start restic")
        d, pid = r.stdout.split()
        return Job(self.host, d, int(pid))


@dataclass
class Job:
    """restic running detached on a host; its output is in `dir` there."""
    host: Transport
    dir: str
    pid: int

    def poll(self) -> tuple[str | None, int | None]:
        """(restic's last complete stdout line, exit code or None while it runs)."""
        q = shlex.quote(self.dir)
        r = self.host.run(f"cat {q}/rc 2>/dev/null; echo; tail -c 8192 {q}/out 2>/dev/null", timeout=30)
        head, _, tail = r.stdout.partition("\n")
        rc = int(head) if head.strip().isdigit() else None
        lines = [ln for ln in tail.split("\n") if ln.strip()]
        if lines and not tail.endswith("\n") and rc is None:
            lines = lines[:-1]   # still being written
        return (lines[-1] if lines else None), rc

    def output(self) -> tuple[str, str]:
        q = shlex.quote(self.dir)
        out = self.host.run(f"cat {q}/out", timeout=60).stdout
        err = self.host.run(f"cat {q}/err", timeout=60).stdout
        return out, err

    def stop(self) -> None:
        self.host.run(f"kill {self.pid} 2>/dev/null; true", timeout=30)

    def clean(self) -> None:
        self.host.run(f"rm -rf -- {shlex.quote(self.dir)}", timeout=30)


def summary_of(stdout: str) -> dict:
    for line in reversed(stdout.splitlines()):
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if isinstance(msg, dict) and msg.get("message_type") == "summary":
            return msg
    raise ResticError("restic printed no summary")


def last_words(r: CommandResult) -> str:
    """The end of restic's error output, for a message (never contains the
    password: restic does not print it, and we never pass it as an argument)."""
    text = (r.stderr or r.stdout or "").strip()
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("{")]
    return " / ".join(lines[-3:])[-400:] or f"restic exited {r.rc}"
