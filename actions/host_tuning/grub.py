"""Editing kernel parameters on GRUB_CMDLINE_LINUX in /etc/default/grub,
keeping everything else on the line (and in the file) exactly as it was."""
from __future__ import annotations

import re

GRUB_DEFAULT = "/etc/default/grub"
_LINE = re.compile(r"^(\s*(?:export\s+)?GRUB_CMDLINE_LINUX=)(.*?)(\r?\n)?$")
_DEFAULT_LINE = re.compile(r"^\s*(?:export\s+)?GRUB_CMDLINE_LINUX_DEFAULT=(.*)$")


def _split_value(rhs: str) -> tuple[str, str, str, str]:
    """rhs of the assignment -> (quote, inner, closing quote, rest after it)."""
    if rhs[:1] in ("'", '"'):
        q = rhs[0]
        end = rhs.find(q, 1)
        if end > 0:
            return q, rhs[1:end], q, rhs[end + 1:]
        return q, rhs[1:], "", ""
    m = re.match(r"(\S*)(.*)$", rhs)
    assert m is not None   # (matches any one line)
    return "", m.group(1), "", m.group(2)


def _param_re(key: str) -> re.Pattern:
    return re.compile(rf"(?<!\S){re.escape(key)}(=\S*)?(?!\S)")


def get_param(text: str, key: str) -> str | None:
    """Value of `key=` on the (last) GRUB_CMDLINE_LINUX line, or None."""
    value = None
    for line in text.splitlines():
        m = _LINE.match(line)
        if m and not line.lstrip().startswith("#"):
            _, inner, _, _ = _split_value(m.group(2))
            found = _param_re(key).findall(inner)
            value = found[-1][1:] if found else None
    return value


def default_line_param(text: str, key: str) -> str | None:
    """Value of `key=` on GRUB_CMDLINE_LINUX_DEFAULT (comes later on the kernel
    command line, so it wins over GRUB_CMDLINE_LINUX)."""
    value = None
    for line in text.splitlines():
        m = _DEFAULT_LINE.match(line)
        if m:
            _, inner, _, _ = _split_value(m.group(1))
            found = _param_re(key).findall(inner)
            value = found[-1][1:] if found else None
    return value


def set_param(text: str, key: str, value: str) -> str:
    """`text` with key=value on GRUB_CMDLINE_LINUX: an existing key=... is
    replaced in place (later duplicates dropped), otherwise appended; a file
    without the line gets one at the end."""
    lines = text.splitlines(keepends=True)
    idx = None
    for i, line in enumerate(lines):
        if _LINE.match(line) and not line.lstrip().startswith("#"):
            idx = i
    token = f"{key}={value}"
    if idx is None:
        sep = "" if not text or text.endswith("\n") else "\n"
        return text + sep + f'GRUB_CMDLINE_LINUX="{token}"\n'
    m = _LINE.match(lines[idx])
    assert m is not None   # (idx is a line _LINE matched above)
    prefix, rhs, eol = m.group(1), m.group(2), m.group(3) or ""
    q, inner, close, rest = _split_value(rhs)
    pat = _param_re(key)
    first = pat.search(inner)
    if first:
        # replace the first in place; drop later duplicates with the space before them
        tail = re.sub(r"[ \t]+" + pat.pattern, "", inner[first.end():])
        new_inner = inner[:first.start()] + token + tail
    else:
        new_inner = inner + ("" if not inner or inner.endswith(" ") else " ") + token
    if not q and " " in new_inner:
        q = close = '"'
    lines[idx] = f"{prefix}{q}{new_inner}{close}{rest}{eol}"
    return "".join(lines)
