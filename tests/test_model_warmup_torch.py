"""Compiled warmup against a real torch.compile: the tiny reference server
(tests/refserver/) compiles a graph on the first request of each shape, so
the warmup report must show a first latency well above the settled one for
every shape, and the settle rule must stop. Needs torch (CPU wheel)."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="torch (CPU wheel) not installed: bash tests/install-deps.sh")

from actions.model_load.warmup import SettleRule, warm_endpoint  # noqa: E402
from tests.refserver.server import MODEL_ID, serve, spawn  # noqa: E402

pytestmark = pytest.mark.timeout(600)
SHAPES = [(1, 32), (2, 32)]


def _warm(cache_dir, rule):
    proc, port = spawn(str(cache_dir))
    try:
        return warm_endpoint("127.0.0.1", port, None, SHAPES, rule)
    finally:
        proc.terminate()
        proc.wait(30)


def _files(d):
    return {p.relative_to(d) for p in d.rglob("*") if p.is_file()}


def test_first_request_compiles_the_settle_rule_stops_and_the_cache_is_evidenced(tmp_path):
    """A cold compile cache: each shape's first request compiles (well above
    the settled latency; /metrics counts graphs compiled). A restarted server
    on the same cache directory loads the graphs instead: the report says
    "compile cache hit" from the server's counters, not from latency."""
    cache = tmp_path / "inductor-cache"
    cache.mkdir()
    rule = SettleRule(k=3, pct=25.0, max_requests=30)
    cold = _warm(cache, rule)
    assert [(r.batch, r.prompt_tokens) for r in cold] == SHAPES
    for r in cold:
        assert r.settled, r.line()                     # the rule stopped before max_requests
        assert len(r.latencies) < rule.max_requests
        assert r.first_s > 5 * r.settled_s, r.line()   # the compile shows
        assert r.cache_hit is False and "compiled" in r.cache.evidence, r.line()
        assert "compiled now" in r.line()
        last = r.latencies[-rule.k:]
        assert rule.settled(list(r.latencies)) and max(last) <= max(min(last) * 1.25, min(last) + rule.floor_s)
    after_cold = _files(cache)
    assert after_cold                                  # the compiled graphs were persisted

    warm = _warm(cache, rule)
    for r in warm:
        assert r.settled, r.line()
        assert r.cache_hit is True and "loaded from the compile cache" in r.cache.evidence, r.line()
        assert "compile cache hit" in r.line()
    assert _files(cache) >= after_cold


def test_compile_cache_evidence_rules():
    from actions.model_load.warmup import CacheEvidence, compile_cache_from_log
    assert CacheEvidence.from_counters(None, None).verdict == "unknown"
    assert CacheEvidence.from_counters((0, 0), (2, 0)).verdict == "hit"
    assert CacheEvidence.from_counters((0, 0), (1, 1)).verdict == "miss"
    assert CacheEvidence.from_counters((3, 1), (3, 1)).verdict == "unknown"
    log = ("INFO Loading weights took 3.1 seconds\n"
           "INFO Directly load the compiled graph(s) for shape None from the cache")
    said = compile_cache_from_log(log)
    assert said is not None and said.verdict == "hit"
    said = compile_cache_from_log("INFO torch.compile takes 41.20 s in total")
    assert said is not None and said.verdict == "miss"
    assert compile_cache_from_log("INFO started") is None


def test_the_server_answers_like_the_others():
    from console import http1
    srv = serve(0, compiled=False)
    try:
        conn = http1.Connection("127.0.0.1", srv.server_address[1], timeout=30)
        conn.request("GET", "/v1/models", {"Connection": "close"})
        resp = conn.getresponse()
        assert resp.status == 200 and MODEL_ID in resp.read().decode()
        conn.close()
    finally:
        srv.shutdown()


def test_settle_rule_units():
    rule = SettleRule(k=3, pct=10.0, floor_s=0.0)
    assert not rule.settled([5.0, 0.1, 0.1])            # too few after the first
    assert rule.settled([5.0, 0.3, 0.100, 0.105, 0.109])
    assert not rule.settled([5.0, 0.100, 0.2, 0.105])
