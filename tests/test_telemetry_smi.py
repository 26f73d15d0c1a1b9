"""nvidia-smi parsing against the real H200 recording, and NvidiaSmiSource running
the replaying nvidia-smi (tests/data/gpu/nvidia-smi) through a LocalTransport.

Over SSH to real test hosts: tests/test_telemetry_hosts.py.
"""
import json
import os

import pytest

from console.hosts.local import LocalTransport
from console.telemetry.nvidia_smi import (
    QUERIES,
    NvidiaSmiSource,
    parse_compute_apps,
    parse_query_output,
    parse_slowdown_thresholds,
    unknown_field,
)
from console.telemetry.sample import GpuSample
from console.telemetry.smi_values import missing_reason, normalize_bus_id, parse_bool, parse_hex, parse_int
from tests.gpu_recordings import GPU_DATA, H200, recorded_fields, recorded_row


def test_recorded_h200_row_maps_to_gpu_sample():
    names = [q.names[0] for q in QUERIES]
    keys = [(q.key, q.kind) for q in QUERIES]
    xml = (H200 / "q-x.xml").read_text()
    [s] = parse_query_output(recorded_row(names), keys, host="h", now=1.0,
                             slowdown=parse_slowdown_thresholds(xml))
    assert s == GpuSample(
        host="h", index=0, time=1.0, source="nvidia-smi",
        uuid="GPU-945c4619-c4a7-9f3b-a6fd-cbe31d515b2c", name="NVIDIA H200",
        pci_bus_id="00000000:00:06.0", util_pct=0.0, mem_util_pct=0.0, mem_used_mib=0.0,
        mem_total_mib=143771.0, temp_c=32.0, temp_slowdown_c=89.0, power_w=78.85,
        power_limit_w=700.0, sm_clock_mhz=345.0, sm_clock_max_mhz=1980.0,
        clock_event_reasons=0x1, ecc_mode=True, ecc_uncorrected_volatile=0,
        ecc_uncorrected_aggregate=0, remapped_rows_correctable=0, remapped_rows_uncorrectable=0,
        remapped_rows_pending=False, remapped_rows_failure=False, retired_pages=None,
        persistence_mode=True, mig_mode=False, pcie_gen=5, pcie_width=16,
        field_errors={"retired_pages": "n/a",
                      "nvlink_active": "not offered by nvidia-smi --query-gpu",
                      "nvlink_total": "not offered by nvidia-smi --query-gpu"})
    assert s.clock_event_names == ("gpu_idle",)
    assert s.health_flags == ()


def test_slowdown_from_xml_matches_nvml_recording():
    # NVML (nvml-dump.txt) says slowdown 89 C; -q -x says -2 C relative to T.Limit,
    # and the query said temp 32 with 55 C of margin to T.Limit: 32 + 55 + 2 = 89.
    assert "slowdown 89" in (H200 / "nvml-dump.txt").read_text()
    th = parse_slowdown_thresholds((H200 / "q-x.xml").read_text())
    assert th == {(0, 0, 6): ("below_tlimit", -2.0)}
    older = "<nvidia_smi_log><gpu id=\"00000000:3B:00.0\"><temperature>" \
            "<gpu_temp_slow_threshold>90 C</gpu_temp_slow_threshold></temperature></gpu></nvidia_smi_log>"
    assert parse_slowdown_thresholds(older) == {(0, 0x3B, 0): ("absolute", 90.0)}
    assert parse_slowdown_thresholds("<not xml") == {}


@pytest.mark.parametrize("raw,reason", [
    ("[N/A]", "n/a"), ("[Not Supported]", "not supported"),
    ("[Requested functionality has been deprecated]", "requested functionality has been deprecated"),
    ("[Unknown Error]", "unknown error"), ("N/A", "n/a"), ("", "empty"), ("[]", "empty"),
    ("0", None), ("NVIDIA H200", None)])
def test_missing_values(raw, reason):
    assert missing_reason(raw) == reason


def test_value_parsers_on_recorded_forms():
    rec = recorded_fields()
    assert parse_hex(rec["clocks_event_reasons.supported"]) == (0x1FF, None)
    assert parse_hex(rec["clocks_event_reasons.active"]) == (1, None)
    assert parse_hex("1") == (None, "unparseable '1'")  # masks are hex, with 0x
    assert parse_bool(rec["remapped_rows.pending"]) == (False, None)
    assert parse_bool(rec["persistence_mode"]) == (True, None)
    assert parse_bool(rec["clocks_event_reasons.gpu_idle"]) == (True, None)
    assert parse_bool(rec["clocks_event_reasons.sw_power_cap"]) == (False, None)
    assert parse_bool(rec["display_mode"]) == (None, "requested functionality has been deprecated")
    assert parse_int(rec["pcie.link.gen.hostmax"]) == (None, "n/a")
    assert parse_int("12abc") == (None, "unparseable '12abc'")


def test_bus_id_forms():
    assert normalize_bus_id("00000000:3B:00.0") == normalize_bus_id("0000:3b:00") == (0, 0x3B, 0)
    assert normalize_bus_id("3b:00.0") == (0, 0x3B, 0)
    assert normalize_bus_id("garbage") is None and normalize_bus_id(None) is None


def test_unknown_field_message_as_recorded():
    text = (H200 / "query-unknown-field.txt").read_text()
    assert unknown_field(text) == "bogus.field"
    assert unknown_field("0, 1, 2") is None


def test_lost_gpu_and_short_lines_are_per_gpu_errors():
    keys = [("index", "int"), ("util_pct", "float")]
    text = ("0, 50\n"
            "Unable to determine the device handle for GPU0000:3B:00.0: GPU is lost.  Reboot the system\n"
            "2, 7, extra\n")
    s0, s1, s2 = parse_query_output(text, keys, host="h", now=0)
    assert s0.util_pct == 50.0 and "gpu" not in s0.field_errors
    assert s1.index == 1 and s1.pci_bus_id == "0000:3B:00.0"
    assert s1.field_errors["gpu"].startswith("gpu is lost")
    assert s2.index == 2 and s2.field_errors["gpu"].startswith("unparseable line (3 values for 2")


def test_compute_apps():
    by_gpu, problems = parse_compute_apps(
        "GPU-a, 4242, 70000, /usr/bin/python3 -m vllm, x\nGPU-a, 17, [N/A], [N/A]\ngarbage\n")
    assert [(p.pid, p.name, p.used_memory_mib) for p in by_gpu["GPU-a"]] == \
        [(4242, "/usr/bin/python3 -m vllm, x", 70000), (17, "?", None)]
    assert problems == ["unparseable process line 'garbage'"]


# -- NvidiaSmiSource running the replaying nvidia-smi on this machine

@pytest.fixture
def fake_smi(tmp_path):
    """A LocalTransport whose PATH has the replaying nvidia-smi; variant(dict) sets
    what it replays (the same JSON a test host reads from /etc/dsconsole-fake-gpu.json)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nvidia-smi").symlink_to(GPU_DATA / "nvidia-smi")
    variant = tmp_path / "fake-gpu.json"

    def make(v: dict | None = None, name: str = "gpu-a") -> LocalTransport:
        if v is not None:
            variant.write_text(json.dumps(v))
        return LocalTransport(name, env={"PATH": f"{bin_dir}:{os.environ['PATH']}",
                                         "DSCONSOLE_FAKE_GPU": str(variant)})
    return make


def test_source_reads_recorded_gpu(fake_smi):
    src = NvidiaSmiSource(fake_smi(), xid_interval_s=None)
    tel = src.read()
    assert tel.state == "ok", tel.error
    [s] = tel.samples
    assert (s.name, s.mem_total_mib, s.temp_c, s.temp_slowdown_c, s.power_limit_w) == \
        ("NVIDIA H200", 143771.0, 32.0, 89.0, 700.0)
    assert src.rejected == {}


def test_source_variant_eight_busy_gpus_with_ecc_errors(fake_smi):
    t = fake_smi({"gpus": 8, "set": {"utilization.gpu": "97", "clocks_event_reasons.active": "0x60"},
                  "gpu": {"3": {"ecc.errors.uncorrected.volatile.total": "2",
                                "remapped_rows.pending": "Yes"}},
                  "compute_apps": [{"gpu": 5, "pid": 4242, "process_name": "python3",
                                    "used_memory": 70000}]})
    tel = NvidiaSmiSource(t, xid_interval_s=None).read()
    assert tel.state == "ok", tel.error
    assert [s.index for s in tel.samples] == list(range(8))
    assert len({s.uuid for s in tel.samples}) == 8
    assert all(s.util_pct == 97.0 and s.thermal_slowdown for s in tel.samples)
    assert tel.samples[3].health_flags == ("ECC", "REMAP", "THERMAL")
    assert [p.pid for p in tel.samples[5].processes] == [4242]
    assert all(not s.processes for i, s in enumerate(tel.samples) if i != 5)


def test_source_drops_fields_an_older_driver_does_not_know(fake_smi):
    # This "driver" predates temperature.gpu.tlimit and the clocks_event_reasons
    # rename; it names one unknown field per try (as the real one does).
    t = fake_smi({"unknown_fields": ["temperature.gpu.tlimit", "clocks_event_reasons.active",
                                     "remapped_rows.failure"]})
    src = NvidiaSmiSource(t, xid_interval_s=None)
    tel = src.read()
    assert tel.state == "ok", tel.error
    assert set(src.rejected) == {"temperature.gpu.tlimit", "clocks_event_reasons.active",
                                 "remapped_rows.failure"}
    assert src.rejected["remapped_rows.failure"] == \
        'Field "remapped_rows.failure" is not a valid field to query.'
    [s] = tel.samples
    assert s.clock_event_reasons == 1  # through the old name clocks_throttle_reasons.active
    assert s.remapped_rows_failure is None
    assert s.field_errors["remapped_rows_failure"] == "not known to this driver (remapped_rows.failure)"
    assert s.field_errors["temp_slowdown_c"] == "needs temperature.gpu and temperature.gpu.tlimit"
    assert s.temp_c == 32.0 and s.util_pct == 0.0
    # remembered for this host: the next round asks only for what the driver knows
    calls = []
    real_run = t.run
    t.run = lambda cmd, **kw: calls.append(cmd) or real_run(cmd, **kw)
    assert src.read().state == "ok"
    query = [c for c in calls if "--query-gpu" in c]
    assert len(query) == 1 and "remapped_rows.failure" not in query[0]


def test_source_reports_missing_driver(fake_smi, tmp_path):
    tel = NvidiaSmiSource(fake_smi({"driver": "not-loaded"}), xid_interval_s=None).read()
    assert tel.state == "no-driver"
    assert "couldn't communicate with the NVIDIA driver" in tel.error
    no_smi = LocalTransport("bare", env={"PATH": str(tmp_path / "empty")})
    tel = NvidiaSmiSource(no_smi, xid_interval_s=None).read()
    assert (tel.state, tel.error) == ("no-driver",
                                      "nvidia-smi not found on this host (no NVIDIA driver installed?)")


def test_source_never_raises_on_a_broken_transport():
    class Broken(LocalTransport):
        def run(self, cmd, **kw):
            raise RuntimeError("boom")
    tel = NvidiaSmiSource(Broken("b")).read()
    assert (tel.state, tel.error) == ("error", "RuntimeError: boom")


def test_source_one_exec_per_poll_and_fallback_without_a_full_shell(fake_smi):
    calls = []

    class Counting(LocalTransport):
        def run(self, cmd, **kw):
            calls.append(cmd)
            return super().run(cmd, **kw)
    env = fake_smi()._env
    src = NvidiaSmiSource(Counting("c", env={"PATH": env["PATH"]}), xid_interval_s=None)
    src.read()
    calls.clear()
    assert src.read().state == "ok"
    assert len(calls) == 1 and "--query-compute-apps" in calls[0]  # query + apps in one exec

    # The demo's simulated host runs one command at a time (no `;`): two execs.
    from console.sim.gpu_fleet import SimGpuFleet
    from console.sim.hosts import SimulatedHost
    fleet = SimGpuFleet(seed=0)
    fleet.add_node("n1", gpus=2)
    fleet.inject_fault("n1", 1, "xid79")
    tel = NvidiaSmiSource(SimulatedHost("n1", fleet=fleet)).read()
    assert tel.state == "ok", tel.error
    assert [s.index for s in tel.samples] == [0, 1]
    assert tel.samples[0].temp_c is not None and tel.samples[1].field_errors["temp_c"] == "gpu is lost"
    assert [(x.code, x.gpu_index) for x in tel.xids] == [(79, 1)]


def test_a_driver_that_rejects_everything_is_an_error_not_a_loop(fake_smi):
    every = [n for q in QUERIES for n in q.names]
    src = NvidiaSmiSource(fake_smi({"unknown_fields": every}), xid_interval_s=None)
    tel = src.read()
    assert (tel.state, tel.error) == ("error", "nvidia-smi rejected every field it was asked for")
    assert set(src.rejected) == set(every)
