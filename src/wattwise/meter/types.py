"""Data the meter hands out: devices, per-device energy, a measurement.

Units: energy in J, power in W, times in UTC epoch seconds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Device:
    """One energy-reporting device.

    ``name`` is unique within a meter (``"rapl:package-0"``, ``"nvml:gpu-0"``).
    ``kind`` is what it powers (``cpu``, ``dram``, ``gpu``, ``core``, ``uncore``, ``psys``).
    ``source`` is how it is read (``rapl``, ``nvml``, ``amdsmi``, ``estimate``).
    ``part_of`` names the device that already includes this one (RAPL core is inside
    its package; psys covers the whole SoC); such devices are reported but not added
    to the total, so nothing is counted twice.
    """

    name: str
    kind: str
    source: str
    estimated: bool
    part_of: str | None = None
    detail: str = ""

    @property
    def in_total(self) -> bool:
        return self.part_of is None

    def used(self, energy_j: float) -> DeviceEnergy:
        """This device's share of a window: ``energy_j`` joules. Units: J."""
        return DeviceEnergy(
            name=self.name,
            kind=self.kind,
            source=self.source,
            estimated=self.estimated,
            energy_j=energy_j,
            in_total=self.in_total,
        )


@dataclass(frozen=True)
class DeviceEnergy:
    """Energy one device used over a window. Units: J."""

    name: str
    kind: str
    source: str
    estimated: bool
    energy_j: float
    in_total: bool = True


@dataclass(frozen=True)
class PowerSample:
    """Total power (devices in the total) over the interval ending at ``t_s``. Units: W."""

    t_s: float
    power_w: float
    energy_j: float


@dataclass(frozen=True)
class Measurement:
    """What one window cost.

    ``energy_j`` sums the devices that count toward the total. ``estimated`` is true
    when any of those figures is an estimate rather than a hardware counter.
    ``co2e_g`` is filled in by carbon accounting (``None`` until then).
    """

    name: str
    start_s: float
    end_s: float
    devices: tuple[DeviceEnergy, ...]
    timeline: tuple[PowerSample, ...] = ()
    co2e_g: float | None = None
    intensity_source: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def energy_j(self) -> float:
        return sum(d.energy_j for d in self.devices if d.in_total)

    @property
    def estimated(self) -> bool:
        return any(d.estimated for d in self.devices if d.in_total)

    @property
    def avg_power_w(self) -> float:
        return self.energy_j / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def peak_power_w(self) -> float | None:
        """Highest total power over one sampling interval; ``None`` without a timeline."""
        if not self.timeline:
            return None
        return max(s.power_w for s in self.timeline)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the ``wattwise measure --json`` shape)."""
        return {
            "name": self.name,
            "start_s": self.start_s,
            "end_s": self.end_s,
            "duration_s": self.duration_s,
            "energy_j": self.energy_j,
            "avg_power_w": self.avg_power_w,
            "peak_power_w": self.peak_power_w,
            "co2e_g": self.co2e_g,
            "intensity_source": self.intensity_source,
            "estimated": self.estimated,
            "devices": [asdict(d) for d in self.devices],
            **self.meta,
        }
