"""Carbon of a job's energy, per zone, from the head's planning signal.

:class:`PlanningSignal` is what the head plans with, per zone: the ``serve --carbon``
trace replayed (every zone), else the zone's provider by
:func:`wattwise.grid.resolve_provider` (live or static; no zone label: the user's
configured grid). The same object gives the scheduler's forecast and the
:class:`CarbonAccountant`'s provider, so a job's CO₂e and its ``intensity_source``
label come from the signal it was planned on. Units: J in, gCO₂e out; intensity
gCO₂e/kWh; times UTC epoch seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from wattwise.carbon import provider_co2e
from wattwise.engine.node_meter import JobEnergy
from wattwise.errors import WattwiseError
from wattwise.grid.provider import IntensityProvider, resolve_provider
from wattwise.units import TimeSeries

#: A zone's intensity provider (``None``: the node has no zone label, so the user's
#: configured grid applies); the default is :func:`wattwise.grid.resolve_provider`.
ProviderFor = Callable[[str | None], IntensityProvider]
#: Intensity forecast for a zone over [start_s, end_s]. Units: gCO2e/kWh.
Forecast = Callable[[str | None, float, float], TimeSeries]


class PlanningSignal:
    """Per zone, the intensity the head plans with and accounts carbon by.

    ``provider_for(zone)``: the zone's provider (default :func:`resolve_provider`);
    ``forecast(zone, start_s, end_s)``: what planning sees (default: the provider's own
    series, e.g. a replayed trace or a static average); give one only where the forecast
    differs from the provider (the demo's walk-forward forecast).
    """

    def __init__(
        self, provider_for: ProviderFor | None = None, forecast: Forecast | None = None
    ) -> None:
        self._provider_for = provider_for or resolve_provider
        self._forecast = forecast
        self._providers: dict[str | None, IntensityProvider] = {}

    @classmethod
    def from_trace(cls, path: str | Path) -> PlanningSignal:
        """Every zone planned and accounted on the trace at ``path``, replayed by time of
        year (``serve --carbon FILE``); a bad file fails here, before the head starts."""
        provider = resolve_provider(carbon_file=path, replay=True)
        return cls(lambda _zone: provider)

    def provider(self, zone: str | None) -> IntensityProvider:
        """The zone's provider (cached; raises :class:`WattwiseError` when it has none)."""
        if zone not in self._providers:
            self._providers[zone] = self._provider_for(zone)
        return self._providers[zone]

    def forecast(self, zone: str | None, start_s: float, end_s: float) -> TimeSeries:
        """What the head plans with for ``zone`` over [start_s, end_s]."""
        if self._forecast is not None:
            return self._forecast(zone, start_s, end_s)
        return self.provider(zone).series(start_s, end_s)


def job_co2e_g(energy: JobEnergy, provider: IntensityProvider) -> tuple[float, str]:
    """Carbon of ``energy`` (Units: gCO₂e) and where the intensity came from."""
    carbon = provider_co2e(energy, provider)
    return carbon.co2e_g, carbon.intensity_source


class CarbonAccountant:
    """A job's carbon by its zone's provider in ``signal``; a zone it cannot resolve
    yields no carbon figure, with the reason."""

    def __init__(self, signal: PlanningSignal | None = None) -> None:
        self.signal = signal or PlanningSignal()
        self._failed: dict[str | None, str] = {}

    def co2e(self, energy: JobEnergy, zone: str | None) -> tuple[float | None, str]:
        if zone in self._failed:
            return None, self._failed[zone]
        try:
            provider = self.signal.provider(zone)
        except WattwiseError as err:
            self._failed[zone] = f"no intensity for zone {zone}: {err}"
            return None, self._failed[zone]
        try:
            return job_co2e_g(energy, provider)
        except WattwiseError as err:
            return None, f"no intensity: {err}"
