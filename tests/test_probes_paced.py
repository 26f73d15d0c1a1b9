"""console/probes/paced.py: wait_answered waits for the requests sent before
a moment, and only for those (a switch's failed-request count ends there)."""
import threading
import time

from console.probes.paced import PacedThreads
from tests.waiting import wait_for


def test_wait_answered_waits_for_a_request_in_flight_and_not_for_later_ones():
    release = threading.Event()
    lock = threading.Lock()
    sent: list[float] = []        # when each send began
    answered: list[float] = []

    def send() -> None:
        with lock:
            sent.append(time.monotonic())
        release.wait(10)
        with lock:
            answered.append(time.monotonic())

    def in_flight() -> int:
        with lock:
            return len(sent) - len(answered)

    pace = PacedThreads(rate=1000.0, workers=1, join_s=10, name="test-paced")
    pace.start(send)
    try:
        wait_for(lambda: in_flight() == 1, timeout=10, what="a request in flight")
        before = time.monotonic()
        assert not pace.wait_answered(before, 0.2)   # the request sent before `before` has no answer yet
        release.set()
        assert pace.wait_answered(before, 10)
        with lock:
            assert answered[0] >= before
        # requests sent after `before` are not waited for, even while one is unanswered
        release.clear()
        wait_for(lambda: in_flight() == 1 and sent[-1] > before, timeout=10, what="a later request in flight")
        assert pace.wait_answered(before, 0.2)
    finally:
        release.set()
        pace.stop()
