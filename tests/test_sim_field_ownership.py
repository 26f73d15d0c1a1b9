"""Server-side apply on the simulator follows the real rules: managedFields
per manager, 409 Conflict naming another manager's fields unless forced,
shared ownership of equal values, and a field removed when its only applier
stops applying it. Checked with kubectl apply --server-side and with the
official Python client."""
from __future__ import annotations

import json

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from console.sim.demo_site import start_demo_site
from tests.sim_kube import kubectl

pytestmark = pytest.mark.timeout(120)

SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: deepseek
  labels: {labels}
spec:
  selector: {{app: demo, version: {version}}}
  ports: [{{name: http, port: 8000}}]
"""


@pytest.fixture(scope="module")
def site():
    s = start_demo_site(nodes=2, gpus_per_node=8, frozen=True)
    yield s
    s.stop()


def _apply(site, tmp_path, manager, text, *extra, check=True):
    f = tmp_path / f"{manager}.yaml"
    f.write_text(text)
    return kubectl(site.kubeconfig_path, "apply", "--server-side", f"--field-manager={manager}",
                   "-f", str(f), *extra, check=check)


def _get(site, name):
    out = kubectl(site.kubeconfig_path, "get", "service", name, "-n", "deepseek", "-o", "json",
                  "--show-managed-fields").stdout
    return json.loads(out)


def _managers(obj):
    return {e["manager"]: e for e in obj["metadata"]["managedFields"]}


def test_two_managers_on_one_selector_conflict_unless_forced(site, tmp_path):
    _apply(site, tmp_path, "alice", SERVICE.format(name="svc-a", labels="{a: '1'}", version="blue"))
    obj = _get(site, "svc-a")
    assert set(_managers(obj)) == {"alice"}
    fields = _managers(obj)["alice"]["fieldsV1"]
    assert _managers(obj)["alice"]["operation"] == "Apply"
    assert "f:version" in fields["f:spec"]["f:selector"]
    assert 'k:{"port":8000,"protocol":"TCP"}' in fields["f:spec"]["f:ports"]

    p = _apply(site, tmp_path, "bob", SERVICE.format(name="svc-a", labels="{a: '1'}", version="green"),
               check=False)
    assert p.returncode == 1
    assert 'conflict with "alice"' in p.stderr and ".spec.selector.version" in p.stderr
    assert _get(site, "svc-a")["spec"]["selector"]["version"] == "blue"

    _apply(site, tmp_path, "bob", SERVICE.format(name="svc-a", labels="{a: '1'}", version="green"),
           "--force-conflicts")
    obj = _get(site, "svc-a")
    assert obj["spec"]["selector"]["version"] == "green"
    m = _managers(obj)
    assert "f:version" not in m["alice"]["fieldsV1"]["f:spec"]["f:selector"]   # moved to bob
    assert "f:version" in m["bob"]["fieldsV1"]["f:spec"]["f:selector"]
    assert "f:app" in m["alice"]["fieldsV1"]["f:spec"]["f:selector"]           # shared: same value


def test_a_field_goes_when_its_only_applier_drops_it(site, tmp_path):
    _apply(site, tmp_path, "alice", SERVICE.format(name="svc-b", labels="{a: '1', b: '2'}", version="blue"))
    kubectl(site.kubeconfig_path, "label", "service", "svc-b", "-n", "deepseek", "c=3")
    _apply(site, tmp_path, "alice", SERVICE.format(name="svc-b", labels="{a: '1'}", version="blue"))
    labels = _get(site, "svc-b")["metadata"]["labels"]
    assert labels == {"a": "1", "c": "3"}          # b removed; kubectl-label's c left alone
    assert "kubectl-label" in _managers(_get(site, "svc-b"))


def test_reapply_changes_nothing(site, tmp_path):
    text = SERVICE.format(name="svc-c", labels="{a: '1'}", version="blue")
    _apply(site, tmp_path, "alice", text)
    before = _get(site, "svc-c")
    _apply(site, tmp_path, "alice", text)
    after = _get(site, "svc-c")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert after["metadata"]["managedFields"] == before["metadata"]["managedFields"]


def test_python_client_apply_conflict_and_force(site):
    from kubernetes import config
    api = client.CoreV1Api(config.new_client_from_config(str(site.kubeconfig_path)))
    body = {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "svc-d", "namespace": "deepseek"},
            "spec": {"selector": {"app": "demo"}, "ports": [{"port": 80}]}}
    ssa = "application/apply-patch+yaml"
    api.patch_namespaced_service("svc-d", "deepseek", body, field_manager="one", _content_type=ssa)
    body["spec"]["selector"]["app"] = "other"
    with pytest.raises(ApiException) as e:
        api.patch_namespaced_service("svc-d", "deepseek", body, field_manager="two", _content_type=ssa)
    assert e.value.status == 409
    status = json.loads(e.value.body)
    assert status["reason"] == "Conflict"
    assert [c["field"] for c in status["details"]["causes"]] == [".spec.selector.app"]
    # an apply must name its manager, as on the real server
    with pytest.raises(ApiException) as e:
        api.patch_namespaced_service("svc-d", "deepseek", body, _content_type=ssa)
    assert e.value.status == 422 and "fieldManager" in json.loads(e.value.body)["message"]
    api.patch_namespaced_service("svc-d", "deepseek", body, field_manager="two", force=True, _content_type=ssa)
    svc = api.read_namespaced_service("svc-d", "deepseek")
    assert svc.spec.selector == {"app": "other"}
    assert {m.manager for m in svc.metadata.managed_fields} == {"one", "two"}
