"""Secrets out of text that is shown, logged or reported.

redact(text): the user information of every URL in it (`https://user:PW@host`
-> `https://***@host`): a kubeconfig server URL, a proxy URL or an endpoint may
carry a password, and error messages, `status` (text and JSON), logs and the
audit log all name the URL. One function for every such path, so that a new
one does not forget a form.
"""
from __future__ import annotations

import re
from typing import overload

# scheme://userinfo@ where userinfo is anything up to the last '@' before the
# host (no /, ?, # or whitespace in between; a password may hold an @): RFC 3986 3.2.1
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\s]*@")


@overload
def redact(text: str) -> str: ...
@overload
def redact(text: None) -> None: ...
def redact(text: str | None) -> str | None:
    """text with the user information of each URL replaced by ***."""
    if not text or "@" not in text:
        return text
    return _USERINFO.sub(r"\1***@", text)
