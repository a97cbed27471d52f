"""On-site PV: pvlib clear sky, measured-profile scaling, bad input."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from wattwise.errors import ConfigError, DataFormatError
from wattwise.grid.solar import PVSite, describe_profile_use, load_solar_profile, pv_power
from wattwise.units import TimeSeries

from .conftest import SOLAR

BERLIN = PVSite(latitude_deg=52.52, longitude_deg=13.40, kwp=10.0, tilt_deg=35, azimuth_deg=180)
JUNE = datetime(2023, 6, 21, tzinfo=UTC).timestamp()
DAY = 86400.0


def _profile(column: str = "Berlin") -> TimeSeries:
    if not SOLAR.exists():
        pytest.skip(f"shared data missing: {SOLAR}")
    return load_solar_profile(SOLAR, column)


def test_clear_sky_day_shape_and_bounds() -> None:
    s = pv_power(BERLIN, JUNE, JUNE + DAY, 3600)
    assert s.unit == "W" and len(s) == 24 and s.step_s == 3600
    assert np.all(s.values >= 0) and s.values.max() <= 10_000
    assert s.values[0] == 0.0 and s.values[23] == 0.0  # 00-01 and 23-24 UTC: night in Berlin
    assert s.values.argmax() in (10, 11, 12)  # solar noon in Berlin is ~11:10 UTC
    kwh_per_kwp = s.values.sum() / 1000 / 10
    assert 5.0 < kwh_per_kwp < 8.0  # midsummer clear day at 52°N


def test_orientation_and_hemisphere_matter() -> None:
    north = PVSite(52.52, 13.40, 10.0, tilt_deg=35, azimuth_deg=0)
    winter = datetime(2023, 12, 21, tzinfo=UTC).timestamp()
    south_e = pv_power(BERLIN, winter, winter + DAY).values.sum()
    north_e = pv_power(north, winter, winter + DAY).values.sum()
    assert south_e > 2 * north_e
    sydney = PVSite(-33.87, 151.21, 10.0, tilt_deg=30, azimuth_deg=0)  # facing the equator
    assert pv_power(sydney, winter, winter + DAY).values.sum() > south_e


def test_fifteen_minute_steps_average_to_the_hourly_values() -> None:
    q = pv_power(BERLIN, JUNE, JUNE + DAY, 900).values.reshape(24, 4).mean(axis=1)
    h = pv_power(BERLIN, JUNE, JUNE + DAY, 3600).values
    np.testing.assert_allclose(q, h, rtol=0.02, atol=20)


def test_measured_profile_scales_each_day_by_its_clearness() -> None:
    prof = _profile("Berlin")
    days = 29
    clear = pv_power(BERLIN, JUNE, JUNE + days * DAY)
    scaled = pv_power(BERLIN, JUNE, JUNE + days * DAY, profile=prof)
    daily_measured = prof.values.reshape(days, -1).mean(axis=1) * 24 * 10  # kWh at 10 kWp
    daily_scaled = scaled.values.reshape(days, 24).sum(axis=1) / 1000
    # Energy per day follows the measured profile (up to the nameplate cap).
    np.testing.assert_allclose(daily_scaled, daily_measured, rtol=0.03)
    # The shape within a day stays the site's clear-sky shape (zero at night).
    night = clear.values == 0
    assert np.all(scaled.values[night] == 0)
    assert daily_scaled.min() < 0.4 * daily_scaled.max()  # cloudy days are visible


def test_profile_repeats_and_says_so() -> None:
    prof = _profile("Stockholm")
    s = pv_power(BERLIN, JUNE, JUNE + 40 * DAY, profile=prof)
    first = s.values[:24].sum()
    assert s.values[29 * 24 : 30 * 24].sum() == pytest.approx(first, rel=0.05)
    label = describe_profile_use(prof, JUNE, JUNE + 40 * DAY)
    assert "repeated" in label and "laid onto" in label
    assert "repeated" not in describe_profile_use(prof, JUNE, JUNE + 5 * DAY)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"latitude_deg": 91.0},
        {"longitude_deg": -181.0},
        {"kwp": 0.0},
        {"tilt_deg": 95.0},
        {"azimuth_deg": 400.0},
        {"losses": 1.0},
    ],
)
def test_bad_site(kwargs: dict[str, float]) -> None:
    base = {"latitude_deg": 0.0, "longitude_deg": 0.0, "kwp": 1.0}
    with pytest.raises(ConfigError):
        PVSite(**(base | kwargs))


def test_bad_period_and_step() -> None:
    with pytest.raises(ConfigError):
        pv_power(BERLIN, JUNE, JUNE)
    with pytest.raises(ConfigError):
        pv_power(BERLIN, JUNE, JUNE + DAY, 0)


@pytest.mark.parametrize(
    ("body", "message", "line"),
    [
        ("", "empty", None),
        ("t,Berlin\n0,0.1\n", "'time'", 1),
        ("time,Paris\n0,0.1\n300,0.2\n", "no column 'Berlin'", 1),
        ("time,Berlin\n0,0.1\n300,abc\n", "bad row", 3),
        ("time,Berlin\n0,0.1\n300,7\n", "fraction of peak", 3),
        ("time,Berlin\n0,0.1\n300,0.2\n900,0.2\n1200,0.1\n", "irregular", 4),
        ("time,Berlin\n0,0.1\n", "two rows", None),
    ],
)
def test_bad_profile_files(tmp_path: Path, body: str, message: str, line: int | None) -> None:
    p = tmp_path / "solar.csv"
    p.write_text(body, encoding="utf-8")
    with pytest.raises(DataFormatError, match=message) as info:
        load_solar_profile(p, "Berlin")
    assert info.value.line == line


def test_a_profile_not_in_utf8_is_one_line_naming_the_file(tmp_path: Path) -> None:
    p = tmp_path / "pv.csv"
    p.write_bytes("time,M\xfcnchen\n0,0.5\n300,0.6\n".encode("latin-1"))
    with pytest.raises(DataFormatError) as info:
        load_solar_profile(p, "Berlin")
    assert str(info.value).startswith(str(p)) and "UTF-8" in str(info.value)
