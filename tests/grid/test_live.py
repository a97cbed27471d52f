"""Live providers against a local fake of each API: data, errors, retries, fallbacks."""

from __future__ import annotations

import stat
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from wattwise.errors import ConfigError, ProviderError
from wattwise.grid import load_intensity, resolve_provider, static_intensity
from wattwise.grid.live import (
    ElectricityMaps,
    HttpSettings,
    LiveProvider,
    UKCarbonIntensity,
    WattTime,
    live_provider,
)
from wattwise.grid.live.http import cache_dir

from .conftest import carbon_file
from .fake_apis import EM_TOKEN, WT_PASSWORD, WT_USER, FakeAPIs

FAST = HttpSettings(timeout_s=2.0, attempts=3, backoff_s=0.0)
H = 3600.0


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAPIs]:
    monkeypatch.setenv("WATTWISE_HOME", str(tmp_path / "home"))
    for var in (
        "WATTWISE_ELECTRICITYMAPS_TOKEN",
        "WATTWISE_WATTTIME_USER",
        "WATTWISE_WATTTIME_PASSWORD",
    ):
        monkeypatch.delenv(var, raising=False)
    values = load_intensity(carbon_file("DE-LU_2023")).values
    with FakeAPIs(values) as apis:
        yield apis


def _em(fake: FakeAPIs, zone: str = "DE", token: str = EM_TOKEN) -> LiveProvider:
    return LiveProvider(ElectricityMaps(zone, token, base_url=fake.url("em/v3"), settings=FAST))


def _expected(fake: FakeAPIs, t: float) -> float:
    return fake.state.value_at(datetime.fromtimestamp(t, tz=UTC))


def test_electricity_maps_past_range(fake: FakeAPIs) -> None:
    p = _em(fake)
    now = time.time()
    s = p.series(now - 5 * H, now - 1 * H)
    assert s.step_s == H
    assert s.start_s <= now - 5 * H and s.end_s >= now - H
    assert s.values.tolist() == [round(_expected(fake, t)) for t in s.times_s]
    assert p.describe().endswith("live data")
    assert "Electricity Maps DE (average, life-cycle)" in p.describe()
    assert any(path.endswith("past-range") for path in fake.state.requests)
    assert list(cache_dir().glob("electricitymaps-DE.json"))


def test_electricity_maps_forecast_for_the_future(fake: FakeAPIs) -> None:
    p = _em(fake)
    now = time.time()
    s = p.series(now + 2 * H, now + 6 * H)
    assert s.start_s <= now + 2 * H and s.end_s >= now + 6 * H
    assert any(path.endswith("forecast") for path in fake.state.requests)


def test_electricity_maps_latest(fake: FakeAPIs) -> None:
    t, value = _em(fake).now()
    assert abs(t - time.time()) < 2 * H
    assert value == round(_expected(fake, t))


def test_bad_token_falls_back_to_static_and_says_why(fake: FakeAPIs) -> None:
    p = _em(fake, token="wrong")
    now = time.time()
    s = p.series(now - 2 * H, now)
    assert s.values.tolist() == [static_intensity("DE").g_per_kwh]
    text = p.describe()
    assert "access refused (HTTP 401: Invalid auth-token)" in text
    assert "static annual average of DE" in text
    assert len(fake.state.requests) == 1  # a refusal is not retried


def test_unknown_zone_names_the_zone_and_falls_back_to_world(fake: FakeAPIs) -> None:
    p = _em(fake, zone="XX")
    s = p.series(time.time() - H, time.time())
    assert "Zone 'XX' does not exist" in p.describe()
    assert s.values[0] == static_intensity("WORLD").g_per_kwh


def test_sub_zone_falls_back_to_its_country(fake: FakeAPIs) -> None:
    fake.state.zones = ()
    p = _em(fake, zone="DE-LU")
    p.series(time.time() - H, time.time())
    assert "static annual average of DE-LU" in p.describe()
    p = _em(fake, zone="FR-COR")
    p.series(time.time() - H, time.time())
    assert "static annual average of FR " in p.describe()


def test_outage_is_retried_then_served_from_cache(fake: FakeAPIs) -> None:
    p = _em(fake)
    now = time.time()
    live = p.series(now - 4 * H, now - H)
    fake.state.mode = "outage"
    fake.state.requests.clear()
    again = p.series(now - 4 * H, now - H)
    assert len(fake.state.requests) == FAST.attempts
    np.testing.assert_array_equal(again.values, live.values)
    text = p.describe()
    assert "unavailable after 3 attempts (HTTP 503" in text
    assert "used cached data fetched" in text


def test_outage_without_cache_uses_static(fake: FakeAPIs) -> None:
    fake.state.mode = "outage"
    p = _em(fake)
    s = p.series(time.time() - H, time.time())
    assert s.values[0] == static_intensity("DE").g_per_kwh
    assert "static annual average" in p.describe()


def test_cache_that_does_not_cover_the_period_is_not_used(fake: FakeAPIs) -> None:
    p = _em(fake)
    now = time.time()
    p.series(now - 30 * H, now - 28 * H)
    fake.state.mode = "outage"
    s = p.series(now - 3 * H, now - H)
    assert s.values.tolist() == [static_intensity("DE").g_per_kwh]


def test_connection_refused(fake: FakeAPIs) -> None:
    url = fake.url("em/v3")
    fake.server.shutdown()
    fake.server.server_close()
    p = LiveProvider(ElectricityMaps("DE", EM_TOKEN, base_url=url, settings=FAST))
    p.series(time.time() - H, time.time())
    assert "cannot connect" in p.describe()


def test_timeout(fake: FakeAPIs) -> None:
    fake.state.mode = "slow"
    fake.state.delay_s = 1.0
    settings = HttpSettings(timeout_s=0.2, attempts=2, backoff_s=0.0)
    p = LiveProvider(ElectricityMaps("DE", EM_TOKEN, base_url=fake.url("em/v3"), settings=settings))
    p.series(time.time() - H, time.time())
    assert "timed out after 0.2 s" in p.describe()


def test_missing_token_is_explained(fake: FakeAPIs) -> None:
    p = LiveProvider(ElectricityMaps("DE", base_url=fake.url("em/v3"), settings=FAST))
    p.series(time.time() - H, time.time())
    assert "no API token (set WATTWISE_ELECTRICITYMAPS_TOKEN)" in p.describe()
    assert fake.state.requests == []


def test_token_from_the_environment(fake: FakeAPIs, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATTWISE_ELECTRICITYMAPS_TOKEN", EM_TOKEN)
    monkeypatch.setenv("WATTWISE_ELECTRICITYMAPS_URL", fake.url("em/v3"))
    p = resolve_provider(zone="electricitymaps:DE")
    assert isinstance(p, LiveProvider)
    p.series(time.time() - 2 * H, time.time() - H)
    assert p.describe().endswith("live data")


def test_watttime_moer_is_converted_to_grams(fake: FakeAPIs) -> None:
    client = WattTime("CAISO_NORTH", WT_USER, WT_PASSWORD, base_url=fake.url("wt"), settings=FAST)
    p = LiveProvider(client, fallback_zone="US-CAL-CISO")
    now = time.time()
    s = p.series(now - 2 * H, now - H)
    assert s.step_s == 300.0
    expected = [_expected(fake, t) for t in s.times_s]
    np.testing.assert_allclose(s.values, expected, rtol=1e-4)
    assert "marginal (MOER)" in p.describe() and p.describe().endswith("live data")
    assert fake.state.requests.count("/wt/login") == 1
    future = p.series(now + H, now + 3 * H)
    assert future.end_s >= now + 3 * H
    assert fake.state.requests.count("/wt/login") == 1  # the token is reused


def test_watttime_bad_credentials(fake: FakeAPIs) -> None:
    p = live_provider("watttime:CAISO_NORTH", FAST)
    assert isinstance(p.client, WattTime)
    p.client.base_url = fake.url("wt")
    p.client.username, p.client.password = WT_USER, "nope"
    s = p.series(time.time() - H, time.time())
    assert "WattTime: access refused (HTTP 403" in p.describe()
    assert s.values[0] == static_intensity("US-CAL-CISO").g_per_kwh


def test_watttime_unknown_region(fake: FakeAPIs) -> None:
    client = WattTime("MARS", WT_USER, WT_PASSWORD, base_url=fake.url("wt"), settings=FAST)
    p = LiveProvider(client, fallback_zone="WORLD")
    p.series(time.time() - H, time.time())
    assert "request refused (HTTP 400: MARS unknown)" in p.describe()


def test_uk_carbon_intensity_actual_then_forecast(fake: FakeAPIs) -> None:
    p = LiveProvider(UKCarbonIntensity(base_url=fake.url("uk"), settings=FAST))
    now = time.time()
    s = p.series(now - 3 * H, now + 2 * H)
    assert s.step_s == 1800.0
    for t, v in zip(s.times_s, s.values, strict=True):
        exact = round(_expected(fake, t))
        if abs(t + 1800 - now) < 30:  # the period ended while the test ran: either is right
            assert v in (exact, exact + 7)
        else:
            assert v == (exact if t + 1800 <= now else exact + 7)  # actual, else forecast
    t, value = p.now()
    assert value > 0 and "GB" in p.describe()


def test_uk_api_serves_gb_only() -> None:
    with pytest.raises(ProviderError, match="GB only"):
        UKCarbonIntensity("FR")


def test_now_falls_back_to_the_newest_cached_value(fake: FakeAPIs) -> None:
    p = _em(fake)
    t, value = p.now()
    fake.state.mode = "outage"
    t2, value2 = p.now()
    assert (t2, value2) == (t, value)
    assert "newest cached value" in p.describe()


@pytest.mark.parametrize("spec", ["nope:DE", "electricitymaps:", "watttime: "])
def test_bad_specs(spec: str) -> None:
    with pytest.raises(ConfigError):
        live_provider(spec)


def test_malformed_answers_are_provider_errors(fake: FakeAPIs) -> None:
    client = UKCarbonIntensity(base_url=fake.url("nowhere"), settings=FAST)
    with pytest.raises(ProviderError, match="HTTP 404"):
        client.fetch(time.time() - H, time.time())


def test_cache_keeps_the_newest_points(fake: FakeAPIs, monkeypatch: pytest.MonkeyPatch) -> None:
    from wattwise.grid.live import http

    monkeypatch.setattr(http, "MAX_CACHED_POINTS", 3)
    http.save_points("test", "Z", np.array([1.0, 2.0, 3.0]), np.array([10.0, 20.0, 30.0]))
    http.save_points("test", "Z", np.array([3.0, 4.0]), np.array([31.0, 40.0]))
    cached = http.load_points("test", "Z")
    assert cached is not None
    assert cached.times_s.tolist() == [2.0, 3.0, 4.0]
    assert cached.values.tolist() == [20.0, 31.0, 40.0]  # newer values win


def test_cache_lives_in_the_private_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from wattwise.grid.live import http

    home = tmp_path / "fresh-home"
    monkeypatch.setenv("WATTWISE_HOME", str(home))
    http.save_points("test", "Z", np.array([1.0]), np.array([10.0]))
    (path,) = (home / "cache" / "grid").glob("test-Z.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for folder in (home, home / "cache", home / "cache" / "grid"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert not list(path.parent.glob("*.tmp"))


def test_unreadable_cache_is_ignored(fake: FakeAPIs) -> None:
    from wattwise.grid.live import http

    path = cache_dir() / "electricitymaps-DE.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{not json", encoding="utf-8")
    assert http.load_points("electricitymaps", "DE") is None
    fake.state.mode = "outage"
    p = _em(fake)
    p.series(time.time() - H, time.time())
    assert "static annual average" in p.describe()
