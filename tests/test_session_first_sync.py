"""The first synced snapshot a session publishes carries an alert evaluation of
that synced data (the dashboard's first complete frame waits for one; the
engine's own 1 s cadence must not delay it). Real demo site, real cache."""
import time

import pytest

from console.site_session import SiteSession

pytestmark = pytest.mark.timeout(60)


def test_first_synced_snapshot_has_alerts_evaluated_on_it():
    s = SiteSession.demo(nodes=2, gpus_per_node=2, session_options={"probes": False})
    published = []
    s.subscribe(published.append)
    s.start()
    try:
        assert s.wait_synced(30), s.start_error
        deadline = time.monotonic() + 10
        while not any(p.synced for p in published):   # the subscriber runs after publication
            assert time.monotonic() < deadline, "no synced snapshot reached the subscriber"
            time.sleep(0.01)
        first = next(p for p in published if p.synced)
        assert first.alerts_time is not None, "first synced snapshot without an alert evaluation"
        assert first.alerts_time <= first.time
        assert s.alerts.evaluated_at is not None
        earlier = [p for p in published if not p.synced]
        assert all(p.alerts_time is None for p in earlier), "an evaluation before sync counted as synced"
    finally:
        s.stop()
