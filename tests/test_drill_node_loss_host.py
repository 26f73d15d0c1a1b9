"""Node loss on a real site (issue 15): the node's host is a real sshd test
host (tests/testhosts.py) whose kubelet is a fake service (a `systemctl`
script in the host's private /usr/local/bin that starts and stops a
`sleep`); the drill stops it through the host's SshTransport and its
rollback starts it again.

What is simulated, and only this: the cluster is the demo site's simulator,
and the harness thread below plays the node controller's part: it watches the
host's kubelet and marks the simulated node NotReady when it stops (Ready
when it runs again). The drill's commands go over real SSH to a real host."""
from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from actions.drills import store
from actions.drills.catalog import DrillRefused
from actions.drills.cluster_ops import ClusterOps
from actions.drills.engine import DrillRun
from actions.drills.host_faults import HostFaults
from actions.drills.outcomes import COMPLETED
from console.kube.client import KubeHttp
from console.kube.kubeconfig import resolve
from console.sim.demo_site import start_demo_site
from console.site_config import HostConfig
from tests.sim_kube import kubectl

FAKE_SYSTEMCTL = r"""#!/bin/sh
# fake systemctl of the node-loss drill test: a "kubelet" that is a sleep
case "$1 $2" in
  "stop kubelet")
    [ -f /run/kubelet.pid ] && kill "$(cat /run/kubelet.pid)"; rm -f /run/kubelet.pid
    echo stop >> /run/kubelet.log ;;
  "start kubelet")
    setsid sleep 100000 </dev/null >/dev/null 2>&1 &
    echo $! > /run/kubelet.pid; echo start >> /run/kubelet.log ;;
  "is-active kubelet")
    if [ -f /run/kubelet.pid ] && kill -0 "$(cat /run/kubelet.pid)" 2>/dev/null; then echo active
    else echo inactive; exit 3; fi ;;
  *) echo "fake systemctl: $*: not faked" >&2; exit 1 ;;
esac
"""


def _fake_kubelet(host) -> None:
    host.sh(f"cat > /usr/local/bin/systemctl <<'EOF'\n{FAKE_SYSTEMCTL}EOF\nchmod 755 /usr/local/bin/systemctl",
            check=True)
    host.sh("systemctl start kubelet && rm -f /run/kubelet.log", check=True)


def _kubelet_log(host) -> list[str]:
    return host.sh("cat /run/kubelet.log 2>/dev/null").stdout.split()


class NodeController:
    """The simulated part: the host's kubelet state mirrored onto the node."""

    def __init__(self, host, site, node: str):
        self.host, self.site, self.node = host, site, node
        self.stop_event = threading.Event()
        self.failed = False
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.stop_event.wait(0.1):
            active = self.host.sh("systemctl is-active kubelet").returncode == 0
            if not active and not self.failed:
                self.site.cluster.fail_node(self.node)
                self.failed = True
            elif active and self.failed:
                self.site.cluster.recover_node(self.node)
                self.failed = False

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(10)


def _ready(kubeconfig, node: str) -> str:
    return kubectl(kubeconfig, "get", "node", node, "-o",
                   "jsonpath={.status.conditions[?(@.type=='Ready')].status}").stdout


def test_node_loss_stops_the_hosts_kubelet_and_rolls_back(test_hosts):
    (host,) = test_hosts.start(1)
    _fake_kubelet(host)
    scale = 100.0
    with start_demo_site(nodes=3, gpus_per_node=2, replicas=4, time_scale=scale, model_load_s=20.0,
                         traffic=False, hosts=False) as site:
        ops = ClusterOps(KubeHttp(resolve(str(site.kubeconfig_path))), namespace="deepseek")
        with pytest.raises(DrillRefused, match="fault injection"):
            DrillRun("node-loss", ops, site="t", time_scale=scale)   # no host named for it: refused
        probe = DrillRun("node-loss", ops, faults=HostFaults((), lambda h: None), site="t", time_scale=scale)
        node = probe.plan().nodes[0]
        faults = HostFaults((HostConfig(name=host.name, address=host.address, node=node),),
                            lambda h: host.transport())
        with pytest.raises(DrillRefused, match="gpu|demo site"):
            DrillRun("gpu-fault", ops, faults=faults, site="t")
        # the node must be named: not given, or a wrong name, refuses before anything is touched
        for named in (None, "some-other-node"):
            run = DrillRun("node-loss", ops, faults=faults, site="t", time_scale=scale)
            radius = run.plan()
            assert run.stops_real_node and radius.nodes == (node,)
            with pytest.raises(DrillRefused, match=f"--confirm-node {node}"):
                run.run(radius, "--yes", confirmed_node=named)
        assert _kubelet_log(host) == [] and store.reports() == []

        controller = NodeController(host, site, node)
        try:
            run = DrillRun("node-loss", ops, faults=faults, site="t", time_scale=scale)
            rep = run.run(run.plan(), "test", confirmed_node=node)
        finally:
            controller.stop()
        assert rep["status"] == COMPLETED, rep["error"]
        assert _kubelet_log(host) == ["stop", "start"]          # over SSH, in that order
        assert host.sh("systemctl is-active kubelet").returncode == 0
        assert any("systemctl stop kubelet" in e["text"] and host.name in e["text"] for e in rep["timeline"])
        assert [(b["op"], b["ok"]) for b in rep["rollbacks"]] == [("recover_node", True)]
        assert rep["toleration"]["toleration_s"] == 300.0
        assert rep["measurements"]["recovery_s"] >= 300.0        # the toleration holds the pods first
        assert _ready(site.kubeconfig_path, node) == "True"


def test_cli_node_loss_on_a_site_needs_confirm_node(test_hosts, tmp_path):
    (host,) = test_hosts.start(1)
    _fake_kubelet(host)
    with start_demo_site(nodes=3, gpus_per_node=2, replicas=4, time_scale=10.0, model_load_s=2.0,
                         traffic=False, hosts=False) as site:
        f = tmp_path / "site.yaml"
        f.write_text(f"name: t\ncluster:\n  kubeconfig: {site.kubeconfig_path}\nhosts:\n"
                     f"  - name: {host.name}\n    address: {host.address}\n    node: sim-node-that-is-none\n")
        base = [sys.executable, "-m", "console", "drill", "run", "node-loss", "--site", str(f), "--yes"]
        p = subprocess.run(base, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        assert p.returncode == 2 and "expected --confirm-node" in p.stderr, p.stderr
        assert "Traceback" not in p.stderr
        p = subprocess.run(base + ["--confirm-node", "wrong"], capture_output=True, text=True, timeout=120,
                           stdin=subprocess.DEVNULL)
        assert p.returncode == 2 and "does not name the node" in p.stderr, p.stderr
        assert _kubelet_log(host) == [] and store.reports() == []
