"""ClusterCache and SiteSession against the real simulator over HTTP (no mocks):
fill, delete/replace, relist on 410, API loss and recovery, detail views."""
import threading
import time
from functools import partial

import pytest

from console.kube.cache import ClusterCache
from console.kube.client import KubeHttp
from console.kube.kubeconfig import api_client, resolve
from tests import waiting

pytestmark = pytest.mark.timeout(120)


wait_for = partial(waiting.wait_for, timeout=20.0)


@pytest.fixture
def site():
    from console.sim.demo_site import start_demo_site
    s = start_demo_site(nodes=4, gpus_per_node=4, time_scale=20.0, model_load_s=20.0)
    yield s
    s.stop()


@pytest.fixture
def cache(site):
    c = ClusterCache(KubeHttp(resolve(str(site.kubeconfig_path), site.context)),
                     model_namespace=site.namespace, heartbeat_s=0.25, max_backoff_s=1.0)
    c.start()
    yield c
    c.stop()


def official_pods(site):
    """What the official kubernetes client sees (the reference the cache must match)."""
    from kubernetes import client
    v1 = client.CoreV1Api(api_client(str(site.kubeconfig_path), site.context))
    return v1.list_pod_for_all_namespaces().items


def test_cache_fills_from_demo_site_and_matches_the_official_client(site, cache):
    assert cache.wait_synced(20)
    view = wait_for(lambda: (v := cache.view()).pods and v, what="a view with pods")
    assert view.api_ok and view.synced and view.api_error is None
    assert [n.name for n in view.nodes] == sorted(n.name for n in view.nodes)
    assert len(view.nodes) == 4 and all(n.ready and n.gpu_cap == 4 for n in view.nodes)
    pods = official_pods(site)
    assert view.pod_total == len(pods)
    model = [p for p in pods if p.metadata.namespace == site.namespace]
    assert sorted(p.key for p in view.pods) == sorted(f"{p.metadata.namespace}/{p.metadata.name}" for p in model)
    # GPUs allocated per node from the pods' nvidia.com/gpu requests
    want: dict[str, int] = {}
    for p in pods:
        if p.spec.node_name and p.status.phase not in ("Succeeded", "Failed"):
            g = sum(int((c.resources.requests or {}).get("nvidia.com/gpu", 0)
                        or (c.resources.limits or {}).get("nvidia.com/gpu", 0)) for c in p.spec.containers)
            want[p.spec.node_name] = want.get(p.spec.node_name, 0) + g
    assert {n.name: n.gpu_alloc for n in view.nodes} == {n.name: want.get(n.name, 0) for n in view.nodes}
    assert sum(want.values()) > 0
    row = view.pods[0]
    assert row.version == "blue" and row.app == "deepseek-server" and row.gpus >= 1
    assert row.ip and row.model_port and row.node
    assert view.deployments and view.deployments[0].name == "deepseek-v3-blue"
    assert view.pdbs and all(k.synced and k.error is None for k in view.kinds.values())
    # the same through small pages (chunked list, next page fetched while one is parsed)
    small = ClusterCache(KubeHttp(resolve(str(site.kubeconfig_path), site.context)), kinds=("pods",),
                         model_namespace=site.namespace, page_size=3)
    small.start()
    try:
        assert small.wait_synced(20)
        assert small.items("pods").keys() == cache.items("pods").keys()
    finally:
        small.stop()


def test_deleted_pod_disappears_and_its_replacement_appears(site, cache):
    assert cache.wait_synced(20)
    before = {p.key for p in cache.view().pods}
    victim = sorted(before)[0]
    ns, name = victim.split("/")
    site.cluster.delete_pod(ns, name)
    wait_for(lambda: victim not in {p.key for p in cache.view().pods}, what=f"{victim} gone from the cache")
    new = wait_for(lambda: {p.key for p in cache.view().pods} - before, what="a replacement pod")
    assert len(new) == 1
    (key,) = new
    assert cache.pod(*key.split("/")).version == "blue"
    # the cache agrees with the official client once settled
    wait_for(lambda: {p.key for p in cache.view().pods}
             == {f"{p.metadata.namespace}/{p.metadata.name}" for p in official_pods(site)
                 if p.metadata.namespace == site.namespace}, what="cache == API")
    events = cache.events_for("Pod", ns, next(iter(new)).split("/")[1])
    assert events == tuple(sorted(events, key=lambda e: e.time or 0, reverse=True))


def test_relist_on_410_gone(site, cache):
    assert cache.wait_synced(20)
    pods_before = cache.relists("pods")
    # Move the store's resourceVersion past the pods watch, forget all history,
    # then drop the watches: their resume from the old resourceVersion gets 410.
    site.cluster.cordon(sorted(n.name for n in cache.view().nodes)[0])
    wait_for(lambda: any(n.cordoned for n in cache.view().nodes), what="cordon seen")
    site.store.compact()
    cache.http.close_streams()
    wait_for(lambda: cache.relists("pods") > pods_before, what="a relist of pods after 410")
    assert cache.gone_count("pods") >= 1
    view = wait_for(lambda: (v := cache.view()).api_ok and v, what="healthy again")
    # still complete and correct after the relist; and the watch works again
    victim = view.pods[0].key
    site.cluster.delete_pod(*victim.split("/"))
    wait_for(lambda: victim not in {p.key for p in cache.view().pods}, what="deletion seen after relist")


def test_api_lost_then_back_on_the_same_port_recovers_by_itself(site):
    from console.sim.demo_site import start_demo_site
    changes = threading.Event()
    c = ClusterCache(KubeHttp(resolve(str(site.kubeconfig_path), site.context)),
                     model_namespace=site.namespace, heartbeat_s=0.25, max_backoff_s=1.0,
                     on_change=changes.set)
    c.start()
    second = None
    try:
        assert c.wait_synced(20)
        port = int(site.url.rsplit(":", 1)[1])
        site.stop()
        lost_at = time.time()
        # the open watches see the server go first ("connection reset"); the
        # reconnects after it are refused (on a loaded machine the view can
        # show the reset before any reconnect was tried: wait for the refusal)
        view = wait_for(lambda: (v := c.view()) and not v.api_ok and "unreachable" in (v.api_error or "")
                        and "connection refused" in (v.api_error or "") and v, timeout=10, what="unreachable")
        assert view.last_update is not None and view.last_update <= lost_at + 0.5
        # while down, the last good time stays where it was: the data's age grows
        stale = wait_for(lambda: (v := c.view()) and time.time() - v.last_update >= 1.0 and v,
                         timeout=10, what="the data a second old")
        assert not stale.api_ok and stale.last_update == view.last_update
        assert len(stale.pods) > 0                                            # last good data kept
        second = start_demo_site(nodes=3, gpus_per_node=4, port=port, time_scale=20.0, model_load_s=20.0)
        view = wait_for(lambda: (v := c.view()).api_ok and v.synced and len(v.nodes) == 3 and v,
                        timeout=20, what="live again on the new simulator")
        assert time.time() - view.last_update < 5
        assert {p.key for p in view.pods} == {f"{p['metadata']['namespace']}/{p['metadata']['name']}"
                                            for p in second.store.values("pods")
                                            if p["metadata"]["namespace"] == second.namespace}
    finally:
        c.stop()
        if second is not None:
            second.stop()


def test_object_yaml_and_pod_log_and_unknown_object(site, cache):
    import yaml

    from console.kube.client import KubeApiError
    assert cache.wait_synced(20)
    pod = wait_for(lambda: cache.view().pods, what="pods")[0]
    doc = yaml.safe_load(cache.object_yaml("Pod", pod.namespace, pod.name))
    assert doc["metadata"]["name"] == pod.name and doc["kind"] == "Pod"
    assert "managedFields" not in doc["metadata"]
    node = yaml.safe_load(cache.object_yaml("nodes", None, pod.node))
    assert node["metadata"]["name"] == pod.node
    with pytest.raises(KubeApiError) as e:
        cache.object_yaml("pods", pod.namespace, "no-such-pod")
    assert e.value.status == 404
    stream = cache.http.pod_log(pod.namespace, pod.name, follow=False)
    lines = list(stream)
    assert any("startup complete" in line for line in lines)


# ---- SiteSession on the embedded demo site ------------------------------------
@pytest.fixture
def session():
    from console.site_session import SiteSession
    s = SiteSession.demo(nodes=3, gpus_per_node=4, replicas=6, time_scale=20.0, model_load_s=20.0,
                         session_options={"probes": False, "telemetry_interval_s": 0.2})
    yield s
    s.stop()


def test_session_demo_snapshots_subscribe_and_details(session):
    import yaml
    assert session.is_demo and session.title == "DEMO" and session.context == "dsconsole-demo"
    assert session.namespace == "deepseek" and session.read_only is False
    first = session.snapshot()                 # before start: never blocks, never None
    assert first.version == 0 and not first.synced and first.stale
    seen = []
    unsubscribe = session.subscribe(seen.append)
    session.start()
    assert session.wait_synced(20), session.start_error
    snap = wait_for(lambda: (s := session.snapshot()).gpus and all(g.latest for g in s.gpus.values())
                    and len(s.pods) == 6 and s, what="pods and GPUs in the snapshot")
    assert snap.api_ok and not snap.stale and snap.age() < 5
    assert snap.alerts_time is not None     # alerts evaluated on the synced data
    assert len(snap.nodes) == 3 and sorted(snap.gpus) == [n.name for n in snap.nodes]
    assert all(len(g.latest.samples) == 4 for g in snap.gpus.values())
    assert snap.kinds["pods"].synced and snap.kinds["pods"].count == snap.pod_total
    wait_for(lambda: len(seen) >= 2, what="subscriber calls")
    versions = [s.version for s in seen]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    unsubscribe()
    n = len(seen)
    # two more snapshots published to a listener still subscribed; the one that
    # left got at most the snapshot in flight when it left
    later = []
    session.subscribe(later.append)
    wait_for(lambda: len(later) >= 2, what="two more snapshots published")
    assert len(seen) <= n + 1
    # detail views
    pod = snap.pods[0]
    doc = yaml.safe_load(session.object_yaml("pods", pod.namespace, pod.name))
    assert doc["spec"]["nodeName"] == pod.node
    transports = session.transports()
    assert sorted(transports) == [n.name for n in snap.nodes]
    assert transports[pod.node].run("cat /proc/sys/vm/swappiness").ok
    # events_for reads the cache: the replacement of a deleted pod is Scheduled, Started ...
    before = {p.key for p in snap.pods}
    session.demo_site.cluster.delete_pod(pod.namespace, pod.name)
    new = wait_for(lambda: {p.key for p in session.snapshot().pods} - before, what="a replacement pod")
    name = next(iter(new)).split("/")[1]
    events = wait_for(lambda: session.events_for("Pod", pod.namespace, name), what="events about the new pod")
    assert "Scheduled" in {e.reason for e in events}
    assert all(e.name == name and e.kind == "Pod" for e in events)
    assert session.events_for("Pod", pod.namespace, "no-such-pod") == ()


def test_session_follows_a_pod_log_into_a_capped_buffer(session):
    session.start()
    assert session.wait_synced(20)
    pod = wait_for(lambda: session.snapshot().pods, what="pods")[0]
    got = []
    follower = session.follow_pod_log(pod.namespace, pod.name, max_lines=50, on_lines=got.extend)
    try:
        wait_for(lambda: any("startup complete" in line for line in follower.lines()), what="the log's tail")
        for i in range(120):
            session.demo_site.logs.append(pod.namespace, pod.name, f"line {i}")
        wait_for(lambda: "line 119" in follower.lines(), what="followed lines")
        lines = follower.lines()
        assert len(lines) == 50 and lines[-1] == "line 119" and lines[0] == "line 70"
        assert follower.received >= 121 and "line 0" in got
        assert follower.error is None
    finally:
        follower.stop()
    # plain iterator form, not following
    assert "line 5" in list(session.pod_log(pod.namespace, pod.name, follow=False, tail_lines=200))


def test_session_from_args_chooses_demo_kubeconfig_or_site(site, tmp_path, monkeypatch):
    import argparse

    from console.site_session import SessionError, SiteSession
    ns = argparse.Namespace
    assert SiteSession.from_args(ns(site=None, kubeconfig=None, context=None)).is_demo
    s = SiteSession.from_args(ns(kubeconfig=str(site.kubeconfig_path), context=None, read_only=True))
    assert not s.is_demo and s.context == "dsconsole-demo" and s.read_only and s.title == "dsconsole-demo"
    monkeypatch.setenv("KUBECONFIG", str(site.kubeconfig_path))
    s = SiteSession.from_args(ns(context="dsconsole-demo"))        # KUBECONFIG honoured as kubectl does
    assert not s.is_demo and s._target.server == site.url
    f = tmp_path / "site.yaml"
    f.write_text(f"name: lab\ncluster:\n  kubeconfig: {site.kubeconfig_path}\n  namespace: other\n")
    s = SiteSession.from_args(ns(site=str(f)))
    assert s.title == "lab" and s.namespace == "other" and s.site.name == "lab"
    monkeypatch.setenv("DSCONSOLE_NAMESPACE", "fromenv")
    assert SiteSession.from_args(ns(site=str(f))).namespace == "fromenv"
    f.write_text("name: lab\nhosts: nope\n")
    with pytest.raises(SessionError, match=r"site.yaml:2: hosts: expected a list"):
        SiteSession.from_args(ns(site=str(f)))
    with pytest.raises(SessionError, match="context 'nope' not found"):
        SiteSession.from_args(ns(kubeconfig=str(site.kubeconfig_path), context="nope"))


def test_kubeconfig_merge_order_like_kubectl(tmp_path, monkeypatch):
    from console.kube.kubeconfig import KubeConfigError, resolve
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("apiVersion: v1\nkind: Config\ncurrent-context: one\nclusters:\n"
                 "- name: c1\n  cluster: {server: 'https://one.example:6443', certificate-authority: ca.crt}\n"
                 "contexts:\n- name: one\n  context: {cluster: c1, user: u1, namespace: ns1}\n"
                 "users:\n- name: u1\n  user: {token: secret-one}\n")
    b.write_text("apiVersion: v1\nkind: Config\ncurrent-context: two\nclusters:\n"
                 "- name: c1\n  cluster: {server: 'https://shadowed.example'}\n"
                 "- name: c2\n  cluster: {server: 'http://two.example:8080'}\n"
                 "contexts:\n- name: two\n  context: {cluster: c2}\n"
                 "users: []\n")
    import os
    monkeypatch.setenv("KUBECONFIG", f"{a}{os.pathsep}{tmp_path / 'missing'}{os.pathsep}{b}")
    t = resolve()
    assert t.context == "one" and t.server == "https://one.example:6443" and t.namespace == "ns1"
    assert t.ca_file == str(tmp_path / "ca.crt")          # relative to the file that named it
    assert "secret-one" not in repr(t) and t.bearer_token() == "secret-one"
    t2 = resolve(context="two")
    assert t2.server == "http://two.example:8080" and t2.user is None
    assert resolve(str(b)).server == "http://two.example:8080"   # --kubeconfig: that file alone
    with pytest.raises(KubeConfigError, match="known: one, two"):
        resolve(context="three")


def test_kubeconfig_tls_with_ca_and_client_certificate(tmp_path):
    """A TLS API endpoint (real openssl certificates, real ssl server) that demands
    a client certificate: CA and client cert/key come base64 from the kubeconfig."""
    import base64
    import json
    import ssl
    import subprocess
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from console.kube.client import ApiUnreachable

    def cert(name, cn):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", tmp_path / f"{name}.key",
                        "-out", tmp_path / f"{name}.crt", "-days", "1", "-subj", f"/CN={cn}",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True)
        return (tmp_path / f"{name}.crt").read_bytes(), (tmp_path / f"{name}.key").read_bytes()
    server_crt, _ = cert("server", "localhost")
    client_crt, client_key = cert("client", "ops")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            peer = self.connection.getpeercert()
            body = json.dumps({"gitVersion": "v1.37.0", "client": dict(x[0] for x in peer["subject"])["commonName"],
                               "auth": self.headers.get("Authorization")}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = HTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "server.crt", tmp_path / "server.key")
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(tmp_path / "client.crt")
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
        kc = tmp_path / "kubeconfig"
        kc.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "tls",
            "clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{srv.server_address[1]}",
                                                   "certificate-authority-data": b64(server_crt)}}],
            "contexts": [{"name": "tls", "context": {"cluster": "c", "user": "ops"}}],
            "users": [{"name": "ops", "user": {"client-certificate-data": b64(client_crt),
                                               "client-key-data": b64(client_key), "token": "s3cret"}}]}))
        http = KubeHttp(resolve(str(kc)))
        answer = http.version()
        assert answer["client"] == "ops" and answer["auth"] == "Bearer s3cret"
        http.close()
        # without the CA the server is not trusted
        doc = json.loads(kc.read_text())
        del doc["clusters"][0]["cluster"]["certificate-authority-data"]
        kc.write_text(json.dumps(doc))
        with pytest.raises(ApiUnreachable, match="not trusted"):
            KubeHttp(resolve(str(kc))).version()
    finally:
        srv.shutdown()
        srv.server_close()


def test_list_starts_over_when_its_continue_token_expires(site):
    """A chunked list whose continue token expires (410) mid-way starts over
    and still returns every pod exactly once."""
    from console.kube.cache import ClusterCache
    cache = ClusterCache(KubeHttp(resolve(str(site.kubeconfig_path), site.context)), kinds=("pods",),
                         model_namespace=site.namespace, page_size=2)
    k = cache._kinds["pods"]
    original = cache.http.get_bytes
    calls = []

    def get_bytes(path, params=None, **kw):
        calls.append(params.get("continue"))
        if len(calls) == 3:
            # a change, then history forgotten: the list's continue tokens are expired now
            rv = site.store.resource_version
            site.cluster.cordon(sorted(n["metadata"]["name"] for n in site.store.values("nodes"))[0])
            wait_for(lambda: site.store.resource_version > rv, what="a new resourceVersion")
            site.store.compact()
        return original(path, params, **kw)
    cache.http.get_bytes = get_bytes     # observe the calls; the requests are real
    cache._list(k)
    want = {f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in site.store.values("pods")}
    assert set(k.items) == want and len(want) > 10
    assert calls.count(None) == 2         # the list started over once


def test_changes_the_views_do_not_show_cause_no_rebuild(site):
    """A stream of heartbeats (annotation / probe-time changes: the reduced rows
    are equal) publishes no change and keeps every row object; a visible change
    right after them is published."""
    from console.sim.churn import PodChurn
    from console.sim.resources import BY_PLURAL
    calls = []
    c = ClusterCache(KubeHttp(resolve(str(site.kubeconfig_path), site.context)), kinds=("pods",),
                     model_namespace=site.namespace, heartbeat_s=0.25, on_change=lambda: calls.append(1))
    c.start()
    try:
        assert c.wait_synced(20)
        before = {p.key: p for p in c.view().pods}
        calls.clear()
        churn = PodChurn(site.store, 200, namespace=site.namespace).start()
        wait_for(lambda: churn.changed >= 100, timeout=30, what="100 heartbeats")
        churn.stop()
        key = sorted(before)[0]
        ns, name = key.split("/")

        def relabel(pod):
            pod["metadata"]["labels"]["dsconsole.io/colour"] = "green"   # shown as its version
        site.store.modify(BY_PLURAL["pods"], ns, name, relabel)
        # watch events arrive in order: once the relabel shows, every heartbeat was applied
        wait_for(lambda: (c.pod(ns, name) or before[key]).version == "green", what="the relabel in the cache")
        after = {p.key: p for p in c.view().pods}
        assert after.keys() == before.keys()
        assert [k for k in after if after[k] is not before[k]] == [key]
        assert 1 <= len(calls) < 10, len(calls)   # ~50 batches of heartbeats: not one notice each
    finally:
        c.stop()
