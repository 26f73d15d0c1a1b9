"""The offline bundle's target (console/bundle/target.py) and its bad input:
what pip is asked for, and errors that say what was expected (exit 2)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from console.bundle.requirements import wheel_name_version
from console.bundle.target import Target, current, parse

ROOT = Path(__file__).resolve().parents[1]


def test_platform_tags_name_every_glibc_up_to_the_targets():
    tags = Target(python="3.12", machine="aarch64", glibc=(2, 28)).platform_tags()
    assert tags[0] == "manylinux_2_28_aarch64" and "manylinux_2_17_aarch64" in tags
    assert "manylinux2014_aarch64" in tags and "manylinux_2_29_aarch64" not in tags
    assert not any("x86_64" in t for t in tags)
    args = Target(python="3.12", machine="aarch64", glibc=(2, 28)).pip_args()
    assert args[:3] == ["--only-binary=:all:", "--python-version", "3.12"]
    assert ["--abi", "cp312"] == args[args.index("cp312") - 1:args.index("cp312") + 1]


def test_the_default_target_is_this_machine():
    here = current()
    assert here.python == f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert parse() == here
    assert parse(machine="aarch64", glibc="2.31") == Target(python=here.python, machine="aarch64", glibc=(2, 31))


@pytest.mark.parametrize("kw, expected", [
    ({"python": "3.9"}, "expected one of 3.11, 3.12, 3.13"),
    ({"machine": "riscv64"}, "expected one of x86_64, aarch64"),
    ({"glibc": "2.5"}, "at least 2.17"),
    ({"glibc": "new"}, "expected a glibc version like 2.28"),
])
def test_bad_targets_say_what_was_expected(kw, expected):
    with pytest.raises(ValueError, match=expected):
        parse(**kw)


def test_wheel_names():
    assert wheel_name_version("PyYAML-6.0.2-cp311-cp311-manylinux_2_17_x86_64.whl") == ("pyyaml", "6.0.2")
    assert wheel_name_version("deepseek_console-0.1.0-py3-none-any.whl") == ("deepseek-console", "0.1.0")
    with pytest.raises(ValueError, match="not a wheel file name"):
        wheel_name_version("setup.tar.gz")


def test_build_refuses_bad_input_with_exit_2(tmp_path):
    def build(*args):
        return subprocess.run([sys.executable, "-m", "console.bundle", "build", *args], capture_output=True,
                              text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=60)
    used = tmp_path / "used"
    used.mkdir()
    (used / "something").write_text("")
    for args, expected in ((["--python-version", "2.7", str(tmp_path / "b")], "expected one of 3.11"),
                           ([str(used)], "exists and is not empty"),
                           (["--extra", "nope", str(tmp_path / "b")], "not an extra of"),
                           (["--project", str(tmp_path), str(tmp_path / "b")], "expected a source checkout")):
        p = build(*args)
        assert p.returncode == 2 and expected in p.stderr and "Traceback" not in p.stderr, (args, p.stderr)
