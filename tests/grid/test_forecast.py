"""Walk-forward forecasts: causality, shape, and beating seasonal-naive on real grids."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

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


def test_forecast_series_from_a_trace_matches_the_walk_forward_row() -> None:
    from wattwise.grid import forecast_series, resolve_provider

    path = carbon_file("ES_2022")
    values = load_intensity(path).values
    provider = resolve_provider(carbon_file=path)
    start = load_intensity(path).start_s
    series, method = forecast_series(provider, start + 3600.0 * 500, 12)
    assert "walk-forward" in method
    np.testing.assert_allclose(series.values, walk_forward_forecasts(values, 12)[500])
    assert series.start_s == start + 3600.0 * 500 and len(series) == 12


def test_forecast_series_with_replay_and_other_providers() -> None:
    from wattwise.errors import CoverageError
    from wattwise.grid import forecast_series, resolve_provider, static_intensity

    path = carbon_file("GB_2023")
    trace = load_intensity(path)
    at_2023 = datetime.fromtimestamp(trace.start_s + 3600.0 * 2000, tz=UTC)
    issue_2026 = at_2023.replace(year=2026).timestamp()  # same month, day and hour
    with pytest.raises(CoverageError, match="replay"):
        forecast_series(resolve_provider(carbon_file=path), issue_2026, 6)
    replayed, _ = forecast_series(resolve_provider(carbon_file=path, replay=True), issue_2026, 6)
    np.testing.assert_allclose(replayed.values, walk_forward_forecasts(trace.values, 6)[2000])
    assert replayed.start_s == issue_2026
    static, how = forecast_series(resolve_provider(zone="SE"), issue_2026, 6)
    assert how == "provider" and static.values[0] == static_intensity("SE").g_per_kwh
    with pytest.raises(ConfigError):
        forecast_series(resolve_provider(zone="SE"), issue_2026, 0)


def test_forecast_series_needs_hourly_data(tmp_path: Path) -> None:
    from wattwise.grid import forecast_series, resolve_provider

    rows = "\n".join(f"{1700000000 + 900 * k},{100 + k}" for k in range(200))
    f = tmp_path / "q.csv"
    f.write_text("time,value\n" + rows + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="hourly"):
        forecast_series(resolve_provider(carbon_file=f), 1700000000 + 900 * 100, 4)


def test_a_forecast_is_scored_against_the_trace_in_the_grid_package() -> None:
    # The scoring used to live in the CLI; `grid forecast` now only formats it.
    from wattwise.grid import forecast_series, resolve_provider
    from wattwise.grid.forecast import score_forecast

    path = carbon_file("ES_2022")
    trace = load_intensity(path)
    provider = resolve_provider(carbon_file=path)
    series, _ = forecast_series(provider, trace.start_s + 3600.0 * 500, 24)
    score = score_forecast(trace, series)
    assert score is not None
    np.testing.assert_array_equal(score.actual.values, trace.values[500:524])
    expected = mape_percent(series.values[None, :], trace.values[500:524], first_issue=0)
    assert score.mape_percent == pytest.approx(expected)
    naive = seasonal_naive_forecasts(trace.values[:501], 24)[500]
    assert score.seasonal_naive_mape_percent == pytest.approx(
        mape_percent(naive[None, :], trace.values[500:524], first_issue=0)
    )
    # Near the end only the recorded hours count; past it there is nothing to score.
    tail, _ = forecast_series(provider, trace.end_s - 3600.0 * 5, 24)
    tail_score = score_forecast(trace, tail)
    assert tail_score is not None and len(tail_score.actual) == 5
