"""The load-balancer upstream loss drill (issue 15) with a real nginx on
loopback and real upstream servers (tests/nginx_lb.py): one upstream stops,
real completions go through the balancer all along, the errors a client saw
are counted, the time until nginx takes the upstream out of rotation is read
from nginx's error log and checked against the configured max_fails /
fail_timeout; the rollback starts the upstream again, also from a killed
console's journal."""
from __future__ import annotations

import json

import pytest

from actions.drills import store
from actions.drills.lb_loss import Balancer, LbUpstreamLoss
from actions.drills.outcomes import COMPLETED
from tests.nginx_lb import Nginx, Upstream

pytestmark = pytest.mark.timeout(180)
MAX_FAILS, FAIL_TIMEOUT_S = 2, 6


class FixtureControl:
    """The fixture's servers as the drill's UpstreamControl."""

    def __init__(self, nginx: Nginx, upstreams: list[Upstream]):
        self.nginx = nginx
        self.by_address = {u.address: u for u in upstreams}
        self.calls: list[str] = []

    def stop_upstream(self, address: str) -> None:
        self.calls.append(f"stop {address}")
        self.by_address[address].stop()

    def start_upstream(self, address: str) -> None:
        self.calls.append(f"start {address}")
        self.by_address[address].start()

    def error_log(self) -> str:
        return self.nginx.error_log_text()


def _block(blue: Upstream, green: Upstream) -> str:
    return ("upstream deepseek {\n"
            + "".join(f"    server {u.address} max_fails={MAX_FAILS} fail_timeout={FAIL_TIMEOUT_S}s;\n"
                      for u in (blue, green)) + "}\n")


def test_upstream_loss_errors_and_time_out_of_rotation(tmp_path):
    blue, green = Upstream("blue").start(), Upstream("green").start()
    try:
        with Nginx(str(tmp_path), _block(blue, green)) as nginx:
            control = FixtureControl(nginx, [blue, green])
            drill = LbUpstreamLoss(Balancer("127.0.0.1", nginx.port), green.address, control,
                                   max_fails=MAX_FAILS, fail_timeout_s=FAIL_TIMEOUT_S, observe_s=1.0,
                                   site="test")
            rep = drill.run("typed green's address")
            assert rep["status"] == COMPLETED, rep["error"]
            m = rep["measurements"]
            # nginx passes a refused connection on to the other upstream; what a client can see is a
            # request the upstream had already taken when it stopped (a POST is not retried): at most
            # one per prober worker in flight
            during = rep["steady_state"]["during"]
            assert during["sent"] > 0 and m["errors_seen"] == during["sent"] - during["succeeded"]
            assert m["errors_seen"] <= drill.prober.workers
            assert m["attempts_at_dead_upstream"] >= MAX_FAILS
            assert m["out_of_rotation_s"] is not None and 0 < m["out_of_rotation_s"] <= FAIL_TIMEOUT_S
            assert rep["verdicts"]["out_of_rotation"]["met"]
            assert rep["verdicts"]["availability"]["met"] == (during["success_rate"] >= 0.9995)
            assert control.calls == [f"stop {green.address}", f"start {green.address}"] and green.running
            assert [(b["op"], b["ok"]) for b in rep["rollbacks"]] == [("start_upstream", True)]
            assert rep["steady_state"]["after"]["ok"]
            saved = json.loads((store.drills_dir() / f"{rep['run_id']}.json").read_text())
            assert saved == json.loads(json.dumps(rep)) and store.unfinished() == []
    finally:
        blue.stop()
        green.stop()


def test_killed_console_rollback_starts_the_upstream(tmp_path):
    """What a console killed right after the stop leaves: the run's journal
    with the undo written before the stop and no end. `rollback_run` (what
    `drill rollback RUN` calls) starts the upstream again."""
    blue, green = Upstream("blue").start(), Upstream("green").start()
    try:
        with Nginx(str(tmp_path), _block(blue, green)) as nginx:
            control = FixtureControl(nginx, [blue, green])
            j = store.new_journal({"drill": "lb-upstream-loss", "title": "t", "site": "test", "context": None,
                                   "blast_radius": {"upstream": green.address}, "time_scale": 1.0})
            j.write({"t": "undo", "id": 1, "op": "start_upstream", "upstream": green.address})
            control.stop_upstream(green.address)
            j.close()     # the process is gone: its journal lock with it
            pending = store.unfinished()
            assert [p["op"] for p in pending[0]["pending"]] == ["start_upstream"]
            done = store.rollback_run(pending[0]["run_id"], None, control)
            assert [(b["op"], b["ok"]) for b in done] == [("start_upstream", True)] and green.running
            assert store.unfinished() == []
    finally:
        blue.stop()
        green.stop()
