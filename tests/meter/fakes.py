"""Stand-ins for hardware: a powercap sysfs tree in a temp dir and a fake pynvml module."""

from __future__ import annotations

import types
from dataclasses import dataclass, field
from pathlib import Path

POWERCAP = "sys/class/powercap"


def _padded(uj: int) -> str:
    return f"{uj}".ljust(23) + "\n"


@dataclass
class FakeRapl:
    """A writable powercap tree. ``set(zone, uj)`` moves a counter."""

    root: Path

    def zone(
        self, zone_id: str, name: str, energy_uj: int = 0, max_uj: int = 262_143_328_850
    ) -> Path:
        parts = zone_id.split(":")
        # intel-rapl:0:1 lives inside intel-rapl:0, as in the kernel's tree.
        path = self.root / POWERCAP
        if len(parts) == 3:
            path = path / f"{parts[0]}:{parts[1]}"
        path = path / zone_id
        path.mkdir(parents=True, exist_ok=True)
        (path / "name").write_text(name + "\n")
        (path / "energy_uj").write_text(_padded(energy_uj))
        (path / "max_energy_range_uj").write_text(f"{max_uj}\n")
        # The kernel also lists nested zones at the top level through symlinks.
        if len(parts) == 3:
            link = self.root / POWERCAP / zone_id
            if not link.exists():
                link.symlink_to(path)
        return path

    def set(self, zone_id: str, energy_uj: int) -> None:
        # Overwrite in place at a fixed width, as sysfs does: never an empty file that
        # a concurrent reader (the meter's sampler) could see mid-write.
        with open(self.root / POWERCAP / zone_id / "energy_uj", "r+") as fh:
            fh.write(_padded(energy_uj))


def two_socket_tree(root: Path) -> FakeRapl:
    rapl = FakeRapl(root)
    for socket in (0, 1):
        rapl.zone(f"intel-rapl:{socket}", f"package-{socket}", 1_000_000)
        rapl.zone(f"intel-rapl:{socket}:0", "core", 500_000)
        rapl.zone(f"intel-rapl:{socket}:1", "dram", 200_000)
    return rapl


class NVMLError(Exception):
    def __init__(self, value: int) -> None:
        self.value = value
        super().__init__(f"NVML error {value}")


@dataclass
class FakeGpu:
    name: str
    uuid: str
    energy_mj: float | None  # None: no total-energy counter (power only)
    power_mw: float = 100_000.0


@dataclass
class FakeNvmlState:
    gpus: list[FakeGpu] = field(default_factory=list)
    init_error: int | None = None
    read_error: int | None = None
    shutdowns: int = 0


def fake_pynvml(state: FakeNvmlState) -> types.ModuleType:
    """A module with the parts of pynvml's API the NVML source uses."""
    m = types.ModuleType("pynvml")
    m.NVMLError = NVMLError  # type: ignore[attr-defined]
    m.NVML_ERROR_NOT_SUPPORTED = 3  # type: ignore[attr-defined]
    m.NVML_ERROR_NO_PERMISSION = 4  # type: ignore[attr-defined]
    m.NVML_ERROR_LIBRARY_NOT_FOUND = 12  # type: ignore[attr-defined]
    m.NVML_ERROR_DRIVER_NOT_LOADED = 9  # type: ignore[attr-defined]
    m.NVML_ERROR_GPU_IS_LOST = 15  # type: ignore[attr-defined]

    def init() -> None:
        if state.init_error is not None:
            raise NVMLError(state.init_error)

    def shutdown() -> None:
        state.shutdowns += 1

    def by_index(i: int) -> FakeGpu:
        return state.gpus[i]

    def by_uuid(uuid: str) -> FakeGpu:
        for gpu in state.gpus:
            if gpu.uuid == uuid:
                return gpu
        raise NVMLError(13)  # NVML_ERROR_NOT_FOUND

    def energy(gpu: FakeGpu) -> float:
        if state.read_error is not None:
            raise NVMLError(state.read_error)
        if gpu.energy_mj is None:
            raise NVMLError(3)
        return gpu.energy_mj

    def power(gpu: FakeGpu) -> float:
        if state.read_error is not None:
            raise NVMLError(state.read_error)
        return gpu.power_mw

    m.nvmlInit = init  # type: ignore[attr-defined]
    m.nvmlShutdown = shutdown  # type: ignore[attr-defined]
    m.nvmlDeviceGetCount = lambda: len(state.gpus)  # type: ignore[attr-defined]
    m.nvmlDeviceGetHandleByIndex = by_index  # type: ignore[attr-defined]
    m.nvmlDeviceGetHandleByUUID = by_uuid  # type: ignore[attr-defined]
    m.nvmlDeviceGetName = lambda gpu: gpu.name  # type: ignore[attr-defined]
    m.nvmlDeviceGetTotalEnergyConsumption = energy  # type: ignore[attr-defined]
    m.nvmlDeviceGetPowerUsage = power  # type: ignore[attr-defined]
    return m
