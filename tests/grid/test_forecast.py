"""Walk-forward forecasts: causality, shape, and beating seasonal-naive on real grids."""

from __future__ import annotations

import numpy as np
import pytest

from wattwise.errors import ConfigError
from wattwise.grid import (
    load_intensity,
    mape_percent,
    persistence_forecasts,
    seasonal_naive_forecasts,
    walk_forward_forecasts,
)

from .conftest import GRIDS, carbon_file


def test_shape_and_first_row() -> None:
    v = load_intensity(carbon_file("GB_2023")).values[: 24 * 40]
    f = walk_forward_forecasts(v, 48)
    assert f.shape == (v.size, 48)
    assert np.all(np.isnan(f[0]))
    assert np.all(np.isfinite(f[1:]))


def test_forecasts_use_only_the_past() -> None:
    v = load_intensity(carbon_file("DE-LU_2023")).values[: 24 * 45].copy()
    base = walk_forward_forecasts(v, 24)
    for cut in (5, 30, 24 * 16 + 7, 24 * 30):
        changed = v.copy()
        changed[cut:] *= 3.0  # a different future
        again = walk_forward_forecasts(changed, 24)
        # Rows issued at or before `cut` saw values[:cut] only, so they cannot move.
        np.testing.assert_array_equal(again[: cut + 1], base[: cut + 1])
        assert not np.array_equal(again[cut + 1 :], base[cut + 1 :])


def test_seasonal_naive_is_the_same_hour_the_day_before() -> None:
    v = np.arange(100, dtype=float)
    f = seasonal_naive_forecasts(v, 30)
    i = 50
    assert f[i, 0] == v[i - 24]  # lead 1: hour i, a day earlier
    assert f[i, 23] == v[i - 1]  # lead 24: hour i+23 -> i-1
    assert f[i, 24] == v[i - 24]  # lead 25: hour i+24 -> two days earlier is i-24
    assert f[3, 0] == v[2]  # under a day of history: persistence
    assert np.isnan(f[0, 0])


def test_persistence_repeats_the_latest_value() -> None:
    v = np.array([3.0, 5.0, 7.0])
    f = persistence_forecasts(v, 2)
    assert np.isnan(f[0]).all()
    assert f[2].tolist() == [5.0, 5.0]


def test_short_series_falls_back_to_seasonal_naive() -> None:
    v = np.linspace(10, 20, 50)
    np.testing.assert_array_equal(walk_forward_forecasts(v, 6), seasonal_naive_forecasts(v, 6))


@pytest.mark.parametrize("grid", GRIDS)
def test_beats_seasonal_naive_at_24h_on_every_shared_grid(grid: str) -> None:
    v = load_intensity(carbon_file(grid)).values
    ours_rows = walk_forward_forecasts(v, 24)
    naive_rows = seasonal_naive_forecasts(v, 24)
    ours = mape_percent(ours_rows, v, first_issue=24)
    naive = mape_percent(naive_rows, v, first_issue=24)
    assert ours < naive  # over leads 1-24 h
    # Lead 24 h alone: row i's last column forecasts values[i + 23].
    issues = np.arange(24, v.size - 23)
    target = v[issues + 23]
    ours_24 = np.mean(np.abs(ours_rows[issues, 23] - target) / target)
    naive_24 = np.mean(np.abs(naive_rows[issues, 23] - target) / target)
    assert ours_24 < naive_24


@pytest.mark.parametrize(
    ("values", "horizon"),
    [(np.ones((3, 3)), 2), (np.ones(10), 0), (np.ones(10), -2), (np.array([1.0, np.nan]), 1)],
)
def test_bad_input(values: np.ndarray, horizon: int) -> None:
    with pytest.raises(ConfigError):
        walk_forward_forecasts(values, horizon)


def test_mape_needs_something_to_score() -> None:
    with pytest.raises(ConfigError):
        mape_percent(np.full((2, 1), np.nan), np.array([1.0, 2.0]))
    assert mape_percent(np.array([[np.nan], [1.0], [3.0]]), np.array([1.0, 2.0, 2.0])) == 50.0
