"""The official kubernetes Python client, unmodified, against the simulator:
list + watch, 410 Gone, chunked lists, writes, and bad input."""
from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from console.sim.demo_site import start_demo_site
from tests.waiting import wait_for

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    s = start_demo_site(nodes=6, gpus_per_node=4, replicas=12, time_scale=50, model_load_s=20,
                        kubeconfig=tmp_path_factory.mktemp("sim") / "kubeconfig")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def api(site):
    return config.new_client_from_config(str(site.kubeconfig_path), context="dsconsole-demo")


def cm(name: str, **data) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": {"test": "watch"}},
            "data": data}


def test_list_then_watch_from_its_resource_version_misses_and_repeats_nothing(api):
    v1 = client.CoreV1Api(api)
    listed = v1.list_namespaced_config_map("default", label_selector="test=watch")
    assert listed.items == []
    rv = listed.metadata.resource_version
    expected: list[tuple[str, str, str]] = []

    def change(i: int) -> None:
        name = f"w{i}"
        o = v1.create_namespaced_config_map("default", cm(name, n="0"))
        expected.append(("ADDED", name, o.metadata.resource_version))
        o = v1.patch_namespaced_config_map(name, "default", {"data": {"n": "1"}})
        expected.append(("MODIFIED", name, o.metadata.resource_version))
        if i % 3 == 0:
            v1.delete_namespaced_config_map(name, "default")
            after = None  # the DELETED event carries a new resourceVersion
            expected.append(("DELETED", name, after))

    for i in range(10):          # changes between the list and the watch
        change(i)
    done = threading.Event()

    def more():
        for i in range(10, 25):  # changes while the watch runs
            change(i)
        v1.create_namespaced_config_map("default", cm("end"))
        expected.append(("ADDED", "end", None))
        done.set()

    t = threading.Thread(target=more)
    seen = []
    w = watch.Watch()
    t.start()
    for ev in w.stream(v1.list_namespaced_config_map, "default", label_selector="test=watch",
                       resource_version=rv, timeout_seconds=30):
        seen.append((ev["type"], ev["object"].metadata.name, ev["object"].metadata.resource_version))
        if ev["object"].metadata.name == "end":
            w.stop()
    t.join(10)
    assert done.is_set()
    assert [(t_, n) for t_, n, _ in seen] == [(t_, n) for t_, n, _ in expected]
    for (_, _, got), (_, _, want) in zip(seen, expected, strict=True):
        if want is not None:
            assert got == want
    rvs = [int(r) for _, _, r in seen]
    assert rvs == sorted(rvs) and len(set(rvs)) == len(rvs)


def test_watch_from_expired_resource_version_gets_410(site, api):
    v1 = client.CoreV1Api(api)
    old = v1.list_namespaced_pod("deepseek").metadata.resource_version
    v1.create_namespaced_config_map("default", cm("compaction-marker"))
    site.store.compact()
    with pytest.raises(ApiException) as e:
        for _ in watch.Watch().stream(v1.list_namespaced_pod, "deepseek", resource_version=old, timeout_seconds=5):
            pass
    assert e.value.status == 410
    # a relist gives a fresh resourceVersion that can be watched from
    fresh = v1.list_namespaced_pod("deepseek").metadata.resource_version
    for _ in watch.Watch().stream(v1.list_namespaced_pod, "deepseek", resource_version=fresh, timeout_seconds=1):
        pass


def test_chunked_list_returns_every_item_exactly_once(site, api):
    v1 = client.CoreV1Api(api)
    everything = {(p.metadata.namespace, p.metadata.name) for p in v1.list_pod_for_all_namespaces().items}
    assert len(everything) == 12 + 6 * 4
    got, token, pages = [], None, 0
    while True:
        page = v1.list_pod_for_all_namespaces(limit=7, _continue=token)
        pages += 1
        got += [(p.metadata.namespace, p.metadata.name) for p in page.items]
        token = page.metadata._continue
        if not token:
            break
        assert page.metadata.remaining_item_count == len(everything) - len(got)
    assert pages == -(-len(everything) // 7)
    assert len(got) == len(set(got)) and set(got) == everything
    # a label selector with chunks
    sel, token = [], None
    while True:
        page = v1.list_namespaced_pod("deepseek", label_selector="app=deepseek-server", limit=5, _continue=token)
        sel += [p.metadata.name for p in page.items]
        token = page.metadata._continue
        if not token:
            break
    assert len(sel) == len(set(sel)) == 12
    # a continue token from before a compaction is expired: 410
    first = v1.list_pod_for_all_namespaces(limit=5)
    v1.create_namespaced_config_map("default", cm("continue-marker"))
    site.store.compact()
    with pytest.raises(ApiException) as e:
        v1.list_pod_for_all_namespaces(limit=5, _continue=first.metadata._continue)
    assert e.value.status == 410 and json.loads(e.value.body)["reason"] == "Expired"


def test_replace_with_stale_resource_version_is_409(api):
    v1 = client.CoreV1Api(api)
    o = v1.create_namespaced_config_map("default", cm("stale", a="1"))
    o.data = {"a": "2"}
    v1.replace_namespaced_config_map("stale", "default", o)   # o still carries the old resourceVersion
    o.data = {"a": "3"}
    with pytest.raises(ApiException) as e:
        v1.replace_namespaced_config_map("stale", "default", o)
    body = json.loads(e.value.body)
    assert e.value.status == 409 and body["reason"] == "Conflict" and body["kind"] == "Status"
    assert v1.read_namespaced_config_map("stale", "default").data == {"a": "2"}
    with pytest.raises(ApiException) as e:
        v1.create_namespaced_config_map("default", cm("stale"))
    assert e.value.status == 409 and json.loads(e.value.body)["reason"] == "AlreadyExists"
    with pytest.raises(ApiException) as e:
        v1.read_namespaced_config_map("nope", "default")
    assert e.value.status == 404 and json.loads(e.value.body)["reason"] == "NotFound"


def test_patch_kinds(api):
    v1 = client.CoreV1Api(api)
    v1.create_namespaced_config_map("default", cm("patchme", a="1", b="2"))
    v1.api_client.set_default_header("Content-Type", "application/json-patch+json")
    try:
        o = v1.patch_namespaced_config_map("patchme", "default",
                                           [{"op": "replace", "path": "/data/a", "value": "x"},
                                            {"op": "remove", "path": "/data/b"}])
    finally:
        v1.api_client.default_headers.pop("Content-Type", None)
    assert o.data == {"a": "x"}
    o = v1.patch_namespaced_config_map("patchme", "default", {"data": {"c": "3", "a": None}})
    assert o.data == {"c": "3"}


def test_deployment_status_and_scale(site, api):
    apps = client.AppsV1Api(api)
    d = apps.read_namespaced_deployment_status("deepseek-v3-blue", "deepseek")
    assert d.status.ready_replicas == 12 and d.status.observed_generation == d.metadata.generation
    s = apps.read_namespaced_deployment_scale("deepseek-v3-blue", "deepseek")
    assert s.spec.replicas == 12 and "dsconsole.io/model=deepseek-v3-blue" in s.status.selector
    apps.patch_namespaced_deployment_scale("deepseek-v3-blue", "deepseek", {"spec": {"replicas": 14}})
    wait_for(lambda: (apps.read_namespaced_deployment("deepseek-v3-blue", "deepseek").status.ready_replicas or 0) == 14,
             timeout=30, what="14 ready replicas")
    apps.patch_namespaced_deployment_scale("deepseek-v3-blue", "deepseek", {"spec": {"replicas": 12}})
    wait_for(lambda: len(client.CoreV1Api(api).list_namespaced_pod(
        "deepseek", label_selector="app=deepseek-server").items) == 12, timeout=30, what="scale down to 12")


def test_pod_log_follow(site, api):
    v1 = client.CoreV1Api(api)
    pod = v1.list_namespaced_pod("deepseek", label_selector="app=deepseek-server").items[0].metadata.name
    assert "Application startup complete" in v1.read_namespaced_pod_log(pod, "deepseek")
    resp = v1.read_namespaced_pod_log(pod, "deepseek", follow=True, _preload_content=False)
    site.logs.append("deepseek", pod, "INFO followed line")
    lines = []
    for chunk in resp.stream(1024):
        lines.append(chunk.decode())
        if "followed line" in "".join(lines):
            break
    resp.release_conn()
    assert "followed line" in "".join(lines)


def _raw(site, method: str, path: str, body: bytes | None, ctype: str = "application/json") -> tuple[int, dict]:
    req = urllib.request.Request(site.url + path, data=body, method=method, headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_bad_input_gets_status_and_server_keeps_serving(site, api):
    code, st = _raw(site, "POST", "/api/v1/namespaces/default/configmaps", b"{not json")
    assert code == 400 and st["kind"] == "Status" and st["reason"] == "BadRequest"
    code, st = _raw(site, "GET", "/api/v1/namespaces/default/widgets", None)
    assert code == 404 and st["reason"] == "NotFound"
    code, st = _raw(site, "GET", "/apis/nosuch.io/v1/things", None)
    assert code == 404 and st["kind"] == "Status"
    code, st = _raw(site, "POST", "/api/v1/namespaces/default/configmaps",
                    json.dumps({"apiVersion": "v1", "kind": "Widget", "metadata": {"name": "w"}}).encode())
    assert code == 400 and st["reason"] == "BadRequest" and "Widget" in st["message"]
    _raw(site, "POST", "/api/v1/namespaces/default/configmaps", json.dumps(cm("target")).encode())
    code, st = _raw(site, "PATCH", "/api/v1/namespaces/default/configmaps/target", b'[{"op":"frobnicate","path":"/x"}]',
                    "application/json-patch+json")
    assert code == 400 and st["kind"] == "Status"
    code, st = _raw(site, "PATCH", "/api/v1/namespaces/default/configmaps/target",
                    b'[{"op":"remove","path":"/nope/x"}]', "application/json-patch+json")
    assert code == 422 and st["reason"] == "Invalid"
    code, st = _raw(site, "PATCH", "/api/v1/namespaces/default/configmaps/target", b'{"data":',
                    "application/merge-patch+json")
    assert code == 400
    code, st = _raw(site, "PATCH", "/api/v1/namespaces/default/configmaps/target", b'{}', "text/plain")
    assert code == 415 and st["reason"] == "UnsupportedMediaType"
    code, st = _raw(site, "POST", "/apis/apps/v1/namespaces/default/deployments",
                    json.dumps({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
                                "spec": {"selector": {"matchLabels": {"a": "b"}},
                                         "template": {
                                             "metadata": {"labels": {"a": "c"}},
                                             "spec": {"containers": [{"name": "c", "image": "i"}]}}}}).encode())
    assert code == 422 and st["reason"] == "Invalid" and st["details"]["causes"]
    code, st = _raw(site, "POST", "/api/v1/namespaces/nosuchns/configmaps", json.dumps(cm("x")).encode())
    assert code == 404
    code, st = _raw(site, "POST", "/api/v1/namespaces/default/configmaps", b"k8s\x00\x0a\xff\xff",
                    "application/vnd.kubernetes.protobuf")
    assert code == 415 and st["reason"] == "UnsupportedMediaType"
    # still serving
    assert client.CoreV1Api(api).read_namespaced_config_map("target", "default").metadata.name == "target"


def test_watch_list_initial_events_end_with_a_bookmark_and_timeout_ends_the_stream(site):
    """client-go's WatchList (kubectl rollout status uses it): initial ADDED
    events, then a BOOKMARK annotated k8s.io/initial-events-end; timeoutSeconds
    ends the stream."""
    url = (site.url + "/apis/apps/v1/namespaces/deepseek/deployments?watch=1&sendInitialEvents=true"
           "&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=1")
    with urllib.request.urlopen(url, timeout=10) as r:
        events = [json.loads(line) for line in r]
    assert [e["type"] for e in events[:2]] == ["ADDED", "BOOKMARK"]
    assert events[0]["object"]["metadata"]["name"] == "deepseek-v3-blue"
    bm = events[1]["object"]["metadata"]
    assert bm["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert int(bm["resourceVersion"]) >= int(events[0]["object"]["metadata"]["resourceVersion"])
