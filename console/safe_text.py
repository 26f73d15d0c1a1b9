"""Text from outside, made safe to show on a terminal.

Whoever can write an event message, a log line, a label or a host's command
output must not be able to write to the operator's terminal: an OSC 0 retitles
it, `ESC[2J` clears it, OSC 52 writes the clipboard, U+009B is a one-byte CSI
for terminals that read C1 codes, and a bidi override (U+202E) makes text read
backwards. `visible(s)` shows every such character as a visible escape instead:
`\\x1b` for C0, DEL and C1 codes, `<U+202E>` for the others (format characters,
line and paragraph separators, lone surrogates). Everything else is kept as is.

Every text cell renderer (screens/widgets/virtual_table.py), the log and YAML views
(screens/widgets/scrolling.py) and every plain-text printer go through here. JSON
output needs nothing: json.dumps escapes control characters itself.
"""
from __future__ import annotations

import re

from console.lazy_regex import LazyRegex

# Unicode categories Cc (C0, DEL, C1), Cf (format: bidi controls, zero-width
# characters, soft hyphen, tags...), Zl, Zp (line / paragraph separators) and Cs
# (lone surrogates, which cannot even be encoded for the terminal). Written out
# rather than derived from unicodedata at import (a scan of 1.1 M code points
# would cost ~0.2 s of the first frame); tests/test_safe_text.py checks this list
# against unicodedata.
_RANGES = (
    (0x0000, 0x001F), (0x007F, 0x009F), (0x00AD, 0x00AD), (0x0600, 0x0605), (0x061C, 0x061C),
    (0x06DD, 0x06DD), (0x070F, 0x070F), (0x0890, 0x0891), (0x08E2, 0x08E2), (0x180E, 0x180E),
    (0x200B, 0x200F), (0x2028, 0x202E), (0x2060, 0x2064), (0x2066, 0x206F), (0xD800, 0xDFFF),
    (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB), (0x110BD, 0x110BD), (0x110CD, 0x110CD),
    (0x13430, 0x13438), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
)
CONTROL_RANGES = _RANGES

# compiled on the first string that needs it (~1.9 ms: not on the way to the first frame)
_CONTROL = LazyRegex("[" + "".join(
    f"\\U{a:08x}" if a == b else f"\\U{a:08x}-\\U{b:08x}" for a, b in _RANGES) + "]")


def _escape(m: re.Match) -> str:
    cp = ord(m.group())
    return f"\\x{cp:02x}" if cp < 0x100 else f"<U+{cp:04X}>"


def visible(s: str) -> str:
    """`s` with every control character made visible (see the module doc).

    The common case, all printable, costs one C-level scan (str.isprintable is
    False for every character this escapes, and for a few it keeps, like NBSP)."""
    if s.isprintable():
        return s
    return _CONTROL.sub(_escape, s)


def visible_text(text: str) -> str:
    """Multi-line text with its newlines kept and everything else made visible."""
    if text.isprintable():
        return text
    return "\n".join(visible(line) for line in text.split("\n"))


def visible_cells(cells: tuple) -> tuple:
    """A table row's cells with every string made visible (other values, such as
    the unix times of age columns, are kept). The same tuple when nothing changes."""
    for c in cells:
        if c.__class__ is str and not c.isprintable():
            return tuple(visible(c) if isinstance(c, str) else c for c in cells)
    return cells
