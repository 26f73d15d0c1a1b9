"""Shared pytest setup. Fixtures that start real parts live in their own modules
and are registered here as plugins."""
import pytest

# Real parts started by fixtures in their own modules.
pytest_plugins = ["tests.testhosts"]

# Tests never read or write the user's own dsconsole state or config.
@pytest.fixture(autouse=True)
def _isolated_xdg(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    yield
