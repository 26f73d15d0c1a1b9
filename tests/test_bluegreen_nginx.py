"""The include file dsconsole owns on the load balancer
(actions/bluegreen/nginx_upstream.py) driving a real Debian nginx on loopback
(tests/nginx_lb.py) through a LocalTransport, with nginx run as a site
file's `nginx:` command names it (`nginx -p PREFIX -c CONF`):

- a whole switch 100/0 -> 90/10 -> 50/50 -> 0/100 under bounded load: no
  request fails, and at each step, over >= 1,000 requests, the share that
  reached green is within 5 points of its weight;
- the first run's adoption diff of an operator's hand-written block;
- a broken include (nginx -t fails): caught before any reload, the previous
  file back, nginx's workers untouched, a clear error with nginx's message;
- a console that died mid-switch: a fresh NginxUpstream reads the weights
  nginx loads."""
from __future__ import annotations

import pytest

from actions.bluegreen.balancer_probe import BalancerProber
from actions.bluegreen.nginx_upstream import NginxTestFailed, NginxUpstream, Pool, Weights, parse_weights
from console.hosts.local import LocalTransport
from tests.nginx_lb import ANSWER, PROMPT, LoadGenerator, Nginx, Upstream, green_share, upstream_block, wait_until

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def pair():
    blue, green = Upstream("blue").start(), Upstream("green").start()
    yield blue, green
    blue.stop()
    green.stop()


def _owner(nginx: Nginx) -> NginxUpstream:
    return NginxUpstream(LocalTransport("local"), include_path=nginx.include_path, upstream="deepseek",
                         nginx_cmd=nginx.cmd)


def _apply(nginx: Nginx, owner: NginxUpstream, pool: Pool, blue: int, green: int) -> None:
    old = nginx.worker_pids()
    assert owner.apply(pool, Weights(blue, green)) == Weights(blue, green)
    # the new weights serve every request once the old workers are gone
    wait_until(lambda: nginx.worker_pids() and not (nginx.worker_pids() & old), 60, "nginx's new workers")


def test_a_whole_switch_under_load_loses_nothing_and_follows_the_weights(tmp_path, pair):
    blue, green = pair
    pool = Pool(blue=[blue.address], green=[green.address])
    hand_written = upstream_block({blue.address: 3, green.address: 0})
    with Nginx(str(tmp_path), hand_written) as nginx:
        owner = _owner(nginx)
        # first run: the operator's block read as 100/0 and the diff to dsconsole's shown
        assert owner.running(pool) == Weights(100, 0)
        diff = owner.adopt_diff(pool, Weights(100, 0))
        assert f"-    server {blue.address} weight=3;" in diff
        assert f"+    server {blue.address} weight=100;  # blue" in diff
        shares = {}
        with LoadGenerator(nginx.url, workers=4) as load:
            for b, g in ((100, 0), (90, 10), (50, 50), (0, 100)):
                _apply(nginx, owner, pool, b, g)
                shares[g] = green_share(load.wait_for(load.mark(), 1000, 180))
        assert owner.adopt_diff(pool, Weights(0, 100)) == ""
        failed = [r for r in load.results if r.failed]
        assert failed == [], failed[:3]
        for weight, share in shares.items():
            assert abs(share - weight) <= 5, shares


def test_a_broken_include_is_caught_before_the_reload(tmp_path, pair):
    blue, green = pair
    pool = Pool(blue=[blue.address], green=[green.address])
    with Nginx(str(tmp_path), upstream_block({blue.address: 100, green.address: 0})) as nginx:
        owner = _owner(nginx)
        _apply(nginx, owner, pool, 90, 10)
        before_file, workers = open(nginx.include_path).read(), nginx.worker_pids()
        # a server line nginx refuses (a port out of range) gets into what dsconsole writes
        bad = Pool(blue=[blue.address], green=["127.0.0.1:99999"])
        with pytest.raises(NginxTestFailed) as e:
            owner.apply(bad, Weights(50, 50))
        msg = str(e.value)
        assert "nginx -t refused" in msg and "restored; nothing reloaded" in msg
        assert "invalid port" in msg or "99999" in msg, msg       # nginx's own words
        assert open(nginx.include_path).read() == before_file
        assert nginx.worker_pids() == workers                     # no reload happened
        assert owner.running(pool) == Weights(90, 10)
        # and traffic still follows 90/10
        load = LoadGenerator(nginx.url, workers=2)
        results = [load.request() for _ in range(200)]
        assert not [r for r in results if r.failed] and abs(green_share(results) - 10) <= 6


def test_a_console_that_died_mid_switch_reads_the_weights_back(tmp_path, pair):
    blue, green = pair
    pool = Pool(blue=[blue.address], green=[green.address])
    with Nginx(str(tmp_path), upstream_block({blue.address: 100, green.address: 0})) as nginx:
        _apply(nginx, _owner(nginx), pool, 50, 50)
        # a new process knows nothing but the site file: nginx tells it 50/50,
        # from dsconsole's colour comments alone (no pool given)
        assert _owner(nginx).running() == Weights(50, 50)


def test_weights_parse_from_a_dump_and_refuse_nonsense():
    dump = ("# configuration file /etc/nginx/conf.d/x.conf:\nupstream deepseek {\n"
            "    server 10.0.1.1:8000 down;  # blue\n    server 10.0.2.1:8000 weight=100;  # green\n}\n")
    assert parse_weights(dump, "deepseek") == Weights(0, 100)
    assert parse_weights(dump, "other") is None
    with pytest.raises(ValueError, match="adding up to 100"):
        Weights(60, 60)


def _probe(nginx: Nginx, pool: Pool, n: int, **kw) -> BalancerProber:
    prober = BalancerProber(nginx.url, pool, prompt={"model": "deepseek-test", "prompt": PROMPT, "max_tokens": 8,
                                                     "temperature": 0}, rate=200.0, workers=4, **kw).start()
    try:
        wait_until(lambda: len(prober.answers) >= n, 60, f"{n} probe answers")
    finally:
        prober.stop()
    return prober


def test_the_gate_probe_through_the_balancer_tells_colours_and_wrong_answers(tmp_path, pair):
    """Green answers /health and 200 with the wrong text: the probe through the
    balancer puts each answer down to its colour and counts green's as failed;
    a 5xx green and a slow green show the same way (failures, latency)."""
    blue, green = pair
    pool = Pool(blue=[blue.address], green=[green.address])
    with Nginx(str(tmp_path), upstream_block({blue.address: 50, green.address: 50})) as nginx:
        green.set_mode("wrong")
        p = _probe(nginx, pool, 80)
        assert p.source == "the upstreams' X-Dsconsole-Colour header" and p.expected == ANSWER
        by = {c: [r for r in p.results if r.pod == c] for c in ("blue", "green")}
        assert by["blue"] and all(r.ok for r in by["blue"])
        assert by["green"] and all(not r.ok and r.error == "wrong completion" for r in by["green"])
        green.set_mode("error")
        p = _probe(nginx, pool, 40, expected=ANSWER)
        assert {r.error for r in p.results if r.pod == "green"} == {"HTTP 503"}
        green.set_mode("slow", delay_s=0.6)
        p = _probe(nginx, pool, 20, expected=ANSWER)
        slow = [r.latency_s for r in p.results if r.pod == "green"]
        assert slow and min(slow) >= 0.6 and all(r.ok for r in p.results)
        # without the colour header, nginx's X-Upstream-Addr maps each answer through the pool
        green.set_mode("ok")
        blue.colour_header = green.colour_header = False
        p = _probe(nginx, pool, 40)
        assert p.source == "nginx's X-Upstream-Addr header mapped through the pool"
        assert {r.pod for r in p.results} == {"blue", "green"} and all(r.ok for r in p.results)
