"""What the head holds of the jobs it took from the queue and of the tasks it sent out.

:class:`TrackedJob`: one job's shards still to dispatch, in flight and done, the energy
of each finished task (:class:`TaskEnergy`), how it failed or whether it was cancelled,
its GPU power limits and its suspend-resume state. :class:`InFlightTable`: the batches
submitted and not yet harvested, by handle, each as its tasks (:class:`InFlight`: which
job, shard and node). :class:`Member` and :class:`TaskRef` name one task of a job as
dispatch and failure pass it on. The head's parts (``nodes``, ``intake``, ``dispatch``,
``results``, ``suspension``) share these records; this module imports none of them.
Units: s (UTC epoch s), cores, GPUs, W.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from wattwise.engine.backend import BatchHandle
from wattwise.engine.node_meter import JobEnergy
from wattwise.engine.nodes import NodeUse
from wattwise.engine.scheduler import Placement
from wattwise.engine.spec import JobSpec
from wattwise.store.jobs import JobRecord


@dataclass(frozen=True)
class TaskEnergy:
    """One finished task's share of a job's energy, its carbon and where it ran.
    Units: J (in ``energy``), gCO₂e."""

    energy: JobEnergy
    co2e_g: float | None
    intensity_source: str
    node_name: str


@dataclass
class TrackedJob:
    """What the head tracks of a job it has taken from the queue."""

    record: JobRecord
    spec: JobSpec
    attempt: int
    todo: list[int]  # shard indices still to dispatch
    placement: Placement | None = None
    running: set[int] = field(default_factory=set)  # task ids in flight
    done: set[int] = field(default_factory=set)  # shards that succeeded
    energies: list[TaskEnergy] = field(default_factory=list)
    nodes: set[str] = field(default_factory=set)
    failed: str | None = None
    exit_code: int | None = None
    cancelled: bool = False
    power_limits_w: list[float] = field(default_factory=list)  # what its GPUs were set to
    power_note: str | None = None
    # Suspend-resume (interruptible jobs): segments run so far, work they did (s), the
    # current segment's start, a pause asked of the node, and when to resume.
    segments: int = 0
    worked_s: float = 0.0
    segment_started_s: float | None = None
    suspending: bool = False
    resume_at_s: float | None = None
    resume_latest_s: float | None = None


#: The jobs a head tracks, by job id (one dict, shared by the head's parts).
Jobs = dict[int, TrackedJob]


@dataclass(frozen=True)
class InFlight:
    """One task of a submitted batch."""

    task_id: int
    job_id: int
    shard: int
    node_id: str


@dataclass(frozen=True, eq=False)
class Member:
    """One task of a batch being built: a shard of ``job`` and its stored task id."""

    job: TrackedJob
    shard: int
    task_id: int


@dataclass(frozen=True)
class TaskRef:
    """A task attempt by its job and task ids."""

    job_id: int
    task_id: int


class InFlightTable:
    """The batches submitted and not yet harvested, each as its tasks (all on one node)."""

    def __init__(self) -> None:
        self._batches: dict[BatchHandle, list[InFlight]] = {}

    def __bool__(self) -> bool:
        return bool(self._batches)

    def handles(self) -> list[BatchHandle]:
        """Every batch in flight, in submission order."""
        return list(self._batches)

    def tasks(self, handle: BatchHandle) -> list[InFlight]:
        return self._batches[handle]

    def add(self, handle: BatchHandle, tasks: list[InFlight]) -> None:
        self._batches[handle] = tasks

    def pop(self, handle: BatchHandle) -> list[InFlight] | None:
        """Take a batch out (``None``: it was taken already, e.g. with its node)."""
        return self._batches.pop(handle, None)

    def clear(self) -> None:
        self._batches.clear()

    def take_node(self, node_id: str) -> list[list[InFlight]]:
        """Take out every batch on ``node_id``; their tasks, batch by batch."""
        taken = [h for h, tasks in self._batches.items() if tasks and tasks[0].node_id == node_id]
        return [self._batches.pop(h) for h in taken]

    def only_of(self, job_ids: Collection[int]) -> list[BatchHandle]:
        """Batches whose tasks all belong to ``job_ids`` (a batch shared with other jobs
        is not among them)."""
        wanted = set(job_ids)
        return [
            h
            for h, tasks in self._batches.items()
            if {t.job_id for t in tasks} <= wanted and any(t.job_id in wanted for t in tasks)
        ]

    def sole_batch(self, job_id: int) -> BatchHandle | None:
        """The one batch running ``job_id``, when it holds that job's task alone."""
        refs = [h for h, tasks in self._batches.items() if any(t.job_id == job_id for t in tasks)]
        if len(refs) != 1 or len(self._batches[refs[0]]) != 1:
            return None
        return refs[0]

    def used(self, jobs: Mapping[int, TrackedJob]) -> dict[str, NodeUse]:
        """Cores and GPUs the tasks in flight hold, by node."""
        cpus: dict[str, float] = {}
        gpus: dict[str, float] = {}
        for tasks in self._batches.values():
            for t in tasks:
                job = jobs.get(t.job_id)
                if job is not None:
                    cpus[t.node_id] = cpus.get(t.node_id, 0.0) + job.spec.cpus
                    gpus[t.node_id] = gpus.get(t.node_id, 0.0) + job.spec.gpus
        return {node: NodeUse(cpus[node], gpus[node]) for node in cpus}
