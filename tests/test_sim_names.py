"""The simulator refuses object names the real API refuses (422 Invalid, as a
metav1.Status with the real wording) and decodes percent-encoded paths, seen
through kubectl and the official client."""
from __future__ import annotations

import json
import socket

import pytest

from tests.sim_kube import kubectl

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def site():
    from console.sim.demo_site import start_demo_site
    with start_demo_site(nodes=1, gpus_per_node=1, replicas=1, hosts=False, traffic=False) as s:
        yield s


def configmap(name: str, namespace: str = "default") -> str:
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace},
                       "data": {"k": "v"}})


@pytest.mark.parametrize("name", ["Upper", "a[1]", "bad\x1bname", "-leading", "trailing.", "a" * 254, "sp ace"])
def test_kubectl_create_with_an_invalid_name_is_422_invalid(site, tmp_path, name):
    f = tmp_path / "cm.json"
    f.write_text(configmap(name))
    r = kubectl(site.kubeconfig_path, "create", "-f", str(f), check=False)
    assert r.returncode != 0
    assert "is invalid: metadata.name: Invalid value:" in r.stderr, r.stderr
    assert "\x1b" not in r.stderr
    assert site.store.get("configmaps", "default", name) is None


def test_namespace_and_service_names_are_labels(site, tmp_path):
    r = kubectl(site.kubeconfig_path, "create", "namespace", "has.dot", check=False)
    assert r.returncode != 0 and "a lowercase RFC 1123 label must consist of" in r.stderr, r.stderr
    r = kubectl(site.kubeconfig_path, "create", "namespace", "x" * 64, check=False)
    assert "must be no more than 63 characters" in r.stderr
    r = kubectl(site.kubeconfig_path, "create", "service", "clusterip", "1svc", "--tcp=80:80", check=False)
    assert r.returncode != 0 and "a DNS-1035 label must consist of" in r.stderr, r.stderr
    # a dotted name is fine for a configmap (a DNS-1123 subdomain)
    f = tmp_path / "cm.json"
    f.write_text(configmap("ok.name-1"))
    kubectl(site.kubeconfig_path, "create", "-f", str(f))
    kubectl(site.kubeconfig_path, "delete", "configmap", "ok.name-1", "-n", "default")
    assert site.store.get("configmaps", "default", "ok.name-1") is None


def test_the_official_client_sees_a_422_status_with_reason_invalid(site):
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    from console.kube.kubeconfig import api_client
    core = client.CoreV1Api(api_client(str(site.kubeconfig_path)))
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("default", {"metadata": {"name": "Nope"}, "data": {}})
    assert err.value.status == 422
    doc = json.loads(err.value.body)
    assert doc["kind"] == "Status" and doc["reason"] == "Invalid" and doc["code"] == 422
    assert doc["details"]["causes"][0]["field"] == "metadata.name"
    with pytest.raises(ApiException) as err:   # generateName is checked as the name it makes
        core.create_namespaced_config_map("default", {"metadata": {"generateName": "Gen-"}, "data": {}})
    assert err.value.status == 422 and "metadata.generateName" in err.value.body
    made = core.create_namespaced_config_map("default", {"metadata": {"generateName": "gen-"}, "data": {}})
    core.delete_namespaced_config_map(made.metadata.name, "default")


def test_percent_encoded_paths_are_decoded(site):
    kubectl(site.kubeconfig_path, "create", "configmap", "enc.oded", "-n", "default")
    port = int(site.url.rsplit(":", 1)[1])

    def raw(method: str, path: str) -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            out = b""
            while data := s.recv(65536):
                out += data
            return out
    assert raw("GET", "/api/v1/namespaces/default/configmaps/enc%2Eoded").startswith(b"HTTP/1.1 200 ")
    assert raw("DELETE", "/api/v1/namespaces/def%61ult/configmaps/enc%2eoded").startswith(b"HTTP/1.1 200 ")
    assert site.store.get("configmaps", "default", "enc.oded") is None
