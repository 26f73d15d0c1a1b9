"""The Kubernetes access path against hostile and real-world conditions (issue
11): an API that accepts and never answers, credentials that are missing or
wrong, proxies (a real HTTP proxy: CONNECT and absolute form, with Basic
authentication), 429 with Retry-After, client keys that must not stay on disk,
passwords in server URLs. Real sockets, the simulator, kubectl."""
from __future__ import annotations

import base64
import json
import os
import socket
import threading

import pytest

from console.kube.cache import ClusterCache
from console.kube.client import CredentialError, KubeApiError, KubeHttp
from console.kube.kubeconfig import KubeTarget, resolve
from console.kube.proxy import env_proxy_applies
from console.redact import redact
from tests.http_proxy import HttpProxy
from tests.kube_servers import EchoAuth, ScriptedServer, SilentServer, TlsEcho, status, tls_cert, write_kubeconfig
from tests.sim_kube import kubectl
from tests.waiting import wait_for

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def site():
    from console.sim.demo_site import start_demo_site
    with start_demo_site(nodes=2, gpus_per_node=2, replicas=2, hosts=False, traffic=False) as s:
        yield s


# ------------------------------------------------------------------ item 6
def test_status_timeout_bounds_the_whole_command_when_the_api_never_answers(tmp_path):
    """Before: `status --timeout 3` took 33 s (stop() joined threads blocked in
    30 s reads). The bound below is far under that, not a measurement."""
    srv = SilentServer()
    try:
        kc = write_kubeconfig(tmp_path / "kc", f"http://127.0.0.1:{srv.port}", {"token": "t"})
        r = status("--kubeconfig", str(kc), "--timeout", "3", "--json", timeout=20)
        assert r.returncode == 1 and "Traceback" not in r.stderr
        assert "timed out" in json.loads(r.stdout)["api_error"]
    finally:
        srv.close()


def test_cache_stop_does_not_wait_for_reads_the_api_never_answers(tmp_path):
    srv = SilentServer()
    try:
        target = resolve(str(write_kubeconfig(tmp_path / "kc", f"http://127.0.0.1:{srv.port}", {"token": "t"})))
        cache = ClusterCache(KubeHttp(target), heartbeat_s=1.0).start()
        wait_for(lambda: len(srv.conns) >= 6, what="every kind's list waiting on the silent server")
        stopper = threading.Thread(target=cache.stop)
        stopper.start()
        stopper.join(timeout=10)            # a bound far under the 30 s read timeout
        assert not stopper.is_alive()
        # the sockets were closed, not left to time out
        wait_for(lambda: srv.closed_by_client >= 6, timeout=10, what="the connections closed by the client")
    finally:
        srv.close()


# ------------------------------------------------------------------ item 7
def test_missing_token_file_is_a_credential_error_that_recovers(site, tmp_path):
    errors = []
    old_hook = threading.excepthook
    threading.excepthook = lambda args: errors.append(args)
    token = tmp_path / "token"
    try:
        kc = write_kubeconfig(tmp_path / "kc", site.url, {"tokenFile": "token"})
        cache = ClusterCache(KubeHttp(resolve(str(kc))), model_namespace=site.namespace, max_backoff_s=0.5).start()
        try:
            view = wait_for(lambda: (v := cache.view()) and "credential error" in (v.api_error or "") and v,
                            what="a credential error in the view")
            assert "tokenFile" in view.api_error and str(token) in view.api_error and not view.synced
            assert all(t.is_alive() for t in cache._threads)
            token.write_text("from-the-file\n")         # mounted late: recovers by itself
            wait_for(lambda: cache.synced and cache.view().api_ok, what="the cache synced once the file exists")
        finally:
            cache.stop()
    finally:
        threading.excepthook = old_hook
    assert errors == []


def test_status_shows_a_missing_token_file_as_a_credential_error(site, tmp_path):
    kc = write_kubeconfig(tmp_path / "kc", site.url, {"tokenFile": str(tmp_path / "missing")})
    r = status("--kubeconfig", str(kc), "--timeout", "3", "--json")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    err = json.loads(r.stdout)["api_error"]
    assert err.startswith("credential error:") and "tokenFile" in err and "missing" in err
    r = status("--kubeconfig", str(kc), "--timeout", "3")
    assert "API UNREACHABLE (credential error:" in r.stdout and "Traceback" not in r.stderr


def test_token_file_wins_over_token_as_in_kubectl(tmp_path):
    echo = EchoAuth()
    try:
        (tmp_path / "token").write_text("from-file\n")
        kc = write_kubeconfig(tmp_path / "kc", echo.url, {"token": "from-token", "tokenFile": "token"})
        http = KubeHttp(resolve(str(kc)))
        assert http.version()["auth"] == "Bearer from-file"
        (tmp_path / "token").write_text("rotated\n")      # read at each request: a rotated token is used
        assert http.version()["auth"] == "Bearer rotated"
        http.close()
    finally:
        echo.close()


# ------------------------------------------------------------------ item 11
def test_password_in_the_server_url_is_never_printed(site, tmp_path):
    host_port = site.url.split("://", 1)[1]
    kc = write_kubeconfig(tmp_path / "kc", f"http://admin:pa55word@{host_port}")
    for args in ((), ("--json",)):
        r = status("--kubeconfig", str(kc), "--timeout", "10", *args)
        assert r.returncode == 0 and "pa55word" not in r.stdout + r.stderr
    # unreachable: the URL is in the error, redacted
    free = socket.create_server(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    kc = write_kubeconfig(tmp_path / "kc2", f"http://admin:pa55word@127.0.0.1:{port}")
    for args in ((), ("--json",)):
        r = status("--kubeconfig", str(kc), "--timeout", "2", *args)
        assert r.returncode == 1 and "pa55word" not in r.stdout + r.stderr
        assert "http://***@127.0.0.1" in r.stdout
    assert "pa55word" not in repr(resolve(str(kc)))


@pytest.mark.parametrize("text, shown", [
    ("https://admin:s3cret@10.0.0.1:6443: timed out", "https://***@10.0.0.1:6443: timed out"),
    ("proxy http://u:p%40ss@proxy:3128/ refused", "proxy http://***@proxy:3128/ refused"),
    ("https://u:p@ss@host/x", "https://***@host/x"),                  # an unencoded @ in the password
    ("no url, mail ops@example.com", "no url, mail ops@example.com"),
    ("https://host:6443/api?x=a@b", "https://host:6443/api?x=a@b"),    # an @ in the query is not user info
])
def test_redact_removes_user_information_of_urls(text, shown):
    assert redact(text) == shown


# ------------------------------------------------------------------ item 9: proxies
def test_http_proxy_from_the_environment_as_kubectl_uses_it(site, tmp_path):
    """The server is named by a name only the proxy resolves: reaching it proves
    the proxy was used; kubectl, with the same environment, agrees."""
    port = site.url.rsplit(":", 1)[1]
    proxy = HttpProxy(hosts={"kube-api.internal": "127.0.0.1"})
    try:
        kc = write_kubeconfig(tmp_path / "kc", f"http://kube-api.internal:{port}")
        env = {"HTTP_PROXY": proxy.url, "http_proxy": "", "NO_PROXY": "", "no_proxy": ""}
        r = status("--kubeconfig", str(kc), "--timeout", "20", "--json", env=env)
        assert r.returncode == 0, r.stdout + r.stderr
        assert json.loads(r.stdout)["synced"] is True
        ours = list(proxy.requests)
        assert any(line.startswith(f"GET http://kube-api.internal:{port}/api/v1/pods?") for line in ours)
        proxy.requests.clear()
        old = dict(os.environ)
        os.environ.update(env)
        try:
            out = kubectl(kc, "get", "nodes", "-o", "name").stdout
        finally:
            os.environ.clear()
            os.environ.update(old)
        assert "node/" in out and any("kube-api.internal" in line for line in proxy.requests)
        # NO_PROXY names the host: no proxy, and the name does not resolve
        r = status("--kubeconfig", str(kc), "--timeout", "3", "--json", env={**env, "NO_PROXY": ".internal"})
        assert r.returncode == 1 and "unknown host" in json.loads(r.stdout)["api_error"]
    finally:
        proxy.close()


def test_proxy_url_with_basic_auth_and_a_loopback_server_bypassing_the_environment(site, tmp_path):
    port = site.url.rsplit(":", 1)[1]
    proxy = HttpProxy(hosts={"kube-api.internal": "127.0.0.1"}, user="ops", password="pr0xy pass")
    try:
        url = f"http://ops:pr0xy%20pass@127.0.0.1:{proxy.port}"
        kc = write_kubeconfig(tmp_path / "kc", f"http://kube-api.internal:{port}", cluster={"proxy-url": url})
        http = KubeHttp(resolve(str(kc)))
        assert http.version()["gitVersion"]
        assert proxy.refused == 0 and proxy.requests
        http.close()
        bad = write_kubeconfig(tmp_path / "kc2", f"http://kube-api.internal:{port}",
                               cluster={"proxy-url": f"http://ops:wrong@127.0.0.1:{proxy.port}"})
        r = status("--kubeconfig", str(bad), "--timeout", "3", "--json")
        assert r.returncode == 1 and "wrong" not in r.stdout + r.stderr and proxy.refused >= 1
    finally:
        proxy.close()
    # the environment's proxy is never used for a loopback server (Go's rule): a dead proxy changes nothing
    kc = write_kubeconfig(tmp_path / "kc3", site.url)
    r = status("--kubeconfig", str(kc), "--timeout", "20", "--json",
               env={"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"})
    assert r.returncode == 0 and json.loads(r.stdout)["synced"] is True


def test_socks_proxy_is_refused_with_a_clear_error(site, tmp_path):
    kc = write_kubeconfig(tmp_path / "kc", site.url, cluster={"proxy-url": "socks5://u:secret@127.0.0.1:1080"})
    r = status("--kubeconfig", str(kc), "--timeout", "3")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "SOCKS proxies are not supported" in r.stderr and "proxy-url" in r.stderr and "secret" not in r.stderr


@pytest.mark.parametrize("host, no_proxy, applies", [
    ("kube.example.com", "", True),
    ("kube.example.com", "example.com", False),
    ("kube.example.com", ".example.com", False),
    ("example.com", ".example.com", True),          # a leading dot: subdomains only (Go)
    ("notexample.com", "example.com", True),
    ("10.1.2.3", "10.0.0.0/8", False),
    ("10.1.2.3", "192.168.0.0/16,kube", True),
    ("kube.example.com", "*", False),
    ("kube.example.com", "kube.example.com:6443", False),
    ("localhost", "", False),
    ("127.0.0.1", "", False),
    ("::1", "", False),
])
def test_no_proxy_matching(monkeypatch, host, no_proxy, applies):
    monkeypatch.setenv("NO_PROXY", no_proxy)
    assert env_proxy_applies(host) is applies


def test_https_through_a_connect_tunnel_with_proxy_auth(tmp_path, monkeypatch):
    echo = TlsEcho(tmp_path)
    proxy = HttpProxy(hosts={"kube-api.internal": "127.0.0.1"}, user="ops", password="s3")
    try:
        kc = write_kubeconfig(tmp_path / "kc", f"https://kube-api.internal:{echo.port}", {"token": "tok"},
                              cluster={"certificate-authority-data": base64.b64encode(echo.crt).decode()})
        monkeypatch.setenv("HTTPS_PROXY", f"http://ops:s3@127.0.0.1:{proxy.port}")
        monkeypatch.setenv("NO_PROXY", "")
        http = KubeHttp(resolve(str(kc)))
        assert http.version()["auth"] == "Bearer tok"      # TLS end to end, certificate checked by name
        assert proxy.requests == [f"CONNECT kube-api.internal:{echo.port} HTTP/1.1"]
        http.close()
        old = dict(os.environ)
        try:
            r = kubectl(kc, "version", "-o", "json", check=False)    # kubectl takes the same way
        finally:
            os.environ.clear()
            os.environ.update(old)
        assert proxy.requests.count(f"CONNECT kube-api.internal:{echo.port} HTTP/1.1") >= 2, r.stderr
    finally:
        proxy.close()
        echo.close()


# ------------------------------------------------------------------ item 9: 429
def test_429_with_retry_after_is_retried_then_answered():
    srv = ScriptedServer([b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 2\r\n\r\n{}",
                          b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"ok\": 1}\n\n"])
    try:
        http = KubeHttp(KubeTarget(context="c", cluster="c", user=None, server=f"http://127.0.0.1:{srv.port}"))
        assert http.get_json("/api/v1/pods") == {"ok": 1}
        assert len(srv.requests) == 2
    finally:
        srv.close()


def test_429_retries_are_bounded():
    answer = b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 0\r\nContent-Length: 2\r\n\r\n{}"
    srv = ScriptedServer([answer] * 6)
    try:
        http = KubeHttp(KubeTarget(context="c", cluster="c", user=None, server=f"http://127.0.0.1:{srv.port}"))
        with pytest.raises(KubeApiError) as err:
            http.get_json("/api/v1/pods")
        assert err.value.status == 429 and len(srv.requests) == 4
    finally:
        srv.close()


def test_a_write_is_not_sent_on_a_kept_alive_connection_the_server_closed():
    """The wizards' and drills' one write path (KubeHttp.send): a POST is not
    resent after its connection broke (it may have happened), so a kept-alive
    connection the API server closed while idle must be seen before sending;
    the POST then goes out once, on a new connection."""
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"ok\": 1}\n\n"
    created = b"HTTP/1.1 201 Created\r\nContent-Length: 12\r\n\r\n{\"made\": 1}\n\n"
    srv = ScriptedServer([ok, created], close_after_answer=True)
    try:
        http = KubeHttp(KubeTarget(context="c", cluster="c", user=None, server=f"http://127.0.0.1:{srv.port}"))
        assert http.get_json("/api/v1/pods") == {"ok": 1}
        wait_for(lambda: srv.closed == 1, 10, what="the server to close the idle connection")
        assert http.send("POST", "/api/v1/namespaces/x/configmaps", {"kind": "ConfigMap"}) == {"made": 1}
        assert [r.split(b" ", 1)[0] for r in srv.requests] == [b"GET", b"POST"]
        assert srv.connections == 2
    finally:
        srv.close()


# ------------------------------------------------------------------ item 9: keys on disk
@pytest.mark.parametrize("memfd", [True, False], ids=["memfd", "temp-file"])
def test_a_bad_client_certificate_leaves_no_key_on_disk(tmp_path, monkeypatch, memfd):
    import tempfile
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    if not memfd:
        monkeypatch.delattr(os, "memfd_create")
    _, key = tls_cert(tmp_path, "client", "ops", "DNS:ops")
    target = KubeTarget(context="c", cluster="c", user="ops", server="https://127.0.0.1:1",
                        client_cert_data=b"-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n",
                        client_key_data=key)
    with pytest.raises(CredentialError) as err:
        KubeHttp(target)
    assert "client certificate of user ops cannot be loaded" in str(err.value)
    assert "PRIVATE KEY" not in str(err.value)
    assert list(tmp.rglob("*")) == []


# ------------------------------------------------------------------ the TUI (items 6 and 7)
async def _until(pilot, predicate, what: str, timeout: float = 30.0) -> None:
    import time
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


async def test_tui_shows_a_credential_error_recovers_and_quits_without_tracebacks(site, tmp_path):
    from console.site_session import SiteSession
    from screens.app import DashboardApp
    errors = []
    old_hook = threading.excepthook
    threading.excepthook = lambda args: errors.append(args)
    token = tmp_path / "token"
    kc = write_kubeconfig(tmp_path / "kc", site.url, {"tokenFile": "token"})
    session = SiteSession(title="creds", kubeconfig=str(kc)).start()
    try:
        app = DashboardApp(session)
        async with app.run_test(size=(100, 24)) as pilot:
            header = app.screen.query_one("#header")
            await _until(pilot, lambda: "credential error" in (getattr(header, "_shown", "") or ""),
                         "the header naming the credential error")
            assert "tokenFile" in header._shown
            token.write_text("t0k3n")
            await _until(pilot, lambda: header.api_state == "live", "the header live once the file exists")
        stopper = threading.Thread(target=session.stop)
        stopper.start()
        stopper.join(10)
        assert not stopper.is_alive()
    finally:
        session.stop()
        threading.excepthook = old_hook
    assert errors == []


async def test_tui_quits_at_once_when_the_api_never_answers(tmp_path):
    from console.site_session import SiteSession
    from screens.app import DashboardApp
    srv = SilentServer()
    kc = write_kubeconfig(tmp_path / "kc", f"http://127.0.0.1:{srv.port}", {"token": "t"})
    session = SiteSession(title="silent", kubeconfig=str(kc)).start()
    try:
        app = DashboardApp(session)
        async with app.run_test(size=(100, 24)) as pilot:
            await _until(pilot, lambda: len(srv.conns) >= 6, "every kind's list waiting on the silent server")
        # what `dsconsole open` does after the app has ended; before, 30 s (threads in 30 s reads were joined)
        stopper = threading.Thread(target=session.stop)
        stopper.start()
        stopper.join(10)
        assert not stopper.is_alive()
    finally:
        session.stop()
        srv.close()
