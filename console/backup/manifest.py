"""SHA-256 manifests: every file of a directory with its SHA-256, taken on the
host where the files are (so the data never crosses the network for it), in
sha256sum's own format (`sha256sum -c` reads it).

`openssl dgst -sha256` when the host has it: it uses the CPU's SHA
instructions (here 0.16 s for 200 MB where sha256sum takes 0.87 s), which
keeps the manifest off a backup's critical path; it cannot escape a file name
with a newline in it, so such a tree is hashed again with sha256sum."""
from __future__ import annotations

import hashlib
import shlex
from collections.abc import Iterator

from console.hosts.transport import Transport


class ManifestError(Exception):
    pass


def take(host: Transport, path: str, *, timeout: float = 3600) -> dict[str, str]:
    """{relative path: sha256 hex} of every regular file under `path` on `host`."""
    q = shlex.quote(path)
    files = f"cd {q} && find . -type f -print0 | sort -z"
    r = host.run(f"command -v openssl >/dev/null && {files} | xargs -0 -r openssl dgst -sha256 -r "
                 f"&& {files} | tr -cd '\\0' | wc -c", timeout=timeout)
    if r.ok:
        *lines, count = r.stdout.rstrip("\n").split("\n")
        try:
            found = {name: digest for name, digest in _openssl_lines(lines)}
            if count.strip().isdigit() and len(found) == int(count):
                return found
        except ManifestError:
            pass
    r = host.run(f"{files} | xargs -0 -r sha256sum --", timeout=timeout)
    if not r.ok:
        raise ManifestError(f"{host.name}: cannot hash {path}: "
                            f"{(r.stderr.strip().splitlines() or [f'rc {r.rc}'])[-1]}")
    return parse(r.stdout)


def size(host: Transport, path: str, *, timeout: float = 600) -> tuple[int, int]:
    """(bytes, files) of the regular files under `path` (apparent sizes)."""
    r = host.run(f"find {shlex.quote(path)} -type f -printf '%s\\n' | awk '{{s += $1; n++}} END {{print s+0, n+0}}'",
                 timeout=timeout)
    parts = r.stdout.split()
    if not r.ok or len(parts) != 2:
        raise ManifestError(f"{host.name}: cannot size {path}: {r.stderr.strip()[-200:] or f'rc {r.rc}'}")
    return int(parts[0]), int(parts[1])


def _openssl_lines(lines: list[str]) -> Iterator[tuple[str, str]]:
    """`openssl dgst -sha256 -r` lines: `HEX *./name`."""
    for line in lines:
        digest, sep, name = line.partition(" *")
        if not sep or len(digest) != 64:
            raise ManifestError(f"not an openssl dgst line: {line[:80]!r}")
        yield (name[2:] if name.startswith("./") else name), digest


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
