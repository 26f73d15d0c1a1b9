"""SVG snapshots of the overview (80x24 and 160x48) on a seeded, time-frozen demo
site, with the dashboard's clock fixed at the frozen site's epoch so every age
renders the same. Update after a deliberate change of the looks with
`python3 -m pytest tests/test_ui_snapshots.py --snapshot-update` and review the SVGs.

One thing the seed does not fix: the demo's pod template carries the model
servers' port (a free port, different each run), so the ReplicaSet's
pod-template-hash in pod names changes from run to run. `stable_svg` replaces
that 10-character hash with a fixed one of the same length (nothing else moves),
the way pytest-textual-snapshot itself normalises the SVG's random ids."""
from __future__ import annotations

import re
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


_TEMPLATE_HASH = re.compile(r"(deepseek-v3-)[a-z0-9]{10}(-)")


def stable_svg(svg: str) -> str:
    return _TEMPLATE_HASH.sub(r"\1templhash0\2", svg)


@pytest.fixture
def svg_compare(snapshot):
    """snap_compare's SVG snapshot, with the pod-template-hash made stable."""
    from pytest_textual_snapshot import SVGImageExtension
    from textual._doc import take_svg_screenshot

    def compare(app, size: tuple[int, int]) -> bool:
        svg = take_svg_screenshot(app=app, terminal_size=size, run_before=_until_complete)
        return snapshot.use_extension(SVGImageExtension) == stable_svg(svg)
    return compare


def test_overview_80x24(svg_compare, frozen_demo):
    assert svg_compare(frozen_app(frozen_demo), (80, 24))


def test_overview_160x48(svg_compare, frozen_demo):
    assert svg_compare(frozen_app(frozen_demo), (160, 48))
