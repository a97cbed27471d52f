from __future__ import annotations

import numpy as np
import pytest

from wattwise.engine.policy import (
    AsapPolicy,
    CarbonAwarePolicy,
    NodeView,
    PendingJob,
    PlacementPolicy,
)
from wattwise.errors import CoverageError
from wattwise.units import TimeSeries

NOW = 1_700_000_000.0
NODES = [
    NodeView("a", "big-de", 8, 0, 8, 0, node_type="big", zone="DE"),
    NodeView("b", "small-fr", 2, 0, 1, 0, node_type="small", zone="FR"),
]


def _job(**kw: object) -> PendingJob:
    fields: dict[str, object] = {
        "job_id": 1,
        "cpus": 1.0,
        "gpus": 0,
        "n_tasks": 1,
        "submitted_s": NOW,
        "latest_start_s": NOW,
        "runtime_s": 3600.0,
    }
    fields.update(kw)
    return PendingJob(**fields)  # type: ignore[arg-type]


def _forecast(zone: str | None, start_s: float, end_s: float) -> TimeSeries:
    t = np.arange(start_s, end_s + 3600, 3600.0)
    base = 300.0 if zone == "DE" else 100.0
    values = np.where(t < start_s + 4 * 3600, base, base / 10)  # clean after 4 h
    return TimeSeries(t, values, "gCO2e/kWh", 3600.0)


def test_asap_respects_constraints_and_prefers_free_nodes() -> None:
    [p] = AsapPolicy().plan([_job()], NODES, NOW)
    assert p.start_s == NOW and p.node_ids == ("a", "b")
    [p] = AsapPolicy().plan([_job(zone="FR")], NODES, NOW)
    assert p.node_ids == ("b",)
    [p] = AsapPolicy().plan([_job(cpus=16.0)], NODES, NOW)
    assert p.node_ids == () and "no live node offers 16 cpus" in p.reason
    [p] = AsapPolicy().plan([_job(excluded_nodes=("a",), node_type="big")], NODES, NOW)
    assert p.node_ids == ()


def test_carbon_aware_waits_for_the_clean_window_within_the_latest_start() -> None:
    policy = CarbonAwarePolicy(_forecast, step_s=3600.0)
    [p] = policy.plan([_job(latest_start_s=NOW + 10 * 3600)], NODES, NOW)
    assert p.node_ids == ("b",)  # FR is cleaner
    assert p.start_s == NOW + 4 * 3600
    [p] = policy.plan([_job(latest_start_s=NOW + 2 * 3600)], NODES, NOW)
    assert NOW <= p.start_s <= NOW + 2 * 3600  # never past the latest safe start


def test_a_forecast_starting_after_now_does_not_make_now_look_clean() -> None:
    # The forecast's first value (300 g) starts half an hour after now; it holds back
    # to now (TimeSeries semantics). Counting that half hour as 0 g made starting now
    # look like 150 g, cleaner than the 200 g from hour 3 on.
    def late(zone: str | None, start_s: float, end_s: float) -> TimeSeries:
        t = NOW + 1800.0 + 3600.0 * np.arange(12)
        return TimeSeries(t, np.where(t < NOW + 2 * 3600, 300.0, 200.0), "gCO2e/kWh", 3600.0)

    policy = CarbonAwarePolicy(late, step_s=3600.0)
    [p] = policy.plan([_job(zone="DE", latest_start_s=NOW + 6 * 3600)], NODES, NOW)
    assert p.start_s == NOW + 3 * 3600


def test_the_engine_policies_are_placement_policies() -> None:
    assert isinstance(AsapPolicy(), PlacementPolicy)
    assert isinstance(CarbonAwarePolicy(_forecast), PlacementPolicy)


def test_carbon_aware_without_a_forecast_starts_now() -> None:
    def broken(zone: str | None, start_s: float, end_s: float) -> TimeSeries:
        raise CoverageError("trace ends before now")

    [p] = CarbonAwarePolicy(broken).plan([_job(latest_start_s=NOW + 3600)], NODES, NOW)
    assert p.start_s == NOW and p.node_ids


@pytest.mark.parametrize("name", ["lowest-window", "wattwise", "fifo"])
def test_schedule_policies_plug_into_the_engine(name: str) -> None:
    from wattwise.engine.schedule_adapter import ScheduleAdapter
    from wattwise.schedule.policies import POLICIES

    adapter = ScheduleAdapter(POLICIES[name](), _forecast)
    jobs = [
        _job(job_id=1, latest_start_s=NOW + 10 * 3600),
        _job(job_id=2, latest_start_s=NOW, zone="FR"),
        _job(job_id=3, cpus=64.0),  # fits no node
    ]
    plans = {p.job_id: p for p in adapter.plan(jobs, NODES, NOW)}
    assert set(plans) == {1, 2, 3}
    assert NOW <= plans[1].start_s <= NOW + 10 * 3600 and plans[1].node_ids
    assert plans[2].node_ids == ("b",) and plans[2].start_s <= NOW + 1
    assert plans[3].node_ids == () and "no live node" in plans[3].reason
    if name == "lowest-window":  # clean after 4 h: waits for it
        assert plans[1].start_s >= NOW + 3 * 3600
    if name == "fifo":
        assert plans[1].start_s == NOW
