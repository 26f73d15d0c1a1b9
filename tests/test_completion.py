"""`dsconsole completion bash|zsh`: the scripts, generated from the parsers,
driven by the real shells (bash with COMP_WORDS and the completion function;
zsh with its syntax check and the function over $words)."""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def script(shell: str, tmp_path: Path) -> Path:
    p = subprocess.run([sys.executable, "-m", "console", "completion", shell], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=60)
    assert p.returncode == 0, p.stderr
    path = tmp_path / f"dsconsole.{shell}"
    path.write_text(p.stdout)
    return path


def bash_complete(path: Path, line: str) -> list[str]:
    """What bash offers for `line` (the cursor at its end), through the function
    the script registers with `complete -F`."""
    driver = r'''
source "$1"
fn=$(complete -p dsconsole | sed -n 's/.*-F \([^ ]*\) dsconsole$/\1/p')
read -ra COMP_WORDS <<< "$2"
[[ $2 == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
COMP_LINE=$2; COMP_POINT=${#2}
"$fn" dsconsole "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
'''
    p = subprocess.run(["bash", "--norc", "--noprofile", "-c", driver, "_", str(path), line],
                       capture_output=True, text=True, timeout=30, cwd=path.parent)
    assert p.returncode == 0, p.stderr
    return [w for w in p.stdout.splitlines() if w]


def test_bash_completes_commands_actions_and_options(tmp_path):
    path = script("bash", tmp_path)
    assert bash_complete(path, "dsconsole tu") == ["tune"]
    assert bash_complete(path, "dsconsole tune ap") == ["apply"]
    assert bash_complete(path, "dsconsole tune apply ") == []            # one action only
    assert bash_complete(path, "dsconsole --site x.yaml st") == ["status"]   # a value is skipped
    assert bash_complete(path, "dsconsole hosts t") == ["trust"]
    assert bash_complete(path, "dsconsole hosts trust --y") == ["--yes"]
    offered = bash_complete(path, "dsconsole sim serve --")
    assert "--replicas" in offered and "--churn" in offered and "--theme" not in offered
    assert set(bash_complete(path, "dsconsole d")) == {"demo", "doctor", "drill"}
    # file names for options and positionals that take one
    (tmp_path / "site-a.yaml").write_text("name: a\n")
    assert bash_complete(path, "dsconsole status --site site-") == ["site-a.yaml"]
    assert bash_complete(path, "dsconsole check-config site-") == ["site-a.yaml"]
    assert bash_complete(path, "dsconsole status --timeout ") == []      # a number: nothing to offer


def test_the_levels_follow_the_parser():
    from console.completion import levels
    parser = argparse.ArgumentParser(prog="x")
    parser.add_argument("--conf", metavar="FILE")
    parser.add_argument("--quiet", action="store_true")
    sub = parser.add_subparsers(dest="cmd")
    run = sub.add_parser("run")
    run.add_argument("mode", choices=["fast", "slow"])
    run.add_argument("--count", type=int)
    nested = sub.add_parser("cfg").add_subparsers(dest="what")
    nested.add_parser("show").add_argument("target", metavar="PATH")
    spec = levels(parser)
    assert set(spec) == {"", "run", "cfg", "cfg show"}
    assert spec[""].subcommands == ["run", "cfg"]
    assert spec[""].value_options == ["--conf"] and spec[""].file_options == ["--conf"]
    assert "--quiet" in spec[""].options and "--quiet" not in spec[""].value_options
    assert spec["run"].choices == ["fast", "slow"] and spec["run"].value_options == ["--count"]
    assert spec["cfg"].subcommands == ["show"] and spec["cfg show"].file_positional


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed (Debian zsh; tests/install-deps.sh)")
def test_zsh_script_is_valid_and_completes(tmp_path):
    path = script("zsh", tmp_path)
    p = subprocess.run(["zsh", "-n", str(path)], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    # the function over $words/$CURRENT, with compadd/_files/compdef recording what they get
    driver = r'''
compdef() { :; }
source "$1"
compadd() { [[ $1 == -- ]] && shift; print -r -- "${(j: :)@}"; }
_files() { print FILES; }
words=(${=2}); [[ $2 == *" " ]] && words+=("")
CURRENT=${#words}
_dsconsole
'''

    def offered(line: str) -> str:
        p = subprocess.run(["zsh", "-f", "-c", driver, "_", str(path), line], capture_output=True, text=True,
                           timeout=30)
        assert p.returncode == 0, p.stderr
        return p.stdout.strip()
    assert "tune" in offered("dsconsole tu").split()
    assert "apply" in offered("dsconsole tune ap").split()
    assert offered("dsconsole status --site ") == "FILES"
    assert "--replicas" in offered("dsconsole sim serve --").split()
    assert "--theme" not in offered("dsconsole sim serve --").split()
