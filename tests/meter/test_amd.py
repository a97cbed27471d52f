from __future__ import annotations

import types

import pytest

from wattwise.errors import DeviceError, HardwareUnavailableError
from wattwise.meter import Meter
from wattwise.meter.sources.amd import AmdSmiSource


class AmdSmiException(Exception):
    pass


def fake_amdsmi(counters: list[dict[str, float]], fail: bool = False) -> types.ModuleType:
    m = types.ModuleType("amdsmi")
    m.AmdSmiException = AmdSmiException  # type: ignore[attr-defined]
    m.amdsmi_init = lambda: None  # type: ignore[attr-defined]
    m.amdsmi_shut_down = lambda: None  # type: ignore[attr-defined]
    m.amdsmi_get_processor_handles = lambda: list(range(len(counters)))  # type: ignore[attr-defined]

    def energy(handle: int) -> dict[str, float]:
        if fail:
            raise AmdSmiException("device busy")
        return dict(counters[handle])

    m.amdsmi_get_energy_count = energy  # type: ignore[attr-defined]
    return m


def test_accumulator_times_resolution() -> None:
    counters = [
        {"energy_accumulator": 1000.0, "counter_resolution": 15.3},
        {"power": 10.0, "counter_resolution": 1.0},  # older releases' key name
    ]
    meter = Meter([AmdSmiSource(fake_amdsmi(counters))], sample=False)
    meter.begin("w")
    counters[0]["energy_accumulator"] += 1_000_000  # x 15.3 µJ = 15.3 J
    counters[1]["power"] += 2_000_000  # 2 J
    m = meter.end("w")
    assert m.energy_j == pytest.approx(17.3)
    assert [d.source for d in m.devices] == ["amdsmi", "amdsmi"]


def test_no_gpu_and_errors() -> None:
    with pytest.raises(HardwareUnavailableError):
        AmdSmiSource(fake_amdsmi([]))
    with pytest.raises(DeviceError, match="AMD SMI"):
        AmdSmiSource(fake_amdsmi([{"energy_accumulator": 1.0}], fail=True))
