"""The provider chain: priority order, fallback with one warning line, who served."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import pytest

from wattwise.errors import ConfigError, CoverageError, ProviderError
from wattwise.grid import TraceProvider, forecast_series, resolve_provider
from wattwise.grid.chain import Link, ProviderChain, chain_provider
from wattwise.grid.live import LiveProvider
from wattwise.grid.provider import FixedProvider, StaticProvider
from wattwise.grid.trace import INTENSITY_UNIT
from wattwise.units import TimeSeries

H = 3600.0
TRACE = Path(__file__).resolve().parents[2] / "src/wattwise/data/carbon_US-CAL-CISO_2022-05_06.csv"


class FakeProvider:
    """An in-process provider: a constant, or an error it raises."""

    def __init__(self, value: float, error: Exception | None = None) -> None:
        self.value, self.error, self.calls = value, error, 0

    def describe(self) -> str:
        return f"fake {self.value:g}"

    def series(self, start_s: float, end_s: float) -> TimeSeries:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return TimeSeries(
            np.array([start_s]), np.array([self.value]), INTENSITY_UNIT, end_s - start_s + 1
        )


class FakeClient:
    """A live client in-process: answers from ``values`` or raises ``error``."""

    key, name, zone, signal = "fakelive", "Fake Live", "DE", "average"

    def __init__(self, error: Exception | None = None, key: str = "fakelive") -> None:
        self.error, self.key = error, key

    def fetch(self, start_s: float, end_s: float) -> tuple[np.ndarray, np.ndarray]:
        if self.error is not None:
            raise self.error
        times = np.arange(np.floor(start_s / H) * H, end_s, H)
        return times, np.full(times.size, 111.0)

    def latest(self) -> tuple[float, float]:
        if self.error is not None:
            raise self.error
        return time.time(), 111.0


def test_first_provider_that_answers_serves_and_says_so() -> None:
    warned: list[str] = []
    first = FakeProvider(1.0, ProviderError("Electricity Maps: HTTP 503"))
    chain = ProviderChain(
        [Link("electricitymaps:DE", first), Link("watttime:X", FakeProvider(2.0))],
        warn=warned.append,
    )
    assert chain.describe().endswith("not asked yet")
    series = chain.series(0.0, H)
    assert series.values[0] == 2.0 and chain.served_by == "watttime:X"
    label = chain.describe()
    assert label.startswith("fake 2 [served by watttime:X, chain electricitymaps:DE > watttime:X]")
    assert "electricitymaps:DE failed: Electricity Maps: HTTP 503" in label
    assert warned == [
        "wattwise: grid provider electricitymaps:DE failed (Electricity Maps: HTTP 503); "
        "trying watttime:X"
    ]
    assert "\n" not in warned[0] and "\n" not in label


def test_a_healthy_first_provider_is_the_only_one_asked() -> None:
    second = FakeProvider(2.0)
    chain = ProviderChain([Link("a", FakeProvider(1.0)), Link("b", second)], warn=print)
    assert chain.series(0.0, H).values[0] == 1.0
    assert second.calls == 0 and chain.describe() == "fake 1 [served by a, chain a > b]"


def test_all_failing_is_one_line_error() -> None:
    chain = ProviderChain(
        [
            Link("a", FakeProvider(1.0, ProviderError("down"))),
            Link("b", FakeProvider(2.0, CoverageError("no data for 2031"))),
        ],
        warn=lambda _: None,
    )
    with pytest.raises(ProviderError) as err:
        chain.series(0.0, H)
    text = str(err.value)
    assert "a failed: down; b failed: no data for 2031" in text and "\n" not in text
    assert "static" in text  # the hint says what to add


def test_warning_goes_to_the_log_once_as_one_line(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wattwise.grid import chain as chain_module

    monkeypatch.setattr(chain_module, "_warned", {})

    def make() -> ProviderChain:
        return ProviderChain(
            [Link("a", FakeProvider(1.0, ProviderError("down"))), Link("b", FakeProvider(2.0))]
        )

    with caplog.at_level(logging.WARNING, logger="wattwise.grid"):
        chain = make()
        chain.series(0.0, H)
        chain.series(0.0, H)
        make().series(0.0, H)  # a server's next request builds its own chain: still once
    (record,) = caplog.records
    assert record.getMessage() == "wattwise: grid provider a failed (down); trying b"
    assert record.exc_info is None


def test_live_link_fails_over_instead_of_using_the_static_average(wattwise_home: Path) -> None:
    broken = LiveProvider(FakeClient(ProviderError("Fake Live: HTTP 401")))
    # Alone, a live provider answers with the static average and says so ...
    alone = broken.series(time.time() - 2 * H, time.time())
    assert "static annual average" in broken.describe() and alone.values[0] > 0
    # ... in a chain it fails, so the next link (here a live one that works) serves.
    good = LiveProvider(FakeClient(key="fakelive2"))  # its own cache
    chain = ProviderChain(
        [Link("fakelive:DE", broken.without_static()), Link("other:DE", good.without_static())],
        warn=lambda _: None,
    )
    now = time.time()
    assert chain.series(now - 2 * H, now - H).values[0] == 111.0
    assert chain.served_by == "other:DE" and "live data" in chain.describe()
    t, value = chain.now()
    assert value == 111.0 and abs(t - time.time()) < 60


def test_config_providers_build_the_chain_live_live_trace_static(
    wattwise_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WATTWISE_ELECTRICITYMAPS_TOKEN", raising=False)
    monkeypatch.delenv("WATTWISE_WATTTIME_USER", raising=False)
    monkeypatch.delenv("WATTWISE_WATTTIME_PASSWORD", raising=False)
    (wattwise_home / "config.toml").write_text(
        'zone = "US-CAL-CISO"\n'
        f'providers = ["electricitymaps", "watttime", "trace:{TRACE}", "static"]\n',
        encoding="utf-8",
    )
    chain = resolve_provider()
    assert isinstance(chain, ProviderChain)
    specs = [link.spec for link in chain.links]
    assert specs == [
        "electricitymaps:US-CAL-CISO",
        "watttime:CAISO_NORTH",
        f"trace:{TRACE}",
        "static:US-CAL-CISO",
    ]
    assert isinstance(chain.links[2].provider, TraceProvider) and chain.links[2].provider.replay
    assert isinstance(chain.links[3].provider, StaticProvider)
    start = 1655805600.0  # 2022-06-21 10:00 UTC, inside the trace
    series = chain.series(start, start + 3 * H)
    assert chain.served_by == f"trace:{TRACE}" and len(series) == 3
    label = chain.describe()
    assert "electricitymaps:US-CAL-CISO failed" in label and "watttime:CAISO_NORTH failed" in label
    # A zone given on the command line goes to the same chain ...
    other = resolve_provider(zone="DE")
    assert isinstance(other, ProviderChain) and other.links[0].spec == "electricitymaps:DE"
    assert other.links[1].spec == "watttime:DE"  # no WattTime area known: asked as it is
    # ... but a zone naming one live provider, a file or a fixed value is taken as given.
    assert isinstance(resolve_provider(zone="electricitymaps:DE"), LiveProvider)
    assert isinstance(resolve_provider(carbon_file=TRACE), TraceProvider)
    assert isinstance(resolve_provider(fixed_g_per_kwh=5.0), FixedProvider)


def test_chain_forecast_uses_the_serving_links_forecaster() -> None:
    chain = chain_provider([f"trace:{TRACE}", "static:DE"])
    forecast, method = forecast_series(chain, 1655805600.0, 6)
    assert len(forecast) == 6 and "walk-forward" in method
    assert chain.served_by == f"trace:{TRACE}"


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([], "providers is empty"),
        (["nosuch"], "unknown providers entry 'nosuch'"),
        (["electricitymaps"], "needs a zone"),
        (["trace:"], "names no file"),
        (["fixed:abc"], "fixed needs a value"),
        (["fixed:-3"], "fixed needs a value"),
        (["static:NOWHERE"], "no static carbon intensity for zone 'NOWHERE'"),
        ("static", "must be a list"),
    ],
)
def test_bad_entries_are_one_line_config_errors(entries: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        chain_provider(entries)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_config_providers_must_be_a_list_of_strings(wattwise_home: Path) -> None:
    from wattwise.config import load_config

    (wattwise_home / "config.toml").write_text('providers = "static"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="providers must be list"):
        load_config()
    (wattwise_home / "config.toml").write_text("providers = [1]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="list of strings"):
        load_config()


def test_grid_now_json_names_the_serving_provider(wattwise_home: Path) -> None:
    import os
    import subprocess
    import sys

    (wattwise_home / "config.toml").write_text(
        'zone = "DE"\nproviders = ["electricitymaps", "static"]\n', encoding="utf-8"
    )
    env = {k: v for k, v in os.environ.items() if k != "WATTWISE_ELECTRICITYMAPS_TOKEN"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2] / "src")
    done = subprocess.run(
        [sys.executable, "-m", "wattwise.cli.main", "grid", "now", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert "[served by static:DE, chain electricitymaps:DE > static:DE]" in payload["source"]
    assert "no API token" in payload["source"]
    # the failing live provider: one warning line on stderr, no traceback
    assert done.stderr.strip().splitlines() == [
        "wattwise: grid provider electricitymaps:DE failed (Electricity Maps: no API token "
        "(set WATTWISE_ELECTRICITYMAPS_TOKEN); no cached data covers the period); "
        "trying static:DE"
    ]


def test_a_configured_trace_stands_for_the_configured_zone_only(wattwise_home: Path) -> None:
    (wattwise_home / "config.toml").write_text(
        f'zone = "US-CAL-CISO"\nproviders = ["trace:{TRACE}", "static"]\n', encoding="utf-8"
    )
    mine = resolve_provider(zone="azure:westus")  # in grid zone US-CAL-CISO
    assert isinstance(mine, ProviderChain) and mine.links[0].spec == f"trace:{TRACE}"
    other = resolve_provider(zone="DE")
    assert isinstance(other, ProviderChain)
    assert [link.spec for link in other.links] == ["static:DE"]
    with pytest.raises(ConfigError, match="only traces"):
        chain_provider([f"trace:{TRACE}"], "DE", trace_zone="US-CAL-CISO")


def test_the_dashboards_grid_names_the_serving_link(wattwise_home: Path, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from tests.api.conftest import BASE_URL, LOOPBACK
    from wattwise.api import create_app

    (wattwise_home / "config.toml").write_text(
        'zone = "DE"\nproviders = ["electricitymaps", "static"]\n', encoding="utf-8"
    )
    app = create_app(
        f"sqlite:///{tmp_path / 'g.db'}", home=wattwise_home, token="t", monitor_power=False
    )
    with TestClient(app, client=LOOPBACK, base_url=BASE_URL) as client:
        grid = client.get("/api/v1/grid").json()
    assert grid["available"] is True
    assert "[served by static:DE, chain electricitymaps:DE > static:DE]" in grid["source"]


def test_a_forecast_issued_in_the_traces_last_hour(wattwise_home: Path) -> None:
    """Regression: an issue time in the last hour of a trace raised IndexError."""
    from wattwise.grid import load_intensity

    trace = TraceProvider(load_intensity(TRACE), str(TRACE))
    forecast, method = forecast_series(trace, trace.trace.end_s - 1800.0, 6)
    assert len(forecast) == 6 and forecast.start_s == trace.trace.end_s
    assert np.all(np.isfinite(forecast.values)) and "walk-forward" in method
