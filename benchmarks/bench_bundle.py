#!/usr/bin/env python3
"""The offline bundle's figures, side by side in one run:
  - build time and size (wheels, directory, tarball) of the bundle for this
    machine, and of the same bundle with the `auth-provider` extra (the
    official kubernetes client and its dependencies, a plain runtime
    dependency before), so the cost of that dependency is seen next to it;
  - install time from the default bundle (install.sh into a fresh venv) in a
    network namespace with only loopback (unshare --net, as root; elsewhere on
    the normal network, said so), then `dsconsole --version` from it.
Build times depend on pip's cache: --cold builds with PIP_NO_CACHE_DIR=1 (every
wheel downloaded from the index). Prints figures only; asserts nothing.

    python3 benchmarks/bench_bundle.py [--cold]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024


def build(out: Path, extras: list[str], cold: bool) -> float:
    env = dict(os.environ, PYTHONPATH=str(REPO), **({"PIP_NO_CACHE_DIR": "1"} if cold else {}))
    cmd = [sys.executable, "-m", "console.bundle", "build", str(out)]
    for extra in extras:
        cmd += ["--extra", extra]
    started = time.monotonic()
    subprocess.run(cmd, cwd=REPO, env=env, check=True, capture_output=True, text=True)
    return time.monotonic() - started


def describe(label: str, out: Path, seconds: float) -> None:
    wheels = list(out.glob("*.whl"))
    tarball = out.parent / f"{out.name}.tar.gz"
    size = sum(p.stat().st_size for p in out.iterdir())
    print(f"{label:<28} build {seconds:6.1f} s   {len(wheels):3d} wheels   dir {size / MIB:6.1f} MiB   "
          f"tarball {tarball.stat().st_size / MIB:6.1f} MiB")


def install(bundle: Path, work: Path) -> tuple[float, str]:
    home = work / "home"
    home.mkdir()
    env = {"PATH": f"{os.path.dirname(sys.executable)}:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}
    cmd = ["sh", str(bundle / "install.sh"), "--venv", str(work / "venv")]
    where = "normal network (not root: no unshare --net)"
    if os.geteuid() == 0 and shutil.which("unshare"):
        cmd = ["unshare", "--net", *cmd]
        where = "network namespace with only loopback"
    started = time.monotonic()
    subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
    return time.monotonic() - started, where


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cold", action="store_true", help="build without pip's cache (PIP_NO_CACHE_DIR=1)")
    args = ap.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, pip cache {'off' if args.cold else 'on'}")
    with tempfile.TemporaryDirectory(prefix="bench-bundle-") as tmp:
        tmp = Path(tmp)
        plain = tmp / "plain" / "dsconsole-bundle"
        describe("bundle (runtime deps)", plain, build(plain, [], args.cold))
        with_k8s = tmp / "k8s" / "dsconsole-bundle"
        describe("bundle + auth-provider extra", with_k8s, build(with_k8s, ["auth-provider"], args.cold))
        (tmp / "install").mkdir()
        seconds, where = install(plain, tmp / "install")
        print(f"install from the bundle       {seconds:6.1f} s   into a fresh venv, {where}")
        version = subprocess.run([str(tmp / "install" / "venv" / "bin" / "dsconsole"), "--version"],
                                 capture_output=True, text=True, check=True).stdout.splitlines()[0]
        print(f"installed: {version}")


if __name__ == "__main__":
    main()
