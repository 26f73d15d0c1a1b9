"""The demo's load-balancer host lb-0: a SimulatedHost with an `nginx`
command that does what dsconsole asks of a real one (`-t`, `-T`, `-v`,
`-s reload`, with `-p PREFIX -c CONF` accepted) on the host's simulated
files, checking the upstream blocks as nginx does (nginx_conf.py). A reload
that passes its test hands the upstream's servers to the demo's balancer
(lb_proxy.py), which routes the demo's requests by them from then on; a
reload that fails keeps the running servers, as nginx's master does.

The files: /etc/nginx/nginx.conf (the http block includes conf.d/*.conf and
proxies to the upstream `deepseek`, adding X-Upstream-Addr) and the
operator's upstream block in /etc/nginx/conf.d/dsconsole-upstream.conf,
listing the model servers the balancer started with (weight 1 each), which
the blue-green wizard adopts on its first run."""
from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Callable

from console.hosts.transport import CommandResult

from .hosts import SimulatedHost
from .lb_proxy import LbProxy
from .nginx_conf import NginxConfError, parse_upstreams

MAIN_CONF = "/etc/nginx/nginx.conf"
INCLUDE = "/etc/nginx/conf.d/dsconsole-upstream.conf"
UPSTREAM = "deepseek"
VERSION = "nginx version: nginx/1.22.1"
_MAIN = """user www-data;
worker_processes auto;
pid /run/nginx.pid;
error_log /var/log/nginx/error.log;
worker_shutdown_timeout 30s;
events { worker_connections 768; }
http {
    include /etc/nginx/conf.d/*.conf;
    server {
        listen 80;
        location / {
            proxy_pass http://deepseek;
            add_header X-Upstream-Addr $upstream_addr always;
        }
    }
}
"""


def make_lb_host(name: str, balancer: Callable[[], LbProxy], clock: object = None) -> SimulatedHost:
    """lb-0 with nginx's files and command; `balancer()` gives the running proxy."""
    host = SimulatedHost(name, clock=clock)
    proxy = balancer()
    host.mkdirs("/etc/nginx/conf.d")
    host.write(MAIN_CONF, _MAIN.encode())
    block = "".join(f"    server {s.address};\n" for s in proxy.servers())
    host.write(INCLUDE, f"upstream {UPSTREAM} {{\n{block}}}\n".encode())

    def nginx(h: SimulatedHost, argv: list[str], stdin: bytes) -> CommandResult:
        return _nginx(h, argv, balancer)
    host.register_command("nginx", nginx)
    return host


def _files(host: SimulatedHost, conf: str) -> list[str]:
    """The main file and what its include directives name (globs expanded)."""
    files = [conf]
    for pattern in re.findall(r"^\s*include\s+(\S+?);", host.read(conf).decode(), re.M):
        d = posixpath.dirname(pattern)
        try:
            names = sorted(host.listdir(d))
        except (FileNotFoundError, KeyError):
            names = []
        files += [posixpath.join(d, n) for n in names if fnmatch.fnmatch(n, posixpath.basename(pattern))]
    return files


def _test(host: SimulatedHost, conf: str) -> tuple[dict, str]:
    """(upstream name -> servers, the -T dump); NginxConfError if refused."""
    upstreams: dict = {}
    dump = ""
    for path in _files(host, conf):
        text = host.read(path).decode("utf-8", "replace")
        dump += f"# configuration file {path}:\n{text}\n"
        for u in parse_upstreams(text, path):
            if u.name in upstreams:
                raise NginxConfError(f'duplicate upstream "{u.name}" in {path}')
            upstreams[u.name] = list(u.servers)
    used = re.search(r"proxy_pass\s+https?://([\w.-]+)\s*;", host.read(conf).decode())
    if used and used.group(1) not in upstreams:
        raise NginxConfError(f'host not found in upstream "{used.group(1)}" in {conf}')
    return upstreams, dump


def _nginx(host: SimulatedHost, argv: list[str], balancer: Callable[[], LbProxy]) -> CommandResult:
    conf, action, signal = MAIN_CONF, None, None
    args = iter(argv[1:])
    for a in args:
        if a in ("-p", "-g"):
            next(args, None)
        elif a == "-c":
            conf = next(args, MAIN_CONF)
        elif a in ("-t", "-T", "-v", "-V", "-q"):
            action = action or a
        elif a == "-s":
            signal = next(args, "")
        else:
            return CommandResult(rc=1, stdout="", stderr=f'nginx: invalid option: "{a}"\n')
    if action in ("-v", "-V"):
        return CommandResult(rc=0, stdout="", stderr=VERSION + "\n")
    try:
        upstreams, dump = _test(host, conf)
    except FileNotFoundError:
        return CommandResult(rc=1, stdout="", stderr=f'nginx: [emerg] open() "{conf}" failed (2: No such file '
                                                     f'or directory)\n')
    except NginxConfError as e:
        tail = f"nginx: configuration file {conf} test failed\n" if action in ("-t", "-T") else ""
        return CommandResult(rc=1, stdout="", stderr=f"nginx: [emerg] {e}\n{tail}")
    if signal is not None:
        if signal != "reload":
            return CommandResult(rc=1, stdout="", stderr=f'nginx: invalid option: "-s {signal}"\n')
        balancer().set_servers(upstreams.get(UPSTREAM, []))
        return CommandResult(rc=0, stdout="", stderr="")
    ok = (f"nginx: the configuration file {conf} syntax is ok\n"
          f"nginx: configuration file {conf} test is successful\n")
    return CommandResult(rc=0, stdout=dump if action == "-T" else "", stderr=ok)
