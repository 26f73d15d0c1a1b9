"""Target values of host tuning: the deployment guide's values as defaults,
overridden by the site file's `tuning:` section (console.site_config)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

THP_MODES = ("always", "madvise", "never")


@dataclass(frozen=True)
class TuningTargets:
    swappiness: int = 1
    thp: str = "never"
    cuda_major: int = 12
    driver_min: str | None = None        # e.g. "535.0"; None: report only the version
    nccl_min: str | None = None          # e.g. "2.18"
    memlock: str = "unlimited"           # ulimit -l
    shm_min_gib: float = 32.0            # /dev/shm size
    numa_balancing: int = 0
    update_grub: bool = False            # run update-grub after changing /etc/default/grub (never reboots)

    def __post_init__(self) -> None:
        if not isinstance(self.swappiness, int) or not 0 <= self.swappiness <= 200:
            raise ValueError(f"tuning.swappiness: expected an integer 0..200, got {self.swappiness!r}")
        if self.thp not in THP_MODES:
            raise ValueError(f"tuning.thp: expected one of {', '.join(THP_MODES)}, got {self.thp!r}")

    def to_params(self) -> dict:
        return asdict(self)

    @classmethod
    def from_params(cls, params: dict | None) -> TuningTargets:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (params or {}).items() if k in known})

    @classmethod
    def from_site(cls, site_tuning: object | None, **overrides: object) -> TuningTargets:
        """From the site's tuning section (any object with attributes named like
        ours; missing ones keep the guide's defaults)."""
        values: dict[str, Any] = {}   # (__post_init__ checks each value)
        for f in fields(cls):
            if site_tuning is not None and getattr(site_tuning, f.name, None) is not None:
                values[f.name] = getattr(site_tuning, f.name)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
