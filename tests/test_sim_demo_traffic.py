"""The demo site's synthetic traffic (console/sim/demo_traffic.py): GPUs follow
the model servers' load, /metrics shows requests running, the rates are a
function of the seed, and a frozen site (SVG snapshots) has none."""
import itertools
import time
import urllib.request

import pytest

from console.sim.demo_site import start_demo_site
from console.sim.demo_traffic import RATE_MAX, RATE_MIN, DemoTraffic

pytestmark = pytest.mark.timeout(90)


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


def test_gpu_util_follows_synthetic_traffic():
    # 20x clock: the kubelet passes servers' load to the GPUs every 10 simulated s
    site = start_demo_site(nodes=2, gpus_per_node=4, time_scale=20.0, seed=5)
    try:
        assert site.traffic is not None
        pool = site.model_servers
        utils, running, served, hot = [], 0.0, 0.0, [0.0]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:   # bounded wait, not a timing assertion
            samples = [s for n in site.gpus.nodes() for s in site.gpus.read(n).samples]
            utils = [s.util_pct for s in samples]
            hot = [s.temp_c for s in samples if s.util_pct > 5] or [0.0]
            pages = [urllib.request.urlopen(pool.url(ip) + "/metrics", timeout=5).read().decode()
                     for ip in pool.addresses()]
            running = max(metric(p, "vllm:num_requests_running") for p in pages)
            served = sum(metric(p, "vllm:request_success_total") for p in pages)  # finished_reason="length"
            # idle GPUs with a model read 0-4 % and 32 C; temperature lags the load
            if max(utils) > 5 and running > 0 and max(hot) > 33:
                break
            time.sleep(0.2)
        assert max(utils) > 5, utils
        assert running > 0 and served > 0
        assert max(utils) < 90, utils          # a healthy demo stays under the gpu-util alert
        assert max(hot) > 33, hot              # temperature follows (idle: 32 C)
    finally:
        site.stop()


def test_rates_are_deterministic_under_a_seed_and_bounded():
    class Pool:  # DemoTraffic.rate needs only the profile
        from console.sim.compile_profile import CompileProfile
        profile = CompileProfile()
    a, b, c = DemoTraffic(Pool, None, 7), DemoTraffic(Pool, None, 7), DemoTraffic(Pool, None, 8)
    times = [i * 37.0 for i in range(200)]
    ra = [a.rate("deepseek-v3-x-1", t) for t in times]
    assert ra == [b.rate("deepseek-v3-x-1", t) for t in times]
    assert ra != [c.rate("deepseek-v3-x-1", t) for t in times]
    assert ra != [a.rate("deepseek-v3-x-2", t) for t in times]
    assert all(RATE_MIN <= r <= RATE_MAX for r in ra) and max(ra) - min(ra) > 0.5   # it varies
    assert max(abs(x - y) for x, y in itertools.pairwise(ra)) < 1.0                        # slowly
    assert a.latency_s < 0.5    # under the default 500 ms P99 threshold


def test_no_traffic_when_frozen_or_turned_off():
    frozen = start_demo_site(nodes=1, gpus_per_node=2, frozen=True)
    off = start_demo_site(nodes=1, gpus_per_node=2, traffic=False)
    try:
        assert frozen.traffic is None and off.traffic is None
        for site in (frozen, off):
            assert all(site.model_servers.load(ip)["requests_running"] == 0
                       for ip in site.model_servers.addresses())
    finally:
        frozen.stop()
        off.stop()
