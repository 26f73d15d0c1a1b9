"""Exec credential plugins (console/kube/exec_plugin.py) run for real: small
plugin scripts written by each test, against the simulator, a TLS server that
requires a client certificate, and `dsconsole status` as a subprocess."""
from __future__ import annotations

import base64
import json
import sys

import pytest

from console.kube.cache import ClusterCache
from console.kube.client import CredentialError, KubeHttp
from console.kube.exec_plugin import ExecPlugin, ExecPluginError
from console.kube.kubeconfig import resolve
from tests.kube_servers import TlsEcho, status, tls_cert, write_kubeconfig
from tests.waiting import wait_for

pytestmark = pytest.mark.timeout(120)

V1 = "client.authentication.k8s.io/v1"

# A plugin: records each run (stdin as it found it, KUBERNETES_EXEC_INFO, its
# pid) in runs.jsonl beside it, then does what behaviour.json says.
PLUGIN = r'''#!PYTHON
import json, os, sys, time
here = os.path.dirname(os.path.abspath(__file__))
stdin = sys.stdin.read() if not sys.stdin.isatty() else "<tty>"
with open(os.path.join(here, "runs.jsonl"), "a") as f:
    f.write(json.dumps({"pid": os.getpid(), "stdin": stdin, "info": os.environ.get("KUBERNETES_EXEC_INFO"),
                        "env": os.environ.get("PLUGIN_ENV"), "argv": sys.argv[1:]}) + "\n")
b = json.load(open(os.path.join(here, "behaviour.json")))
if b.get("sleep"):
    time.sleep(b["sleep"])
if b.get("stderr"):
    sys.stderr.write(b["stderr"])
if b.get("exit"):
    sys.exit(b["exit"])
status = dict(b.get("status") or {})
if "expires_in" in b:
    status["expirationTimestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + b["expires_in"]))
print(json.dumps({"apiVersion": b.get("apiVersion", "client.authentication.k8s.io/v1"), "kind": "ExecCredential",
                  "status": status}))
'''


class Plugin:
    def __init__(self, tmp_path, **behaviour):
        self.dir = tmp_path / "bin"
        self.dir.mkdir(exist_ok=True)
        self.path = self.dir / "cred-plugin"
        self.path.write_text(PLUGIN.replace("PYTHON", sys.executable))
        self.path.chmod(0o755)
        self.set(**behaviour)

    def set(self, **behaviour):
        (self.dir / "behaviour.json").write_text(json.dumps(behaviour))

    @property
    def runs(self) -> list[dict]:
        f = self.dir / "runs.jsonl"
        return [json.loads(line) for line in f.read_text().splitlines()] if f.exists() else []


def exec_user(api_version=V1, **extra):
    # relative to the kubeconfig's directory, as kubectl resolves it
    return {"exec": {"apiVersion": api_version, "command": "./bin/cred-plugin", "args": ["--for", "test"],
                     "env": [{"name": "PLUGIN_ENV", "value": "from-kubeconfig"}],
                     "interactiveMode": "IfAvailable", **extra}}


@pytest.fixture(scope="module")
def site():
    from console.sim.demo_site import start_demo_site
    with start_demo_site(nodes=2, gpus_per_node=2, replicas=2, hosts=False, traffic=False) as s:
        yield s


def test_plugin_runs_once_without_a_terminal_and_its_credential_is_cached(site, tmp_path):
    plugin = Plugin(tmp_path, status={"token": "t0k"}, expires_in=3600)
    kc = write_kubeconfig(tmp_path / "kc", site.url, exec_user(provideClusterInfo=True))
    cache = ClusterCache(KubeHttp(resolve(str(kc))), model_namespace=site.namespace).start()
    try:
        assert cache.wait_synced(30)
        assert cache.view().api_ok or wait_for(lambda: cache.view().api_ok, what="API ok")
    finally:
        cache.stop()
    runs = plugin.runs
    assert len(runs) == 1                        # seven threads asked at once: one run, then the cache
    run = runs[0]
    assert run["stdin"] == "" and run["env"] == "from-kubeconfig" and run["argv"] == ["--for", "test"]
    info = json.loads(run["info"])
    assert info["apiVersion"] == V1 and info["kind"] == "ExecCredential"
    assert info["spec"]["interactive"] is False and info["spec"]["cluster"]["server"] == site.url


@pytest.mark.parametrize("api_version", [V1, "client.authentication.k8s.io/v1beta1"])
def test_an_expired_credential_is_refreshed(site, tmp_path, api_version):
    plugin = Plugin(tmp_path, apiVersion=api_version, status={"token": "short"}, expires_in=1)
    kc = write_kubeconfig(tmp_path / "kc", site.url, exec_user(api_version))
    http = KubeHttp(resolve(str(kc)))
    http.version()
    wait_for(lambda: http.version() and len(plugin.runs) >= 2, timeout=20, what="a second run after expiry")
    http.close()


def test_a_failing_plugin_shows_its_own_message(site, tmp_path):
    Plugin(tmp_path, exit=3, stderr="error: login expired, run `sso login`\x1b[2J\x1b]0;pwned\x07\n")
    kc = write_kubeconfig(tmp_path / "kc", site.url, exec_user())
    r = status("--kubeconfig", str(kc), "--timeout", "3", "--json")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    err = json.loads(r.stdout)["api_error"]
    assert err.startswith("credential error: exec plugin cred-plugin of user u failed (exit status 3)")
    assert "login expired, run `sso login`" in err
    assert "\x1b" not in err and "\\x1b[2J" in err and "\x07" not in err     # shown, not executed
    r = status("--kubeconfig", str(kc), "--timeout", "3")
    assert "login expired" in r.stdout and "\x1b" not in r.stdout


def test_interactive_mode_always_is_a_clear_error_and_the_plugin_is_not_run(site, tmp_path):
    plugin = Plugin(tmp_path, status={"token": "t"})
    kc = write_kubeconfig(tmp_path / "kc", site.url, exec_user(interactiveMode="Always"))
    r = status("--kubeconfig", str(kc), "--timeout", "3", "--json")
    assert r.returncode == 1
    assert "interactiveMode is Always" in json.loads(r.stdout)["api_error"]
    assert plugin.runs == []


def test_a_hanging_plugin_times_out_and_is_killed(tmp_path):
    plugin = Plugin(tmp_path, sleep=600)
    ep = ExecPlugin({**exec_user()["exec"], "command": str(plugin.path)}, timeout_s=1.0)
    with pytest.raises(ExecPluginError, match="no credential after 1 s"):
        ep.credential()
    pid = plugin.runs[0]["pid"]
    assert not _alive(pid)


def test_a_hanging_plugin_is_killed_when_status_ends(site, tmp_path):
    plugin = Plugin(tmp_path, sleep=600)
    kc = write_kubeconfig(tmp_path / "kc", site.url, exec_user())
    r = status("--kubeconfig", str(kc), "--timeout", "2", "--json", timeout=30)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    pid = plugin.runs[0]["pid"]
    wait_for(lambda: not _alive(pid), timeout=10, what="the plugin process gone")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return "\nState:\tZ" not in f.read()       # a zombie has ended
    except FileNotFoundError:
        return False


def test_client_certificates_from_the_plugin_rebuild_the_tls_context(tmp_path):
    crt_a, key_a = tls_cert(tmp_path, "client-a", "alice", "DNS:alice")
    crt_b, key_b = tls_cert(tmp_path, "client-b", "bob", "DNS:bob")
    echo = TlsEcho(tmp_path, client_ca=[crt_a, crt_b])
    try:
        plugin = Plugin(tmp_path, status={"clientCertificateData": crt_a.decode(), "clientKeyData": key_a.decode()})
        kc = write_kubeconfig(tmp_path / "kc", f"https://kube-api.internal:{echo.port}", exec_user(),
                              cluster={"certificate-authority-data": base64.b64encode(echo.crt).decode(),
                                       "tls-server-name": "kube-api.internal"})
        t = resolve(str(kc))
        t.server = f"https://127.0.0.1:{echo.port}"
        http = KubeHttp(t)
        assert http.version()["client"] == "alice"
        plugin.set(status={"clientCertificateData": crt_b.decode(), "clientKeyData": key_b.decode()})
        http._exec.invalidate()                  # as a 401 would
        assert http.version()["client"] == "bob"
        http.close()
        plugin.set(status={"clientCertificateData": "garbage", "clientKeyData": "garbage"})
        http = KubeHttp(t)
        with pytest.raises(CredentialError, match="client certificate of user u's exec plugin cannot be loaded"):
            http.version()
        http.close()
    finally:
        echo.close()


@pytest.mark.parametrize("output, error", [
    ("not json", "not JSON"),
    ('{"kind": "ExecCredential", "apiVersion": "client.authentication.k8s.io/v1beta1", "status": {"token": "x"}}',
     "expected client.authentication.k8s.io/v1"),
    ('{"kind": "ExecCredential", "apiVersion": "client.authentication.k8s.io/v1", "status": {}}',
     "neither a token nor a client certificate"),
])
def test_bad_plugin_output_is_a_clear_error(tmp_path, output, error):
    script = tmp_path / "p"
    script.write_text(f"#!/bin/sh\ncat <<'EOF'\n{output}\nEOF\n")
    script.chmod(0o755)
    with pytest.raises(ExecPluginError, match=error):
        ExecPlugin({"apiVersion": V1, "command": str(script), "interactiveMode": "Never"}).credential()


def test_v1_needs_interactive_mode_and_a_missing_command_says_so(tmp_path):
    with pytest.raises(ExecPluginError, match="interactiveMode must be set"):
        ExecPlugin({"apiVersion": V1, "command": "true"}).credential()
    with pytest.raises(ExecPluginError, match="cannot run .*nope.*; install it"):
        ExecPlugin({"apiVersion": V1, "command": str(tmp_path / "nope"), "interactiveMode": "Never",
                    "installHint": "install it"}).credential()


def test_one_run_at_a_time(tmp_path):
    import threading
    plugin = Plugin(tmp_path, sleep=0.5, status={"token": "t"})
    ep = ExecPlugin({**exec_user()["exec"], "command": str(plugin.path)})
    threads = [threading.Thread(target=ep.credential) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(plugin.runs) == 1 and ep.credential().token == "t"
