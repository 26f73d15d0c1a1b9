"""`dsconsole demo`: the dashboard on the embedded demo site, with the
simulator's options (what plain `dsconsole` does when no site is configured)."""
from __future__ import annotations

import argparse


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nodes", type=_positive_int, metavar="N", help="GPU nodes (default 8)")
    parser.add_argument("--gpus-per-node", type=_positive_int, metavar="G", help="GPUs per node (default 8)")
    parser.add_argument("--replicas", type=_non_negative_int, metavar="R",
                        help="model-server replicas (default: fill the GPUs)")
    parser.add_argument("--time-scale", type=_positive_float, metavar="X",
                        help="simulated seconds per real second (default 1)")
    parser.add_argument("--seed", type=_non_negative_int, metavar="S", help="random seed (default 0)")


def run(args: argparse.Namespace) -> int:
    from console.commands import open as open_command
    args.demo = True
    return open_command.run(args)
