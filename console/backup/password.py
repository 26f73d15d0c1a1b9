"""The repository password, from a file or an environment variable named in
the site file (never the site file itself, never a command-line flag)."""
from __future__ import annotations

import os
from collections.abc import Mapping

from console.site_config import BackupConfig


class PasswordError(Exception):
    pass


def read_password(cfg: BackupConfig, env: Mapping[str, str] | None = None) -> str:
    if env is None:
        env = os.environ
    if cfg.password_env:
        value = env.get(cfg.password_env)
        if not value:
            raise PasswordError(f"backup.password_env: {cfg.password_env} is not set; expected the "
                                "repository password in it")
        return value.rstrip("\n")
    if cfg.password_file:
        try:
            with open(cfg.password_file, encoding="utf-8") as f:
                value = f.read().rstrip("\n")
        except OSError as e:
            raise PasswordError(f"backup.password_file: cannot read {cfg.password_file}: "
                                f"{e.strerror}") from None
        if not value or "\n" in value:
            raise PasswordError(f"backup.password_file: {cfg.password_file}: expected one line "
                                "with the password")
        return value
    raise PasswordError("backup: no password_file or password_env")
