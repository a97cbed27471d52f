"""Fixtures for the scheduler: real carbon and job slices, small clusters."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import shared_file
from wattwise.schedule.model import Cluster, JobBatch, NodeGroup
from wattwise.units import TimeSeries


def hourly(values: list[float] | np.ndarray, start_s: float = 1_672_531_200.0) -> TimeSeries:
    v = np.asarray(values, dtype=np.float64)
    return TimeSeries(start_s + 3600.0 * np.arange(len(v)), v, "gCO2e/kWh", 3600.0)


def perfect(values: np.ndarray, horizon: int) -> np.ndarray:
    """A forecaster that knows the future (for tests of the machinery, not of skill)."""
    n = len(values)
    idx = np.minimum(np.arange(n)[:, None] + np.arange(horizon)[None, :], n - 1)
    return values[idx]


def batch(
    arrival: list[float], length: list[float], cpus: list[int], slack_h: float = 24.0
) -> JobBatch:
    a = np.asarray(arrival, dtype=np.float64)
    n = np.asarray(length, dtype=np.float64)
    return JobBatch(
        job_id=np.arange(len(a), dtype=np.int64),
        arrival_h=a,
        length_h=n,
        cpus=np.asarray(cpus, dtype=np.int64),
        gpus=np.zeros(len(a), np.int64),
        deadline_h=a + slack_h + n,
        length_upper_h=n.copy(),
        interruptible=np.zeros(len(a), np.bool_),
        priority=np.zeros(len(a), np.int64),
        line=np.arange(2, len(a) + 2, dtype=np.int64),
    )


def two_groups(solar_w: float = 0.0) -> Cluster:
    return Cluster(
        groups=(
            NodeGroup("old", count=1, cpus=8, idle_w=0.0, active_w_per_cpu=20.0, speed=0.5),
            NodeGroup(
                "new",
                count=1,
                cpus=8,
                idle_w=0.0,
                active_w_per_cpu=10.0,
                speed=1.0,
                solar_peak_w=solar_w,
                solar_latitude_deg=0.0,
                solar_longitude_deg=0.0,
            ),
        )
    )


@pytest.fixture(scope="session")
def de_values() -> np.ndarray:
    from wattwise.grid import load_intensity

    return np.asarray(load_intensity(shared_file("carbon", "DE-LU_2023_hourly.csv")).values)
