"""The capacity-limited bound: LP relaxation, exact MILP, and replaying its schedule."""

from __future__ import annotations

import numpy as np
import pytest

from tests.schedule.conftest import batch, hourly, perfect, two_groups
from wattwise.errors import OptimizeError
from wattwise.schedule.model import Cluster, NodeGroup
from wattwise.schedule.oracle import oracle_lp
from wattwise.schedule.policies import POLICIES, make_policy
from wattwise.schedule.policies.replay import Replay
from wattwise.schedule.signals import Signals, build_signals
from wattwise.schedule.simulator import simulate


def signals(cluster: Cluster, values: np.ndarray, hours: int) -> Signals:
    return build_signals(cluster, {"Z": hourly(values)}, hours, 40, perfect, accounting_margin_h=48)


def knapsack() -> tuple[Cluster, Signals]:
    """Three cores, a clean first hour (100 g/kWh) and dirty ones after (300)."""
    cl = Cluster(groups=(NodeGroup("g", count=1, cpus=3, idle_w=0.0, active_w_per_cpu=10.0),))
    v = np.full(24 * 4, 300.0)
    v[0] = 100.0
    return cl, signals(cl, v, 4)


def test_lp_splits_a_job_that_the_milp_must_run_whole() -> None:
    # Two 2-core one-hour jobs that must start by hour 1: only one fits the clean hour.
    # The LP runs one and a half of them there; a real schedule runs one.
    cl, s = knapsack()
    jobs = batch([0.0, 0.0], [1.0, 1.0], [2, 2], slack_h=1.0)
    lp = oracle_lp(jobs, cl, s, 4)
    milp = oracle_lp(jobs, cl, s, 4, whole_jobs=True)
    watt_h = 2 * 10.0  # 2 cores x 10 W for one hour, per job
    assert lp.co2e_kg == pytest.approx((1.5 * watt_h * 100 + 0.5 * watt_h * 300) / 1e6)
    assert milp.co2e_kg == pytest.approx((watt_h * 100 + watt_h * 300) / 1e6)
    assert milp.schedule_co2e_kg == pytest.approx(milp.co2e_kg)
    assert milp.optimal
    assert sorted(milp.start_h.tolist()) == [0.0, 1.0]


def test_the_milp_schedule_replayed_costs_what_the_milp_says() -> None:
    cl, s = knapsack()
    jobs = batch([0.0, 0.0], [1.0, 1.0], [2, 2], slack_h=1.0)
    milp = oracle_lp(jobs, cl, s, 4, whole_jobs=True)
    r = simulate(jobs, cl, s, Replay(jobs.job_id, milp.start_h, milp.group), until_h=4)
    assert r.start_h.tolist() == milp.start_h.tolist()
    assert r.metrics.co2e_kg == pytest.approx(milp.schedule_co2e_kg)
    assert r.metrics.deadline_misses == 0


def test_milp_bound_lies_between_the_lp_and_every_policy() -> None:
    cl = two_groups()
    rng = np.random.default_rng(5)
    arr = np.sort(rng.uniform(0, 48, 60))
    jobs = batch(arr.tolist(), rng.uniform(0.2, 4, 60).tolist(), rng.integers(1, 5, 60).tolist())
    v = np.full(24 * 6, 400.0)
    for d in range(6):
        v[d * 24 + 14 : d * 24 + 17] = 100.0
    s = signals(cl, v, 90)
    until = int(np.ceil(jobs.deadline_h.max() / 0.5)) + 2
    lp = oracle_lp(jobs, cl, s, until)
    # Solved to optimality or not, what HiGHS proves lies below what it found.
    milp = oracle_lp(jobs, cl, s, until, whole_jobs=True, time_limit_s=5.0, mip_rel_gap=1e-2)
    assert milp.schedule_co2e_kg is not None
    assert lp.co2e_kg <= milp.co2e_kg + 1e-9 <= milp.schedule_co2e_kg + 2e-9
    # Every job has exactly one start inside its window, on a group it fits.
    assert np.all(milp.group >= 0)
    assert np.all(milp.start_h >= jobs.arrival_h - 1e-9)
    speed = np.array([g.speed for g in cl.groups])[milp.group]
    latest = np.maximum(jobs.arrival_h, jobs.deadline_h - jobs.length_upper_h / speed)
    assert np.all(milp.start_h <= latest + 1e-9)
    for name in POLICIES:
        r = simulate(jobs, cl, s, make_policy(name), until_h=until)
        assert milp.co2e_kg <= r.metrics.co2e_kg + 1e-6, name


def test_jobs_that_cannot_all_meet_their_deadlines_get_a_plan_at_a_price() -> None:
    cl, s = knapsack()
    # Four 2-core jobs due within two hours on three cores: no schedule meets them all.
    jobs = batch([0.0] * 4, [1.0] * 4, [2] * 4, slack_h=1.0)
    with pytest.raises(OptimizeError, match="Infeasible"):
        oracle_lp(jobs, cl, s, 4)
    priced = oracle_lp(jobs, cl, s, 4, overflow_kg_per_core_h=1.0)
    assert np.all(priced.group == 0)


def test_cores_already_busy_are_not_offered_again() -> None:
    cl, s = knapsack()
    jobs = batch([0.0], [1.0], [2], slack_h=1.0)
    busy = np.zeros((1, 4))
    busy[0, 0] = 2.0  # a running job holds two of the three cores in hour 0
    r = oracle_lp(jobs, cl, s, 4, whole_jobs=True, busy_cpus=busy)
    assert r.start_h.tolist() == [1.0]


def test_finer_capacity_slots_stop_jobs_sharing_an_hour_one_after_another() -> None:
    # Two 2-core half-hour jobs on two cores, both able to start at 0 or 1. Counted per
    # hour, both fit the clean hour 0 (two core-hours); counted per half hour, they
    # would overlap in the first half, so one must wait for the dirty hour 1.
    _, s = knapsack()  # its clean first hour
    cl = Cluster(groups=(NodeGroup("g", count=1, cpus=2, idle_w=0.0, active_w_per_cpu=10.0),))
    jobs = batch([0.0, 0.0], [0.5, 0.5], [2, 2], slack_h=1.0)
    watt_h = 2 * 10.0 * 0.5  # per job
    hourly = oracle_lp(jobs, cl, s, 4)
    halves = oracle_lp(jobs, cl, s, 4, slots_per_hour=2)
    assert hourly.co2e_kg == pytest.approx(2 * watt_h * 100 / 1e6)
    assert halves.co2e_kg == pytest.approx((watt_h * 100 + watt_h * 300) / 1e6)
