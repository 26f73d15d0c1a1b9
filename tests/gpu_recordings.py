"""The real H200 recordings under tests/data/gpu/h200/, read for the telemetry
tests (a helper module, not a test module: test_telemetry_smi and
test_telemetry_nvml both compare against it)."""
from pathlib import Path

GPU_DATA = Path(__file__).parent / "data" / "gpu"
H200 = GPU_DATA / "h200"


def recorded_fields() -> dict[str, str]:
    """field name -> value (nounits) from the recording, aligned by the header row."""
    heads = [h.strip().split(" [")[0] for h in
             (H200 / "query-all-header.csv").read_text().splitlines()[0].split(",")]
    values = [v.strip() for v in (H200 / "query-all.csv").read_text().splitlines()[0].split(",")]
    assert len(heads) == len(values) == 198
    return dict(zip(heads, values, strict=True))


def recorded_row(names: list[str]) -> str:
    """The recording's values of `names`, as nvidia-smi's csv,noheader,nounits row."""
    rec = recorded_fields()
    return ", ".join(rec[n] for n in names)
