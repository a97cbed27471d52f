"""Live suspend and resume in the head: an interruptible job paused for cleaner hours
comes back from its checkpoint, and its energy is the sum of its segments.

No Ray: the Ray edge is a stand-in whose cancel ends the task as the worker does (the
task stopped, its energy so far returned), and the head's clock is moved forward.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from wattwise.engine import head as head_module
from wattwise.engine import ray_backend as rb
from wattwise.engine.carbon import PlanningSignal
from wattwise.engine.head import Engine, EngineConfig
from wattwise.engine.node_meter import JobEnergy
from wattwise.engine.scheduler import make_engine_policy
from wattwise.engine.spec import parse_spec
from wattwise.engine.worker import TaskItem, TaskResult
from wattwise.meter.types import DeviceEnergy
from wattwise.predict.runtime import PredictedRuntime, Source
from wattwise.units import TimeSeries

H = 3600.0
NODE = rb.NodeInfo("n" * 32, "node-1", True, 4.0, 0.0, "DE", None)


class FakeRay:
    """Tasks run until the test ends them (``finish``) or the head cancels them."""

    def __init__(self, clock: list[float]) -> None:
        self.clock = clock
        self.items: dict[str, list[TaskItem]] = {}
        self.results: dict[str, list[TaskResult]] = {}
        self.cancelled: list[str] = []

    def submit_batch(self, items: list[TaskItem], *_: Any) -> str:
        ref = f"ref-{len(self.items)}"
        self.items[ref] = items
        return ref

    def _end(self, ref: str, cancelled: bool, joules: float) -> None:
        self.results[ref] = [
            TaskResult(
                task_id=i.task_id, job_id=i.job_id, key=i.key, node_id=NODE.node_id,
                started_s=self.clock[0] - 60, ended_s=self.clock[0],
                exit_code=-15 if cancelled else 0, cpu_s=1.0,
                energy=JobEnergy(i.key, self.clock[0] - 60, self.clock[0], 1.0,
                                 (DeviceEnergy("cpu", "cpu", "estimate", True, joules),), ()),
                cancelled=cancelled,
            )
            for i in self.items[ref]
        ]  # fmt: skip

    def cancel(self, ref: str) -> None:
        self.cancelled.append(ref)
        self._end(ref, cancelled=True, joules=100.0)

    def finish(self, ref: str) -> None:
        self._end(ref, cancelled=False, joules=250.0)

    def wait(self, refs: list[str], **_: Any) -> tuple[list[str], list[str]]:
        done = [r for r in refs if r in self.results]
        return done, [r for r in refs if r not in self.results]

    def get(self, ref: str) -> list[TaskResult]:
        return self.results.pop(ref)

    class exceptions:
        class TaskCancelledError(Exception): ...

        class RayError(Exception): ...


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Engine, FakeRay, list[float]]:
    clock = [time.time()]
    fake = FakeRay(clock)
    monkeypatch.setattr(head_module.rb, "connect", lambda *a: None)
    monkeypatch.setattr(head_module.rb, "list_nodes", lambda: [NODE])
    monkeypatch.setattr(head_module.rb, "import_ray", lambda: fake)
    monkeypatch.setattr(head_module.rb, "submit_batch", fake.submit_batch)
    monkeypatch.setattr(head_module.time, "time", lambda: clock[0])
    origin = clock[0] - 60.0
    flat = TimeSeries(origin + H * np.arange(30.0), np.full(30, 300.0), "gCO2e/kWh", H)
    # The refreshed forecast: dirty for the next 3 hours, then clean: worth a pause for
    # a 1 h job due in 20 h.
    values = np.array([600.0] * 3 + [60.0] * 6 + [600.0] * 20)
    grid = TimeSeries(origin + H * np.arange(len(values)), values, "gCO2e/kWh", H)
    forecasts = [flat, grid]  # the job starts on the flat one (now is as good as any)

    def forecast(zone: str | None, t0: float, t1: float) -> TimeSeries:
        # Planning sees the first forecast; the review after the start, the refreshed one.
        return forecasts[0] if not fake.items else forecasts[1]

    engine = Engine(EngineConfig(store_url=f"sqlite:///{tmp_path / 'w.db'}", meter=False,
                                 home=tmp_path, tick_s=0.0, policy=make_engine_policy("carbon"),
                                 signal=PlanningSignal(forecast=forecast),
                                 suspend_check_s=0.0))  # fmt: skip
    return engine, fake, clock


def submit(engine: Engine, now: float, **extra: object) -> int:
    spec = parse_spec({"name": "train", "command": ["train"], "runtime": "1h",
                       "deadline": "20h", **extra}, now)  # fmt: skip
    # Submitted to start now: the test is about what happens once it runs.
    return engine.store.submit(spec.to_dict(), submitted_s=now, latest_start_s=now)


def test_paused_for_cleaner_hours_then_resumed_and_summed(
    setup: tuple[Engine, FakeRay, list[float]],
) -> None:
    engine, fake, clock = setup
    job_id = submit(engine, clock[0], interruptible=True)
    engine.start()
    engine.tick()  # dispatch now (latest start), then review: dirty now, clean in ~3 h
    assert list(fake.items) == ["ref-0"]
    assert fake.items["ref-0"][0].env["WATTWISE_RESUME"] == "0"
    assert fake.cancelled == ["ref-0"]
    engine.tick()  # the stopped task comes back
    job = engine.store.get_job(job_id)
    assert job.status == "suspended"
    assert job.planned_start_s is not None and job.planned_start_s > clock[0] + 2 * H
    assert job.error is not None and "suspended for cleaner hours" in job.error
    assert [t.status for t in engine.store.tasks(job_id)] == ["suspended"]
    engine.tick()
    assert list(fake.items) == ["ref-0"]  # not before its hour

    clock[0] = job.planned_start_s + 1.0  # the clean hours have come
    engine.tick()
    assert list(fake.items) == ["ref-0", "ref-1"]
    assert fake.items["ref-1"][0].env["WATTWISE_RESUME"] == "1"  # from its checkpoint
    assert fake.cancelled == ["ref-0"]  # now among the cleanest hours: runs on
    fake.finish("ref-1")
    engine.tick()
    done = engine.store.get_job(job_id)
    assert done.status == "succeeded"
    assert done.energy_j == pytest.approx(350.0)  # 100 J before the pause + 250 J after
    assert done.attempts <= 2


def test_a_job_that_is_not_interruptible_is_never_paused(
    setup: tuple[Engine, FakeRay, list[float]],
) -> None:
    engine, fake, clock = setup
    submit(engine, clock[0])
    engine.start()
    engine.tick()
    engine.tick()
    assert list(fake.items) == ["ref-0"] and fake.cancelled == []


def test_cancel_of_a_suspended_job_is_at_once(setup: tuple[Engine, FakeRay, list[float]]) -> None:
    engine, _, clock = setup
    job_id = submit(engine, clock[0], interruptible=True)
    engine.start()
    engine.tick()
    engine.tick()
    assert engine.store.get_job(job_id).status == "suspended"
    engine.store.request_cancel(job_id)
    assert engine.store.get_job(job_id).status == "cancelled"


def test_a_node_lost_while_suspended_resumes_on_another(
    setup: tuple[Engine, FakeRay, list[float]], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, fake, clock = setup
    job_id = submit(engine, clock[0], interruptible=True)
    engine.start()
    engine.tick()
    engine.tick()
    assert engine.store.get_job(job_id).status == "suspended"
    other = rb.NodeInfo("m" * 32, "node-2", True, 4.0, 0.0, "DE", None)
    monkeypatch.setattr(head_module.rb, "list_nodes", lambda: [other])  # node-1 is gone
    clock[0] = (engine.store.get_job(job_id).planned_start_s or 0.0) + 5.0
    engine.tick()
    engine.tick()
    assert [t.node_name for t in engine.store.tasks(job_id)] == ["node-1", "node-2"]
    assert fake.items["ref-1"][0].env["WATTWISE_RESUME"] == "1"


def _predicted(engine: Engine, source: Source) -> None:
    """The planner predicts a 1 h job (upper 1.5 h) from ``source``."""
    p = PredictedRuntime(H, 1.5 * H, 50.0, source, n=6 if source == Source.HISTORY else 0)
    engine.predictions._predict = lambda _features: p  # type: ignore[method-assign]


def test_a_job_without_runtime_is_paused_on_its_history_upper_bound(
    setup: tuple[Engine, FakeRay, list[float]],
) -> None:
    engine, fake, clock = setup
    _predicted(engine, Source.HISTORY)
    job_id = submit(engine, clock[0], interruptible=True, runtime=None)
    engine.start()
    engine.tick()
    assert fake.cancelled == ["ref-0"]  # paused: its history says it fits the clean hours
    engine.tick()
    job = engine.store.get_job(job_id)
    assert job.status == "suspended"
    # Resumes by the deadline less the upper bound of its remaining work, not the median.
    deadline = parse_spec({"command": ["x"], "deadline": "20h"}, job.submitted_s).deadline_s
    resume_latest = engine._jobs[job_id].resume_latest_s
    assert resume_latest is not None and deadline is not None
    assert resume_latest < deadline - 1.4 * H


def test_a_cold_start_guess_is_never_paused(setup: tuple[Engine, FakeRay, list[float]]) -> None:
    engine, fake, clock = setup
    _predicted(engine, Source.COLD_START)
    submit(engine, clock[0], interruptible=True, runtime=None)
    engine.start()
    engine.tick()
    engine.tick()
    assert list(fake.items) == ["ref-0"] and fake.cancelled == []
