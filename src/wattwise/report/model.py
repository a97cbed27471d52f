"""The report's records: one run's carbon, and the report over one or more runs.

Units: kWh (energy), gCO₂e (masses), gCO₂e/kWh (intensities), s (times, UTC epoch).
``None`` always means unknown, never zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wattwise.report.embodied import DeviceEmbodied
from wattwise.report.equivalents import Equivalent
from wattwise.report.pue import Pue
from wattwise.report.sci import FunctionalUnit


@dataclass(frozen=True)
class DeviceEnergyLine:
    """A device's metered energy over the run. Units: kWh."""

    name: str
    kind: str
    source: str
    estimated: bool
    energy_kwh: float


@dataclass(frozen=True)
class MarketFactor:
    """A contract (market-based) emission factor and where it came from. Units: gCO₂e/kWh."""

    g_per_kwh: float
    basis: str


@dataclass(frozen=True)
class RunCarbon:
    """Energy, PUE, operational and embodied CO₂e of one stored run."""

    run_id: int
    name: str
    kind: str
    status: str
    host: str
    job_id: int | None
    started_s: float
    duration_s: float
    energy_kwh: float
    estimated: bool
    devices: tuple[DeviceEnergyLine, ...]
    pue: Pue
    intensity_g_per_kwh: float | None
    intensity_source: str | None
    operational_co2e_g: float | None
    market_co2e_g: float | None
    embodied: tuple[DeviceEmbodied, ...]

    @property
    def facility_energy_kwh(self) -> float:
        return self.energy_kwh * self.pue.value

    @property
    def sources(self) -> list[str]:
        return sorted({d.source for d in self.devices})

    @property
    def embodied_co2e_g(self) -> float:
        """Sum over the devices with a known figure (see :attr:`embodied_unknown`)."""
        return sum(d.co2e_g for d in self.embodied if d.co2e_g is not None)

    @property
    def embodied_unknown(self) -> list[str]:
        return [d.device for d in self.embodied if not d.known]

    @property
    def total_co2e_g(self) -> float | None:
        if self.operational_co2e_g is None:
            return None
        return self.operational_co2e_g + self.embodied_co2e_g


@dataclass(frozen=True)
class Report:
    """The report over ``items`` (one run, a job's runs, or runs since a time)."""

    selection: str
    items: tuple[RunCarbon, ...]
    unit: FunctionalUnit
    market: MarketFactor | None
    sci_g: float | None
    equivalents: tuple[Equivalent, ...]
    statement: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def energy_kwh(self) -> float:
        return sum(i.energy_kwh for i in self.items)

    @property
    def facility_energy_kwh(self) -> float:
        return sum(i.facility_energy_kwh for i in self.items)

    @property
    def pue(self) -> float:
        """Energy-weighted PUE over the items (their own PUE when energy is zero)."""
        if self.energy_kwh > 0:
            return self.facility_energy_kwh / self.energy_kwh
        return max(i.pue.value for i in self.items)

    @property
    def pue_bases(self) -> list[str]:
        return sorted({i.pue.basis for i in self.items})

    @property
    def pue_is_default(self) -> bool:
        return all(i.pue.is_default for i in self.items)

    @property
    def estimated(self) -> bool:
        return any(i.estimated for i in self.items)

    @property
    def sources(self) -> list[str]:
        return sorted({s for i in self.items for s in i.sources})

    @property
    def duration_s(self) -> float:
        return sum(i.duration_s for i in self.items)

    @property
    def operational_co2e_g(self) -> float | None:
        values = [i.operational_co2e_g for i in self.items]
        return None if any(v is None for v in values) else sum(v or 0.0 for v in values)

    @property
    def market_co2e_g(self) -> float | None:
        values = [i.market_co2e_g for i in self.items]
        return None if any(v is None for v in values) else sum(v or 0.0 for v in values)

    @property
    def intensity_g_per_kwh(self) -> float | None:
        """Effective location-based intensity: operational CO₂e / facility energy."""
        op = self.operational_co2e_g
        if op is None or self.facility_energy_kwh <= 0:
            return None
        return op / self.facility_energy_kwh

    @property
    def embodied_co2e_g(self) -> float:
        return sum(i.embodied_co2e_g for i in self.items)

    @property
    def embodied_unknown(self) -> list[str]:
        return sorted({d for i in self.items for d in i.embodied_unknown})

    @property
    def total_co2e_g(self) -> float | None:
        op = self.operational_co2e_g
        return None if op is None else op + self.embodied_co2e_g

    def to_dict(self) -> dict[str, Any]:
        """The ``--format json`` object: the aggregate at top level, ``items`` per run."""
        from wattwise.report.render import report_dict

        return report_dict(self)
