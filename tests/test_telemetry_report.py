"""`dsconsole gpus` output: the table and JSON renderings, and its bad-input exits."""
import json

from console.cli import main as cli_main
from console.telemetry.report import render_json, render_table
from console.telemetry.sample import GpuSample, HostTelemetry, XidEvent

ROUNDS = [
    HostTelemetry("gpu-1", 100.0, "ok", samples=(
        GpuSample("gpu-1", 0, 100.0, "nvidia-smi", name="NVIDIA H200", util_pct=97.0,
                  mem_used_mib=120000.0, mem_total_mib=143771.0, temp_c=71.0, temp_slowdown_c=89.0,
                  power_w=612.4, power_limit_w=700.0, sm_clock_mhz=1980.0, sm_clock_max_mhz=1980.0,
                  clock_event_reasons=0x40, ecc_mode=True, ecc_uncorrected_volatile=2),
        GpuSample("gpu-1", 1, 100.0, "nvidia-smi", pci_bus_id="0000:3B:00.0",
                  field_errors={"gpu": "gpu is lost"})),
        xids=(XidEvent("gpu-1", 100.0, "0000:3b:00", 1, 79, "GPU has fallen off the bus."),),
        notes=("kernel log not readable",)),
    HostTelemetry("gpu-2", 100.0, "unreachable", error="connection refused"),
]


def test_table():
    text = render_table(ROUNDS)
    lines = text.splitlines()
    assert lines[0].split() == ["HOST", "GPU", "NAME", "UTIL", "MEMORY", "TEMP", "POWER", "SM",
                                "MHZ", "ECC", "FLAGS"]
    assert lines[1].split() == ["gpu-1", "0", "NVIDIA", "H200", "97%", "117.2/140.4", "GiB", "71C",
                                "(slow", "89C)", "612/700", "W", "1980/1980", "2", "ECC,THERMAL"]
    assert lines[2].split()[:5] == ["gpu-1", "1", "gpu", "is", "lost"] and lines[2].endswith("ERROR")
    assert lines[3].split() == ["gpu-2", "-", "UNREACHABLE"]
    assert "gpu-2: unreachable: connection refused" in lines
    assert any(line.startswith("gpu-1: XID 79 (CRITICAL) on GPU 1 at ") for line in lines)
    assert "gpu-1: note: kernel log not readable" in lines
    assert lines[-1] == "1/2 host(s) answered"


def test_json():
    out = json.loads(render_json(ROUNDS))
    assert out["ok"] is False
    h1, h2 = out["hosts"]
    assert h1["gpus"][0]["health_flags"] == ["ECC", "THERMAL"]
    assert h1["gpus"][0]["clock_event_names"] == ["hw_thermal_slowdown"]
    assert h1["xids"][0]["critical"] is True and h1["xids"][0]["code"] == 79
    assert (h2["state"], h2["error"], h2["gpus"]) == ("unreachable", "connection refused", [])


def test_bad_input_exits_2(tmp_path, capsys):
    assert cli_main(["gpus", "--hosts", "a"]) == 2
    assert "--hosts needs a site (--site FILE)" in capsys.readouterr().err
    assert cli_main(["gpus", "--site", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml:1:" in capsys.readouterr().err
    site = tmp_path / "site.yaml"
    site.write_text("name: lab\nhosts:\n  - name: a\n    address: 10.0.0.1\n    colour: red\n")
    assert cli_main(["gpus", "--site", str(site)]) == 2
    assert f"{site}:5: hosts[0]: unknown key 'colour'" in capsys.readouterr().err
    site.write_text("name: lab\nhosts:\n  - name: lb\n    address: 10.0.0.1\n    role: lb\n")
    assert cli_main(["gpus", "--site", str(site)]) == 2
    assert "lists no host with role gpu" in capsys.readouterr().err
    assert cli_main(["gpus", "--site", str(site), "--hosts", ","]) == 2
    assert cli_main(["gpus", "--timeout", "0"]) == 2


def test_this_machine_without_a_driver_exits_1(capsys, tmp_path, monkeypatch):
    assert cli_main(["gpus", "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert [(h["host"], h["state"]) for h in out["hosts"]] == [("localhost", "no-driver")]
    # a configured site (here: a broken one from DSCONSOLE_SITE) is used unless --local
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [\n")
    monkeypatch.setenv("DSCONSOLE_SITE", str(bad))
    assert cli_main(["gpus"]) == 2
    assert str(bad) in capsys.readouterr().err
    assert cli_main(["gpus", "--local"]) == 1
    assert "no NVIDIA driver" in capsys.readouterr().out
    assert cli_main(["gpus", "--local", "--site", str(bad)]) == 2
