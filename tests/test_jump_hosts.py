"""`dsconsole gpus` over the README's own layout: GPU hosts behind jump hosts
(a polled GPU host that is itself a jump host, and a bastion that is not
polled), over real sshd test hosts, run as the operator runs it (a subprocess).
Trusted and untrusted jump hosts: a host behind an untrusted jump host is
reported with the jump host's name and fingerprint, and that advice works."""
import json
import os
import subprocess
import sys

import pytest

from console.hosts import known_hosts

pytestmark = [pytest.mark.hosts, pytest.mark.timeout(240)]


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A HOME without ~/.ssh: only dsconsole's own known_hosts trusts anything."""
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("HOME", str(h))
    return h


def _dsconsole(*args, input=None):
    return subprocess.run([sys.executable, "-m", "console", *args], input=input,
                          capture_output=True, text=True, timeout=120, env=dict(os.environ))


@pytest.fixture
def layout(test_hosts, tmp_path, home):
    """bastion (not polled) -> gpu-c;  gpu-a (polled) -> gpu-b."""
    bastion, gpu_a = test_hosts.start(2, names=["bastion", "gpu-a"])
    [gpu_b] = test_hosts.start(1, behind=gpu_a, names=["gpu-b"])
    [gpu_c] = test_hosts.start(1, behind=bastion, names=["gpu-c"])
    lines = ["name: lab", "hosts:"]
    for h, role, jump in ((bastion, "bastion", None), (gpu_a, "gpu", None),
                          (gpu_b, "gpu", "gpu-a"), (gpu_c, "gpu", "bastion")):
        lines += [f"  - name: {h.name}", f"    address: {h.address}", f"    user: {h.user}",
                  f"    identity_file: {h.identity_file}", f"    role: {role}"]
        if jump:
            lines.append(f"    jump: {jump}")
    site = tmp_path / "site.yaml"
    site.write_text("\n".join(lines) + "\n")
    return site, {h.name: h for h in (bastion, gpu_a, gpu_b, gpu_c)}


def _trust(hosts):
    own = known_hosts.own_path()
    own.parent.mkdir(parents=True, exist_ok=True)
    own.write_text("".join(h.known_hosts_line + "\n" for h in hosts))


def test_gpus_behind_polled_and_bastion_jump_hosts(layout):
    site, h = layout
    _trust(h.values())
    r = _dsconsole("gpus", "--site", str(site), "--json")
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == 0, (r.stdout, r.stderr)
    states = {x["host"]: x for x in json.loads(r.stdout)["hosts"]}
    assert sorted(states) == ["gpu-a", "gpu-b", "gpu-c"]
    for name in ("gpu-a", "gpu-b", "gpu-c"):
        assert states[name]["state"] == "ok", states[name]
        assert states[name]["gpus"][0]["name"] == "NVIDIA H200"
    for only in ("gpu-c", "gpu-b"):   # --hosts naming only the host behind the jump host
        r = _dsconsole("gpus", "--site", str(site), "--hosts", only)
        assert "Traceback" not in r.stderr, r.stderr
        assert r.returncode == 0, (r.stdout, r.stderr)
        assert only in r.stdout and "NVIDIA H200" in r.stdout and "1/1 host(s) answered" in r.stdout


def test_host_behind_an_untrusted_jump_host_names_the_jump_host(layout):
    site, h = layout
    _trust([h["gpu-a"], h["gpu-b"], h["gpu-c"]])          # the bastion is not trusted
    r = _dsconsole("gpus", "--site", str(site), "--json")
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == 1, (r.stdout, r.stderr)
    states = {x["host"]: x for x in json.loads(r.stdout)["hosts"]}
    assert states["gpu-a"]["state"] == "ok" and states["gpu-b"]["state"] == "ok"
    c = states["gpu-c"]
    assert c["state"] == "untrusted-key", c
    # the bastion's key, under the bastion's name, and the advice names the bastion
    assert h["bastion"].fingerprint in c["error"] and h["gpu-c"].fingerprint not in c["error"]
    assert "jump host bastion" in c["error"] and "dsconsole hosts trust bastion" in c["error"]
    assert "hosts trust gpu-c" not in c["error"]
    # the same in the table, and following the advice works
    r = _dsconsole("gpus", "--site", str(site), "--hosts", "gpu-c")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "dsconsole hosts trust bastion" in r.stdout and h["bastion"].fingerprint in r.stdout
    t = _dsconsole("hosts", "trust", "bastion", "--site", str(site), "--yes")
    assert t.returncode == 0, t.stderr
    r = _dsconsole("gpus", "--site", str(site), "--hosts", "gpu-c")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "1/1 host(s) answered" in r.stdout


def test_untrusted_host_behind_a_trusted_jump_host_is_named_itself(layout):
    site, h = layout
    _trust([h["bastion"], h["gpu-a"], h["gpu-b"]])          # gpu-c itself is not trusted
    r = _dsconsole("gpus", "--site", str(site), "--hosts", "gpu-c", "--json")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    [c] = json.loads(r.stdout)["hosts"]
    assert c["state"] == "untrusted-key"
    assert h["gpu-c"].fingerprint in c["error"] and h["bastion"].fingerprint not in c["error"]
    assert "dsconsole hosts trust gpu-c" in c["error"]
    t = _dsconsole("hosts", "trust", "gpu-c", "--site", str(site), "--yes")
    assert t.returncode == 0, t.stderr
    r = _dsconsole("gpus", "--site", str(site), "--hosts", "gpu-c")
    assert r.returncode == 0, (r.stdout, r.stderr)
