"""AMD GPUs through AMD SMI (the ``amdsmi`` Python package shipped with ROCm).

``amdsmi_get_energy_count`` returns an accumulator and its resolution; energy is
``accumulator x counter_resolution`` µJ. The accumulator is 64-bit, so it does not wrap
within any realistic window. Older releases name the accumulator ``power``.
"""

from __future__ import annotations

import contextlib
from types import ModuleType
from typing import Any

from wattwise.errors import DeviceError, HardwareUnavailableError
from wattwise.meter.sources.base import EnergySource
from wattwise.meter.types import Device
from wattwise.units import MICRO


def _import_amdsmi() -> ModuleType:
    try:
        import amdsmi
    except (ImportError, OSError, KeyError):
        # amdsmi raises KeyError/OSError at import when ROCm's library is absent.
        raise HardwareUnavailableError(
            "AMD SMI not available", "install ROCm's amdsmi package to meter AMD GPUs"
        ) from None
    return amdsmi


def _energy_uj(reading: dict[str, Any]) -> float:
    accumulator = reading.get("energy_accumulator", reading.get("power"))
    if accumulator is None:
        raise DeviceError(f"AMD SMI energy reading has no accumulator: {sorted(reading)}")
    return float(accumulator) * float(reading.get("counter_resolution", 1.0))


class AmdSmiSource(EnergySource):
    """Energy of AMD GPUs. Units: J."""

    source = "amdsmi"

    def __init__(self, amdsmi: ModuleType | None = None) -> None:
        self._smi = amdsmi or _import_amdsmi()
        error = self._smi.AmdSmiException
        try:
            self._smi.amdsmi_init()
            handles = list(self._smi.amdsmi_get_processor_handles())
            self._start_uj = [_energy_uj(self._smi.amdsmi_get_energy_count(h)) for h in handles]
        except error as err:
            raise DeviceError(f"AMD SMI could not read GPU energy: {err}") from None
        if not handles:
            self.close()
            raise HardwareUnavailableError("AMD SMI found no GPU")
        self._handles = handles
        self._devices = [
            Device(name=f"amdsmi:gpu-{i}", kind="gpu", source=self.source, estimated=False)
            for i in range(len(handles))
        ]

    def devices(self) -> list[Device]:
        return list(self._devices)

    def read_j(self) -> dict[str, float]:
        try:
            return {
                dev.name: (_energy_uj(self._smi.amdsmi_get_energy_count(h)) - start) * MICRO
                for dev, h, start in zip(self._devices, self._handles, self._start_uj, strict=True)
            }
        except self._smi.AmdSmiException as err:
            raise DeviceError(f"AMD SMI read failed: {err}") from None

    def close(self) -> None:
        # a library that failed to start may fail to stop
        with contextlib.suppress(self._smi.AmdSmiException):
            self._smi.amdsmi_shut_down()
