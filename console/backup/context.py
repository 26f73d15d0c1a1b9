"""BackupContext: a site's backup section with what it takes to act on it
(the password, a Transport per host, restic for each copy)."""
from __future__ import annotations

import threading

from console.hosts.transport import Transport
from console.site_config import LOCAL_HOST, BackupCopy, BackupSource, Site

from .restic import Repository, Restic


class BackupContext:
    def __init__(self, site: Site, password: str, transports: dict[str, Transport] | None = None):
        if site.backup is None:
            raise ValueError(f"{site.path}: no backup: section")
        self.site = site
        self.cfg = site.backup
        self._password = password
        self._transports: dict[str, Transport] = dict(transports or {})
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.site.name

    def copy(self, name: str) -> BackupCopy:
        for c in self.cfg.copies:
            if c.name == name:
                return c
        raise KeyError(name)

    def source(self, name: str) -> BackupSource:
        for s in self.cfg.sources:
            if s.name == name:
                return s
        raise KeyError(name)

    def transport(self, host: str) -> Transport:
        """`local`: this machine (no SSH); otherwise the site host of that name."""
        with self._lock:
            if host not in self._transports:
                if host == LOCAL_HOST:
                    from console.hosts.local import LocalTransport
                    self._transports[host] = LocalTransport(LOCAL_HOST)
                else:
                    from console.hosts.ssh import transports_for_hosts
                    self.site.host(host)   # KeyError for a host the site does not have
                    for name, t in transports_for_hosts(self.site.hosts).items():
                        self._transports.setdefault(name, t)
            return self._transports[host]

    def transports(self) -> dict[str, Transport]:
        return dict(self._transports)

    def restic(self, copy: BackupCopy, on_host: str | None = None) -> Restic:
        """restic for `copy`, run on `on_host` (default: the copy's own host)."""
        repo = Repository(copy.repository, copy.ssh_config, copy.limit_upload_kib)
        return Restic(self.transport(on_host or copy.host), repo, self._password)

    def close(self) -> None:
        for t in self._transports.values():
            try:
                t.close()
            except Exception:
                pass
