"""`dsconsole status` run as a user runs it (a subprocess) against the demo site,
a simulator given by kubeconfig, a site file, and an API that is not there."""
import json
import socket
import subprocess
import sys

import pytest

pytestmark = pytest.mark.timeout(120)


def status(*args, env=None):
    import os
    return subprocess.run([sys.executable, "-m", "console", "status", *args], capture_output=True,
                          text=True, timeout=90, env={**os.environ, **(env or {})})


@pytest.fixture
def site():
    from console.sim.demo_site import start_demo_site
    s = start_demo_site(nodes=3, gpus_per_node=4, replicas=5, time_scale=20.0)
    yield s
    s.stop()


def test_status_demo_json():
    r = status("--demo", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["demo"] is True and doc["site"] == "DEMO" and doc["context"] == "dsconsole-demo"
    assert doc["api_ok"] is True and doc["synced"] is True
    assert len(doc["nodes"]) == 8 and all(n["ready"] and n["gpu_cap"] == 8 for n in doc["nodes"])
    # the demo's models: 6 replicas of the 671B on a whole node (8 GPUs each), 4 of the 14B on one GPU
    v3 = [p for p in doc["pods"] if p["name"].startswith("deepseek-v3-")]
    assert len(v3) == 6 and len(doc["pods"]) == 10
    assert sum(n["gpu_alloc"] for n in doc["nodes"]) == 6 * 8 + 4
    assert all(p["ready"] and p["phase"] == "Running" for p in doc["pods"])
    assert all(p["version"] == "blue" for p in v3)
    assert sorted(doc["gpus"]) == [n["name"] for n in doc["nodes"]]
    assert all(g["state"] == "ok" and len(g["gpus"]) == 8 for g in doc["gpus"].values())
    assert isinstance(doc["alerts"], list)


def test_status_kubeconfig_text_and_json(site):
    r = status("--kubeconfig", str(site.kubeconfig_path), "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["demo"] is False and doc["context"] == "dsconsole-demo"
    assert [n["name"] for n in doc["nodes"]] == sorted(n["metadata"]["name"] for n in site.store.values("nodes"))
    assert {p["name"] for p in doc["pods"]} == {p["metadata"]["name"] for p in site.store.values("pods")
                                                if p["metadata"]["namespace"] == "deepseek"}
    assert doc["gpus"] == {}          # a bare kubeconfig names no hosts
    r = status("--kubeconfig", str(site.kubeconfig_path))
    assert r.returncode == 0 and "API reachable" in r.stdout and "NODES 3/3 ready" in r.stdout


def test_status_site_file_with_an_unreachable_gpu_host(site, tmp_path):
    with socket.socket() as s:          # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    f = tmp_path / "site.yaml"
    f.write_text(f"name: lab\ncluster:\n  kubeconfig: {site.kubeconfig_path}\n  context: dsconsole-demo\n"
                 f"hosts:\n  - name: gpu-x\n    address: 127.0.0.1\n    port: {port}\n    role: gpu\n"
                 "telemetry:\n  interval_s: 0.5\n")
    r = status("--json", env={"DSCONSOLE_SITE": str(f)})
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["site"] == "lab" and len(doc["nodes"]) == 3
    assert doc["gpus"]["gpu-x"]["state"] in ("unreachable", "pending")


def test_status_api_down_exits_1(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kc = tmp_path / "kc"
    kc.write_text(f"apiVersion: v1\nkind: Config\ncurrent-context: gone\nclusters:\n- name: c\n  cluster:\n"
                  f"    server: http://127.0.0.1:{port}\ncontexts:\n- name: gone\n  context:\n    cluster: c\n"
                  "users: []\n")
    r = status("--kubeconfig", str(kc), "--timeout", "2")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "UNREACHABLE" in r.stdout and "connection refused" in r.stdout
    r = status("--kubeconfig", str(kc), "--timeout", "2", "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["api_ok"] is False


def test_status_bad_input_exits_2(tmp_path):
    r = status("--kubeconfig", str(tmp_path / "missing"))
    assert r.returncode == 2 and "no such kubeconfig file" in r.stderr and "Traceback" not in r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nhosts: 3\n")
    r = status("--site", str(bad))
    assert r.returncode == 2 and f"{bad}:2: hosts: expected a list" in r.stderr
    kc = tmp_path / "kc"
    kc.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    r = status("--kubeconfig", str(kc), "--context", "nope")
    assert r.returncode == 2 and "context 'nope' not found" in r.stderr


def test_status_with_a_host_failing_the_ssh_handshake_prints_no_traceback(site, tmp_path):
    """A host whose port answers but is no SSH server (paramiko's transport
    thread logs the failed handshake with a traceback): the report says the host
    is unreachable; the log goes to dsconsole's log file, never to the terminal."""
    import threading
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    port = srv.getsockname()[1]
    stop = threading.Event()

    def not_ssh():  # answers every connection with something that is not an SSH banner
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                c, _ = srv.accept()
            except OSError:
                continue
            try:
                c.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            except OSError:
                pass
            c.close()
    t = threading.Thread(target=not_ssh, daemon=True)
    t.start()
    try:
        f = tmp_path / "site.yaml"
        f.write_text(f"name: lab\ncluster:\n  kubeconfig: {site.kubeconfig_path}\n  context: dsconsole-demo\n"
                     f"hosts:\n  - name: gpu-x\n    address: 127.0.0.1\n    port: {port}\n    role: gpu\n"
                     "telemetry:\n  interval_s: 0.5\n")
        r = status("--site", str(f), env={"XDG_STATE_HOME": str(tmp_path / "state")})
    finally:
        stop.set()
        t.join(5)
        srv.close()
    assert r.returncode in (0, 1), (r.stdout, r.stderr)
    assert "NODES 3/3 ready" in r.stdout
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout, r.stderr
    assert "paramiko" not in r.stderr, r.stderr
    log = (tmp_path / "state" / "dsconsole" / "dsconsole.log").read_text()
    assert "Error reading SSH protocol banner" in log     # the detail is kept, in the log file


KUBECONFIG_WITH = """apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority-data: {ca}
contexts:
- name: x
  context: {{cluster: c, user: u}}
users:
- name: u
  user:
    client-key-data: {key}
current-context: x
"""


@pytest.mark.parametrize("case", ["binary", "bad-ca-base64", "bad-key-base64", "ca-not-text",
                                  "python-tag", "bad-timestamp", "too-deep", "merge-bomb"])
def test_status_hostile_kubeconfig_exits_2_with_file_line(tmp_path, case):
    """Kubeconfigs that are binary, hold bad base64 or YAML the loader cannot
    construct: `file[:line]: what is wrong, what was expected`, exit 2, no
    traceback, and no credential in the message."""
    kc = tmp_path / "kubeconfig"
    good = "TUlJQg=="                      # base64 of b"MIIB"
    if case == "binary":
        kc.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe" + bytes(range(256)))
    elif case == "bad-ca-base64":
        kc.write_text(KUBECONFIG_WITH.format(ca="not*base64!", key=good))
    elif case == "bad-key-base64":
        kc.write_text(KUBECONFIG_WITH.format(ca=good, key="c2VjcmV0LWtleQ=x"))
    elif case == "ca-not-text":
        kc.write_text(KUBECONFIG_WITH.format(ca="[1, 2]", key=good))
    elif case == "python-tag":
        kc.write_text(KUBECONFIG_WITH.format(ca="!!python/name:os.system x", key=good))
    elif case == "bad-timestamp":
        kc.write_text(KUBECONFIG_WITH.format(ca="2026-13-45", key=good))
    elif case == "too-deep":
        kc.write_text("apiVersion: v1\nclusters: " + "[" * 5000 + "]" * 5000 + "\n")
    else:   # each level merges the one before twice: 2**40 keys if expanded
        kc.write_text("apiVersion: v1\npreferences:\n  l0: &l0 {a0: 1, b0: 2}\n" + "".join(
            f"  l{i}: &l{i} {{<<: [*l{i - 1}, *l{i - 1}], a{i}: 1}}\n" for i in range(1, 40)))
    r = status("--kubeconfig", str(kc))
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith(f"{kc}"), r.stderr
    assert "expected" in r.stderr, r.stderr
    assert "c2VjcmV0" not in r.stderr               # the (bad) key data is not echoed
    want = {"binary": f"{kc}:1: not UTF-8 text",
            "bad-ca-base64": f"{kc}:7: cluster 'c': certificate-authority-data is not valid base64",
            "bad-key-base64": f"{kc}:14: user 'u': client-key-data is not valid base64",
            "ca-not-text": f"{kc}:7: cluster 'c': certificate-authority-data",
            "python-tag": f"{kc}:7: ", "bad-timestamp": f"{kc}:7: ", "too-deep": f"{kc}:2: ",
            "merge-bomb": f"{kc}:"}[case]
    assert r.stderr.startswith(want), r.stderr
