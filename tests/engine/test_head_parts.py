"""The head's parts on their own: the node registry on the in-process cluster (a node
that leaves is reported gone, its meter dropped and its row marked not alive), the
batches in flight, and the results collector (a task's carbon by its node's zone in
the planning signal, labelled with that signal's source; the job's totals)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from wattwise.engine.backend import BatchHandle
from wattwise.engine.carbon import CarbonAccountant, PlanningSignal
from wattwise.engine.inprocess import InProcessBackend, InProcessNode
from wattwise.engine.jobs_state import InFlight, InFlightTable, Jobs, TrackedJob
from wattwise.engine.node_meter import JobEnergy
from wattwise.engine.nodes import NodeRegistry, NodeUse
from wattwise.engine.predictions import RuntimePlanner
from wattwise.engine.results import ResultCollector
from wattwise.engine.spec import JobSpec, parse_spec
from wattwise.engine.worker import TaskResult
from wattwise.grid.provider import FixedProvider, IntensityProvider
from wattwise.meter.types import DeviceEnergy
from wattwise.store.jobs import JobStore, NewTask


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    return JobStore(f"sqlite:///{tmp_path / 'w.db'}")


@pytest.fixture
def backend() -> Iterator[InProcessBackend]:
    made = InProcessBackend([InProcessNode("a", cpus=4, zone="DE"),
                             InProcessNode("b", cpus=8, gpus=1, zone="FR")])  # fmt: skip
    yield made
    made.close()


def test_a_node_that_leaves_is_reported_gone_and_its_meter_dropped(
    backend: InProcessBackend, store: JobStore
) -> None:
    nodes = NodeRegistry(backend, store, meter=True, meter_interval_s=0.05)
    change = nodes.sync(force=True)
    assert change is not None and sorted(change.joined) == ["a", "b"] and change.gone == ()
    assert nodes.node_views({}) == []  # no node takes jobs before its meter runs
    assert nodes.check_meters() and not nodes.starting
    assert sorted(v.name for v in nodes.node_views({})) == ["a", "b"]
    assert nodes.sync() is None  # nothing changed

    backend.kill_node("b")
    change = nodes.sync()
    assert change is not None and change.gone == ("b",) and change.joined == ()
    assert "b" not in nodes and "b" not in nodes.meter_ready
    assert set(backend.node_totals()) == {"a"}
    alive = {n.name: n.alive for n in store.list_nodes()}
    assert alive == {"a": True, "b": False}


def test_a_node_seen_dead_stays_out_and_views_show_the_free_room(
    backend: InProcessBackend, store: JobStore
) -> None:
    nodes = NodeRegistry(backend, store, meter=False)
    nodes.sync(force=True)
    [a, b] = sorted(nodes.node_views({"b": NodeUse(cpus=3.0, gpus=1.0)}), key=lambda v: v.name)
    assert (a.free_cpus, a.free_gpus) == (4.0, 0.0)
    assert (b.free_cpus, b.free_gpus) == (5.0, 0.0)
    nodes.mark_dead("a")  # a task died with it; the cluster still lists it alive
    change = nodes.sync()
    assert change is not None and change.gone == ("a",)
    assert [v.name for v in nodes.node_views({})] == ["b"]


def _job(store: JobStore, **fields: object) -> TrackedJob:
    now = time.time()
    spec = parse_spec({"command": ["train"], "runtime": "10m", **fields}, now)
    job_id = store.submit(spec.to_dict(), submitted_s=now, latest_start_s=spec.latest_start_s(now))
    record = store.get_job(job_id)
    return TrackedJob(record, JobSpec.from_dict(record.spec), 1, [0])


def test_inflight_batches_by_job_and_node(store: JobStore) -> None:
    one, two = _job(store, cpus=2), _job(store, cpus=0.5)
    jobs: Jobs = {one.record.id: one, two.record.id: two}
    table = InFlightTable()
    alone, shared = BatchHandle(1, "a"), BatchHandle(2, "a")
    table.add(alone, [InFlight(10, one.record.id, 0, "a")])
    table.add(shared, [InFlight(11, one.record.id, 0, "a"), InFlight(12, two.record.id, 0, "a")])
    assert table.only_of([one.record.id]) == [alone]  # the shared batch runs out
    assert table.sole_batch(two.record.id) is None
    assert table.used(jobs) == {"a": NodeUse(cpus=4.5, gpus=0.0)}
    assert [len(t) for t in table.take_node("a")] == [1, 2] and not table


def test_a_finished_tasks_carbon_uses_the_planning_signals_provider_and_label(
    store: JobStore, backend: InProcessBackend
) -> None:
    providers: dict[str | None, IntensityProvider] = {"DE": FixedProvider(100.0),
                                                      "FR": FixedProvider(50.0)}  # fmt: skip
    signal = PlanningSignal(provider_for=lambda zone: providers[zone])
    job = _job(store)
    jobs: Jobs = {job.record.id: job}
    planner = RuntimePlanner(store)
    results = ResultCollector(store, CarbonAccountant(signal), planner, jobs)
    nodes = NodeRegistry(backend, store, meter=False)
    nodes.sync(force=True)
    [task_id] = store.start_tasks([NewTask(job.record.id, 0, 1, "a", "a")], "h")[job.record.id]
    job.running.add(task_id)
    t0 = time.time()
    energy = JobEnergy(
        "k", t0, t0 + 60.0, 30.0, (DeviceEnergy("cpu", "cpu", "rapl", False, 3.6e6),), ()
    )
    result = TaskResult(task_id, job.record.id, "k", "a", t0, t0 + 60.0, 0, 30.0, energy)
    try:
        outcome = results.record(result, nodes.get("a"))
        assert outcome.status == "succeeded" and outcome.energy_j == pytest.approx(3.6e6)
        assert outcome.co2e_g == pytest.approx(100.0)  # 1 kWh at DE's 100 g/kWh
        assert outcome.detail["intensity_source"] == providers["DE"].describe()
        store.finish_tasks([outcome])
        results.complete_finished()
        assert jobs == {}  # closed: it leaves the head's table
        stored = store.get_job(job.record.id)
        assert stored.status == "succeeded" and stored.co2e_g == pytest.approx(100.0)
    finally:
        planner.close()
