"""gCO₂e of a measurement: the meter's energy timeline times the grid's intensity.

Each sampling interval's energy is multiplied by the intensity in force at that
interval's midpoint, so a run that spans several hours of a trace uses each hour's
intensity, not one average.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from wattwise.meter.types import Measurement
from wattwise.units import JOULES_PER_KWH, TimeSeries
from wattwise.units import co2e_grams as constant_co2e_grams

if TYPE_CHECKING:
    import numpy as np

    from wattwise.grid import IntensityProvider


def _intensity_at(series: TimeSeries, t_s: np.ndarray) -> np.ndarray:
    import numpy as np

    idx = np.searchsorted(series.times_s, t_s, side="right") - 1
    return series.values[np.clip(idx, 0, len(series) - 1)]


def _constant_intensity(provider: IntensityProvider) -> float | None:
    """The value of a provider that is constant in time (fixed, static), else ``None``."""
    from wattwise.grid.provider import FixedProvider, StaticProvider

    if isinstance(provider, FixedProvider):
        return provider.g_per_kwh
    if isinstance(provider, StaticProvider):
        return provider.entry.g_per_kwh
    return None


def co2e_grams(measurement: Measurement, series: TimeSeries) -> float:
    """Carbon of ``measurement`` under intensity ``series`` (gCO₂e/kWh). Units: gCO₂e."""
    import numpy as np

    if measurement.energy_j <= 0:
        return 0.0
    timeline = measurement.timeline
    if timeline:
        ends = np.array([s.t_s for s in timeline])
        energy = np.array([s.energy_j for s in timeline])
        starts = np.concatenate(([measurement.start_s], ends[:-1]))
        mids = 0.5 * (starts + ends)
        # The timeline sums the same counters as the total; rescale any rounding gap.
        total = float(energy.sum())
        if total > 0:
            energy = energy * (measurement.energy_j / total)
        else:
            energy = np.full(len(energy), measurement.energy_j / len(energy))
    else:
        mids = np.array([0.5 * (measurement.start_s + measurement.end_s)])
        energy = np.array([measurement.energy_j])
    return float(np.sum(energy / JOULES_PER_KWH * _intensity_at(series, mids)))


def with_carbon(measurement: Measurement, provider: IntensityProvider) -> Measurement:
    """A copy of ``measurement`` with ``co2e_g`` and ``intensity_source`` filled in."""
    constant = _constant_intensity(provider)
    if constant is not None:
        # Same answer as integrating a flat series, without loading NumPy.
        grams = constant_co2e_grams(measurement.energy_j, constant)
    else:
        end = max(measurement.end_s, measurement.start_s + 1e-3)
        grams = co2e_grams(measurement, provider.series(measurement.start_s, end))
    return dataclasses.replace(measurement, co2e_g=grams, intensity_source=provider.describe())
