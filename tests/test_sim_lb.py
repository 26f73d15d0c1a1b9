"""The demo site's load balancer (console/sim/lb_proxy.py) in front of real
simulated model servers over loopback HTTP: the split follows the weights
(smooth weighted round robin) over >= 1,000 requests, `down` servers get
nothing, a stopped server is passed over without a client error and taken out
of rotation with nginx's error-log lines, and comes back after fail_timeout."""
from __future__ import annotations

import collections
import time

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


def _probe(url: str, pool, prompt: dict, n: int):
    from actions.bluegreen.balancer_probe import BalancerProber
    prober = BalancerProber(url, pool, prompt=prompt, rate=100.0).start()
    try:
        deadline = time.monotonic() + 30
        while len(prober.answers) < n and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        prober.stop()
    return prober


def test_the_demo_lb_host_runs_dsconsole_s_nginx_owner_unchanged():
    """lb-0's nginx emulation (console/sim/nginx_host.py) accepts exactly what
    actions/bluegreen/nginx_upstream.py writes and runs, and its reloads route
    the demo balancer's traffic; a broken include is refused with nginx's
    file:line message and the running servers stay."""
    from actions.bluegreen.nginx_upstream import NginxTestFailed, NginxUpstream, Pool, Weights
    from console.sim.demo_site import start_demo_site
    from console.sim.nginx_host import INCLUDE
    site = start_demo_site(nodes=2, gpus_per_node=2, replicas=3, traffic=False)
    try:
        lb = site.lb_host()
        assert lb.run("nginx -v").stderr.startswith("nginx version: nginx/")
        t = lb.run("nginx -p /etc/nginx -c /etc/nginx/nginx.conf -t")
        assert t.ok and "test is successful" in t.stderr
        addrs = [s.address for s in site.balancer().servers()]
        pool = Pool(blue=addrs[:2], green=addrs[2:])
        owner = NginxUpstream(lb, include_path=INCLUDE, upstream="deepseek", nginx_cmd="nginx")
        assert owner.running(pool) == Weights(67, 33)              # the operator's block: weight 1 each
        assert "+    server" in owner.adopt_diff(pool, Weights(90, 10))
        assert owner.apply(pool, Weights(90, 10)) == Weights(90, 10)
        with httpx.Client(timeout=30) as client:
            got = _split(client, site.balancer().url, 1000)
        assert abs(sum(got[a] for a in pool.green) / 10 - 10) <= 5, got
        # a broken include: -t names the file and line, reload refuses, traffic unchanged
        lb.write(INCLUDE, b"upstream deepseek {\n    server 127.0.0.1:8000;\n    sever 127.0.0.1:8001;\n}\n")
        t = lb.run("nginx -t")
        assert t.rc == 1 and f'unknown directive "sever" in {INCLUDE}:3' in t.stderr and "test failed" in t.stderr
        assert lb.run("nginx -s reload").rc == 1
        assert [s.weight for s in site.balancer().servers()] == [90, 90, 20]    # 90/10 over 2 blue, 1 green
        with pytest.raises(NginxTestFailed):
            owner.apply(Pool(blue=addrs[:2], green=["127.0.0.1:99999"]), Weights(50, 50))
        # the gate's probe through the demo balancer tells the colours by X-Upstream-Addr
        owner.apply(pool, Weights(50, 50))
        with httpx.Client(timeout=30) as client:
            served = client.get(f"{site.balancer().url}/v1/models").json()["data"][0]["id"]
        prompt = dict(PROMPT, model=served)
        prober = _probe(site.balancer().url, pool, prompt, 60)
        assert prober.source == "nginx's X-Upstream-Addr header mapped through the pool"
        assert {r.pod for r in prober.results} == {"blue", "green"} and all(r.ok for r in prober.results)
        # green's server answers wrong: the probe counts green's answers as failed
        site.model_servers.inject_bad_reply(addrs[2].rsplit(":", 1)[0])
        prober = _probe(site.balancer().url, pool, prompt, 60)
        green = [r for r in prober.results if r.pod == "green"]
        assert green and all(r.error == "wrong completion" for r in green)
    finally:
        site.stop()
