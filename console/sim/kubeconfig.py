"""A kubeconfig for the demo site: context `dsconsole-demo`, plain HTTP to
127.0.0.1 (written as JSON, which is valid YAML: no yaml import needed)."""
from __future__ import annotations

import json
import os
from pathlib import Path

CONTEXT = "dsconsole-demo"


def kubeconfig_dict(url: str, namespace: str = "deepseek") -> dict:
    return {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": CONTEXT, "cluster": {"server": url}}],
        "users": [{"name": CONTEXT, "user": {}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT, "namespace": namespace}}],
        "current-context": CONTEXT,
    }


def write_kubeconfig(path: Path | str, url: str, namespace: str = "deepseek") -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(kubeconfig_dict(url, namespace), f, indent=2)
        f.write("\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path
