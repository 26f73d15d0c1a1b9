"""LazyRegex: a regular expression compiled when first used, not at import.

re.compile runs the pattern parser and compiler in Python: 0.1-1.5 ms a pattern.
Modules on the way to the dashboard's first frame (telemetry parsers, the
simulator's selectors, the site file checks) define ~20 patterns that the first
frame never uses; compiled at import they cost ~10 M instructions of it.
"""
from __future__ import annotations

import re


class LazyRegex:
    """Stands for re.compile(pattern, flags): match, search, fullmatch, sub,
    findall, finditer and split compile the pattern on first use. (Two threads
    may both compile it the first time; either result is the same pattern.)"""
    __slots__ = ("pattern", "flags", "_compiled")

    def __init__(self, pattern, flags: int = 0) -> None:
        self.pattern, self.flags = pattern, flags
        self._compiled: re.Pattern | None = None

    def compiled(self) -> re.Pattern:
        rx = self._compiled
        if rx is None:
            rx = self._compiled = re.compile(self.pattern, self.flags)
        return rx

    def match(self, *a):
        return self.compiled().match(*a)

    def search(self, *a):
        return self.compiled().search(*a)

    def fullmatch(self, *a):
        return self.compiled().fullmatch(*a)

    def sub(self, *a):
        return self.compiled().sub(*a)

    def findall(self, *a):
        return self.compiled().findall(*a)

    def finditer(self, *a):
        return self.compiled().finditer(*a)

    def split(self, *a):
        return self.compiled().split(*a)
