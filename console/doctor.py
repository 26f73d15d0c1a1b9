"""`dsconsole doctor`: the checks of the local environment an operator is about
to rely on, each a verdict (ok / warn / fail) and one line of detail.

Every check only looks: nothing is created, changed or contacted (no network,
no SSH, no cluster request). Values from outside (TERM, paths, kubeconfig and
site file contents) are passed through console.safe_text before they are shown.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, TextIO

from console.safe_text import visible

if TYPE_CHECKING:
    from console.site_config import Site

OK, WARN, FAIL = "ok", "warn", "fail"
MIN_COLUMNS, MIN_LINES = 80, 24     # the dashboard works from 80x24 up (README)
# import name -> what needs it; a missing one means a broken install
RUNTIME_MODULES = {"textual": "the dashboard", "paramiko": "SSH", "msgspec": "the cluster cache",
                   "yaml": "site files and kubeconfigs", "pynvml": "local GPU telemetry"}


@dataclass(frozen=True)
class Finding:
    name: str
    verdict: str    # OK | WARN | FAIL
    detail: str


def run_checks(args: object, env: Mapping[str, str] | None = None,
               stdout: TextIO | None = None) -> list[Finding]:
    """Every check, in the order printed. `args`: the command's parsed options
    (site, kubeconfig, context as for `dsconsole status`)."""
    if env is None:
        env = os.environ
    if stdout is None:
        stdout = sys.stdout
    return [check_python(), check_terminal(stdout), check_term(env), check_colours(env), check_locale(env),
            check_directory("state dir", _paths().state_dir()), check_directory("config dir", _paths().config_dir()),
            *check_site_and_cluster(args, env), check_tool("kubectl", "the runbooks' kubectl commands"),
            check_tool("nvidia-smi", "local GPU checks; the site's GPU hosts are read over SSH")]


def worst(findings: list[Finding]) -> str:
    verdicts = {f.verdict for f in findings}
    return FAIL if FAIL in verdicts else WARN if WARN in verdicts else OK


def _paths() -> ModuleType:
    from console import paths
    return paths


def check_python() -> Finding:
    missing = [f"{mod} ({why})" for mod, why in RUNTIME_MODULES.items() if importlib.util.find_spec(mod) is None]
    version = ".".join(map(str, sys.version_info[:3]))
    if missing:
        return Finding("python", FAIL, f"{version}: missing {', '.join(missing)}; reinstall dsconsole")
    return Finding("python", OK, f"{version}, every runtime package importable")


def check_terminal(stdout: TextIO) -> Finding:
    try:
        fd = stdout.fileno()
        is_tty = os.isatty(fd)
    except (AttributeError, OSError, ValueError):
        is_tty = False
    if not is_tty:
        return Finding("terminal", WARN, "output is not a terminal: the dashboard needs one (status/--json do not)")
    size = os.get_terminal_size(fd)
    text = f"{size.columns}x{size.lines}"
    if size.columns < MIN_COLUMNS or size.lines < MIN_LINES:
        return Finding("terminal", WARN, f"{text}: smaller than {MIN_COLUMNS}x{MIN_LINES}, the dashboard will be "
                                         "cut off; enlarge the window")
    return Finding("terminal", OK, text)


def check_term(env: Mapping[str, str]) -> Finding:
    term = env.get("TERM", "")
    if not term or term == "dumb":
        return Finding("TERM", FAIL, f"{'unset' if not term else 'dumb'}: the dashboard cannot draw; expected a "
                                     "terminal type such as xterm-256color (ssh passes the client's TERM)")
    return Finding("TERM", OK, visible(term))


def check_colours(env: Mapping[str, str]) -> Finding:
    if "NO_COLOR" in env:
        return Finding("colours", OK, "NO_COLOR is set: the dashboard draws without colour")
    colorterm = env.get("COLORTERM", "").lower()
    term = env.get("TERM", "")
    if colorterm in ("truecolor", "24bit"):
        return Finding("colours", OK, f"truecolor (COLORTERM={visible(colorterm)})")
    if "256color" in term:
        return Finding("colours", OK, "256 colours")
    return Finding("colours", WARN, f"TERM={visible(term) or 'unset'} promises 16 colours or fewer: themes lose "
                                    "their shades; set TERM=xterm-256color if the terminal supports it, or "
                                    "use --theme high-contrast")


def check_locale(env: Mapping[str, str]) -> Finding:
    # the first of these that is set decides the character set, as for every C program
    var, value = next(((v, env[v]) for v in ("LC_ALL", "LC_CTYPE", "LANG") if env.get(v)), ("LANG", ""))
    if var == "LC_CTYPE" and _is_utf8(value) and env.get("LANG") and not _is_utf8(env["LANG"]):
        # Python itself sets LC_CTYPE=C.UTF-8 at start-up when the locale is C or
        # unknown (PEP 538 coercion), so that value may not be the user's: their
        # terminal was set up for LANG
        var, value = "LANG", env["LANG"]
    shown = f"{var}={visible(value)}" if value else "LC_ALL, LC_CTYPE and LANG unset"
    if _is_utf8(value):
        return Finding("locale", OK, f"{shown} (UTF-8)")
    return Finding("locale", WARN, f"{shown}: not a UTF-8 locale, so the terminal may not show box drawing and "
                                   "sparklines; expected e.g. LANG=C.UTF-8")


def _is_utf8(locale_name: str) -> bool:
    return "utf8" in locale_name.replace("-", "").lower()


def check_directory(name: str, path: Path) -> Finding:
    """Writable, or creatable by dsconsole (its nearest existing parent writable)."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    shown = visible(str(path))
    if not existing.is_dir():
        return Finding(name, FAIL, f"{shown}: {visible(str(existing))} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        return Finding(name, FAIL, f"{shown}: {visible(str(existing))} is not writable by this user; set "
                                   f"{'XDG_STATE_HOME' if name.startswith('state') else 'XDG_CONFIG_HOME'} "
                                   "to a writable directory")
    return Finding(name, OK, shown if existing == path else f"{shown} (created on first use)")


def check_site_and_cluster(args: object, env: Mapping[str, str]) -> list[Finding]:
    """The site file, the kubeconfig resolution and known_hosts, with the
    precedence every command uses (console/site_session.py)."""
    from console.site_config import (
        ENV_CONTEXT,
        ENV_KUBECONFIG,
        ConfigError,
        effective_cluster,
        load_site,
        site_file_path,
    )
    flags = getattr(args, "kubeconfig", None) or getattr(args, "context", None)
    env_cluster = env.get(ENV_KUBECONFIG) or env.get(ENV_CONTEXT)
    site_path = site_file_path(getattr(args, "site", None), use_default=not flags and not env_cluster)
    site = None
    if not site_path:
        site_finding = Finding("site file", OK, "none (--site FILE, DSCONSOLE_SITE or "
                                                f"{visible(str(_paths().config_dir() / 'site.yaml'))})")
    else:
        try:
            site = load_site(site_path)
        except ConfigError as e:
            problems = str(e).splitlines()
            more = f" (and {len(problems) - 1} more: dsconsole check-config)" if len(problems) > 1 else ""
            site_finding = Finding("site file", FAIL, visible(problems[0]) + more)
        else:
            from console.site_config import summary
            site_finding = Finding("site file", OK, visible(summary(site)))
    findings = [site_finding]
    if site is not None or flags or env_cluster:
        cluster = effective_cluster(site, kubeconfig=getattr(args, "kubeconfig", None),
                                    context=getattr(args, "context", None), env=env)
        findings.append(check_kubeconfig(cluster.kubeconfig, cluster.context))
    elif site_path is None:
        findings.append(Finding("kubeconfig", OK, "no cluster configured: plain dsconsole opens the demo site "
                                                  "(--kubeconfig PATH, --context NAME or a site file for a cluster)"))
    else:
        findings.append(Finding("kubeconfig", WARN, "not checked: the site file that names it does not load"))
    findings.append(check_known_hosts(site))
    return findings


def check_kubeconfig(kubeconfig: str | None, context: str | None) -> Finding:
    from console.kube.kubeconfig import KubeConfigError, resolve
    try:
        target = resolve(kubeconfig, context)
    except KubeConfigError as e:
        return Finding("kubeconfig", FAIL, visible(str(e)))
    detail = visible(target.describe())
    if target.plugin == "auth-provider" and importlib.util.find_spec("kubernetes") is None:
        return Finding("kubeconfig", FAIL, f"{detail}: its user's credentials come from an auth-provider, which "
                                           "needs the kubernetes package; expected deepseek-console[auth-provider]")
    return Finding("kubeconfig", OK, detail)


def check_known_hosts(site: Site | None) -> Finding:
    from console.hosts import known_hosts
    present = [p for p in known_hosts.default_files() if p.is_file()]
    if site is None or not site.hosts:
        if not present:
            return Finding("known_hosts", OK, "none yet (dsconsole hosts trust NAME adds a host's key)")
        return Finding("known_hosts", OK, ", ".join(visible(str(p)) for p in present))
    db = known_hosts.KnownHosts(present)
    unknown = [h.name for h in site.hosts
               if not db.for_name(known_hosts.lookup_name(h.address, h.port or 22))]
    if unknown:
        names = ", ".join(visible(n) for n in unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5
                                                                else "")
        return Finding("known_hosts", WARN, f"no key known for {len(unknown)} of {len(site.hosts)} site hosts "
                                            f"({names}): connections to them are refused until `dsconsole hosts "
                                            "trust NAME`")
    return Finding("known_hosts", OK, f"a key known for each of the {len(site.hosts)} site hosts")


def check_tool(name: str, what_for: str) -> Finding:
    path = shutil.which(name)
    # dsconsole itself needs neither tool: their absence is information, not a warning
    return Finding(name, OK, visible(path) if path else f"not on PATH (used for: {what_for}; dsconsole does not "
                                                          "need it)")
