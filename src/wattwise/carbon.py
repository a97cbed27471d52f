"""gCO₂e of an energy timeline: the meter's energy times the grid's intensity.

The one home of this sum, used by ``wattwise measure`` / ``wattwise.measure()``
(:func:`with_carbon`) and by the engine for every job (``engine.carbon``).

Each power sample is the energy of one interval ending at its instant (``t_s``;
the interval's length is ``energy_j / power_w``). That energy is taken as spread
evenly over its interval and multiplied by the intensity's mean over the same
interval, which is exact for a step intensity at any sampling rate, however the
samples and the intensity steps are aligned. Energy the timeline does not place (a
run with no samples, rounding between the samples and the device totals) is spread
evenly over the whole run. Units: J in, gCO₂e out; gCO₂e/kWh; UTC epoch s.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from wattwise.meter.types import Measurement, PowerSample
from wattwise.units import JOULES_PER_KWH, TimeSeries, co2e_grams

if TYPE_CHECKING:
    from wattwise.grid import IntensityProvider

#: The shortest period asked of a provider, so an instant run still gets an intensity. Units: s.
MIN_PERIOD_S = 1.0


class EnergyTimeline(Protocol):
    """What carbon accounting reads: a run's span, its total energy and its samples
    (a :class:`~wattwise.meter.types.Measurement` or an engine job's energy)."""

    @property
    def start_s(self) -> float: ...
    @property
    def end_s(self) -> float: ...
    @property
    def energy_j(self) -> float: ...
    @property
    def timeline(self) -> Sequence[PowerSample]: ...


@dataclass(frozen=True)
class Carbon:
    """A run's carbon and where its intensity came from. Units: gCO₂e."""

    co2e_g: float
    intensity_source: str


def timeline_co2e_g(energy: EnergyTimeline, series: TimeSeries) -> float:
    """Carbon of ``energy`` under intensity ``series`` (gCO₂e/kWh). Units: gCO₂e."""
    total_j = energy.energy_j
    if total_j <= 0 and not energy.timeline:
        return 0.0
    import numpy as np

    samples = [s for s in energy.timeline if s.energy_j > 0 and s.power_w > 0]
    grams = 0.0
    placed_j = 0.0
    if samples:
        ends = np.array([s.t_s for s in samples], dtype=np.float64)
        joules = np.array([s.energy_j for s in samples], dtype=np.float64)
        lengths = joules / np.array([s.power_w for s in samples], dtype=np.float64)
        mean_g_per_kwh = series.mean(ends - lengths, ends)
        grams = float(np.sum(joules * mean_g_per_kwh)) / JOULES_PER_KWH
        placed_j = float(joules.sum())
    rest_j = total_j - placed_j
    if rest_j != 0.0:
        grams += co2e_grams(rest_j, series.mean(energy.start_s, energy.end_s))
    return grams


def _constant_intensity(provider: IntensityProvider) -> float | None:
    """The value of a provider that is constant in time (fixed, static), else ``None``."""
    from wattwise.grid.provider import FixedProvider, StaticProvider

    if isinstance(provider, FixedProvider):
        return provider.g_per_kwh
    if isinstance(provider, StaticProvider):
        return provider.entry.g_per_kwh
    return None


def provider_co2e(energy: EnergyTimeline, provider: IntensityProvider) -> Carbon:
    """Carbon of ``energy`` with the intensity ``provider`` gives over its span.

    Raises what the provider raises (e.g. ``CoverageError``) when it cannot cover it.
    """
    constant = _constant_intensity(provider)
    if constant is not None:
        # Same answer as integrating a flat series, without loading NumPy.
        grams = co2e_grams(energy.energy_j, constant)
    else:
        first = min([energy.start_s, *(s.t_s - _length_s(s) for s in energy.timeline)])
        end = max(energy.end_s, first + MIN_PERIOD_S)
        grams = timeline_co2e_g(energy, provider.series(first, end))
    return Carbon(grams, provider.describe())


def _length_s(sample: PowerSample) -> float:
    return sample.energy_j / sample.power_w if sample.power_w > 0 else 0.0


def with_carbon(measurement: Measurement, provider: IntensityProvider) -> Measurement:
    """A copy of ``measurement`` with ``co2e_g`` and ``intensity_source`` filled in."""
    carbon = provider_co2e(measurement, provider)
    return dataclasses.replace(
        measurement, co2e_g=carbon.co2e_g, intensity_source=carbon.intensity_source
    )
