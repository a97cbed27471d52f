"""The cleanest time to run a job, in time linear in the horizon.

* :func:`best_window`: a job that must run without a break for ``duration_s``,
  anywhere between ``earliest_s`` and ``deadline_s``: the start that minimises its
  mean intensity. Intensity is a step function, so the job's carbon as a function
  of its start is piecewise linear and its minimum lies where the start or the end
  meets a step boundary (or at ``earliest_s`` / ``deadline_s - duration_s``). All
  those candidates are scored at once with :meth:`TimeSeries.integral
  <wattwise.units.TimeSeries.integral>` (prefix sums and a sorted search:
  O(n log n)), exact for any duration, step or unaligned times.
* :func:`cleanest_slots`: an interruptible job, which may run in any whole steps
  inside the window: the cheapest steps, found by selection (``np.argpartition``,
  O(n)). A duration that is not a whole number of steps runs the cheapest part of
  the last chosen step.

Ties go to the earliest start.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from wattwise.errors import ConfigError, CoverageError, ScheduleError
from wattwise.units import TimeSeries, iso_utc

FloatArray = npt.NDArray[np.float64]
_TIE_RTOL = 1e-12


@dataclass(frozen=True)
class Window:
    """A contiguous run. Units: epoch s, gCO₂e/kWh (time-weighted mean)."""

    start_s: float
    end_s: float
    mean_intensity: float


@dataclass(frozen=True)
class SlotPlan:
    """An interruptible job's run periods, merged where adjacent.

    ``periods`` are ``(start_s, end_s)`` pairs in time order; their lengths add up to
    the job's duration. Units: epoch s, gCO₂e/kWh.
    """

    periods: tuple[tuple[float, float], ...]
    mean_intensity: float

    @property
    def start_s(self) -> float:
        return self.periods[0][0]

    @property
    def end_s(self) -> float:
        return self.periods[-1][1]


def _bounds(
    series: TimeSeries, duration_s: float, earliest_s: float | None, deadline_s: float | None
) -> tuple[float, float]:
    if len(series) == 0:
        raise CoverageError("the carbon series is empty")
    if not (math.isfinite(duration_s) and duration_s > 0):
        raise ConfigError(f"duration must be > 0 s, not {duration_s}")
    earliest = series.start_s if earliest_s is None else float(earliest_s)
    deadline = series.end_s if deadline_s is None else float(deadline_s)
    if not (math.isfinite(earliest) and math.isfinite(deadline)):
        raise ConfigError("earliest and deadline must be finite times")
    if earliest < series.start_s or deadline > series.end_s:
        raise CoverageError(
            f"the carbon series does not cover the window {iso_utc(earliest)} to"
            f" {iso_utc(deadline)} (it covers {iso_utc(series.start_s)} to"
            f" {iso_utc(series.end_s)})",
            hint="use a longer trace or a later earliest / earlier deadline",
        )
    if deadline - earliest < duration_s * (1 - 1e-12):
        raise ScheduleError(
            f"a {duration_s / 3600:g} h job does not fit between earliest and deadline "
            f"({(deadline - earliest) / 3600:g} h)"
        )
    return earliest, deadline


def best_window(
    series: TimeSeries,
    duration_s: float,
    earliest_s: float | None = None,
    deadline_s: float | None = None,
) -> Window:
    """Start minimising mean intensity for a contiguous ``duration_s`` run. O(n log n).

    The run lies in ``[earliest_s, deadline_s]`` (default: the series' span); the
    series' steps may be irregular.
    Raises CoverageError if the series does not cover the window and ScheduleError
    if the job does not fit.
    """
    earliest, deadline = _bounds(series, duration_s, earliest_s, deadline_s)
    last_start = max(earliest, deadline - duration_s)
    # Candidate starts: the two ends, every boundary, every boundary minus the duration.
    boundaries = np.append(np.asarray(series.times_s, dtype=np.float64), series.end_s)
    cand = np.concatenate([[earliest, last_start], boundaries, boundaries - duration_s])
    cand = cand[(cand >= earliest) & (cand <= last_start)]
    ends = np.minimum(cand + duration_s, series.end_s)
    integral = series.integral(cand, ends)
    best = float(integral.min())
    tied = integral <= best + _TIE_RTOL * max(abs(best), 1.0)
    start = float(cand[tied].min())
    return Window(start_s=start, end_s=start + duration_s, mean_intensity=best / duration_s)


def window_mean(series: TimeSeries, start_s: float, duration_s: float) -> float:
    """Mean intensity of a run over ``[start_s, start_s + duration_s]``. Units: gCO₂e/kWh."""
    _bounds(series, duration_s, start_s, start_s + duration_s)
    return series.mean(start_s, start_s + duration_s)


def cleanest_slots(
    series: TimeSeries,
    duration_s: float,
    earliest_s: float | None = None,
    deadline_s: float | None = None,
) -> SlotPlan:
    """Cheapest whole steps inside ``[earliest_s, deadline_s]`` for an interruptible job.

    Only steps lying wholly inside the window are used. O(n) selection.
    """
    earliest, deadline = _bounds(series, duration_s, earliest_s, deadline_s)
    step, t0 = series.step_s, series.start_s
    first = math.ceil((earliest - t0) / step - 1e-9)
    stop = math.floor((deadline - t0) / step + 1e-9)
    need = duration_s / step
    whole = math.floor(need + 1e-9)
    part = need - whole if need - whole > 1e-9 else 0.0
    count = whole + (1 if part else 0)
    if stop - first < count:
        raise ScheduleError(
            f"a {duration_s / 3600:g} h job needs {count} whole {step / 60:g}-minute steps; "
            f"only {max(stop - first, 0)} lie between earliest and deadline"
        )
    window = np.asarray(series.values[first:stop], dtype=np.float64)
    if count == window.size:
        chosen = np.arange(window.size)
    else:
        chosen = np.argpartition(window, count - 1)[:count]
    # The partly used step is the dearest chosen one; run its first `part` of a step.
    dearest = int(chosen[np.argmax(window[chosen])]) if part else -1
    chosen = np.sort(chosen)
    weights = np.where(chosen == dearest, part, 1.0)
    mean = float(np.sum(window[chosen] * weights) / need)
    periods: list[tuple[float, float]] = []
    for k, w in zip(chosen.tolist(), weights.tolist(), strict=True):
        a = t0 + (first + k) * step
        b = a + w * step
        if periods and abs(periods[-1][1] - a) < 1e-6:
            periods[-1] = (periods[-1][0], b)
        else:
            periods.append((a, b))
    return SlotPlan(periods=tuple(periods), mean_intensity=mean)


@dataclass(frozen=True)
class WindowChoice:
    """The cleanest placement of a job and what it saves against starting at once.

    ``periods``: one ``(start_s, end_s)`` for a contiguous job, several for an
    interruptible one. ``baseline_mean_intensity``: the mean over the job's length from
    ``earliest``; ``saving_percent``: ``100 · (1 − mean / baseline)``, ``None`` when no
    baseline exists. Units: epoch s, gCO₂e/kWh, %.
    """

    periods: tuple[tuple[float, float], ...]
    mean_intensity: float
    baseline_mean_intensity: float | None
    saving_percent: float | None

    @property
    def start_s(self) -> float:
        return self.periods[0][0]

    @property
    def end_s(self) -> float:
        return self.periods[-1][1]


def choose_window(
    series: TimeSeries,
    duration_s: float,
    earliest_s: float,
    deadline_s: float,
    interruptible: bool = False,
) -> WindowChoice:
    """:func:`best_window` (or :func:`cleanest_slots` for an interruptible job), with
    the saving against starting at ``earliest_s``."""
    if interruptible:
        plan = cleanest_slots(series, duration_s, earliest_s, deadline_s)
        periods, mean = plan.periods, plan.mean_intensity
    else:
        win = best_window(series, duration_s, earliest_s, deadline_s)
        periods, mean = ((win.start_s, win.end_s),), win.mean_intensity
    baseline = (
        window_mean(series, earliest_s, duration_s)
        if deadline_s - earliest_s >= duration_s
        else None
    )
    saving = 100.0 * (1.0 - mean / baseline) if baseline else None
    return WindowChoice(tuple(periods), mean, baseline, saving)
