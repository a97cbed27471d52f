"""PUE resolution and validation; the functional unit and the SCI."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from wattwise.config import PueSettings, load_config
from wattwise.errors import ConfigError
from wattwise.report.pue import resolve_pue
from wattwise.report.sci import FunctionalUnit, sci_g


def test_default_pue_is_one_and_labelled() -> None:
    pue = resolve_pue(None)
    assert pue.value == 1.0 and pue.is_default and "default" in pue.basis


def test_most_specific_pue_wins() -> None:
    settings = PueSettings(default=1.2, zones={"DE": 1.3}, node_groups={"gpu": 1.1})
    assert resolve_pue(settings).value == 1.2
    assert resolve_pue(settings, zone="DE").value == 1.3
    assert resolve_pue(settings, zone="DE", node_group="gpu").basis == "config pue.node_groups.gpu"
    assert resolve_pue(settings, zone="FR").basis == "config pue"
    assert resolve_pue(settings, zone="DE", override=1.5).value == 1.5


@pytest.mark.parametrize("bad", [0.9, 0.0, -1.0, math.nan, math.inf, 11.0])
def test_bad_pue_flag_is_refused_in_one_line(bad: float) -> None:
    with pytest.raises(ConfigError, match="--pue") as caught:
        resolve_pue(None, override=bad)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "text",
    [
        "pue = 0.99",
        "pue = nan",
        "[pue]\ndefault = 0.5",
        "[pue]\nzones = { DE = inf }",
        "[pue]\nnode_groups = { a = 0.2 }",
    ],
)
def test_bad_pue_in_config_names_file_and_line(wattwise_home: Path, text: str) -> None:
    (wattwise_home / "config.toml").write_text(text + "\n")
    with pytest.raises(ConfigError, match=r"config\.toml:1: pue"):
        load_config()


def test_pue_config_number_and_table(wattwise_home: Path) -> None:
    (wattwise_home / "config.toml").write_text("pue = 1.25\nmarket_factor_g_per_kwh = 30\n")
    config = load_config()
    assert config.pue == PueSettings(default=1.25) and config.market_factor_g_per_kwh == 30
    (wattwise_home / "config.toml").write_text(
        '[pue]\ndefault = 1.2\nzones = { DE = 1.3 }\nnode_groups = { "gpu-a" = 1.1 }\n'
    )
    assert load_config().pue == PueSettings(1.2, {"DE": 1.3}, {"gpu-a": 1.1})
    (wattwise_home / "config.toml").write_text("[pue]\nzone = { DE = 1.3 }\n")
    with pytest.raises(ConfigError, match="unknown pue setting 'zone'"):
        load_config()


def test_market_factor_config_refuses_non_finite(wattwise_home: Path) -> None:
    (wattwise_home / "config.toml").write_text("market_factor_g_per_kwh = inf\n")
    with pytest.raises(ConfigError, match="market_factor_g_per_kwh"):
        load_config()


def test_functional_unit_default_and_given() -> None:
    assert FunctionalUnit.of(None, None, "run", 3) == FunctionalUnit("run", 3.0)
    unit = FunctionalUnit.of("token", 1000, "run", 1)
    assert unit.given and sci_g(50.0, unit) == pytest.approx(0.05)
    assert sci_g(None, unit) is None
    assert FunctionalUnit.of(None, 4, "run", 1) == FunctionalUnit("run", 4.0, given=True)
    with pytest.raises(ConfigError, match="--unit token needs --units N"):
        FunctionalUnit.of("token", None, "run", 1)
    with pytest.raises(ConfigError, match="--unit must name"):
        FunctionalUnit.of("  ", 3, "run", 1)


@pytest.mark.parametrize("bad", [0, -3, math.nan, math.inf])
def test_functional_unit_zero_or_non_finite_is_refused(bad: float) -> None:
    with pytest.raises(ConfigError, match="--units must be a finite number above 0") as caught:
        FunctionalUnit.of("token", bad, "run", 1)
    assert "\n" not in str(caught.value)
