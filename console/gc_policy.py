"""The process's garbage-collector policy: the one module that calls `gc`.

The console's heap is mostly long-lived (modules, Textual's DOM, the cache's
rows, a demo site's objects) plus a stream of short-lived, acyclic objects
(watch events, snapshots) that reference counting frees. The cyclic collector
finds little to free in either, and every pass over the long-lived part is a
pause. Hence (figures: DESIGN.md "Measured facts", the commits that set them):
- `use_console_thresholds()`: collect young objects every 10,000 allocations,
  not Python's 700 (from start-up to exit: ~10 collections to the first frame
  instead of ~150);
- `paused()`: no collection during a bulk load (60-70 % of parse time at
  20,000 pods), reference counted across threads, since gc.disable() is
  process-wide and the cache's lists and the demo's build run on several;
- `freeze_long_lived()`: what exists now leaves the collector's sight (the
  permanent generation), after the bulk is loaded or the first frame is out.

Only the standard library is imported: `dsconsole` calls it before Textual.
"""
from __future__ import annotations

import gc
import threading

CONSOLE_THRESHOLDS = (10_000, 50, 100)   # Python's defaults: (700, 10, 10)

_lock = threading.Lock()
_pausers = 0
_enabled_before_pause = True


def use_console_thresholds() -> None:
    """Collect at the console's rate (see the module's docstring)."""
    gc.set_threshold(*CONSOLE_THRESHOLDS)


class paused:
    """`with paused():` no cyclic collection inside. Nested and concurrent uses
    share one pause; the last to leave restores the state the first one found
    (a collector someone else had turned off stays off)."""

    def __enter__(self) -> paused:
        global _pausers, _enabled_before_pause
        with _lock:
            if _pausers == 0:
                _enabled_before_pause = gc.isenabled()
                gc.disable()
            _pausers += 1
        return self

    def __exit__(self, *exc: object) -> None:
        global _pausers
        with _lock:
            _pausers -= 1
            if _pausers == 0 and _enabled_before_pause:
                gc.enable()


def pausers() -> int:
    """How many `paused()` blocks are open now (for tests and diagnostics)."""
    return _pausers


def freeze_long_lived(*, collect_young: bool = False) -> None:
    """Move every object alive now to the permanent generation, first
    collecting the youngest generation's garbage if `collect_young` (cheap, and
    keeps the dead objects of a load from being frozen with the live ones)."""
    if collect_young:
        gc.collect(0)
    gc.freeze()


def after_first_frame() -> None:
    """What the dashboard does once its first complete frame is out: what is
    loaded lives as long as the session, and the watch stream's garbage is
    acyclic, so freeze the one and collect the other less often."""
    freeze_long_lived()
    use_console_thresholds()
