"""The demo site's simulated GPU fleet: H200-like samples that follow load and faults."""
from __future__ import annotations

import pytest

from console.sim.clock import SimClock
from console.sim.gpu_fleet import SimGpuFleet
from console.telemetry.sample import HostTelemetry

NODE = "gpu-node-0001"


class StepClock:
    """A simulation clock that moves only when the test says (time_scale as SimClock)."""
    time_scale = 1.0
    frozen = False

    def __init__(self, start: float = 1_800_000_000.0):
        self.t = start

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def clock():
    return StepClock()


@pytest.fixture
def fleet(clock):
    f = SimGpuFleet(seed=3, clock=clock)
    f.add_node(NODE, gpus=8)
    return f


def _gpu(fleet, i=0):
    return fleet.read(NODE).samples[i]


def test_static_values_are_an_h200s(fleet):
    t = fleet.read(NODE)
    assert isinstance(t, HostTelemetry) and t.state == "ok" and t.host == NODE
    assert [s.index for s in t.samples] == list(range(8))
    s = t.samples[0]
    assert s.source == "sim" and s.name == "NVIDIA H200"
    assert s.mem_total_mib == 143771 and s.power_limit_w == 700 and s.temp_slowdown_c == 89
    assert s.sm_clock_max_mhz == 1980 and s.ecc_mode is True and s.persistence_mode is True
    # idle as recorded: 0 %, no memory used, idle clock with the gpu_idle reason
    assert s.util_pct == 0 and s.mem_used_mib == 0 and s.sm_clock_mhz == 345
    assert s.clock_event_names == ("gpu_idle",) and s.health_flags == ()
    assert 29 <= s.temp_c <= 35 and 60 <= s.power_w <= 100
    assert len({x.uuid for x in t.samples}) == 8 and len({x.pci_bus_id for x in t.samples}) == 8


def test_util_follows_load_and_power_follows_util(fleet):
    idle_power = _gpu(fleet, 1).power_w
    fleet.set_load(NODE, 1, 0.8)
    busy = _gpu(fleet, 1)
    assert 76 <= busy.util_pct <= 84
    assert busy.sm_clock_mhz == 1980 and busy.clock_event_reasons == 0
    assert busy.power_w > idle_power + 300
    fleet.set_load(NODE, 1, 1.0)
    full = _gpu(fleet, 1)
    # full load runs into the 700 W limit, as measured on a real H200
    assert busy.power_w < full.power_w <= 700 and full.power_w > 680
    assert full.clock_event_names == ("sw_power_cap",) and 1700 <= full.sm_clock_mhz < 1980
    fleet.set_load(NODE, 1, 0.0)
    assert _gpu(fleet, 1).util_pct == 0
    assert _gpu(fleet, 0).util_pct == 0  # other GPUs untouched


def test_temperature_follows_util_with_lag(fleet, clock):
    cold = _gpu(fleet).temp_c
    fleet.set_load(NODE, 0, 1.0)
    assert _gpu(fleet).temp_c <= cold + 1  # no jump at once
    clock.sleep(2)
    warming = _gpu(fleet).temp_c
    clock.sleep(300)
    hot = _gpu(fleet).temp_c
    assert cold + 5 < warming < hot - 5
    assert 54 <= hot <= 62 and hot < 89  # as a real H200 at full load: ~57 C, below slowdown
    fleet.set_load(NODE, 0, 0.0)
    clock.sleep(2)
    assert cold + 5 < _gpu(fleet).temp_c < hot - 5  # and cools down with the same lag


def test_memory_follows_loaded_models(fleet):
    fleet.set_models(NODE, {0: 80_000, 3: 120_000})
    t = fleet.read(NODE)
    assert 80_000 < t.samples[0].mem_used_mib < 81_000
    assert 120_000 < t.samples[3].mem_used_mib < 121_000
    assert t.samples[1].mem_used_mib == 0 and t.samples[1].processes == ()
    assert t.samples[0].processes[0].used_memory_mib == int(t.samples[0].mem_used_mib)
    fleet.set_models(NODE, {3: 120_000})
    assert _gpu(fleet, 0).mem_used_mib == 0


def test_xid79_gpu_fell_off_the_bus(fleet):
    fleet.inject_fault(NODE, 2, "xid79")
    t = fleet.read(NODE)
    lost = t.samples[2]
    assert lost.util_pct is None and lost.temp_c is None and lost.mem_used_mib is None
    assert lost.power_w is None and lost.field_errors["util_pct"] == "gpu is lost"
    assert lost.uuid and lost.pci_bus_id  # identity still known
    assert t.samples[1].util_pct == 0  # the others still read
    (x,) = t.xids
    assert x.code == 79 and x.critical and x.gpu_index == 2 and x.pci_bus_id == lost.pci_bus_id
    fleet.clear_faults(NODE)
    assert _gpu(fleet, 2).util_pct == 0
    assert [x.code for x in fleet.read(NODE).xids] == [79]  # the kernel log keeps it


def test_uncorrected_ecc(fleet):
    fleet.inject_fault(NODE, 5, "ecc")
    s = _gpu(fleet, 5)
    assert s.ecc_uncorrected_volatile == 1 and s.ecc_uncorrected_aggregate == 1
    assert s.remapped_rows_uncorrectable == 1 and s.remapped_rows_pending is True
    assert s.health_flags == ("ECC", "REMAP")
    fleet.inject_fault(NODE, 5, "ecc")
    assert _gpu(fleet, 5).ecc_uncorrected_volatile == 2
    assert [x.code for x in fleet.read(NODE).xids] == [94, 94]
    fleet.clear_faults(NODE, 5)  # a GPU reset: volatile counts cleared, remap applied
    s = _gpu(fleet, 5)
    assert s.ecc_uncorrected_volatile == 0 and s.ecc_uncorrected_aggregate == 2
    assert s.remapped_rows_pending is False and s.remapped_rows_uncorrectable == 2


def test_thermal_slowdown(fleet, clock):
    fleet.set_load(NODE, 4, 0.9)
    normal = _gpu(fleet, 4)
    fleet.inject_fault(NODE, 4, "thermal")
    clock.sleep(300)
    s = _gpu(fleet, 4)
    assert s.temp_c > s.temp_slowdown_c
    assert s.clock_event_reasons & 0x20 and s.clock_event_reasons & 0x40
    assert s.thermal_slowdown and "THERMAL" in s.health_flags
    assert s.sm_clock_mhz < normal.sm_clock_mhz
    fleet.clear_faults(NODE)
    clock.sleep(300)
    s = _gpu(fleet, 4)
    assert not s.thermal_slowdown and s.sm_clock_mhz == 1980 and s.temp_c < 89


def test_unknown_fault_and_gpu_are_errors(fleet):
    with pytest.raises(ValueError):
        fleet.inject_fault(NODE, 0, "meltdown")
    with pytest.raises(KeyError):
        fleet.set_load(NODE, 8, 0.5)


def test_seeded_noise_is_reproducible():
    clock = SimClock(frozen=True)

    def reading(seed):
        f = SimGpuFleet(seed=seed, clock=clock)
        f.add_node(NODE)
        f.set_load(NODE, 0, 0.5)
        return f.read(NODE)

    assert reading(1) == reading(1)
    assert reading(1).samples[0].uuid != reading(2).samples[0].uuid
    # a frozen clock shows the steady state at once (same screen every time)
    assert reading(1).samples[0].temp_c > 40


def test_source_reads_the_node_and_never_raises(fleet):
    src = fleet.source(NODE)
    assert src.name == NODE and src.read().samples[0].host == NODE
    fleet.set_reachable(NODE, False)
    assert src.read().state == "unreachable" and src.read().samples == ()
    fleet.remove_node(NODE)
    assert src.read().state == "unreachable"
