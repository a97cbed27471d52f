"""Suspend advice for a running interruptible job: pause only for real, reachable gains."""

from __future__ import annotations

import math

import numpy as np
import pytest

from wattwise.errors import ConfigError
from wattwise.schedule.suspend import advise, should_resume
from wattwise.units import TimeSeries

H = 3600.0


def hourly(values: list[float]) -> TimeSeries:
    return TimeSeries(
        H * np.arange(len(values), dtype=np.float64),
        np.asarray(values, dtype=np.float64),
        "gCO2e/kWh",
        H,
    )


def test_dirty_now_clean_later_pauses_until_the_clean_hours() -> None:
    grid = hourly([500.0] * 6 + [50.0] * 6 + [500.0] * 12)
    a = advise(2 * H, 0.0, 20 * H, grid)
    assert a.suspend and a.resume_at_s == 6 * H
    assert a.planned_g_per_kwh < a.run_now_g_per_kwh
    assert a.saving > 0.8


def test_clean_now_runs_on() -> None:
    grid = hourly([50.0] * 3 + [500.0] * 21)
    a = advise(2 * H, 0.0, 20 * H, grid)
    assert not a.suspend and a.reason == "now is among the cleanest hours"


def test_a_small_gain_is_not_worth_a_pause() -> None:
    grid = hourly([100.0] * 6 + [95.0] * 18)
    a = advise(2 * H, 0.0, 20 * H, grid)
    assert not a.suspend and "cleaner ahead" in a.reason


def test_no_slack_means_no_pause_whatever_the_grid() -> None:
    grid = hourly([900.0] * 2 + [10.0] * 22)
    a = advise(5 * H, 0.0, 5.5 * H, grid)
    assert not a.suspend and a.reason == "no slack before the deadline"


def test_resume_comes_before_the_deadline_with_the_upper_bound() -> None:
    grid = hourly([500.0] * 10 + [50.0] * 14)
    a = advise(2 * H, 0.0, 13 * H, grid, remaining_upper_s=3 * H)
    assert a.suspend and a.resume_at_s is not None
    assert a.resume_at_s + 3 * H <= 13 * H
    # At the latest safe start a paused job comes back even before its planned hour.
    assert should_resume(13 * H - 3 * H - 120.0, 1e12, 13 * H, 3 * H)
    assert not should_resume(1 * H, a.resume_at_s, 13 * H, 3 * H)
    assert should_resume(a.resume_at_s, a.resume_at_s, 13 * H, 3 * H)


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_inputs_are_refused(bad: float) -> None:
    with pytest.raises(ConfigError):
        advise(bad, 0.0, 10 * H, hourly([1.0] * 10))
    with pytest.raises(ConfigError):
        advise(H, 0.0, bad, hourly([1.0] * 10))
