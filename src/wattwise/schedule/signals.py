"""Grid signals aligned to the simulation clock: true intensity (for accounting),
walk-forward forecasts (what policies see) and on-site PV per node group.

Hour 0 of the job trace is the first hour of the carbon trace. A period the data
does not cover raises :class:`CoverageError`, unless ``wrap=True`` repeats the data
(acceptable for a one-year job trace on a one-year carbon trace; say so in reports).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np

from wattwise.errors import CoverageError, DataFormatError
from wattwise.schedule.model import Cluster, FloatArray
from wattwise.units import SECONDS_PER_HOUR, TimeSeries

Forecaster = Callable[[FloatArray, int], FloatArray]


@dataclass
class Signals:
    """Per node group (index = cluster order), hourly.

    ``intensity[g, h]``: true gCO2e/kWh in hour h. ``forecast[g, h, k]``: forecast of
    hour h+k issued at the start of hour h (uses data before h only). ``pv_w[g, h]``:
    true mean on-site PV power in hour h (W); ``pv_forecast_w[g, h, k]`` likewise.
    ``origin_s``: UTC epoch seconds of hour 0. ``wrapped``: data was repeated.
    """

    origin_s: float
    intensity: FloatArray
    forecast: FloatArray
    pv_w: FloatArray
    pv_forecast_w: FloatArray
    wrapped: bool = False
    zones: tuple[str, ...] = ()

    @property
    def n_hours(self) -> int:
        return int(self.intensity.shape[1])

    @property
    def horizon_h(self) -> int:
        return int(self.forecast.shape[2])

    @property
    def has_solar(self) -> bool:
        return bool(np.any(self.pv_w > 0))

    def issued_series(
        self, group: int, hour: int, origin_s: float, hour_s: float = SECONDS_PER_HOUR
    ) -> TimeSeries:
        """The intensity forecast for ``group`` issued at ``hour`` (clamped to the
        signal) as a time series, hour ``h`` starting at ``origin_s + h * hour_s``: what
        a head replaying this signal plans with. Units: gCO2e/kWh; epoch s."""
        h = min(max(int(hour), 0), self.n_hours - 1)
        row = np.asarray(self.forecast[group, min(h, self.forecast.shape[1] - 1), :], np.float64)
        times = origin_s + (h + np.arange(len(row), dtype=np.float64)) * hour_s
        return TimeSeries(times, row, "gCO2e/kWh", hour_s)


def hourly_means(series: TimeSeries, what: str) -> TimeSeries:
    """Finer data (a step that divides an hour) as the mean of each whole hour it
    covers (:meth:`TimeSeries.mean`); partial hours at either end are left out."""
    step = series.step_s
    if step >= SECONDS_PER_HOUR or SECONDS_PER_HOUR % step > 1e-9:
        raise DataFormatError(
            what,
            f"signal step is {step:g} s; the scheduler needs hourly data or a step"
            " that divides an hour",
        )
    first = float(np.ceil(series.start_s / SECONDS_PER_HOUR) * SECONDS_PER_HOUR)
    last = float(np.floor(series.end_s / SECONDS_PER_HOUR) * SECONDS_PER_HOUR)
    if last <= first:
        raise DataFormatError(what, "signal covers no whole hour")
    starts = np.arange(first, last, SECONDS_PER_HOUR)
    means = np.asarray(series.mean(starts, starts + SECONDS_PER_HOUR), dtype=np.float64)
    return TimeSeries(starts, means, series.unit, SECONDS_PER_HOUR)


def _hourly(series: TimeSeries, what: str) -> FloatArray:
    if len(series) == 0:
        raise DataFormatError(what, "signal has no samples")
    if abs(series.step_s - SECONDS_PER_HOUR) > 1e-6:
        raise DataFormatError(
            what, f"signal step is {series.step_s:g} s; the scheduler needs hourly data"
        )
    values = np.asarray(series.values, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise DataFormatError(what, "signal has missing or non-finite values")
    return values


def _extend(values: FloatArray, n_hours: int, wrap: bool, what: str, why: str) -> FloatArray:
    if len(values) >= n_hours:
        return values[:n_hours]
    if not wrap:
        raise CoverageError(
            f"{what} covers {len(values)} h but the simulation needs {n_hours} h ({why})",
            hint="give a longer trace, a shorter job trace, or --wrap to repeat the data",
        )
    reps = int(np.ceil(n_hours / len(values)))
    return np.tile(values, reps)[:n_hours]


def build_signals(
    cluster: Cluster,
    intensity_by_zone: Mapping[str, TimeSeries],
    needed_h: int,
    horizon_h: int,
    forecaster: Forecaster,
    pv_by_group: Mapping[str, TimeSeries] | None = None,
    wrap: bool = False,
    accounting_margin_h: int = 0,
    history_by_zone: Mapping[str, FloatArray] | None = None,
) -> Signals:
    """Align signals for ``cluster`` over hours ``[0, needed_h)``.

    ``intensity_by_zone`` maps a zone id to hourly gCO2e/kWh; a group whose ``zone`` is
    None uses the first zone. ``forecaster(values, horizon)`` returns walk-forward
    forecasts (``wattwise.grid.walk_forward_forecasts``). ``accounting_margin_h`` extra
    hours are kept for jobs that queue past their deadline (wrapped or padded with the
    last day when not covered, since they are outside what the user asked to cover).
    ``history_by_zone``: hourly intensity just before hour 0, per zone, which the
    forecaster sees as the past (a scheduler deployed on a grid has its history);
    without it, forecasts start cold at hour 0.
    """
    if not intensity_by_zone:
        raise CoverageError("no carbon-intensity signal given")
    zones = list(intensity_by_zone)
    first = intensity_by_zone[zones[0]]
    n_total = needed_h + horizon_h + accounting_margin_h
    per_zone: dict[str, tuple[FloatArray, FloatArray]] = {}
    group_zones: list[str] = []
    for g in cluster.groups:
        zone = g.zone if g.zone is not None else zones[0]
        if zone not in intensity_by_zone:
            raise CoverageError(
                f"node group {g.name!r} is in zone {zone!r} but no carbon file covers it",
                hint=f"zones given: {zones}",
            )
        group_zones.append(zone)
        if zone in per_zone:
            continue
        raw = _hourly(intensity_by_zone[zone], f"carbon signal {zone}")
        covered = _extend(raw, needed_h, wrap, f"carbon signal {zone}", "last job deadline")
        # Forecast inputs past the needed period only feed look-ahead rows near the end.
        padded = _pad(raw, covered, n_total, wrap)
        past = np.asarray((history_by_zone or {}).get(zone, np.zeros(0)), dtype=np.float64)
        series = np.concatenate([past, padded[: needed_h + horizon_h]])
        fc = np.asarray(forecaster(series, horizon_h), dtype=np.float64)[len(past) :]
        if fc.shape[0] < needed_h or fc.shape[1] != horizon_h:
            raise CoverageError(f"forecaster returned shape {fc.shape} for zone {zone}")
        per_zone[zone] = (padded, fc[:needed_h])
    n_groups = len(cluster.groups)
    intensity = np.stack([per_zone[z][0] for z in group_zones])
    forecast = np.stack([per_zone[z][1] for z in group_zones])
    pv = np.zeros((n_groups, n_total))
    pv_fc = np.zeros((n_groups, needed_h, horizon_h))
    for i, g in enumerate(cluster.groups):
        if g.solar_peak_w <= 0:
            continue
        if pv_by_group is None or g.name not in pv_by_group:
            raise CoverageError(f"node group {g.name!r} has solar but no PV profile was given")
        raw = _hourly(pv_by_group[g.name], f"PV profile {g.name}")
        covered = _extend(raw, needed_h, wrap, f"PV profile {g.name}", "last job deadline")
        pv[i] = _pad(raw, covered, n_total, wrap)
        pv_fc[i] = np.clip(forecaster(pv[i][: needed_h + horizon_h], horizon_h)[:needed_h], 0, None)
    return Signals(
        origin_s=float(first.times_s[0]),
        intensity=intensity,
        forecast=forecast,
        pv_w=pv,
        pv_forecast_w=pv_fc,
        wrapped=wrap and any(len(s) < needed_h for s in intensity_by_zone.values()),
        zones=tuple(group_zones),
    )


def perfect_foresight(signals: Signals) -> Signals:
    """The same signals with every forecast replaced by what really happened.

    Not something a scheduler can have: benchmarks use it to split a policy's gap to
    the offline bound into what forecast error costs and what the policy itself loses.
    """
    n_issue, horizon = signals.forecast.shape[1], signals.forecast.shape[2]
    idx = np.arange(n_issue)[:, None] + np.arange(horizon)[None, :]
    idx = np.minimum(idx, signals.intensity.shape[1] - 1)
    return replace(
        signals,
        forecast=signals.intensity[:, idx],
        pv_forecast_w=signals.pv_w[:, np.minimum(idx, signals.pv_w.shape[1] - 1)],
    )


def _pad(raw: FloatArray, covered: FloatArray, n: int, wrap: bool) -> FloatArray:
    if len(raw) >= n:
        return raw[:n]
    if len(covered) >= n:
        return covered[:n]
    if wrap:
        return np.tile(raw, int(np.ceil(n / len(raw))))[:n]
    # Repeat the last day: only reached past the user's period (look-ahead, overruns).
    tail = covered[-24:] if len(covered) >= 24 else covered
    reps = int(np.ceil((n - len(covered)) / len(tail)))
    return np.concatenate([covered, np.tile(tail, reps)])[:n]
