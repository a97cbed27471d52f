"""The predictor in the head's loop: jobs without a runtime are planned from history,
every finished job feeds the history, and a failing predictor never stops the head.

No Ray here: the Ray edge (``ray_backend``) is a one-node stand-in whose tasks end at
once, each reporting the runtime its ``RUN_S`` env asks for (and 50 W of power), so
the history is exact and the test fast.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from wattwise.engine import head as head_module
from wattwise.engine import ray_backend as rb
from wattwise.engine.carbon import PlanningSignal
from wattwise.engine.client import EngineClient
from wattwise.engine.head import Engine, EngineConfig
from wattwise.engine.node_meter import JobEnergy
from wattwise.engine.spec import JobSpec, parse_spec
from wattwise.engine.worker import TaskResult
from wattwise.errors import WattwiseError
from wattwise.meter.types import DeviceEnergy
from wattwise.predict.runtime import RuntimeModel
from wattwise.schedule.model import Job, JobBatch
from wattwise.schedule.policies.base import ClusterState, ForecastView, Plan, Policy

NODE = rb.NodeInfo("n" * 32, "node-1", True, 8.0, 0.0, None, None)
POWER_W = 50.0
COMMAND = ["python", "train.py", "--epochs", "3"]


class _Ray:
    import ray.exceptions as exceptions

    def __init__(self) -> None:
        self.results: dict[str, list[TaskResult]] = {}
        self.cancelled: list[str] = []

    def wait(self, refs: list[Any], num_returns: int, timeout: float) -> tuple[list, list]:
        return list(refs), []

    def get(self, ref: str) -> list[TaskResult]:
        return self.results.pop(ref)

    def cancel(self, ref: str) -> None:
        self.cancelled.append(ref)


class _Backend:
    """Runs each task at once: it "took" ``RUN_S`` seconds at ``POWER_W``."""

    def __init__(self) -> None:
        self.ray = _Ray()
        self.n = 0

    def connect(self, *_: Any) -> None:
        pass

    def list_nodes(self) -> list[rb.NodeInfo]:
        return [NODE]

    def import_ray(self) -> _Ray:
        return self.ray

    def submit_batch(self, items: list[Any], node: str, cpus: float, gpus: int, _m: Any) -> str:
        self.n += 1
        ref = f"ref-{self.n}"
        start = time.time()
        out = []
        for item in items:
            run_s = float(item.env.get("RUN_S", "1"))
            energy = JobEnergy(
                item.key,
                start,
                start + run_s,
                run_s,
                (DeviceEnergy("cpu", "cpu", "fake", True, POWER_W * run_s),),
                (),
            )
            end = start + run_s
            out.append(
                TaskResult(item.task_id, item.job_id, item.key, node, start, end, 0, run_s, energy)
            )
        self.ray.results[ref] = out
        return ref


class LatePolicy(Policy):
    """Wants every job as late as can be; the head holds it to its latest safe start."""

    name = "late"

    def __init__(self) -> None:
        self.seen: list[Job] = []

    def plan(
        self, now_h: float, queue: JobBatch, state: ClusterState, forecast: ForecastView
    ) -> Plan:
        self.seen += [queue.job(i) for i in range(len(queue))]
        return Plan(queue.job_id, np.zeros(len(queue), np.int64), queue.arrival_h + 1e6)


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch) -> _Backend:
    fake = _Backend()
    for name in ("connect", "list_nodes", "import_ray", "submit_batch"):
        monkeypatch.setattr(head_module.rb, name, getattr(fake, name))
    return fake


def _no_grid(zone: str | None) -> Any:
    raise WattwiseError("no grid in this test")


def _engine(tmp_path: Path, policy: Any = None) -> Engine:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    return Engine(
        EngineConfig(
            store_url=url,
            meter=False,
            home=tmp_path,
            tick_s=0.0,
            policy=policy,
            signal=PlanningSignal(_no_grid),
        )
    )


def _spec(command: list[str]) -> JobSpec:
    return parse_spec({"command": command}, time.time())


def _run_all(engine: Engine, ids: Sequence[int], ticks: int = 20) -> None:
    for _ in range(ticks):
        engine.tick()
        if all(engine.store.get_job(i).status in ("succeeded", "failed") for i in ids):
            break
    assert engine.predictions.wait_idle()


def _six_runs(engine: Engine, client: EngineClient) -> list[int]:
    ids = [
        client.submit({"command": COMMAND, "env": {"RUN_S": str(s)}})
        for s in (600, 630, 570, 610, 590, 620)
    ]
    _run_all(engine, ids)
    return ids


def test_seventh_run_is_planned_from_the_six_before(tmp_path: Path, backend: _Backend) -> None:
    engine = _engine(tmp_path)
    client = EngineClient(store=engine.store)
    engine.start()
    first = _six_runs(engine, client)
    job = engine.store.get_job(first[0])
    assert job.status == "succeeded"
    # Nothing known yet: a cold start, then the actual figures beside it.
    assert job.predicted is not None and job.predicted["source"] == "cold-start"
    assert job.actual is not None
    assert job.actual["runtime_s"] == pytest.approx(600.0)
    assert job.actual["power_w"] == pytest.approx(POWER_W)
    assert job.actual["runtime_abs_error_s"] == pytest.approx(3000.0)
    assert engine.predictions.history_size == 6

    policy = LatePolicy()
    engine.scheduler.use(policy)
    submitted = time.time()
    seventh = client.submit({"command": COMMAND, "deadline": "12h", "env": {"RUN_S": "605"}})
    # Planned from history as it is queued, before the head takes it.
    queued = engine.store.get_job(seventh)
    assert queued.predicted is not None and queued.predicted["source"] == "history"
    engine.tick()
    assert engine.predictions.wait_idle()
    job = engine.store.get_job(seventh)
    assert job.predicted is not None
    assert job.predicted["source"] == "history" and job.predicted["n"] == 6
    assert job.predicted["runtime_s"] == pytest.approx(605.0)  # the median of the six
    upper = job.predicted["runtime_upper_s"]
    assert 630.0 <= upper < 1000.0
    # Latest start: room for the upper bound before the deadline, stored for clients.
    assert job.deadline_s is not None
    assert job.latest_start_s == pytest.approx(job.deadline_s - upper)
    assert job.deadline_s - submitted == pytest.approx(12 * 3600, abs=5)
    # The policy planned with the predicted runtime and its upper bound (in policy hours);
    # the scheduler held it to the latest start.
    clock = engine.scheduler.clock
    assert clock is not None
    seen = policy.seen[-1]
    assert seen.length_upper_h is not None
    assert clock.seconds(seen.length_h) == pytest.approx(605.0)
    assert clock.seconds(seen.length_upper_h) == pytest.approx(upper)
    assert clock.to_s(seen.deadline_h - seen.length_upper_h) == pytest.approx(job.latest_start_s)
    assert job.planned_start_s == pytest.approx(job.latest_start_s)


def test_a_job_past_its_upper_bound_runs_on_and_feeds_the_history(
    tmp_path: Path, backend: _Backend
) -> None:
    engine = _engine(tmp_path)
    client = EngineClient(store=engine.store)
    engine.start()
    _six_runs(engine, client)
    before = engine.predictions.predict(_spec(COMMAND))
    slow = client.submit({"command": COMMAND, "env": {"RUN_S": "3000"}})
    _run_all(engine, [slow])
    job = engine.store.get_job(slow)
    assert job.status == "succeeded" and backend.ray.cancelled == []
    assert job.actual is not None and job.actual["runtime_s"] == pytest.approx(3000.0)
    assert job.actual["within_upper"] is False
    assert engine.predictions.history_size == 7
    after = engine.predictions.predict(_spec(COMMAND))
    assert after.runtime_upper_s > before.runtime_upper_s


def test_a_never_seen_command_and_a_declared_runtime(tmp_path: Path, backend: _Backend) -> None:
    engine = _engine(tmp_path)
    client = EngineClient(store=engine.store)
    engine.start()
    _six_runs(engine, client)
    new = engine.predictions.predict(_spec(["python", "other.py"]))
    assert new.source == "cold-start"
    assert (new.runtime_s, new.runtime_upper_s) == (3600.0, 7200.0)
    declared = client.submit({"command": COMMAND, "runtime": "20m", "deadline": "2h"})
    engine.tick()
    assert engine.predictions.wait_idle()
    job = engine.store.get_job(declared)
    assert job.predicted is not None and job.predicted["source"] == "declared"
    assert job.predicted["runtime_s"] == job.predicted["runtime_upper_s"] == 1200.0
    assert job.predicted["power_w"] == pytest.approx(POWER_W)  # from the six runs
    assert job.deadline_s is not None
    assert job.latest_start_s == pytest.approx(job.deadline_s - 1200.0)


def test_a_failing_predictor_falls_back_to_cold_start(
    tmp_path: Path, backend: _Backend, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    def broken(self: RuntimeModel, *_: Any, **__: Any) -> Any:
        raise ValueError("model file is corrupt")

    monkeypatch.setattr(RuntimeModel, "predict", broken)
    engine = _engine(tmp_path)
    client = EngineClient(store=engine.store)
    engine.start()
    with caplog.at_level(logging.ERROR, logger="wattwise.engine"):
        ids = [client.submit({"command": ["x", str(i)], "deadline": "1h"}) for i in range(3)]
        _run_all(engine, ids)
    for i in ids:
        job = engine.store.get_job(i)
        assert job.status == "succeeded"
        assert job.predicted is not None and job.predicted["source"] == "cold-start"
    errors = [r for r in caplog.records if "runtime prediction failed" in r.getMessage()]
    assert len(errors) == 1 and "model file is corrupt" in errors[0].getMessage()


def test_a_job_queued_with_no_head_shows_its_cold_start(tmp_path: Path) -> None:
    """`wattwise submit --deadline 12h -- CMD` with no head: the latest start leaves room
    for the cold start's upper bound, not the whole deadline."""
    client = EngineClient(f"sqlite:///{tmp_path / 'w.db'}")
    job = client.get_job(client.submit({"command": ["python", "long.py"], "deadline": "12h"}))
    assert job.predicted is not None
    assert job.predicted["source"] == "cold-start"
    assert (job.predicted["runtime_s"], job.predicted["runtime_upper_s"]) == (3600.0, 7200.0)
    assert job.deadline_s is not None
    assert job.latest_start_s == pytest.approx(job.deadline_s - 7200.0)


def test_the_head_predicts_jobs_an_older_client_queued(tmp_path: Path, backend: _Backend) -> None:
    """A job queued without a prediction (latest start = its deadline) gets one from the
    head, stored with the latest start it leaves, before the head plans it."""
    engine = _engine(tmp_path, policy=LatePolicy())
    now = time.time()
    spec = parse_spec({"command": ["python", "old.py"], "deadline": "12h"}, now)
    assert spec.deadline_s is not None
    job_id = engine.store.submit(spec.to_dict(), submitted_s=now, latest_start_s=spec.deadline_s)
    engine.start()
    assert engine.predictions.wait_idle()
    job = engine.store.get_job(job_id)
    assert job.predicted is not None and job.predicted["source"] == "cold-start"
    assert job.latest_start_s == pytest.approx(spec.deadline_s - 7200.0)
    assert job.planned_start_s == pytest.approx(job.latest_start_s)
