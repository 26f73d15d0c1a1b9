"""The site file: one YAML document describing a site (cluster, hosts, thresholds).

    name: prod-east                      # required
    cluster: {kubeconfig, context, namespace, production}
    hosts: [{name, address, user, port, jump, identity_file, role, node, stop_command, start_command}]
    thresholds: {...}   consistency: {...}   tuning: {...}   telemetry: {...}
    backup: {password_file | password_env, sources: [...], copies: [...], policy: {...}}
    balancer: {host, url, include, upstream, nginx, error_log, max_fails, fail_timeout_s, upstreams: [...]}
    bluegreen: {model, mode, blue, green, steps, gate: {...}, drain_s}

(README.md, "Site file", has the complete example and every default.)

Parsed with yaml.compose so every node keeps its line: every problem is reported
as `file:line: what is wrong, what was expected`, all of them at once, as a
ConfigError. Unknown keys are errors (with a did-you-mean when one is close),
as are wrong types, missing required fields, bad addresses and ports, duplicate
keys or host names, and a jump naming an unknown host.

Precedence of settings: CLI flag > environment (DSCONSOLE_*) > site file >
defaults (`effective_cluster`).
"""
from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from console.lazy_regex import LazyRegex

if TYPE_CHECKING:   # yaml itself is imported when a file is parsed
    from yaml.nodes import Node


class ConfigError(Exception):
    """One or more problems in a site file; str() is one `file:line: message` per line."""

    def __init__(self, file: str, line: int, message: str, *, more: list[ConfigError] | None = None):
        self.file = str(file)
        self.line = line
        self.message = message
        self.errors: list[ConfigError] = [self] + list(more or [])
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(f"{e.file}:{e.line}: {e.message}" for e in self.errors)


# A site file is a few KB (a thousand hosts are ~100 KB). Far larger input is
# not a site file, and PyYAML's pure-Python composer would take minutes and
# gigabytes over it (a 22 MB file: 130 s, 2 GB), so it is refused unread.
MAX_SITE_BYTES = 1024 * 1024
# A site file is 4 levels deep (site > hosts > host > value). Deeper input is
# refused before PyYAML's recursive composer runs out of stack (RecursionError).
MAX_DEPTH = 32
# Mappings merged into one by YAML merge keys (`<<`), counted once each.
MAX_MERGES = 32

# --------------------------------------------------------------- the model
ROLES = ("gpu", "lb", "backup", "bastion")
THP_VALUES = ("never", "madvise", "always")


# The record types of console/ and screens/ on the way to the dashboard's first
# frame are msgspec Structs, not dataclasses: a dataclass compiles its generated
# methods when its module is imported (1-4 ms a class, ~40 ms over those modules),
# a Struct class is made in ~0.05 ms. Frozen Structs are value objects like frozen
# dataclasses (fields, ==, repr); msgspec.structs.replace / asdict stand in for
# dataclasses.replace / asdict.
class ClusterConfig(msgspec.Struct, frozen=True):
    kubeconfig: str | None = None     # default: KUBECONFIG, then ~/.kube/config (as kubectl)
    context: str | None = None        # default: the kubeconfig's current-context
    namespace: str = "deepseek"       # namespace of the model servers
    production: bool = False          # drills here need an extra typed confirmation / --allow-production


class HostConfig(msgspec.Struct, frozen=True):
    name: str
    address: str
    user: str | None = None           # default: ~/.ssh/config, then the local user
    port: int | None = None           # default: ~/.ssh/config, then 22
    jump: str | None = None           # name of another host of this file (ProxyJump)
    identity_file: str | None = None
    role: str = "gpu"                 # gpu | lb | backup | bastion
    node: str | None = None           # the Kubernetes node this host is (default: the host's name)
    stop_command: str | None = None   # drills: stops this host's service (gpu: default systemctl stop kubelet)
    start_command: str | None = None  # drills: starts it again (the rollback; gpu: systemctl start kubelet)


class Thresholds(msgspec.Struct, frozen=True):
    gpu_util_pct: float = 90          # alert when a GPU stays above this ...
    gpu_util_window_s: float = 300    # ... for this long
    p99_latency_ms: float = 500       # P99 of vllm:e2e_request_latency_seconds
    p99_scrape_interval_s: float = 15 # how often the model servers' /metrics are read
    consistency_failure_pct: float = 0.1  # failed consistency checks, % of checks in the window
    consistency_interval_s: float = 60    # one check per model server per interval
    consistency_window_s: float = 3600    # failure rate window
    restart_window_s: float = 600     # a pod that restarted within this is "restarting"


class ConsistencyConfig(msgspec.Struct, frozen=True):
    prompt: str = "Reply with the capital of France, then count from one to five."
    seed: int = 1234
    max_tokens: int = 16
    reference: str | None = None      # expected reply; default: the majority reply of each round


class TuningTargets(msgspec.Struct, frozen=True):
    """Targets of the host-tuning wizard (actions/host_tuning/targets.py reads
    these attributes by name)."""
    swappiness: int = 1               # vm.swappiness
    thp: str = "never"                # transparent hugepages: never | madvise | always
    cuda_major: int = 12              # CUDA toolkit major version required
    driver_min: str | None = None     # minimum NVIDIA driver version, e.g. "535.0" (None: report only)
    nccl_min: str | None = None       # minimum NCCL version, e.g. "2.18"
    memlock: str = "unlimited"        # ulimit -l wanted ("unlimited" or KiB)
    shm_min_gib: float = 32           # minimum /dev/shm size
    numa_balancing: int = 0           # kernel.numa_balancing wanted
    update_grub: bool = False         # run update-grub after editing /etc/default/grub (never reboots)


class ModelConfig(msgspec.Struct, frozen=True):
    """One model of the model-load wizard (actions/model_load/spec.py ModelSpec
    reads these by name; None keeps the wizard's default, the guide's values)."""
    name: str
    image: str | None = None
    model_path: str | None = None       # host path on the nodes, or pvc:NAME[/sub/path]
    flavour: str | None = None          # vllm | sglang
    extra_args: tuple[str, ...] | None = None
    params_b: float | None = None       # parameters, billions
    dtype: str | None = None            # fp8 | bf16 | fp16
    replicas: int | None = None
    gpus_per_replica: int | None = None
    tensor_parallel: int | None = None
    gpu_memory_gib: float | None = None
    memory: str | None = None
    namespace: str | None = None
    port: int | None = None
    memory_fraction: float | None = None
    max_batch: int | None = None
    max_wait_ms: int | None = None
    compile_cache: str | None = None
    startup_budget_s: int | None = None
    warmup_batches: tuple[int, ...] | None = None
    warmup_prompt_lens: tuple[int, ...] | None = None
    settle_k: int | None = None
    settle_pct: float | None = None
    registry: str | None = None


class TelemetryConfig(msgspec.Struct, frozen=True):
    interval_s: float = 5             # GPU telemetry poll interval per host
    history: int = 120                # samples kept per GPU (sparklines, sustained-util alert)


# A host of the backup section: a site host's name, or this machine itself.
LOCAL_HOST = "local"
SOURCE_KINDS = ("directory", "kubernetes", "site-file", "audit-log")
COPY_KINDS = ("production", "same-city", "off-site", "offline")
MEDIA = ("ssd", "hdd", "tape", "object", "removable")


class BackupSource(msgspec.Struct, frozen=True):
    """What is backed up. `directory`: `path` on `host` (model weights,
    compile caches); `kubernetes`: the deployment's objects of `namespaces`
    (default: the cluster's namespace) as YAML, Secrets included (they only
    ever go into the encrypted repository); `site-file`, `audit-log`: this
    console's own."""
    name: str
    kind: str = "directory"
    host: str = LOCAL_HOST
    path: str | None = None
    namespaces: tuple[str, ...] = ()


class BackupCopy(msgspec.Struct, frozen=True):
    """One restic repository: a path on `host`, or `sftp:[user@]host:/path`
    reached from the host of each source (`ssh_config` names the ssh client
    configuration restic's ssh uses)."""
    name: str
    kind: str
    medium: str
    repository: str
    host: str = LOCAL_HOST
    ssh_config: str | None = None
    limit_upload_kib: int | None = None    # restic --limit-upload (KiB/s), for thin links

    @property
    def is_sftp(self) -> bool:
        return self.repository.startswith("sftp:")


class BackupPolicy(msgspec.Struct, frozen=True):
    verify_every_h: float = 168           # restic check + restore drill at least this often
    read_data_subset_pct: float = 5       # restic check --read-data-subset
    offline_max_age_d: float = 30         # warn when the offline copy is older than this
    keep_last: int | None = None          # retention (restic forget --keep-*)
    keep_daily: int | None = None
    keep_weekly: int | None = None
    keep_monthly: int | None = None
    scratch_dir: str = "/var/tmp"         # where restore drills restore to (on the copy's host)
    rto_target_s: float | None = None     # the restore drill's RTO target (drill run restore); None: no verdict


class BackupConfig(msgspec.Struct, frozen=True):
    password_file: str | None = None      # repository password: a file on this machine ...
    password_env: str | None = None       # ... or an environment variable (never a command line)
    sources: tuple[BackupSource, ...] = ()
    copies: tuple[BackupCopy, ...] = ()
    policy: BackupPolicy = msgspec.field(default_factory=BackupPolicy)


class BalancerUpstream(msgspec.Struct, frozen=True):
    """One `server` of the balancer's upstream block, and how a drill stops it:
    commands run on `host` (a hosts: entry, or local) through its Transport."""
    address: str                          # host:port as nginx's upstream block names it
    host: str | None = None
    stop_command: str | None = None       # e.g. systemctl stop vllm@8000
    start_command: str | None = None


class BalancerConfig(msgspec.Struct, frozen=True):
    """The site's nginx load balancer: the load-balancer drill stops its
    upstreams, the blue-green wizard (mode nginx) owns its include file
    (README.md, "Site file")."""
    host: str                             # where nginx runs (a hosts: entry with role lb, or local)
    url: str                              # the balancer as this console reaches it
    upstream: str = "deepseek"            # the upstream block's name
    include: str = "/etc/nginx/conf.d/dsconsole-upstream.conf"   # the one file blue-green owns there
    nginx: str = "nginx"                  # the command (tests: "nginx -p PREFIX -c CONF")
    error_log: str = "/var/log/nginx/error.log"
    max_fails: int = 1                    # as the upstream block sets them: what the drill expects
    fail_timeout_s: float = 10.0
    upstreams: tuple[BalancerUpstream, ...] = ()


BLUEGREEN_MODES = ("nginx", "service")


class BlueGreenGateConfig(msgspec.Struct, frozen=True):
    window_s: float = 20
    min_requests: int = 50
    success_rate: float = 0.99
    p99_ms: float = 500


class BlueGreenConfig(msgspec.Struct, frozen=True):
    model: str                              # a models: entry both colours run
    mode: str = "nginx"                     # nginx (through the site's balancer:) | service
    blue: tuple[str, ...] = ()              # mode nginx: upstream servers host:port of each colour
    green: tuple[str, ...] = ()             # (empty: the colour's warm pods)
    steps: tuple[tuple[int, int], ...] = ((100, 0), (90, 10), (50, 50), (0, 100))
    gate: BlueGreenGateConfig = msgspec.field(default_factory=BlueGreenGateConfig)
    drain_s: float = 60


class Site(msgspec.Struct, frozen=True):
    name: str
    cluster: ClusterConfig = msgspec.field(default_factory=ClusterConfig)
    hosts: tuple[HostConfig, ...] = ()
    thresholds: Thresholds = msgspec.field(default_factory=Thresholds)
    consistency: ConsistencyConfig = msgspec.field(default_factory=ConsistencyConfig)
    tuning: TuningTargets = msgspec.field(default_factory=TuningTargets)
    telemetry: TelemetryConfig = msgspec.field(default_factory=TelemetryConfig)
    models: tuple[ModelConfig, ...] = ()
    backup: BackupConfig | None = None
    balancer: BalancerConfig | None = None
    bluegreen: BlueGreenConfig | None = None
    path: str | None = None

    def host(self, name: str) -> HostConfig:
        for h in self.hosts:
            if h.name == name:
                return h
        raise KeyError(name)

    def hosts_with_role(self, role: str) -> tuple[HostConfig, ...]:
        return tuple(h for h in self.hosts if h.role == role)


# ------------------------------------------------------------ value checks
# A check takes the constructed Python value and returns (ok, converted value).
Check = Callable[[Any], Any]
# A section's keys: key -> (check, required).
Spec = dict[str, tuple[Check, bool]]


class _Bad(Exception):
    """Raised by a check: the message says what was expected."""


def _close_matches(word: str, options: list[str], n: int = 1, cutoff: float = 0.6) -> list[str]:
    import difflib  # only on the error path
    return difflib.get_close_matches(word, options, n=n, cutoff=cutoff)


def _describe(value: Any) -> str:
    import datetime
    if value is None:
        return "nothing (null)"
    if isinstance(value, (datetime.date, datetime.datetime)):
        return f"a date ({value.isoformat()}; quote it if it is text)"
    if isinstance(value, bytes):
        return "binary data (!!binary)"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _string(v: Any) -> str:
    if not isinstance(v, str) or not v.strip():
        raise _Bad(f"expected a non-empty string, got {_describe(v)}")
    return v


def _int_range(lo: int | None = None, hi: int | None = None) -> Check:
    def check(v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int):
            raise _Bad(f"expected an integer{_range_text(lo, hi)}, got {_describe(v)}")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise _Bad(f"{v} is out of range, expected an integer{_range_text(lo, hi)}")
        return v
    return check


def _number(lo: float | None = None, hi: float | None = None, *, positive: bool = False) -> Check:
    def check(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise _Bad(f"expected a number{_range_text(lo, hi, positive)}, got {_describe(v)}")
        if isinstance(v, float) and not math.isfinite(v):   # .nan, .inf: no threshold compares sanely
            raise _Bad(f"{v} is not a finite number, expected a number{_range_text(lo, hi, positive)}")
        if isinstance(v, int) and abs(v) > 2 ** 53:         # would not survive float arithmetic
            raise _Bad(f"{v} is too large, expected a number{_range_text(lo, hi, positive)}")
        if (positive and v <= 0) or (lo is not None and v < lo) or (hi is not None and v > hi):
            raise _Bad(f"{v} is out of range, expected a number{_range_text(lo, hi, positive)}")
        return v
    return check


def _range_text(lo: float | None, hi: float | None, positive: bool = False) -> str:
    if positive:
        return " greater than 0"
    if lo is not None and hi is not None:
        return f" from {lo} to {hi}"
    if lo is not None:
        return f" >= {lo}"
    return ""


def _boolean(v: Any) -> bool:
    if not isinstance(v, bool):
        raise _Bad(f"expected true or false, got {_describe(v)}")
    return v


def _choice(options: tuple[str, ...]) -> Check:
    def check(v: Any) -> str:
        if v not in options:
            raise _Bad(f"expected one of {', '.join(options)}, got {_describe(v)}")
        return v
    return check


def _memlock(v: Any) -> str:
    if v == "unlimited" or (isinstance(v, int) and not isinstance(v, bool) and v > 0):
        return str(v)
    raise _Bad(f"expected 'unlimited' or a size in KiB, got {_describe(v)}")


_HOST_NAME = LazyRegex(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_DNS_LABEL = LazyRegex(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def _host_name(v: Any) -> str:
    v = _string(v)
    if not _HOST_NAME.match(v):
        raise _Bad(f"bad host name {v!r}, expected letters, digits, '.', '_' or '-' (at most 63)")
    return v


def _address(v: Any) -> str:
    """An IPv4/IPv6 address or a DNS name."""
    if isinstance(v, str):
        import ipaddress
        candidate = v.strip("[]")
        try:
            ipaddress.ip_address(candidate)
            return candidate
        except ValueError:
            pass
        looks_numeric = re.fullmatch(r"[\d.]+", v) is not None or ":" in v
        labels = v.rstrip(".").split(".")
        if (not looks_numeric and len(v) <= 253 and all(_DNS_LABEL.match(label) for label in labels)
                and not labels[-1].isdigit()):
            return v
    raise _Bad(f"bad address {_describe(v)}, expected an IP address or a DNS name")


def _version(v: Any, written: str | None = None, key: str = "driver_min") -> str:
    """A version string. Written as a number, YAML reads 550.90 as the float
    550.9 and 2.10 as 2.1 (other versions): refused, with the quoted form."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        text = written or str(v)
        reads = f" reads as {v!r}" if str(v) != text else ""
        raise _Bad(f"the version {text}{reads} when written as a number; expected it quoted: "
                   f"{key}: \"{text}\"")
    if not isinstance(v, str) or not re.fullmatch(r"\d+(\.\d+)*", v):
        raise _Bad(f"expected a version like \"535.104\" (quote it), got {_describe(v)}")
    return v


def _path(v: Any) -> str:
    return os.path.expanduser(_string(v))


# ---------------------------------------------------------------- sections
# The tables of keys below and further down (backup), each a Spec:
_CLUSTER: Spec
_HOST: Spec
_THRESHOLDS: Spec
_CONSISTENCY: Spec
_TUNING: Spec
_MODEL: Spec
_TELEMETRY: Spec
_BACKUP: Spec
_BACKUP_SOURCE: Spec
_BACKUP_COPY: Spec
_BACKUP_POLICY: Spec
_SECTIONS: dict[str, tuple[Spec, Callable[..., msgspec.Struct]]]
# key -> (check, required)
_CLUSTER = {"kubeconfig": (_path, False), "context": (_string, False), "namespace": (_string, False),
            "production": (_boolean, False)}
_HOST = {"name": (_host_name, True), "address": (_address, True), "user": (_string, False),
         "port": (_int_range(1, 65535), False), "jump": (_host_name, False),
         "identity_file": (_path, False), "role": (_choice(ROLES), False),
         "node": (_string, False), "stop_command": (_string, False), "start_command": (_string, False)}
_THRESHOLDS = {"gpu_util_pct": (_number(0, 100), False), "gpu_util_window_s": (_number(positive=True), False),
               "p99_latency_ms": (_number(positive=True), False),
               "p99_scrape_interval_s": (_number(positive=True), False),
               "consistency_failure_pct": (_number(0, 100), False),
               "consistency_interval_s": (_number(positive=True), False),
               "consistency_window_s": (_number(positive=True), False),
               "restart_window_s": (_number(positive=True), False)}
_CONSISTENCY = {"prompt": (_string, False), "seed": (_int_range(0), False),
                "max_tokens": (_int_range(1, 8192), False), "reference": (_string, False)}
_TUNING = {"swappiness": (_int_range(0, 200), False), "thp": (_choice(THP_VALUES), False),
           "cuda_major": (_int_range(1, 99), False), "driver_min": (_version, False),
           "nccl_min": (_version, False), "memlock": (_memlock, False),
           "shm_min_gib": (_number(0), False), "numa_balancing": (_int_range(0, 1), False),
           "update_grub": (_boolean, False)}
class _ListOf:
    """The check of a non-empty list, each item checked by `item`: fields()
    hands it the list's scalars rather than one scalar."""

    def __init__(self, item: Check):
        self.item = item

    def __call__(self, v: Any) -> tuple[Any, ...]:
        if not isinstance(v, list) or not v:
            raise _Bad(f"expected a non-empty list, got {_describe(v)}")
        return tuple(self.item(x) for x in v)


_MODEL = {"name": (_host_name, True), "image": (_string, False), "model_path": (_string, False),
          "flavour": (_choice(("vllm", "sglang")), False), "extra_args": (_ListOf(_string), False),
          "params_b": (_number(positive=True), False), "dtype": (_choice(("fp8", "bf16", "fp16")), False),
          "replicas": (_int_range(0, 10000), False), "gpus_per_replica": (_int_range(1, 64), False),
          "tensor_parallel": (_int_range(1, 64), False), "gpu_memory_gib": (_number(positive=True), False),
          "memory": (_string, False), "namespace": (_string, False), "port": (_int_range(1, 65535), False),
          "memory_fraction": (_number(0, 1, positive=True), False), "max_batch": (_int_range(1, 65536), False),
          "max_wait_ms": (_int_range(0, 600000), False), "compile_cache": (_string, False),
          "startup_budget_s": (_int_range(10, 86400), False),
          "warmup_batches": (_ListOf(_int_range(1, 4096)), False),
          "warmup_prompt_lens": (_ListOf(_int_range(1, 1048576)), False),
          "settle_k": (_int_range(1, 100), False), "settle_pct": (_number(positive=True), False),
          "registry": (_string, False)}
_TELEMETRY = {"interval_s": (_number(positive=True), False), "history": (_int_range(2, 100000), False)}
_SECTIONS = {"cluster": (_CLUSTER, ClusterConfig), "thresholds": (_THRESHOLDS, Thresholds),
             "consistency": (_CONSISTENCY, ConsistencyConfig), "tuning": (_TUNING, TuningTargets),
             "telemetry": (_TELEMETRY, TelemetryConfig)}
_TOP = ("name", "cluster", "hosts", "thresholds", "consistency", "tuning", "telemetry", "models", "backup",
        "balancer", "bluegreen")


def _sftp_or_path(v: Any) -> str:
    v = _string(v)
    if v.startswith("sftp:"):
        if not re.fullmatch(r"sftp:(?:[A-Za-z0-9._-]+@)?[A-Za-z0-9._-]+:/\S*", v):
            raise _Bad(f"bad sftp repository {v!r}, expected sftp:[user@]host:/absolute/path")
        return v
    if not v.startswith("/"):
        raise _Bad(f"expected an absolute path or sftp:[user@]host:/path, got {v!r}")
    return v


_BACKUP = {"password_file": (_path, False), "password_env": (_string, False)}
_BACKUP_SOURCE = {"name": (_host_name, True), "kind": (_choice(SOURCE_KINDS), False),
                  "host": (_host_name, False), "path": (_string, False)}
_BACKUP_COPY = {"name": (_host_name, True), "kind": (_choice(COPY_KINDS), True),
                "medium": (_choice(MEDIA), True), "repository": (_sftp_or_path, True),
                "host": (_host_name, False), "ssh_config": (_path, False),
                "limit_upload_kib": (_int_range(1), False)}
_BACKUP_POLICY = {"verify_every_h": (_number(positive=True), False),
                  "read_data_subset_pct": (_number(positive=True, hi=100), False),
                  "offline_max_age_d": (_number(positive=True), False),
                  "keep_last": (_int_range(1), False), "keep_daily": (_int_range(1), False),
                  "keep_weekly": (_int_range(1), False), "keep_monthly": (_int_range(1), False),
                  "scratch_dir": (_string, False), "rto_target_s": (_number(positive=True), False)}


# ----------------------------------------------------------------- parsing
_YAML = "tag:yaml.org,2002:"
_PLAIN_TAGS = {_YAML + t for t in ("str", "int", "float", "bool", "null", "timestamp", "binary")}
_UNREADABLE = object()   # a scalar whose value could not be read (already reported)


def _tag_text(tag: str) -> str:
    return "!!" + tag[len(_YAML):] if tag.startswith(_YAML) else tag


class _Parser:
    def __init__(self, path: str):
        import yaml
        self.yaml = yaml
        self.path = path
        self.errors: list[tuple[int, str]] = []
        self.suggested: set[tuple[int, str]] = set()   # (mapping node id, key) a typo hint named
        self._constructor = yaml.SafeLoader("")

    def error(self, node: Node | None, message: str) -> None:
        self.errors.append((node.start_mark.line + 1 if node is not None else 1, message))

    def scalar(self, node: Node) -> Any:
        """The value of a scalar node ([] / {} stand for a list / mapping). Raises
        _Bad for what cannot be read: a tag other than YAML's plain ones (`!foo`,
        `!!python/...`), a bad !!timestamp / !!binary / date."""
        if not isinstance(node, self.yaml.ScalarNode):
            self.plain_tag(node)
            return [] if isinstance(node, self.yaml.SequenceNode) else {}
        self.plain_tag(node)
        try:
            return self._constructor.construct_object(node, deep=True)
        except Exception as e:  # noqa: BLE001 - the constructors raise ValueError, binascii.Error, ...
            raise _Bad(_unreadable(node, e)) from None

    def plain_tag(self, node: Node) -> None:
        tag = node.tag
        plain = (_PLAIN_TAGS if isinstance(node, self.yaml.ScalarNode) else
                 {_YAML + "seq"} if isinstance(node, self.yaml.SequenceNode) else {_YAML + "map"})
        if tag not in plain:
            raise _Bad(f"unsupported YAML tag {_tag_text(tag)!r}; expected a plain value without a tag "
                       f"(quote text that starts with '!')")

    def describe(self, node: Node) -> str:
        try:
            return "nothing" if _is_null(node) else _describe(self.scalar(node))
        except _Bad:
            return f"a value tagged {_tag_text(node.tag)!r}"

    def pairs(self, node: Node, what: str) -> list[tuple[Node, Node, bool]]:
        """(key node, value node, merged?) of a mapping node, YAML merge keys
        (`<<: *a`, `<<: [*a, *b]`) resolved as YAML defines them: the mapping's
        own keys first, then each merged mapping's (its own keys, then what it
        merges), in order; mapping() keeps the first of a key. Each merged
        mapping counts once, and at most MAX_MERGES of them: merges that fan
        out (a `<<` "billion laughs") are refused, not expanded."""
        out: list[tuple[Node, Node, bool]] = []
        self._merge(node, what, out, {id(node)}, merged=False)
        return out

    def _merge(self, node: Node, what: str, out: list[tuple[Node, Node, bool]], visited: set[int],
               merged: bool) -> None:
        merges = []
        for key_node, value_node in node.value:
            if key_node.tag == _YAML + "merge":
                merges.append(value_node)
            else:
                out.append((key_node, value_node, merged))
        for value_node in merges:
            sources = (value_node.value if isinstance(value_node, self.yaml.SequenceNode)
                       else [value_node])
            for src in sources:
                if not isinstance(src, self.yaml.MappingNode) or src.tag != _YAML + "map":
                    self.error(src, f"{what}: expected a mapping or a list of mappings after the merge "
                                    f"key `<<` (`<<: *anchor`), got {self.describe(src)}")
                elif id(src) not in visited:
                    visited.add(id(src))
                    if len(visited) > MAX_MERGES + 1:
                        raise _Bad(f"more than {MAX_MERGES} mappings merged into one (`<<`); "
                                   f"expected a few `<<: *anchor`")
                    self._merge(src, what, out, visited, merged=True)

    def mapping(self, node: Node, what: str, allowed: Collection[str],
                context: str) -> dict[str, tuple[Node, Node]] | None:
        """key -> (key node, value node); reports duplicates, unknown keys, non-mappings."""
        if not isinstance(node, self.yaml.MappingNode):
            self.error(node, f"{what}: expected a mapping ({context}), got {self.describe(node)}")
            return None
        try:
            self.plain_tag(node)
        except _Bad as e:
            self.error(node, f"{what}: {e}")
            return None
        out: dict[str, tuple[Node, Node]] = {}
        try:
            pairs = self.pairs(node, what)
        except _Bad as e:
            self.error(node, f"{what}: {e}")
            return None
        for key_node, value_node, from_merge in pairs:
            try:
                key = self.scalar(key_node) if isinstance(key_node, self.yaml.ScalarNode) else None
            except _Bad as e:
                self.error(key_node, f"{what}: {e}")
                continue
            if not isinstance(key, str):
                self.error(key_node, f"{what}: expected string keys, got {_describe(key)}")
                continue
            if key in out:
                if not from_merge:   # a merged key the mapping already has: overridden, as YAML says
                    self.error(key_node, f"{what}: duplicate key {key!r} (first at line "
                                         f"{out[key][0].start_mark.line + 1}); expected each key once")
                continue
            if key not in allowed:
                close = _close_matches(key, list(allowed), n=1, cutoff=0.6)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                if close:
                    self.suggested.add((id(node), close[0]))
                self.error(key_node, f"{what}: unknown key {key!r}{hint}; expected one of {', '.join(allowed)}")
                continue
            out[key] = (key_node, value_node)
        return out

    def fields(self, node: Node, what: str, spec: Spec,
               nodes: dict[str, Node] | None = None) -> dict[str, Any] | None:
        """The checked values of a mapping of scalars; `nodes` (when given)
        receives key -> value node."""
        m = self.mapping(node, what, spec, "keys " + ", ".join(spec))
        if m is None:
            return None
        values: dict[str, Any] = {}
        for key, (check, required) in spec.items():
            if key not in m:
                if required and (id(node), key) not in self.suggested:  # a typo already explains it
                    self.error(node, f"{what}: missing required key {key!r}; expected `{key}:` with a value")
                continue
            key_node, value_node = m[key]
            if nodes is not None:
                nodes[key] = value_node
            if isinstance(check, _ListOf) and isinstance(value_node, self.yaml.SequenceNode):
                if any(not isinstance(n, self.yaml.ScalarNode) for n in value_node.value):
                    self.error(value_node, f"{what}.{key}: expected a list of single values")
                    continue
                try:
                    values[key] = check([self.scalar(n) for n in value_node.value])
                except _Bad as e:
                    self.error(value_node, f"{what}.{key}: {e}")
                continue
            try:
                value = self.scalar(value_node)
                if not isinstance(value_node, self.yaml.ScalarNode):
                    self.error(value_node, f"{what}.{key}: expected a single value, got {_describe(value)}")
                    continue
                # a version's digits as written: YAML's float drops the trailing zero of 550.90
                values[key] = (_version(value, value_node.value, key) if check is _version
                               else check(value))
            except _Bad as e:
                self.error(value_node, f"{what}.{key}: {e}")
        return values


def _unreadable(node: Node, exc: Exception) -> str:
    """What is wrong with a scalar YAML could not construct, and what was expected."""
    tag = node.tag[len(_YAML):] if node.tag.startswith(_YAML) else node.tag
    text = node.value if len(node.value) <= 40 else node.value[:40] + "..."
    if tag == "binary":
        return "!!binary value is not valid base64; expected base64 data or plain text"
    if tag == "timestamp":
        return (f"{text!r} is not a valid date ({exc}); expected YYYY-MM-DD, or quote it if it is "
                f"text")
    return f"cannot read {text!r} as {tag} ({type(exc).__name__}); expected a plain value"


def _is_null(node: Node) -> bool:
    return getattr(node, "tag", "").endswith(":null")


def _yaml_error(e: Exception, text: str) -> tuple[int, str]:
    """(line, message) of a PyYAML parse error."""
    import yaml

    from console.yaml_loader import NestingTooDeep
    if isinstance(e, NestingTooDeep):
        return (e.problem_mark.line + 1 if e.problem_mark else 1,
                f"{e.problem}; expected a site file (site > hosts > host > value: 4 levels)")
    if isinstance(e, yaml.reader.ReaderError):   # a control character or bad encoding: no mark
        line = text.count("\n", 0, max(0, e.position)) + 1
        char = e.character if isinstance(e.character, int) else ord(e.character[:1] or "?")
        return line, (f"bad YAML: unacceptable character #x{char:04x} ({e.reason}); expected "
                      f"printable text (write control characters as escapes in double quotes)")
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    line = mark.line + 1 if mark else 1
    problem = getattr(e, "problem", None) or str(e)
    context = getattr(e, "context", None)
    cmark = getattr(e, "context_mark", None)
    if context and cmark is not None and cmark.line + 1 != line:
        context += f" started at line {cmark.line + 1}"
    msg = f"bad YAML: {problem}" + (f" ({context})" if context else "")
    return line, msg + "; expected a YAML mapping"


def parse_site(text: str, path: str = "<site>") -> Site:
    """Parse and validate a site document; raises ConfigError with every problem."""
    import yaml

    from console.yaml_loader import hardened_loader
    if len(text) > MAX_SITE_BYTES:
        raise ConfigError(path, 1, _too_large(len(text)))
    p = _Parser(path)
    try:
        root = yaml.compose(text, Loader=hardened_loader(MAX_DEPTH))
    except yaml.YAMLError as e:
        raise ConfigError(path, *_yaml_error(e, text)) from None
    if root is None:
        raise ConfigError(path, 1, "empty site file; expected a mapping with at least `name:`")
    top = p.mapping(root, "site", _TOP, "keys " + ", ".join(_TOP))
    kwargs: dict[str, Any] = {}
    if top is not None:
        if "name" not in top and (id(root), "name") not in p.suggested:
            p.error(root, "site: missing required key 'name'; expected `name: <site name>` (shown in the header)")
        elif "name" in top:
            value_node = top["name"][1]
            try:
                kwargs["name"] = _string(p.scalar(value_node))
            except _Bad as e:
                p.error(value_node, f"name: {e}")
        for section, (spec, cls) in _SECTIONS.items():
            if section in top:
                values = p.fields(top[section][1], section, spec)
                if values is not None:
                    kwargs[section] = cls(**values)
        if "hosts" in top:
            kwargs["hosts"] = _parse_hosts(p, top["hosts"][1])
        if "models" in top:
            kwargs["models"] = _parse_models(p, top["models"][1])
        if "backup" in top:
            kwargs["backup"] = _parse_backup(p, *top["backup"],
                                             {h.name for h in kwargs.get("hosts", ())})
        if "balancer" in top:
            kwargs["balancer"] = _parse_balancer(p, top["balancer"][1], kwargs.get("hosts", ()))
        if "bluegreen" in top:
            kwargs["bluegreen"] = _parse_bluegreen(p, *top["bluegreen"], kwargs.get("models", ()),
                                                   has_balancer="balancer" in top)
    if p.errors:
        p.errors.sort(key=lambda e: e[0])
        errs = [ConfigError(path, line, msg) for line, msg in p.errors]
        raise ConfigError(errs[0].file, errs[0].line, errs[0].message, more=errs[1:])
    return Site(path=path, **kwargs)


def _first_of_name(p: _Parser, item: Node, what: str, noun: str, name: str, lines: dict[str, int]) -> bool:
    """Whether `name` is new in its list (its line recorded in `lines`); a
    duplicate is reported, naming the line of the first."""
    if name in lines:
        p.error(item, f"{what}: duplicate {noun} name {name!r} (first at line {lines[name]}); "
                      "expected unique names")
        return False
    lines[name] = item.start_mark.line + 1
    return True


def _parse_models(p: _Parser, node: Node) -> tuple[ModelConfig, ...]:
    if not isinstance(node, p.yaml.SequenceNode):
        got = "nothing" if _is_null(node) else _describe(p.scalar(node))
        p.error(node, f"models: expected a list of models (each with name, image, model_path, ...), got {got}")
        return ()
    models: list[ModelConfig] = []
    lines: dict[str, int] = {}
    for i, item in enumerate(node.value):
        values = p.fields(item, f"models[{i}]", _MODEL)
        if values is None or "name" not in values:
            continue
        if not _first_of_name(p, item, f"models[{i}]", "model", values["name"], lines):
            continue
        models.append(ModelConfig(**values))
    return tuple(models)


def _parse_hosts(p: _Parser, node: Node) -> tuple[HostConfig, ...]:
    yaml = p.yaml
    if not isinstance(node, yaml.SequenceNode):
        p.error(node, f"hosts: expected a list of hosts (each with name, address, ...), "
                      f"got {p.describe(node)}")
        return ()
    try:
        p.plain_tag(node)
    except _Bad as e:
        p.error(node, f"hosts: {e}")
        return ()
    hosts: list[HostConfig] = []
    lines: dict[str, int] = {}
    jumps: dict[str, tuple[str, Node]] = {}    # host -> (jump name, its node)
    for i, item in enumerate(node.value):
        nodes: dict[str, Any] = {}
        values = p.fields(item, f"hosts[{i}]", _HOST, nodes)
        if values is None or "name" not in values:
            continue
        name = values["name"]
        if not _first_of_name(p, item, f"hosts[{i}]", "host", name, lines):
            continue
        if "jump" in values:
            jumps[name] = (values["jump"], nodes["jump"])
        if "address" in values and len(p.errors) == 0:
            hosts.append(HostConfig(**values))
    for name, (jump, jump_node) in jumps.items():
        if jump not in lines:
            close = _close_matches(jump, list(lines), n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            p.error(jump_node, f"host {name!r}: jump names unknown host {jump!r}{hint}; "
                               "expected the name of another host in this file")
            continue
        chain: list[str] = [name]
        cur: str | None = jump
        while cur is not None:
            if cur in chain:
                p.error(jump_node, f"host {name!r}: jump hosts form a loop ({' -> '.join(chain + [cur])}); "
                                   "expected a chain that ends at a host without jump")
                break
            chain.append(cur)
            cur = jumps.get(cur, (None, None))[0]
    return tuple(hosts)


def _host_known(p: _Parser, item: Node, what: str, name: str, known_hosts: set[str]) -> bool:
    """Whether `name` (the `host:` of `item`) is local or a host of the file; else reported."""
    if name in known_hosts:
        return True
    close = _close_matches(name, sorted(known_hosts), n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    line_node = next((v for k, v in item.value if p.scalar(k) == "host"), item)
    p.error(line_node, f"{what}.host: unknown host {name!r}{hint}; expected `{LOCAL_HOST}` "
                       "or the name of a host in this file")
    return False


def _url(v: Any) -> str:
    v = _string(v)
    if not re.fullmatch(r"https?://[^\s/]+(:\d+)?/?", v):
        raise _Bad(f"expected http://HOST[:PORT], got {v!r}")
    return v.rstrip("/")


def _server_address(v: Any) -> str:
    v = _string(v)
    if not re.fullmatch(r"[A-Za-z0-9._-]+:\d{1,5}", v):
        raise _Bad(f"expected HOST:PORT as nginx's `server` line names it, got {v!r}")
    return v


_BALANCER: Spec = {"host": (_host_name, True), "url": (_url, True), "upstream": (_string, False),
                   "include": (_path, False), "nginx": (_string, False), "error_log": (_path, False),
                   "max_fails": (_int_range(0, 1000), False),
                   "fail_timeout_s": (_number(positive=True), False)}
_BALANCER_UPSTREAM: Spec = {"address": (_server_address, True), "host": (_host_name, False),
                      "stop_command": (_string, False), "start_command": (_string, False)}


def _parse_balancer(p: _Parser, node: Node, hosts: tuple[HostConfig, ...]) -> BalancerConfig | None:
    """The balancer: section: its scalars (the host local or one with role
    lb), then each upstream (unique addresses, hosts that exist, stop and
    start given together)."""
    host_names = {h.name for h in hosts}
    keys = {**_BALANCER, "upstreams": None}
    m = p.mapping(node, "balancer", keys, "keys " + ", ".join(keys))
    if m is None:
        return None
    scalars = {k: kv for k, kv in m.items() if k != "upstreams"}
    values = p.fields(p.yaml.MappingNode("tag:yaml.org,2002:map", list(scalars.values()),
                                         start_mark=node.start_mark), "balancer", _BALANCER) or {}
    known = host_names | {LOCAL_HOST}
    if "host" in values and _host_known(p, node, "balancer", values["host"], known):
        role = next((h.role for h in hosts if h.name == values["host"]), "lb")
        if role != "lb":
            line_node = next((v for k, v in node.value if p.scalar(k) == "host"), node)
            p.error(line_node, f"balancer.host: host {values['host']!r} has role {role}; expected a host "
                               f"with role lb, or `{LOCAL_HOST}`")
    upstreams: list[BalancerUpstream] = []
    if "upstreams" in m:
        seq = m["upstreams"][1]
        if not isinstance(seq, p.yaml.SequenceNode):
            p.error(seq, f"balancer.upstreams: expected a list of mappings (address, host, stop_command, "
                         f"start_command), got {_describe(p.scalar(seq))}")
            return None
        lines: dict[str, int] = {}
        for i, item in enumerate(seq.value):
            what = f"balancer.upstreams[{i}]"
            u = p.fields(item, what, _BALANCER_UPSTREAM)
            if u is None or "address" not in u:
                continue
            if not _first_of_name(p, item, what, "upstream", u["address"], lines):
                continue
            if "host" in u and not _host_known(p, item, what, u["host"], known):
                continue
            if ("stop_command" in u) != ("start_command" in u):
                p.error(item, f"{what}: stop_command and start_command go together; expected both "
                              "(the drill's rollback runs start_command)")
                continue
            upstreams.append(BalancerUpstream(**u))
    if p.errors or "host" not in values or "url" not in values:
        return None
    return BalancerConfig(**values, upstreams=tuple(upstreams))


def _parse_backup(p: _Parser, key_node: Node, node: Node, host_names: set[str]) -> BackupConfig | None:
    """The backup: section (README.md, "Backup"). Besides each value's type,
    checks what only the whole section shows: unique names, hosts that exist,
    a path for each directory, a password source, and that a directory source
    can reach each copy (restic runs where the data is: a path repository on
    another host is out of its reach, sftp: is not)."""
    yaml = p.yaml
    spec = {**_BACKUP, "sources": None, "copies": None, "policy": None}
    m = p.mapping(node, "backup", spec, "keys " + ", ".join(spec))
    if m is None:
        return None
    scalars = {k: v for k, v in m.items() if k in _BACKUP}
    values = p.fields(yaml.MappingNode("tag:yaml.org,2002:map", [v for v in scalars.values()],
                                       start_mark=node.start_mark), "backup", _BACKUP) or {}
    if "password_file" in values and "password_env" in values:
        p.error(m["password_env"][0], "backup: both password_file and password_env given; "
                                      "expected one of them")
    if "password_file" not in m and "password_env" not in m:
        p.error(key_node, "backup: no repository password; expected `password_file: PATH` or "
                      "`password_env: VARIABLE` (never the password itself)")
    known_hosts = host_names | {LOCAL_HOST}

    def items(key: str) -> list[tuple[int, Node]]:
        if key not in m:
            return []
        seq = m[key][1]
        if not isinstance(seq, yaml.SequenceNode):
            p.error(seq, f"backup.{key}: expected a list of mappings, got {_describe(p.scalar(seq))}")
            return []
        return list(enumerate(seq.value))

    def host_ok(item: Node, what: str, name: str) -> bool:
        return _host_known(p, item, what, name, known_hosts)

    sources: list[BackupSource] = []
    seen: dict[str, int] = {}
    for i, item in items("sources"):
        what = f"backup.sources[{i}]"
        m_item = p.mapping(item, what, {**_BACKUP_SOURCE, "namespaces": None}, "keys name, kind, ...")
        if m_item is None:
            continue
        scal = [v for k, v in m_item.items() if k != "namespaces"]
        vals = p.fields(yaml.MappingNode("tag:yaml.org,2002:map", scal, start_mark=item.start_mark),
                        what, _BACKUP_SOURCE)
        if vals is None or "name" not in vals:
            continue
        if not _first_of_name(p, item, what, "source", vals["name"], seen):
            continue
        kind = vals.get("kind", "directory")
        if kind == "directory" and "path" not in vals:
            p.error(item, f"{what}: a directory source needs `path:` (absolute, on its host)")
            continue
        if "path" in vals and not vals["path"].startswith("/"):
            p.error(m_item["path"][1], f"{what}.path: expected an absolute path, got {vals['path']!r}")
            continue
        if kind != "directory" and ("path" in vals or "host" in vals):
            p.error(item, f"{what}: a {kind} source takes no path or host (it is read by this console)")
            continue
        namespaces: tuple[str, ...] = ()
        if "namespaces" in m_item:
            ns_node = m_item["namespaces"][1]
            got = ([p.scalar(n) for n in ns_node.value]
                   if isinstance(ns_node, yaml.SequenceNode) else None)
            if kind != "kubernetes":
                p.error(ns_node, f"{what}.namespaces: only a kubernetes source takes namespaces")
                continue
            if not isinstance(ns_node, yaml.SequenceNode) or not got or \
                    not all(isinstance(n, str) and _DNS_LABEL.match(n) for n in got):
                p.error(ns_node, f"{what}.namespaces: expected a list of namespace names")
                continue
            namespaces = tuple(got)
        if not host_ok(item, what, vals.get("host", LOCAL_HOST)):
            continue
        sources.append(BackupSource(namespaces=namespaces, **vals))

    copies: list[BackupCopy] = []
    seen = {}
    for i, item in items("copies"):
        what = f"backup.copies[{i}]"
        vals = p.fields(item, what, _BACKUP_COPY)
        if vals is None or "name" not in vals:
            continue
        if not _first_of_name(p, item, what, "copy", vals["name"], seen):
            continue
        if not host_ok(item, what, vals.get("host", LOCAL_HOST)):
            continue
        if not {"kind", "medium", "repository"} <= set(vals):
            continue
        copy = BackupCopy(**vals)
        if not copy.is_sftp:
            far = [s.name for s in sources if s.kind == "directory" and s.host != copy.host]
            if far:
                p.error(item, f"{what}: repository {copy.repository} is a path on host {copy.host!r}, "
                              f"out of reach of source(s) {', '.join(far)} on other hosts; expected "
                              "sftp:[user@]host:/path, or the sources on the same host")
        copies.append(copy)
    policy = BackupPolicy()
    if "policy" in m:
        pv = p.fields(m["policy"][1], "backup.policy", _BACKUP_POLICY)
        if pv is not None:
            policy = BackupPolicy(**pv)
    if "copies" in m and not copies and not p.errors:
        p.error(m["copies"][1], "backup.copies: empty; expected at least one copy")
    return BackupConfig(sources=tuple(sources), copies=tuple(copies), policy=policy, **values)


_BLUEGREEN: Spec = {"model": (_host_name, True), "mode": (_choice(BLUEGREEN_MODES), False),
              "blue": (_ListOf(_server_address), False), "green": (_ListOf(_server_address), False),
              "drain_s": (_number(0, 86400), False)}
_BLUEGREEN_GATE: Spec = {"window_s": (_number(positive=True), False), "min_requests": (_int_range(1, 10 ** 6), False),
                   "success_rate": (_number(0, 1), False), "p99_ms": (_number(positive=True), False)}


def _parse_bluegreen(p: _Parser, key_node: Node, node: Node, models: tuple[ModelConfig, ...], *,
                     has_balancer: bool) -> BlueGreenConfig | None:
    """The bluegreen: section (README.md, "Blue-green switchover"). Besides each
    value's type: the model is a models: entry, mode nginx has the site's
    balancer: section to switch on, every step is [blue, green] in 0..100
    summing to 100, and the last step gives green everything."""
    yaml = p.yaml
    spec = {**_BLUEGREEN, "steps": None, "gate": None}
    m = p.mapping(node, "bluegreen", spec, "keys " + ", ".join(spec))
    if m is None:
        return None
    scalars = [v for k, v in m.items() if k in _BLUEGREEN]
    values = p.fields(yaml.MappingNode("tag:yaml.org,2002:map", scalars, start_mark=node.start_mark),
                      "bluegreen", _BLUEGREEN) or {}
    if "model" not in m:
        return None
    model = values.get("model")
    if model is not None and model not in {mc.name for mc in models}:
        close = _close_matches(model, [mc.name for mc in models])
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        p.error(m["model"][1], f"bluegreen.model: unknown model {model!r}{hint}; expected the name of an "
                               "entry of models:")
    if values.get("mode", "nginx") == "nginx" and not has_balancer:
        p.error(key_node, "bluegreen: mode nginx switches the weights on the site's `balancer:` section "
                          "(host, url, include, ...), and this file has none; expected one, or `mode: service`")
    steps = _bluegreen_steps(p, m["steps"][1]) if "steps" in m else None
    gate = BlueGreenGateConfig()
    if "gate" in m:
        gv = p.fields(m["gate"][1], "bluegreen.gate", _BLUEGREEN_GATE)
        if gv is not None:
            gate = BlueGreenGateConfig(**gv)
    extra: dict[str, Any] = {"steps": steps} if steps else {}
    return BlueGreenConfig(gate=gate, **extra, **values)


def _bluegreen_steps(p: _Parser, node: Node) -> tuple[tuple[int, int], ...] | None:
    yaml = p.yaml
    want = "a list of [blue, green] weights, e.g. [[100, 0], [90, 10], [50, 50], [0, 100]]"
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        p.error(node, f"bluegreen.steps: expected {want}, got {p.describe(node)}")
        return None
    out: list[tuple[int, int]] = []
    for i, item in enumerate(node.value):
        pair = None
        if isinstance(item, yaml.SequenceNode) and len(item.value) == 2 and all(
                isinstance(n, yaml.ScalarNode) for n in item.value):
            try:
                pair = [p.scalar(n) for n in item.value]
            except _Bad:
                pair = None
        if pair is None or any(isinstance(w, bool) or not isinstance(w, int) or not 0 <= w <= 100 for w in pair):
            p.error(item, f"bluegreen.steps[{i}]: expected [blue, green], two integers 0..100, got "
                          f"{p.describe(item) if pair is None else pair}")
            return None
        if pair[0] + pair[1] != 100:
            p.error(item, f"bluegreen.steps[{i}]: weights {pair[0]} + {pair[1]} = {pair[0] + pair[1]}; "
                          "expected a sum of 100")
            return None
        out.append((pair[0], pair[1]))
    if out[-1] != (0, 100):
        p.error(node.value[-1], f"bluegreen.steps: the last step is {list(out[-1])}; expected [0, 100] "
                                "(green takes all traffic before blue is drained)")
        return None
    return tuple(out)


def load_site(path: str | os.PathLike) -> Site:
    """Read and validate a site file; ConfigError on any problem (also unreadable files)."""
    path = str(path)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > MAX_SITE_BYTES:       # refused unread: see MAX_SITE_BYTES
                raise ConfigError(path, 1, _too_large(size))
            data = f.read(MAX_SITE_BYTES + 1)   # no size to trust (a pipe, /dev/zero): read a bounded amount
        if len(data) > MAX_SITE_BYTES:
            raise ConfigError(path, 1, _too_large(None))
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(path, 1, "no such file; expected a site YAML file") from None
    except IsADirectoryError:
        raise ConfigError(path, 1, "is a directory; expected a site YAML file") from None
    except UnicodeDecodeError as e:
        line = text_line_of_offset(data, e.start)
        raise ConfigError(path, line, "not UTF-8 text; expected a YAML file") from None
    except OSError as e:
        raise ConfigError(path, 1, f"cannot read: {e.strerror}") from None
    return parse_site(text, path)


def _too_large(size: int | None) -> str:
    limit = f"{MAX_SITE_BYTES // (1024 * 1024)} MiB"
    what = f"{size / 1e6:.1f} MB" if size is not None else "larger than that"
    return (f"the site file is {what}, over the {limit} limit for a site file; expected a site "
            f"file under {limit} (a thousand hosts take ~100 KB)")


def text_line_of_offset(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


# -------------------------------------------------------------- precedence
ENV_SITE = "DSCONSOLE_SITE"
ENV_KUBECONFIG = "DSCONSOLE_KUBECONFIG"
ENV_CONTEXT = "DSCONSOLE_CONTEXT"
ENV_NAMESPACE = "DSCONSOLE_NAMESPACE"


def site_file_path(flag: str | None, *, use_default: bool = True) -> str | None:
    """Where the site file is, as every command finds it: the --site flag >
    DSCONSOLE_SITE > $XDG_CONFIG_HOME/dsconsole/site.yaml when it exists
    (`use_default=False` skips that last one, e.g. when a kubeconfig was given)."""
    if flag or os.environ.get(ENV_SITE):
        return flag or os.environ[ENV_SITE]
    if use_default:
        from console.paths import config_dir
        default = config_dir() / "site.yaml"
        if default.is_file():
            return str(default)
    return None


def effective_cluster(site: Site | None, *, kubeconfig: str | None = None, context: str | None = None,
                      namespace: str | None = None, env: Mapping[str, str] | None = None) -> ClusterConfig:
    """CLI flag > environment (DSCONSOLE_KUBECONFIG/CONTEXT/NAMESPACE) > site file > defaults.
    (With none of them, kube_connect applies kubectl's own defaults: KUBECONFIG, ~/.kube/config,
    current-context.)"""
    if env is None:
        env = os.environ
    base = site.cluster if site else ClusterConfig()
    return ClusterConfig(
        kubeconfig=kubeconfig or env.get(ENV_KUBECONFIG) or base.kubeconfig,
        context=context or env.get(ENV_CONTEXT) or base.context,
        namespace=namespace or env.get(ENV_NAMESPACE) or base.namespace,
        # the site stays production whichever context a flag picks: the marker is the site's
        production=base.production)


def summary(site: Site) -> str:
    """The one-line OK summary of check-config."""
    roles = {r: len(site.hosts_with_role(r)) for r in ROLES}
    role_text = ", ".join(f"{n} {r}" for r, n in roles.items() if n) or "no hosts"
    cluster = site.cluster.context or "current context"
    return (f"{site.path}: OK: site {site.name!r}, cluster {cluster} (namespace {site.cluster.namespace}), "
            f"{len(site.hosts)} host(s): {role_text}")

