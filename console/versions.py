"""`dsconsole --version`: what an incident note needs to know about this install."""
from __future__ import annotations

import platform
import sys

# the distributions whose version matters when something misbehaves
REPORTED = ("textual", "paramiko", "msgspec")


def distribution_version(name: str) -> str:
    from importlib import metadata
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def version_text() -> str:
    lines = [f"dsconsole {distribution_version('deepseek-console')}",
             f"python {platform.python_version()} ({sys.executable})"]
    lines += [f"{name} {distribution_version(name)}" for name in REPORTED]
    return "\n".join(lines)
