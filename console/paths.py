"""XDG locations for dsconsole's own files (state, config, known_hosts)."""
from __future__ import annotations

import os
from pathlib import Path


def _xdg(var: str, default: str) -> Path:
    base = os.environ.get(var) or str(Path.home() / default)
    path = Path(base) / "dsconsole"
    return path


def config_dir() -> Path:
    return _xdg("XDG_CONFIG_HOME", ".config")


def state_dir() -> Path:
    """Journals, audit log, demo kubeconfig."""
    return _xdg("XDG_STATE_HOME", ".local/state")


def ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
