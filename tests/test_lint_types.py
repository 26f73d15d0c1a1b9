"""ruff and mypy on every test run (configured in pyproject.toml): a finding
fails the suite with the tools' own output. mypy keeps its cache in a temp
dir, so a run never writes into the tree."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.timeout(300)


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=280)


def test_ruff_is_clean():
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (pip install '.[test]')")
    r = _run([ruff, "check", "--no-cache", "console", "actions", "screens", "themes", "tests", "benchmarks"])
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_is_clean(tmp_path_factory):
    pytest.importorskip("mypy", reason="mypy is not installed (pip install '.[test]')")
    cache = tmp_path_factory.mktemp("mypy-cache")
    r = _run([sys.executable, "-m", "mypy", "--cache-dir", str(cache)])   # files and options: pyproject.toml
    assert r.returncode == 0, r.stdout + r.stderr
