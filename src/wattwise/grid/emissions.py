"""Carbon intensity by location, observed and forecast, with the optimal windows.

The semantics of the Green Software Foundation's Carbon Aware SDK, answered from
wattwise's own providers (:func:`~wattwise.grid.provider.resolve_provider`) and
forecaster (:func:`~wattwise.grid.provider.forecast_series`); the HTTP shape lives
in :mod:`wattwise.api.routes.casdk`.

* :func:`location_provider`: a location is a grid zone (``DE``), a cloud region
  (``aws:eu-central-1``, or a bare region name such as ``eastus`` or ``westeurope``,
  as the SDK writes them) or a live spec (``electricitymaps:DE``). Unknown: one-line
  ConfigError naming close matches.
* :func:`observed`: the data points overlapping ``[start_s, end_s]`` (for an instant,
  the point covering it);
  :func:`optimal`: the points with the lowest value (all of them on a tie).
* :func:`forecast`: the forecast issued at ``requested_s``, scoped to
  ``[data_start_s, data_end_s]`` (which must lie inside it), as rolling averages of
  ``window_s`` stepped by the data's own step (at most an hour), and the optimal ones.

Units: epoch s, gCO₂e/kWh.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np

from wattwise.errors import ConfigError, CoverageError

if TYPE_CHECKING:
    from wattwise.grid.provider import IntensityProvider
    from wattwise.units import TimeSeries

HOUR_S = 3600.0
#: The longest forecast asked for: two weeks, as ``wattwise grid forecast``.
MAX_HORIZON_H = 24 * 14
DEFAULT_HORIZON_H = 24
#: The longest period ``observed`` answers: a year of hourly points. Units: s.
MAX_PERIOD_S = 366 * 86400.0
_REGION_PREFERENCE = ("azure", "aws", "gcp")  # the SDK's own default is Azure names


@dataclass(frozen=True)
class EmissionsPoint:
    """Intensity over ``[time_s, time_s + duration_s]``. Units: epoch s, s, gCO₂e/kWh."""

    location: str
    time_s: float
    duration_s: float
    value: float


@dataclass(frozen=True)
class Location:
    """A location as asked, the grid zone its numbers are for, and its provider."""

    name: str
    zone: str
    provider: IntensityProvider


@dataclass(frozen=True)
class Forecast:
    """A forecast scoped and windowed (see :func:`forecast`). Units: epoch s, s."""

    location: str
    generated_s: float
    requested_s: float
    data_start_s: float
    data_end_s: float
    window_s: float
    points: tuple[EmissionsPoint, ...]
    optimal: tuple[EmissionsPoint, ...]
    method: str
    source: str


def _when(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _names() -> list[str]:
    from wattwise.grid.regions import list_regions
    from wattwise.grid.static import list_zones

    return [z.zone for z in list_zones()] + [r.spec for r in list_regions()]


def close_locations(name: str, n: int = 3) -> list[str]:
    """Known locations whose names are closest to ``name`` (zones, ``cloud:region``)."""
    from wattwise.grid.regions import list_regions

    key = name.strip()
    by_region = {r.region: r.spec for r in list_regions()}
    candidates = _names()
    found = difflib.get_close_matches(key.upper(), [c.upper() for c in candidates], n, 0.6)
    upper = {c.upper(): c for c in candidates}
    out = [upper[f] for f in found]
    for region in difflib.get_close_matches(key.lower(), list(by_region), n, 0.6):
        if by_region[region] not in out:
            out.append(by_region[region])
    return out[:n]


def _bare_region(name: str) -> str | None:
    """The ``cloud:region`` spec of a bare region name (``eastus`` -> ``azure:eastus``)."""
    from wattwise.grid.regions import list_regions

    key = name.strip().lower()
    matches = {r.provider: r.spec for r in list_regions() if r.region == key}
    for cloud in _REGION_PREFERENCE:
        if cloud in matches:
            return matches[cloud]
    return None


def location_provider(name: str) -> Location:
    """The provider for a location (see the module docstring). Unknown: ConfigError."""
    from wattwise.grid.provider import resolve_provider
    from wattwise.grid.regions import grid_zone, is_cloud_spec
    from wattwise.grid.static import static_intensity

    text = name.strip()
    if not text:
        raise ConfigError("location is empty", hint="name a grid zone (DE) or a cloud region")
    spec = text
    if ":" not in text:
        try:
            static_intensity(text)
        except ConfigError:
            spec = _bare_region(text) or text
    try:
        provider = resolve_provider(zone=spec)
        zone = grid_zone(spec)
    except ConfigError as err:
        if ":" in text and not is_cloud_spec(text):
            raise  # a live spec's own error (unknown provider, no zone) says it best
        close = close_locations(text)
        guess = f"; did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(
            f"unknown location {text!r}{guess}",
            hint="a location is a grid zone such as DE (`wattwise grid zones`), a cloud "
            "region such as azure:eastus or aws:eu-central-1, or PROVIDER:ZONE",
        ) from err
    return Location(name=text, zone=zone, provider=provider)


def _points(series: TimeSeries, zone: str) -> list[EmissionsPoint]:
    step = series.step_s
    return [
        EmissionsPoint(zone, float(t), step, float(v))
        for t, v in zip(series.times_s, series.values, strict=True)
    ]


def observed(location: Location, start_s: float, end_s: float) -> list[EmissionsPoint]:
    """The points overlapping ``[start_s, end_s]`` (an instant: the point covering it)."""
    if not (math.isfinite(start_s) and math.isfinite(end_s)) or end_s < start_s:
        raise ConfigError(f"bad period {_when(start_s)} to {_when(end_s)}: end before start")
    if end_s - start_s > MAX_PERIOD_S:
        raise ConfigError(
            f"the period {_when(start_s)} to {_when(end_s)} is longer than "
            f"{MAX_PERIOD_S / 86400:.0f} days; ask for it a year at a time"
        )
    series = location.provider.series(start_s, max(end_s, start_s + 1.0))
    return [
        p
        for p in _points(series, location.zone)
        if p.time_s + p.duration_s > start_s and (p.time_s < end_s or p.time_s <= start_s)
    ]


def optimal(points: list[EmissionsPoint]) -> list[EmissionsPoint]:
    """The points with the lowest value, all of them on a tie, in their order."""
    if not points:
        return []
    best = min(p.value for p in points)
    return [p for p in points if p.value == best]


def _at_most_hourly(series: TimeSeries) -> TimeSeries:
    """The same step function on hourly steps where its own are longer (a constant
    provider answers one step for the whole horizon), so windows slide by the hour."""
    from wattwise.units import TimeSeries

    if series.step_s <= HOUR_S or len(series) == 0:
        return series
    n = max(1, math.floor((series.end_s - series.start_s) / HOUR_S + 1e-9))
    times = series.start_s + HOUR_S * np.arange(n, dtype=np.float64)
    return TimeSeries(times, series.at(times), series.unit, HOUR_S)


def rolling(
    series: TimeSeries, zone: str, window_s: float | None, start_s: float, end_s: float
) -> list[EmissionsPoint]:
    """Mean intensity of each ``window_s`` run starting at ``start_s`` and every data
    step after it, while the run ends by ``end_s`` inside the data. Without
    ``window_s``: the data points overlapping ``[start_s, end_s]``. Means are
    time-weighted (:meth:`TimeSeries.mean <wattwise.units.TimeSeries.mean>`)."""
    if window_s is None:
        return [
            p
            for p in _points(series, zone)
            if p.time_s + p.duration_s > start_s and p.time_s <= end_s
        ]
    if not (math.isfinite(window_s) and window_s > 0):
        raise ConfigError(f"windowSize must be > 0 minutes, not {window_s / 60:g}")
    first = max(start_s, series.start_s)
    last = min(end_s, series.end_s)
    out: list[EmissionsPoint] = []
    n = math.floor((last - window_s - first) / series.step_s + 1e-9)
    for k in range(n + 1):
        t = first + k * series.step_s
        out.append(EmissionsPoint(zone, t, window_s, series.mean(t, t + window_s)))
    return out


def forecast(
    location: Location,
    requested_s: float,
    *,
    data_start_s: float | None = None,
    data_end_s: float | None = None,
    window_s: float | None = None,
) -> Forecast:
    """The forecast issued at ``requested_s`` (see the module docstring).

    The horizon is a day, or up to two weeks when ``data_end_s`` asks for more.
    ``data_start_s`` / ``data_end_s`` default to the forecast's span and must lie in
    it (ConfigError otherwise, naming the span), but a start less than one step before
    the forecast's first point (a client's "now" when the forecaster starts at the next
    whole hour) is moved to that point; ``window_s`` defaults to one data step. A
    window longer than the scope gives no points.
    """
    from wattwise.grid.provider import forecast_series

    if window_s is not None and not (math.isfinite(window_s) and window_s > 0):
        raise ConfigError(f"windowSize must be > 0 minutes, not {window_s / 60:g}")
    if data_start_s is not None and data_end_s is not None and data_start_s >= data_end_s:
        raise ConfigError(
            f"dataStartAt must be before dataEndAt ({_when(data_start_s)} is not before "
            f"{_when(data_end_s)})"
        )
    horizon_h = DEFAULT_HORIZON_H
    if data_end_s is not None and data_end_s > requested_s:
        horizon_h = max(horizon_h, math.ceil((data_end_s - requested_s) / HOUR_S) + 1)
    if horizon_h > MAX_HORIZON_H:
        raise ConfigError(
            f"dataEndAt {_when(data_end_s or 0.0)} lies beyond the {MAX_HORIZON_H} h horizon "
            f"of a forecast issued {_when(requested_s)}"
        )
    series, method = forecast_series(location.provider, requested_s, horizon_h)
    series = _at_most_hourly(series)
    if len(series) == 0 or not np.all(np.isfinite(series.values)):
        raise CoverageError(
            f"no forecast for {location.name} issued {_when(requested_s)}",
            hint="the forecaster needs more history before that time",
        )
    lo, hi = series.start_s, series.end_s
    start = lo if data_start_s is None else data_start_s
    if lo - series.step_s <= start < lo:
        # "From now": the forecast's first step begins at most one step later (the
        # forecaster's next whole hour); the scope starts there, and says so.
        start = lo
    end = hi if data_end_s is None else data_end_s
    for label, t in (("dataStartAt", start), ("dataEndAt", end)):
        if not lo <= t <= hi:
            raise ConfigError(
                f"{label} {_when(t)} is outside the forecast, which covers "
                f"{_when(lo)} to {_when(hi)}"
            )
    if start >= end:
        raise ConfigError(f"dataStartAt {_when(start)} must be before dataEndAt {_when(end)}")
    points = rolling(series, location.zone, window_s, start, end)
    return Forecast(
        location=location.name,
        generated_s=requested_s,
        requested_s=requested_s,
        data_start_s=start,
        data_end_s=end,
        window_s=window_s if window_s is not None else series.step_s,
        points=tuple(points),
        optimal=tuple(optimal(points)),
        method=method,
        source=location.provider.describe(),
    )
