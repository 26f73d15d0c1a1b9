"""The production confirmation of drills (issue 15): a site file whose
cluster says `production: true` refuses a drill headless without
--allow-production (exit 2, nothing touched, nothing journaled), and the
engine itself refuses it without the confirmation, whatever the front end.
A served simulator stands in for the production cluster."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from actions.drills import store
from actions.drills.cluster_ops import ClusterOps
from actions.drills.confirm import ProductionRefused, accepts_production
from actions.drills.engine import DrillRun
from console.kube.client import KubeHttp
from console.kube.kubeconfig import resolve
from console.site_config import ConfigError, load_site
from tests.sim_kube import ServedSite, kubectl


def _site_file(tmp_path, kubeconfig, production: str = "true"):
    name = production.strip('"')
    f = tmp_path / f"site-{name}.yaml"
    f.write_text(f"name: prod-east\ncluster:\n  kubeconfig: {kubeconfig}\n  namespace: deepseek\n"
                 f"  production: {production}\n")
    return f


def _pods(kubeconfig) -> str:
    return kubectl(kubeconfig, "get", "pods", "-n", "deepseek", "-o",
                   "custom-columns=NAME:.metadata.name", "--sort-by=.metadata.name").stdout


def _drill(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "console", "drill", "run", "pod-kill", *args],
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)


def test_production_marker_parsed_and_checked(tmp_path):
    assert load_site(_site_file(tmp_path, "/nowhere")).cluster.production is True
    f = _site_file(tmp_path, "/nowhere", production='"yes"')
    with pytest.raises(ConfigError) as e:
        load_site(f)
    assert f"{f}:5:" in str(e.value) and "expected true or false" in str(e.value)


def test_production_refused_headless_without_allow_production(tmp_path):
    served = ServedSite(tmp_path / "kubeconfig", "--nodes", "2", "--gpus-per-node", "2", "--replicas", "2",
                        "--time-scale", "10", "--model-load", "2")
    try:
        site = _site_file(tmp_path, served.kubeconfig)
        context = kubectl(served.kubeconfig, "config", "current-context").stdout.strip()
        before = _pods(served.kubeconfig)
        p = _drill("--site", str(site), "--yes")
        assert p.returncode == 2, p.stderr
        assert "marked production" in p.stderr and "--allow-production" in p.stderr
        assert repr(context) in p.stderr and "Traceback" not in p.stderr
        assert _pods(served.kubeconfig) == before
        assert store.reports() == [] and store.unfinished() == []
        # a site file without the marker is not production: the same command runs
        plain = _drill("--site", str(_site_file(tmp_path, served.kubeconfig, "false")), "--yes", "--json")
        assert plain.returncode in (0, 1), plain.stderr
        assert json.loads(plain.stdout)["production"] is False
        # with --allow-production it runs, and the report says production and how it was allowed
        p = _drill("--site", str(site), "--yes", "--allow-production", "--json")
        assert p.returncode in (0, 1), p.stderr
        rep = json.loads(p.stdout)
        assert rep["production"] is True and rep["status"] == "completed", rep["error"]
        assert rep["context"] == context
        assert _pods(served.kubeconfig) != before   # the killed pod was replaced
    finally:
        served.stop()


def test_engine_refuses_production_without_confirmation(tmp_path):
    served = ServedSite(tmp_path / "kubeconfig", "--nodes", "2", "--gpus-per-node", "2", "--replicas", "2",
                        "--time-scale", "10", "--model-load", "2")
    try:
        before = _pods(served.kubeconfig)
        ops = ClusterOps(KubeHttp(resolve(str(served.kubeconfig))), namespace="deepseek")
        run = DrillRun("pod-kill", ops, site="prod-east", context="prod-admin", production=True)
        radius = run.plan()
        with pytest.raises(ProductionRefused, match="marked production"):
            run.run(radius, "typed the pod's name")
        assert _pods(served.kubeconfig) == before
        assert store.reports() == [] and store.unfinished() == []
        assert accepts_production("prod-east", "prod-admin", "prod-admin\n")
        assert not accepts_production("prod-east", "prod-admin", "yes")
    finally:
        served.stop()
