"""Per-process use of each NVIDIA GPU, for splitting a GPU's energy among jobs.

NVML's per-process SM utilisation (``nvmlDeviceGetProcessUtilization``, recent
samples) gives each process's share of a GPU's work; where the driver does not
support it, the GPU memory each process holds (``nvmlDeviceGetComputeRunningProcesses``)
stands in. A job's use is the sum over the processes of its tree. Device names
match :class:`~wattwise.meter.sources.nvml.NvmlSource` (``nvml:gpu-<index>``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import Any

import psutil

from wattwise.meter.sources.nvml import _import_pynvml, visible_gpu_selectors


class GpuProcessUse:
    """``use(pids_by_job) -> {device: {job: weight}}`` for the visible NVIDIA GPUs."""

    def __init__(self, nvml: ModuleType | None = None, env: dict[str, str] | None = None) -> None:
        from wattwise.errors import HardwareUnavailableError

        self._nvml = nvml or _import_pynvml()
        try:
            self._nvml.nvmlInit()
            selectors = visible_gpu_selectors(env)
            if selectors is None:
                count = self._nvml.nvmlDeviceGetCount()
                selectors = [str(i) for i in range(count)]
            self._handles: list[tuple[str, Any]] = [
                (
                    f"nvml:gpu-{sel}",
                    self._nvml.nvmlDeviceGetHandleByIndex(int(sel))
                    if sel.isdigit()
                    else self._nvml.nvmlDeviceGetHandleByUUID(sel),
                )
                for sel in selectors
            ]
        except self._nvml.NVMLError as err:
            raise HardwareUnavailableError(f"NVML per-process use unavailable: {err}") from None
        self._last_seen: dict[str, int] = {}

    def _per_pid(self, device: str, handle: Any) -> dict[int, float]:
        nvml = self._nvml
        try:
            samples = nvml.nvmlDeviceGetProcessUtilization(handle, self._last_seen.get(device, 0))
            use: dict[int, float] = {}
            for s in samples:
                use[int(s.pid)] = use.get(int(s.pid), 0.0) + float(s.smUtil)
                self._last_seen[device] = max(self._last_seen.get(device, 0), int(s.timeStamp))
            if sum(use.values()) > 0:
                return use
        except nvml.NVMLError:
            pass  # not supported on this GPU/driver, or no sample yet: use memory held
        try:
            procs = nvml.nvmlDeviceGetComputeRunningProcesses(handle)
        except nvml.NVMLError:
            return {}
        return {int(p.pid): float(p.usedGpuMemory or 0) for p in procs}

    def __call__(self, pids_by_job: Mapping[str, Sequence[int]]) -> dict[str, dict[str, float]]:
        owner: dict[int, str] = {}
        for job, roots in pids_by_job.items():
            for root in roots:
                owner[root] = job
                with contextlib.suppress(psutil.Error):
                    for child in psutil.Process(root).children(recursive=True):
                        owner[child.pid] = job
        out: dict[str, dict[str, float]] = {}
        for device, handle in self._handles:
            weights: dict[str, float] = {}
            for pid, use in self._per_pid(device, handle).items():
                if pid in owner:
                    weights[owner[pid]] = weights.get(owner[pid], 0.0) + use
            out[device] = weights
        return out

    def close(self) -> None:
        with contextlib.suppress(self._nvml.NVMLError):
            self._nvml.nvmlShutdown()
