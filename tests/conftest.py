"""Shared pytest setup. Fixtures that start real parts live in their own modules
and are registered here as plugins."""
import pytest

# Real parts started by fixtures in their own modules.
pytest_plugins = ["tests.testhosts", "tests.offline_bundle"]

# Tests never read or write the user's own dsconsole state or config.
@pytest.fixture(autouse=True)
def _isolated_xdg(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    yield


@pytest.fixture(scope="module")
def small_site():
    """A small demo site (4 nodes x 4 GPUs), one per test module that uses it
    (tests may fail nodes and crash pods on it)."""
    from console.sim.demo_site import start_demo_site
    s = start_demo_site(nodes=4, gpus_per_node=4, time_scale=20.0, model_load_s=20.0)
    yield s
    s.stop()


@pytest.fixture
def demo():
    """A running demo session (4 nodes x 8 GPUs, synced), for dashboard tests."""
    from console.site_session import SiteSession
    session = SiteSession.demo(nodes=4, gpus_per_node=8, seed=3, time_scale=30.0)
    session.start()
    assert session.wait_synced(30), session.start_error
    yield session
    session.stop()


@pytest.fixture
def pair():
    """A blue and a green upstream server on loopback (tests/nginx_lb.py)."""
    from tests.nginx_lb import Upstream
    blue, green = Upstream("blue").start(), Upstream("green").start()
    yield blue, green
    blue.stop()
    green.stop()
