"""Behaviour of the simulated cluster: scheduling, readiness against the
model servers, node failure and taint eviction, rolling updates, PDBs and
the Eviction API. Driven through the real Python client; the simulation
clock runs fast (time_scale) so 300 s tolerations pass in seconds."""
from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from console.hosts.transport import HostUnreachable
from console.sim.demo_site import start_demo_site
from tests.waiting import wait_for

pytestmark = pytest.mark.timeout(90)
NS = "deepseek"


@pytest.fixture
def site(tmp_path):
    # 4 nodes x 4 GPUs; 8 model pods (2 per node); 100x time: a 300 s
    # toleration is 3 s, a 30 s model load 0.3 s, a 10 s probe period 0.1 s
    s = start_demo_site(nodes=4, gpus_per_node=4, replicas=8, time_scale=100, model_load_s=30,
                        kubeconfig=tmp_path / "kubeconfig")
    yield s
    s.stop()


@pytest.fixture
def v1(site):
    return client.CoreV1Api(config.new_client_from_config(str(site.kubeconfig_path)))


@pytest.fixture
def apps(site):
    return client.AppsV1Api(config.new_client_from_config(str(site.kubeconfig_path)))


def ready(p) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])


def model_pods(v1):
    return v1.list_namespaced_pod(NS, label_selector="app=deepseek-server").items


def test_failed_node_pods_come_back_running_elsewhere(site, v1):
    victims = [p.metadata.name for p in model_pods(v1) if p.spec.node_name == "gpu-node-0002"]
    assert len(victims) == 2
    site.cluster.fail_node("gpu-node-0002")
    node = v1.read_node("gpu-node-0002")
    assert [c.status for c in node.status.conditions if c.type == "Ready"] == ["Unknown"]
    assert {t.key for t in node.spec.taints} == {"node.kubernetes.io/unreachable"}
    assert site.gpus.read("gpu-node-0002").state == "unreachable"
    with pytest.raises(HostUnreachable):
        site.hosts["gpu-node-0002"].run("uname -r")
    # at once: the pods are NotReady but still there (toleration not yet over)
    still = {p.metadata.name: p for p in model_pods(v1)}
    assert all(n in still and not ready(still[n]) for n in victims)

    def back():
        pods = model_pods(v1)
        return len(pods) == 8 and all(ready(p) and p.spec.node_name != "gpu-node-0002" for p in pods) \
            and not set(victims) & {p.metadata.name for p in pods}
    wait_for(back, timeout=40, interval=0.1, what="replacements Ready on other nodes")
    reasons = {e.reason for e in v1.list_namespaced_event(NS).items}
    assert {"NodeNotReady", "TaintManagerEviction", "Scheduled"} <= reasons
    # DaemonSet pods tolerate it and stay on the failed node
    assert len(v1.list_pod_for_all_namespaces(field_selector="spec.nodeName=gpu-node-0002").items) == 4
    site.cluster.recover_node("gpu-node-0002")
    wait_for(lambda: [c.status for c in v1.read_node("gpu-node-0002").status.conditions
                      if c.type == "Ready"] == ["True"], what="the node Ready again")
    assert not v1.read_node("gpu-node-0002").spec.taints
    assert site.hosts["gpu-node-0002"].run("uname -r").rc == 0


def test_deleted_pod_gets_a_ready_replacement(site, v1):
    before = {p.metadata.name for p in model_pods(v1)}
    victim = sorted(before)[0]
    gone = v1.delete_namespaced_pod(victim, NS)
    # graceful: Terminating (deletionTimestamp set, NotReady) until its container exits
    assert gone.metadata.deletion_timestamp is not None and gone.metadata.deletion_grace_period_seconds == 30
    assert not ready(gone)
    wait_for(lambda: len(model_pods(v1)) == 8 and all(ready(p) for p in model_pods(v1)) and
             victim not in {p.metadata.name for p in model_pods(v1)}, timeout=30, what="a Ready replacement")
    new = {p.metadata.name for p in model_pods(v1)} - before
    assert len(new) == 1
    pod = v1.read_namespaced_pod(new.pop(), NS)
    assert pod.status.pod_ip.startswith("127.") and site.model_servers.healthy(pod.status.pod_ip)


def test_readiness_follows_the_model_server(site, v1):
    pod = model_pods(v1)[0]
    ip = pod.status.pod_ip
    site.model_servers.set_unhealthy(ip, True)
    wait_for(lambda: not ready(v1.read_namespaced_pod(pod.metadata.name, NS)), timeout=20,
             what="the pod NotReady once its server fails /health")
    site.model_servers.set_unhealthy(ip, False)
    wait_for(lambda: ready(v1.read_namespaced_pod(pod.metadata.name, NS)), timeout=20, what="Ready again")


def test_no_free_gpu_means_pending_with_failed_scheduling(site, v1, apps):
    # 16 GPUs, 8 used: 10 more replicas leave 2 Pending
    apps.patch_namespaced_deployment_scale("deepseek-v3-blue", NS, {"spec": {"replicas": 18}})

    def pending():
        ps = [p for p in model_pods(v1) if p.status.phase == "Pending"]
        return ps if len(model_pods(v1)) == 18 and len(ps) == 2 else None
    ps = wait_for(pending, timeout=30, what="2 pending pods")
    for p in ps:
        assert p.spec.node_name is None
        cond = [c for c in p.status.conditions if c.type == "PodScheduled"][0]
        assert cond.status == "False" and cond.reason == "Unschedulable"
        assert "Insufficient nvidia.com/gpu" in cond.message
    evs = v1.list_namespaced_event(NS, field_selector="reason=FailedScheduling").items
    assert evs and all(e.type == "Warning" for e in evs)
    # GPUs freed: the pending pods get scheduled
    apps.patch_namespaced_deployment_scale("deepseek-v3-blue", NS, {"spec": {"replicas": 16}})
    wait_for(lambda: len(model_pods(v1)) == 16 and all(ready(p) for p in model_pods(v1)), timeout=30,
             what="16 Ready pods")
    # a cordoned node gets nothing new
    v1.patch_node("gpu-node-0001", {"spec": {"unschedulable": True}})
    before = {p.metadata.name for p in model_pods(v1)}
    apps.patch_namespaced_deployment_scale("deepseek-v3-blue", NS, {"spec": {"replicas": 12}})
    wait_for(lambda: len(model_pods(v1)) == 12, timeout=30, what="scale down")
    apps.patch_namespaced_deployment_scale("deepseek-v3-blue", NS, {"spec": {"replicas": 16}})
    wait_for(lambda: len(model_pods(v1)) == 16, timeout=30, what="scale up")
    new = [p for p in model_pods(v1) if p.metadata.name not in before]
    assert len(new) == 4 and all(p.spec.node_name != "gpu-node-0001" for p in new)
    # the free GPUs of the cordoned node stay free: as many new pods wait Pending
    on_1 = sum(1 for p in model_pods(v1) if p.spec.node_name == "gpu-node-0001")
    wait_for(lambda: sum(1 for p in model_pods(v1) if p.status.phase == "Pending") == 4 - on_1, timeout=10,
             what="pods Pending for the cordoned node's GPUs")


def test_eviction_api_honours_the_pdb(site, v1):
    policy = client.PolicyV1Api(v1.api_client)
    pdb = policy.read_namespaced_pod_disruption_budget_status("deepseek-v3", NS)
    assert (pdb.status.expected_pods, pdb.status.current_healthy, pdb.status.desired_healthy,
            pdb.status.disruptions_allowed) == (8, 8, 7, 1)
    pods = sorted(p.metadata.name for p in model_pods(v1))
    body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pods[0], "namespace": NS}}
    v1.create_namespaced_pod_eviction(pods[0], NS, body)
    # the budget is spent until the replacement is Ready: the next eviction is refused
    body["metadata"]["name"] = pods[1]
    with pytest.raises(ApiException) as e:
        v1.create_namespaced_pod_eviction(pods[1], NS, body)
    st = json.loads(e.value.body)
    assert e.value.status == 429 and st["reason"] == "TooManyRequests"
    assert st["details"]["causes"][0]["reason"] == "DisruptionBudget"
    wait_for(lambda: policy.read_namespaced_pod_disruption_budget("deepseek-v3", NS).status.disruptions_allowed == 1,
             timeout=30, what="the budget back once the replacement is Ready")
    v1.create_namespaced_pod_eviction(pods[1], NS, body)


def test_rolling_update_honours_max_surge_and_max_unavailable(site, v1, apps):
    # deepseek-v3-blue: maxSurge 25% (2 of 8), maxUnavailable 0
    w, _ = site.store.watch("pods", site.store.resource_version)
    worst = {"total": 0, "ready_min": 8}
    stop = threading.Event()

    def track():
        import queue
        while not stop.is_set():
            try:
                w.queue.get(timeout=0.1)
            except queue.Empty:
                continue
            pods = [p for p in site.store.values("pods")
                    if p["metadata"].get("labels", {}).get("app") == "deepseek-server"]
            worst["total"] = max(worst["total"], len(pods))
            n_ready = sum(1 for p in pods if any(c["type"] == "Ready" and c["status"] == "True"
                                                 for c in p.get("status", {}).get("conditions", [])))
            worst["ready_min"] = min(worst["ready_min"], n_ready)
    t = threading.Thread(target=track, daemon=True)
    t.start()
    try:
        apps.patch_namespaced_deployment("deepseek-v3-blue", NS, {"spec": {"template": {"metadata": {
            "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"}}}}})

        def done():
            d = apps.read_namespaced_deployment("deepseek-v3-blue", NS)
            return d.status.observed_generation == d.metadata.generation and d.status.updated_replicas == 8 \
                and d.status.replicas == 8 and d.status.available_replicas == 8
        wait_for(done, timeout=60, what="the rollout to finish")
    finally:
        stop.set()
        t.join(5)
        site.store.unwatch(w)
    assert worst["total"] <= 10 and worst["ready_min"] >= 8
    rss = apps.list_namespaced_replica_set(NS).items
    assert sorted(r.spec.replicas for r in rss) == [0, 8]
    assert {r.metadata.annotations["deployment.kubernetes.io/revision"] for r in rss} == {"1", "2"}
    assert all(r.metadata.owner_references[0].kind == "Deployment" for r in rss)


def test_delete_cascades_to_replicasets_and_pods(site, v1, apps):
    addresses = [p.status.pod_ip for p in model_pods(v1)]
    assert len(addresses) == 8 and all(site.model_servers.healthy(ip) for ip in addresses)
    apps.delete_namespaced_deployment("deepseek-v3-blue", NS)
    wait_for(lambda: not model_pods(v1) and not apps.list_namespaced_replica_set(NS).items, timeout=10,
             what="cascading deletion")
    # the deleted pods' model servers are gone with them, not merely unhealthy
    wait_for(lambda: not any(ip in site.model_servers for ip in addresses), timeout=10,
             what="the deleted pods' model servers removed")
    assert not any(site.model_servers.healthy(ip) for ip in addresses)


def test_frozen_sites_are_deterministic(tmp_path):
    def shape(s):
        return sorted((p["metadata"]["namespace"], p["metadata"]["name"], p["spec"].get("nodeName"),
                       p["metadata"]["creationTimestamp"]) for p in s.store.values("pods"))
    a = start_demo_site(nodes=3, frozen=True, seed=7, kubeconfig=tmp_path / "a")
    b = start_demo_site(nodes=3, frozen=True, seed=7, kubeconfig=tmp_path / "b")
    try:
        assert shape(a) == shape(b)
        assert a.clock.now() == b.clock.now()
    finally:
        a.stop()
        b.stop()


def test_starting_a_site_does_not_import_kubernetes():
    code = ("import sys\nfrom console.sim.demo_site import start_demo_site\n"
            "s = start_demo_site()\nassert 'kubernetes' not in sys.modules\ns.stop()\nprint('ok')")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.stdout.strip() == "ok", p.stderr


def test_a_rollout_that_cannot_progress_times_out(site, v1, apps):
    # a new template that needs 4 GPUs per pod cannot be scheduled anywhere
    # (2 are free per node); maxUnavailable 0 keeps the old pods: the rollout
    # stalls, and after progressDeadlineSeconds (60 simulated s) says so
    apps.patch_namespaced_deployment("deepseek-v3-blue", NS, {"spec": {
        "progressDeadlineSeconds": 60, "template": {"spec": {
            "containers": [{"name": "vllm", "resources": {"limits": {"nvidia.com/gpu": "4"},
                                                          "requests": {"nvidia.com/gpu": "4"}}}]}}}})

    def timed_out():
        d = apps.read_namespaced_deployment("deepseek-v3-blue", NS)
        cond = [c for c in d.status.conditions if c.type == "Progressing"][0]
        return cond.status == "False" and cond.reason == "ProgressDeadlineExceeded"
    wait_for(timed_out, timeout=30, what="ProgressDeadlineExceeded")
    d = apps.read_namespaced_deployment("deepseek-v3-blue", NS)
    assert d.status.available_replicas == 8  # the old pods still serve


def test_a_crashed_container_restarts_in_place(site, v1):
    pod = model_pods(v1)[0]
    site.cluster.crash_pod(NS, pod.metadata.name)
    p = v1.read_namespaced_pod(pod.metadata.name, NS)
    cs = p.status.container_statuses[0]
    assert cs.restart_count == 1 and cs.last_state.terminated.exit_code == 137 and not ready(p)
    wait_for(lambda: ready(v1.read_namespaced_pod(pod.metadata.name, NS)), timeout=20, what="Ready after the restart")
    assert v1.read_namespaced_pod(pod.metadata.name, NS).metadata.uid == pod.metadata.uid
    assert "BackOff" in {e.reason for e in v1.list_namespaced_event(NS).items}
