"""Walk-forward carbon-intensity forecasts from the past of a series alone.

Used where a provider gives no forecast (trace files, static zones) and by the
scheduling simulator, which needs the forecast a scheduler *would have had* at every
hour of a year. A forecast issued at the start of hour ``i`` sees ``values[:i]`` only.

The model, per lead time ``h`` (1..horizon), is a ridge regression of the target on
six lagged summaries of the past:

* the same hour on the most recent day (seasonal-naive),
* the same hour of the week on the most recent week,
* the latest value (persistence),
* the mean of the last 24 h (recent level),
* the mean of the same hour over the last 7 days (daily profile),
* the mean of the last week (slow level),

plus an intercept. It is refit every day on the last 8 weeks of issue times whose
targets are already known, with errors weighted by 1/actual so it minimises a
relative (MAPE-like) error. Its output is then blended with seasonal-naive, per lead,
with the weight (0, 1/4, ... 1) whose forecasts had the lowest absolute percentage
error over the last 4 weeks of issues already scored: least squares is not MAPE, and
where the regression's gain is thin (a flat grid, lead 24 h) the blend falls back
toward seasonal-naive. Refits use running Gram sums and the blend running error
sums, so a full year (8,760 h) at a 48 h horizon takes well under a second. Before
two weeks of history it is seasonal-naive (persistence within the first day).
``bench/grid.py`` measures it against seasonal-naive and persistence on the six
shared grids.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from wattwise.errors import ConfigError
from wattwise.units import SECONDS_PER_HOUR, TimeSeries

FloatArray = npt.NDArray[np.float64]

DAY_H = 24
WEEK_H = 168
_REFIT_H = 24  # refit cadence; daily refits measured better than weekly on all six grids
_WINDOW_H = 56 * DAY_H  # training window: issue times of the last 8 weeks
_WARMUP_H = 15 * DAY_H  # before this much history, use seasonal-naive
_RIDGE = 1e-5  # ridge penalty on the scaled weights; keeps early, collinear fits stable
_MIN_ROWS = 48
_BLEND_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)  # model share; 0 = seasonal-naive
_BLEND_WINDOW_H = 28 * DAY_H  # errors of the last 4 weeks choose the blend


def _check(values: npt.ArrayLike, horizon: int) -> FloatArray:
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1:
        raise ConfigError(f"values must be one-dimensional, got shape {v.shape}")
    if not isinstance(horizon, int | np.integer) or horizon < 1:
        raise ConfigError(f"horizon must be a positive whole number of hours, not {horizon!r}")
    if v.size and not np.all(np.isfinite(v)):
        raise ConfigError("values contain NaN or infinity; fill gaps before forecasting")
    return v


def _targets(n: int, horizon: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Issue index i (n,1) and target index t = i + h - 1 (n, horizon)."""
    i = np.arange(n, dtype=np.int64)[:, None]
    h = np.arange(1, horizon + 1, dtype=np.int64)[None, :]
    return i, i + h - 1


def seasonal_naive_forecasts(values: npt.ArrayLike, horizon: int) -> FloatArray:
    """Same hour on the most recent day known at issue time. Shape (n, horizon).

    Row ``i`` predicts ``values[i + h - 1]`` with ``values[i + h - 1 - 24k]``, the
    smallest ``k`` that lands in the past. Rows with less than a day of history use
    persistence; row 0 (no past at all) is NaN.
    """
    v = _check(values, horizon)
    n = v.size
    i, t = _targets(n, horizon)
    lead = t - i + 1
    src = t - DAY_H * ((lead + DAY_H - 1) // DAY_H)
    out = np.where(src >= 0, v[np.clip(src, 0, max(n - 1, 0))] if n else 0.0, np.nan)
    early = (src < 0) & (i >= 1)
    if n:
        out = np.where(early, v[np.clip(i - 1, 0, n - 1)], out)
    return np.asarray(out, dtype=np.float64)


def persistence_forecasts(values: npt.ArrayLike, horizon: int) -> FloatArray:
    """The latest known value for every lead. Shape (n, horizon); row 0 is NaN."""
    v = _check(values, horizon)
    n = v.size
    out = np.full((n, horizon), np.nan)
    if n > 1:
        out[1:] = v[:-1, None]
    return out


def _features(v: FloatArray, horizon: int) -> FloatArray:
    """Lagged summaries per (issue i, lead h); the last is the intercept. Shape (n, horizon, 7)."""
    n = v.size
    i, t = _targets(n, horizon)
    lead = t - i + 1

    def at(idx: npt.NDArray[np.int64]) -> FloatArray:
        return np.asarray(v[np.clip(idx, 0, n - 1)], dtype=np.float64)

    day = t - DAY_H * ((lead + DAY_H - 1) // DAY_H)
    week = t - WEEK_H * ((lead + WEEK_H - 1) // WEEK_H)
    csum = np.concatenate([[0.0], np.cumsum(v)])
    hi = i[:, 0]
    lo = np.clip(hi - DAY_H, 0, n)
    mean24 = (csum[hi] - csum[lo]) / np.maximum(hi - lo, 1)
    lo = np.clip(hi - WEEK_H, 0, n)
    mean168 = (csum[hi] - csum[lo]) / np.maximum(hi - lo, 1)
    profile = np.zeros((n, horizon))
    for k in range(7):
        profile += at(day - DAY_H * k)
    profile /= 7.0
    feats = np.empty((n, horizon, 7))
    feats[..., 0] = at(day)
    feats[..., 1] = at(week)
    feats[..., 2] = at(i - 1)
    feats[..., 3] = mean24[:, None]
    feats[..., 4] = profile
    feats[..., 5] = mean168[:, None]
    feats[..., 6] = 1.0
    return feats


def walk_forward_forecasts(values: npt.ArrayLike, horizon: int) -> FloatArray:
    """Forecasts issued at every hour from the past alone. Shape (len(values), horizon).

    Row ``i`` forecasts ``values[i:i + horizon]`` using only ``values[:i]``; entry
    ``[i, h - 1]`` is the forecast for hour ``i + h - 1`` (lead ``h``). Targets past the
    end of ``values`` are still forecast. Row 0 has no past and is NaN. ``values`` must
    be hourly and gap-free. Units: those of ``values``.
    """
    v = _check(values, horizon)
    n = v.size
    out = seasonal_naive_forecasts(v, horizon)
    if n <= _WARMUP_H:
        return out
    feats = _features(v, horizon)
    _, t = _targets(n, horizon)
    known = t < n
    actual = np.where(known, v[np.clip(t, 0, n - 1)], 0.0)
    # Work in units of the series' early mean so the penalty means the same on Norway
    # (~40 g/kWh) and India (~750 g/kWh).
    scale = float(np.mean(v[:_WARMUP_H])) or 1.0
    # Weight scale/actual: least squares on relative error, closer to what MAPE scores.
    weight = np.where(known, scale / np.maximum(actual, 1e-3 * scale), 0.0)
    k = feats.shape[-1]
    penalty = _RIDGE * np.eye(k)
    penalty[-1, -1] = 0.0  # the intercept is not shrunk
    for h in range(horizon):
        x = feats[:, h, :] / scale
        y = actual[:, h] / scale
        w = weight[:, h]
        # Running sums of w·x·xᵀ and w·x·y over issue times: a window's Gram in O(1).
        outer = w[:, None, None] * x[:, :, None] * x[:, None, :]
        gram = np.concatenate([np.zeros((1, k, k)), np.cumsum(outer, axis=0)])
        rhs = np.concatenate([np.zeros((1, k)), np.cumsum((w * y)[:, None] * x, axis=0)])
        for s in range(_WARMUP_H, n, _REFIT_H):
            j_hi = s - h  # issue times j < j_hi have targets j + h < s: known at s
            j_lo = max(WEEK_H, j_hi - _WINDOW_H)
            if j_hi - j_lo < _MIN_ROWS:
                continue
            rows = j_hi - j_lo
            a = (gram[j_hi] - gram[j_lo]) / rows
            b = (rhs[j_hi] - rhs[j_lo]) / rows
            beta = np.linalg.solve(a + penalty, b)
            e = min(n, s + _REFIT_H)
            out[s:e, h] = x[s:e] @ beta * scale
    return _blend_with_naive(v, out, seasonal_naive_forecasts(v, horizon))


def _blend_with_naive(v: FloatArray, model: FloatArray, naive: FloatArray) -> FloatArray:
    """Per issue and lead, mix the model with seasonal-naive by their recent past errors.

    For each candidate weight w in ``_BLEND_WEIGHTS`` the forecast ``w·model +
    (1-w)·naive`` is scored by its summed absolute percentage error over the last
    ``_BLEND_WINDOW_H`` issues whose targets are already known; the best w is used.
    Ties go to seasonal-naive. Known-at-issue only: for lead h (0-based) at issue i
    the scored issues j satisfy j + h < i.
    """
    n, horizon = model.shape
    i = np.arange(n, dtype=np.int64)[:, None]
    h = np.arange(horizon, dtype=np.int64)[None, :]
    t = i + h
    actual = np.where(t < n, v[np.clip(t, 0, n - 1)], np.nan)
    weights = np.asarray(_BLEND_WEIGHTS)
    blends = weights[:, None, None] * model[None] + (1.0 - weights[:, None, None]) * naive[None]
    with np.errstate(invalid="ignore", divide="ignore"):
        err = np.abs(blends - actual[None]) / actual[None]
    err = np.where(np.isfinite(err), err, 0.0)
    csum = np.concatenate([np.zeros((weights.size, 1, horizon)), np.cumsum(err, axis=1)], axis=1)
    hi = np.clip(i - h, 0, n)  # issues j < i - h have known targets at issue i
    lo = np.clip(hi - _BLEND_WINDOW_H, 0, n)
    shape = (weights.size, n, horizon)
    score = np.take_along_axis(csum, np.broadcast_to(hi, shape), axis=1) - np.take_along_axis(
        csum, np.broadcast_to(lo, shape), axis=1
    )
    best = weights[np.argmin(score, axis=0)]
    mixed = best * model + (1.0 - best) * naive
    # Until a week of scored issues exists, keep the model (seasonal-naive in warm-up).
    return np.asarray(np.where(hi - lo >= WEEK_H, mixed, model), dtype=np.float64)


def mape_percent(forecasts: npt.ArrayLike, values: npt.ArrayLike, *, first_issue: int = 0) -> float:
    """Mean absolute percentage error over every (issue, lead) whose target is known.

    ``forecasts`` has shape (n, horizon) as returned above; issue rows before
    ``first_issue`` and NaN forecasts are skipped. Units: %.
    """
    f = np.asarray(forecasts, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    n, horizon = f.shape
    i, t = _targets(n, horizon)
    ok = (t < v.size) & (i >= first_issue) & np.isfinite(f)
    actual = v[np.clip(t, 0, v.size - 1)]
    ok &= actual > 0
    if not ok.any():
        raise ConfigError("no forecast with a known, positive target to score")
    return float(100.0 * np.mean(np.abs(f[ok] - actual[ok]) / actual[ok]))


@dataclass(frozen=True)
class ForecastScore:
    """A forecast set against what a trace recorded for the hours it knows.

    ``actual``: the recorded values of those hours (at the forecast's times);
    ``mape_percent``: the forecast's mean absolute percentage error over them;
    ``seasonal_naive_mape_percent``: that of seasonal-naive issued at the same hour,
    the baseline to beat. Units: gCO₂e/kWh, %.
    """

    actual: TimeSeries
    mape_percent: float
    seasonal_naive_mape_percent: float


def score_forecast(trace: TimeSeries, forecast: TimeSeries) -> ForecastScore | None:
    """Score an hourly ``forecast`` issued inside ``trace`` against the trace's own
    values (seasonal-naive from the same past as the baseline); None where the trace
    records none of the forecast hours."""
    horizon = len(forecast)
    i = round((forecast.start_s - trace.start_s) / SECONDS_PER_HOUR)
    known = min(horizon, len(trace) - i)
    if i < 0 or known <= 0:
        return None
    truth = np.asarray(trace.values[i : i + known], dtype=np.float64)
    naive = seasonal_naive_forecasts(trace.values[: i + 1], horizon)[i]
    predicted = np.asarray(forecast.values, dtype=np.float64)
    return ForecastScore(
        actual=TimeSeries(forecast.times_s[:known], truth, trace.unit, SECONDS_PER_HOUR),
        mape_percent=mape_percent(predicted[None, :known], truth, first_issue=0),
        seasonal_naive_mape_percent=mape_percent(naive[None, :known], truth, first_issue=0),
    )
