"""Object names the simulated API accepts, validated as the real apiserver
validates them (k8s.io/apimachinery/pkg/util/validation): a DNS-1123 label for
namespaces, a DNS-1035 label for services, a DNS-1123 subdomain for every other
kind the simulator serves. A name that fails is a 422 Invalid with the real
API's wording; kubectl shows it as it shows a real cluster's."""
from __future__ import annotations

import re

_LABEL_1123 = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_LABEL_1035 = "[a-z]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN = rf"{_LABEL_1123}(\.{_LABEL_1123})*"

RULES = {
    "label": (re.compile(_LABEL_1123), 63,
              "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
              "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
              f"validation is '{_LABEL_1123}')"),
    "label1035": (re.compile(_LABEL_1035), 63,
                  "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
                  "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
                  f"regex used for validation is '{_LABEL_1035}')"),
    "subdomain": (re.compile(_SUBDOMAIN), 253,
                  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                  "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
                  f"validation is '{_SUBDOMAIN}')"),
}
_RULE_OF = {"namespaces": "label", "services": "label1035"}


def name_problems(plural: str, name: str) -> list[str]:
    """What is wrong with `name` for a `plural` object (empty: nothing)."""
    pattern, most, message = RULES[_RULE_OF.get(plural, "subdomain")]
    problems = []
    if len(name) > most:
        problems.append(f"must be no more than {most} characters")
    if not pattern.fullmatch(name):
        problems.append(message)
    return problems


def quoted(value: str) -> str:
    """A value in an error message as Go's %q writes it (control characters escaped)."""
    out = []
    for c in value:
        if c in '"\\':
            out.append("\\" + c)
        elif c.isprintable():
            out.append(c)
        elif ord(c) < 0x80:
            out.append({"\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(c, f"\\x{ord(c):02x}"))
        else:
            out.append(f"\\u{ord(c):04x}")
    return '"' + "".join(out) + '"'
