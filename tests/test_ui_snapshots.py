"""SVG snapshots of the overview (80x24 and 160x48) on a seeded, time-frozen demo
site, with the dashboard's clock fixed at the frozen site's epoch so every age
renders the same. Update after a deliberate change of the looks with
`python3 -m pytest tests/test_ui_snapshots.py --snapshot-update` and review the SVGs."""
from __future__ import annotations

import time

import pytest

from console.sim.clock import FROZEN_EPOCH
from console.site_session import SiteSession
from screens.app import DashboardApp

pytestmark = pytest.mark.timeout(120)
SPARK_POINTS = 12  # the GPU panel's history sparkline shows the last 12 polls


@pytest.fixture(scope="module")
def frozen_demo():
    session = SiteSession.demo(seed=11, frozen=True)
    session.start()
    try:
        assert session.wait_synced(30), session.start_error
        # the sparkline shows the last 12 polls: wait until every host has them, so
        # the picture does not depend on how long the site has been up
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            gpus = session.snapshot().gpus
            if len(gpus) == 8 and all(
                    st.util_history and min(len(h) for h in st.util_history.values()) >= SPARK_POINTS
                    for st in gpus.values()):
                break
            time.sleep(0.2)
        else:
            raise AssertionError("GPU history did not fill up")
        yield session
    finally:
        session.stop()


async def _until_complete(pilot) -> None:
    app = pilot.app
    deadline = time.monotonic() + 20
    while app.first_frame_at is None and time.monotonic() < deadline:
        await pilot.pause(0.05)
    assert app.first_frame_at is not None, "the overview never filled"
    await pilot.pause(0.2)


def frozen_app(session) -> DashboardApp:
    return DashboardApp(session, clock=lambda: FROZEN_EPOCH)


def test_overview_80x24(snap_compare, frozen_demo):
    assert snap_compare(frozen_app(frozen_demo), terminal_size=(80, 24), run_before=_until_complete)


def test_overview_160x48(snap_compare, frozen_demo):
    assert snap_compare(frozen_app(frozen_demo), terminal_size=(160, 48), run_before=_until_complete)
