"""requirements.txt for a directory of wheels: every wheel pinned to its exact
version and SHA-256, so `pip install --require-hashes` installs exactly these
files and refuses anything else (a wheel swapped on the removable media)."""
from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def wheel_name_version(filename: str) -> tuple[str, str]:
    """('pyyaml', '6.0.2') from 'PyYAML-6.0.2-cp311-...whl' (the wheel file name
    spec: distribution-version(-build)?-python-abi-platform.whl)."""
    parts = filename[:-len(".whl")].split("-")
    if not filename.endswith(".whl") or len(parts) not in (5, 6):
        raise ValueError(f"{filename}: not a wheel file name (name-version-python-abi-platform.whl)")
    return parts[0].replace("_", "-").lower(), parts[1]


def requirements_text(wheel_dir: Path) -> str:
    lines = ["# Every wheel of this bundle, pinned with its SHA-256 (pip install --require-hashes).\n"]
    for wheel in sorted(wheel_dir.glob("*.whl"), key=lambda p: p.name.lower()):
        name, version = wheel_name_version(wheel.name)
        lines.append(f"{name}=={version} --hash=sha256:{sha256_of(wheel)}\n")
    return "".join(lines)
