"""schedule.windows is the fast twin of TimeSeries.integral on the hourly clock."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from wattwise.schedule.windows import integral_1d, integral_rows, prefix
from wattwise.units import TimeSeries

VALUES = st.lists(st.floats(-1000.0, 1000.0, allow_nan=False), min_size=1, max_size=48)
TIMES = st.lists(st.floats(0.0, 80.0, allow_nan=False), min_size=1, max_size=20)


def _hourly(values: np.ndarray) -> TimeSeries:
    return TimeSeries(np.arange(values.size, dtype=np.float64), values, "g/kWh", 1.0)


@settings(max_examples=200, deadline=None)
@given(VALUES, TIMES)
def test_integral_1d_equals_timeseries_integral_bit_for_bit(
    values: list[float], times: list[float]
) -> None:
    v = np.array(values)
    t = np.array(times)
    np.testing.assert_array_equal(integral_1d(prefix(v), v, t), _hourly(v).integral(0.0, t))


@settings(max_examples=100, deadline=None)
@given(st.lists(VALUES, min_size=1, max_size=5), TIMES, st.data())
def test_integral_rows_equals_each_rows_timeseries_integral(
    rows: list[list[float]], taus: list[float], data: st.DataObject
) -> None:
    horizon = min(len(r) for r in rows)
    v = np.array([r[:horizon] for r in rows])
    tau = np.array(taus)
    pick = np.array(
        data.draw(st.lists(st.integers(0, len(rows) - 1), min_size=tau.size, max_size=tau.size))
    )
    got = integral_rows(prefix(v), v, pick, tau)
    want = [_hourly(v[r]).integral(0.0, x) for r, x in zip(pick, tau, strict=True)]
    np.testing.assert_array_equal(got, want)
