"""`dsconsole completion bash|zsh`: print the completion script for the shell,
generated from the parsers of every command (console/completion.py).

  bash: source <(dsconsole completion bash), or save it as
        ~/.local/share/bash-completion/completions/dsconsole
  zsh:  save it as _dsconsole in a directory of $fpath (before compinit)
"""
from __future__ import annotations

import argparse

# the options of console/cli.py SITE_OPTIONS this command uses
SITE_OPTIONS = ()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shell", choices=("bash", "zsh"), help="the shell to print the script for")


def run(args: argparse.Namespace) -> int:
    from console.completion import script
    print(script(args.shell, args.parser), end="")   # the parser of every command (console/cli.py main)
    return 0
