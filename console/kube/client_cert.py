"""Client certificates given as data (kubeconfig client-certificate-data /
client-key-data, or an exec plugin's clientCertificateData / clientKeyData)
loaded into an SSL context without leaving the key on disk."""
from __future__ import annotations

import os
import tempfile
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ssl


class ClientCertError(Exception):
    """The certificate or key cannot be loaded; str() names what, never the data."""


def load_client_cert(ctx: ssl.SSLContext, cert: bytes, key: bytes | None, what: str) -> None:
    """Load a client certificate and key given as data into an SSL context.

    ssl's load_cert_chain reads only files: the PEM goes to an anonymous
    in-memory file (memfd, never on disk) read through /proc/self/fd; where
    there is none, to a 0600 file in a private temporary directory that is
    removed whatever happens (a bad certificate included). ClientCertError
    names `what`, never the data."""
    import ssl
    fds: list[int] = []
    tmpdir = None
    try:
        paths: dict[str, str] = {}
        for name, data in (("client.crt", cert), ("client.key", key)):
            if data is None:
                continue
            if hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd"):
                fd = os.memfd_create(name, os.MFD_CLOEXEC)
                fds.append(fd)
                os.write(fd, data)
                paths[name] = f"/proc/self/fd/{fd}"
            else:
                tmpdir = tmpdir or tempfile.mkdtemp(prefix="dsconsole-kube-")
                path = os.path.join(tmpdir, name)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                paths[name] = path
        ctx.load_cert_chain(paths["client.crt"], paths.get("client.key"))
    except (ssl.SSLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or getattr(e, "strerror", None) or type(e).__name__
        raise ClientCertError(f"{what} cannot be loaded: {reason}") from None
    finally:
        for fd in fds:
            os.close(fd)
        if tmpdir is not None:
            for name in os.listdir(tmpdir):
                os.unlink(os.path.join(tmpdir, name))
            os.rmdir(tmpdir)
