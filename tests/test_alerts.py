"""Alerts from the site's thresholds, each provoked for real in the demo site:
node NotReady (fail_node), a PDB allowing 0 disruptions (created with the
official client), P99 over threshold (latency injected in one model server),
a consistency failure (a bad reply injected), sustained GPU util (fleet load).
Plus the histogram arithmetic the P99 rests on."""
import math
import time

import pytest

from console.probes import prom_text
from console.site_config import Thresholds
from console.site_session import SiteSession
from tests.waiting import wait_for

pytestmark = pytest.mark.timeout(150)

FAST = Thresholds(gpu_util_pct=90, gpu_util_window_s=1.0, p99_latency_ms=500, p99_scrape_interval_s=0.3,
                  consistency_failure_pct=0.1, consistency_interval_s=0.3, consistency_window_s=600)


def wait_alert(session, kind, target=None, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for a in session.snapshot().alerts:
            if a.kind == kind and (target is None or a.target == target):
                return a
        time.sleep(0.05)
    raise AssertionError(f"no {kind} alert for {target} within {timeout}s; have "
                         f"{[(a.kind, a.target) for a in session.snapshot().alerts]}")


@pytest.fixture(scope="module")
def session():
    # 3 nodes x 2 GPUs, one model pod per node on GPU 0: GPU 1 of every node is free.
    s = SiteSession.demo(nodes=3, gpus_per_node=2, replicas=3, time_scale=20.0, model_load_s=20.0,
                         session_options={"thresholds": FAST, "telemetry_interval_s": 0.2})
    s.start()
    assert s.wait_synced(20), s.start_error
    yield s
    s.stop()


def pods_by_node(session):
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        pods = [p for p in session.snapshot().pods if p.ready and p.ip]
        if len(pods) == 3:
            return {p.node: p for p in pods}
        time.sleep(0.05)
    raise AssertionError("demo pods not ready")




def test_healthy_site_has_no_probe_alerts(session):
    pods_by_node(session)
    lat, cons = session.alerts.latency, session.alerts.consistency
    limit_s = FAST.p99_latency_ms / 1000.0
    # The first consistency request of each pod compiles the prompt's shape (8
    # simulated seconds): the scrape interval that contains it has a P99 over the
    # threshold, and the alert is up (rightly) until a later interval has only
    # fast requests. Reading the alerts a fixed time after "3 checks done" raced
    # with that (the scrape and the 1 Hz evaluation can lag on a busy machine).
    # Wait for the probes to have seen the warmed-up state, then read an
    # evaluation that started after it.
    def warmed_up():
        cs, ls = cons.stats(), lat.stats()
        return (lat.rounds >= 6 and len(cs) == 3 and all(s.checks >= 3 for s in cs.values())
                and len(ls) == 3 and all(s.current_p99_s is not None and s.current_p99_s <= limit_s
                                         for s in ls.values()))
    wait_for(warmed_up, what="three consistency checks per pod and a scrape interval after the compile")
    # evaluations run one after another on one thread: once a second one has
    # started, the first one that started after `mark` has published its alerts
    for _ in range(2):
        mark = time.time()
        wait_for(lambda mark=mark: (session.alerts.evaluated_at or 0) > mark, what="an alert evaluation after warm-up")
    kinds = {a.kind for a in session.alerts.current()}
    assert not kinds & {"p99-latency", "consistency", "gpu-util", "node-not-ready", "pdb-blocking"}, kinds
    assert all(s.failures == 0 and s.reference for s in cons.stats().values())
    assert any(s.requests > 0 for s in lat.stats().values())


def test_probe_requests_and_their_errors(session):
    """The probes' requests (console/http1.py, one connection each) against the
    real simulated model servers: a page, a JSON POST, an HTTP error, and a pod
    address where nothing listens."""
    import json
    import socket

    import msgspec

    from console.probes import model_probe
    pod = sorted(pods_by_node(session).values(), key=lambda p: p.name)[0]
    assert b"vllm:e2e_request_latency_seconds_bucket" in model_probe.request(pod, "GET", "/metrics", timeout=5)
    model = json.loads(model_probe.request(pod, "GET", "/v1/models", timeout=5))["data"][0]["id"]
    reply = json.loads(model_probe.request(pod, "POST", "/v1/completions", timeout=30, json_body={
        "model": model, "prompt": "2+2=", "seed": 7, "max_tokens": 4, "temperature": 0}))
    assert reply["choices"][0]["text"]
    with pytest.raises(model_probe.ProbeHttpError, match="HTTP 404"):
        model_probe.request(pod, "GET", "/no/such/page", timeout=5)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with pytest.raises(ConnectionRefusedError):
        model_probe.request(msgspec.structs.replace(pod, ip="127.0.0.1", model_port=closed), "GET", "/metrics",
                            timeout=5)


def test_p99_latency_over_threshold(session):
    pod = sorted(pods_by_node(session).values(), key=lambda p: p.name)[0]
    session.demo_site.model_servers.inject_latency(pod.ip, 2.0)   # +2 s per request
    try:
        a = wait_alert(session, "p99-latency", pod.key)
        assert "> 500 ms" in a.message and a.severity == "warning"
    finally:
        session.demo_site.model_servers.clear_faults(pod.ip)


def test_consistency_failure(session):
    pod = sorted(pods_by_node(session).values(), key=lambda p: p.name)[1]
    session.demo_site.model_servers.inject_bad_reply(pod.ip)
    try:
        a = wait_alert(session, "consistency", pod.key)
        assert a.severity == "critical" and "consistency checks failed" in a.message
        others = [k for k, s in session.alerts.consistency.stats().items() if k != pod.key]
        assert all(session.alerts.consistency.stats()[k].failures == 0 for k in others)
    finally:
        session.demo_site.model_servers.clear_faults(pod.ip)


def test_gpu_util_sustained(session):
    node = sorted(pods_by_node(session))[0]
    session.demo_site.gpus.set_load(node, 1, 1.0)     # GPU 1 has no pod: nothing resets its load
    try:
        a = wait_alert(session, "gpu-util", f"{node}:gpu1")
        assert "above 90%" in a.message
        assert not any(x.kind == "gpu-util" and x.target == f"{node}:gpu0" for x in session.snapshot().alerts)
    finally:
        session.demo_site.gpus.set_load(node, 1, 0.0)


def test_pdb_allowing_no_disruption(session):
    from kubernetes import client

    from console.kube.kubeconfig import api_client
    site = session.demo_site
    api = client.PolicyV1Api(api_client(str(site.kubeconfig_path), site.context))
    body = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": "all-or-nothing", "namespace": "deepseek"},
            "spec": {"minAvailable": 3, "selector": {"matchLabels": {"app": "deepseek-server"}}}}
    api.create_namespaced_pod_disruption_budget("deepseek", body)
    a = wait_alert(session, "pdb-blocking", "deepseek/all-or-nothing")
    assert "allows 0 disruptions" in a.message
    # the demo's own PDB (1 disruption allowed) does not alert
    assert not any(x.kind == "pdb-blocking" and x.target != "deepseek/all-or-nothing"
                   for x in session.snapshot().alerts)


def test_critical_xid(session):
    node = sorted(pods_by_node(session))[1]
    session.demo_site.gpus.inject_fault(node, 1, "xid79")
    try:
        a = wait_alert(session, "xid")
        assert a.target.startswith(node) and a.severity == "critical" and "XID 79" in a.message
    finally:
        session.demo_site.gpus.clear_faults(node)


def test_pod_restarting(session):
    """A container restarting, written to the pod's status through the API as a
    kubelet would (the official client's patch of the status subresource)."""
    from kubernetes import client

    from console.kube.kubeconfig import api_client
    site = session.demo_site
    v1 = client.CoreV1Api(api_client(str(site.kubeconfig_path), site.context))
    crashing, restarted = sorted(pods_by_node(session).values(), key=lambda p: p.name)[1:3]
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def status(pod, restarts, state):
        cs = v1.read_namespaced_pod(pod.name, pod.namespace).status.container_statuses[0]
        return {"status": {"containerStatuses": [{
            "name": cs.name, "image": cs.image, "imageID": cs.image_id or "", "ready": "running" in state,
            "restartCount": restarts, "state": state,
            "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": now}}}]}}
    v1.patch_namespaced_pod_status(crashing.name, crashing.namespace, status(
        crashing, 4, {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}}))
    v1.patch_namespaced_pod_status(restarted.name, restarted.namespace, status(
        restarted, 1, {"running": {"startedAt": now}}))
    a = wait_alert(session, "pod-restarting", crashing.key)
    assert a.severity == "critical" and "CrashLoopBackOff" in a.message and "4 restarts" in a.message
    b = wait_alert(session, "pod-restarting", restarted.key)
    assert b.severity == "warning" and "1 restarts" in b.message


def test_node_not_ready(session):
    node = sorted(pods_by_node(session))[-1]
    session.demo_site.cluster.fail_node(node)
    a = wait_alert(session, "node-not-ready", node)
    assert a.severity == "critical" and node in a.message
    since = a.since
    # alerts evaluated again over a second later (real time; `since` is the
    # simulated cluster's), the node still down
    later = time.time() + 1.0
    wait_for(lambda: (session.alerts.evaluated_at or 0) > later, what="alerts evaluated a second later")
    again = wait_alert(session, "node-not-ready", node)
    assert again.since == since            # `since` is kept while the alert stays up
    assert session.snapshot().alerts[0].severity == "critical"   # most severe first


# ---- the histogram arithmetic (pure functions) --------------------------------
PAGE = """# TYPE vllm:e2e_request_latency_seconds histogram
vllm:e2e_request_latency_seconds_bucket{model_name="m",le="0.3"} 0.0
vllm:e2e_request_latency_seconds_bucket{model_name="m",le="0.5"} %d
vllm:e2e_request_latency_seconds_bucket{model_name="m",le="1.0"} %d
vllm:e2e_request_latency_seconds_bucket{model_name="m",le="+Inf"} %d
vllm:e2e_request_latency_seconds_sum{model_name="m"} 1.0
vllm:e2e_request_latency_seconds_count{model_name="m"} %d
vllm:e2e_request_latency_seconds_bucket_other{le="0.5"} 99
"""


def test_p99_from_bucket_deltas_between_scrapes():
    first = prom_text.parse_histogram(PAGE % (100, 100, 100, 100), "vllm:e2e_request_latency_seconds")
    assert first == {0.3: 0, 0.5: 100, 1.0: 100, math.inf: 100}
    # next scrape: 100 more requests, 10 of them between 0.5 and 1.0 s
    second = prom_text.parse_histogram(PAGE % (190, 200, 200, 200), "vllm:e2e_request_latency_seconds")
    d = prom_text.delta(second, first)
    assert d == {0.3: 0, 0.5: 90, 1.0: 100, math.inf: 100}
    assert prom_text.quantile(0.99, d) == pytest.approx(0.5 + 0.5 * (99 - 90) / 10)
    assert prom_text.quantile(0.5, d) == pytest.approx(0.3 + 0.2 * 50 / 90)
    # a counter reset (server restarted) counts from zero
    restarted = prom_text.parse_histogram(PAGE % (5, 5, 5, 5), "vllm:e2e_request_latency_seconds")
    assert prom_text.delta(restarted, second) == restarted
    assert prom_text.quantile(0.99, {0.5: 0, math.inf: 0}) is None
    assert prom_text.parse_histogram("garbage\n", "vllm:e2e_request_latency_seconds") is None

