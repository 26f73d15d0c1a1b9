"""console/gc_policy.py: the one owner of the process's garbage-collector policy.
Each test leaves the collector as it found it."""
from __future__ import annotations

import gc
import threading

import pytest

from console import gc_policy


@pytest.fixture(autouse=True)
def _collector_restored():
    enabled, thresholds = gc.isenabled(), gc.get_threshold()
    yield
    assert gc_policy.pausers() == 0
    gc.set_threshold(*thresholds)
    (gc.enable if enabled else gc.disable)()


def test_a_pause_stops_collection_and_the_end_of_it_restarts_it():
    gc.enable()
    with gc_policy.paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off_after_a_pause():
    # the cache's old gc_paused re-enabled a collector that someone else had turned off
    gc.disable()
    with gc_policy.paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_pauses_on_several_threads_share_one_pause():
    gc.enable()
    first_in, first_may_leave, first_left = (threading.Event() for _ in range(3))

    def first():
        with gc_policy.paused():
            first_in.set()
            first_may_leave.wait(30)
        first_left.set()

    t = threading.Thread(target=first)
    t.start()
    assert first_in.wait(30)
    with gc_policy.paused():
        assert gc_policy.pausers() == 2
        first_may_leave.set()
        assert first_left.wait(30)
        assert not gc.isenabled()       # the first thread left, this one is still loading
    t.join(30)
    assert gc_policy.pausers() == 0 and gc.isenabled()


def test_a_pause_ends_when_its_block_raises():
    gc.enable()
    with pytest.raises(RuntimeError), gc_policy.paused():
        raise RuntimeError("a list that failed half-way")
    assert gc.isenabled()


def test_after_the_first_frame_objects_alive_are_frozen_and_collections_are_rarer():
    gc.unfreeze()
    before = gc.get_freeze_count()
    keep = [[] for _ in range(1000)]     # lists: objects the collector tracks
    try:
        gc_policy.after_first_frame()
        assert gc.get_freeze_count() >= before + len(keep)
        assert gc.get_threshold() == gc_policy.CONSOLE_THRESHOLDS
        assert gc_policy.CONSOLE_THRESHOLDS[0] > 700     # Python's default young threshold
    finally:
        gc.unfreeze()
