from __future__ import annotations

import time

import pytest

from tests.meter.fakes import FakeGpu, FakeNvmlState, fake_pynvml
from wattwise.errors import DeviceError, DevicePermissionError, HardwareUnavailableError
from wattwise.meter import Meter
from wattwise.meter.sources.nvml import NvmlSource, visible_gpu_selectors


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
