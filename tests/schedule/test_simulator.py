from __future__ import annotations

import numpy as np
import pytest

from tests.schedule.conftest import batch, hourly, perfect, two_groups
from wattwise.errors import CoverageError, DataFormatError
from wattwise.schedule.model import Cluster, NodeGroup, default_cluster
from wattwise.schedule.oracle import oracle_lp, oracle_unlimited
from wattwise.schedule.policies import POLICIES, make_policy
from wattwise.schedule.signals import Signals, build_signals, perfect_foresight
from wattwise.schedule.simulator import oversize, simulate
from wattwise.units import TimeSeries


def valley(n: int = 24 * 6) -> np.ndarray:
    """High intensity except a clean hour-range every afternoon (14:00-17:00)."""
    v = np.full(n, 400.0)
    for d in range(n // 24):
        v[d * 24 + 14 : d * 24 + 17] = 100.0
    return v


def sig(
    cluster: Cluster,
    values: np.ndarray,
    jobs_needed: int,
    pv: dict[str, TimeSeries] | None = None,
    wrap: bool = False,
    horizon: int = 40,
) -> Signals:
    return build_signals(
        cluster,
        {"Z": hourly(values)},
        jobs_needed,
        horizon,
        perfect,
        pv_by_group=pv,
        wrap=wrap,
        accounting_margin_h=48,
    )


def test_fifo_carbon_is_the_exact_integral() -> None:
    cl = default_cluster()
    v = valley()
    jobs = batch([1.5, 3.25], [2.0, 0.5], [2, 4])
    s = sig(cl, v, 60)
    res = simulate(jobs, cl, s, make_policy("fifo"))
    w = cl.groups[0].active_w_per_cpu
    # 400 g/kWh everywhere these jobs run.
    expect = (2 * w * 2.0 + 4 * w * 0.5) / 1000 * 400 / 1000
    assert res.metrics.co2e_kg == pytest.approx(expect)
    assert res.metrics.deadline_misses == 0
    assert res.metrics.mean_wait_h == 0


@pytest.mark.parametrize("name", ["lowest-start", "lowest-window", "gaia-cst", "wattwise"])
def test_carbon_aware_policies_wait_for_the_clean_hours(name: str) -> None:
    cl = default_cluster()
    jobs = batch([2.0, 5.5], [1.0, 2.0], [1, 1])
    s = sig(cl, valley(), 60)
    res = simulate(jobs, cl, s, make_policy(name))
    fifo = simulate(jobs, cl, s, make_policy("fifo"))
    assert np.all(res.start_h >= jobs.arrival_h)
    assert np.all(res.start_h <= jobs.deadline_h - jobs.length_h + 1e-9)
    assert np.all((res.start_h >= 14) & (res.end_h <= 17 + 1e-9))
    assert res.metrics.co2e_kg < 0.3 * fifo.metrics.co2e_kg


def test_every_policy_respects_arrival_and_deadline_on_real_carbon(de_values: np.ndarray) -> None:
    cl = default_cluster()
    rng = np.random.default_rng(1)
    arr = np.sort(rng.uniform(0, 400, 300))
    jobs = batch(arr.tolist(), rng.uniform(0.1, 30, 300).tolist(), rng.integers(1, 9, 300).tolist())
    from wattwise.schedule.scenario import forecaster

    s = build_signals(cl, {"DE": hourly(de_values)}, 500, 60, forecaster, accounting_margin_h=24)
    oracle_s, _ = oracle_unlimited(jobs, cl, s)
    for name in POLICIES:
        r = simulate(jobs, cl, s, make_policy(name))
        assert np.all(r.start_h >= jobs.arrival_h - 1e-9), name
        assert r.metrics.deadline_misses == 0, name
    # The oracle with perfect knowledge is a lower bound for every online policy.
    from wattwise.schedule.metrics import Pieces, compute_metrics

    w = jobs.cpus * cl.groups[0].active_w_per_cpu
    end = oracle_s + jobs.length_h
    m = compute_metrics(
        Pieces(np.arange(300), np.zeros(300, np.int64), oracle_s, end, w, jobs.cpus),
        cl,
        s,
        jobs.arrival_h,
        oracle_s,
        end,
        jobs.deadline_h,
        jobs.cpus * jobs.length_h,
        np.zeros(300, np.bool_),
    )
    for name in POLICIES:
        r = simulate(jobs, cl, s, make_policy(name))
        assert m.co2e_kg <= r.metrics.co2e_kg + 1e-9, name


def test_with_perfect_foresight_wattwise_reaches_the_unlimited_oracle(
    de_values: np.ndarray,
) -> None:
    """The unlimited-capacity gap to the oracle is forecast error, not the policy's."""
    from wattwise.schedule.scenario import Scenario, forecaster, oracle_metrics

    cl = default_cluster()
    rng = np.random.default_rng(5)
    arr = np.sort(rng.uniform(0, 400, 300))
    jobs = batch(arr.tolist(), rng.uniform(0.1, 20, 300).tolist(), rng.integers(1, 9, 300).tolist())
    s = build_signals(cl, {"DE": hourly(de_values)}, 500, 60, forecaster, accounting_margin_h=24)
    bound = oracle_metrics(Scenario(jobs, cl, s, "DE")).co2e_kg
    forecast_run = simulate(jobs, cl, s, make_policy("wattwise")).metrics.co2e_kg
    perfect_run = simulate(jobs, cl, perfect_foresight(s), make_policy("wattwise")).metrics.co2e_kg
    assert perfect_run == pytest.approx(bound, rel=1e-6)
    assert forecast_run > bound * 1.01  # real forecasts on Germany cost carbon
    assert perfect_foresight(s).intensity is s.intensity  # accounting is untouched


def test_simulation_is_deterministic() -> None:
    cl = two_groups()
    rng = np.random.default_rng(3)
    arr = np.sort(rng.uniform(0, 80, 200))
    jobs = batch(arr.tolist(), rng.uniform(0.2, 6, 200).tolist(), rng.integers(1, 5, 200).tolist())
    s = sig(cl, valley(), 120)
    a = simulate(jobs, cl, s, make_policy("wattwise"))
    b = simulate(jobs, cl, s, make_policy("wattwise"))
    assert np.array_equal(a.start_h, b.start_h)
    assert a.metrics == b.metrics


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_capacity_is_never_exceeded(name: str) -> None:
    cl = two_groups()
    rng = np.random.default_rng(7)
    arr = np.sort(rng.uniform(0, 60, 120))
    jobs = batch(arr.tolist(), rng.uniform(0.2, 3, 120).tolist(), rng.integers(1, 5, 120).tolist())
    s = sig(cl, valley(), 110, horizon=40, wrap=True)
    r = simulate(jobs, cl, s, make_policy(name))
    p = r.pieces
    assert p is not None
    for g, grp in enumerate(cl.groups):
        sel = p.group == g
        events = sorted(
            [(t, c) for t, c in zip(p.start_h[sel], p.cpus[sel], strict=True)]
            + [(t, -c) for t, c in zip(p.end_h[sel], p.cpus[sel], strict=True)],
            key=lambda x: (x[0], x[1]),
        )
        busy = peak = 0
        for _, c in events:
            busy += c
            peak = max(peak, busy)
        assert peak <= grp.total_cpus, (name, grp.name, peak)
    assert 0 < (r.metrics.utilisation or 0) <= 1


def test_wattwise_prefers_the_efficient_group_and_solar() -> None:
    flat = np.full(24 * 6, 300.0)
    pv_values = np.zeros(24 * 6)
    for d in range(6):
        pv_values[d * 24 + 10 : d * 24 + 14] = 200.0  # W, enough for 20 busy cores x 10 W
    cl = two_groups(solar_w=200.0)
    pv = {"new": TimeSeries(hourly(pv_values).times_s, pv_values, "W", 3600.0)}
    jobs = batch([1.0, 2.0, 3.0], [1.0, 1.0, 1.0], [2, 2, 2])
    s = sig(cl, flat, 60, pv=pv)
    r = simulate(jobs, cl, s, make_policy("wattwise"))
    assert np.all(r.group == 1)  # the efficient group, which has the PV
    assert np.all((r.start_h >= 10) & (r.end_h <= 14 + 1e-9))  # in the sun
    assert r.metrics.co2e_kg == pytest.approx(0.0, abs=1e-9)
    assert r.metrics.solar_self_consumption is not None
    fifo = simulate(jobs, cl, s, make_policy("fifo"))
    assert fifo.metrics.co2e_kg > 0


def test_lp_bound_is_below_every_policy_with_capacity() -> None:
    cl = two_groups()
    rng = np.random.default_rng(5)
    arr = np.sort(rng.uniform(0, 48, 60))
    jobs = batch(arr.tolist(), rng.uniform(0.2, 4, 60).tolist(), rng.integers(1, 5, 60).tolist())
    s = sig(cl, valley(), 90, horizon=40)
    until = int(np.ceil(jobs.deadline_h.max() / 0.5)) + 2
    bound = oracle_lp(jobs, cl, s, until)
    for name in POLICIES:
        r = simulate(jobs, cl, s, make_policy(name), until_h=until)
        assert bound.co2e_kg <= r.metrics.co2e_kg + 1e-6, name


def test_job_larger_than_any_node_group_is_rejected_with_the_reason() -> None:
    cl = two_groups()
    jobs = batch([0.0, 1.0], [1.0, 1.0], [2, 64])
    bad, reasons = oversize(jobs, cl)
    assert bad.tolist() == [False, True]
    assert "job 1 (line 3) needs 64 CPUs" in reasons[0]
    assert "largest node group offers 8 CPUs" in reasons[0]
    r = simulate(jobs, cl, sig(cl, valley(), 40), make_policy("fifo"))
    assert r.metrics.rejected == 1 and r.metrics.jobs == 1


def test_carbon_that_does_not_cover_the_period() -> None:
    cl = default_cluster()
    with pytest.raises(CoverageError, match="covers 48 h but the simulation needs 100 h"):
        build_signals(cl, {"Z": hourly(np.full(48, 100.0))}, 100, 24, perfect)
    # --wrap repeats the data instead, and says so.
    s = build_signals(cl, {"Z": hourly(np.full(48, 100.0))}, 100, 24, perfect, wrap=True)
    assert s.wrapped and s.n_hours >= 124


def test_non_hourly_or_gappy_carbon_is_refused() -> None:
    cl = default_cluster()
    t = np.arange(10) * 900.0
    with pytest.raises(DataFormatError, match="hourly"):
        build_signals(cl, {"Z": TimeSeries(t, np.ones(10), "g", 900.0)}, 2, 2, perfect)
    v = np.ones(10)
    v[3] = np.nan
    with pytest.raises(DataFormatError, match="non-finite"):
        build_signals(cl, {"Z": hourly(v)}, 2, 2, perfect)


def test_group_in_a_zone_without_carbon() -> None:
    cl = Cluster(groups=(NodeGroup("a", 1, 4, zone="FR"),))
    with pytest.raises(CoverageError, match="zone 'FR'"):
        build_signals(cl, {"DE": hourly(np.ones(50))}, 10, 5, perfect)


def test_threshold_suspends_and_resumes_interruptible_jobs() -> None:
    cl = default_cluster()
    jobs = batch([0.0], [3.0], [1])
    jobs.interruptible[:] = True
    v = np.full(24 * 3, 400.0)
    v[[3, 6, 9, 12, 15, 18, 20, 21, 22]] = 50.0  # a third of the hours are clean, apart
    s = sig(cl, v, 40)
    r = simulate(jobs, cl, s, make_policy("threshold"))
    p = r.pieces
    assert p is not None and len(p.start_h) == 3
    assert sorted(np.floor(p.start_h).tolist()) == [3.0, 6.0, 9.0]
    assert r.metrics.deadline_misses == 0


def test_latest_safe_start_uses_the_upper_quantile_and_speed() -> None:
    from wattwise.errors import ConfigError
    from wattwise.schedule import Job, latest_safe_start

    job = Job(job_id=1, arrival_h=2.0, length_h=2.0, cpus=4, deadline_h=30.0)
    assert latest_safe_start(job, 3.0) == 27.0
    assert latest_safe_start(job, 3.0, speed=0.5) == 24.0
    assert latest_safe_start(job, 100.0) == 2.0  # never before arrival
    with pytest.raises(ConfigError):
        latest_safe_start(job, 3.0, speed=0.0)


def test_an_accounting_period_past_the_signal_names_its_hours() -> None:
    # The message used to give the jobs' last hour although the accounting period,
    # not the jobs, ran past the data.
    cl = two_groups()
    s = sig(cl, valley(), 60)
    jobs = batch([1.0], [2.0], [2])
    with pytest.raises(CoverageError) as err:
        simulate(jobs, cl, s, make_policy("fifo"), until_h=s.n_hours + 10)
    message = str(err.value)
    assert f"accounting period of {s.n_hours + 10} h" in message
    assert f"{s.n_hours} h the carbon signal covers" in message
    assert "jobs run until hour 5" in message  # on the half-speed group
