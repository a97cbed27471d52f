"""A job trace that starts inside the carbon data: the forecaster sees the hours before."""

from __future__ import annotations

import numpy as np
import pytest

from tests.schedule.conftest import batch, hourly
from wattwise.errors import CoverageError
from wattwise.grid import walk_forward_forecasts
from wattwise.schedule.scenario import HISTORY_H, build_scenario


def _carbon(n_days: int = 60) -> np.ndarray:
    """A daily cycle whose level drifts, so a forecaster's past matters."""
    h = np.arange(24 * n_days, dtype=np.float64)
    return 300.0 + 80.0 * np.sin(2 * np.pi * h / 24) + 0.5 * h / 24


def test_hour_zero_of_the_jobs_is_the_start_hour_of_the_carbon_data() -> None:
    values = _carbon()
    jobs = batch([0.0, 5.0], [2.0, 1.0], [1, 1])
    start = 35 * 24
    scn = build_scenario(jobs, {"Z": hourly(values)}, start_h=start)
    n = scn.signals.n_hours
    np.testing.assert_array_equal(scn.signals.intensity[0], values[start : start + n])
    assert scn.signals.origin_s == hourly(values).times_s[start]


def test_the_forecaster_sees_the_hours_before_the_start_as_its_past() -> None:
    values = _carbon()
    jobs = batch([0.0, 5.0], [2.0, 1.0], [1, 1])
    start = 35 * 24
    warm = build_scenario(jobs, {"Z": hourly(values)}, start_h=start).signals
    horizon = warm.horizon_h
    # The forecast issued at hour 0 of the jobs is the one issued at hour `start` of
    # the data, from the HISTORY_H hours before it.
    past = values[start - HISTORY_H : start + warm.forecast.shape[1] + horizon]
    expected = walk_forward_forecasts(past, horizon)[HISTORY_H : HISTORY_H + warm.forecast.shape[1]]
    np.testing.assert_allclose(warm.forecast[0], expected)
    # Without a past the first day is persistence/seasonal-naive: different forecasts.
    cold = build_scenario(jobs, {"Z": hourly(values[start:])}).signals
    assert not np.allclose(cold.forecast[0, :24], warm.forecast[0, :24])
    # Accounting uses the same true intensity either way.
    np.testing.assert_array_equal(cold.intensity[0, :48], warm.intensity[0, :48])


@pytest.mark.parametrize("start", [-1, 60 * 24])
def test_a_start_outside_the_carbon_data_is_refused_with_the_reason(start: int) -> None:
    jobs = batch([0.0], [1.0], [1])
    with pytest.raises(CoverageError, match="start"):
        build_scenario(jobs, {"Z": hourly(_carbon())}, start_h=start)


def test_start_hour_is_read_in_the_scheduler_not_the_cli() -> None:
    from wattwise.errors import ConfigError
    from wattwise.schedule.scenario import start_hour

    carbon = {"Z": hourly(_carbon(2))}
    first = carbon["Z"].start_s
    assert start_hour(carbon, first + 5 * 3600.0) == 5
    with pytest.raises(ConfigError, match="whole hour"):
        start_hour(carbon, first + 1800.0)
    with pytest.raises(
        ConfigError, match=r"before the carbon data begins \(2023-01-01T00:00:00Z\)"
    ):
        start_hour(carbon, first - 3600.0)
