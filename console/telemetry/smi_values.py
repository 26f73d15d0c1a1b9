"""Values as nvidia-smi prints them with `--format=csv,noheader,nounits`.

Every parser returns (value, None) or (None, reason); none of them raises, so one
odd field never costs the rest of a GPU's row. Reasons are short and lower-case
("n/a", "not supported", "unparseable 'abc'") and end up in
GpuSample.field_errors.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from console.lazy_regex import LazyRegex

# What the driver prints instead of a value: "[N/A]", "[Not Supported]",
# "[Requested functionality has been deprecated]", "[Unknown Error]",
# "[Insufficient Permissions]", "[GPU is lost]"...; some fields print a bare N/A.
_BRACKETED = LazyRegex(r"\[(.*)\]")
_INT = LazyRegex(r"[+-]?\d+")
_FLOAT = LazyRegex(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_HEX = LazyRegex(r"0[xX][0-9a-fA-F]+")
_DRIVER_WORDS = LazyRegex(r"[A-Za-z][A-Za-z0-9 /.'()-]{0,59}")
_TRUE = {"enabled", "yes", "active", "on", "true"}
_FALSE = {"disabled", "no", "not active", "off", "false"}

Parsed = tuple[Any, "str | None"]


def missing_reason(raw: str) -> str | None:
    """Why `raw` is not a value ("n/a", "not supported", ...), or None if it is one."""
    v = raw.strip()
    if v == "":
        return "empty"
    m = _BRACKETED.fullmatch(v)
    if m:
        inner = m.group(1).strip()
        if not inner:
            return "empty"
        # the driver's own words; anything else in brackets is garbage, said so
        return inner.lower() if _DRIVER_WORDS.fullmatch(inner) else _garbage(raw)
    if v.upper() == "N/A":
        return "n/a"
    return None


def _garbage(raw: str) -> str:
    shown = repr(raw.strip())
    if len(shown) > 40:
        shown = shown[:37] + "..."
    return f"unparseable {shown}"


def parse_int(raw: str) -> Parsed:
    reason = missing_reason(raw)
    if reason:
        return None, reason
    v = raw.strip()
    return (int(v), None) if _INT.fullmatch(v) else (None, _garbage(raw))


def parse_float(raw: str) -> Parsed:
    reason = missing_reason(raw)
    if reason:
        return None, reason
    v = raw.strip()
    return (float(v), None) if _FLOAT.fullmatch(v) else (None, _garbage(raw))


def parse_hex(raw: str) -> Parsed:
    """Masks such as clocks_event_reasons.active print as 0x0000000000000001."""
    reason = missing_reason(raw)
    if reason:
        return None, reason
    v = raw.strip()
    return (int(v, 16), None) if _HEX.fullmatch(v) else (None, _garbage(raw))


def parse_bool(raw: str) -> Parsed:
    reason = missing_reason(raw)
    if reason:
        return None, reason
    v = raw.strip().lower()
    if v in _TRUE:
        return True, None
    if v in _FALSE:
        return False, None
    return None, _garbage(raw)


def parse_str(raw: str) -> Parsed:
    reason = missing_reason(raw)
    if reason:
        return None, reason
    return raw.strip(), None


PARSERS: dict[str, Callable[[str], Parsed]] = {
    "int": parse_int, "float": parse_float, "hex": parse_hex,
    "bool": parse_bool, "str": parse_str,
}


def normalize_bus_id(bus_id: str | None) -> tuple[int, int, int] | None:
    """(domain, bus, device) of a PCI bus id in any of the forms the driver uses:
    "00000000:3B:00.0" (nvidia-smi, NVML), "0000:3b:00" (kernel log), "3b:00.0"."""
    if not bus_id:
        return None
    m = re.fullmatch(r"(?:([0-9a-fA-F]{1,8}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})(?:\.[0-7])?",
                     bus_id.strip())
    if not m:
        return None
    return int(m.group(1) or "0", 16), int(m.group(2), 16), int(m.group(3), 16)
