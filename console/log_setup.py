"""Where log records go: dsconsole.log in the XDG state directory, never the terminal.

Set up once by console/cli.py main for every command. Without a handler, Python
prints WARNING and above to stderr (its last-resort handler): paramiko's
transport thread would print a traceback for every host that fails the SSH
handshake, urllib3 its retries, console.ssh its host-key refusals -- over the
report of a CLI command, or through the middle of the dashboard's screen. Every
command already reports failures in its own words; the log file keeps the detail.

Levels are capped so nothing secret is written: paramiko logs packets and
authentication details only at DEBUG, and it is held at WARNING here whatever
the root level is. Our own loggers (console.*) log at INFO (connects,
reconnects, host-key refusals with fingerprints; never keys, tokens or passwords).
"""
from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from console import paths
from console.redact import redact

LOG_NAME = "dsconsole.log"
MAX_BYTES = 1_000_000   # one file of about 1 MB, plus two rotated ones
BACKUPS = 2
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RedactingFormatter(logging.Formatter):
    """Records as FORMAT says, with URL user information redacted (console.redact):
    a message or traceback that names a server or proxy URL keeps its password out."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record)) or ""


def _is_ours(h: logging.Handler) -> bool:
    return getattr(h, "_dsconsole", False)


def setup_logging() -> logging.Handler:
    """Route every log record to the state directory's log file (a NullHandler
    when that directory cannot be written). Idempotent: calling it again (tests
    run main() many times, each with its own XDG dirs) replaces the handler."""
    root = logging.getLogger()
    for h in [h for h in root.handlers if _is_ours(h)]:
        root.removeHandler(h)
        h.close()
    try:
        log_dir = paths.ensure(paths.state_dir())
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            log_dir / LOG_NAME, maxBytes=MAX_BYTES, backupCount=BACKUPS, delay=True,
            encoding="utf-8")
        handler.setFormatter(RedactingFormatter(FORMAT))
    except OSError:
        handler = logging.NullHandler()
    handler._dsconsole = True  # type: ignore[attr-defined]
    handler.setLevel(logging.INFO)
    root.addHandler(handler)
    logging.getLogger("console").setLevel(logging.INFO)
    logging.getLogger("paramiko").setLevel(logging.WARNING)  # DEBUG would dump packets
    return handler


def log_path() -> Path:
    return paths.state_dir() / LOG_NAME
