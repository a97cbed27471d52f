from __future__ import annotations

import pytest

from wattwise.errors import ConfigError
from wattwise.optimize.budget import QualityBudget


def test_relative_budget_floor() -> None:
    b = QualityBudget.parse("1%")
    assert b.max_drop_rel == pytest.approx(0.01)
    assert b.floor(0.9) == pytest.approx(0.891)
    assert b.keeps(0.8911, 0.9)
    assert not b.keeps(0.8909, 0.9)


def test_absolute_and_minimum_budgets() -> None:
    assert QualityBudget.parse("0.005").floor(0.8203) == pytest.approx(0.8153)
    b = QualityBudget.parse(">=0.815")
    assert b.keeps(0.815, 0.82) and not b.keeps(0.8149, 0.82)


def test_lower_is_better_metric() -> None:
    b = QualityBudget.parse("10%")
    assert b.keeps(1.05, 1.0, higher_is_better=False)
    assert not b.keeps(1.2, 1.0, higher_is_better=False)


def test_nan_quality_never_keeps() -> None:
    assert not QualityBudget.parse("1%").keeps(float("nan"), 0.9)


@pytest.mark.parametrize("text", ["abc", "1 %%", "-1%", "-0.1", "nan", ">=x"])
def test_bad_budget_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError):
        QualityBudget.parse(text)
