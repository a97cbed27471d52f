"""The engine's scheduling core decides as the simulator does: the first 120 jobs of
the real pai_1k trace on the two-group parity cluster (Xeon at speed 0.7), the real
DE-LU 2023 trace from June, replayed through ``engine.virtual`` (the head's
``Scheduler``, tasks starting the instant they are dispatched) and through
``schedule.simulate``. Every difference left between ``wattwise serve`` and the
simulator is then the cost of running real processes (``bench/engine_parity.py``)."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime

import numpy as np
import pytest

from tests.conftest import REPO_ROOT, shared_file
from wattwise.engine.virtual import replay
from wattwise.schedule.cluster import load_cluster
from wattwise.schedule.metrics import Pieces, compute_metrics
from wattwise.schedule.policies import make_policy
from wattwise.schedule.scenario import Scenario, build_scenario, load_carbon, start_hour
from wattwise.schedule.simulator import simulate
from wattwise.schedule.traces import read_job_trace


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    jobs = read_job_trace(shared_file("jobs", "pai_1k.csv"), time_unit="s", slack_h=24.0)
    jobs = jobs.subset(np.arange(120))
    carbon = load_carbon([shared_file("carbon", "DE-LU_2023_hourly.csv")])
    zone = next(iter(carbon))
    cluster = load_cluster(REPO_ROOT / "examples" / "clusters" / "parity-two-groups.yaml")
    groups = tuple(dataclasses.replace(g, zone=zone) for g in cluster.groups)
    cluster = dataclasses.replace(cluster, groups=groups)
    first = start_hour(carbon, datetime(2023, 6, 1, tzinfo=UTC).timestamp())
    return build_scenario(jobs, carbon, cluster, wrap=True, start_h=first)


def _jobs_carbon_kg(scn: Scenario, start_h: np.ndarray, end_h: np.ndarray, group: np.ndarray,
                    until_h: int) -> float:  # fmt: skip
    """The simulator's accounting of a schedule on the true trace, idle power left out."""
    jobs = scn.jobs
    rows = np.arange(len(jobs))
    cluster = dataclasses.replace(
        scn.cluster, groups=tuple(dataclasses.replace(g, idle_w=0.0) for g in scn.cluster.groups)
    )
    w_cpu = np.array([g.active_w_per_cpu for g in cluster.groups])
    pieces = Pieces(rows, group, start_h, end_h, jobs.cpus * w_cpu[group], jobs.cpus)
    metrics = compute_metrics(pieces, cluster, scn.signals, jobs.arrival_h, start_h, end_h,
                              jobs.deadline_h, jobs.cpus * jobs.length_h,
                              np.zeros(len(jobs), np.bool_), until_h=until_h)  # fmt: skip
    return metrics.co2e_kg


@pytest.mark.parametrize("name", ["fifo", "lowest-window", "wattwise"])
def test_the_schedulers_plans_match_the_simulators(scenario: Scenario, name: str) -> None:
    scn = scenario
    sim = simulate(scn.jobs, scn.cluster, scn.signals, make_policy(name))
    run = replay(scn.jobs, scn.cluster, scn.signals, make_policy(name), step_h=0.01)
    assert not np.isnan(run.start_h).any()  # every job ran
    until = math.ceil(max(np.nanmax(run.end_h), np.nanmax(sim.end_h))) + 1
    kg_sim = _jobs_carbon_kg(scn, sim.start_h, sim.end_h, sim.group, until)
    kg_core = _jobs_carbon_kg(scn, run.start_h, run.end_h, run.group, until)
    assert abs(kg_core / kg_sim - 1.0) < 0.02, (kg_core, kg_sim)
    # Most jobs start within one virtual step of the simulator, on the same group.
    shift = np.abs(run.start_h - sim.start_h)
    assert np.median(shift) <= 0.02
    assert np.mean(run.group == sim.group) >= 0.9
