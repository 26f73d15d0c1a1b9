"""SHA-256 manifests: every file of a directory with its SHA-256, taken on the
host where the files are (sha256sum there, so the data never crosses the
network for it), in sha256sum's own format (`sha256sum -c` reads it)."""
from __future__ import annotations

import hashlib
import shlex

from console.hosts.transport import Transport


class ManifestError(Exception):
    pass


def take(host: Transport, path: str, *, timeout: float = 3600) -> dict[str, str]:
    """{relative path: sha256 hex} of every regular file under `path` on `host`."""
    q = shlex.quote(path)
    r = host.run(f"cd {q} && find . -type f -print0 | sort -z | xargs -0 -r sha256sum --", timeout=timeout)
    if not r.ok:
        raise ManifestError(f"{host.name}: cannot hash {path}: "
                            f"{(r.stderr.strip().splitlines() or [f'rc {r.rc}'])[-1]}")
    return parse(r.stdout)


def parse(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        escaped = line.startswith("\\")   # sha256sum escapes names with \n or \\
        if escaped:
            line = line[1:]
        digest, _, name = line.partition("  ")
        if escaped:
            name = name.replace("\\n", "\n").replace("\\\\", "\\")
        if name.startswith("./"):
            name = name[2:]
        if len(digest) != 64:
            raise ManifestError(f"not a sha256sum line: {line[:80]!r}")
        out[name] = digest
    return out


def render(manifest: dict[str, str]) -> bytes:
    lines = []
    for name in sorted(manifest):
        if "\n" in name or "\\" in name:
            esc = name.replace("\\", "\\\\").replace("\n", "\\n")
            lines.append(f"\\{manifest[name]}  {esc}")
        else:
            lines.append(f"{manifest[name]}  {name}")
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape")


def of_bytes(name: str, data: bytes) -> dict[str, str]:
    return {name: hashlib.sha256(data).hexdigest()}


def compare(expected: dict[str, str], actual: dict[str, str]) -> list[str]:
    """Differences, one line each (empty: identical)."""
    out = []
    for name in sorted(expected.keys() | actual.keys()):
        if name not in actual:
            out.append(f"missing: {name}")
        elif name not in expected:
            out.append(f"not in the manifest: {name}")
        elif expected[name] != actual[name]:
            out.append(f"SHA-256 differs: {name}")
    return out
