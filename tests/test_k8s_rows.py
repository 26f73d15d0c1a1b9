"""console.kube.rows (typed msgspec decoding of list pages and watch lines) on
what the real simulator serves, checked against the official kubernetes client's
reading of the same objects."""
import pytest

from console.kube import rows as k8s_rows
from console.kube.client import KubeHttp, object_path
from console.kube.kubeconfig import api_client, resolve

pytestmark = pytest.mark.timeout(120)


def page(small_site, kind):
    http = KubeHttp(resolve(str(small_site.kubeconfig_path), small_site.context))
    try:
        return k8s_rows.decode_page(kind, http.get_bytes(object_path(kind)))
    finally:
        http.close()


def test_pod_node_and_event_rows_agree_with_the_official_client(small_site):
    from kubernetes import client
    v1 = client.CoreV1Api(api_client(str(small_site.kubeconfig_path), small_site.context))
    pods = v1.list_pod_for_all_namespaces().items
    model = sorted((p for p in pods if p.metadata.namespace == small_site.namespace), key=lambda p: p.metadata.name)
    node_names = sorted(n.metadata.name for n in v1.list_node().items)
    crashed, (failed, cordoned, healthy) = model[0], node_names[:3]
    small_site.cluster.crash_pod(crashed.metadata.namespace, crashed.metadata.name)
    small_site.cluster.fail_node(failed)
    small_site.cluster.cordon(cordoned)
    small_site.cluster.settle()

    got = page(small_site, "pods")
    assert got.resource_version and got.continue_token is None
    rows = {r.key: r for r in got.rows}
    want = v1.list_pod_for_all_namespaces().items
    assert rows.keys() == {f"{p.metadata.namespace}/{p.metadata.name}" for p in want}
    for p in want:
        r = rows[f"{p.metadata.namespace}/{p.metadata.name}"]
        statuses = p.status.container_statuses or []
        gpus = sum(int((c.resources.requests or {}).get("nvidia.com/gpu", 0)
                       or (c.resources.limits or {}).get("nvidia.com/gpu", 0)) for c in p.spec.containers)
        ready = any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
        assert (r.phase, r.node, r.ip, r.gpus, r.ready, r.restarts, r.ready_containers, r.version, r.app) == (
            p.status.phase, p.spec.node_name, p.status.pod_ip, gpus, ready,
            sum(c.restart_count for c in statuses), f"{sum(c.ready for c in statuses)}/{len(p.spec.containers)}",
            (p.metadata.labels or {}).get("version"), (p.metadata.labels or {}).get("app")), r.key
        assert r.created == p.metadata.creation_timestamp.timestamp()
    hit = rows[f"{crashed.metadata.namespace}/{crashed.metadata.name}"]
    assert hit.restarts == 1 and hit.last_restart is not None and hit.model_port

    nodes = {r.name: r for r in page(small_site, "nodes").rows}
    for n in v1.list_node().items:
        r = nodes[n.metadata.name]
        ready = next(c for c in n.status.conditions if c.type == "Ready")
        assert (r.ready, r.cordoned, r.gpu_cap, r.gpu_product) == (
            ready.status == "True", bool(n.spec.unschedulable), int(n.status.allocatable["nvidia.com/gpu"]),
            n.metadata.labels.get("nvidia.com/gpu.product"))
        assert r.ready_since == ready.last_transition_time.timestamp()
    assert not nodes[failed].ready and nodes[failed].ready_reason
    assert nodes[cordoned].cordoned and nodes[healthy].ready_reason is None

    events = {e.uid: e for e in page(small_site, "events").rows}
    official = v1.list_event_for_all_namespaces().items
    assert official and events.keys() == {e.metadata.uid for e in official}
    for e in official:
        r = events[e.metadata.uid]
        assert (r.kind, r.name, r.namespace, r.reason, r.type, r.message, r.count) == (
            e.involved_object.kind, e.involved_object.name, e.involved_object.namespace or e.metadata.namespace,
            e.reason, e.type, e.message, e.count or 1)

    (dep,) = [d for d in page(small_site, "deployments").rows if d.namespace == small_site.namespace]
    official_dep = client.AppsV1Api(api_client(str(small_site.kubeconfig_path), small_site.context)) \
        .read_namespaced_deployment(dep.name, dep.namespace)
    assert (dep.replicas, dep.updated, dep.version) == (
        official_dep.spec.replicas, official_dep.status.updated_replicas or 0,
        official_dep.spec.template.metadata.labels.get("version"))


def test_watch_lines_and_malformed_input():
    pod = (b'{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","namespace":"ns","resourceVersion":"7",'
           b'"labels":{"version":"green","other":"x"},"managedFields":[{"manager":"m"}]},'
           b'"spec":{"nodeName":"n1","containers":[{"name":"c","resources":{"limits":{"nvidia.com/gpu":"2"}}}]},'
           b'"status":{"phase":"Running","containerStatuses":[{"ready":false,"restartCount":3,'
           b'"state":{"waiting":{"reason":"CrashLoopBackOff"}}}]}}')
    ev = k8s_rows.decode_event("pods", b'{"type":"MODIFIED","object":' + pod + b'}')
    assert (ev.type, ev.resource_version) == ("MODIFIED", "7")
    assert (ev.row.key, ev.row.node, ev.row.gpus, ev.row.restarts, ev.row.status, ev.row.version,
            ev.row.ready_containers) == ("ns/p", "n1", 2, 3, "CrashLoopBackOff", "green", "0/1")
    # the blue-green wizard's colour label wins over `version` (the pods table colours by it)
    coloured = pod.replace(b'"version":"green"', b'"version":"v2","dsconsole.io/colour":"blue"')
    assert k8s_rows.decode_event("pods", b'{"type":"ADDED","object":' + coloured + b'}').row.version == "blue"
    gone = k8s_rows.decode_event("pods", b'{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1",'
                                         b'"metadata":{},"status":"Failure","message":"too old resource version",'
                                         b'"reason":"Expired","code":410}}')
    assert (gone.type, gone.code, gone.reason, gone.message, gone.row) == (
        "ERROR", 410, "Expired", "too old resource version", None)
    mark = k8s_rows.decode_event("nodes", b'{"type":"BOOKMARK","object":{"kind":"Node",'
                                          b'"metadata":{"resourceVersion":"99"}}}')
    assert (mark.type, mark.resource_version, mark.row) == ("BOOKMARK", "99", None)
    # what is not what the API serves is a bad response (ValueError), never a wrong row
    for bad in (b'{"type":"ADDED","object":{"metadata":{"name":5}}}', b'{"type":"ADDED","object":null}',
                b'{"type":"ADDED"', b'[]'):
        with pytest.raises(ValueError):
            k8s_rows.decode_event("pods", bad)
    with pytest.raises(ValueError):
        k8s_rows.decode_page("pods", b'{"items":[{"status":{"containerStatuses":[{"restartCount":"x"}]}}]}')
    empty = k8s_rows.decode_page("pods", b'{"kind":"PodList","metadata":{"resourceVersion":"3","continue":""}}')
    assert empty == k8s_rows.Page([], "3", None)
