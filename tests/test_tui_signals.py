"""SIGTERM and SIGHUP to the dashboard (in a real pty) restore the terminal:
the alternate screen is left, mouse reporting is off, the cursor is shown. At a
wizard's confirmation too, and the run it was about to start is not half done."""
from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import console

pytestmark = pytest.mark.timeout(120)
CODE_ROOT = str(Path(console.__file__).resolve().parents[1])


class PtyApp:
    """`python -m console demo` on a pty of its own, its output drained into a buffer."""

    def __init__(self, *args: str, sized: bool = True) -> None:
        master, slave = pty.openpty()
        os.set_inheritable(slave, True)
        env = dict(os.environ, TERM="xterm-256color", PYTHONPATH=CODE_ROOT)
        env.pop("COLUMNS", None)
        env.pop("LINES", None)
        if sized:        # (the pty itself says 0x0)
            env.update(COLUMNS="100", LINES="30")
        self.proc = subprocess.Popen([sys.executable, "-m", "console", *args], stdin=slave, stdout=slave,
                                     stderr=slave, env=env, start_new_session=True, close_fds=True)
        os.close(slave)
        self.master = master
        self.out = bytearray()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        while True:
            r, _, _ = select.select([self.master], [], [], 0.2)
            if r:
                try:
                    data = os.read(self.master, 65536)
                except OSError:
                    return
                if not data:
                    return
                with self._lock:
                    self.out += data
            elif self.proc.poll() is not None:
                return

    def bytes(self) -> bytes:
        with self._lock:
            return bytes(self.out)

    def wait_output(self, needle: bytes, timeout: float = 60, start: int = 0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            i = self.bytes().find(needle, start)
            if i >= 0:
                return i
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"never saw {needle!r} (exit {self.proc.poll()}); last output: "
                             f"{self.bytes()[-800:]!r}")

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=20)
        self._reader.join(timeout=5)
        os.close(self.master)


def assert_terminal_restored(app: PtyApp, since: int) -> None:
    tail = app.bytes()[since:]
    assert b"\x1b[?1049l" in tail, f"the alternate screen was not left: {tail[-400:]!r}"
    assert b"\x1b[?1000l" in tail, f"mouse reporting is still on: {tail[-400:]!r}"
    assert b"\x1b[?25h" in tail, f"the cursor is still hidden: {tail[-400:]!r}"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_signal_restores_the_terminal(sig):
    app = PtyApp("demo", "--nodes", "2", "--gpus-per-node", "2")
    try:
        app.wait_output(b"gpu-node-0001")
        app.wait_output(b"\x1b[?1049h")            # it is in the alternate screen
        mark = len(app.bytes())
        app.proc.send_signal(sig)
        app.proc.wait(timeout=30)
        app._reader.join(timeout=10)
        assert_terminal_restored(app, mark)
        assert app.proc.returncode == 128 + sig, app.proc.returncode
    finally:
        app.close()


def test_sigterm_at_a_wizard_confirmation_restores_the_terminal_and_changes_nothing():
    from actions import journal
    app = PtyApp("demo", "--nodes", "3", "--gpus-per-node", "2")
    try:
        app.wait_output(b"gpu-node-0001")
        mark = len(app.bytes())
        app.type(":")
        app.wait_output(b"nodes | pods", start=mark)
        app.type("tune\r")
        at = app.wait_output(b"changes needed", start=mark)   # the plan is shown
        app.type("a")                                        # apply: asks for a confirmation
        app.wait_output(b"to confirm", start=at)
        mark = len(app.bytes())
        app.proc.send_signal(signal.SIGTERM)
        app.proc.wait(timeout=30)
        app._reader.join(timeout=10)
        assert_terminal_restored(app, mark)
        assert app.proc.returncode == 128 + signal.SIGTERM
    finally:
        app.close()
    assert journal.unfinished_runs() == []          # nothing was started: nothing half done


def test_a_console_that_cannot_reach_its_exit_still_ends_on_sighup():
    """On a terminal that says it is 0x0 Textual never gets to a first frame
    (busy with resizes): the signal still ends the console, after a grace period,
    as its default action did."""
    from screens.app import SIGNAL_EXIT_GRACE_S
    app = PtyApp("demo", "--nodes", "2", "--gpus-per-node", "2", sized=False)
    try:
        app.wait_output(b"\x1b[?1049h")
        app.proc.send_signal(signal.SIGHUP)
        app.proc.wait(timeout=SIGNAL_EXIT_GRACE_S + 30)
        assert app.proc.returncode == 128 + signal.SIGHUP
    finally:
        app.close()
