"""Fixture: the offline bundle of this tree (python3 -m console.bundle build),
built once per test session. Building uses the package index; installing from
it does not."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def offline_bundle(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "dsconsole-bundle"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.run([sys.executable, "-m", "console.bundle", "build", str(out)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, f"bundle build failed:\n{p.stdout}\n{p.stderr}"
    return out
