from __future__ import annotations

import numpy as np
import pytest

from wattwise.carbon import co2e_grams
from wattwise.meter.types import DeviceEnergy, Measurement, PowerSample
from wattwise.units import TimeSeries

HOUR = 3600.0


def test_each_hour_uses_its_own_intensity() -> None:
    # 2 h run at a constant 1 kW: 1 kWh in an hour at 100 g, then 1 kWh at 300 g.
    t0 = 1_700_000_000.0 - (1_700_000_000.0 % HOUR)
    timeline = tuple(
        PowerSample(t_s=t0 + (i + 1) * 600.0, power_w=1000.0, energy_j=600.0 * 1000.0)
        for i in range(12)
    )
    m = Measurement(
        "two-hours",
        t0,
        t0 + 2 * HOUR,
        (DeviceEnergy("rapl:package-0", "cpu", "rapl", False, 7.2e6),),
        timeline,
    )
    series = TimeSeries(np.array([t0, t0 + HOUR]), np.array([100.0, 300.0]), "gCO2e/kWh", HOUR)
    assert co2e_grams(m, series) == pytest.approx(400.0)


def test_without_timeline_uses_the_midpoint() -> None:
    m = Measurement("short", 10.0, 20.0, (DeviceEnergy("x", "cpu", "estimate", True, 3.6e6),))
    series = TimeSeries(np.array([0.0, 15.0]), np.array([50.0, 200.0]), "gCO2e/kWh", 15.0)
    assert co2e_grams(m, series) == pytest.approx(200.0)  # midpoint 15 s falls in the 2nd step
