"""The simulator's dispatcher under limited capacity: backfilling with reservations."""

from __future__ import annotations

import numpy as np

from tests.schedule.conftest import batch, hourly, perfect
from wattwise.schedule.model import Cluster, NodeGroup
from wattwise.schedule.policies import make_policy
from wattwise.schedule.signals import build_signals
from wattwise.schedule.simulator import simulate


def one_group(cpus: int = 8) -> Cluster:
    return Cluster(groups=(NodeGroup("g", count=1, cpus=cpus, idle_w=0.0, active_w_per_cpu=10.0),))


def stream_and_wide() -> tuple[Cluster, object, object]:
    """Two-core jobs of 1 h arriving every 15 min for 30 h keep the 8-core group from
    ever being empty; one 8-core job arrives at 0.1 h behind the first of them."""
    cl = one_group()
    small = np.arange(0.0, 30.0, 0.25)
    arrival = [*small[:1], 0.1, *small[1:]]
    length = [1.0, 2.0] + [1.0] * (len(small) - 1)
    cpus = [2, 8] + [2] * (len(small) - 1)
    jobs = batch(arrival, length, cpus, slack_h=6.0)
    sig = build_signals(
        cl, {"Z": hourly(np.full(24 * 4, 300.0))}, 60, 12, perfect, accounting_margin_h=48
    )
    return cl, jobs, sig


def test_without_reservations_small_jobs_starve_a_wide_one() -> None:
    cl, jobs, sig = stream_and_wide()
    res = simulate(jobs, cl, sig, make_policy("fifo"))  # type: ignore[arg-type]
    wide = 1
    # The wide job only starts once the stream has dried up, far past its deadline.
    assert res.start_h[wide] >= 29.0
    assert res.metrics.deadline_misses >= 1


def test_a_reservation_lets_the_wide_job_start_when_the_running_jobs_drain() -> None:
    cl, jobs, sig = stream_and_wide()
    policy = make_policy("fifo")
    policy.reservations = True  # type: ignore[attr-defined]
    res = simulate(jobs, cl, sig, policy)  # type: ignore[arg-type]
    wide = 1
    # The 2-core jobs running at 0.1 h end within an hour; nothing new may start in
    # their place unless it ends first, so the 8-core job starts by hour 1.25.
    assert res.start_h[wide] <= 1.25 + 1e-9
    assert res.end_h[wide] <= jobs.deadline_h[wide]  # type: ignore[attr-defined]
    assert res.metrics.deadline_misses == 0
    # Capacity is never exceeded: at every start, running cores <= 8.
    starts, ends, c = res.start_h, res.end_h, jobs.cpus  # type: ignore[attr-defined]
    for t in starts:
        assert c[(starts <= t + 1e-9) & (ends > t + 1e-9)].sum() <= 8


def test_backfill_that_ends_before_the_reservation_still_runs() -> None:
    cl = one_group()
    # 0: 6 cores for 2 h; 1: 8 cores (must wait for 0); 2: 2 cores for 1 h fits in the
    # hole and ends before job 0 does; 3: 2 cores for 5 h would delay job 1.
    jobs = batch([0.0, 0.1, 0.2, 0.3], [2.0, 1.0, 1.0, 5.0], [6, 8, 2, 2])
    sig = build_signals(
        cl, {"Z": hourly(np.full(24 * 3, 300.0))}, 40, 12, perfect, accounting_margin_h=48
    )
    policy = make_policy("fifo")
    policy.reservations = True  # type: ignore[attr-defined]
    res = simulate(jobs, cl, sig, policy)
    assert res.start_h[2] == 0.2  # backfilled at once
    assert res.start_h[1] == 2.0  # when job 0 ends, not after job 3
    assert res.start_h[3] >= 3.0  # waited behind the reservation


def test_wattwise_backfills_with_reservations() -> None:
    assert make_policy("wattwise").reservations is True  # type: ignore[attr-defined]


def test_wattwise_queues_for_the_efficient_group_instead_of_spilling() -> None:
    """A burst three times what the efficient group holds, on a flat grid: with a day of
    slack, waiting a few hours for it beats running on the slow, hungry group now."""
    from tests.schedule.conftest import two_groups

    cl = two_groups()  # "old": 20 W/core at half speed; "new": 10 W/core
    arrival = [i * 0.125 for i in range(24)]  # 24 two-core, one-hour jobs in 3 h
    jobs = batch(arrival, [1.0] * 24, [2] * 24)
    sig = build_signals(
        cl, {"Z": hourly(np.full(24 * 4, 300.0))}, 60, 40, perfect, accounting_margin_h=48
    )
    fifo = simulate(jobs, cl, sig, make_policy("fifo"))
    ours = simulate(jobs, cl, sig, make_policy("wattwise"))
    assert ours.metrics.deadline_misses == 0
    assert np.all(ours.group == 1)  # all on the efficient group
    assert np.count_nonzero(fifo.group == 0) > 0  # FIFO spilled onto the old one
    assert ours.metrics.energy_kwh < fifo.metrics.energy_kwh
