"""Carbon of a job's energy: each power sample at the grid intensity of its instant.

Units: J in, gCO₂e out; intensity gCO₂e/kWh; times UTC epoch seconds.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from wattwise.engine.node_meter import JobEnergy
from wattwise.errors import WattwiseError
from wattwise.grid.provider import IntensityProvider
from wattwise.units import co2e_grams

#: A zone's intensity provider (``None``: the node has no zone label).
ProviderFor = Callable[[str | None], IntensityProvider]


def default_provider_for(zone: str | None) -> IntensityProvider:
    """The zone's provider as ``wattwise measure`` resolves it (config, then static table)."""
    from wattwise.config import load_config
    from wattwise.grid import resolve_provider

    config = load_config()
    if zone is None:
        return resolve_provider(zone=config.zone, carbon_file=config.carbon_file, replay=True)
    return resolve_provider(zone=zone)


def job_co2e_g(energy: JobEnergy, provider: IntensityProvider) -> tuple[float, str]:
    """Carbon of ``energy`` (Units: gCO₂e) and where the intensity came from."""
    end = max(energy.end_s, energy.start_s + 1.0)
    series = provider.series(energy.start_s, end)
    times = np.asarray(series.times_s, dtype=np.float64)
    values = np.asarray(series.values, dtype=np.float64)

    def at(t: float) -> float:
        i = int(np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(values) - 1))
        return float(values[i])

    samples = [(s.t_s, s.energy_j) for s in energy.timeline if s.energy_j > 0]
    charged = sum(e for _, e in samples)
    total = sum(co2e_grams(e, at(t)) for t, e in samples)
    rest = energy.energy_j - charged  # energy outside any sample (rounding): at the start
    if rest > 0:
        total += co2e_grams(rest, at(energy.start_s))
    return total, provider.describe()


class CarbonAccountant:
    """Caches one provider per zone; a zone it cannot resolve yields no carbon figure."""

    def __init__(self, provider_for: ProviderFor | None = None) -> None:
        self._provider_for = provider_for or default_provider_for
        self._providers: dict[str | None, IntensityProvider | str] = {}

    def co2e(self, energy: JobEnergy, zone: str | None) -> tuple[float | None, str]:
        if zone not in self._providers:
            try:
                self._providers[zone] = self._provider_for(zone)
            except WattwiseError as err:
                self._providers[zone] = f"no intensity for zone {zone}: {err}"
        provider = self._providers[zone]
        if isinstance(provider, str):
            return None, provider
        try:
            return job_co2e_g(energy, provider)
        except WattwiseError as err:
            return None, f"no intensity: {err}"
