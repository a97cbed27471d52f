"""The engine's scheduler without Ray: live nodes in, placements and task starts out.

One long-lived ``wattwise.schedule`` policy (state kept across calls, ``started``
called), hours and seconds through ``HourClock``, hourly re-plans, a reset when the
cluster changes, and the simulator's dispatch rules (queue order, guard, reservations).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytest

from wattwise.engine.scheduler import (
    HourClock,
    NodeView,
    PendingJob,
    Scheduler,
    make_engine_policy,
    policy_names,
)
from wattwise.errors import ConfigError
from wattwise.schedule.model import JobBatch
from wattwise.schedule.policies.base import ClusterState, ForecastView, Plan, Policy
from wattwise.schedule.policies.baselines import Fifo, LowestWindow
from wattwise.schedule.policies.wattwise import Wattwise
from wattwise.units import TimeSeries

T0 = 1_700_002_800.0  # a whole hour (epoch s)
H = 3600.0


def _node(node_id: str, cpus: float = 4.0, free: float | None = None, **kw: Any) -> NodeView:
    return NodeView(node_id, node_id, cpus, 0.0, cpus if free is None else free, 0.0, **kw)


def _job(job_id: int, now: float = T0, **kw: Any) -> PendingJob:
    fields: dict[str, Any] = {
        "job_id": job_id,
        "cpus": 1.0,
        "gpus": 0,
        "n_tasks": 1,
        "submitted_s": now,
        "latest_start_s": now,
        "runtime_s": H,
    }
    fields.update(kw)
    return PendingJob(**fields)


def _flat(zone: str | None, start_s: float, end_s: float) -> TimeSeries:
    t = np.arange(start_s, end_s + H, H)
    return TimeSeries(t, np.full(len(t), 300.0), "gCO2e/kWh", H)


class Spy(Wattwise):
    """The wattwise policy, recording what the scheduler asks of it."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, list[int], ForecastView]] = []
        self.starts: list[tuple[int, int, float]] = []
        self.resets = 0

    def reset(self, cluster: Any, n_hours: int) -> None:
        super().reset(cluster, n_hours)
        self.resets += 1

    def plan(
        self, now_h: float, queue: JobBatch, state: ClusterState, forecast: ForecastView
    ) -> Plan:
        self.calls.append((now_h, queue.job_id.tolist(), forecast))
        return super().plan(now_h, queue, state, forecast)

    def started(self, job_id: int, group: int, start_h: float) -> None:
        self.starts.append((job_id, group, start_h))
        super().started(job_id, group, start_h)


def test_the_policy_keeps_its_state_across_arrivals_and_hears_started() -> None:
    policy = Spy()
    sched = Scheduler(policy, _flat, origin_s=T0)
    nodes = [_node("a")]
    slack = {"latest_start_s": T0 + 10 * H}
    sched.plan([_job(1, **slack)], nodes, T0)
    # The head passes every waiting job again at a re-plan: only the new one is offered.
    sched.plan([_job(1, **slack), _job(2, **slack)], nodes, T0 + 60)
    assert [ids for _, ids, _ in policy.calls] == [[1], [2]]
    assert policy.resets == 1
    # The first job's calendar entry survived the second arrival (reset would drop it).
    assert set(policy.planned) == {1, 2} and policy.cpu.sum() == pytest.approx(2.0)
    starts = sched.dispatch(T0 + 120, nodes, {1: 1, 2: 1})
    assert sorted(s.job_id for s in starts) == [1, 2]  # flat forecast: both start now
    assert sorted(j for j, _, _ in policy.starts) == [1, 2]
    assert policy.starts[0][2] == pytest.approx(120 / H)  # start in policy hours
    assert not policy.planned  # the wattwise policy forgets started jobs
    assert policy.cpu.sum() == pytest.approx(2.0)  # ... but keeps their load


def test_hourly_replans_on_the_hour_seam_with_compressed_time() -> None:
    asked: list[tuple[float, float]] = []

    def rising(zone: str | None, start_s: float, end_s: float) -> TimeSeries:
        asked.append((start_s, end_s))
        t = np.arange(start_s, end_s + 1.0, 1.0)
        return TimeSeries(t, t - 1000.0, "gCO2e/kWh", 1.0)

    policy = Spy()
    sched = Scheduler(policy, rising, hour_s=2.0, origin_s=1000.0, horizon_h=4)
    assert sched.clock == HourClock(1000.0, 2.0)
    nodes = [_node("a")]
    sched.plan([_job(1, now=1000.5, runtime_s=4.0, latest_start_s=1010.0)], nodes, 1000.5)
    now_h, ids, view = policy.calls[-1]
    assert now_h == pytest.approx(0.25) and ids == [1] and view.hour == 0
    # One value per policy hour, sampled at each hour's start in wall seconds.
    assert view.intensity[0].tolist() == [0.0, 2.0, 4.0, 6.0]
    assert policy.jobs[1][1] == pytest.approx(2.0)  # a 4 s job is 2 policy hours
    assert not sched.replan_due(1001.9)
    assert sched.replan_due(1002.0)
    sched.plan([], nodes, 1002.0)
    now_h, ids, view = policy.calls[-1]
    assert (now_h, ids, view.hour) == (1.0, [], 1)
    assert view.intensity[0].tolist() == [2.0, 4.0, 6.0, 8.0]
    assert asked[-1][0] == 1002.0
    assert not sched.replan_due(1003.0)
    # The plan's start, in hours, comes back in wall seconds.
    [p] = sched.plan([_job(1, now=1000.5, runtime_s=4.0, latest_start_s=1010.0)], nodes, 1003)
    assert p.start_s == pytest.approx(1000.0 + 2.0 * policy.planned[1][1])


def test_a_node_join_resets_the_policy_and_reoffers_waiting_jobs() -> None:
    policy = Spy()
    sched = Scheduler(policy, _flat, origin_s=T0)
    job = _job(1, latest_start_s=T0 + 10 * H)
    sched.plan([job], [_node("a")], T0)
    sched.plan([job], [_node("a")], T0 + 5)  # same cluster: nothing new
    assert policy.resets == 1 and len(policy.calls) == 1
    placements = sched.plan([job], [_node("a"), _node("b")], T0 + 10)  # b joins group a's
    assert policy.resets == 2 and sched.resets == 2
    assert policy.calls[-1][1] == [1]  # re-offered as an arrival
    assert set(placements[0].node_ids) == {"a", "b"}


class OnGroup(Policy):
    """Plans every job on one group, now."""

    name = "on-group"

    def __init__(self, group: int, guard_h: float = 0.0, order: str = "fifo") -> None:
        self.group, self.guard_h, self.queue_order = group, guard_h, order

    def plan(
        self, now_h: float, queue: JobBatch, state: ClusterState, forecast: ForecastView
    ) -> Plan:
        n = len(queue)
        return Plan(
            queue.job_id.copy(),
            np.full(n, self.group, np.int64),
            np.maximum(queue.arrival_h, now_h),
        )


def test_a_job_waits_for_its_group_until_the_guard_then_moves() -> None:
    sched = Scheduler(OnGroup(0, guard_h=2.0), None, origin_s=T0)
    full = _node("a", cpus=2, free=0, node_type="a")
    other = _node("b", cpus=2, node_type="b")
    job = _job(1, latest_start_s=T0 + 5 * H)
    [p] = sched.plan([job], [full, other], T0)
    assert p.node_ids == ("a",)
    assert sched.dispatch(T0 + 60, [full, other], {1: 1}) == []  # waits for its group
    assert sched.dispatch(T0 + 2.9 * H, [full, other], {1: 1}) == []
    [s] = sched.dispatch(T0 + 3 * H, [full, other], {1: 1})  # guard_h before latest start
    assert s.node_id == "b"


@pytest.mark.parametrize(("order", "first"), [("fifo", 1), ("edf", 2)])
def test_waiting_jobs_start_in_the_policys_queue_order(order: str, first: int) -> None:
    sched = Scheduler(OnGroup(0, order=order), None, origin_s=T0)
    busy = [_node("a", cpus=1, free=0)]
    jobs = [_job(1, latest_start_s=T0 + 8 * H), _job(2, latest_start_s=T0 + 4 * H)]
    sched.plan(jobs, busy, T0)
    assert sched.dispatch(T0 + 1, busy, {1: 1, 2: 1}) == []  # both wait, 1 queued first
    [s] = sched.dispatch(T0 + 2, [_node("a", cpus=1)], {1: 1, 2: 1})
    assert s.job_id == first


def test_easy_reservation_holds_room_for_the_blocked_wide_job() -> None:
    policy = OnGroup(0)
    policy.reservations = True  # type: ignore[attr-defined]
    sched = Scheduler(policy, None, origin_s=T0)
    nodes = [_node("a", cpus=4)]
    sched.plan([_job(1, cpus=2.0, runtime_s=2 * H)], nodes, T0)
    [s] = sched.dispatch(T0, nodes, {1: 1})
    assert s.job_id == 1
    half = [_node("a", cpus=4, free=2)]
    wide = _job(2, cpus=4.0, latest_start_s=T0 + 10 * H)
    long = _job(3, runtime_s=5 * H, latest_start_s=T0 + 10 * H)
    short = _job(4, runtime_s=0.5 * H, latest_start_s=T0 + 10 * H)
    sched.plan([wide, long, short], half, T0 + 1)
    starts = sched.dispatch(T0 + 2, half, {1: 0, 2: 1, 3: 1, 4: 1})
    # The wide job holds the group from job 1's end (2 h): the short job ends before
    # that and backfills; the long one would delay the wide job and waits.
    assert [s.job_id for s in starts] == [4]


def test_no_start_later_than_the_latest_safe_start_and_a_raising_policy_falls_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Late(OnGroup):
        def plan(self, now_h: float, queue: JobBatch, *a: Any) -> Plan:
            out = super().plan(now_h, queue, *a)
            out.start_h = out.start_h + 10.0
            return out

    sched = Scheduler(Late(0), None, origin_s=T0)
    [p] = sched.plan([_job(1, latest_start_s=T0 + 2 * H)], [_node("a")], T0)
    assert p.start_s == T0 + 2 * H

    class Broken(OnGroup):
        calls = 0

        def plan(self, *a: Any) -> Plan:
            self.calls += 1
            raise ZeroDivisionError("float division by zero")

    broken = Broken(0)
    sched = Scheduler(broken, None, origin_s=T0)
    with caplog.at_level(logging.ERROR, logger="wattwise.engine"):
        [p] = sched.plan([_job(1, latest_start_s=T0 + 2 * H)], [_node("a")], T0)
        assert p.start_s == T0 + 2 * H and p.node_ids == ("a",)
        sched.plan([_job(1, latest_start_s=T0 + 2 * H)], [_node("a")], T0 + 1)
    assert broken.calls == 2  # a fallback plan is offered again at the next plan
    errors = [r for r in caplog.records if "policy Broken failed" in r.getMessage()]
    assert len(errors) == 1 and "float division by zero" in errors[0].getMessage()


def test_asap_and_carbon_are_aliases_of_schedule_policies() -> None:
    assert type(make_engine_policy("asap")) is Fifo
    assert type(make_engine_policy("carbon")) is LowestWindow
    assert type(make_engine_policy("wattwise")) is Wattwise
    assert {"asap", "carbon", "fifo", "lowest-window", "wattwise"} <= set(policy_names())
    with pytest.raises(ConfigError, match="unknown policy 'nope'"):
        make_engine_policy("nope")


def test_carbon_picks_the_cleanest_window_and_zone() -> None:
    def forecast(zone: str | None, start_s: float, end_s: float) -> TimeSeries:
        t = np.arange(start_s, end_s + H, H)
        base = 300.0 if zone == "DE" else 100.0
        return TimeSeries(t, np.where(t < T0 + 4 * H, base, base / 10), "gCO2e/kWh", H)

    sched = Scheduler(make_engine_policy("carbon"), forecast, origin_s=T0)
    nodes = [_node("de", zone="DE"), _node("fr", zone="FR")]
    placements = sched.plan(
        [_job(1, latest_start_s=T0 + 10 * H), _job(2, latest_start_s=T0 + 10 * H, zone="DE")],
        nodes,
        T0,
    )
    by_id = {p.job_id: p for p in placements}
    assert by_id[1].node_ids == ("fr",) and by_id[1].start_s == T0 + 4 * H
    assert by_id[2].node_ids == ("de",)  # held to its zone
    [s] = sched.dispatch(T0 + 4 * H, nodes, {1: 1, 2: 0})
    assert s.node_id == "fr"


def test_jobs_no_node_can_take_wait_with_the_reason() -> None:
    sched = Scheduler(make_engine_policy("asap"), None, origin_s=T0)
    [p] = sched.plan([_job(1, cpus=16.0)], [_node("a")], T0)
    assert p.node_ids == () and "no live node offers 16 cpus" in p.reason
    [p] = sched.plan([_job(1, cpus=16.0)], [_node("a"), _node("big", cpus=32)], T0 + 1)
    assert p.node_ids == ("big",) and p.start_s == T0 + 1


def test_the_hour_clock_rejects_a_bad_hour() -> None:
    with pytest.raises(ConfigError, match="hour_s must be a positive"):
        Scheduler(Fifo(), None, hour_s=0.0)
    clock = HourClock.starting(T0 + 1234.0)
    assert clock.origin_s == T0 and clock.to_s(clock.to_h(T0 + 99.0)) == T0 + 99.0


def test_a_cancelled_job_gives_its_planned_room_back() -> None:
    """The wattwise policy's calendar must not keep the hours of a job that left before
    it started, or later jobs are pushed off the clean hours for nothing."""
    policy = Spy()
    sched = Scheduler(policy, _flat, origin_s=T0)
    nodes = [_node("a")]
    slack = {"latest_start_s": T0 + 10 * H, "cpus": 4.0}
    sched.plan([_job(1, **slack)], nodes, T0)
    assert policy.cpu.sum() == pytest.approx(4.0)
    sched.withdraw(1)  # cancelled while waiting
    assert policy.cpu.sum() == pytest.approx(0.0) and not policy.planned
    sched.plan([_job(2, **slack)], nodes, T0 + 60)
    assert set(policy.planned) == {2} and policy.cpu.sum() == pytest.approx(4.0)
    # Dispatch forgets jobs the head no longer holds the same way.
    sched.dispatch(T0 + 120, nodes, {})
    assert policy.cpu.sum() == pytest.approx(0.0)


def test_set_origin_aligns_the_policys_hours_with_a_replay_that_started_later() -> None:
    """The demo's replay starts after the head: the policy's hours must begin when the
    replayed trace's hours do, or every plan is off by the difference."""
    replay_s = T0 + 0.5 * H  # the trace's hour 0, half an hour after the head's

    def forecast(zone: str | None, start_s: float, end_s: float) -> TimeSeries:
        t = np.arange(start_s, end_s + H, H / 4)
        return TimeSeries(t, np.where(t < replay_s + 3 * H, 300.0, 30.0), "gCO2e/kWh", H / 4)

    def planned(sched: Scheduler) -> float:
        [p] = sched.plan([_job(1, latest_start_s=T0 + 10 * H)], [_node("a")], T0 + 0.5 * H)
        return p.start_s

    before = Scheduler(make_engine_policy("carbon"), forecast, origin_s=T0)
    assert planned(before) == T0 + 4 * H  # the head's hours: half an hour late
    after = Scheduler(make_engine_policy("carbon"), forecast, origin_s=T0)
    after.set_origin(replay_s)
    assert planned(after) == replay_s + 3 * H  # the clean hour as it begins
