"""Which cluster to talk to, and with which credentials, resolved as kubectl does.

Kubeconfig files: `--kubeconfig PATH` alone when given; otherwise every file of
KUBECONFIG (os.pathsep-separated, missing ones skipped) merged with the first
file that defines a name winning (also for current-context); otherwise
~/.kube/config. Context: `--context` or the merged current-context. Relative
paths inside a file (certificate-authority, client-certificate, client-key,
tokenFile) are relative to that file.

The result, a KubeTarget, feeds two clients:
- console.kube.client.KubeHttp: the ClusterCache's thin HTTP client (list,
  watch, get, logs). The cache bypasses the official client on its hot path on
  purpose: `import kubernetes.client` costs ~0.3-0.7 s (the dashboard's first
  frame budget on the demo site is 0.8 s from process start), and on that path
  the official client would only hand over the raw response body
  (`_preload_content=False`) that we json.loads ourselves anyway.
- `api_client()`: the official kubernetes ApiClient (imported lazily) for the
  wizards and for anything that wants the client's models. Built by the
  official loader from the same merged kubeconfig, so both agree.
Exec credential plugins run through console.kube.exec_plugin (stdin from
/dev/null, stderr captured, a timeout, the credential cached until it expires);
a relative exec command with a slash is relative to the kubeconfig file, as in
kubectl. An `auth-provider` is still obtained through the official loader
(`KubeTarget.refresh_credentials()`). When both `token` and `tokenFile` are
set, tokenFile wins (read at each request, so a rotated token is picked up),
as in kubectl. A cluster's `proxy-url` (http://, with optional user:password)
is kept; socks5:// is refused here with a clear error.

Secrets (tokens, passwords, key data, URL user information) never appear in
repr() or errors (console.redact).
"""
from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from console.redact import redact

if TYPE_CHECKING:
    import kubernetes.client
    import yaml


class KubeConfigError(Exception):
    """No usable kubeconfig/context; str() says which file and what was expected."""


class CredentialFileError(KubeConfigError):
    """A credential file the kubeconfig names (tokenFile) cannot be read now;
    it may appear later (a token mounted or rotated by another process)."""


_PATH_KEYS = {"clusters": ("certificate-authority",),
              "users": ("client-certificate", "client-key", "tokenFile")}
# Inline credentials: base64 text, checked when the file is read (as kubectl
# does: a bad one fails the whole file), so the error can name its line.
_DATA_KEYS = {"clusters": ("certificate-authority-data",),
              "users": ("client-certificate-data", "client-key-data")}
_INNER = {"clusters": "cluster", "contexts": "context", "users": "user"}
_MAX_DEPTH = 64   # kubeconfigs are ~5 levels deep; see console/yaml_loader.py


class KubeTarget(msgspec.Struct):
    context: str
    cluster: str
    user: str | None
    server: str
    namespace: str | None = None
    files: tuple[str, ...] = ()                   # kubeconfig files it was merged from
    ca_file: str | None = None
    ca_data: bytes | None = None  # secret: not in repr
    insecure: bool = False
    tls_server_name: str | None = None
    client_cert_file: str | None = None
    client_cert_data: bytes | None = None  # secret: not in repr
    client_key_file: str | None = None
    client_key_data: bytes | None = None  # secret: not in repr
    token: str | None = None  # secret: not in repr
    token_file: str | None = None
    username: str | None = None
    password: str | None = None  # secret: not in repr
    plugin: str | None = None                      # "exec" | "auth-provider" when credentials need one
    exec_config: dict | None = None  # the user's exec: section (its env may hold secrets: not in repr)
    proxy_url: str | None = None     # the cluster's proxy-url (may hold a password: shown redacted)
    raw: dict = msgspec.field(default_factory=dict)  # the merged kubeconfig (for the official loader)

    _SECRET = frozenset({"ca_data", "client_cert_data", "client_key_data", "token", "password", "raw",
                         "exec_config", "proxy_url", "server"})

    def __repr__(self) -> str:
        """Like a dataclass's repr, without the credentials and the raw kubeconfig."""
        shown = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__struct_fields__ if k not in self._SECRET)
        return f"KubeTarget(server={self.server_shown!r}, {shown})"

    @property
    def server_shown(self) -> str:
        """The server URL as it may be shown: without user information."""
        return redact(self.server)

    def describe(self) -> str:
        """One line for headers and errors, without secrets."""
        return f"context {self.context} ({self.server_shown})"

    def bearer_token(self) -> str | None:
        """tokenFile (read now) when set, else token: kubectl's precedence."""
        if self.token_file:
            try:
                return Path(self.token_file).read_text().strip()
            except OSError as e:
                raise CredentialFileError(f"{self.token_file}: cannot read tokenFile of user {self.user}: "
                                          f"{e.strerror}") from None
        return self.token or None

    def refresh_credentials(self) -> None:
        """Run the auth-provider through the official loader and keep the token it
        produced (or client cert files it wrote). Exec plugins are run by
        console.kube.exec_plugin instead (KubeHttp)."""
        if self.plugin != "auth-provider":
            return
        try:
            from kubernetes import client, config  # heavy; only for plugin users
        except ImportError:
            # an optional dependency (pyproject.toml extra `auth-provider`)
            raise KubeConfigError(
                f"user {self.user!r}: credentials from an {self.plugin} plugin need the `kubernetes` package, "
                "which this installation lacks; expected deepseek-console[auth-provider] (offline bundle: "
                "python3 -m console.bundle build DIR --extra auth-provider)") from None
        cfg = client.Configuration()
        config.load_kube_config_from_dict(self.raw, context=self.context, client_configuration=cfg)
        auth = (cfg.api_key or {}).get("authorization") or (cfg.api_key or {}).get("BearerToken")
        if auth:
            self.token = auth.split(" ", 1)[1] if auth.lower().startswith("bearer ") else auth
        if cfg.cert_file:
            self.client_cert_file, self.client_cert_data = cfg.cert_file, None
        if cfg.key_file:
            self.client_key_file, self.client_key_data = cfg.key_file, None


def kubeconfig_files(kubeconfig: str | None = None) -> list[Path]:
    """The kubeconfig files in kubectl's order of precedence."""
    if kubeconfig:
        p = Path(kubeconfig).expanduser()
        if not p.is_file():
            raise KubeConfigError(f"{kubeconfig}: no such kubeconfig file")
        return [p]
    env = os.environ.get("KUBECONFIG")
    if env:
        files = [Path(p).expanduser() for p in env.split(os.pathsep) if p]
        found = [p for p in files if p.is_file()]
        if not found:
            raise KubeConfigError(f"KUBECONFIG={env}: none of these files exists")
        return found
    default = Path.home() / ".kube" / "config"
    if not default.is_file():
        raise KubeConfigError(f"{default}: no kubeconfig (give --kubeconfig, set KUBECONFIG, or use --site)")
    return [default]


def load_merged(files: list[Path]) -> dict:
    """Merge kubeconfig files: the first file to define a name (or current-context) wins."""
    merged: dict[str, Any] = {"apiVersion": "v1", "kind": "Config", "clusters": [], "contexts": [],
                              "users": [], "current-context": None, "preferences": {}}
    seen: dict[str, set] = {"clusters": set(), "contexts": set(), "users": set()}
    for path in files:
        doc, root = _read(path)
        if not isinstance(doc, dict):
            raise KubeConfigError(f"{path}: expected a kubeconfig mapping (apiVersion, clusters, contexts, users)")
        if not merged["current-context"] and doc.get("current-context"):
            if not isinstance(doc["current-context"], str):
                raise KubeConfigError(f"{path}:{_line(root, 'current-context')}: current-context: "
                                      f"expected a context name")
            merged["current-context"] = doc["current-context"]
        for section in ("clusters", "contexts", "users"):
            entries = doc.get(section) or []
            if not isinstance(entries, list):
                raise KubeConfigError(f"{path}:{_line(root, section)}: {section}: expected a list "
                                      f"of entries with a name")
            for i, entry in enumerate(entries):
                if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                    raise KubeConfigError(f"{path}:{_line(root, section, i)}: each entry of "
                                          f"{section} needs a name; expected `- name: ...`")
                _check_entry(path, root, section, i, entry)
                if entry["name"] in seen[section]:
                    continue
                seen[section].add(entry["name"])
                merged[section].append(_absolutize(section, entry, path.parent))
    return merged


def _read(path: Path) -> tuple[Any, yaml.Node | None]:
    """(document, its YAML node tree for line numbers); KubeConfigError with
    file:line for anything unreadable (binary, bad YAML, tags, bad values, depth)."""
    import yaml

    from console.yaml_loader import NestingTooDeep, hardened_loader
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        line = path.read_bytes().count(b"\n", 0, e.start) + 1
        raise KubeConfigError(f"{path}:{line}: not UTF-8 text; expected a kubeconfig YAML file") from None
    except OSError as e:
        raise KubeConfigError(f"{path}: cannot read: {e.strerror}") from None
    loader = hardened_loader(_MAX_DEPTH)(text)
    try:
        root = loader.get_single_node()
        return (loader.construct_document(root) if root is not None else {}), root
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        if isinstance(e, yaml.reader.ReaderError):
            where = f"{path}:{text.count(chr(10), 0, max(0, e.position)) + 1}"
        else:
            where = f"{path}:{mark.line + 1}" if mark else f"{path}:1"
        what = "nesting too deep" if isinstance(e, NestingTooDeep) else "not valid YAML"
        problem = getattr(e, "problem", None) or getattr(e, "reason", None) or type(e).__name__
        raise KubeConfigError(f"{where}: {what} ({problem}); expected a kubeconfig "
                              f"(kubectl config view shows one)") from None
    finally:
        loader.dispose()


def _line(node: yaml.Node | None, *keys: str | int) -> int:
    """The line of the value at `keys` (mapping keys, list indexes) in a YAML
    node tree; the deepest one found when the path ends early."""
    if node is None:
        return 1
    line = node.start_mark.line + 1
    for key in keys:
        found = None
        if isinstance(key, int) and getattr(node, "id", "") == "sequence" and key < len(node.value):
            found = node.value[key]
        elif isinstance(key, str) and getattr(node, "id", "") == "mapping":
            found = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
        if found is None:
            break
        node, line = found, found.start_mark.line + 1
    return line


def _check_entry(path: Path, root: yaml.Node | None, section: str, i: int, entry: dict) -> None:
    """An entry's inner mapping and its base64 credentials (never echoed: secrets)."""
    inner_key = _INNER[section]
    inner = entry.get(inner_key)
    what = f"{inner_key} {entry['name']!r}"
    if inner is not None and not isinstance(inner, dict):
        raise KubeConfigError(f"{path}:{_line(root, section, i, inner_key)}: {what}: expected "
                              f"`{inner_key}:` to be a mapping")
    for key in _DATA_KEYS.get(section, ()):
        value = (inner or {}).get(key)
        if value is None:
            continue
        line = _line(root, section, i, inner_key, key)
        if not isinstance(value, str):
            raise KubeConfigError(f"{path}:{line}: {what}: {key}: expected base64 text, got "
                                  f"{type(value).__name__}")
        try:
            base64.b64decode("".join(value.split()), validate=True)
        except ValueError:  # binascii.Error
            raise KubeConfigError(f"{path}:{line}: {what}: {key} is not valid base64; expected "
                                  f"the PEM file's contents, base64-encoded (base64 -w0 FILE)") from None


def _absolutize(section: str, entry: dict, base: Path) -> dict:
    inner_key = {"clusters": "cluster", "users": "user"}.get(section)
    if not inner_key or not isinstance(entry.get(inner_key), dict):
        return entry
    inner = dict(entry[inner_key])
    ex = inner.get("exec")
    if section == "users" and isinstance(ex, dict) and isinstance(ex.get("command"), str):
        # kubectl: a command with a path separator is relative to the kubeconfig file;
        # a bare name is looked up in PATH when it runs
        cmd = ex["command"]
        if os.sep in cmd and not os.path.isabs(os.path.expanduser(cmd)):
            inner["exec"] = {**ex, "command": str(base / cmd)}
    for key in _PATH_KEYS[section]:
        value = inner.get(key)
        if isinstance(value, str) and value and not os.path.isabs(os.path.expanduser(value)):
            inner[key] = str(base / value)
        elif isinstance(value, str):
            inner[key] = os.path.expanduser(value)
    return {**entry, inner_key: inner}


def _b64(value: Any) -> bytes | None:
    return base64.b64decode(value) if value else None


def resolve(kubeconfig: str | None = None, context: str | None = None) -> KubeTarget:
    """The cluster, user and namespace of `context` (default: current-context)."""
    files = kubeconfig_files(kubeconfig)
    merged = load_merged(files)
    where = ", ".join(str(f) for f in files)
    name = context or merged.get("current-context")
    if not name:
        raise KubeConfigError(f"{where}: no current-context set; give --context NAME")
    contexts = {c["name"]: c.get("context") or {} for c in merged["contexts"]}
    if name not in contexts:
        known = ", ".join(sorted(contexts)) or "none"
        raise KubeConfigError(f"{where}: context {name!r} not found (known: {known})")
    ctx = contexts[name]
    clusters = {c["name"]: c.get("cluster") or {} for c in merged["clusters"]}
    users = {u["name"]: u.get("user") or {} for u in merged["users"]}
    cluster_name = ctx.get("cluster")
    if not isinstance(cluster_name, str) or cluster_name not in clusters:
        raise KubeConfigError(f"{where}: context {name!r} names cluster {cluster_name!r}, which is not defined")
    cl = clusters[cluster_name]
    if not cl.get("server") or not isinstance(cl["server"], str):
        raise KubeConfigError(f"{where}: cluster {cluster_name!r} has no server URL; "
                              f"expected `server: https://HOST:PORT`")
    user_name = ctx.get("user")
    if user_name and user_name not in users:
        raise KubeConfigError(f"{where}: context {name!r} names user {user_name!r}, which is not defined")
    us = users.get(user_name, {}) if user_name else {}
    plugin = "exec" if us.get("exec") else ("auth-provider" if us.get("auth-provider") else None)
    if us.get("exec") is not None and not isinstance(us.get("exec"), dict):
        raise KubeConfigError(f"{where}: user {user_name!r}: exec must be a mapping (apiVersion, command, ...)")
    proxy_url = cl.get("proxy-url") or None
    if proxy_url is not None:
        check_proxy_url(str(proxy_url), f"{where}: cluster {cluster_name!r}: proxy-url")
    target = KubeTarget(
        context=name, cluster=cluster_name, user=user_name, server=cl["server"].rstrip("/"),
        namespace=ctx.get("namespace"), files=tuple(str(f) for f in files),
        ca_file=cl.get("certificate-authority"), ca_data=_b64(cl.get("certificate-authority-data")),
        insecure=bool(cl.get("insecure-skip-tls-verify")), tls_server_name=cl.get("tls-server-name"),
        client_cert_file=us.get("client-certificate"), client_cert_data=_b64(us.get("client-certificate-data")),
        client_key_file=us.get("client-key"), client_key_data=_b64(us.get("client-key-data")),
        token=us.get("token"), token_file=us.get("tokenFile"),
        username=us.get("username"), password=us.get("password"), plugin=plugin,
        exec_config=us.get("exec") if plugin == "exec" else None, proxy_url=proxy_url, raw=merged)
    return target


def check_proxy_url(url: str, where: str) -> None:
    """An HTTP proxy URL we can use, else KubeConfigError naming `where`."""
    from urllib.parse import urlsplit
    try:
        u = urlsplit(url)
        u.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise KubeConfigError(f"{where}: {redact(url)!r} is not a valid URL; expected http://HOST:PORT") from None
    if u.scheme.startswith("socks"):
        raise KubeConfigError(f"{where}: {redact(url)}: SOCKS proxies are not supported; "
                              "use an HTTP proxy (http://HOST:PORT, CONNECT is used for https servers)")
    if u.scheme != "http" or not u.hostname:
        raise KubeConfigError(f"{where}: {redact(url)!r}: expected an HTTP proxy URL, http://[USER:PASSWORD@]HOST:PORT")


def api_client(kubeconfig: str | None = None, context: str | None = None,
               target: KubeTarget | None = None) -> kubernetes.client.ApiClient:
    """The official kubernetes ApiClient for the same context (imported lazily)."""
    from kubernetes import client, config
    target = target or resolve(kubeconfig, context)
    cfg = client.Configuration()
    config.load_kube_config_from_dict(target.raw, context=target.context, client_configuration=cfg)
    return client.ApiClient(configuration=cfg)
