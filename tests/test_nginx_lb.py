"""The real-nginx fixture itself (tests/nginx_lb.py): the blue-green and
load-balancer drill tests lean on it, so its parts are checked here against
nginx's own behaviour: weights split the traffic, a reload under load loses
nothing, a dead upstream is passed over, a failing one shows."""
from __future__ import annotations

import pytest

from tests.nginx_lb import LoadGenerator, Nginx, Upstream, green_share, upstream_block, wait_until

pytestmark = pytest.mark.timeout(120)


def _set(nginx: Nginx, blue: Upstream, green: Upstream, wb: int, wg: int) -> None:
    with open(nginx.include_path, "w") as f:
        f.write(upstream_block({blue.address: wb, green.address: wg}))
    assert nginx.run("-t").returncode == 0
    old = nginx.worker_pids()
    nginx.reload()
    # the reload has taken effect when the old workers are gone
    wait_until(lambda: nginx.worker_pids() and not (nginx.worker_pids() & old), 60, "nginx's new workers")


def test_weights_split_and_reload_under_load_loses_nothing(tmp_path, pair):
    blue, green = pair
    with Nginx(str(tmp_path), upstream_block({blue.address: 100, green.address: 0})) as nginx:
        with LoadGenerator(nginx.url, workers=4) as load:
            first = load.wait_for(load.mark(), 200, 60)
            assert green_share(first) == 0.0
            _set(nginx, blue, green, 90, 10)
            mark = load.mark()
            step = load.wait_for(mark, 1000, 120)
            _set(nginx, blue, green, 50, 50)
            half = load.wait_for(load.mark(), 1000, 120)
        log = nginx.error_log_text()[-2000:]   # a server nginx took out of rotation shows here
        assert abs(green_share(step) - 10) <= 5, (green_share(step), log)
        assert abs(green_share(half) - 50) <= 5, (green_share(half), log)
        failed = [r for r in load.results if r.failed]
        assert failed == [], failed[:3]


def test_dead_upstream_is_passed_over_and_failing_one_shows(tmp_path, pair):
    blue, green = pair
    with Nginx(str(tmp_path), upstream_block({blue.address: 50, green.address: 50})) as nginx:
        load = LoadGenerator(nginx.url, workers=2)
        green.set_mode("error")
        mixed = [load.request() for _ in range(40)]
        assert {r.status for r in mixed} >= {503, 200}
        assert all(r.colour == "green" for r in mixed if r.status == 503)
        green.set_mode("wrong")
        wrong = [r for r in (load.request() for _ in range(40)) if r.colour == "green"]
        assert wrong and all(r.status == 200 and not r.right for r in wrong)
        # a refused connection is passed to the next server (proxy_next_upstream
        # error), and the dead one is out of rotation for fail_timeout (10 s)
        green.stop()
        after_stop = [load.request() for _ in range(40)]
        assert all(r.right and r.colour == "blue" for r in after_stop)

def test_broken_include_fails_nginx_t(tmp_path, pair):
    blue, green = pair
    nginx = Nginx(str(tmp_path), upstream_block({blue.address: 1}))
    with open(nginx.include_path, "w") as f:
        f.write(f"upstream deepseek {{\n    server {blue.address} weight=oops;\n}}\n")
    r = nginx.run("-t")
    assert r.returncode != 0
    assert nginx.include_path in r.stderr and "weight" in r.stderr
