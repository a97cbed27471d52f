"""Start candidates: the slots every window-scoring policy chooses among."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.schedule.conftest import batch
from wattwise.schedule.policies.base import (
    end_aligned_candidates,
    integer_candidates,
    start_candidates,
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(0, 30, allow_nan=False),  # arrival, h
            st.floats(0.05, 12, allow_nan=False),  # length, h
            st.floats(-5, 30, allow_nan=False),  # latest start minus arrival, h
        ),
        min_size=1,
        max_size=12,
    ),
    st.floats(0, 30, allow_nan=False),
)
def test_candidates_cover_the_whole_hours_and_the_ends_within_the_window(
    jobs: list[tuple[float, float, float]], now: float
) -> None:
    arrival = [a for a, _, _ in jobs]
    q = batch(arrival, [n for _, n, _ in jobs], [1] * len(jobs))
    latest = np.array([a + d for a, _, d in jobs])
    dur = q.length_h.copy()
    cand = start_candidates(q, now, latest, dur)
    # The one-pass version is the two kinds side by side, value for value.
    both = np.concatenate(
        [integer_candidates(q, now, latest), end_aligned_candidates(q, now, latest, dur)], axis=1
    )
    assert np.array_equal(cand, both)
    earliest = np.maximum(q.arrival_h, now)
    hi = np.maximum(latest, earliest)
    assert np.all(cand >= earliest[:, None]) and np.all(cand <= hi[:, None])
    for i in range(len(q)):
        row = set(cand[i].tolist())
        assert earliest[i] in row and hi[i] in row  # start now, and at the latest
        hours = np.arange(np.ceil(earliest[i]), np.floor(hi[i]) + 1)
        assert row.issuperset(hours.tolist())  # every whole hour in between
        # A run ending on each whole hour the window allows is a candidate too.
        for end in np.arange(np.ceil(earliest[i] + dur[i]), np.floor(hi[i] + dur[i]) + 1):
            assert np.any(np.isclose(cand[i] + dur[i], end))
