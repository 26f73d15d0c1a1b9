"""Which HTTP proxy, if any, reaches the API server: kubectl's rules (Go's
net/http ProxyFromEnvironment and a cluster's proxy-url)."""
from __future__ import annotations

import base64
import os
from urllib.parse import unquote, urlsplit

from console.kube.kubeconfig import KubeTarget, check_proxy_url


class Proxy:
    """An HTTP proxy: where it is, and the Proxy-Authorization its URL implies."""
    __slots__ = ("host", "port", "headers")

    def __init__(self, url: str):
        u = urlsplit(url)
        self.host, self.port = u.hostname or "", u.port or 80
        self.headers: dict[str, str] = {}
        if u.username is not None:
            pair = f"{unquote(u.username)}:{unquote(u.password or '')}".encode()
            self.headers["Proxy-Authorization"] = "Basic " + base64.b64encode(pair).decode()


def proxy_for(target: KubeTarget, https: bool, host: str) -> Proxy | None:
    """The proxy kubectl would use: the cluster's proxy-url, else HTTPS_PROXY (https
    servers) / HTTP_PROXY (http) from the environment, upper case before lower,
    unless NO_PROXY matches the host; the environment's proxy is never used for
    localhost or a loopback address (Go's httpproxy rules). KubeConfigError for
    an environment proxy we cannot use (socks5://)."""
    if target.proxy_url:
        return Proxy(target.proxy_url)
    names = ("HTTPS_PROXY", "https_proxy") if https else ("HTTP_PROXY", "http_proxy")
    url = next((os.environ[n] for n in names if os.environ.get(n)), None)
    if not url or not env_proxy_applies(host):
        return None
    if "://" not in url:
        url = "http://" + url                 # Go accepts a bare host:port
    check_proxy_url(url, f"{names[0]} (environment)")
    return Proxy(url)


def env_proxy_applies(host: str) -> bool:
    """Whether the environment's proxy is for `host` (not loopback, not in NO_PROXY)."""
    import ipaddress
    host = host.lower().strip("[]")
    if host == "localhost":
        return False
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None and ip.is_loopback:
        return False
    no_proxy = os.environ.get("NO_PROXY") or os.environ.get("no_proxy") or ""
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return False
        if ip is not None and "/" in entry:
            try:
                if ip in ipaddress.ip_network(entry, strict=False):
                    return False
            except ValueError:
                pass
            continue
        name = entry.rsplit(":", 1)[0] if entry.count(":") == 1 else entry   # a port is ignored
        name = name.strip("[]")
        if host == name or (name.startswith(".") and host.endswith(name)) or host.endswith("." + name.lstrip(".")):
            return False
    return True
