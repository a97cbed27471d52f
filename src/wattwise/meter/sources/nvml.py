"""NVIDIA GPUs through NVML (package ``nvidia-ml-py``, module ``pynvml``).

Per GPU, the total-energy counter (``nvmlDeviceGetTotalEnergyConsumption``, mJ since
the driver loaded; Volta and newer) when the GPU has one; otherwise power samples
(``nvmlDeviceGetPowerUsage``, mW) integrated over time by the trapezoid rule, which
is why the meter polls on an interval. Only GPUs visible to CUDA
(``CUDA_VISIBLE_DEVICES``: indices or UUIDs) are metered.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from wattwise.errors import DeviceError, DevicePermissionError, HardwareUnavailableError
from wattwise.meter.sources.base import EnergySource
from wattwise.meter.types import Device
from wattwise.units import MILLI

# Power-only GPUs are integrated between samples; NVML refreshes power about every
# 100 ms on recent drivers, so polling faster gains nothing. Units: s.
POWER_ONLY_MAX_POLL_S = 0.5


#: Where NVML reaches the NVIDIA kernel driver on Linux: its control node, the driver's
#: procfs folder, and WSL 2's GPU paravirtualisation node.
DRIVER_PATHS = ("dev/nvidiactl", "proc/driver/nvidia", "dev/dxg")


def nvidia_driver_present(root: Path = Path("/")) -> bool:
    """Could NVML start here? On Linux NVML talks to the kernel driver through
    ``/dev/nvidiactl`` (``/dev/dxg`` under WSL 2): with none of :data:`DRIVER_PATHS`
    under ``root``, ``nvmlInit`` can only fail (driver not loaded), so importing pynvml
    (20-60 ms of ``wattwise measure``'s start-up) is skipped. Elsewhere always ``True``."""
    if not sys.platform.startswith("linux"):
        return True
    return any((root / p).exists() for p in DRIVER_PATHS)


def _import_pynvml() -> ModuleType:
    try:
        import pynvml
    except ImportError:
        raise HardwareUnavailableError(
            "NVML bindings missing", "pip install nvidia-ml-py to meter NVIDIA GPUs"
        ) from None
    return pynvml


def visible_gpu_selectors(env: dict[str, str] | None = None) -> list[str] | None:
    """Entries of ``CUDA_VISIBLE_DEVICES`` in order, or ``None`` when it is unset (all GPUs)."""
    value = (env if env is not None else os.environ).get("CUDA_VISIBLE_DEVICES")
    if value is None:
        return None
    selectors: list[str] = []
    for item in value.split(","):
        item = item.strip()
        # CUDA stops at the first invalid entry; so do we.
        if not item or item.startswith("-"):
            break
        selectors.append(item)
    return selectors


@dataclass
class _Gpu:
    device: Device
    handle: Any
    has_counter: bool
    start_mj: float = 0.0
    total_j: float = 0.0
    last_power_w: float = 0.0
    last_t: float = 0.0


class NvmlSource(EnergySource):
    """Energy of the visible NVIDIA GPUs. Units: J."""

    source = "nvml"

    def __init__(self, nvml: ModuleType | None = None, env: dict[str, str] | None = None) -> None:
        if nvml is None and not nvidia_driver_present():
            raise HardwareUnavailableError(
                "no NVIDIA driver on this machine (no /dev/nvidiactl)",
                "install the NVIDIA driver, or run the container with the GPU exposed",
            )
        self._nvml = nvml or _import_pynvml()
        try:
            self._nvml.nvmlInit()
        except self._nvml.NVMLError as err:
            raise self._map_error(err, "NVML could not start") from None
        self._gpus: list[_Gpu] = []
        try:
            for index, handle in self._visible_handles(visible_gpu_selectors(env)):
                self._gpus.append(self._open_gpu(index, handle))
        except self._nvml.NVMLError as err:
            self.close()
            raise self._map_error(err, "NVML could not list GPUs") from None
        if not self._gpus:
            self.close()
            raise HardwareUnavailableError("no NVIDIA GPU visible (check CUDA_VISIBLE_DEVICES)")

    def _map_error(self, err: Exception, what: str) -> Exception:
        nvml = self._nvml
        code = getattr(err, "value", None)
        if code == getattr(nvml, "NVML_ERROR_NO_PERMISSION", object()):
            return DevicePermissionError(f"{what}: {err}", "run with access to /dev/nvidia*")
        if code in (
            getattr(nvml, "NVML_ERROR_LIBRARY_NOT_FOUND", object()),
            getattr(nvml, "NVML_ERROR_DRIVER_NOT_LOADED", object()),
        ):
            return HardwareUnavailableError(f"{what}: {err}", "no NVIDIA driver on this machine")
        return DeviceError(f"{what}: {err}")

    def _visible_handles(self, selectors: list[str] | None) -> list[tuple[str, Any]]:
        nvml = self._nvml
        if selectors is None:
            count = nvml.nvmlDeviceGetCount()
            return [(str(i), nvml.nvmlDeviceGetHandleByIndex(i)) for i in range(count)]
        handles: list[tuple[str, Any]] = []
        for sel in selectors:
            if sel.isdigit():
                handles.append((sel, nvml.nvmlDeviceGetHandleByIndex(int(sel))))
            else:
                handles.append((sel, nvml.nvmlDeviceGetHandleByUUID(sel)))
        return handles

    def _open_gpu(self, index: str, handle: Any) -> _Gpu:
        nvml = self._nvml
        name = nvml.nvmlDeviceGetName(handle)
        if isinstance(name, bytes):
            name = name.decode()
        try:
            start_mj = float(nvml.nvmlDeviceGetTotalEnergyConsumption(handle))
            has_counter = True
        except nvml.NVMLError as err:
            if getattr(err, "value", None) != nvml.NVML_ERROR_NOT_SUPPORTED:
                raise
            start_mj, has_counter = 0.0, False
        detail = f"{name}; " + (
            "total-energy counter" if has_counter else "integrated from power samples"
        )
        device = Device(
            name=f"nvml:gpu-{index}", kind="gpu", source=self.source, estimated=False, detail=detail
        )
        gpu = _Gpu(device, handle, has_counter, start_mj=start_mj)
        if not has_counter:
            gpu.last_power_w = nvml.nvmlDeviceGetPowerUsage(handle) * MILLI
            gpu.last_t = time.monotonic()
        return gpu

    def devices(self) -> list[Device]:
        return [g.device for g in self._gpus]

    def read_j(self) -> dict[str, float]:
        nvml = self._nvml
        out: dict[str, float] = {}
        try:
            for gpu in self._gpus:
                if gpu.has_counter:
                    now_mj = float(nvml.nvmlDeviceGetTotalEnergyConsumption(gpu.handle))
                    gpu.total_j = (now_mj - gpu.start_mj) * MILLI
                else:
                    power_w = nvml.nvmlDeviceGetPowerUsage(gpu.handle) * MILLI
                    now = time.monotonic()
                    gpu.total_j += 0.5 * (power_w + gpu.last_power_w) * (now - gpu.last_t)
                    gpu.last_power_w, gpu.last_t = power_w, now
                out[gpu.device.name] = gpu.total_j
        except nvml.NVMLError as err:
            raise self._map_error(err, "NVML read failed") from None
        return out

    def max_poll_interval_s(self) -> float | None:
        return POWER_ONLY_MAX_POLL_S if any(not g.has_counter for g in self._gpus) else None

    def close(self) -> None:
        # a library that failed to start may fail to stop
        with contextlib.suppress(self._nvml.NVMLError):
            self._nvml.nvmlShutdown()
