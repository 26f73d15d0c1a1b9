"""TelemetryPoller scheduling and bookkeeping, with scripted sources (what they
return is the input here; real sources over SSH: test_telemetry_hosts.py).
No timed assertions: waits are for events, with generous bounds."""
import threading
import time
from functools import partial

import pytest

from console.hosts.transport import HostUnreachable
from console.telemetry.poller import TelemetryPoller
from console.telemetry.sample import GpuSample, HostTelemetry, XidEvent
from tests.waiting import wait_for

wait_until = partial(wait_for, timeout=20.0, interval=0.005)


class Scripted:
    """A source whose rounds are given by a function of the poll number."""

    def __init__(self, name, round_fn=None):
        self.name = name
        self.round_fn = round_fn or (lambda n: ok(name, util=n))
        self.n = 0
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()

    def read(self):
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            n = self.n
            self.n += 1
        try:
            return self.round_fn(n)
        finally:
            with self._lock:
                self.active -= 1


def ok(host, util=0.0, xids=()):
    now = time.time()
    return HostTelemetry(host, now, "ok", samples=(
        GpuSample(host, 0, now, "test", util_pct=float(util)),
        GpuSample(host, 1, now, "test", util_pct=None, field_errors={"util_pct": "n/a"})),
        xids=xids)


@pytest.fixture
def poller_factory():
    made = []

    def make(*a, **kw):
        p = TelemetryPoller(*a, **kw)
        made.append(p)
        return p
    yield make
    for p in made:
        p.stop()


def test_a_stuck_host_does_not_hold_up_the_others(poller_factory):
    release = threading.Event()
    stuck = Scripted("stuck", lambda n: (release.wait(30), ok("stuck"))[1])
    fast = Scripted("fast")
    p = poller_factory([stuck, fast], interval_s=0.01)
    p.start()
    wait_until(lambda: p.polls("fast") >= 5)
    assert p.polls("stuck") == 0
    assert p.snapshot()["stuck"].state == "pending"
    release.set()
    wait_until(lambda: p.polls("stuck") >= 1)


def test_polls_of_one_host_never_overlap(poller_factory):
    src = Scripted("h", lambda n: (time.sleep(0.002), ok("h"))[1])
    p = poller_factory([src], interval_s=0.0)
    p.start()
    for _ in range(50):
        p.poll_now()
    wait_until(lambda: p.polls("h") >= 30)
    assert src.max_active == 1


def test_ring_buffer_keeps_the_last_values_per_gpu(poller_factory):
    p = poller_factory([Scripted("h")], interval_s=0.0, history=5)
    p.start()
    wait_until(lambda: p.polls("h") >= 8)
    p.stop()
    state = p.snapshot()["h"]
    n = p.polls("h")
    assert state.util_history[0] == tuple(float(i) for i in range(n - 5, n))
    assert 1 not in state.util_history  # no value, no history point


def test_unreachable_host_keeps_its_last_data_with_age_and_recovers(poller_factory):
    down = threading.Event()

    def rounds(n):
        if down.is_set():
            raise HostUnreachable("h", "connection refused")
        return ok("h", util=42)
    updates = []
    p = poller_factory([Scripted("h", rounds)], interval_s=0.01)
    p.on_update(lambda host, state: updates.append((host, state.state)))
    p.start()
    wait_until(lambda: p.snapshot()["h"].state == "ok")
    good = p.snapshot()["h"]
    down.set()
    wait_until(lambda: p.snapshot()["h"].state == "unreachable")
    st = p.snapshot()["h"]
    assert st.latest.error == "connection refused" and st.stale
    assert st.last_ok is not None and st.last_ok >= good.last_ok
    assert st.last_good.samples[0].util_pct == 42.0
    assert st.age_s(now=st.last_ok + 30) == 30
    down.clear()
    wait_until(lambda: p.snapshot()["h"].state == "ok")
    assert not p.snapshot()["h"].stale
    assert ("h", "unreachable") in updates and updates[-1][1] == "ok"


def test_a_source_bug_is_an_error_state_and_polling_goes_on(poller_factory):
    def rounds(n):
        if n == 0:
            raise KeyError("bug")
        return ok("h")
    p = poller_factory([Scripted("h", rounds)], interval_s=0.0)
    seen = []
    p.on_update(lambda host, state: seen.append(state.latest.state))
    p.on_update(lambda host, state: 1 / 0)  # a broken listener changes nothing
    p.start()
    wait_until(lambda: len(seen) >= 2)
    assert seen[0] == "error" and seen[1] == "ok"
    assert p.snapshot()["h"].latest.state == "ok"


def test_xids_are_merged_and_kept(poller_factory):
    e1 = XidEvent("h", 1795890000.0, "0000:3b:00", 1, 79, "fell off the bus")
    e2 = XidEvent("h", 1795890100.0, "0000:3b:00", 1, 13, "SM exception")
    # this source reports only new events each round
    p = poller_factory([Scripted("h", lambda n: ok("h", xids=((e1,), (e2,), ())[min(n, 2)]))],
                       interval_s=0.0)
    p.start()
    wait_until(lambda: p.polls("h") >= 3)
    assert p.snapshot()["h"].xids == (e1, e2)


def test_poll_once_and_stop_leave_no_thread():
    before = {t.name for t in threading.enumerate()}
    p = TelemetryPoller([Scripted("a"), Scripted("b")], interval_s=60)
    states = p.poll_once()
    assert {h: s.state for h, s in states.items()} == {"a": "ok", "b": "ok"}
    p.start()
    wait_until(lambda: p.polls("a") >= 2)
    p.stop()
    assert not [t for t in threading.enumerate() if t.name.startswith("telemetry-")
                and t.name not in before]


def test_duplicate_host_names_are_refused():
    with pytest.raises(ValueError, match="same name"):
        TelemetryPoller([Scripted("a"), Scripted("a")])
