"""The model-load wizard on the demo site, through `dsconsole model` (a real
process) against the simulator served over HTTP, read back with kubectl:
apply creates what the preview showed, the rollout reaches all-ready, only
warmed pods carry the serving label (a pod that appears later included), a
wrong model path stops the run with its cause before traffic is touched,
preflight refuses a plan without GPUs or one that does not fit, a re-apply
changes nothing, and a console killed mid-rollout leaves a run that resume
or rollback finish, rollback leaving the cluster as kubectl saw it before."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from actions.model_load import manifests
from actions.model_load.spec import WARM_LABEL, spec_for
from console.sim.demo_site import start_demo_site
from tests.sim_kube import kubectl
from tests.waiting import wait_for

pytestmark = pytest.mark.timeout(300)
MODEL = "deepseek-r1-distill-qwen-14b"
NS = "deepseek"


@pytest.fixture(scope="module")
def site():
    s = start_demo_site(nodes=3, gpus_per_node=8, replicas=1, time_scale=40.0, model_load_s=40.0)
    yield s
    s.stop()


def model(site, *args, check_rc=None, timeout=240):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), os.getcwd()) if p))
    p = subprocess.run([sys.executable, "-m", "console", "model", *args, "--kubeconfig",
                        str(site.kubeconfig_path), "--context", site.context],
                       capture_output=True, text=True, timeout=timeout, env=env)
    if check_rc is not None:
        assert p.returncode == check_rc, f"rc {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p


def kget(site, what, *extra):
    return json.loads(kubectl(site.kubeconfig_path, "get", what, "-n", NS, "-o", "json", *extra).stdout)


def pods_of(site, name):
    return [p for p in kget(site, "pods", "-l", f"dsconsole.io/model={name}")["items"]
            if not p["metadata"].get("deletionTimestamp")]


def endpoints_ips(site, name):
    ep = kget(site, f"endpoints/{name}")
    return {a["ip"] for s in ep.get("subsets") or () for a in s.get("addresses") or ()}


def cluster_listing(site):
    """What kubectl shows of the namespace's objects the wizard may touch:
    names, labels and specs (status and resourceVersion move with the
    simulated traffic and controllers)."""
    out = {}
    for kind in ("deployments", "services", "poddisruptionbudgets"):
        for o in kget(site, kind)["items"]:
            md = o["metadata"]
            out[f"{kind}/{md['name']}"] = json.dumps([md.get("labels"), o.get("spec")], sort_keys=True)
    return out


def resource_versions(site):
    return {f"{k}/{o['metadata']['name']}": o["metadata"]["resourceVersion"]
            for k in ("deployments", "services", "poddisruptionbudgets") for o in kget(site, k)["items"]}


def test_plan_apply_reapply_and_later_pod(site, tmp_path):
    before = cluster_listing(site)
    p = model(site, "plan", "--model", MODEL, "--replicas", "2", "--export", str(tmp_path / "m"), check_rc=0)
    assert "would change Deployment/deepseek/" + MODEL in p.stdout
    assert "no batching wait" in p.stdout                 # the flavour's missing equivalent, said plainly
    assert cluster_listing(site) == before                # plan changes nothing
    # the exported files are what kubectl accepts
    kubectl(site.kubeconfig_path, "apply", "--dry-run=server", "-f", str(tmp_path / "m"))

    p = model(site, "apply", "--model", MODEL, "--replicas", "2", "--yes", "--json", check_rc=0)
    result = json.loads(p.stdout)
    run_id = result["run_id"]
    steps = {s["id"]: s for s in result["hosts"]["cluster"]["steps"]}
    assert steps["apply.workload"]["status"] == "applied"
    assert steps["rollout"]["status"] == "applied"
    assert steps["warmup"]["status"] == "applied"
    assert any("first" in n and "settled" in n for n in steps["warmup"]["notes"])
    # the cache verdict is evidence: the demo's servers have no counters, their log says they compiled
    assert all("compiled now (server log: INFO torch.compile takes" in n for n in steps["warmup"]["notes"]), \
        steps["warmup"]["notes"]

    # what the preview showed is what kubectl reads back
    spec = spec_for(MODEL, replicas=2)
    dep = kget(site, f"deployment/{MODEL}", "--show-managed-fields")
    want = manifests.deployment(spec)
    c, wc = dep["spec"]["template"]["spec"]["containers"][0], want["spec"]["template"]["spec"]["containers"][0]
    assert c["args"] == wc["args"] and c["env"] == wc["env"]
    assert c["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert c["startupProbe"]["failureThreshold"] * c["startupProbe"]["periodSeconds"] >= spec.startup_budget_s
    assert dep["status"].get("readyReplicas") == 2
    assert {m["manager"] for m in dep["metadata"]["managedFields"]} >= {"dsconsole"}
    svc = kget(site, f"service/{MODEL}")
    assert svc["spec"]["selector"][WARM_LABEL] == "true"
    assert kget(site, f"poddisruptionbudget/{MODEL}")["spec"]["maxUnavailable"] == 1
    pods = pods_of(site, MODEL)
    assert len(pods) == 2 and all(p["metadata"]["labels"].get(WARM_LABEL) == "true" for p in pods)
    wait_for(lambda: endpoints_ips(site, MODEL) == {p["status"]["podIP"] for p in pods}, 30,
             what="the Service's endpoints to be the warm pods")

    # a re-apply changes nothing (not even a resourceVersion of what it applies)
    snap = resource_versions(site)
    p = model(site, "apply", "--model", MODEL, "--replicas", "2", "--yes", "--json", check_rc=0)
    assert json.loads(p.stdout)["status"] == "no-change"
    now = resource_versions(site)
    assert {k: v for k, v in now.items() if MODEL in k} == {k: v for k, v in snap.items() if MODEL in k}

    # a pod that appears later gets no traffic until it is warm
    victim = pods[0]["metadata"]["name"]
    kubectl(site.kubeconfig_path, "delete", "pod", victim, "-n", NS, "--wait=false")
    new = wait_for(lambda: [p for p in pods_of(site, MODEL) if p["metadata"]["name"] != pods[1]["metadata"]["name"]
                            and any(c["type"] == "Ready" and c["status"] == "True"
                                    for c in p["status"].get("conditions") or ())], 60,
                   what="the replacement pod to be Ready")[0]
    assert WARM_LABEL not in new["metadata"].get("labels", {})
    wait_for(lambda: endpoints_ips(site, MODEL) == {pods[1]["status"]["podIP"]}, 30,
             what="the endpoints to drop the deleted pod")
    assert new["status"]["podIP"] not in endpoints_ips(site, MODEL)       # Ready, but cold: no traffic
    st = json.loads(model(site, "status", "--model", MODEL, "--json", check_rc=0).stdout)
    assert {p["name"]: p["warm"] for p in st["pods"]}[new["metadata"]["name"]] is False
    p = model(site, "warmup", "--model", MODEL, "--replicas", "2", "--yes", "--json", check_rc=0)
    warmed = [n for s in json.loads(p.stdout)["hosts"]["cluster"]["steps"] for n in s["notes"]]
    assert all(n.startswith(new["metadata"]["name"]) for n in warmed) and warmed
    wait_for(lambda: new["status"]["podIP"] in endpoints_ips(site, MODEL), 30, what="the warmed pod in endpoints")

    # rollback of the apply run leaves the cluster as it was
    p = model(site, "rollback", run_id, "--yes", "--json", check_rc=0)
    assert json.loads(p.stdout)["status"] == "complete"
    wait_for(lambda: cluster_listing(site) == before, 30, what="the namespace as before the run")
    wait_for(lambda: not pods_of(site, MODEL), 60, what="the model's pods to go")
    # the audit log has every step of the run and the rollback
    from console.audit import AuditLog
    recs = [r for r in AuditLog().records() if (r.get("args") or {}).get("wizard") == "model-load"]
    actions = [r["action"] for r in recs]
    assert "apply" in actions and "rollback" in actions and "confirm" in actions
    applied = next(r for r in recs if r["action"] == "apply" and (r["args"].get("applied")))
    assert applied["args"]["applied"] == ["apply.workload", "rollout", "warmup", "apply.service"]
    # a record per step, not only per target: every step of the run, then every step rolled back
    run = applied["args"]["run_id"]
    per_step = [(r["action"], r["args"]["step"], r["result"]) for r in recs
                if r["action"].endswith("-step") and r["args"]["run_id"] == run]
    assert [(a, s) for a, s, _r in per_step if a == "apply-step"] == [("apply-step", s) for s in (
        "preflight.fit", "preflight.gpus", "preflight.image", "preflight.cache", "preflight.tuning",
        "apply.workload", "rollout", "warmup", "apply.service")]
    rolled = {s: r for a, s, r in per_step if a == "rollback-step"}
    assert {"apply.workload", "apply.service"} <= set(rolled) and set(rolled.values()) == {"rolled-back"}


def test_wrong_model_path_stops_before_traffic(site):
    name = MODEL
    p = model(site, "apply", "--model", name, "--model-path", "/models/not-here", "--replicas", "1",
              "--yes", "--json", timeout=240)
    assert p.returncode == 1, p.stderr
    res = json.loads(p.stdout)
    steps = {s["id"]: s for s in res["hosts"]["cluster"]["steps"]}
    assert steps["rollout"]["status"] == "failed"
    assert "no weights" in steps["rollout"]["error"] and "/models/not-here" in steps["rollout"]["error"]
    assert steps["warmup"]["status"] == "skipped" and steps["apply.service"]["status"] == "skipped"
    r = kubectl(site.kubeconfig_path, "get", "service", name, "-n", NS, check=False)
    assert r.returncode != 0 and "NotFound" in r.stderr               # traffic untouched
    assert all(WARM_LABEL not in p["metadata"].get("labels", {}) for p in pods_of(site, name))
    model(site, "rollback", "--yes", check_rc=0)


STALLS = {
    # an image on no node, an in-site registry configured that cannot serve it
    "image": ("    image: registry.local:5000/vllm/vllm-openai:v0.9.1\n    registry: registry.local:5000\n",
              ("ImagePullBackOff", "ErrImagePull"), "registry.local:5000/vllm/vllm-openai:v0.9.1 is not on"),
    # 14B in BF16 stages ~22 GiB through host memory: a 16Gi limit is OOM-killed
    "oomkilled": ("    memory: 16Gi\n", ("OOMKilled",), "memory limit 16Gi is too small"),
    # the operator believed the GPUs had 200 GiB: preflight passes, the H200's
    # 140 GiB x 0.18 cannot hold the 27.6 GiB of weights
    "cuda-oom": ("    gpu_memory_gib: 200\n    memory_fraction: 0.18\n", ("CUDA out of memory",),
                 "PYTORCH_CUDA_ALLOC_CONF=max_split_size_mb:128"),
}


@pytest.mark.parametrize("stall", list(STALLS))
def test_rollout_stall_is_named_and_traffic_untouched(site, tmp_path, stall):
    """The simulator fails the pods as a kubelet would (image pull, OOM killer,
    CUDA OOM in the server's log); the run stops at the rollout, names the
    cause, and never creates the Service nor labels a pod warm."""
    extra, reasons, detail = STALLS[stall]
    site_file = tmp_path / "site.yaml"
    site_file.write_text(f"name: t\ncluster:\n  kubeconfig: {site.kubeconfig_path}\n  context: {site.context}\n"
                         f"models:\n  - name: {MODEL}\n    replicas: 1\n" + extra)
    p = model(site, "apply", "--site", str(site_file), "--yes", "--json")
    assert p.returncode == 1, p.stdout + p.stderr
    steps = {s["id"]: s for s in json.loads(p.stdout)["hosts"]["cluster"]["steps"]}
    assert steps["apply.workload"]["status"] == "applied"
    err = steps["rollout"]["error"]
    assert steps["rollout"]["status"] == "failed" and "rollout stalled" in err
    assert any(r in err for r in reasons) and detail in err, err
    assert steps["warmup"]["status"] == "skipped" and steps["apply.service"]["status"] == "skipped"
    r = kubectl(site.kubeconfig_path, "get", "service", MODEL, "-n", NS, check=False)
    assert r.returncode != 0 and "NotFound" in r.stderr               # traffic untouched
    pods = pods_of(site, MODEL)
    assert pods and all(WARM_LABEL not in p["metadata"].get("labels", {}) for p in pods)
    # what the kubelet wrote, as kubectl shows it
    cs = pods[0]["status"]["containerStatuses"][0]
    if stall == "image":
        assert pods[0]["status"]["phase"] == "Pending"
        assert cs["state"]["waiting"]["reason"] in ("ErrImagePull", "ImagePullBackOff")
        events = kget(site, "events", "--field-selector", f"involvedObject.name={pods[0]['metadata']['name']}")
        assert {"Pulling", "Failed"} <= {e["reason"] for e in events["items"]}
    elif stall == "oomkilled":
        assert cs["lastState"]["terminated"]["reason"] == "OOMKilled" and cs["restartCount"] >= 1
        assert cs["lastState"]["terminated"]["exitCode"] == 137
    else:
        log = kubectl(site.kubeconfig_path, "logs", "-n", NS, pods[0]["metadata"]["name"]).stdout
        assert "torch.OutOfMemoryError: CUDA out of memory" in log
    model(site, "rollback", "--yes", check_rc=0)
    wait_for(lambda: not pods_of(site, MODEL), 60, what="the model's pods to go")


def test_preflight_refuses_no_gpus_and_no_fit(site, tmp_path):
    p = model(site, "apply", "--model", MODEL, "--replicas", "500", "--yes", "--json")
    assert p.returncode == 1
    steps = {s["id"]: s for s in json.loads(p.stdout)["hosts"]["cluster"]["steps"]}
    assert "not enough GPUs" in steps["preflight.gpus"]["error"]
    # DeepSeek-V3 671B FP8 on 8 x 80 GB does not fit; on the demo's H200s it does
    site_file = tmp_path / "site.yaml"
    site_file.write_text(f"name: t\ncluster:\n  kubeconfig: {site.kubeconfig_path}\n  context: {site.context}\n"
                         "models:\n  - name: deepseek-v3\n    gpu_memory_gib: 80\n")
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    p = subprocess.run([sys.executable, "-m", "console", "model", "plan", "--site", str(site_file), "--json"],
                       capture_output=True, text=True, timeout=120, env=env)
    assert p.returncode == 1
    err = {s["id"]: s for s in json.loads(p.stdout)["hosts"]["cluster"]["steps"]}["preflight.fit"]["error"]
    assert "does NOT fit" in err and "671B" in err and "x 8 GPUs" in err
    ok = model(site, "plan", "--model", "deepseek-v3", "--replicas", "1", "--json")
    fit = {s["id"]: s for s in json.loads(ok.stdout)["hosts"]["cluster"]["steps"]}["preflight.fit"]
    assert fit["status"] == "ok" and "fits" in fit["check"]["summary"]
    assert kubectl(site.kubeconfig_path, "get", "deployment", MODEL, "-n", NS, check=False).returncode != 0


def test_killed_mid_rollout_then_resume_and_rollback(tmp_path):
    # model loads take long here: the console is killed while it watches the rollout
    with start_demo_site(nodes=2, gpus_per_node=8, replicas=1, time_scale=1.0, model_load_s=25.0) as slow:
        before = cluster_listing(slow)
        env = dict(os.environ, PYTHONPATH=os.getcwd())
        proc = subprocess.Popen([sys.executable, "-m", "console", "model", "apply", "--model", MODEL,
                                 "--replicas", "1", "--yes", "--kubeconfig", str(slow.kubeconfig_path),
                                 "--context", slow.context], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env)
        from actions import journal
        wait_for(lambda: any('"step":"rollout"' in r.path.read_text() and '"t":"intent"' in r.path.read_text()
                             for r in journal.list_runs()), 120, interval=0.2, what="the rollout step to start")
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        runs = json.loads(model(slow, "runs", "--json", check_rc=0).stdout)
        assert runs[-1]["status"] == "interrupted"
        assert kget(slow, f"deployment/{MODEL}")["spec"]["replicas"] == 1
        # resume watches the same rollout to its end (the step looks again, nothing is re-created)
        uid = kget(slow, f"deployment/{MODEL}")["metadata"]["uid"]
        p = model(slow, "resume", "--yes", "--json", check_rc=0)
        res = json.loads(p.stdout)
        steps = {s["id"]: s["status"] for s in res["hosts"]["cluster"]["steps"]}
        # the workload was applied before the kill: checked again, still in effect
        assert steps["apply.workload"] == "unchanged" and steps["rollout"] == "applied"
        assert steps["warmup"] == "applied" and steps["apply.service"] == "applied"
        assert kget(slow, f"deployment/{MODEL}")["metadata"]["uid"] == uid
        assert json.loads(model(slow, "runs", "--json", check_rc=0).stdout)[-1]["status"] == "complete"
        p = model(slow, "rollback", "--yes", "--json", check_rc=0)
        assert json.loads(p.stdout)["status"] == "complete"
        wait_for(lambda: cluster_listing(slow) == before, 30, what="the namespace as before the run")
        assert json.loads(model(slow, "runs", "--json", check_rc=0).stdout)[-1]["status"] == "rolled-back"


def test_a_long_step_reports_progress_and_can_be_paused_and_aborted():
    """The engine's long steps: the rollout reports progress, is paused, and
    aborted at its next checkpoint; the run is left unfinished and a resume
    finishes it."""
    import threading

    from actions import journal
    from actions.plan import CLUSTER, build_plan
    from actions.runner import Runner
    from console.kube.client import KubeHttp
    from console.kube.kubeconfig import resolve
    with start_demo_site(nodes=2, gpus_per_node=8, replicas=1, time_scale=1.0, model_load_s=20.0) as slow:
        kube = KubeHttp(resolve(str(slow.kubeconfig_path), slow.context))
        params = spec_for(MODEL, replicas=1).to_params()
        events, out = [], {}
        runner = Runner(on_progress=events.append)
        t = threading.Thread(target=lambda: out.setdefault(
            "r", runner.apply(build_plan("model-load", {CLUSTER: kube}, params), confirmation="test")))
        t.start()
        wait_for(lambda: any(e.kind == "step-progress" and e.step == "rollout" for e in events), 60,
                 what="rollout progress")
        runner.pause()
        assert runner._control.paused
        runner.abort()                    # an abort also ends a pause
        t.join(60)
        res = out["r"]
        step = {s.id: s for s in res.hosts[CLUSTER].steps}["rollout"]
        assert step.status == "failed" and "aborted by the operator" in step.error
        assert journal.load(res.run_id).unfinished
        res2 = Runner().resume(res.run_id, build_plan("model-load", {CLUSTER: kube}, params), confirmation="test")
        assert res2.status == "complete", res2.message
        kube.close()


def test_sglang_flags_mapped_previewed_exported_and_served(site, tmp_path):
    """flavour sglang: the guide's settings become SGLang's own flags, the
    preview says what SGLang has no equivalent for, the exported files are
    what kubectl accepts, and the Deployment read back with kubectl runs
    SGLang's launcher; it rolls out and warms on the demo site."""
    from console.sim.site_objects import SGLANG_IMAGE
    site_file = tmp_path / "site.yaml"
    site_file.write_text(f"name: t\ncluster:\n  kubeconfig: {site.kubeconfig_path}\n  context: {site.context}\n"
                         f"models:\n  - name: {MODEL}\n    flavour: sglang\n    image: {SGLANG_IMAGE}\n"
                         "    replicas: 1\n")
    p = model(site, "plan", "--site", str(site_file), "--export", str(tmp_path / "m"), check_rc=0)
    for mapped in ("max batch 128 -> --max-running-requests 128", "tensor parallel 1 -> --tp-size 1",
                   "GPU memory fraction 0.8 -> --mem-fraction-static 0.8",
                   "allocator -> PYTORCH_CUDA_ALLOC_CONF=max_split_size_mb:128",
                   "torch.compile -> --enable-torch-compile"):
        assert mapped in p.stdout, mapped
    assert "! SGLang has no batching wait: max wait 50 ms is not applied" in p.stdout
    assert "! SGLang does not read VLLM_CACHE_ROOT" in p.stdout
    kubectl(site.kubeconfig_path, "apply", "--dry-run=server", "-f", str(tmp_path / "m"))

    p = model(site, "apply", "--site", str(site_file), "--yes", "--json")
    assert p.returncode == 0, p.stdout + p.stderr
    try:
        c = kget(site, f"deployment/{MODEL}")["spec"]["template"]["spec"]["containers"][0]
        assert c["image"] == SGLANG_IMAGE and c["command"] == ["python3"]
        args = c["args"]
        assert args[:2] == ["-m", "sglang.launch_server"]
        flags = {a: args[i + 1] for i, a in enumerate(args[:-1]) if a.startswith("--")}
        assert (flags["--tp-size"], flags["--mem-fraction-static"], flags["--max-running-requests"]) == \
            ("1", "0.8", "128")
        assert "--enable-torch-compile" in args and "--tensor-parallel-size" not in args
        env = {e["name"]: e.get("value") for e in c["env"]}
        assert env["PYTORCH_CUDA_ALLOC_CONF"] == "max_split_size_mb:128" and env["TORCHINDUCTOR_CACHE_DIR"]
        warm = [q for q in pods_of(site, MODEL) if q["metadata"]["labels"].get(WARM_LABEL) == "true"]
        assert len(warm) == 1 and endpoints_ips(site, MODEL) == {warm[0]["status"]["podIP"]}
    finally:
        model(site, "rollback", "--yes", check_rc=0)
        wait_for(lambda: not pods_of(site, MODEL), 60, what="the model's pods to go")
