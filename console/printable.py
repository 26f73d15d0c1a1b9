"""Text from outside (environment values, file contents, cluster objects) as it
may be written to the operator's terminal: every character that is not
printable -- escape, the other C0 and C1 controls, DEL, bidi overrides -- shown
as a Python escape (\\x1b, \\u202e), so nobody who can set TERM or write a
kubeconfig can write to the terminal."""
from __future__ import annotations


def printable(text: str) -> str:
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
