"""LocalTransport: the Transport of the machine the console runs on.

NvmlSource uses it to read this machine's kernel log for XID events; it also
lets an NvidiaSmiSource run against a local nvidia-smi. Commands run with
/bin/sh like a remote login shell would.
"""
from __future__ import annotations

import os
import socket
import subprocess
import tempfile

from console.hosts.transport import CommandResult, CommandTimeout, SudoPasswordRequired, Transport


class LocalTransport(Transport):
    def __init__(self, name: str | None = None, *, env: dict[str, str] | None = None):
        self.name = name or socket.gethostname()
        self._env = None if env is None else {**os.environ, **env}

    def _sudo(self, cmd: str, sudo: bool) -> str:
        return f"sudo -n /bin/sh -c {_quote(cmd)}" if sudo and os.geteuid() != 0 else cmd

    def run(self, cmd: str, *, timeout: float = 30.0, sudo: bool = False,
            stdin: bytes | None = None) -> CommandResult:
        try:
            p = subprocess.run(["/bin/sh", "-c", self._sudo(cmd, sudo)], input=stdin,
                               capture_output=True, timeout=timeout, env=self._env)
        except subprocess.TimeoutExpired:
            raise CommandTimeout(self.name, f"no answer within {timeout:g} s: {cmd[:60]}") from None
        out, err = p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
        if sudo and p.returncode != 0 and "a password is required" in err:
            raise SudoPasswordRequired(self.name, "sudo needs a password (sudo -n refused)")
        return CommandResult(p.returncode, out, err)

    def read(self, path: str, *, sudo: bool = False) -> bytes:
        if sudo and os.geteuid() != 0:
            r = self.run(f"cat {_quote(path)}", sudo=True)
            if r.rc != 0:
                raise FileNotFoundError(path)
            return r.stdout.encode()
        with open(path, "rb") as f:
            return f.read()

    def write(self, path: str, data: bytes, *, mode: int | None = None, sudo: bool = False) -> None:
        if sudo and os.geteuid() != 0:
            raise SudoPasswordRequired(self.name, "writing as root needs sudo; run as root locally")
        d = os.path.dirname(path) or "."
        try:
            st = os.stat(path)
        except FileNotFoundError:
            st = None
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".dsconsole-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            if mode is not None:
                os.chmod(tmp, mode)
            elif st is not None:
                os.chmod(tmp, st.st_mode & 0o7777)
            if st is not None:
                os.chown(tmp, st.st_uid, st.st_gid)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise


def _quote(s: str) -> str:
    return "'" + s.replace("'", "'\"'\"'") + "'"
