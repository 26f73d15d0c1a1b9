"""Hostile text from the cluster never reaches the operator's terminal raw.

Objects are written with the real kubectl into the simulator, each free-text
field carrying OSC 0 (retitle), OSC 52 (clipboard), CSI 2J (clear), a C1 CSI
(U+009B), a bidi override (U+202E) and NUL. The console runs in a real terminal
(tmux), its output bytes recorded with pipe-pane: the only escape sequences in
them are Textual's own, the pane's title and tmux's paste buffers are unchanged,
and the hostile text is on screen in its visible form. `dsconsole status` and
`dsconsole audit show` print the same text made visible.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

import console
from tests.sim_kube import kubectl
from tests.waiting import wait_for

pytestmark = pytest.mark.timeout(180)

HOSTILE = "\x1b]0;PWNED\x07\x1b]52;c;UFdORUQ=\x07\x1b[2J\u009b31m\u202eX\x00Z"
SHOWN = r"\x1b]0;PWNED\x07\x1b]52;c;UFdORUQ=\x07\x1b[2J\x9b31m<U+202E>X\x00Z"
CODE_ROOT = str(Path(console.__file__).resolve().parents[1])   # the tree under test


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory):
    """A demo site whose objects carry HOSTILE in every field the console shows."""
    from console.sim.demo_site import start_demo_site
    tmp = tmp_path_factory.mktemp("hostile")
    site = start_demo_site(nodes=2, gpus_per_node=1, replicas=1, time_scale=20.0,
                           kubeconfig=tmp / "kubeconfig")
    kc = site.kubeconfig_path
    node = sorted(n["metadata"]["name"] for n in site.store.values("nodes"))[0]

    def apply(obj: dict) -> None:
        f = tmp / f"{obj['metadata']['name']}.json"
        f.write_text(json.dumps(obj))
        kubectl(kc, "apply", "-f", str(f))

    # a model-server pod: its container log gets MODEL_PATH (the simulated
    # vLLM logs "Loading model weights from ..."), labels and annotations
    apply({"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "hostile-pod", "namespace": "deepseek",
                        "labels": {"app": "evil", "version": "VER" + HOSTILE},
                        "annotations": {"note": "ANN" + HOSTILE}},
           "spec": {"containers": [{"name": "c", "image": "vllm/vllm-openai:v0.8.5",
                                    "env": [{"name": "MODEL_PATH", "value": "/models/LOG" + HOSTILE}]}]}})
    apply({"apiVersion": "v1", "kind": "Event",
           "metadata": {"name": "hostile-event", "namespace": "deepseek"},
           "involvedObject": {"kind": "Pod", "name": "hostile-pod", "namespace": "deepseek"},
           "reason": "RSN" + HOSTILE, "message": "EVM" + HOSTILE, "type": "Warning", "count": 1,
           "lastTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    wait_for(lambda: (site.store.get("pods", "deepseek", "hostile-pod") or {}).get("status", {})
             .get("phase") == "Running", what="hostile-pod running")
    kubectl(kc, "patch", "pod", "hostile-pod", "-n", "deepseek", "--subresource=status", "--type=merge",
            "-p", json.dumps({"status": {"reason": "PRS" + HOSTILE, "message": "PMS" + HOSTILE}}))
    kubectl(kc, "patch", "node", node, "--subresource=status", "--type=strategic", "-p", json.dumps(
        {"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "KubeletNotReady",
                                    "message": "NCM" + HOSTILE}]}}))
    yield site, node
    site.stop()


def _tmux(sock: str, *args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(["tmux", "-L", sock, "-f", "/dev/null", *args], capture_output=True,
                          text=True, timeout=20, **kw)


def _escape_sequences(out: str) -> list[str]:
    """Every escape sequence in `out`: CSI (ESC [ ... final), OSC (ESC ] ...), others."""
    return re.findall(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b.", out)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_tui_shows_hostile_cluster_text_made_visible(hostile_site, tmp_path):
    site, node = hostile_site
    sock = f"dsconsole-hostile-{uuid.uuid4().hex[:8]}"
    raw = tmp_path / "pane.bytes"
    go = tmp_path / "go"
    cmd = (f"while [ ! -e {go} ]; do sleep 0.05; done; exec env PYTHONPATH={CODE_ROOT} "
           f"{sys.executable} -m console --kubeconfig {site.kubeconfig_path}")
    env = dict(os.environ, TERM="xterm-256color")
    assert _tmux(sock, "new-session", "-d", "-x", "160", "-y", "45", "-s", "ui", cmd, env=env).returncode == 0
    screens: list[str] = []

    def screen_has(*texts: str) -> bool:
        s = _tmux(sock, "capture-pane", "-p", "-t", "ui").stdout
        screens.append(s)
        return all(t in s for t in texts)

    def wait_screen(what: str, *texts: str, timeout: float = 30) -> None:
        try:
            wait_for(lambda: screen_has(*texts), timeout=timeout, interval=0.3, what=what)
        except AssertionError as e:
            raise AssertionError(f"{e}\n--- screen:\n{screens[-1] if screens else ''}") from None

    def keys(*k: str) -> None:
        _tmux(sock, "send-keys", "-t", "ui", *k)

    def command(name: str) -> None:
        keys(":")
        wait_screen("the command prompt", "nodes | pods | gpus")
        keys(name, "Enter")

    try:
        _tmux(sock, "set-option", "-g", "set-clipboard", "on")      # OSC 52 would make a buffer
        title_before = _tmux(sock, "display-message", "-p", "-t", "ui", "#{pane_title}").stdout
        _tmux(sock, "pipe-pane", "-o", "-t", "ui", f"cat > {raw}")
        go.touch()
        # overview: the pod's status reason and its version label
        wait_screen("pods panel with the hostile status and label", "hostile-pod", r"PRS\x1b]0;PWNED",
                    r"VER\x1b", timeout=60)
        command("alerts")                   # the node condition message in an alert
        wait_screen("alerts view with the node condition message", r"NCM\x1b]0;PWNED")
        command("events")
        wait_screen("events view with the hostile message", r"EVM\x1b]0;PWNED\x07\x1b]52;c;", r"RSN\x1b]0;")
        command("pods")
        wait_screen(":pods", "Model-server pods")
        keys("/")
        wait_screen("the filter prompt", "filter: text, or a regular expression")
        keys("hostile", "Enter")
        wait_screen("the filter", "/hostile")
        keys("Enter")                        # the detail view, YAML tab
        # (YAML quotes control characters itself: the annotation is shown escaped)
        wait_screen("YAML with the annotation", r'note: "ANN\e]0;PWNED\a\e]52;c;')
        keys("e")
        wait_screen("Events tab", r"EVM\x1b]0;PWNED")
        keys("o")
        wait_screen("Log tab with the hostile log line", "Loading model weights from /models/LOG" + SHOWN)
        title_after = _tmux(sock, "display-message", "-p", "-t", "ui", "#{pane_title}").stdout
        buffers = _tmux(sock, "list-buffers").stdout
        keys("q")
        wait_for(lambda: _tmux(sock, "has-session", "-t", "ui").returncode != 0, timeout=20,
                 what="dsconsole to quit")
    finally:
        _tmux(sock, "kill-server")
    assert "PWNED" not in title_after and title_after == title_before
    assert buffers == "", f"a paste buffer was created: {buffers!r}"
    out = wait_for(lambda: raw.exists() and raw.read_bytes(), what="the pane's bytes").decode("utf-8", "replace")
    assert "PWNED" in out                               # the hostile text was written, visibly
    assert not re.search("[\x00\x80-\x9f\u202e]", out), "a NUL, C1 or bidi control reached the terminal"
    seqs = _escape_sequences(out)
    # Textual's own OSC is 22 (the mouse pointer's shape); 0 (title) or 52 (clipboard) are not ours
    assert not [s for s in seqs if s.startswith("\x1b]") and not s.startswith("\x1b]22;")], \
        "an OSC sequence reached the terminal"
    first_paint = out.index("hostile-pod")
    assert "\x1b[2J" not in out[first_paint:], "the screen was cleared after the first frame"
    # what remains: Textual's own CSI sequences (cursor, SGR, modes) and nothing else
    assert all(s.startswith(("\x1b[", "\x1b]22;")) or s in ("\x1b7", "\x1b8", "\x1b=", "\x1b>")
               for s in seqs), sorted({s for s in seqs if not s.startswith(("\x1b[", "\x1b]22;"))})


def test_status_text_shows_hostile_text_made_visible(hostile_site):
    site, node = hostile_site
    env = dict(os.environ, PYTHONPATH=CODE_ROOT)
    r = subprocess.run([sys.executable, "-m", "console", "status", "--kubeconfig", str(site.kubeconfig_path)],
                       capture_output=True, text=True, timeout=90, env=env)
    assert "PRS" + SHOWN[:30] in r.stdout and "NCM" + SHOWN in r.stdout, r.stdout
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]", r.stdout)
    r = subprocess.run([sys.executable, "-m", "console", "status", "--kubeconfig", str(site.kubeconfig_path),
                        "--json"], capture_output=True, text=True, timeout=90, env=env)
    doc = json.loads(r.stdout)                 # JSON keeps the text exact (escaped by json.dumps)
    assert any(p["status"] == "PRS" + HOSTILE for p in doc["pods"])


def test_audit_show_text_makes_operator_and_results_visible(tmp_path):
    from console.audit import AuditLog
    log = tmp_path / "audit.jsonl"
    AuditLog(log, operator="op" + HOSTILE, site="lab").append("apply", host="gpu" + HOSTILE,
                                                               result="failed: " + HOSTILE)
    env = dict(os.environ, PYTHONPATH=CODE_ROOT)
    r = subprocess.run([sys.executable, "-m", "console", "audit", "show", "--log", str(log)],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0
    assert "(op" + SHOWN + ")" in r.stdout and "gpu" + SHOWN in r.stdout and "failed: " + SHOWN in r.stdout
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]", r.stdout)


def test_tuning_text_report_makes_host_output_visible():
    """Host output reaches the tuning wizard's reports through check summaries,
    notes and errors (e.g. `mpirun is not Open MPI (<first line of its output>)`)."""
    from actions.runner import HostResult, RunResult, StepResult
    from actions.step import CheckResult
    from actions.text_report import render
    check = CheckResult(needed=False, status="warn", summary="mpirun is not Open MPI (" + HOSTILE + ")",
                        notes=("note " + HOSTILE,))
    result = RunResult("plan", "complete", "done", {
        "gpu" + HOSTILE: HostResult("gpu" + HOSTILE, "failed", error="err " + HOSTILE, steps=[
            StepResult("openmpi", "OpenMPI", "warn", True, check=check, error="step " + HOSTILE)])})
    text = render(result, title="Host tuning")
    assert "mpirun is not Open MPI (" + SHOWN + ")" in text and "err " + SHOWN in text
    assert "note " + SHOWN in text and "step " + SHOWN in text
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]", text)
