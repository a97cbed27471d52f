"""Carbon-aware power-limit choice: Zeus's cost with the grid's intensity in it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from wattwise.errors import ConfigError
from wattwise.optimize.gpu.carbon_power import (
    carbon_rule,
    choose_carbon_power_limit,
    default_rule,
    play,
    zeus_rule,
)
from wattwise.optimize.gpu.power_limit import PowerProfile, choose_power_limit
from wattwise.units import TimeSeries

# One epoch per limit: lower limits are slower but spend less energy (Zeus-trace shape).
PROFILES = [
    PowerProfile(100, 27.0, 27.0 * 107),
    PowerProfile(150, 10.0, 10.0 * 142),
    PowerProfile(200, 9.0, 9.0 * 180),
    PowerProfile(250, 8.6, 8.6 * 215),
    PowerProfile(300, 8.5, 8.5 * 240),
]


def hourly(values: list[float], start_s: float = 0.0) -> TimeSeries:
    times = start_s + 3600.0 * np.arange(len(values), dtype=np.float64)
    return TimeSeries(times, np.asarray(values, dtype=np.float64), "gCO2e/kWh", 3600.0)


@pytest.mark.parametrize("eta", [0.0, 0.3, 0.5, 0.8, 1.0])
def test_a_flat_grid_gives_zeus_choice(eta: float) -> None:
    zeus = choose_power_limit(PROFILES, eta).limit_w
    for g in (50.0, 400.0):
        c = choose_carbon_power_limit(
            PROFILES, intensity_g_per_kwh=g, ref_intensity_g_per_kwh=g, eta=eta
        )
        assert c.limit_w == zeus and c.feasible


def test_dirty_now_lowers_the_limit_and_clean_now_raises_it() -> None:
    flat = choose_carbon_power_limit(
        PROFILES, intensity_g_per_kwh=300, ref_intensity_g_per_kwh=300, eta=0.5
    ).limit_w
    dirty = choose_carbon_power_limit(
        PROFILES, intensity_g_per_kwh=600, ref_intensity_g_per_kwh=300, eta=0.5
    ).limit_w
    clean = choose_carbon_power_limit(
        PROFILES, intensity_g_per_kwh=60, ref_intensity_g_per_kwh=300, eta=0.5
    ).limit_w
    assert dirty < flat < clean


def test_the_deadline_removes_limits_too_slow_to_finish() -> None:
    # 10 epochs left, 95 s to go: only limits at <= 9.5 s per epoch finish in time.
    c = choose_carbon_power_limit(
        PROFILES,
        intensity_g_per_kwh=900,
        ref_intensity_g_per_kwh=100,
        eta=1.0,
        work_left=10,
        time_left_s=95,
    )
    assert c.limit_w == 200 and c.feasible
    late = choose_carbon_power_limit(
        PROFILES, intensity_g_per_kwh=900, ref_intensity_g_per_kwh=100, work_left=10, time_left_s=50
    )
    assert late.limit_w == 300 and not late.feasible


@pytest.mark.parametrize(
    "kwargs",
    [
        {"eta": 1.5},
        {"intensity_g_per_kwh": math.nan},
        {"ref_intensity_g_per_kwh": math.inf},
        {"intensity_g_per_kwh": -1.0},
    ],
)
def test_bad_numbers_are_refused(kwargs: dict[str, float]) -> None:
    base = {"intensity_g_per_kwh": 100.0, "ref_intensity_g_per_kwh": 100.0}
    with pytest.raises(ConfigError):
        choose_carbon_power_limit(PROFILES, **{**base, **kwargs})  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        choose_carbon_power_limit([], intensity_g_per_kwh=1.0, ref_intensity_g_per_kwh=1.0)


def test_on_a_changing_grid_the_carbon_rule_beats_zeus_and_the_default() -> None:
    # Dirty and clean hours alternate; the job spans many of them.
    grid = hourly([800.0, 80.0] * 48)
    epochs = 4000.0  # ~9.4 h at 8.5 s/epoch
    deadline = 0.0 + 2.0 * epochs * 8.5
    runs = {
        name: play(PROFILES, epochs, grid, 0.0, deadline, rule)
        for name, rule in {
            "default": default_rule(PROFILES),
            "zeus": zeus_rule(PROFILES, 0.5),
            "wattwise": carbon_rule(PROFILES, 0.5, grid, deadline),
        }.items()
    }
    assert runs["wattwise"].co2e_g < runs["zeus"].co2e_g < runs["default"].co2e_g
    assert all(r.met_deadline for r in runs.values())
    assert len(set(runs["wattwise"].limits_w)) > 1  # it chose again as the grid changed
    # The energy of a constant-limit run is its profile's energy per epoch x epochs.
    assert runs["default"].energy_j == pytest.approx(epochs * PROFILES[-1].energy_j)


def test_play_refuses_no_work() -> None:
    with pytest.raises(ConfigError):
        play(PROFILES, 0.0, hourly([100.0]), 0.0, 10.0, default_rule(PROFILES))
