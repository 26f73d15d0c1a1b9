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
from console.sim.demo_site import GREEN_5XX_AFTER
from console.sim.lb_proxy import LbProxy, UpstreamServer
from console.sim.model_server import ModelServerPool
from tests.demo_green import start_green as _start_green

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
    site = start_demo_site(nodes=2, gpus_per_node=2, replicas=3, traffic=False, model_load_s=1.0, time_scale=20)
    try:
        lb = site.lb_host()
        assert lb.run("nginx -v").stderr.startswith("nginx version: nginx/")
        t = lb.run("nginx -p /etc/nginx -c /etc/nginx/nginx.conf -t")
        assert t.ok and "test is successful" in t.stderr
        addrs = [s.address for s in site.balancer().servers()]
        pool = Pool(blue=addrs[:2], green=addrs[2:])
        owner = NginxUpstream(lb, include_path=INCLUDE, upstream="deepseek", nginx_cmd="nginx")
        assert owner.running(pool) == Weights(67, 33)              # the operator's block: weight 1 each
        # the adoption diff keeps its lines and shows what the file holds, escapes made visible
        lb.write(INCLUDE, b"# edited by \x1b[31mops\x1b[0m\n" + (owner.read_owned() or "").encode())
        diff = owner.adopt_diff(pool, Weights(90, 10)).splitlines()
        assert "+    server" in "\n".join(diff) and not any("\x1b" in line for line in diff)
        assert [line for line in diff if line.startswith("-# edited by ") and "ops" in line]
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
        # the gate's probe through the demo balancer: the demo's servers name
        # their colour (X-Dsconsole-Colour), a real green beside blue
        pool = Pool(blue=addrs, green=_start_green(site))
        owner.apply(pool, Weights(50, 50))
        prompt = _served_prompt(site.balancer().url)
        prober = _probe(site.balancer().url, pool, prompt, 60)
        assert prober.source == "the upstreams' X-Dsconsole-Colour header"
        assert {r.pod for r in prober.results} == {"blue", "green"} and all(r.ok for r in prober.results)
        # green's server answers wrong: the probe counts green's answers as failed
        site.inject_green_fault("wrong")
        prober = _probe(site.balancer().url, pool, prompt, 60)
        green = [r for r in prober.results if r.pod == "green"]
        assert green and all(r.error == "wrong completion" for r in green)
    finally:
        site.stop()


# ---- the demo's blue-green objects (issue 13) ---------------------------------------

def _served_prompt(url: str) -> dict:
    with httpx.Client(timeout=30) as client:
        return dict(PROMPT, model=client.get(f"{url}/v1/models").json()["data"][0]["id"])


@pytest.fixture
def demo_bg():
    """A demo site with blue (its model Deployment) and a green beside it, the
    upstream on lb-0 at 50/50 through dsconsole's nginx owner."""
    from actions.bluegreen.nginx_upstream import NginxUpstream, Pool, Weights
    from console.sim.demo_site import start_demo_site
    from console.sim.nginx_host import INCLUDE
    site = start_demo_site(nodes=2, gpus_per_node=2, replicas=2, traffic=False, model_load_s=1.0, time_scale=20)
    try:
        blue = [s.address for s in site.balancer().servers()]
        pool = Pool(blue=blue, green=_start_green(site))
        owner = NginxUpstream(site.host("lb-0"), include_path=INCLUDE, upstream="deepseek")
        assert owner.apply(pool, Weights(50, 50)) == Weights(50, 50)
        yield site, pool, owner
    finally:
        site.stop()


def test_lb0_nginx_dump_version_options_and_a_failed_reload(demo_bg):
    """nginx -T dumps each file as nginx does; -c names another main file; a
    missing one is nginx's open() error; a reload that fails its test keeps
    the running upstream (and says why), a good one replaces it."""
    from console.sim.nginx_host import INCLUDE, MAIN_CONF
    site, pool, _owner = demo_bg
    lb = site.host("lb-0")
    dump = lb.run("nginx -T")
    assert dump.ok and "test is successful" in dump.stderr
    assert f"# configuration file {MAIN_CONF}:\n" in dump.stdout
    assert f"# configuration file {INCLUDE}:\n" in dump.stdout and "upstream deepseek {" in dump.stdout
    assert lb.run("nginx -v").stderr == "nginx version: nginx/1.22.1\n"
    missing = lb.run("nginx -p /etc/nginx -c /etc/nginx/other.conf -t")
    assert missing.rc == 1 and '[emerg] open() "/etc/nginx/other.conf" failed (2: No such file' in missing.stderr
    assert lb.run("nginx -x").rc == 1
    running = [(s.address, s.weight, s.down) for s in site.balancer().servers()]
    lb.write(INCLUDE, b"upstream deepseek {\n    server 127.1.0.1:notaport;\n}\n")
    bad = lb.run("nginx -s reload")
    assert bad.rc == 1 and f'invalid port in "127.1.0.1:notaport" of the "server" directive in {INCLUDE}:2' \
        in bad.stderr
    assert [(s.address, s.weight, s.down) for s in site.balancer().servers()] == running
    one = pool.green[0]
    lb.write(INCLUDE, f"upstream deepseek {{\n    server {one} weight=3 max_fails=2 fail_timeout=5s;\n}}\n".encode())
    assert lb.run("nginx -s reload").ok
    [only] = site.balancer().servers()
    assert (only.address, only.weight, only.max_fails, only.fail_timeout_s) == (one, 3, 2, 5.0)


def _through(url: str, prompt: dict, n: int) -> list[tuple[str, int, str, float]]:
    """n completions through the balancer: (colour, status, text, seconds) each."""
    out = []
    with httpx.Client(timeout=30) as client:
        for _ in range(n):
            t0 = time.monotonic()
            r = client.post(f"{url}/v1/completions", json=prompt)
            text = r.json()["choices"][0]["text"] if r.status_code == 200 else ""
            out.append((r.headers.get("x-dsconsole-colour", "?"), r.status_code, text, time.monotonic() - t0))
    return out


@pytest.mark.parametrize("fault", ["5xx", "wrong", "slow"])
def test_a_fault_injected_into_green_shows_through_the_balancer(demo_bg, fault):
    """What the gate must catch, seen as a client of the balancer sees it:
    green's answers fail (500, past a warmup's worth), differ from blue's, or take longer than the
    gate's 500 ms P99; blue's stay good and fast."""
    site, pool, _owner = demo_bg
    url = site.balancer().url
    prompt = _served_prompt(url)
    before = _through(url, prompt, 8)
    assert {c for c, *_ in before} == {"blue", "green"} and all(st == 200 for _c, st, _t, _s in before)
    reference = {t for c, _st, t, _s in before if c == "blue"}
    assert len(reference) == 1 and {t for c, _st, t, _s in before if c == "green"} == reference
    assert site.inject_green_fault(fault) == [a.rsplit(":", 1)[0] for a in pool.green]
    # "5xx" fails green's completions once a server has answered GREEN_5XX_AFTER (past its warmup)
    after = _through(url, prompt, 8 if fault != "5xx" else 2 * len(pool.green) * GREEN_5XX_AFTER + 16)
    blue = [r for r in after if r[0] == "blue"]
    green = [r for r in after if r[0] == "green"]
    assert blue and green                                        # 50/50 still: both answered
    assert all(st == 200 and t in reference for _c, st, t, _s in blue)
    if fault == "5xx":
        statuses = [st for _c, st, _t, _s in green]
        assert set(statuses) == {200, 500} and statuses[-4:] == [500] * 4
        with httpx.Client(timeout=10) as client:                        # it still answers /health
            assert all(client.get(f"http://{a}/health").status_code == 200 for a in pool.green)
    elif fault == "wrong":
        assert all(st == 200 and t not in reference for _c, st, t, _s in green)
    else:
        assert all(st == 200 and t in reference and s >= 0.5 for _c, st, t, s in green)
    site.inject_green_fault("none")
    assert all(st == 200 and t in reference for _c, st, t, _s in _through(url, prompt, 4))


def test_a_green_fault_reaches_green_servers_started_later():
    """--green-fault is given before the wizard makes green: its servers start failing."""
    from console.sim.demo_site import start_demo_site
    with pytest.raises(ValueError, match="expected one of"):
        start_demo_site(nodes=1, gpus_per_node=1, green_fault="teapot")
    site = start_demo_site(nodes=2, gpus_per_node=2, replicas=2, traffic=False, model_load_s=0.0,
                           time_scale=20, green_fault="wrong")
    try:
        pool = site.model_servers
        [green] = _start_green(site)
        ip = green.rsplit(":", 1)[0]
        with httpx.Client(timeout=30) as client:
            model = client.get(f"{pool.url(ip)}/v1/models").json()["data"][0]["id"]
            texts = {c: client.post(f"{pool.url(a)}/v1/completions", json=dict(PROMPT, model=model)).json()
                     ["choices"][0]["text"] for c, a in (("green", ip), ("blue", sorted(pool.addresses())[0]))}
        assert texts["green"] != texts["blue"]
    finally:
        site.stop()


def test_the_demo_traffic_follows_the_running_weights(demo_bg):
    """The dashboard's per-pod request rates come from the demo traffic: once
    nginx runs a blue-green upstream, green's share of it is green's weight,
    and moves with each reload."""
    from actions.bluegreen.nginx_upstream import Weights
    from console.sim.demo_traffic import DemoTraffic
    site, pool, owner = demo_bg
    traffic = DemoTraffic(site.model_servers, site.clock, 0, shares=site.balancer().shares)
    green_ips = {a.rsplit(":", 1)[0] for a in pool.green}

    def green_share() -> float:
        rates = traffic.rates_at(site.clock.now())
        return sum(r for ip, r in rates.items() if ip in green_ips) / sum(rates.values())

    assert abs(green_share() - 0.5) < 0.01
    for blue, green in ((90, 10), (0, 100), (100, 0)):
        owner.apply(pool, Weights(blue, green))
        assert abs(green_share() - green / 100) < 0.01, (blue, green)
    # before any reload (a fresh balancer) the pods keep their own rates
    assert DemoTraffic(site.model_servers, site.clock, 0, shares=lambda: None).rates_at(0.0) == \
        {ip: traffic.rate(name, 0.0) for ip, name in site.model_servers.addresses().items()}


def test_the_demo_s_bluegreen_section_names_lb0_and_its_balancer(demo_bg):
    """The demo's balancer: and bluegreen: sections (the site file's shape):
    lb-0 and its balancer's URL (it answers), mode nginx, each colour's
    servers; parsed as a site, they are the wizard's LoadBalancer."""
    from actions.bluegreen.spec import LoadBalancer
    site, pool, _owner = demo_bg
    bg, lb = site.bluegreen_section(), site.balancer_section()
    assert bg["mode"] == "nginx" and bg["model"] == "deepseek-v3"
    assert lb["host"] == "lb-0" and site.host(lb["host"]).run(f"{lb['nginx']} -t").ok
    assert lb["include"] == "/etc/nginx/conf.d/dsconsole-upstream.conf" and lb["upstream"] == "deepseek"
    with httpx.Client(timeout=30) as client:
        assert client.get(f"{lb['url']}/v1/models").status_code == 200
    assert bg["blue"] == pool.blue and bg["green"] == pool.green
    assert LoadBalancer.from_site(site.bluegreen_site()) == LoadBalancer(
        host="lb-0", include=lb["include"], upstream="deepseek", url=lb["url"], blue=tuple(pool.blue),
        green=tuple(pool.green))
