"""`dsconsole doctor`: one verdict per check of the local environment, run as
the operator runs it (a subprocess with its own HOME, XDG dirs and terminal)."""
from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def env(tmp_path) -> dict:
    home = tmp_path / "home"
    home.mkdir()
    return {"PATH": os.environ["PATH"], "HOME": str(home), "TERM": "xterm-256color", "LANG": "C.UTF-8",
            "XDG_STATE_HOME": str(home / "state"), "XDG_CONFIG_HOME": str(home / "config"),
            "PYTHONPATH": str(ROOT)}


def doctor(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "console", "doctor", *args], capture_output=True, text=True,
                          env=env, timeout=60)


def verdicts(p: subprocess.CompletedProcess) -> dict[str, tuple[str, str]]:
    """{check: (verdict, detail)} from the plain-text output."""
    out = {}
    for line in p.stdout.splitlines():
        verdict, rest = line.split(None, 1)
        two_words = [n for n in ("state dir", "config dir", "site file") if rest.startswith(n)]
        name = two_words[0] if two_words else rest.split()[0]
        out[name] = (verdict, rest[len(name):].strip())
    return out


def test_a_healthy_environment_passes_and_json_says_the_same(env):
    p = doctor(env)
    assert p.returncode == 0, p.stdout + p.stderr
    v = verdicts(p)
    assert v["TERM"] == ("ok", "xterm-256color")
    assert v["colours"][0] == "ok" and v["locale"][0] == "ok" and v["python"][0] == "ok"
    assert v["state dir"][0] == "ok" and v["config dir"][0] == "ok"
    assert v["terminal"][0] == "warn"          # a pipe, not a terminal
    assert {"kubeconfig", "site file", "known_hosts", "kubectl", "nvidia-smi"} <= set(v)
    j = json.loads(doctor(env, "--json").stdout)
    assert j["verdict"] == "warn"
    assert {c["name"]: (c["verdict"], c["detail"]) for c in j["checks"]} == v
    # nothing was created by looking (the state dir is: every command logs there)
    assert not (Path(env["HOME"]) / "config").exists()


def test_no_usable_term_fails(env):
    p = doctor(dict(env, TERM="dumb"))
    assert p.returncode == 1
    assert verdicts(p)["TERM"][0] == "fail" and "expected a terminal type" in p.stdout
    env.pop("TERM")
    assert doctor(env).returncode == 1


def test_a_terminal_too_small_and_a_plain_locale_warn(env):
    v = verdicts(doctor(dict(env, TERM="vt100", LANG="C")))
    assert v["colours"][0] == "warn" and v["locale"][0] == "warn" and "LANG=C:" in v["locale"][1]
    # in a real terminal of 60x20
    main, sub = pty.openpty()
    fcntl.ioctl(sub, termios.TIOCSWINSZ, struct.pack("HHHH", 20, 60, 0, 0))
    p = subprocess.Popen([sys.executable, "-m", "console", "doctor"], stdin=sub, stdout=sub, stderr=sub,
                         env=env, close_fds=True)
    os.close(sub)
    chunks = []
    while True:
        try:
            data = os.read(main, 4096)
        except OSError:          # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    p.wait(timeout=60)
    os.close(main)
    out = b"".join(chunks).decode()
    assert "60x20: smaller than 80x24" in out, out


def test_outside_text_is_shown_with_its_control_characters_visible(env):
    p = doctor(dict(env, TERM="xterm\x1b]0;owned\x07"))
    assert "\x1b" not in p.stdout and "\x07" not in p.stdout
    assert "xterm\\x1b]0;owned\\x07" in p.stdout


def test_an_unwritable_state_dir_fails(env, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    p = doctor(dict(env, XDG_STATE_HOME=str(blocker / "state")))
    assert p.returncode == 1
    assert verdicts(p)["state dir"][0] == "fail" and "is not a directory" in p.stdout


def test_site_file_kubeconfig_and_known_hosts(env, tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\ncurrent-context: lab\n"
                          "clusters: [{name: lab, cluster: {server: 'https://127.0.0.1:6443'}}]\n"
                          "contexts: [{name: lab, context: {cluster: lab, user: me}}]\n"
                          "users: [{name: me, user: {token: s3cret-token}}]\n")
    site = tmp_path / "site.yaml"
    site.write_text(f"name: lab\ncluster:\n  kubeconfig: {kubeconfig}\n"
                    "hosts:\n  - name: gpu-01\n    address: 10.20.0.11\n")
    p = doctor(env, "--site", str(site))
    v = verdicts(p)
    assert v["site file"][0] == "ok" and v["kubeconfig"] == ("ok", "context lab (https://127.0.0.1:6443)")
    assert v["known_hosts"][0] == "warn" and "gpu-01" in v["known_hosts"][1]
    assert "s3cret-token" not in p.stdout
    ssh = Path(env["HOME"]) / ".ssh"
    ssh.mkdir()
    (ssh / "known_hosts").write_text("10.20.0.11 ssh-ed25519 "
                                     "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n")
    assert verdicts(doctor(env, "--site", str(site)))["known_hosts"][0] == "ok"
    # a kubeconfig that is not there, a context that is not in it
    p = doctor(env, "--kubeconfig", str(tmp_path / "missing"))
    assert p.returncode == 1 and verdicts(p)["kubeconfig"][0] == "fail" and "no such kubeconfig" in p.stdout
    p = doctor(env, "--kubeconfig", str(kubeconfig), "--context", "prod")
    assert p.returncode == 1 and "context 'prod' not found" in p.stdout


def test_a_bad_site_file_fails_with_file_and_line(env, tmp_path):
    site = tmp_path / "site.yaml"
    site.write_text("name: lab\nbogus: 1\n")
    p = doctor(env, "--site", str(site))
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert verdicts(p)["site file"][0] == "fail" and f"{site}:2:" in p.stdout
