"""Carbon of a job's energy, per zone: the one timeline sum of :mod:`wattwise.carbon`
with the zone's provider (:func:`wattwise.grid.resolve_provider`).

Units: J in, gCO₂e out; intensity gCO₂e/kWh; times UTC epoch seconds.
"""

from __future__ import annotations

from collections.abc import Callable

from wattwise.carbon import provider_co2e
from wattwise.engine.node_meter import JobEnergy
from wattwise.errors import WattwiseError
from wattwise.grid.provider import IntensityProvider, resolve_provider

#: A zone's intensity provider (``None``: the node has no zone label, so the user's
#: configured grid applies); the default is :func:`wattwise.grid.resolve_provider`.
ProviderFor = Callable[[str | None], IntensityProvider]


def job_co2e_g(energy: JobEnergy, provider: IntensityProvider) -> tuple[float, str]:
    """Carbon of ``energy`` (Units: gCO₂e) and where the intensity came from."""
    carbon = provider_co2e(energy, provider)
    return carbon.co2e_g, carbon.intensity_source


class CarbonAccountant:
    """Caches one provider per zone; a zone it cannot resolve yields no carbon figure."""

    def __init__(self, provider_for: ProviderFor | None = None) -> None:
        self._provider_for = provider_for or resolve_provider
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
