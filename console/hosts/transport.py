"""Transport: the one way to touch a host (DESIGN.md).

`run(cmd)`, `read(path)`, `write(path, data, mode)`. SshTransport (paramiko) and
the demo site's SimulatedHost implement it; wizards and telemetry sources only
ever see this interface.
"""
from __future__ import annotations

import abc
import os
import re
import shlex

import msgspec


def program_name(cmd: str) -> str:
    """The program a command starts with, for messages (never the whole
    command: it may carry secrets): its first word, past a variable
    assignment and `$(` (`o=$(nvidia-smi ...)` -> nvidia-smi)."""
    try:
        words = shlex.split(cmd)
    except ValueError:
        words = cmd.split()
    for w in words:
        w = re.sub(r"^(?:[A-Za-z_][A-Za-z0-9_]*=)?[$({]*", "", w)
        if w:
            return os.path.basename(w)
    return "command"


class TransportError(Exception):
    """A host could not be reached or a command could not be run on it."""

    def __init__(self, host: str, message: str):
        super().__init__(f"{host}: {message}")
        self.host = host
        self.message = message


class HostUnreachable(TransportError):
    pass


class HostRefused(TransportError):
    """dsconsole will not connect to this host as it is configured (e.g. a
    ProxyCommand in ~/.ssh/config): the message says why and what to write."""


class HostKeyError(TransportError):
    """Unknown or changed host key; `fingerprint` is the SHA256 one the host offered.
    `key_host` names the host that offered it: `host` itself, or the jump host
    in front of it (then trusting `host` could not help: its jump host must be
    trusted first)."""

    def __init__(self, host: str, message: str, fingerprint: str, changed: bool,
                 key_host: str | None = None):
        super().__init__(host, message)
        self.fingerprint = fingerprint
        self.changed = changed
        self.key_host = key_host or host


class CommandTimeout(TransportError):
    pass


class SudoPasswordRequired(TransportError):
    pass


class CommandResult(msgspec.Struct, frozen=True):
    rc: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.rc == 0


class Transport(abc.ABC):
    """A host the console can run commands on and read/write files of."""

    name: str

    @abc.abstractmethod
    def run(self, cmd: str, *, timeout: float = 30.0, sudo: bool = False,
            stdin: bytes | None = None) -> CommandResult:
        """Run a shell command; `sudo` runs it as root (`sudo -n` for non-root users)."""

    @abc.abstractmethod
    def read(self, path: str, *, sudo: bool = False) -> bytes:
        """Contents of a file; FileNotFoundError if it does not exist."""

    @abc.abstractmethod
    def write(self, path: str, data: bytes, *, mode: int | None = None,
              sudo: bool = False) -> None:
        """Write a file atomically (temp file + rename), keeping mode and owner
        of an existing file unless `mode` is given."""

    def run_in_session(self, cmd: str, *, timeout: float = 30.0) -> CommandResult:
        """run() for a command run again and again (telemetry polls): no sudo,
        no stdin, and safe to run twice. A transport may run it in a
        long-lived session on the host, which is cheaper per call
        (SshTransport: console.hosts.session_shell); others just run() it."""
        return self.run(cmd, timeout=timeout)

    def exists(self, path: str, *, sudo: bool = False) -> bool:
        try:
            self.read(path, sudo=sudo)
            return True
        except FileNotFoundError:
            return False

    def close(self) -> None:  # noqa: B027 - optional: most transports hold nothing to close
        pass
