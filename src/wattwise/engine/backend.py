"""What the head needs of a cluster, as one interface: the nodes, each node's meter,
batches of tasks submitted to a node, waiting for them, and how each ended.

The head (``engine.head``) talks only to a :class:`Backend`; no cluster library's
types or exceptions reach it. ``ray_backend.RayBackend`` is the real one;
``inprocess.InProcessBackend`` runs each batch on a thread of this process with the
real worker, so the head's logic is testable without Ray. Units: s, cores, GPUs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from wattwise.engine.node_meter import NodeTotals
from wattwise.engine.worker import TaskItem, TaskResult
from wattwise.meter.sources.base import EnergySource

#: Builds a node's energy sources on that node (default: detect them).
SourcesFactory = Callable[[], Sequence[EnergySource]]


@dataclass(frozen=True)
class NodeInfo:
    """A node as the engine sees it. Units: cores, GPUs."""

    node_id: str
    name: str
    alive: bool
    cpus: float
    gpus: float
    zone: str | None
    node_type: str | None


@dataclass(frozen=True)
class BatchHandle:
    """One submitted batch. The head keys its bookkeeping on it and never looks inside:
    ``native`` is the backend's own (a Ray ObjectRef, a thread's record)."""

    id: int
    node_id: str
    native: object = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class MeterReady:
    """A node's meter finished starting; ``error``: it failed (the node runs unmetered)."""

    node_id: str
    error: str | None = None


@dataclass(frozen=True)
class Finished:
    """The batch ran: one result per task (cancelled tasks say so in their result)."""

    results: list[TaskResult]


@dataclass(frozen=True)
class Cancelled:
    """The batch was cancelled before its worker ran it."""


@dataclass(frozen=True)
class NodeLost:
    """The batch's node died (or left the cluster); its tasks died with it."""

    message: str


@dataclass(frozen=True)
class WorkerDied:
    """The process running the batch died, its node did not: its tasks may still run."""

    message: str


@dataclass(frozen=True)
class TaskRaised:
    """The worker's own code raised on a live node (it stopped its tasks first)."""

    message: str


BatchOutcome = Finished | Cancelled | NodeLost | WorkerDied | TaskRaised


class Backend(Protocol):
    """The head's cluster. Methods are called from the head's thread only."""

    def connect(self) -> None:
        """Join or start the cluster; a one-line ``EngineError`` when it cannot."""

    def list_nodes(self) -> list[NodeInfo]:
        """Every node known, dead ones included (``alive`` says)."""

    def start_meter(self, node_id: str, sources: SourcesFactory | None, interval_s: float) -> None:
        """Start ``node_id``'s meter; :meth:`meters_ready` reports when it runs."""

    def meters_ready(self, timeout_s: float) -> list[MeterReady]:
        """Meters that finished starting since the last call; waits up to ``timeout_s``
        for the first when none has."""

    def drop_meter(self, node_id: str) -> None:
        """Forget the meter of a node that left."""

    def submit(
        self, items: Sequence[TaskItem], node_id: str, cpus: float, gpus: float
    ) -> BatchHandle:
        """Run ``items`` together on ``node_id`` holding ``cpus``/``gpus``; the node's
        meter (if any) charges each task its energy."""

    def wait(self, handles: Sequence[BatchHandle], timeout_s: float) -> list[BatchHandle]:
        """The handles that have finished; blocks up to ``timeout_s`` until one has."""

    def outcome(self, handle: BatchHandle) -> BatchOutcome:
        """How a finished batch ended (call once, after :meth:`wait` returned it)."""

    def cancel(self, handle: BatchHandle) -> None:
        """Stop a batch: SIGTERM, each task's grace, SIGKILL; it then finishes with the
        tasks marked cancelled (or as :class:`Cancelled` if it had not started)."""

    def kill_tasks(self, node_id: str, tokens: Sequence[str]) -> int | None:
        """SIGKILL every process on ``node_id`` carrying one of these task tokens (their
        worker died); how many, or ``None`` when the node's meter cannot be asked."""

    def node_totals(self) -> dict[str, NodeTotals]:
        """Each metered node's totals since its meter started, by node id."""

    def meter_cpu_s(self) -> float:
        """CPU time the node meters used. Units: s."""

    def close(self) -> None:
        """Forget the meters and batches (the cluster itself is left running)."""


def task_token(head_id: str, task_id: int) -> str:
    """The ``WATTWISE_JOB_TOKEN`` of one task attempt, known to the head and its node."""
    return f"{head_id}-{task_id}"


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def one_line(err: BaseException, named: bool = True) -> str:
    """The first line of ``err``'s message, without terminal colour codes (Ray adds them).

    For a task that raised, Ray's error opens with the worker's name in colour; the
    exception the task raised (its ``cause``) says what went wrong.
    """
    cause = getattr(err, "cause", None)
    if isinstance(cause, BaseException):
        err = cause
    text = _ANSI.sub("", str(err)).strip().splitlines()
    first = text[0] if text else ""
    return (f"{type(err).__name__}: {first}" if named else first or type(err).__name__)[:300]
