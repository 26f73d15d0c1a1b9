"""NvidiaSmiSource: GPU telemetry of a host over its Transport, with nvidia-smi.

Per poll: one `nvidia-smi --query-gpu=<fields> --format=csv,noheader,nounits`
and one `--query-compute-apps`, in one command (each with its own exit code, so
a host whose nvidia-smi lacks the second still reports its GPUs; two commands on
a host without a full shell, such as the demo's simulated hosts), run through
Transport.run_in_session: over SSH, in the host's persistent shell session
instead of a new SSH session per poll; every `xid_interval_s` the kernel log
for XID events; once per host (then every 10 minutes) `nvidia-smi -q -x` for the
static slowdown temperature, which --query-gpu does not offer.

A field the installed driver does not know makes nvidia-smi fail the whole query
(rc 2, `Field "x" is not a valid field to query.`, naming only the first such
field). We drop that field (or switch to its older name), remember it for this
host and ask again, so an older driver costs us a column, not the host.
"""
from __future__ import annotations

import re
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import msgspec.structs

from console.hosts.transport import CommandResult, Transport
from console.telemetry.sample import GpuProcess, GpuSample, HostTelemetry
from console.telemetry.smi_values import PARSERS, missing_reason, normalize_bus_id, parse_int
from console.telemetry.source import telemetry_from_exception
from console.telemetry.xid import KernelLogXids


@dataclass(frozen=True)
class Query:
    key: str                  # GpuSample field (or an intermediate, see _to_sample)
    names: tuple[str, ...]    # nvidia-smi field names, preferred first, older aliases after
    kind: str                 # a key of smi_values.PARSERS


QUERIES: tuple[Query, ...] = (
    Query("index", ("index",), "int"),
    Query("uuid", ("uuid",), "str"),
    Query("name", ("name",), "str"),
    Query("pci_bus_id", ("pci.bus_id",), "str"),
    Query("util_pct", ("utilization.gpu",), "float"),
    Query("mem_util_pct", ("utilization.memory",), "float"),
    Query("mem_used_mib", ("memory.used",), "float"),
    Query("mem_total_mib", ("memory.total",), "float"),
    Query("temp_c", ("temperature.gpu",), "float"),
    # Degrees below T.Limit; with -q -x's slowdown offset it gives the slowdown temperature.
    Query("temp_tlimit_c", ("temperature.gpu.tlimit",), "float"),
    Query("power_w", ("power.draw", "power.draw.instant", "power.draw.average"), "float"),
    Query("power_limit_w", ("enforced.power.limit", "power.limit"), "float"),
    Query("sm_clock_mhz", ("clocks.current.sm", "clocks.sm"), "float"),
    Query("sm_clock_max_mhz", ("clocks.max.sm",), "float"),
    Query("clock_event_reasons", ("clocks_event_reasons.active", "clocks_throttle_reasons.active"), "hex"),
    Query("ecc_mode", ("ecc.mode.current",), "bool"),
    Query("ecc_uncorrected_volatile", ("ecc.errors.uncorrected.volatile.total",), "int"),
    Query("ecc_uncorrected_aggregate", ("ecc.errors.uncorrected.aggregate.total",), "int"),
    Query("remapped_rows_correctable", ("remapped_rows.correctable",), "int"),
    Query("remapped_rows_uncorrectable", ("remapped_rows.uncorrectable",), "int"),
    Query("remapped_rows_pending", ("remapped_rows.pending",), "bool"),
    Query("remapped_rows_failure", ("remapped_rows.failure",), "bool"),
    Query("retired_pages_sbe", ("retired_pages.single_bit_ecc.count",), "int"),
    Query("retired_pages_dbe", ("retired_pages.double_bit.count",), "int"),
    Query("persistence_mode", ("persistence_mode",), "bool"),
    Query("mig_mode", ("mig.mode.current",), "bool"),
    Query("pcie_gen", ("pcie.link.gen.current",), "int"),
    Query("pcie_width", ("pcie.link.width.current",), "int"),
)
_INTERMEDIATE = {"temp_tlimit_c", "retired_pages_sbe", "retired_pages_dbe"}
# GpuSample fields nvidia-smi --query-gpu cannot give.
_NOT_IN_QUERY = {"nvlink_active": "not offered by nvidia-smi --query-gpu",
                 "nvlink_total": "not offered by nvidia-smi --query-gpu"}

COMPUTE_APPS_FIELDS = ("gpu_uuid", "pid", "used_memory", "process_name")  # name last: may hold commas
COMPUTE_APPS_COMMAND = ("nvidia-smi --query-compute-apps=" + ",".join(COMPUTE_APPS_FIELDS)
                        + " --format=csv,noheader,nounits")
XML_COMMAND = "nvidia-smi -q -x"
# normalized PCI bus id -> ("absolute" | "below_tlimit", degrees C), from -q -x
Slowdown = dict[tuple[int, int, int], tuple[str, float]]
_UNKNOWN_FIELD = re.compile(r'Field "([^"]*)" is not a valid field to query')
_NO_DRIVER = re.compile(r"couldn't communicate with the NVIDIA driver|NVIDIA driver is not loaded|"
                        r"Driver/library version mismatch|libnvidia-ml\.so.*(not found|cannot open)",
                        re.IGNORECASE)


def query_command(fields: Sequence[str]) -> str:
    return f"nvidia-smi --query-gpu={','.join(fields)} --format=csv,noheader,nounits"


# One command per poll instead of two: one round trip, and where a transport
# has no persistent session (run_in_session), one SSH session on the host.
_RC_MARK = "@@dsconsole-rc="


def combined_command(fields: Sequence[str], processes: bool) -> str:
    """Both queries with their exit codes, collected by the shell and printed
    in ONE write at the end: one SSH data packet per poll instead of one per
    line the shell prints (each packet costs the console and the host's sshd
    ~0.2 ms), for one fork on the host."""
    cmds = [query_command(fields)] + ([COMPUTE_APPS_COMMAND] if processes else [])
    inner = "; ".join(f'{cmd} 2>&1; echo "{_RC_MARK}$?"' for cmd in cmds)
    return f"o=$({inner}); printf '%s\\n' \"$o\""


def split_combined(stdout: str, n: int) -> list[CommandResult] | None:
    """The n commands' results out of combined_command's output; None when the
    markers are not all there (not a full shell on the other end)."""
    sections: list[CommandResult] = []
    lines: list[str] = []
    for line in (stdout or "").split("\n"):
        if line.startswith(_RC_MARK):
            rc = line[len(_RC_MARK):].strip()
            if not rc.isdigit():
                return None
            sections.append(CommandResult(int(rc), "".join(line + "\n" for line in lines), ""))
            lines = []
        else:
            lines.append(line)
    return sections if len(sections) == n else None


def unknown_field(output: str) -> str | None:
    """The field nvidia-smi says it does not know (rc 2), if that is what it said."""
    m = _UNKNOWN_FIELD.search(output or "")
    return m.group(1) if m else None


def _split_row(line: str, n: int) -> list[str] | None:
    parts = line.split(",")
    if len(parts) == n:
        return parts
    parts = line.split(", ")  # a value with a comma but no space after it
    return parts if len(parts) == n else None


def parse_query_output(text: str, keys: Sequence[tuple[str, str]], *, host: str,
                       now: float | None = None, slowdown: Slowdown | None = None,
                       slowdown_error: str | None = None) -> list[GpuSample]:
    """GpuSamples from `--query-gpu` csv,noheader,nounits output, where `keys` are
    the (GpuSample key, parser kind) of the queried columns in order; `slowdown`
    comes from parse_slowdown_thresholds (-q -x). Never raises: a bad value is a
    field error, a bad line a sample that says so."""
    now = time.time() if now is None else now
    samples = []
    # split on "\n" only: str.splitlines() would also split inside a value at \x0c, \x1c...
    for pos, line in enumerate(s.rstrip("\r") for s in (text or "").split("\n") if s.strip()):
        parts = _split_row(line, len(keys))
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        if parts is None:
            shown = line.strip()[:80]
            # nvidia-smi prints this instead of a row for a GPU it lost
            m = re.search(r"device handle for GPU([0-9A-Fa-f:.]+): (.*)", line)
            if m:
                values["pci_bus_id"] = m.group(1)
                errors["gpu"] = m.group(2).strip().lower()[:80] or "lost"
            else:
                errors["gpu"] = f"unparseable line ({len(line.split(','))} values for "\
                                f"{len(keys)} fields): {shown!r}"
        else:
            for (key, kind), raw in zip(keys, parts, strict=True):
                value, err = PARSERS[kind](raw)
                if err is None:
                    values[key] = value
                else:
                    errors[key] = err
        _slowdown_temp(values, errors, slowdown, slowdown_error)
        samples.append(_to_sample(host, now, pos, values, errors))
    return samples


def _slowdown_temp(values: dict[str, Any], errors: dict[str, str], slowdown: Slowdown | None,
                   slowdown_error: str | None) -> None:
    """Sets temp_slowdown_c (or why not) and drops the T.Limit margin it used."""
    tlimit = values.pop("temp_tlimit_c", None)
    errors.pop("temp_tlimit_c", None)
    bus = normalize_bus_id(values.get("pci_bus_id"))
    how = (slowdown or {}).get(bus) if bus is not None else None
    if how and how[0] == "absolute":
        values["temp_slowdown_c"] = how[1]
    elif how and values.get("temp_c") is not None and tlimit is not None:
        # temp + margin = T.Limit; slowdown sits how[1] below T.Limit (-2 -> 2 C above)
        values["temp_slowdown_c"] = values["temp_c"] + tlimit - how[1]
    elif how:
        errors["temp_slowdown_c"] = "needs temperature.gpu and temperature.gpu.tlimit"
    else:
        errors["temp_slowdown_c"] = slowdown_error or "not in nvidia-smi -q -x"


def _to_sample(host: str, now: float, pos: int, values: dict[str, Any],
               errors: dict[str, str]) -> GpuSample:
    index = values.pop("index", None)
    if not isinstance(index, int) or index < 0:
        index = pos  # the row's position is nvidia-smi's index order
    sbe, dbe = values.pop("retired_pages_sbe", None), values.pop("retired_pages_dbe", None)
    e_sbe, e_dbe = errors.pop("retired_pages_sbe", None), errors.pop("retired_pages_dbe", None)
    if sbe is not None or dbe is not None:
        values["retired_pages"] = (sbe or 0) + (dbe or 0)
    elif e_dbe or e_sbe:
        errors["retired_pages"] = e_dbe or e_sbe or ""
    for k, reason in _NOT_IN_QUERY.items():
        errors.setdefault(k, reason)
    return GpuSample(host=host, index=index, time=now, source="nvidia-smi",
                     field_errors=errors, **values)


def parse_compute_apps(text: str) -> tuple[dict[str, list[GpuProcess]], list[str]]:
    """`--query-compute-apps=gpu_uuid,pid,used_memory,process_name` output ->
    ({gpu uuid: processes}, problems). Never raises."""
    by_gpu: dict[str, list[GpuProcess]] = {}
    problems = []
    for line in (text or "").split("\n"):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",", 3)]
        pid, err = parse_int(parts[1]) if len(parts) == 4 else (None, "line")
        if err or pid is None:
            problems.append(f"unparseable process line {line.strip()[:60]!r}")
            continue
        mem, _ = parse_int(parts[2])
        name = parts[3] if missing_reason(parts[3]) is None else "?"
        by_gpu.setdefault(parts[0], []).append(GpuProcess(pid=pid, name=name, used_memory_mib=mem))
    return by_gpu, problems


def parse_slowdown_thresholds(xml_text: str) -> Slowdown:
    """From `nvidia-smi -q -x`: per GPU (normalized bus id) how to get its slowdown
    temperature: ("absolute", C) on drivers that print gpu_temp_slow_threshold,
    ("below_tlimit", C) on newer ones that print it relative to T.Limit (the H200
    recording: -2 C, i.e. slowdown 2 C above T.Limit). Never raises."""
    out: Slowdown = {}
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError:
        return out
    for gpu in root.iter("gpu"):
        bus = normalize_bus_id(gpu.get("id"))
        temp = gpu.find("temperature")
        if bus is None or temp is None:
            continue
        for tag, how in (("gpu_temp_slow_threshold", "absolute"),
                         ("gpu_temp_slow_tlimit_threshold", "below_tlimit")):
            node = temp.find(tag)
            if node is not None and node.text:
                value, err = PARSERS["float"](node.text.replace("C", ""))
                if err is None:
                    out[bus] = (how, value)
                    break
    return out


class NvidiaSmiSource:
    """TelemetrySource for one host reached through a Transport."""

    STATIC_REFRESH_S = 600.0

    def __init__(self, transport: Transport, *, name: str | None = None, timeout: float = 15.0,
                 xid_interval_s: float | None = 30.0, processes: bool = True):
        self.transport = transport
        self.name = name or transport.name
        self.timeout = timeout
        self.processes = processes
        self._lock = threading.Lock()  # one read at a time (the poller never overlaps; the CLI might)
        self._alias = {q.key: 0 for q in QUERIES}  # which of q.names this host's driver knows
        self.rejected: dict[str, str] = {}          # field name -> driver message (remembered)
        self._slowdown: Slowdown | None = None
        self._slowdown_error: str | None = None
        self._static_at = 0.0
        self._combined: bool | None = None  # one exec per poll works on this host (None: not tried)
        self.xids = KernelLogXids(transport, self.name, interval_s=xid_interval_s, timeout=timeout)

    # -- the fields this host's driver is asked for
    def _columns(self) -> list[tuple[Query, str]]:
        cols = []
        for q in QUERIES:
            i = self._alias[q.key]
            if i < len(q.names):
                cols.append((q, q.names[i]))
        return cols

    def _reject(self, field: str, message: str) -> bool:
        for q, name in self._columns():
            if name == field:
                self.rejected[field] = message
                self._alias[q.key] += 1
                return True
        return False

    def read(self) -> HostTelemetry:
        with self._lock:
            try:
                return self._read()
            except Exception as e:  # noqa: BLE001 - never raise (source.py)
                return telemetry_from_exception(self.name, e, what="nvidia-smi")

    def _read(self) -> HostTelemetry:
        result = apps = None
        while True:  # ends: every turn either returns or rejects one more field
            cols = self._columns()
            if not cols:
                return HostTelemetry(self.name, time.time(), "error",
                                     error="nvidia-smi rejected every field it was asked for")
            result, apps = self._query([n for _, n in cols])
            if result.rc == 0:
                break
            output = result.stdout + result.stderr
            field = unknown_field(output)
            if not field or not self._reject(field, output.strip().splitlines()[0]):
                return self._failure(result.rc, output)
        now = time.time()
        keys = [(q.key, q.kind) for q, _ in cols]
        self._refresh_static()
        samples = parse_query_output(result.stdout, keys, host=self.name, now=now,
                                     slowdown=self._slowdown, slowdown_error=self._slowdown_error)
        for q in QUERIES:  # fields this driver does not have
            if self._alias[q.key] >= len(q.names) and q.key not in _INTERMEDIATE:
                reason = f"not known to this driver ({q.names[-1]})"
                for s in samples:
                    s.field_errors.setdefault(q.key, reason)
        if self.processes:
            samples = self._add_processes(samples, apps)
        xids = self.xids.read(samples)
        notes = (self.xids.problem,) if self.xids.problem else ()
        return HostTelemetry(self.name, now, "ok", samples=tuple(samples), xids=xids, notes=notes)

    def _query(self, fields: list[str]) -> tuple[CommandResult, CommandResult | Exception | None]:
        """(query result, compute-apps result): one exec where the host has a full
        shell, else (remembered) two."""
        if self._combined is not False:
            r = self.transport.run_in_session(combined_command(fields, self.processes), timeout=self.timeout)
            parts = split_combined(r.stdout, 2 if self.processes else 1)
            if parts is not None:
                self._combined = True
                return parts[0], (parts[1] if self.processes else None)
            if self._combined:  # it worked before: this odd answer is the host's answer
                return r, None
            self._combined = False
        q = self.transport.run_in_session(query_command(fields), timeout=self.timeout)
        apps: CommandResult | Exception | None = None
        if self.processes and q.rc == 0:
            try:
                apps = self.transport.run_in_session(COMPUTE_APPS_COMMAND, timeout=self.timeout)
            except Exception as e:  # noqa: BLE001 - the GPUs still count without processes
                apps = e
        return q, apps

    def _failure(self, rc: int, output: str) -> HostTelemetry:
        text = output.strip()
        first = text.splitlines()[0] if text else f"exit code {rc}"
        if rc == 127 or "command not found" in text or "No such file" in text:
            return HostTelemetry(self.name, time.time(), "no-driver",
                                 error="nvidia-smi not found on this host (no NVIDIA driver installed?)")
        if _NO_DRIVER.search(text) or rc == 9:
            return HostTelemetry(self.name, time.time(), "no-driver", error=first)
        return HostTelemetry(self.name, time.time(), "error",
                             error=f"nvidia-smi failed (rc {rc}): {first[:200]}")

    # -- slowdown temperature: static per GPU, from -q -x
    def _refresh_static(self) -> None:
        now = time.time()
        if self._slowdown is not None and now - self._static_at <= self.STATIC_REFRESH_S:
            return
        self._static_at = now
        try:
            r = self.transport.run_in_session(XML_COMMAND, timeout=self.timeout)
        except Exception as e:  # noqa: BLE001 - the GPUs still count without it
            self._slowdown_error = f"nvidia-smi -q -x: {e}"
            return
        if r.rc == 0:
            self._slowdown, self._slowdown_error = parse_slowdown_thresholds(r.stdout), None
        else:
            self._slowdown_error = f"nvidia-smi -q -x failed (rc {r.rc})"

    @staticmethod
    def _add_processes(samples: list[GpuSample],
                       r: CommandResult | Exception | None) -> list[GpuSample]:
        by_gpu: dict[str, list[GpuProcess]]
        problem: str | None
        if r is None:
            by_gpu, problem = {}, "compute-apps query: no answer"
        elif isinstance(r, Exception):
            by_gpu, problem = {}, f"compute-apps query: {r}"
        elif r.rc == 0:
            by_gpu, problems = parse_compute_apps(r.stdout)
            problem = "; ".join(problems[:3]) or None
        else:
            text = (r.stdout + r.stderr).strip()
            by_gpu, problem = {}, f"compute-apps query failed (rc {r.rc}): {text[:120]}"
        out = []
        for s in samples:
            errors = dict(s.field_errors)
            if problem:
                errors["processes"] = problem
            out.append(msgspec.structs.replace(s, processes=tuple(by_gpu.get(s.uuid or "", ())), field_errors=errors))
        return out
