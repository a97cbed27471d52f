"""GPU energy follows each job's per-process GPU use (a stand-in NVML module)."""

from __future__ import annotations

import subprocess
import time
import types
from dataclasses import dataclass

import pytest

from wattwise.engine.node_meter import NodeMeter
from wattwise.meter.gpu_process import GpuProcessUse
from wattwise.meter.sources.base import EnergySource
from wattwise.meter.types import Device


class NVMLError(Exception):
    pass


@dataclass
class _Sample:
    pid: int
    smUtil: int
    timeStamp: int


@dataclass
class _Proc:
    pid: int
    usedGpuMemory: int


def _fake_nvml(util: dict[int, int] | None, memory: dict[int, int]) -> types.ModuleType:
    m = types.ModuleType("pynvml")
    m.NVMLError = NVMLError  # type: ignore[attr-defined]
    m.nvmlInit = lambda: None  # type: ignore[attr-defined]
    m.nvmlShutdown = lambda: None  # type: ignore[attr-defined]
    m.nvmlDeviceGetCount = lambda: 1  # type: ignore[attr-defined]
    m.nvmlDeviceGetHandleByIndex = lambda i: f"gpu{i}"  # type: ignore[attr-defined]

    def utilization(handle: str, since: int) -> list[_Sample]:
        if util is None:
            raise NVMLError("not supported")
        return [_Sample(pid, u, 1) for pid, u in util.items()]

    m.nvmlDeviceGetProcessUtilization = utilization  # type: ignore[attr-defined]
    m.nvmlDeviceGetComputeRunningProcesses = lambda h: [  # type: ignore[attr-defined]
        _Proc(pid, b) for pid, b in memory.items()
    ]
    return m


class ConstantGpu(EnergySource):
    source = "nvml"

    def __init__(self, power_w: float) -> None:
        self.power_w, self.t0 = power_w, time.monotonic()

    def devices(self) -> list[Device]:
        return [Device("nvml:gpu-0", "gpu", "nvml", False)]

    def read_j(self) -> dict[str, float]:
        return {"nvml:gpu-0": (time.monotonic() - self.t0) * self.power_w}


def test_gpu_use_maps_processes_to_jobs_by_sm_utilisation() -> None:
    a = subprocess.Popen(["sleep", "5"])
    b = subprocess.Popen(["sleep", "5"])
    try:
        use = GpuProcessUse(_fake_nvml({a.pid: 60, b.pid: 20, 999999: 20}, {}), env={})
        assert use({"ja": [a.pid], "jb": [b.pid]}) == {"nvml:gpu-0": {"ja": 60.0, "jb": 20.0}}
        # Without utilisation samples, the memory each job holds decides.
        by_mem = GpuProcessUse(_fake_nvml(None, {a.pid: 3 << 30, b.pid: 1 << 30}), env={})
        assert by_mem({"ja": [a.pid], "jb": [b.pid]})["nvml:gpu-0"]["ja"] == 3 << 30
    finally:
        a.kill(), b.kill()
        a.wait(), b.wait()


def test_node_meter_splits_gpu_energy_by_gpu_use_not_cpu() -> None:
    a = subprocess.Popen(["sleep", "5"])
    b = subprocess.Popen(["sleep", "5"])
    use = GpuProcessUse(_fake_nvml({a.pid: 75, b.pid: 25}, {}), env={})
    meter = NodeMeter([ConstantGpu(200.0)], interval_s=0.05, device_use=use)
    try:
        meter.register_many([("a", a.pid), ("b", b.pid)])
        time.sleep(0.5)
        ea, eb = meter.finish_many([("a", None), ("b", None)])
    finally:
        meter.close()
        a.kill(), b.kill()
        a.wait(), b.wait()
    gpu_a = next(d.energy_j for d in ea.devices if d.name == "nvml:gpu-0")
    gpu_b = next(d.energy_j for d in eb.devices if d.name == "nvml:gpu-0")
    assert gpu_a == pytest.approx(3 * gpu_b, rel=1e-6)
    assert gpu_a + gpu_b == pytest.approx(200.0 * (ea.end_s - ea.start_s), rel=0.02)
