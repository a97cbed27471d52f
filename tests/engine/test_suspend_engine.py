"""Live suspend and resume in the head: an interruptible job paused for cleaner hours
comes back from its checkpoint, and its energy is the sum of its segments.

No Ray: the cluster is :class:`ScriptedBackend`, a stand-in for the head's ``Backend``
interface passed as ``EngineConfig(backend=...)``. Its tasks run until the test ends
them (``finish``) or the head cancels them; cancel ends the task as the worker does
(the task stopped, its energy so far returned). The head's wall clock
(``time.time()`` in its modules) is the test's, moved forward hours at a time.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from wattwise.engine import head, intake, nodes, suspension
from wattwise.engine.backend import (
    BatchHandle,
    BatchOutcome,
    Finished,
    MeterReady,
    NodeInfo,
    SourcesFactory,
)
from wattwise.engine.carbon import PlanningSignal
from wattwise.engine.head import Engine, EngineConfig
from wattwise.engine.node_meter import JobEnergy, NodeTotals
from wattwise.engine.scheduler import make_engine_policy
from wattwise.engine.spec import parse_spec
from wattwise.engine.worker import TaskItem, TaskResult
from wattwise.meter.types import DeviceEnergy
from wattwise.predict.runtime import PredictedRuntime, Source
from wattwise.store import jobs as store_jobs
from wattwise.units import TimeSeries

H = 3600.0
NODE = NodeInfo("n" * 32, "node-1", True, 4.0, 0.0, "DE", None)

#: The modules that read the wall clock (``time.time()``) on the paths tested: the
#: head's tick and plan, its queue sweep, node refresh and pause close, and the store it
#: stamps jobs and tasks in (``dispatch`` reads it only for ``power: carbon`` jobs). Each
#: module's ``time`` name is replaced, not the ``time`` module itself.
CLOCKED = (head, intake, nodes, suspension, store_jobs)


class ScriptedBackend:
    """The head's cluster, scripted: the nodes in ``nodes`` (a test may change them);
    batch ``i`` is the ``i``-th submitted (its items ``items[i]``). Tasks run until the
    test ends them (``finish``) or the head cancels them (``cancelled``: the batches it
    cancelled, in order)."""

    def __init__(self, clock: list[float]) -> None:
        self.clock = clock
        self.nodes: list[NodeInfo] = [NODE]
        self.items: dict[int, list[TaskItem]] = {}
        self.cancelled: list[int] = []
        self._handles: dict[int, BatchHandle] = {}
        self._results: dict[int, list[TaskResult]] = {}  # ended, until the head takes them
        self._ready: list[MeterReady] = []

    # -- what a test does to the cluster ------------------------------------------

    def finish(self, batch: int) -> None:
        """Batch ``batch``'s tasks end as they would on their own: succeeded, 250 J."""
        self._end(batch, cancelled=False, joules=250.0)

    def _end(self, batch: int, cancelled: bool, joules: float) -> None:
        node_id, now = self._handles[batch].node_id, self.clock[0]
        self._results[batch] = [
            TaskResult(
                task_id=i.task_id, job_id=i.job_id, key=i.key, node_id=node_id,
                started_s=now - 60, ended_s=now,
                exit_code=-15 if cancelled else 0, cpu_s=1.0,
                energy=JobEnergy(i.key, now - 60, now, 1.0,
                                 (DeviceEnergy("cpu", "cpu", "estimate", True, joules),), ()),
                cancelled=cancelled,
            )
            for i in self.items[batch]
        ]  # fmt: skip

    # -- Backend ---------------------------------------------------------------------

    def connect(self) -> None:
        pass

    def list_nodes(self) -> list[NodeInfo]:
        return list(self.nodes)

    def start_meter(self, node_id: str, sources: SourcesFactory | None, interval_s: float) -> None:
        self._ready.append(MeterReady(node_id))

    def meters_ready(self, timeout_s: float) -> list[MeterReady]:
        ready, self._ready = self._ready, []
        return ready

    def drop_meter(self, node_id: str) -> None:
        pass

    def submit(
        self, items: Sequence[TaskItem], node_id: str, cpus: float, gpus: float
    ) -> BatchHandle:
        handle = BatchHandle(len(self.items), node_id)
        self.items[handle.id] = list(items)
        self._handles[handle.id] = handle
        return handle

    def wait(self, handles: Sequence[BatchHandle], timeout_s: float) -> list[BatchHandle]:
        return [h for h in handles if h.id in self._results]  # nothing ends while waiting

    def outcome(self, handle: BatchHandle) -> BatchOutcome:
        return Finished(self._results.pop(handle.id))

    def cancel(self, handle: BatchHandle) -> None:
        """As the worker does: the task stopped, 100 J so far, marked cancelled."""
        self.cancelled.append(handle.id)
        if handle.id not in self._results:
            self._end(handle.id, cancelled=True, joules=100.0)

    def kill_tasks(self, node_id: str, tokens: Sequence[str]) -> int | None:
        return None  # no meter to ask

    def node_totals(self) -> dict[str, NodeTotals]:
        return {}

    def meter_cpu_s(self) -> float:
        return 0.0

    def close(self) -> None:
        pass


class HeadTime:
    """``time`` as the head's modules see it: ``time()`` reads the test's clock; the
    rest (``monotonic``, ``sleep``) is the real module's."""

    def __init__(self, clock: list[float]) -> None:
        self.clock = clock

    def time(self) -> float:
        return self.clock[0]

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@pytest.fixture
def setup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Engine, ScriptedBackend, list[float]]:
    clock = [time.time()]
    backend = ScriptedBackend(clock)
    for module in CLOCKED:
        monkeypatch.setattr(module, "time", HeadTime(clock))
    origin = clock[0] - 60.0
    flat = TimeSeries(origin + H * np.arange(30.0), np.full(30, 300.0), "gCO2e/kWh", H)
    # The refreshed forecast: dirty for the next 3 hours, then clean: worth a pause for
    # a 1 h job due in 20 h.
    values = np.array([600.0] * 3 + [60.0] * 6 + [600.0] * 20)
    grid = TimeSeries(origin + H * np.arange(len(values)), values, "gCO2e/kWh", H)
    forecasts = [flat, grid]  # the job starts on the flat one (now is as good as any)

    def forecast(zone: str | None, t0: float, t1: float) -> TimeSeries:
        # Planning sees the first forecast; the review after the start, the refreshed one.
        return forecasts[0] if not backend.items else forecasts[1]

    engine = Engine(EngineConfig(store_url=f"sqlite:///{tmp_path / 'w.db'}", meter=False,
                                 home=tmp_path, tick_s=0.0, policy=make_engine_policy("carbon"),
                                 signal=PlanningSignal(forecast=forecast),
                                 suspend_check_s=0.0, backend=backend))  # fmt: skip
    return engine, backend, clock


def submit(engine: Engine, now: float, **extra: object) -> int:
    spec = parse_spec({"name": "train", "command": ["train"], "runtime": "1h",
                       "deadline": "20h", **extra}, now)  # fmt: skip
    # Submitted to start now: the test is about what happens once it runs.
    return engine.store.submit(spec.to_dict(), submitted_s=now, latest_start_s=now)


def test_paused_for_cleaner_hours_then_resumed_and_summed(
    setup: tuple[Engine, ScriptedBackend, list[float]],
) -> None:
    engine, backend, clock = setup
    job_id = submit(engine, clock[0], interruptible=True)
    engine.start()
    engine.tick()  # dispatch now (latest start), then review: dirty now, clean in ~3 h
    assert list(backend.items) == [0]
    assert backend.items[0][0].env["WATTWISE_RESUME"] == "0"
    assert backend.cancelled == [0]
    engine.tick()  # the stopped task comes back
    job = engine.store.get_job(job_id)
    assert job.status == "suspended"
    assert job.planned_start_s is not None and job.planned_start_s > clock[0] + 2 * H
    assert job.error is not None and "suspended for cleaner hours" in job.error
    assert [t.status for t in engine.store.tasks(job_id)] == ["suspended"]
    engine.tick()
    assert list(backend.items) == [0]  # not before its hour

    clock[0] = job.planned_start_s + 1.0  # the clean hours have come
    engine.tick()
    assert list(backend.items) == [0, 1]
    assert backend.items[1][0].env["WATTWISE_RESUME"] == "1"  # from its checkpoint
    assert backend.cancelled == [0]  # now among the cleanest hours: runs on
    backend.finish(1)
    engine.tick()
    done = engine.store.get_job(job_id)
    assert done.status == "succeeded"
    assert done.energy_j == pytest.approx(350.0)  # 100 J before the pause + 250 J after
    assert done.attempts <= 2


def test_a_job_that_is_not_interruptible_is_never_paused(
    setup: tuple[Engine, ScriptedBackend, list[float]],
) -> None:
    engine, backend, clock = setup
    submit(engine, clock[0])
    engine.start()
    engine.tick()
    engine.tick()
    assert list(backend.items) == [0] and backend.cancelled == []


def test_cancel_of_a_suspended_job_is_at_once(
    setup: tuple[Engine, ScriptedBackend, list[float]],
) -> None:
    engine, _, clock = setup
    job_id = submit(engine, clock[0], interruptible=True)
    engine.start()
    engine.tick()
    engine.tick()
    assert engine.store.get_job(job_id).status == "suspended"
    engine.store.request_cancel(job_id)
    assert engine.store.get_job(job_id).status == "cancelled"


def test_a_node_lost_while_suspended_resumes_on_another(
    setup: tuple[Engine, ScriptedBackend, list[float]],
) -> None:
    engine, backend, clock = setup
    job_id = submit(engine, clock[0], interruptible=True)
    engine.start()
    engine.tick()
    engine.tick()
    assert engine.store.get_job(job_id).status == "suspended"
    backend.nodes = [NodeInfo("m" * 32, "node-2", True, 4.0, 0.0, "DE", None)]  # node-1 is gone
    clock[0] = (engine.store.get_job(job_id).planned_start_s or 0.0) + 5.0
    engine.tick()
    engine.tick()
    assert [t.node_name for t in engine.store.tasks(job_id)] == ["node-1", "node-2"]
    assert backend.items[1][0].env["WATTWISE_RESUME"] == "1"


def _predicted(engine: Engine, source: Source) -> None:
    """The planner predicts a 1 h job (upper 1.5 h) from ``source``."""
    p = PredictedRuntime(H, 1.5 * H, 50.0, source, n=6 if source == Source.HISTORY else 0)
    engine.predictions._predict = lambda _features: p


def test_a_job_without_runtime_is_paused_on_its_history_upper_bound(
    setup: tuple[Engine, ScriptedBackend, list[float]],
) -> None:
    engine, backend, clock = setup
    _predicted(engine, Source.HISTORY)
    job_id = submit(engine, clock[0], interruptible=True, runtime=None)
    engine.start()
    engine.tick()
    assert backend.cancelled == [0]  # paused: its history says it fits the clean hours
    engine.tick()
    job = engine.store.get_job(job_id)
    assert job.status == "suspended"
    # Resumes by the deadline less the upper bound of its remaining work, not the median.
    deadline = parse_spec({"command": ["x"], "deadline": "20h"}, job.submitted_s).deadline_s
    resume_latest = engine._jobs[job_id].resume_latest_s
    assert resume_latest is not None and deadline is not None
    assert resume_latest < deadline - 1.4 * H


def test_a_cold_start_guess_is_never_paused(
    setup: tuple[Engine, ScriptedBackend, list[float]],
) -> None:
    engine, backend, clock = setup
    _predicted(engine, Source.COLD_START)
    submit(engine, clock[0], interruptible=True, runtime=None)
    engine.start()
    engine.tick()
    engine.tick()
    assert list(backend.items) == [0] and backend.cancelled == []
