"""Property tests: garbage in gives a clear per-field error, never an exception."""

import pynvml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from console.hosts.transport import CommandResult, Transport
from console.telemetry.nvidia_smi import (
    QUERIES,
    NvidiaSmiSource,
    parse_compute_apps,
    parse_query_output,
    parse_slowdown_thresholds,
)
from console.telemetry.nvml import sample_from_raw
from console.telemetry.sample import GpuSample
from console.telemetry.smi_values import PARSERS
from console.telemetry.xid import parse_kernel_log_output, parse_xid_lines

KEYS = [(q.key, q.kind) for q in QUERIES]
# What the driver really prints in places, mixed with garbage.
CELL = st.one_of(
    st.sampled_from(["[N/A]", "[Not Supported]", "[Unknown Error]", "N/A", "", "0x1F", "Yes",
                     "Disabled", "97", "78.85", "-3", "NVIDIA H200", "00000000:3B:00.0",
                     "[Requested functionality has been deprecated]", "[GPU is lost]"]),
    st.text(alphabet=st.characters(blacklist_characters=",\n\r"), max_size=20))
SAMPLE_FIELDS = set(GpuSample.__struct_fields__)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(kind=st.sampled_from(sorted(PARSERS)), raw=st.text(max_size=40))
def test_value_parsers_answer_a_value_or_a_reason(kind, raw):
    value, reason = PARSERS[kind](raw)
    assert (value is None) != (reason is None)
    if reason is not None:
        assert 0 < len(reason) <= 60 and "\n" not in reason


@settings(SETTINGS, max_examples=60)
@given(rows=st.lists(st.lists(CELL, min_size=len(KEYS), max_size=len(KEYS)), max_size=4))
def test_every_garbage_cell_is_a_field_error_of_its_own(rows):
    text = "\n".join(", ".join(r) for r in rows)
    rows = [r for r in rows if ", ".join(r).strip()]
    samples = parse_query_output(text, KEYS, host="h", now=0)
    assert len(samples) == len(rows)
    for s in samples:
        assert set(s.field_errors) <= SAMPLE_FIELDS | {"gpu"}
        for key, _ in KEYS:
            if key in SAMPLE_FIELDS and key != "index":
                # each field: a value, or a reason, never both and never silently nothing
                assert (getattr(s, key) is None) == (key in s.field_errors), key
        assert isinstance(s.index, int) and s.index >= 0


@SETTINGS
@given(text=st.text(max_size=400))
def test_any_text_parses_without_raising(text):
    for s in parse_query_output(text, KEYS, host="h", now=0):
        assert isinstance(s, GpuSample)
    parse_compute_apps(text)
    parse_slowdown_thresholds(text)
    parse_xid_lines(text, "h", boot_time=0.0)
    parse_kernel_log_output(text, "h")


class Replies(Transport):
    """A transport that answers every command with one given (garbage) result."""
    name = "garbage"

    def __init__(self, result):
        self.result = result

    def run(self, cmd, *, timeout=30.0, sudo=False, stdin=None):
        if isinstance(self.result, Exception):
            raise self.result
        return self.result

    def read(self, path, *, sudo=False):
        raise FileNotFoundError(path)

    def write(self, path, data, *, mode=None, sudo=False):
        raise OSError("read-only")


@SETTINGS
@given(result=st.one_of(
    st.builds(CommandResult, rc=st.integers(-1, 255), stdout=st.text(max_size=300),
              stderr=st.text(max_size=100)),
    st.builds(CommandResult, rc=st.just(2), stdout=st.builds(
        lambda f: f'Field "{f}" is not a valid field to query.\n\n', st.text(max_size=20)),
        stderr=st.just("")),
    st.sampled_from([ValueError("x"), OSError("gone"), TimeoutError()])))
def test_source_never_raises_whatever_the_host_answers(result):
    tel = NvidiaSmiSource(Replies(result)).read()
    assert tel.state in {"ok", "unreachable", "untrusted-key", "no-driver", "error"}
    assert tel.state == "ok" or tel.error


NVML_VALUE = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(), st.text(max_size=10),
    st.binary(max_size=10), st.lists(st.integers(0, 5), max_size=5),
    st.tuples(st.integers(), st.integers(), st.integers(), st.integers()),
    st.sampled_from([pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED),
                     pynvml.NVMLError(pynvml.NVML_ERROR_GPU_IS_LOST),
                     pynvml.NVMLError(pynvml.NVML_ERROR_FUNCTION_NOT_FOUND)]))
RAW_KEYS = ["name", "uuid", "pci", "util", "mem", "temp", "slowdown", "power", "plimit", "sm",
            "smmax", "reasons", "ecc", "ecc_vol", "ecc_agg", "remap", "persist", "mig",
            "pcie_gen", "pcie_w", "procs", "retired", "retired_sbe", "nvlink", "proc_names"]


@SETTINGS
@given(raw=st.dictionaries(st.sampled_from(RAW_KEYS), NVML_VALUE))
def test_nvml_mapping_never_raises_and_explains_every_gap(raw):
    s = sample_from_raw(raw, host="h", index=0, now=0)
    assert set(s.field_errors) <= SAMPLE_FIELDS
    for name, reason in s.field_errors.items():
        assert reason and getattr(s, name) in (None, ()), name
