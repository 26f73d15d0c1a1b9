"""Build an offline bundle: the project's wheel, the wheels of its runtime
dependencies for a target (resolved by pip from the wheel's own metadata, i.e.
from pyproject.toml's [project].dependencies and the extras asked for: no list
of ours to keep in step), requirements.txt with hashes, install.sh, and a
tarball of it all with its SHA-256."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from console.bundle.requirements import requirements_text, sha256_of
from console.bundle.target import Target

# what the project's wheel is built from: the source tree minus what is not packaged
_NOT_PACKAGED = shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
                                       ".hypothesis", "tests", "benchmarks", ".venv", ".whl", ".gl")


class BundleError(Exception):
    """The bundle could not be built; str() says why (exit 1) -- or, for
    BadInput, what was expected (exit 2)."""


class BadInput(BundleError):
    pass


@dataclass(frozen=True)
class Bundle:
    directory: Path
    tarball: Path
    sha256: str
    tarball_bytes: int
    directory_bytes: int
    wheels: tuple[str, ...]
    target: Target


def project_root() -> Path:
    """The source checkout this module runs from (the folder with pyproject.toml)."""
    return Path(__file__).resolve().parents[2]


def read_project(root: Path) -> dict:
    path = root / "pyproject.toml"
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)["project"]
    except FileNotFoundError:
        raise BadInput(f"{path}: not found; expected a source checkout of dsconsole (--project DIR)") from None
    except (tomllib.TOMLDecodeError, KeyError) as e:
        raise BadInput(f"{path}: expected a [project] table: {e}") from None


def build(out: Path, target: Target, *, extras: tuple[str, ...] = (), root: Path | None = None,
          log: Callable[[str], object] = print) -> Bundle:
    root = root or project_root()
    project = read_project(root)
    known = set(project.get("optional-dependencies", {}))
    for extra in extras:
        if extra not in known:
            raise BadInput(f"--extra {extra!r}: not an extra of {root / 'pyproject.toml'}; "
                           f"expected one of {', '.join(sorted(known)) or '(none)'}")
    if out.exists() and any(out.iterdir()):
        raise BadInput(f"{out}: exists and is not empty; expected a new or empty directory")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="dsconsole-bundle-") as tmp:
        log(f"building {project['name']} {project['version']} from {root}")
        wheel = _project_wheel(root, Path(tmp))
        shutil.copy2(wheel, out / wheel.name)
        log(f"downloading its runtime dependencies for {target.name}")
        spec = str(out / wheel.name) + (f"[{','.join(extras)}]" if extras else "")
        _pip(["download", "--dest", str(out), *target.pip_args(), spec])
    (out / "requirements.txt").write_text(requirements_text(out))
    install = out / "install.sh"
    install.write_text(resources.files("console.bundle").joinpath("install.sh").read_text())
    install.chmod(0o755)
    wheels = tuple(sorted(p.name for p in out.glob("*.whl")))
    (out / "bundle.json").write_text(json.dumps({
        "name": project["name"], "version": project["version"], "target": target.name,
        "python": target.python, "machine": target.machine, "glibc": ".".join(map(str, target.glibc)),
        "extras": list(extras), "wheels": list(wheels)}, indent=2) + "\n")
    tarball = out.parent / f"{out.name}.tar.gz"
    _tar(out, tarball)
    digest = sha256_of(tarball)
    (out.parent / f"{tarball.name}.sha256").write_text(f"{digest}  {tarball.name}\n")   # sha256sum -c
    return Bundle(directory=out, tarball=tarball, sha256=digest, tarball_bytes=tarball.stat().st_size,
                  directory_bytes=sum(p.stat().st_size for p in out.iterdir() if p.is_file()),
                  wheels=wheels, target=target)


def _project_wheel(root: Path, tmp: Path) -> Path:
    """Build the project's wheel from a copy of the tree, so the checkout gets no
    build/ or *.egg-info of ours."""
    src = tmp / "src"
    shutil.copytree(root, src, ignore=_NOT_PACKAGED)
    _pip(["wheel", "--no-deps", "--wheel-dir", str(tmp / "wheel"), str(src)])
    wheels = list((tmp / "wheel").glob("*.whl"))
    if len(wheels) != 1:
        raise BundleError(f"pip wheel {root}: expected one wheel, got {[w.name for w in wheels]}")
    return wheels[0]


def _pip(args: list[str]) -> None:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        # pip's own last lines say which package or tag it could not find
        tail = "\n".join((p.stderr or p.stdout).strip().splitlines()[-12:])
        raise BundleError(f"pip {args[0]} failed (exit {p.returncode}):\n{tail}")


def _tar(directory: Path, tarball: Path) -> None:
    def clean(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(directory, arcname=directory.name, filter=clean, recursive=False)
        for path in sorted(directory.iterdir()):
            tar.add(path, arcname=f"{directory.name}/{path.name}", filter=clean)
