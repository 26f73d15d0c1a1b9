"""The demo site's backups: a 3-2-1 setup on this machine alone, so the
wizard can be tried without hosts. Under the state directory: a small sample
model directory (a sparse weight file and a little random data), a generated
repository password (mode 0600), four local repositories standing in for the
production, same-city, off-site and offline copies, and the site file that
names them; the demo cluster's objects are backed up when its kubeconfig is
given."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

from console import paths


def demo_dir() -> Path:
    return paths.state_dir() / "demo-backup"


def _sample_model(d: Path) -> None:
    if (d / "config.json").exists():
        return
    d.mkdir(parents=True, exist_ok=True)
    with open(d / "model-00001-of-00002.safetensors", "wb") as f:
        f.truncate(64 * 1024 * 1024)                   # sparse: weights stand-in
        f.seek(32 * 1024 * 1024)
        f.write(os.urandom(4096))
    (d / "model-00002-of-00002.safetensors").write_bytes(os.urandom(1024 * 1024))
    (d / "config.json").write_text('{"model_type": "deepseek_v3", "demo": true}\n')


def demo_site_file(kubeconfig: str | None = None) -> Path:
    """Write (or refresh) the demo's backup site file; returns its path."""
    base = demo_dir()
    base.mkdir(parents=True, exist_ok=True)
    model = base / "models" / "deepseek-demo"
    _sample_model(model)
    pw = base / "restic.pass"
    if not pw.exists():
        fd = os.open(pw, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(24) + "\n")
    repos = base / "repositories"
    lines = ["name: demo\n"]
    if kubeconfig:
        lines.append(f"cluster:\n  kubeconfig: {kubeconfig}\n  namespace: deepseek\n")
    lines.append(f"backup:\n  password_file: {pw}\n  sources:\n"
                 f"    - name: weights\n      path: {model}\n")
    if kubeconfig:
        lines.append("    - name: objects\n      kind: kubernetes\n")
    lines.append("    - name: site\n      kind: site-file\n    - name: audit\n      kind: audit-log\n"
                 "  copies:\n")
    for name, kind, medium in (("primary", "production", "ssd"), ("city", "same-city", "hdd"),
                               ("offsite", "off-site", "object"), ("vault", "offline", "removable")):
        lines.append(f"    - name: {name}\n      kind: {kind}\n      medium: {medium}\n"
                     f"      repository: {repos / name}\n")
    lines.append(f"  policy:\n    read_data_subset_pct: 20\n    scratch_dir: {base / 'scratch'}\n"
                 "    keep_last: 3\n")
    site = base / "site.yaml"
    tmp = site.with_suffix(".tmp")
    tmp.write_text("".join(lines))
    tmp.replace(site)
    return site
