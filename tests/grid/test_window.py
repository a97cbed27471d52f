"""Cleanest window and slots, checked against brute force on real traces."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wattwise.errors import ConfigError, CoverageError, ScheduleError
from wattwise.grid import best_window, cleanest_slots, load_intensity, window_mean
from wattwise.units import TimeSeries

from .conftest import GRIDS, carbon_file

TRACES = {g: load_intensity(carbon_file(g, whole_module=True)) for g in GRIDS}
H = 3600.0


def _piece(grid: str, first: int, length: int, step_s: float = H) -> TimeSeries:
    tr = TRACES[grid]
    vals = tr.values[first : first + length].copy()
    times = tr.times_s[first] + step_s * np.arange(vals.size, dtype=float)
    return TimeSeries(times_s=times, values=vals, unit=tr.unit, step_s=step_s)


def _brute_contiguous(values: np.ndarray, k: int) -> float:
    return min(float(np.mean(values[s : s + k])) for s in range(values.size - k + 1))


@settings(max_examples=60, deadline=None)
@given(
    grid=st.sampled_from(GRIDS),
    first=st.integers(0, 8760 - 400),
    length=st.integers(1, 400),
    k=st.integers(1, 72),
)
def test_best_window_matches_brute_force_on_whole_hours(
    grid: str, first: int, length: int, k: int
) -> None:
    if k > length:
        k = length
    ts = _piece(grid, first, length)
    w = best_window(ts, k * H)
    assert w.mean_intensity == pytest.approx(_brute_contiguous(ts.values, k), rel=1e-9)
    assert w.end_s - w.start_s == k * H
    assert ts.start_s <= w.start_s and w.end_s <= ts.end_s
    assert window_mean(ts, w.start_s, k * H) == pytest.approx(w.mean_intensity, rel=1e-9)


@settings(max_examples=40, deadline=None)
@given(
    grid=st.sampled_from(GRIDS),
    first=st.integers(0, 8760 - 100),
    earliest_min=st.integers(0, 24 * 60),
    span_min=st.integers(60, 60 * 60),
    duration_min=st.integers(1, 12 * 60),
    step=st.sampled_from([900.0, 3600.0]),
)
def test_best_window_is_exact_for_unaligned_times(
    grid: str, first: int, earliest_min: int, span_min: int, duration_min: int, step: float
) -> None:
    ts = _piece(grid, first, 100, step_s=step)
    earliest = ts.start_s + 60.0 * earliest_min
    deadline = min(earliest + 60.0 * span_min, ts.end_s)
    duration = 60.0 * duration_min
    if deadline - earliest < duration:
        with pytest.raises(ScheduleError):
            best_window(ts, duration, earliest, deadline)
        return
    w = best_window(ts, duration, earliest, deadline)
    assert earliest <= w.start_s and w.end_s <= deadline + 1e-6
    # Brute force: every start on a one-minute grid (all boundaries are whole minutes).
    starts = np.arange(earliest, deadline - duration + 1e-6, 60.0)
    brute = min(window_mean(ts, float(s), duration) for s in starts)
    assert w.mean_intensity == pytest.approx(brute, rel=1e-9, abs=1e-9)
    assert w.mean_intensity <= brute + 1e-9


@settings(max_examples=60, deadline=None)
@given(
    grid=st.sampled_from(GRIDS),
    first=st.integers(0, 8760 - 300),
    length=st.integers(1, 300),
    need=st.floats(0.25, 60.0),
)
def test_cleanest_slots_match_sorting(grid: str, first: int, length: int, need: float) -> None:
    ts = _piece(grid, first, length)
    if np.ceil(need - 1e-9) > length:
        with pytest.raises(ScheduleError):
            cleanest_slots(ts, need * H)
        return
    plan = cleanest_slots(ts, need * H)
    whole = int(np.floor(need + 1e-9))
    part = need - whole
    srt = np.sort(ts.values)
    brute = (srt[:whole].sum() + (part * srt[whole] if part > 1e-9 else 0.0)) / need
    assert plan.mean_intensity == pytest.approx(brute, rel=1e-9)
    total = sum(b - a for a, b in plan.periods)
    assert total == pytest.approx(need * H)
    assert all(a < b for a, b in plan.periods)
    assert all(plan.periods[i][1] < plan.periods[i + 1][0] for i in range(len(plan.periods) - 1))
    # Recompute the mean from the periods themselves.
    carbon = sum(window_mean(ts, a, b - a) * (b - a) for a, b in plan.periods)
    assert carbon / (need * H) == pytest.approx(plan.mean_intensity, rel=1e-9)


def test_cleanest_slots_only_use_whole_steps_inside_the_window() -> None:
    ts = _piece("GB_2023", 0, 48)
    plan = cleanest_slots(ts, 2 * H, ts.start_s + 1800, ts.start_s + 10 * H - 1)
    for a, b in plan.periods:
        assert a >= ts.start_s + H and b <= ts.start_s + 9 * H
    assert plan.mean_intensity == pytest.approx(np.sort(ts.values[1:9])[:2].mean())


def test_a_year_of_hourly_data_finds_the_known_minimum() -> None:
    ts = TRACES["GB_2023"]
    w = best_window(ts, 4 * H)
    assert w.mean_intensity == pytest.approx(_brute_contiguous(ts.values, 4), rel=1e-9)


def test_interruptible_is_never_worse_than_contiguous() -> None:
    ts = TRACES["DE-LU_2023"]
    for hours in (1, 5, 24):
        assert (
            cleanest_slots(ts, hours * H).mean_intensity
            <= best_window(ts, hours * H).mean_intensity + 1e-9
        )


def test_errors() -> None:
    ts = _piece("NO_2022", 0, 24)
    with pytest.raises(ConfigError):
        best_window(ts, 0.0)
    with pytest.raises(CoverageError):
        best_window(ts, H, ts.start_s - 1)
    with pytest.raises(CoverageError):
        best_window(ts, H, ts.start_s, ts.end_s + H)
    with pytest.raises(ScheduleError, match="does not fit"):
        best_window(ts, 5 * H, ts.start_s, ts.start_s + 4 * H)
    with pytest.raises(ScheduleError, match="whole"):
        cleanest_slots(ts, 2 * H, ts.start_s + 1, ts.start_s + 2 * H + 1)
    empty = TimeSeries(np.array([]), np.array([]), "gCO2e/kWh", H)
    with pytest.raises(CoverageError):
        best_window(empty, H)


def test_choose_window_reports_the_saving_against_starting_at_once() -> None:
    from wattwise.grid.window import choose_window

    values = np.array([400.0, 400.0, 100.0, 100.0, 400.0, 400.0])
    series = TimeSeries(H * np.arange(6.0), values, "gCO2e/kWh", H)
    whole = choose_window(series, 2 * H, 0.0, 6 * H)
    assert whole.periods == ((2 * H, 4 * H),)
    assert whole.baseline_mean_intensity == 400.0 and whole.saving_percent == pytest.approx(75.0)
    parts = choose_window(series, 2 * H, 0.0, 6 * H, interruptible=True)
    assert parts.mean_intensity == pytest.approx(100.0) and parts.start_s == 2 * H
