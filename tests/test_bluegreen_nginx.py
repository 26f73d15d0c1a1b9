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
from actions.bluegreen.gate import GateRule, early_breach, evaluate
from actions.bluegreen.nginx_upstream import NginxTestFailed, NginxUpstream, Pool, Weights, parse_weights
from actions.bluegreen.served_counts import ServedCounts
from actions.bluegreen.switch import run_steps
from actions.bluegreen.traffic_mode import NginxSwitch
from console.hosts.local import LocalTransport
from console.probes.window import ProbeResult
from tests.nginx_lb import ANSWER, PROMPT, LoadGenerator, Nginx, Upstream, green_share, upstream_block, wait_until

pytestmark = pytest.mark.timeout(240)


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


# ------------------------------------------------ the gated switch and its rollback

RULE = GateRule(success_rate=0.99, p99_ms=300.0, window_s=1.5, min_requests=30)
STEPS = ((100, 0), (90, 10), (50, 50), (0, 100))


class _FaultAt:
    """The nginx switch, with green turned to `mode` as soon as `at` is in force."""

    def __init__(self, inner: NginxSwitch, green: Upstream, at: tuple[int, int], mode: str, **kw):
        self.inner, self.green, self.at, self.mode, self.kw = inner, green, at, mode, kw

    def set_weights(self, blue: int, green: int) -> Weights:
        running = self.inner.set_weights(blue, green)
        if (blue, green) == self.at:
            self.green.set_mode(self.mode, **self.kw)
        return running

    def read_weights(self) -> Weights | None:
        return self.inner.read_weights()


def _gated_switch(nginx: Nginx, pool: Pool, switch, steps=STEPS):
    prober = BalancerProber(nginx.url, pool, prompt={"model": "deepseek-test", "prompt": PROMPT, "max_tokens": 8,
                                                     "temperature": 0}, rate=60.0, workers=8).start()
    try:
        return run_steps(switch, prober, RULE, steps), prober
    finally:
        prober.stop()


def _all_blue_now(nginx: Nginx) -> None:
    """Once the reload's old workers are gone, every request goes to blue."""
    load = LoadGenerator(nginx.url, workers=2)
    wait_until(lambda: load.request().colour == "blue" and all(load.request().colour == "blue" for _ in range(50)),
               60, "every request back on blue")
    results = [load.request() for _ in range(100)]
    assert {r.colour for r in results} == {"blue"} and not [r for r in results if r.failed]


@pytest.mark.parametrize("mode,kw,why", [("error", {}, "success rate below"),
                                         ("slow", {"delay_s": 0.6}, "latency above 300 ms")])
def test_green_failing_at_50_50_is_rolled_back_within_one_gate_window(tmp_path, pair, mode, kw, why):
    blue, green = pair
    pool = Pool(blue=[blue.address], green=[green.address])
    with Nginx(str(tmp_path), upstream_block({blue.address: 100, green.address: 0})) as nginx:
        switch = _FaultAt(NginxSwitch(_owner(nginx), pool), green, (50, 50), mode, **kw)
        with LoadGenerator(nginx.url, workers=2, pause_s=0.01) as load:
            outcome, prober = _gated_switch(nginx, pool, switch)
        # 100/0 and 90/10 passed; the first window at 50/50 breached and put 100/0 back
        assert [s.weights for s in outcome.steps] == [Weights(100, 0), Weights(90, 10), Weights(50, 50)]
        assert [s.verdict.passed for s in outcome.steps] == [True, True, False]
        assert outcome.rolled_back and not outcome.completed
        assert why in outcome.reason and "green" in outcome.reason, outcome.reason
        assert "rolled back to 100/0" in outcome.reason
        assert outcome.weights == Weights(100, 0) == _owner(nginx).running(pool)
        if mode == "error":
            # the probe's failed requests are counted and reported, every one sent until the
            # rollback was in force (later ones meet the reload's old workers); clients saw them too
            assert outcome.failed_requests == sum(1 for r in prober.results
                                                  if r.t < outcome.counted_until and not r.ok) > 0
            assert outcome.steps[-1].verdict.failed > 0
            assert any(r.status == 503 and r.colour == "green" for r in load.results)
        else:
            assert outcome.steps[-1].verdict.per_colour["green"].p99_s >= 0.6
        _all_blue_now(nginx)


def test_green_with_wrong_completions_is_caught_by_the_gate(tmp_path, pair):
    """Green answers /health (200) and 200 to completions, with the wrong text."""
    blue, green = pair
    green.set_mode("wrong")
    pool = Pool(blue=[blue.address], green=[green.address])
    with Nginx(str(tmp_path), upstream_block({blue.address: 100, green.address: 0})) as nginx:
        outcome, prober = _gated_switch(nginx, pool, NginxSwitch(_owner(nginx), pool))
        assert [s.verdict.passed for s in outcome.steps] == [True, False]
        assert "green" in outcome.reason and outcome.weights == Weights(100, 0)
        assert {r.error for r in prober.results if r.pod == "green"} == {"wrong completion"}
        _all_blue_now(nginx)


def test_a_whole_gated_switch_passes_every_gate(tmp_path, pair):
    blue, green = pair
    pool = Pool(blue=[blue.address], green=[green.address])
    with Nginx(str(tmp_path), upstream_block({blue.address: 100, green.address: 0})) as nginx:
        outcome, _ = _gated_switch(nginx, pool, NginxSwitch(_owner(nginx), pool))
        assert outcome.completed and not outcome.rolled_back, outcome.reason
        assert outcome.failed_requests == 0 and outcome.weights == Weights(0, 100)
        assert [s.verdict.per_colour["green"].sent > 0 for s in outcome.steps] == [False, True, True, True]


def _r(pod: str, ok: bool = True, latency_s: float = 0.01) -> ProbeResult:
    return ProbeResult(0.0, ok, latency_s, pod, "" if ok else "HTTP 503")


def test_no_data_is_a_halt_never_a_pass():
    rule = GateRule(min_requests=10)
    v = evaluate([_r("blue")] * 5, Weights(100, 0), rule)
    assert v.halted and not v.passed and "no data" in v.reason
    # green at 10 % that received nothing: a halt, though blue's figures are perfect
    v = evaluate([_r("blue")] * 100, Weights(90, 10), rule)
    assert v.halted and not v.passed and "green at weight > 0 received no request" in v.reason
    assert evaluate([_r("blue")] * 100, Weights(100, 0), rule).passed
    # too few to pass, but enough to fail: a breach, not a halt
    v = evaluate([_r("blue")] * 3 + [_r("green", latency_s=0.7)] * 2, Weights(50, 50), rule)
    assert not v.passed and not v.halted and "green P99 700 ms" in v.reason
    # green's own rate fails even where the total would pass 0.9
    v = evaluate([_r("blue")] * 95 + [_r("green")] * 4 + [_r("green", False)], Weights(90, 10),
                 GateRule(success_rate=0.9, min_requests=10))
    assert not v.passed and not v.halted and "green 80.0 % (1 of 5 failed)" in v.reason


def test_the_operator_pauses_then_aborts_and_the_switch_goes_back(tmp_path, pair):
    """Paused at 90/10 (the window starts over on resume), then aborted at
    50/50: the starting weights back, marked aborted, not a gate's verdict."""
    blue, green = pair
    pool = Pool(blue=[blue.address], green=[green.address])
    with Nginx(str(tmp_path), upstream_block({blue.address: 100, green.address: 0})) as nginx:
        switch = NginxSwitch(_owner(nginx), pool)
        asked = {"pauses": 0}

        def should_pause() -> bool:
            if switch.read_weights() == Weights(90, 10) and asked["pauses"] < 3:
                asked["pauses"] += 1
                return True
            return False

        prober = BalancerProber(nginx.url, pool, prompt={"model": "deepseek-test", "prompt": PROMPT,
                                                         "max_tokens": 8, "temperature": 0}, rate=60.0).start()
        try:
            outcome = run_steps(switch, prober, RULE, STEPS, should_pause=should_pause,
                                should_abort=lambda: switch.read_weights() == Weights(50, 50))
        finally:
            prober.stop()
        assert asked["pauses"] == 3
        assert outcome.aborted and outcome.rolled_back and "aborted by the operator" in outcome.reason
        assert [s.weights for s in outcome.steps] == [Weights(100, 0), Weights(90, 10)]
        assert outcome.weights == Weights(100, 0) == _owner(nginx).running(pool)


def test_without_colour_headers_the_split_comes_from_the_servers_metrics(tmp_path, pair):
    """Neither the upstreams nor nginx name who answered: with the model
    servers' /metrics counters the gate still sees green serve at 90/10 and
    passes; without them who served is unknown, and that is a halt."""
    blue, green = pair
    blue.colour_header = green.colour_header = False
    pool = Pool(blue=[blue.address], green=[green.address])
    with Nginx(str(tmp_path), upstream_block({blue.address: 100, green.address: 0}), addr_header=False) as nginx:
        switch = NginxSwitch(_owner(nginx), pool)
        prober = BalancerProber(nginx.url, pool, prompt={"model": "deepseek-test", "prompt": PROMPT,
                                                         "max_tokens": 8, "temperature": 0}, rate=60.0).start()
        try:
            counted = run_steps(switch, prober, RULE, STEPS[:2], served=ServedCounts(pool))
            blind = run_steps(switch, prober, RULE, STEPS[:2])
        finally:
            prober.stop()
        assert prober.source is None and {r.pod for r in prober.results} == {""}
        assert counted.completed, counted.reason
        served = counted.steps[-1].verdict.served
        assert served is not None and served["green"] > 0 and served["blue"] > served["green"]
        assert "served by /metrics" in counted.steps[-1].verdict.reason
        # blind, not even the first step passes: nothing says blue served the probes either
        assert blind.rolled_back and "halted at 100/0" in blind.reason
        assert "blue at weight > 0 received no request" in blind.reason
        assert blind.weights == Weights(100, 0)


def test_a_certain_breach_is_called_before_the_window_ends():
    rule = GateRule(window_s=10.0, min_requests=20)
    half_green_failing = [_r("blue")] * 20 + [_r("green", False)] * 20
    v = early_breach(half_green_failing, 1.0, Weights(50, 50), rule)
    assert v is not None and not v.passed and not v.halted and "green 20 of 20 failed in the first 1.0 s" in v.reason
    # not yet enough requests, or nothing that rules a pass out: the window goes on
    assert early_breach(half_green_failing[:15], 1.0, Weights(50, 50), rule) is None
    assert early_breach([_r("blue")] * 39 + [_r("green", False)], 1.0, Weights(50, 50), rule) is None
    assert early_breach([_r("blue")] * 40, 1.0, Weights(100, 0), rule) is None
