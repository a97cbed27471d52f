"""A live provider that never leaves the user without a number, and says which one.

:class:`LiveProvider` asks its client; on success it caches the points. When the
client fails (bad token, unknown zone, outage) or its answer does not cover the
period, it answers from the cache if the cache covers the period, otherwise from
the zone's static annual average, and ``describe()`` says what happened and why.
With ``use_static=False`` (a link of a provider chain, :mod:`wattwise.grid.chain`)
it raises :class:`~wattwise.errors.ProviderError` instead of answering with the static
average, so the chain's next provider answers.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import numpy as np

from wattwise.errors import ConfigError, CoverageError, ProviderError
from wattwise.grid.live.clients import LiveClient, Points
from wattwise.grid.live.http import load_points, save_points
from wattwise.grid.static import WORLD, StaticIntensity, static_intensity
from wattwise.grid.trace import INTENSITY_UNIT
from wattwise.units import TimeSeries

# Providers publish with a lag (Electricity Maps: about an hour); hold the latest
# point this long past its step before calling the period uncovered.
MAX_HOLD_S = 2 * 3600.0


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _series(points: Points, start_s: float, end_s: float, what: str) -> tuple[TimeSeries, str]:
    """Points over [start_s, end_s], and a note if the latest value had to be held."""
    times, values = points
    step = float(np.median(np.diff(times))) if times.size > 1 else 3600.0
    last_end = float(times[-1]) + step
    if times[0] > start_s or last_end + MAX_HOLD_S < end_s:
        raise CoverageError(
            f"{what} covers {_when(times[0])} to {_when(last_end)}, "
            f"not {_when(start_s)} to {_when(end_s)}"
        )
    inside = TimeSeries(times, values, INTENSITY_UNIT, step).between(start_s, end_s)
    t, v = inside.times_s, inside.values
    note = ""
    if last_end < end_s:
        # Publication lag: carry the latest value on the same grid, and say so.
        extra = np.arange(last_end, end_s, step)
        t = np.concatenate([t, extra])
        v = np.concatenate([v, np.full(extra.size, values[-1])])
        note = f" (latest value held for the last {(end_s - last_end) / 60:.0f} min)"
    return TimeSeries(times_s=t, values=v, unit=INTENSITY_UNIT, step_s=step), note


def static_fallback(zone: str, default: str = WORLD) -> StaticIntensity:
    """The static row for a zone, its country (``SE-SE3`` -> ``SE``), or ``default``."""
    for candidate in (zone, zone.split("-")[0], default):
        try:
            return static_intensity(candidate)
        except ConfigError:  # unknown zone: try the next candidate
            continue
    return static_intensity(WORLD)


class LiveProvider:
    """IntensityProvider over a live client, with cache and static fallback."""

    def __init__(
        self,
        client: LiveClient,
        fallback_zone: str | None = None,
        *,
        use_static: bool = True,
    ) -> None:
        self.client = client
        self.fallback_zone = fallback_zone
        self.fallback = static_fallback(fallback_zone or client.zone)
        self.use_static = use_static
        self.status = "not asked yet"

    def without_static(self) -> LiveProvider:
        """The same client, raising ProviderError where this one would use the static average."""
        return LiveProvider(self.client, self.fallback_zone, use_static=False)

    def _no_data(self, reason: str) -> ProviderError:
        self.status = f"{reason}; no cached data covers the period"
        return ProviderError(self.status)

    def _label(self) -> str:
        return f"live {self.client.name} {self.client.zone} ({self.client.signal})"

    def describe(self) -> str:
        return f"{self._label()}: {self.status}"

    def _fallback_note(self, err: Exception) -> str:
        return f"{self.client.name} failed: {err}"

    def series(self, start_s: float, end_s: float) -> TimeSeries:
        try:
            points = self.client.fetch(start_s, end_s)
            save_points(self.client.key, self.client.zone, *points)
            series, note = _series(points, start_s, end_s, f"{self.client.name} answer")
            self.status = "live data" + note
            return series
        except (ProviderError, CoverageError) as err:
            reason = str(err)
        cached = load_points(self.client.key, self.client.zone)
        if cached is not None:
            try:
                series, note = _series((cached.times_s, cached.values), start_s, end_s, "cache")
            except CoverageError:
                pass
            else:
                fetched = _when(cached.fetched_at_s)
                self.status = f"{reason}; used cached data fetched {fetched}{note}"
                return series
        if not self.use_static:
            raise self._no_data(reason)
        self.status = (
            f"{reason}; used the static annual average of {self.fallback.zone} "
            f"({self.fallback.g_per_kwh:g} gCO2e/kWh, {self.fallback.year})"
        )
        return TimeSeries(
            times_s=np.array([start_s]),
            values=np.array([self.fallback.g_per_kwh]),
            unit=INTENSITY_UNIT,
            step_s=max(end_s - start_s, 1.0),
        )

    def now(self) -> tuple[float, float]:
        """(time, intensity) now: live, else the newest cached point, else static."""
        try:
            t, value = self.client.latest()
            save_points(self.client.key, self.client.zone, np.array([t]), np.array([value]))
            self.status = "live data"
            return t, value
        except ProviderError as err:
            reason = str(err)
        cached = load_points(self.client.key, self.client.zone)
        if cached is not None:
            self.status = (
                f"{reason}; used the newest cached value, for {_when(float(cached.times_s[-1]))}"
            )
            return float(cached.times_s[-1]), float(cached.values[-1])
        if not self.use_static:
            raise self._no_data(reason)
        self.status = (
            f"{reason}; used the static annual average of {self.fallback.zone} "
            f"({self.fallback.g_per_kwh:g} gCO2e/kWh, {self.fallback.year})"
        )
        return time.time(), self.fallback.g_per_kwh
