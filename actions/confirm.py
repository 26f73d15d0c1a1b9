"""Confirmation of changes to hosts, and the read-only refusal.

A destructive action names its targets (DESIGN.md): for one host the prompt
names it and takes yes; for more than one host the operator types how many
hosts will be changed, so a wrong `--hosts` list cannot be waved through.
"""
from __future__ import annotations


class ReadOnlyRefused(Exception):
    """The session is read-only: every apply, rollback and resume is refused."""

    def __init__(self, action: str):
        super().__init__(f"read-only session: {action} refused (started with --read-only)")
        self.action = action


class ConfirmationRequired(Exception):
    """An action that changes hosts was started without a confirmation."""


def prompt(action: str, hosts: list[str]) -> str:
    names = ", ".join(hosts)
    if len(hosts) == 1:
        return f"{action} on host {names}? Type yes to confirm: "
    return f"{action} on {len(hosts)} hosts: {names}. Type the number of hosts ({len(hosts)}) to confirm: "


def accepts(hosts: list[str], answer: str) -> bool:
    answer = (answer or "").strip().lower()
    if len(hosts) == 1:
        return answer in ("yes", "y")
    return answer == str(len(hosts))
