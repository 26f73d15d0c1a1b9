"""End to end: the README's first command (`dsconsole`) opens the demo dashboard
in a real terminal (tmux), and bad UI options are exit-2 errors."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest

pytestmark = pytest.mark.timeout(90)


def dsconsole() -> list[str]:
    exe = shutil.which("dsconsole")
    return [exe] if exe else [sys.executable, "-m", "console"]


def run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(dsconsole() + args, capture_output=True, text=True, timeout=30)


def test_unknown_theme_is_bad_input():
    p = run(["--theme", "pink"])
    assert p.returncode == 2
    assert "unknown theme 'pink'" in p.stderr and "dark, light, high-contrast" in p.stderr
    assert "Traceback" not in p.stderr


def test_demo_options_are_checked():
    p = run(["demo", "--nodes", "0"])
    assert p.returncode == 2 and "--nodes: expected a number >= 1" in p.stderr
    p = run(["demo", "--time-scale", "fast"])
    assert p.returncode == 2 and "--time-scale: expected a number" in p.stderr


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_plain_dsconsole_opens_the_demo_dashboard_in_a_terminal(tmp_path):
    sock = f"dsconsole-test-{uuid.uuid4().hex[:8]}"
    tmux = ["tmux", "-L", sock, "-f", "/dev/null"]
    env = dict(os.environ, TERM="xterm-256color")
    cmd = " ".join(dsconsole())
    subprocess.run(tmux + ["new-session", "-d", "-x", "80", "-y", "24", "-s", "ui", cmd],
                   check=True, env=env, timeout=10)
    try:
        deadline = time.monotonic() + 40
        screen = ""
        while time.monotonic() < deadline:
            screen = subprocess.run(tmux + ["capture-pane", "-p", "-t", "ui"], capture_output=True,
                                    text=True, timeout=10).stdout
            if ("DEMO" in screen and "gpu-node-0001" in screen and "%" in screen
                    and "deepseek-" in screen and "API live" in screen):
                break
            time.sleep(0.3)
        assert "DEMO" in screen, screen
        assert "gpu-node-0001" in screen and "deepseek-" in screen, screen   # nodes, pods
        assert "UTIL" in screen and "%" in screen, screen                    # GPU panel filled
        subprocess.run(tmux + ["send-keys", "-t", "ui", "q"], check=True, timeout=10)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if subprocess.run(tmux + ["has-session", "-t", "ui"], capture_output=True).returncode != 0:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("q did not quit dsconsole")
    finally:
        subprocess.run(tmux + ["kill-server"], capture_output=True, timeout=10)


def test_bad_site_or_kubeconfig_is_bad_input(tmp_path):
    p = run(["--kubeconfig", str(tmp_path / "missing")])
    assert p.returncode == 2 and "no such kubeconfig" in p.stderr and "Traceback" not in p.stderr
    site = tmp_path / "site.yaml"
    site.write_text("name: lab\nbogus: 1\n")
    p = run(["--site", str(site)])
    assert p.returncode == 2 and f"{site}:2:" in p.stderr and "Traceback" not in p.stderr
