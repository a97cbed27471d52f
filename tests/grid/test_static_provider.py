"""Static annual averages and provider resolution (fixed > file > zone > WORLD)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from wattwise.errors import ConfigError, CoverageError, DataFormatError
from wattwise.grid import (
    FixedProvider,
    IntensityProvider,
    StaticProvider,
    TraceProvider,
    list_zones,
    load_intensity,
    resolve_provider,
    static_intensity,
)

from .conftest import carbon_file


def _t(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_every_static_row_has_a_value_year_and_source() -> None:
    zones = list_zones()
    assert len(zones) >= 30
    assert "WORLD" in {z.zone for z in zones}
    for z in zones:
        assert 0 < z.g_per_kwh < 1500
        assert 2015 <= z.year <= 2030
        assert len(z.source) > 20


def test_static_lookup_is_case_insensitive() -> None:
    fr = static_intensity("fr")
    assert fr.zone == "FR"
    assert fr.g_per_kwh < static_intensity("DE").g_per_kwh  # nuclear vs coal-and-gas mix


def test_static_rows_from_traces_match_the_trace_means() -> None:
    for zone, name in (("GB", "GB_2023"), ("NO", "NO_2022"), ("US-CAL-CISO", "US-CAL-CISO_2022")):
        mean = float(np.mean(load_intensity(carbon_file(name)).values))
        assert static_intensity(zone).g_per_kwh == pytest.approx(mean, abs=0.6)


def test_unknown_zone_says_how_to_list_zones() -> None:
    with pytest.raises(ConfigError, match="grid zones"):
        static_intensity("ATLANTIS")


def test_precedence_fixed_over_file_over_zone() -> None:
    path = carbon_file("NO_2022")
    assert isinstance(resolve_provider("DE", path, 123.0), FixedProvider)
    assert isinstance(resolve_provider("DE", path), TraceProvider)
    zone = resolve_provider("DE")
    assert isinstance(zone, StaticProvider)
    assert "381" in zone.describe()
    world = resolve_provider()
    assert isinstance(world, StaticProvider)
    assert "WORLD" in world.describe()
    for p in (zone, world, resolve_provider(fixed_g_per_kwh=1.0)):
        assert isinstance(p, IntensityProvider)


def test_fixed_and_static_cover_any_period() -> None:
    s = resolve_provider(fixed_g_per_kwh=250.0).series(1000.0, 5000.0)
    assert s.values.tolist() == [250.0]
    assert s.start_s <= 1000.0 and s.end_s >= 5000.0
    st = resolve_provider("FR").series(_t("2031-01-01T00:00"), _t("2031-01-02T00:00"))
    assert st.values.tolist() == [static_intensity("FR").g_per_kwh]


def test_bad_fixed_value_and_bad_period() -> None:
    with pytest.raises(ConfigError):
        resolve_provider(fixed_g_per_kwh=-1.0)
    with pytest.raises(ConfigError):
        resolve_provider(fixed_g_per_kwh=1.0).series(10.0, 5.0)


def test_trace_slice_covers_the_period() -> None:
    p = resolve_provider(carbon_file=carbon_file("DE-LU_2023"))
    s = p.series(_t("2023-03-01T10:30"), _t("2023-03-01T12:15"))
    hours = ["2023-03-01T10:00", "2023-03-01T11:00", "2023-03-01T12:00"]
    assert s.times_s.tolist() == [_t(h) for h in hours]
    assert s.start_s <= _t("2023-03-01T10:30") and s.end_s >= _t("2023-03-01T12:15")


def test_trace_outside_its_span_is_a_coverage_error() -> None:
    p = resolve_provider(carbon_file=carbon_file("DE-LU_2023"))
    with pytest.raises(CoverageError, match="replay"):
        p.series(_t("2025-03-01T10:00"), _t("2025-03-01T12:00"))


def test_replay_maps_by_month_day_hour_and_says_so() -> None:
    path = carbon_file("DE-LU_2023")
    trace = load_intensity(path)
    p = resolve_provider(carbon_file=path, replay=True)
    assert "replayed by time of year" in p.describe()
    s = p.series(_t("2026-07-14T09:00"), _t("2026-07-14T12:00"))
    k = int((_t("2023-07-14T09:00") - trace.start_s) // 3600)
    assert s.values.tolist() == trace.values[k : k + 3].tolist()
    assert s.times_s[0] == _t("2026-07-14T09:00")
    leap = p.series(_t("2028-02-29T05:00"), _t("2028-02-29T06:00"))
    k = int((_t("2023-02-28T05:00") - trace.start_s) // 3600)
    assert leap.values[0] == trace.values[k]


def test_replay_needs_the_time_of_year_in_the_trace(tmp_path: Path) -> None:
    f = tmp_path / "short.csv"
    f.write_text("time,value\n2023-01-01T00:00Z,5\n2023-01-01T01:00Z,6\n", encoding="utf-8")
    p = resolve_provider(carbon_file=f, replay=True)
    with pytest.raises(CoverageError, match="time of year"):
        p.series(_t("2024-06-01T00:00"), _t("2024-06-01T01:00"))


def test_bad_file_is_reported_by_resolve(tmp_path: Path) -> None:
    f = tmp_path / "bad.csv"
    f.write_text("", encoding="utf-8")
    with pytest.raises(DataFormatError, match="empty"):
        resolve_provider(carbon_file=f)
