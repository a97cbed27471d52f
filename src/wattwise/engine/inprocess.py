"""A cluster inside this process: nodes you declare, each batch run on a thread by the
real worker (``worker.run_items``: real processes, real ``wait4``, real cancel), each
node's :class:`NodeMeter` optional. The head's logic (planning, dispatch, loss
recovery, cancel, completion) is testable with it in seconds, without Ray.

``kill_node(name)`` plays a node lost: its batches end as ``NodeLost`` and their
processes are SIGKILLed (by their task tokens, as a dead node's would be gone);
``kill_worker(name)`` a worker that died on a live node: its batches end as
``WorkerDied`` and their processes run on until the head has the node kill them.
Units: cores, GPUs, s.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from wattwise.engine import job_procs
from wattwise.engine.backend import (
    BatchHandle,
    BatchOutcome,
    Cancelled,
    Finished,
    MeterReady,
    NodeInfo,
    NodeLost,
    SourcesFactory,
    TaskRaised,
    WorkerDied,
    one_line,
)
from wattwise.engine.node_meter import NodeMeter, NodeTotals
from wattwise.engine.worker import TaskItem, TaskResult, run_items
from wattwise.errors import EngineError


@dataclass(frozen=True)
class InProcessNode:
    """A node to declare. ``meter``: give it a ``NodeMeter`` when the head asks for one
    (its sources from the head's ``meter_sources``, else none: the labelled estimate)."""

    name: str
    cpus: float = 4.0
    gpus: float = 0.0
    zone: str | None = None
    node_type: str | None = None
    meter: bool = True


@dataclass
class _Batch:
    handle: BatchHandle
    items: list[TaskItem]
    cancel: threading.Event = field(default_factory=threading.Event)
    started: bool = False
    outcome: BatchOutcome | None = None


class InProcessBackend:
    """Nodes declared up front; node ids are their names."""

    def __init__(self, nodes: Sequence[InProcessNode]) -> None:
        names = [n.name for n in nodes]
        if len(set(names)) != len(names):
            raise EngineError(f"node names must differ, got {names}", hint="name each node once")
        self._nodes = {n.name: n for n in nodes}
        self._dead: set[str] = set()
        self._meters: dict[str, NodeMeter] = {}
        self._ready: list[MeterReady] = []
        self._batches: dict[int, _Batch] = {}  # until the head takes the outcome
        self._submitted: list[_Batch] = []
        self._lock = threading.Condition()
        self._next = 0

    # -- what a test does to the cluster ------------------------------------------

    def kill_node(self, name: str) -> None:
        """The node dies: its batches end ``NodeLost``, their processes are killed."""
        if name not in self._nodes:
            raise EngineError(f"no node {name!r}", hint=f"one of {sorted(self._nodes)}")
        with self._lock:
            self._dead.add(name)
            lost = [b for b in self._batches.values() if b.handle.node_id == name]
            for b in lost:
                if b.outcome is None:
                    b.outcome = NodeLost(f"node {name} died")
            self._lock.notify_all()
        tokens = [i.env[job_procs.TOKEN_VAR] for b in lost for i in b.items
                  if job_procs.TOKEN_VAR in i.env]  # fmt: skip
        job_procs.kill_all(tokens)
        meter = self._meters.pop(name, None)
        if meter is not None:
            meter.close()

    def kill_worker(self, name: str) -> None:
        """The workers running batches on ``name`` die, the node and the tasks' processes
        do not (the head's ``kill_tasks`` is what stops them)."""
        with self._lock:
            for b in self._batches.values():
                if b.handle.node_id == name and b.outcome is None:
                    b.outcome = WorkerDied(f"the worker of batch {b.handle.id} on {name} died")
            self._lock.notify_all()

    def batches(self, node_id: str | None = None) -> list[list[TaskItem]]:
        """The items of each batch submitted (to ``node_id``), in order."""
        return [b.items for b in self._submitted
                if node_id is None or b.handle.node_id == node_id]  # fmt: skip

    # -- Backend ---------------------------------------------------------------------

    def connect(self) -> None:
        pass

    def list_nodes(self) -> list[NodeInfo]:
        return [
            NodeInfo(n.name, n.name, n.name not in self._dead, n.cpus, n.gpus, n.zone, n.node_type)
            for n in self._nodes.values()
        ]

    def start_meter(self, node_id: str, sources: SourcesFactory | None, interval_s: float) -> None:
        node = self._nodes[node_id]
        error = None
        if node.meter:
            try:
                self._meters[node_id] = NodeMeter(
                    [] if sources is None else sources(), interval_s=interval_s
                )
            except Exception as err:  # as a meter actor that fails to start
                error = one_line(err)
        self._ready.append(MeterReady(node_id, error))

    def meters_ready(self, timeout_s: float) -> list[MeterReady]:
        ready, self._ready = self._ready, []
        return ready

    def drop_meter(self, node_id: str) -> None:
        meter = self._meters.pop(node_id, None)
        if meter is not None:
            meter.close()

    def submit(
        self, items: Sequence[TaskItem], node_id: str, cpus: float, gpus: float
    ) -> BatchHandle:
        if node_id not in self._nodes or node_id in self._dead:
            raise EngineError(f"node {node_id} is not alive", hint="plan on a live node")
        self._next += 1
        batch = _Batch(BatchHandle(self._next, node_id), list(items))
        self._batches[batch.handle.id] = batch
        self._submitted.append(batch)
        threading.Thread(
            target=self._run, args=(batch,), name=f"wattwise-{node_id}-{self._next}", daemon=True
        ).start()
        return batch.handle

    def _run(self, batch: _Batch) -> None:
        outcome: BatchOutcome
        if batch.cancel.is_set():
            outcome = Cancelled()
        else:
            batch.started = True
            node = batch.handle.node_id
            try:
                results: list[TaskResult] = run_items(
                    batch.items, self._meters.get(node), node, cancel=batch.cancel
                )
                outcome = Finished(results)
            except Exception as err:
                outcome = TaskRaised(one_line(err))
        with self._lock:
            if batch.outcome is None:  # a lost node's batch stays lost
                batch.outcome = outcome
            self._lock.notify_all()

    def wait(self, handles: Sequence[BatchHandle], timeout_s: float) -> list[BatchHandle]:
        def done() -> list[BatchHandle]:
            return [h for h in handles if self._batches[h.id].outcome is not None]

        with self._lock:
            self._lock.wait_for(lambda: bool(done()), timeout=max(timeout_s, 0.0))
            return done()

    def outcome(self, handle: BatchHandle) -> BatchOutcome:
        batch = self._batches.pop(handle.id)
        assert batch.outcome is not None, "outcome() before wait() returned it"
        return batch.outcome

    def cancel(self, handle: BatchHandle) -> None:
        batch = self._batches.get(handle.id)
        if batch is not None:
            batch.cancel.set()

    def kill_tasks(self, node_id: str, tokens: Sequence[str]) -> int | None:
        if node_id not in self._meters:
            return None
        return job_procs.kill_all(tokens)

    def node_totals(self) -> dict[str, NodeTotals]:
        return {node: meter.totals() for node, meter in self._meters.items()}

    def meter_cpu_s(self) -> float:
        """0: the meters are threads of this process, their CPU time not told apart."""
        return 0.0

    def close(self) -> None:
        """The meters stop; batches still running run out (as on a cluster a head left)."""
        for meter in self._meters.values():
            meter.close()
        self._meters.clear()
        self._ready.clear()


if TYPE_CHECKING:
    from wattwise.engine.backend import Backend

    _CONFORMS: type[Backend] = InProcessBackend
