"""Scenario sizing: the common accounting period and the refusal of absurd sizes."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from tests.schedule.conftest import batch, hourly, two_groups
from wattwise.errors import ScheduleError
from wattwise.schedule.scenario import MAX_FORECAST_CELLS, bound_hours, build_scenario


def test_the_accounting_period_is_when_the_last_job_can_end() -> None:
    # Half-speed group: a 10 h job arriving at 100 with 24 h slack may start at
    # 100 + 24 + 10 - 20 = 114 there and end at 134; on the fast group it ends by 134 too.
    jobs = batch([0.0, 100.0], [1.0, 10.0], [1, 1])
    scn = build_scenario(jobs, {"Z": hourly(np.full(400, 100.0))}, two_groups())
    assert bound_hours(scn) == 134 + 2
    # Not the last deadline over the slowest speed (268 h): past the signal it built.
    assert bound_hours(scn) <= scn.signals.n_hours


def test_a_job_too_slow_for_its_deadline_still_ends_inside_the_period() -> None:
    jobs = batch([0.0], [30.0], [1], slack_h=0.0)  # 60 h on the half-speed group
    scn = build_scenario(jobs, {"Z": hourly(np.full(400, 100.0))}, two_groups())
    assert bound_hours(scn) == 60 + 2


def test_absurd_sizes_are_refused_before_allocating() -> None:
    jobs = batch([0.0], [8000.0], [1])  # within the trace limit, far past the forecaster's
    tracemalloc.start()
    try:
        with pytest.raises(ScheduleError) as err:
            build_scenario(jobs, {"Z": hourly(np.full(400, 100.0))}, two_groups(), wrap=True)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert f"limit of {MAX_FORECAST_CELLS:,}" in str(err.value)
    assert peak < 50 * 2**20


def test_finer_data_becomes_hourly_means_of_whole_hours() -> None:
    from wattwise.schedule.signals import hourly_means
    from wattwise.units import TimeSeries

    t0 = 1_600_000_200.0  # not on an hour: the first partial hour is left out
    start = np.ceil(t0 / 3600) * 3600
    times = np.concatenate([[t0], start + 900.0 * np.arange(12)])
    values = np.concatenate([[999.0], np.arange(12.0)])
    out = hourly_means(TimeSeries(times, values, "gCO2e/kWh", 900.0), "x")
    assert out.step_s == 3600.0 and out.times_s[0] == start
    assert out.values.tolist() == [1.5, 5.5, 9.5]
