"""The power-limit actuator against a stand-in NVML module (never a real GPU)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from wattwise.errors import (
    ConfigError,
    DevicePermissionError,
    HardwareUnavailableError,
)
from wattwise.optimize import EnergySample
from wattwise.optimize.gpu.nvml import NullPowerLimit, NvmlPowerLimit, open_actuator
from wattwise.optimize.gpu.power_limit import optimize_power_limit


class NVMLError(Exception):
    def __init__(self, value: int) -> None:
        super().__init__(f"NVML error {value}")
        self.value = value


def fake_nvml(privileged: bool = True, init_error: int | None = None) -> Any:
    state = {"limit_mw": 300_000}

    def init() -> None:
        if init_error is not None:
            raise NVMLError(init_error)

    def set_limit(handle: object, mw: int) -> None:
        if not privileged:
            raise NVMLError(4)  # NVML_ERROR_NO_PERMISSION
        state["limit_mw"] = mw

    return SimpleNamespace(
        NVMLError=NVMLError,
        nvmlInit=init,
        nvmlShutdown=lambda: None,
        nvmlDeviceGetCount=lambda: 1,
        nvmlDeviceGetHandleByIndex=lambda i: f"gpu{i}",
        nvmlDeviceGetPowerManagementLimitConstraints=lambda h: (100_000, 300_000),
        nvmlDeviceGetPowerManagementDefaultLimit=lambda h: 300_000,
        nvmlDeviceGetPowerManagementLimit=lambda h: state["limit_mw"],
        nvmlDeviceSetPowerManagementLimit=set_limit,
        state=state,
    )


def test_set_and_read_limit_in_watts() -> None:
    nvml = fake_nvml()
    act = NvmlPowerLimit(nvml)
    rng = act.limits(0)
    assert (rng.min_w, rng.max_w, rng.default_w) == (100.0, 300.0, 300.0)
    act.set_limit_w(0, 175)
    assert nvml.state["limit_mw"] == 175_000
    assert act.get_limit_w(0) == 175.0


def test_no_privilege_is_one_clear_line() -> None:
    act = NvmlPowerLimit(fake_nvml(privileged=False))
    with pytest.raises(DevicePermissionError) as exc:
        act.set_limit_w(0, 200)
    msg = str(exc.value)
    assert "\n" not in msg and "root" in msg and "200 W" in msg


def test_out_of_range_and_bad_index() -> None:
    act = NvmlPowerLimit(fake_nvml())
    with pytest.raises(ConfigError, match="outside GPU 0's range 100-300 W"):
        act.set_limit_w(0, 50)
    with pytest.raises(ConfigError, match="out of range"):
        act.limits(3)


def test_no_driver_gives_a_null_actuator() -> None:
    act = open_actuator(fake_nvml(init_error=9))  # NVML_ERROR_DRIVER_NOT_LOADED
    assert isinstance(act, NullPowerLimit) and act.device_count() == 0
    with pytest.raises(HardwareUnavailableError, match="no usable NVIDIA GPU"):
        act.set_limit_w(0, 200)


def test_optimize_power_limit_profiles_sets_and_restores() -> None:
    nvml = fake_nvml()
    act = NvmlPowerLimit(nvml)
    seen: list[float] = []

    def measure(fn: Any) -> EnergySample:
        limit = act.get_limit_w(0)
        seen.append(limit)
        fn()
        # Lower limits: slower but less power; 200 W is the sweet spot at eta=1.
        time_s = 10.0 * (300.0 / limit) ** 0.5
        power_w = 0.9 * limit
        return EnergySample(time_s * power_w, time_s, False, "nvml")

    best, profiles = optimize_power_limit(act, 0, measure, lambda: None, eta=1.0, steps=5)
    assert seen == [300.0, 250.0, 200.0, 150.0, 100.0]
    assert best.limit_w == 100.0  # energy-only: the lowest limit wins in this model
    assert nvml.state["limit_mw"] == 100_000
    slow, _ = optimize_power_limit(act, 0, measure, lambda: None, eta=1.0, max_slowdown=1.2)
    assert slow.time_s <= 1.2 * min(p.time_s for p in profiles)
