from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from wattwise.schedule.windows import hourly_profile, integral_1d, prefix


def brute_profile(s: np.ndarray, e: np.ndarray, w: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n)
    for a, b, x in zip(s, e, w, strict=True):
        for h in range(n):
            out[h] += x * max(0.0, min(b, h + 1) - max(a, h))
    return out


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(0, 20, allow_nan=False),
            st.floats(0.01, 10, allow_nan=False),
            st.floats(0, 100, allow_nan=False),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_hourly_profile_matches_brute_force(items: list[tuple[float, float, float]]) -> None:
    s = np.array([i[0] for i in items])
    e = s + np.array([i[1] for i in items])
    w = np.array([i[2] for i in items])
    got = hourly_profile(s, e, w, 24)
    assert np.allclose(got, brute_profile(s, e, w, 24))


def test_integral_of_step_signal() -> None:
    v = np.array([1.0, 3.0, 5.0])
    cum = prefix(v)
    assert integral_1d(cum, v, np.array([0.5]))[0] == 0.5
    assert integral_1d(cum, v, np.array([1.5]))[0] == 1 + 1.5
    # Beyond the end the last value holds.
    assert integral_1d(cum, v, np.array([4.0]))[0] == 1 + 3 + 5 + 5
