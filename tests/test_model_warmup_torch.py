"""Compiled warmup against a real torch.compile: the tiny reference server
(tests/refserver/) compiles a graph on the first request of each shape, so
the warmup report must show a first latency well above the settled one for
every shape, and the settle rule must stop. Needs torch (CPU wheel)."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="torch (CPU wheel) not installed: bash tests/install-deps.sh")

from actions.model_load.warmup import SettleRule, warm_endpoint  # noqa: E402
from tests.refserver.server import MODEL_ID, serve  # noqa: E402

pytestmark = pytest.mark.timeout(600)


def test_first_request_of_each_shape_compiles_and_the_settle_rule_stops():
    srv = serve(0)
    try:
        rule = SettleRule(k=3, pct=25.0, max_requests=30)
        shapes = [(1, 32), (2, 32)]
        reports = warm_endpoint("127.0.0.1", srv.server_address[1], None, shapes, rule)
    finally:
        srv.shutdown()
    assert [(r.batch, r.prompt_tokens) for r in reports] == shapes
    for r in reports:
        assert r.settled, r.line()                     # the rule stopped before max_requests
        assert len(r.latencies) < rule.max_requests
        assert r.first_s > 5 * r.settled_s, r.line()   # the compile shows
        assert not r.cache_hit
        last = r.latencies[-rule.k:]
        assert rule.settled(list(r.latencies)) and max(last) <= max(min(last) * 1.25, min(last) + rule.floor_s)


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
