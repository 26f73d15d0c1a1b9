"""ClusterCache and SiteSession against the real simulator over HTTP (no mocks):
fill, delete/replace, relist on 410, API loss and recovery, detail views."""
import threading
import time

import pytest

from console.cluster_cache import ClusterCache
from console.kube_connect import api_client, resolve
from console.kube_http import KubeHttp

pytestmark = pytest.mark.timeout(120)


def wait_for(predicate, timeout=20.0, step=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


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
    assert view.deployments and view.deployments[0].name == "deepseek-v3"
    assert view.pdbs and all(k.synced and k.error is None for k in view.kinds.values())


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
        view = wait_for(lambda: (v := c.view()) and not v.api_ok and "unreachable" in (v.api_error or "")
                        and v, timeout=10, what="unreachable")
        assert "connection refused" in view.api_error
        assert view.last_update is not None and view.last_update <= lost_at + 0.5
        time.sleep(1.0)
        stale = c.view()
        assert not stale.api_ok and time.time() - stale.last_update >= 1.0   # age grows while down
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
    from console.kube_http import KubeApiError
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
