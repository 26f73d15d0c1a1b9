"""Sources the console itself reads (the Kubernetes objects, the site file,
the audit log): their bytes and the file name they get in the repository.
They go to restic on its stdin, read once, so the manifest and the snapshot
are of the same bytes even while the audit log grows."""
from __future__ import annotations

from console.site_config import BackupSource, Site

FILE_NAMES = {"kubernetes": "objects.yaml", "site-file": "site.yaml", "audit-log": "audit.jsonl"}


def read_content(source: BackupSource, site: Site) -> tuple[bytes, str, str]:
    """(bytes, file name, a one-line description)."""
    name = FILE_NAMES[source.kind]
    if source.kind == "site-file":
        if site.path is None:   # a Site built in memory, not read from a file
            raise ValueError(f"source {source.name}: the site was not read from a file; expected a site file")
        with open(site.path, "rb") as f:
            data = f.read()
        return data, name, f"site file {site.path}"
    if source.kind == "audit-log":
        from console.audit import default_path
        try:
            data = default_path().read_bytes()
        except FileNotFoundError:
            data = b""
        records = data.count(b"\n")
        return data, name, f"audit log ({records} records)"
    from console.kube.client import KubeHttp
    from console.kube.kubeconfig import resolve
    from console.site_config import effective_cluster

    from .objects import export_yaml
    cluster = effective_cluster(site)
    http = KubeHttp(resolve(cluster.kubeconfig, cluster.context))
    try:
        namespaces = source.namespaces or (cluster.namespace,)
        data, n = export_yaml(http, namespaces)
    finally:
        http.close()
    return data, name, f"{n} Kubernetes objects of {', '.join(namespaces)}"
