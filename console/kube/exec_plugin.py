"""Exec credential plugins (a kubeconfig user's `exec:`), run as kubectl runs
them, but safe beside a full-screen terminal UI.

The official client's loader runs the plugin with our terminal as its stdin and
stderr (a plugin that prompts draws over the TUI; its error message is lost and
the operator sees "connection reset"), without a timeout, with no cache across
requests, and leaves a hanging plugin running when we exit. Here:
- stdin is /dev/null and the plugin is told it is not interactive
  (KUBERNETES_EXEC_INFO spec.interactive false); `interactiveMode: Always`
  cannot be satisfied and is a clear error, without running it;
- stdout is the ExecCredential (client.authentication.k8s.io/v1 or v1beta1,
  the apiVersion the kubeconfig names); stderr is captured and its last lines
  are the error shown when the plugin fails (control characters made visible);
- it runs in a process group of its own, killed after `timeout_s` and by
  close() (at exit), so no plugin is left orphaned;
- the credential is kept until its expirationTimestamp (or until the API
  answers 401: invalidate()); one run at a time, however many threads ask;
- a relative command with a slash is resolved from the kubeconfig's directory
  (console.kube.kubeconfig does that, as kubectl does); a bare name from PATH.
"""
from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import threading
import time
from datetime import datetime
from typing import Any

import msgspec

from console.safe_text import visible_text

API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
DEFAULT_TIMEOUT_S = 30.0
STDERR_SHOWN = 600          # characters of the plugin's stderr kept in the error


class ExecPluginError(Exception):
    """The plugin could not give a credential; str() is what the operator sees."""


class Credential(msgspec.Struct, frozen=True):
    token: str | None = None
    client_cert: bytes | None = None          # PEM
    client_key: bytes | None = None           # PEM
    expires: float | None = None              # epoch seconds; None: until a 401

    def __repr__(self) -> str:               # never the token or key
        return f"Credential(token={'set' if self.token else None}, client_cert={self.client_cert is not None}, " \
               f"expires={self.expires})"


def _parse_time(value: str) -> float:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except (ValueError, AttributeError):
        raise ExecPluginError(f"its expirationTimestamp {value!r} is not an RFC 3339 time") from None


class ExecPlugin:
    """The credential of one kubeconfig user's exec plugin."""

    def __init__(self, config: dict, *, cluster: dict | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
                 user: str | None = None):
        self.config = config
        self.cluster = cluster or {}
        self.timeout_s = timeout_s
        self.user = user
        self.api_version = config.get("apiVersion") or ""
        self.command = config.get("command") or ""
        self._cred: Credential | None = None
        self._lock = threading.Lock()         # one run at a time
        self._proc: subprocess.Popen | None = None
        self._closed = False
        self.runs = 0                         # how many times the plugin was run

    def __repr__(self) -> str:
        return f"ExecPlugin(command={self.command!r}, runs={self.runs})"

    @property
    def name(self) -> str:
        return f"exec plugin {os.path.basename(self.command) or '?'}" + (f" of user {self.user}" if self.user else "")

    @property
    def cached(self) -> Credential | None:
        """The credential held now (None before the first run or after invalidate())."""
        return self._cred

    def credential(self) -> Credential:
        """The cached credential while it is valid, else a fresh one from the plugin."""
        cred = self._cred
        if cred is not None and (cred.expires is None or time.time() < cred.expires):
            return cred
        with self._lock:
            cred = self._cred                 # another thread may have refreshed it meanwhile
            if cred is not None and (cred.expires is None or time.time() < cred.expires):
                return cred
            self._cred = self._run()
            return self._cred

    def invalidate(self, stale: Credential | None = None) -> None:
        """The API refused the credential (401): the next request runs the plugin
        again (unless another thread already replaced `stale`)."""
        with self._lock:
            if stale is None or self._cred is stale:
                self._cred = None

    def close(self) -> None:
        """Kill a run in progress (its whole process group) and refuse new runs."""
        self._closed = True
        proc = self._proc
        if proc is not None and proc.poll() is None:
            _kill_group(proc)

    # ----------------------------------------------------------------- running
    def _check_config(self) -> None:
        if self.api_version not in API_VERSIONS:
            raise ExecPluginError(f"{self.name}: apiVersion {self.api_version!r} is not supported "
                                  f"(expected one of {', '.join(API_VERSIONS)})")
        if not self.command:
            raise ExecPluginError(f"{self.name}: no command given")
        mode = self.config.get("interactiveMode")
        if mode is None and self.api_version.endswith("/v1"):
            raise ExecPluginError(f"{self.name}: interactiveMode must be set for {self.api_version} "
                                  "(Never or IfAvailable)")
        if mode not in (None, "Never", "IfAvailable", "Always"):
            raise ExecPluginError(f"{self.name}: interactiveMode {mode!r} is not one of Never, IfAvailable, Always")
        if mode == "Always":
            raise ExecPluginError(f"{self.name}: interactiveMode is Always, but dsconsole runs credential plugins "
                                  "without a terminal (they must not draw over the console); log in first (e.g. "
                                  "with kubectl) and use a plugin that can refresh without prompting, or set "
                                  "interactiveMode: IfAvailable")

    def _exec_info(self) -> str:
        spec: dict[str, Any] = {"interactive": False}
        if self.config.get("provideClusterInfo"):
            spec["cluster"] = {k: v for k, v in self.cluster.items() if v not in (None, False, "")}
        return json.dumps({"apiVersion": self.api_version, "kind": "ExecCredential", "spec": spec})

    def _run(self) -> Credential:
        if self._closed:
            raise ExecPluginError(f"{self.name}: not run, the console is stopping")
        self._check_config()
        env = dict(os.environ)
        for item in self.config.get("env") or []:
            if isinstance(item, dict) and item.get("name"):
                env[str(item["name"])] = str(item.get("value", ""))
        env["KUBERNETES_EXEC_INFO"] = self._exec_info()
        argv = [self.command, *[str(a) for a in self.config.get("args") or []]]
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=env, start_new_session=True)
        except OSError as e:
            hint = self.config.get("installHint")
            raise ExecPluginError(f"{self.name}: cannot run {self.command}: {e.strerror}"
                                  + (f"; {visible_text(str(hint))}" if hint else "")) from None
        self._proc = proc
        self.runs += 1
        try:
            out, err = proc.communicate(timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.communicate()
            raise ExecPluginError(f"{self.name}: no credential after {self.timeout_s:g} s; stopped it") from None
        finally:
            self._proc = None
        if self._closed:
            raise ExecPluginError(f"{self.name}: stopped, the console is stopping")
        if proc.returncode != 0:
            said = visible_text(err.decode("utf-8", "replace").strip()[-STDERR_SHOWN:])
            raise ExecPluginError(f"{self.name} failed (exit status {proc.returncode})" + (f": {said}" if said else ""))
        return self._credential_of(out)

    def _credential_of(self, out: bytes) -> Credential:
        try:
            doc = json.loads(out)
        except ValueError:
            raise ExecPluginError(f"{self.name}: its output is not an ExecCredential (not JSON)") from None
        if not isinstance(doc, dict) or doc.get("kind") != "ExecCredential":
            raise ExecPluginError(f"{self.name}: its output is not an ExecCredential (kind is not ExecCredential)")
        if doc.get("apiVersion") != self.api_version:
            raise ExecPluginError(f"{self.name}: it answered apiVersion {visible_text(str(doc.get('apiVersion')))!r}, "
                                  f"expected {self.api_version}")
        status = doc.get("status")
        if not isinstance(status, dict):
            raise ExecPluginError(f"{self.name}: its ExecCredential has no status")
        token = status.get("token") or None
        cert, key = status.get("clientCertificateData"), status.get("clientKeyData")
        if bool(cert) != bool(key):
            raise ExecPluginError(f"{self.name}: clientCertificateData and clientKeyData must come together")
        if not token and not cert:
            raise ExecPluginError(f"{self.name}: its ExecCredential has neither a token nor a client certificate")
        expires = status.get("expirationTimestamp")
        return Credential(token=token, client_cert=cert.encode() if cert else None,
                          client_key=key.encode() if key else None,
                          expires=_parse_time(expires) if expires else None)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        try:
            proc.kill()
        except OSError:
            pass


def cluster_info(server: str, ca_data: bytes | None, insecure: bool, tls_server_name: str | None,
                 proxy_url: str | None, config: Any = None) -> dict:
    """spec.cluster of KUBERNETES_EXEC_INFO (when the plugin asks for provideClusterInfo)."""
    return {"server": server, "tls-server-name": tls_server_name, "insecure-skip-tls-verify": insecure,
            "certificate-authority-data": base64.b64encode(ca_data).decode() if ca_data else None,
            "proxy-url": proxy_url, "config": config}
