"""The demo site's load balancer (console/sim/lb_proxy.py) in front of real
simulated model servers over loopback HTTP: the split follows the weights
(smooth weighted round robin) over >= 1,000 requests, `down` servers get
nothing, a stopped server is passed over without a client error and taken out
of rotation with nginx's error-log lines, and comes back after fail_timeout."""
from __future__ import annotations

import collections

import httpx
import pytest

from console.sim.clock import SimClock
from console.sim.compile_profile import CompileProfile
from console.sim.lb_proxy import LbProxy, UpstreamServer
from console.sim.model_server import ModelServerPool

PROMPT = {"model": "deepseek-r1-14b", "prompt": "hello", "max_tokens": 4, "temperature": 0}


@pytest.fixture
def servers():
    pool = ModelServerPool(CompileProfile(compile_s=0.01), clock=SimClock(time_scale=1000))
    pool.start()
    ips = [pool.allocate_ip() for _ in range(3)]
    for i, ip in enumerate(ips):
        pool.add(ip, f"deepseek-{i}", "deepseek-r1-14b", "node-0", warm=True)
    yield pool, [f"{ip}:{pool.port}" for ip in ips]
    pool.stop()


def _proxy(pool, servers, **kw) -> LbProxy:
    return LbProxy(servers, refuses=pool.refuses, **kw).start()


def _split(client: httpx.Client, url: str, n: int) -> collections.Counter:
    got: collections.Counter = collections.Counter()
    for _ in range(n):
        r = client.get(f"{url}/v1/models")
        assert r.status_code == 200, r.text
        got[r.headers["x-upstream-addr"]] += 1
    return got


@pytest.mark.parametrize("weights", [(90, 10), (50, 50)])
def test_the_split_follows_the_weights(servers, weights):
    pool, addrs = servers
    blue, green = addrs[0], addrs[1]
    proxy = _proxy(pool, [UpstreamServer(blue, weights[0]), UpstreamServer(green, weights[1]),
                          UpstreamServer(addrs[2], 5, down=True)])
    try:
        with httpx.Client(timeout=30) as client:
            got = _split(client, proxy.url, 1000)
            r = client.post(f"{proxy.url}/v1/completions", json=PROMPT)
            assert r.status_code == 200 and r.json()["choices"][0]["text"]
    finally:
        proxy.stop()
    assert sum(got.values()) == 1000 and got[addrs[2]] == 0          # down: nothing
    assert abs(got[green] / 10 - weights[1]) <= 5, got


def test_a_stopped_server_is_passed_over_and_taken_out_of_rotation(servers):
    pool, addrs = servers
    now = [0.0]
    proxy = _proxy(pool, [UpstreamServer(a, 1, max_fails=2, fail_timeout_s=10) for a in addrs[:2]],
                   clock=lambda: now[0])
    try:
        with httpx.Client(timeout=30) as client:
            ip = addrs[1].rsplit(":", 1)[0]
            pool.stop_server(ip)
            got = _split(client, proxy.url, 20)            # no client sees an error
            log = proxy.error_log()
            assert got[addrs[0]] == 20, got
            failed = [ln for ln in log.splitlines() if addrs[1] in ln and "connect() failed (111" in ln]
            assert len(failed) == 2, log                     # max_fails, then it is skipped
            assert "[warn]" in log and "upstream server temporarily disabled" in log
            # after fail_timeout one request tries it again; started, it serves
            pool.start_server(ip)
            now[0] += 11
            got = _split(client, proxy.url, 20)
            assert got[addrs[1]] == 10, got
            # every server down: 502 "no live upstreams", as nginx says
            for a in addrs[:2]:
                pool.stop_server(a.rsplit(":", 1)[0])
            r = client.get(f"{proxy.url}/v1/models")
            assert r.status_code == 502
            assert "no live upstreams while connecting to upstream" in proxy.error_log()
    finally:
        proxy.stop()
