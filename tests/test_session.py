from __future__ import annotations

import pytest

import wattwise
from wattwise.store import RunStore


def test_measure_context_manager_stores_the_region_with_carbon() -> None:
    with wattwise.measure("region", intensity_g_per_kwh=400) as m:
        sum(range(2 * 10**6))
    result = m.result
    assert result is not None and result.energy_j > 0 and result.estimated
    assert result.co2e_g == pytest.approx(result.energy_j / 3.6e6 * 400)
    assert "fixed" in (result.intensity_source or "")
    stored = RunStore().get_run(m.run_id or -1)
    assert stored.energy_j == pytest.approx(result.energy_j)


def test_decorator_measures_each_call() -> None:
    @wattwise.measured("infer", store=False, intensity_g_per_kwh=100)
    def infer(n: int) -> int:
        return sum(range(n))

    assert infer(10**5) == sum(range(10**5))
    assert infer.last_result.name == "infer"  # type: ignore[attr-defined]
    assert RunStore().count_runs() == 0


def test_static_zone_table_gives_a_sourced_figure() -> None:
    with wattwise.measure("zone", zone="FR", store=False) as m:
        pass
    assert m.result is not None and "FR" in (m.result.intensity_source or "")
