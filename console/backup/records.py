"""What the console remembers about each copy beyond the repository itself:
its last verifications (restic check, restore drill) and, for an offline copy,
when it was detached and what it held then. One JSON file per site and copy in
the state directory, replaced atomically."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

from console import paths


def _file(site: str, copy: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", site)
    return paths.state_dir() / "backup" / safe / f"{copy}.json"


def load(site: str, copy: str) -> dict:
    try:
        return json.loads(_file(site, copy).read_text())
    except (FileNotFoundError, ValueError):
        return {}


def update(site: str, copy: str, **changes: object) -> dict:
    """Merge `changes` into the copy's record (a value None removes the key)."""
    rec = load(site, copy)
    for k, v in changes.items():
        if v is None:
            rec.pop(k, None)
        else:
            rec[k] = v
    path = _file(site, copy)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(rec, indent=1))
    os.replace(tmp, path)
    return rec
