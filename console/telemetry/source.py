"""TelemetrySource: what the poller polls, and how failures become host states.

A source's `read()` never raises. Sources catch what they know; `safe_read` is the
poller's last line of defence for what they do not, so one broken host (or one
bug) never stops the others from being polled.
"""
from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

from console.hosts.transport import (
    CommandTimeout,
    HostKeyError,
    HostRefused,
    HostUnreachable,
    SudoPasswordRequired,
    TransportError,
)
from console.telemetry.sample import HostTelemetry


@runtime_checkable
class TelemetrySource(Protocol):
    name: str

    def read(self) -> HostTelemetry:
        """One telemetry round of this host. Never raises."""
        ...


def telemetry_from_exception(host: str, exc: BaseException, *, what: str = "") -> HostTelemetry:
    """The host state a transport failure (or an unexpected bug) stands for."""
    now = time.time()
    if isinstance(exc, HostKeyError):
        # the key may be the jump host's: name the host to trust, not the one behind it
        whose = "" if exc.key_host == host else f"jump host {exc.key_host}: "
        verdict = "CHANGED host key (possible man-in-the-middle); refused" if exc.changed \
            else "unknown host key; trust it with `dsconsole hosts trust " + exc.key_host + "`"
        return HostTelemetry(host, now, "untrusted-key",
                             error=f"{whose}{verdict} ({exc.fingerprint})")
    if isinstance(exc, CommandTimeout):
        # The host answered SSH but the command hung: nvidia-smi hangs on a GPU that
        # fell off the bus, so say what timed out rather than calling it unreachable.
        return HostTelemetry(host, now, "error", error=f"no answer from {what or 'the command'}: "
                             f"{exc.message} (a hung GPU or driver does this)")
    if isinstance(exc, (SudoPasswordRequired, HostRefused)):
        return HostTelemetry(host, now, "error", error=exc.message)
    if isinstance(exc, (HostUnreachable, TransportError)):
        return HostTelemetry(host, now, "unreachable", error=getattr(exc, "message", str(exc)))
    if isinstance(exc, OSError):
        return HostTelemetry(host, now, "unreachable", error=f"{type(exc).__name__}: {exc}")
    return HostTelemetry(host, now, "error", error=f"{type(exc).__name__}: {exc}")


def safe_read(source: TelemetrySource) -> HostTelemetry:
    """source.read(), with anything that escapes turned into an "error" state."""
    name = getattr(source, "name", "?")
    try:
        result = source.read()
    except Exception as e:  # noqa: BLE001 - a source bug must not stop the poller
        return telemetry_from_exception(name, e)
    if not isinstance(result, HostTelemetry):
        return HostTelemetry(name, time.time(), "error",
                             error=f"source returned {type(result).__name__}, not HostTelemetry")
    return result
