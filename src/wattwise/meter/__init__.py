"""How many joules did this take, on which device, and how sure are we.

Sources (one module each under ``meter/sources``): RAPL, NVML, AMD SMI and the
labelled estimate. :class:`Meter` runs windows over them.
"""

from __future__ import annotations

from wattwise.meter.detect import Detection, detect_sources
from wattwise.meter.meter import DEFAULT_INTERVAL_S, Meter, WindowError
from wattwise.meter.sources.base import EnergySource
from wattwise.meter.sources.estimate import EstimateSettings
from wattwise.meter.types import Device, DeviceEnergy, Measurement, PowerSample

__all__ = [
    "DEFAULT_INTERVAL_S",
    "Detection",
    "Device",
    "DeviceEnergy",
    "EnergySource",
    "EstimateSettings",
    "Measurement",
    "Meter",
    "PowerSample",
    "WindowError",
    "detect_sources",
]
