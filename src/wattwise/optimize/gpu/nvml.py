"""The power-limit actuator, over NVML (``pynvml`` from ``nvidia-ml-py``).

The NVML module is injected (tests pass a stand-in); by default ``pynvml`` is
imported on first use. NVML's error codes become wattwise errors with one line that
says what to do: no privilege -> DevicePermissionError, no GPU/driver ->
HardwareUnavailableError, anything else -> DeviceError.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

from wattwise.errors import (
    ConfigError,
    DeviceError,
    DevicePermissionError,
    HardwareUnavailableError,
)

# NVML return codes (nvml.h): stable across driver versions.
_NVML_ERROR_UNINITIALIZED = 1
_NVML_ERROR_INVALID_ARGUMENT = 2
_NVML_ERROR_NOT_SUPPORTED = 3
_NVML_ERROR_NO_PERMISSION = 4
_NVML_ERROR_NOT_FOUND = 6
_NVML_ERROR_DRIVER_NOT_LOADED = 9
_NVML_ERROR_LIBRARY_NOT_FOUND = 12
_NVML_ERROR_GPU_IS_LOST = 15


@dataclass(frozen=True)
class PowerLimitRange:
    """What a GPU accepts. Units: W."""

    min_w: float
    max_w: float
    default_w: float


class PowerLimitActuator(Protocol):
    """Reads and sets a GPU's power limit. Units: W."""

    def device_count(self) -> int: ...

    def limits(self, gpu: int) -> PowerLimitRange: ...

    def get_limit_w(self, gpu: int) -> float: ...

    def set_limit_w(self, gpu: int, watts: float) -> None: ...


class NullPowerLimit:
    """No GPU here: every call says so."""

    def __init__(self, reason: str = "no NVIDIA GPU or NVML library on this machine") -> None:
        self.reason = reason

    def device_count(self) -> int:
        return 0

    def _fail(self) -> Any:
        raise HardwareUnavailableError(f"cannot use the GPU power limit: {self.reason}")

    def limits(self, gpu: int) -> PowerLimitRange:
        return self._fail()

    def get_limit_w(self, gpu: int) -> float:
        return self._fail()

    def set_limit_w(self, gpu: int, watts: float) -> None:
        self._fail()


class NvmlPowerLimit:
    """NVML power-limit actuator. ``nvml`` defaults to the ``pynvml`` module."""

    def __init__(self, nvml: ModuleType | Any | None = None) -> None:
        if nvml is None:
            try:
                import pynvml as nvml_module
            except ImportError as err:
                raise HardwareUnavailableError(
                    "pynvml is not installed", hint="pip install nvidia-ml-py"
                ) from err
            nvml = nvml_module
        self._nvml = nvml
        self._call("nvmlInit")

    def _map(self, err: Exception, what: str) -> Exception:
        code = getattr(err, "value", None)
        if code == _NVML_ERROR_NO_PERMISSION:
            return DevicePermissionError(
                f"{what}: NVML denied permission",
                hint="setting a GPU power limit needs root (sudo) or CAP_SYS_ADMIN",
            )
        if code in (
            _NVML_ERROR_DRIVER_NOT_LOADED,
            _NVML_ERROR_LIBRARY_NOT_FOUND,
            _NVML_ERROR_NOT_FOUND,
            _NVML_ERROR_UNINITIALIZED,
            _NVML_ERROR_GPU_IS_LOST,
        ):
            return HardwareUnavailableError(f"{what}: no usable NVIDIA GPU ({err})")
        if code == _NVML_ERROR_NOT_SUPPORTED:
            return HardwareUnavailableError(f"{what}: this GPU does not support power limits")
        if code == _NVML_ERROR_INVALID_ARGUMENT:
            return ConfigError(f"{what}: NVML rejected the value ({err})")
        return DeviceError(f"{what}: NVML error {err}")

    def _call(self, fn: str, *args: Any, what: str | None = None) -> Any:
        error_cls = getattr(self._nvml, "NVMLError", None)
        try:
            return getattr(self._nvml, fn)(*args)
        except Exception as err:
            if error_cls is not None and isinstance(err, error_cls):
                raise self._map(err, what or fn) from err
            raise

    def _handle(self, gpu: int) -> Any:
        count = self.device_count()
        if not 0 <= gpu < count:
            raise ConfigError(f"GPU index {gpu} out of range: this machine has {count} GPU(s)")
        return self._call("nvmlDeviceGetHandleByIndex", gpu, what=f"GPU {gpu}")

    def device_count(self) -> int:
        return int(self._call("nvmlDeviceGetCount"))

    def limits(self, gpu: int) -> PowerLimitRange:
        h = self._handle(gpu)
        lo, hi = self._call(
            "nvmlDeviceGetPowerManagementLimitConstraints", h, what=f"GPU {gpu} limits"
        )
        default = self._call(
            "nvmlDeviceGetPowerManagementDefaultLimit", h, what=f"GPU {gpu} default limit"
        )
        return PowerLimitRange(lo / 1000.0, hi / 1000.0, default / 1000.0)  # NVML speaks mW

    def get_limit_w(self, gpu: int) -> float:
        h = self._handle(gpu)
        return float(self._call("nvmlDeviceGetPowerManagementLimit", h)) / 1000.0

    def set_limit_w(self, gpu: int, watts: float) -> None:
        rng = self.limits(gpu)
        if not rng.min_w <= watts <= rng.max_w:
            raise ConfigError(
                f"power limit {watts:g} W is outside GPU {gpu}'s range "
                f"{rng.min_w:g}-{rng.max_w:g} W"
            )
        h = self._handle(gpu)
        self._call(
            "nvmlDeviceSetPowerManagementLimit",
            h,
            round(watts * 1000),
            what=f"setting GPU {gpu} power limit to {watts:g} W",
        )

    def close(self) -> None:
        self._call("nvmlShutdown")


def open_actuator(nvml: ModuleType | Any | None = None) -> PowerLimitActuator:
    """An NVML actuator, or a :class:`NullPowerLimit` that explains why there is none."""
    try:
        return NvmlPowerLimit(nvml)
    except HardwareUnavailableError as err:
        return NullPowerLimit(str(err))
