"""The simulator's built-in churn (`sim serve --churn N`, start_demo_site(churn=N)):
pods change at about N per second, each change one watch MODIFIED event,
seen by a real client's watch. The tests count changes and wait for them
(bounded); none depends on how fast the machine makes them."""
from __future__ import annotations

import subprocess
import sys

import pytest
from kubernetes import client, config, watch

from console.sim.churn import HEARTBEAT_ANNOTATION
from console.sim.demo_site import start_demo_site
from tests.sim_kube import ServedSite
from tests.waiting import wait_for

pytestmark = pytest.mark.timeout(90)
NS = "deepseek"


def test_served_churn_reaches_a_watcher(tmp_path):
    rate = 200
    site = ServedSite(tmp_path / "kubeconfig", "--nodes", "2", "--churn", str(rate))
    try:
        v1 = client.CoreV1Api(config.new_client_from_config(str(site.kubeconfig)))
        pods = v1.list_namespaced_pod(NS)
        names = {p.metadata.name for p in pods.items}
        seen: dict[str, int] = {}
        # until every model-server pod's heartbeat has changed three times (a count,
        # not a rate: how long it takes depends on the machine; the watch's own
        # timeout only bounds the wait)
        w = watch.Watch()
        for ev in w.stream(v1.list_namespaced_pod, NS, resource_version=pods.metadata.resource_version,
                           timeout_seconds=60, _request_timeout=90):
            pod = ev["object"]
            beat = (pod.metadata.annotations or {}).get(HEARTBEAT_ANNOTATION)
            if ev["type"] == "MODIFIED" and beat is not None:
                seen[pod.metadata.name] = seen.get(pod.metadata.name, 0) + 1
                if set(seen) == names and min(seen.values()) >= 3:
                    w.stop()
        assert set(seen) == names and min(seen.values()) >= 3, seen  # spread over every pod
    finally:
        assert site.stop() == 0


def test_churn_changes_and_stops(tmp_path):
    site = start_demo_site(nodes=1, gpus_per_node=4, churn=100, hosts=False, kubeconfig=tmp_path / "kubeconfig")
    try:
        w, _ = site.store.watch("pods", site.store.resource_version)
        events = []
        while len(events) < 100:       # bounded by the test's timeout; a count, not a rate
            ev = w.queue.get(timeout=30)
            if ev is not None:
                events.append(ev)
        site.store.unwatch(w)
        assert all(e.type == "MODIFIED" and e.res == "pods" for e in events)
        assert all(e.obj["metadata"]["namespace"] == NS for e in events)
        # every other change also moves the Ready condition's lastProbeTime
        probed = [e for e in events
                  if any(c.get("type") == "Ready" and c.get("lastProbeTime")
                         and c.get("lastProbeTime") != (next((o for o in e.old["status"]["conditions"]
                                                               if o.get("type") == "Ready"), {})
                                                        .get("lastProbeTime"))
                         for c in e.obj["status"]["conditions"])]
        assert probed
        # heartbeats change nothing a controller reads: the Deployment stays rolled out
        dep = site.store.get("deployments", NS, "deepseek-v3-blue")
        assert dep["status"]["readyReplicas"] == site.replicas
        # stop() returns once the churn's thread has ended: nothing is left to change a pod
        site.churn.stop()
        assert not site.churn.running
        assert site.churn.changed >= len(events)
    finally:
        site.stop()


def test_bad_churn_exits_2():
    for flag, bad in (("--churn", "-1"), ("--churn", "lots"), ("--churn", "inf"), ("--churn-visible", "1.5")):
        p = subprocess.run([sys.executable, "-m", "console", "sim", "serve", flag, bad],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 2, (bad, p.stderr)
        assert flag in p.stderr and "Traceback" not in p.stderr


def test_visible_churn_bumps_restart_counts(tmp_path):
    site = start_demo_site(nodes=1, gpus_per_node=4, hosts=False, traffic=False, churn=100, churn_visible=0.5,
                           kubeconfig=tmp_path / "kubeconfig")
    try:
        def restarts():
            return sum(cs.get("restartCount", 0) for p in site.store.values("pods")
                       if p["metadata"]["namespace"] == NS for cs in p["status"].get("containerStatuses") or ())
        churn = site.churn
        wait_for(lambda: churn.changed >= 50, timeout=30, what="50 changes")
        churn.stop()
        assert not churn.running
        # every other change is a restart (give or take the one in flight)
        assert abs(restarts() - churn.changed / 2) <= 1, (restarts(), churn.changed)
    finally:
        site.stop()
