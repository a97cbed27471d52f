from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from tests.meter.fakes import FakeGpu, FakeNvmlState, fake_pynvml
from wattwise.errors import DeviceError, DevicePermissionError, HardwareUnavailableError
from wattwise.meter import Meter
from wattwise.meter.sources import nvml
from wattwise.meter.sources.nvml import NvmlSource, nvidia_driver_present, visible_gpu_selectors


def _state() -> FakeNvmlState:
    return FakeNvmlState(
        gpus=[
            FakeGpu("NVIDIA A100", "GPU-aaa", energy_mj=1_000_000.0),
            FakeGpu("NVIDIA T4", "GPU-bbb", energy_mj=None, power_mw=70_000.0),
        ]
    )


def test_energy_counter_and_power_only_gpu() -> None:
    state = _state()
    source = NvmlSource(fake_pynvml(state), env={})
    meter = Meter([source], sample=False)
    meter.begin("w")
    state.gpus[0].energy_mj += 250_000.0  # +250 J on the counter
    time.sleep(0.2)
    m = meter.end("w")
    by_name = {d.name: d for d in m.devices}
    assert by_name["nvml:gpu-0"].energy_j == pytest.approx(250.0)
    # 70 W integrated over the window (~0.2 s).
    assert by_name["nvml:gpu-1"].energy_j == pytest.approx(70.0 * m.duration_s, rel=0.15)
    assert not m.estimated
    assert meter.interval_s <= 0.5  # power-only GPUs need polling


def test_cuda_visible_devices_by_index_and_uuid() -> None:
    state = _state()
    assert [
        d.name for d in NvmlSource(fake_pynvml(state), env={"CUDA_VISIBLE_DEVICES": "1"}).devices()
    ] == ["nvml:gpu-1"]
    src = NvmlSource(fake_pynvml(state), env={"CUDA_VISIBLE_DEVICES": "GPU-aaa"})
    assert "A100" in src.devices()[0].detail
    assert visible_gpu_selectors({"CUDA_VISIBLE_DEVICES": "0,-1,1"}) == ["0"]
    with pytest.raises(HardwareUnavailableError):
        NvmlSource(fake_pynvml(state), env={"CUDA_VISIBLE_DEVICES": ""})


def test_nvml_errors_map_to_wattwise_errors() -> None:
    state = _state()
    state.init_error = 12  # library not found
    with pytest.raises(HardwareUnavailableError):
        NvmlSource(fake_pynvml(state), env={})
    state.init_error = 4
    with pytest.raises(DevicePermissionError):
        NvmlSource(fake_pynvml(state), env={})
    state.init_error = None
    source = NvmlSource(fake_pynvml(state), env={})
    state.read_error = 15  # GPU is lost
    with pytest.raises(DeviceError, match="NVML read failed"):
        source.read_j()
    source.close()
    assert state.shutdowns >= 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the check is Linux-only")
@pytest.mark.parametrize("node", ["dev/nvidiactl", "proc/driver/nvidia", "dev/dxg"])
def test_driver_check_finds_each_way_nvml_reaches_the_driver(tmp_path: Path, node: str) -> None:
    assert not nvidia_driver_present(tmp_path)
    (tmp_path / node).parent.mkdir(parents=True)
    (tmp_path / node).touch()
    assert nvidia_driver_present(tmp_path)


def test_no_driver_says_so_without_importing_pynvml(monkeypatch: pytest.MonkeyPatch) -> None:
    def must_not_import() -> None:
        raise AssertionError("pynvml imported although no driver is present")

    monkeypatch.setattr(nvml, "nvidia_driver_present", lambda: False)
    monkeypatch.setattr(nvml, "_import_pynvml", must_not_import)
    with pytest.raises(HardwareUnavailableError, match="no NVIDIA driver"):
        NvmlSource(env={})
    # A module handed in (tests, a caller's own bindings) is used as before.
    assert NvmlSource(fake_pynvml(_state()), env={}).devices()
