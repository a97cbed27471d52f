"""The one CO₂e of an energy timeline, for `wattwise measure` and for engine jobs."""

from __future__ import annotations

import numpy as np
import pytest

from wattwise.carbon import timeline_co2e_g, with_carbon
from wattwise.engine.carbon import job_co2e_g
from wattwise.engine.node_meter import JobEnergy
from wattwise.grid.provider import FixedProvider, TraceProvider
from wattwise.meter.types import DeviceEnergy, Measurement, PowerSample
from wattwise.units import TimeSeries

HOUR = 3600.0
T0 = 1_700_000_000.0 - (1_700_000_000.0 % HOUR)
KWH = 3.6e6


def _device(energy_j: float) -> tuple[DeviceEnergy, ...]:
    return (DeviceEnergy("rapl:package-0", "cpu", "rapl", False, energy_j),)


def _both(
    start: float, end: float, samples: tuple[PowerSample, ...], total_j: float, series: TimeSeries
) -> tuple[float, float]:
    """gCO₂e through `wattwise measure`'s path and through the engine's job path."""
    provider = TraceProvider(trace=series, path="test-trace")
    m = with_carbon(Measurement("m", start, end, _device(total_j), samples), provider)
    job, _ = job_co2e_g(JobEnergy("k", start, end, 1.0, _device(total_j), samples), provider)
    assert m.co2e_g is not None
    return m.co2e_g, job


def test_each_hour_uses_its_own_intensity() -> None:
    # 2 h run at a constant 1 kW: 1 kWh in an hour at 100 g, then 1 kWh at 300 g.
    timeline = tuple(
        PowerSample(t_s=T0 + (i + 1) * 600.0, power_w=1000.0, energy_j=600.0 * 1000.0)
        for i in range(12)
    )
    m = Measurement("two-hours", T0, T0 + 2 * HOUR, _device(7.2e6), timeline)
    series = TimeSeries(np.array([T0, T0 + HOUR]), np.array([100.0, 300.0]), "gCO2e/kWh", HOUR)
    assert timeline_co2e_g(m, series) == pytest.approx(400.0)
    assert _both(T0, T0 + 2 * HOUR, timeline, 7.2e6, series) == pytest.approx((400.0, 400.0))


def test_a_sample_straddling_a_step_is_charged_each_side_by_its_share() -> None:
    # One 1 kWh sample over [T0, T0+20 min]; the intensity steps 100 -> 300 at +15 min.
    # Exact: 3/4 of it at 100 g and 1/4 at 300 g = 150 g. The old `measure` path used
    # the interval's midpoint (100 g), the old engine path its end instant (300 g).
    series = TimeSeries(np.array([T0, T0 + 900.0]), np.array([100.0, 300.0]), "gCO2e/kWh", 900.0)
    samples = (PowerSample(t_s=T0 + 1200.0, power_w=KWH / 1200.0, energy_j=KWH),)
    measure_g, engine_g = _both(T0, T0 + 1200.0, samples, KWH, series)
    assert measure_g == pytest.approx(150.0)
    assert engine_g == pytest.approx(150.0)


def test_a_sample_is_charged_over_its_own_interval_not_at_its_end() -> None:
    # Two 10-minute samples, the step at the first one's end: 1 kWh at 100 g + 1 kWh at
    # 300 g. The old engine path charged the first at its end instant's 300 g.
    series = TimeSeries(np.array([T0, T0 + 600.0]), np.array([100.0, 300.0]), "gCO2e/kWh", 600.0)
    samples = tuple(
        PowerSample(t_s=T0 + k * 600.0, power_w=KWH / 600.0, energy_j=KWH) for k in (1, 2)
    )
    assert _both(T0, T0 + 1200.0, samples, 2 * KWH, series) == pytest.approx((400.0, 400.0))


def test_energy_outside_the_samples_is_spread_over_the_run() -> None:
    # Samples place 1 kWh in the first 10 min (100 g); 1 kWh more is in the total only:
    # it is charged at the run's mean intensity (200 g), not at its start (100 g) and
    # not by rescaling the samples (which would give 2 kWh at 100 g).
    series = TimeSeries(np.array([T0, T0 + 600.0]), np.array([100.0, 300.0]), "gCO2e/kWh", 600.0)
    samples = (PowerSample(t_s=T0 + 600.0, power_w=KWH / 600.0, energy_j=KWH),)
    assert _both(T0, T0 + 1200.0, samples, 2 * KWH, series) == pytest.approx((300.0, 300.0))


def test_without_timeline_the_energy_is_spread_over_the_run() -> None:
    m = Measurement("short", 10.0, 20.0, _device(KWH))
    series = TimeSeries(np.array([0.0, 15.0]), np.array([50.0, 200.0]), "gCO2e/kWh", 15.0)
    assert timeline_co2e_g(m, series) == pytest.approx(125.0)  # half at 50 g, half at 200 g


def test_a_sample_gap_does_not_stretch_the_next_interval() -> None:
    # The engine's job timeline may skip intervals: a sample's interval is its
    # energy / power (10 min), not "since the previous sample" (an hour).
    series = TimeSeries(np.array([T0, T0 + 3000.0]), np.array([100.0, 300.0]), "gCO2e/kWh", 600.0)
    samples = (
        PowerSample(t_s=T0 + 600.0, power_w=KWH / 600.0, energy_j=KWH),
        PowerSample(t_s=T0 + 3600.0, power_w=KWH / 600.0, energy_j=KWH),
    )
    got = timeline_co2e_g(Measurement("gap", T0, T0 + 3600.0, _device(2 * KWH), samples), series)
    assert got == pytest.approx(400.0)


def test_a_constant_provider_gives_the_flat_product() -> None:
    samples = (PowerSample(t_s=T0 + 600.0, power_w=KWH / 600.0, energy_j=KWH),)
    m = with_carbon(Measurement("m", T0, T0 + 600.0, _device(KWH), samples), FixedProvider(42.0))
    assert m.co2e_g == pytest.approx(42.0)
    assert m.intensity_source is not None and "fixed 42" in m.intensity_source
