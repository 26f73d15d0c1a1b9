"""Placeholder until its issue lands; replaced by the module's owner."""
import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    print("dsconsole: this command is not built yet")
    return 2
