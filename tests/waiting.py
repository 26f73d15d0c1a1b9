"""The one bounded wait of the tests: poll a condition on real parts (the
simulator, test hosts, threads) until it holds, fail with what was awaited."""
from __future__ import annotations

import time


def wait_for(fn, timeout: float = 30.0, interval: float = 0.05, what: str = "condition"):
    """Poll fn() until it returns something truthy (returned); fail after
    `timeout` s."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
