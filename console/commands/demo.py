"""`dsconsole demo`: the dashboard on the embedded demo site, with the
simulator's options (what plain `dsconsole` does when no site is configured)."""
from __future__ import annotations

import argparse

from console.commands.demo_site_options import add_demo_site_arguments

# the options of console/cli.py SITE_OPTIONS this command uses
SITE_OPTIONS = ("read_only", "operator", "theme")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_demo_site_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from console.commands import open as open_command
    args.demo = True
    return open_command.run(args)
