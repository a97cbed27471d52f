"""TimeSeries' step semantics (at, integral, mean, between) and the one duration parser."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wattwise.errors import ConfigError
from wattwise.units import TimeSeries, latest_start_s, parse_duration_s

T0 = 1_700_000_000.0


def _series(steps: list[tuple[float, float]], step_s: float = 60.0) -> TimeSeries:
    """Steps as (gap to the previous instant, value); times start at T0."""
    gaps = np.array([g for g, _ in steps])
    gaps[0] = 0.0
    return TimeSeries(T0 + np.cumsum(gaps), np.array([v for _, v in steps]), "u", step_s)


def _brute_at(ts: TimeSeries, t: float) -> float:
    if t < ts.times_s[0]:
        return float(ts.values[0])
    return float(ts.values[[i for i, x in enumerate(ts.times_s) if x <= t][-1]])


def _brute_integral(ts: TimeSeries, a: float, b: float) -> float:
    """Piece by piece over the breakpoints inside [a, b]."""
    lo, hi = min(a, b), max(a, b)
    cuts = sorted({lo, hi, *(float(x) for x in ts.times_s if lo < x < hi)})
    total = sum((q - p) * _brute_at(ts, p) for p, q in itertools.pairwise(cuts))
    return total if b >= a else -total


STEPS = st.lists(
    st.tuples(st.floats(0.5, 5000.0), st.floats(-500.0, 5000.0)), min_size=1, max_size=25
)
OFFSET = st.floats(-3000.0, 60000.0)


@settings(max_examples=150, deadline=None)
@given(STEPS, OFFSET, OFFSET)
def test_integral_matches_the_piecewise_sum(
    steps: list[tuple[float, float]], a: float, b: float
) -> None:
    ts = _series(steps)
    got = ts.integral(T0 + a, T0 + b)
    want = _brute_integral(ts, T0 + a, T0 + b)
    scale = max(1.0, float(np.abs(ts.values).max()) * (abs(a) + abs(b) + 60000.0))
    assert got == pytest.approx(want, abs=1e-9 * scale)


@settings(max_examples=150, deadline=None)
@given(STEPS, st.lists(OFFSET, min_size=1, max_size=10))
def test_at_is_the_value_in_force_scalar_and_array(
    steps: list[tuple[float, float]], offsets: list[float]
) -> None:
    ts = _series(steps)
    t = T0 + np.array(offsets)
    assert [ts.at(float(x)) for x in t] == [_brute_at(ts, float(x)) for x in t]
    np.testing.assert_array_equal(ts.at(t), [_brute_at(ts, float(x)) for x in t])


@settings(max_examples=100, deadline=None)
@given(STEPS, OFFSET, st.floats(0.0, 20000.0))
def test_mean_is_integral_over_width_or_the_value_at_an_instant(
    steps: list[tuple[float, float]], a: float, width: float
) -> None:
    ts = _series(steps)
    t0 = T0 + a
    t1 = t0 + width
    if t1 == t0:
        assert ts.mean(t0, t1) == ts.at(t0)
    else:
        assert ts.mean(t0, t1) == pytest.approx(ts.integral(t0, t1) / (t1 - t0))


def test_documented_edges() -> None:
    ts = TimeSeries(np.array([10.0, 20.0]), np.array([1.0, 3.0]), "W", 10.0)
    assert ts.at(20.0) == 3.0 and ts.at(19.999) == 1.0  # a value holds from its instant
    assert ts.at(-1e9) == 1.0 and ts.at(1e9) == 3.0  # flat outside the samples
    assert ts.integral(0.0, 10.0) == 10.0  # before the first instant: the first value
    assert ts.integral(15.0, 40.0) == 5.0 + 60.0  # past the last: the last value
    assert ts.integral(20.0, 10.0) == -10.0
    np.testing.assert_array_equal(ts.integral(np.array([10.0, 15.0]), 20.0), [10.0, 5.0])
    assert isinstance(ts.mean(10.0, 30.0), float) and ts.mean(10.0, 30.0) == 2.0
    with pytest.raises(ValueError, match="empty"):
        TimeSeries(np.array([]), np.array([]), "W", 1.0).at(0.0)


def test_between_keeps_the_steps_overlapping_the_period() -> None:
    ts = TimeSeries(np.array([0.0, 10.0, 20.0, 30.0]), np.array([1.0, 2.0, 3.0, 4.0]), "W", 10.0)
    np.testing.assert_array_equal(ts.between(12.0, 25.0).values, [2.0, 3.0])
    np.testing.assert_array_equal(ts.between(10.0, 20.0).values, [2.0])
    np.testing.assert_array_equal(ts.between(-5.0, -1.0).values, [1.0])  # at least one
    np.testing.assert_array_equal(ts.between(99.0, 120.0).values, [4.0])


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90.0),
        ("30m", 1800.0),
        ("30min", 1800.0),
        ("6h", 21600.0),
        ("1d", 86400.0),
        ("1h30m", 5400.0),
        ("1.5h", 5400.0),
        (".5h", 1800.0),
        ("1.2096e+06s", 1_209_600.0),
        (" 2 H ", 7200.0),
        ("12", 12.0),
        (12, 12.0),
        (0, 0.0),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration_s(text, "x") == seconds


def test_a_bare_number_counts_in_the_given_unit() -> None:
    assert parse_duration_s("24", "--slack", bare_unit_s=3600.0) == 86400.0
    assert parse_duration_s("90m", "--slack", bare_unit_s=3600.0) == 5400.0


@pytest.mark.parametrize(
    "bad",
    [
        "nan",
        "inf",
        "-inf",
        "NaN",
        "-5",
        "-5m",
        "1e400s",
        "soon",
        "",
        "5x",
        "h",
        "5h5",
        True,
        None,
        [1],
        math.nan,
        math.inf,
        -1.0,
    ],
)
def test_bad_durations_are_one_line_errors_naming_the_option(bad: object) -> None:
    with pytest.raises(ConfigError) as info:
        parse_duration_s(bad, "--within")
    message = str(info.value)
    assert message.startswith("--within: ") and "\n" not in message


def test_a_duration_above_the_limit_is_refused() -> None:
    with pytest.raises(ConfigError, match="longer than"):
        parse_duration_s("2d", "grace", max_s=86400.0)


def test_a_date_in_a_message_is_iso_8601() -> None:
    import datetime as dt

    with pytest.raises(ConfigError) as info:
        parse_duration_s(dt.date(2024, 1, 1), "deadline")
    assert "2024-01-01" in str(info.value) and "datetime" not in str(info.value)


def test_every_duration_in_the_product_is_read_by_the_one_parser() -> None:
    # Job specs, --slack and `now+...` used to have their own parsers, each accepting
    # a different set ("30min" in one, "1h30m" in another).
    from wattwise.cli.grid import parse_time
    from wattwise.cli.simulate import parse_slack
    from wattwise.engine.spec import SpecError
    from wattwise.engine.spec import parse_duration_s as spec_duration

    assert spec_duration("30min", "runtime") == 1800.0
    assert parse_slack("1h30m") == 1.5
    assert parse_time("now+1h30m", "--at", now_s=0.0) == 5400.0
    with pytest.raises(SpecError, match=r"^runtime: "):
        spec_duration("soon", "runtime")
    with pytest.raises(ConfigError, match=r"^--slack: "):
        parse_slack("soon")
    with pytest.raises(ConfigError, match=r"^--deadline: "):
        parse_time("now+soon", "--deadline")


def test_no_other_duration_parser_in_the_source() -> None:
    import re
    from pathlib import Path

    import wattwise

    root = Path(wattwise.__file__).parent
    pattern = re.compile(r"^def parse_duration|\(d\|h\|m\|s\)|\"min\": 60|\"m\": 60\.0")
    found = [
        f"{path.relative_to(root)}:{n}"
        for path in root.rglob("*.py")
        if path.name != "units.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if pattern.search(line)
    ]
    assert found == []


def test_latest_start_leaves_room_for_the_run_and_never_precedes_submission() -> None:
    assert latest_start_s(1000.0, 5000.0, 1500.0) == 3500.0
    assert latest_start_s(1000.0, 5000.0, 9000.0) == 1000.0  # too late already: at once
    assert latest_start_s(1000.0, None, 1500.0) == 1000.0  # no deadline: at once
