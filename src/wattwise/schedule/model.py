"""Data types of the scheduler: jobs, node groups, clusters and decisions.

Times inside :mod:`wattwise.schedule` are hours (float) since the simulation origin,
the first hour of the carbon signal (``Signals.origin_s``, UTC epoch seconds). Hours
keep the arithmetic on hourly carbon data exact and readable; the engine converts
with ``origin_s + hours * 3600``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from wattwise.errors import ConfigError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# Default node power when no cluster file is given: AMD EPYC 7543, 32 cores, 225 W TDP
# (AMD product page). Units: W per busy core.
DEFAULT_ACTIVE_W_PER_CPU = 225.0 / 32.0


@dataclass(frozen=True)
class Job:
    """One batch job as a user submits it.

    Units: hours since the simulation origin for ``arrival_h`` and ``deadline_h``;
    ``length_h`` is the runtime on a node of speed 1.0 (known, or a prediction);
    ``length_upper_h`` is a calibrated upper quantile of it (defaults to ``length_h``).
    """

    job_id: int
    arrival_h: float
    length_h: float
    cpus: int
    deadline_h: float
    gpus: int = 0
    interruptible: bool = False
    priority: int = 0
    length_upper_h: float | None = None


@dataclass(frozen=True)
class Decision:
    """Run ``job_id`` on node group ``group`` (``None``: any group, in cluster order)
    starting at ``start_h`` (hours since origin, >= now)."""

    job_id: int
    group: str | None
    start_h: float


def latest_safe_start(job: Job, predicted_upper_quantile_h: float, speed: float = 1.0) -> float:
    """Latest start that still meets the deadline if the job runs as long as the
    calibrated upper quantile of its predicted length. Units: h since origin."""
    if speed <= 0:
        raise ConfigError(f"node speed must be > 0, got {speed}")
    return max(job.arrival_h, job.deadline_h - predicted_upper_quantile_h / speed)


@dataclass
class JobBatch:
    """Jobs as arrays (struct of arrays) so policies and the simulator vectorise.

    Units: h for ``arrival_h``, ``length_h``, ``length_upper_h``, ``deadline_h``.
    ``line`` is the 1-based line in the source file (0 when built in memory).
    """

    job_id: IntArray
    arrival_h: FloatArray
    length_h: FloatArray
    cpus: IntArray
    gpus: IntArray
    deadline_h: FloatArray
    length_upper_h: FloatArray
    interruptible: BoolArray
    priority: IntArray
    line: IntArray

    def __len__(self) -> int:
        return len(self.job_id)

    @property
    def latest_start_h(self) -> FloatArray:
        """Latest safe start on a speed-1.0 node. Units: h."""
        out: FloatArray = np.maximum(self.arrival_h, self.deadline_h - self.length_upper_h)
        return out

    def subset(self, index: npt.NDArray[np.int64] | BoolArray | slice) -> JobBatch:
        return JobBatch(
            job_id=self.job_id[index],
            arrival_h=self.arrival_h[index],
            length_h=self.length_h[index],
            cpus=self.cpus[index],
            gpus=self.gpus[index],
            deadline_h=self.deadline_h[index],
            length_upper_h=self.length_upper_h[index],
            interruptible=self.interruptible[index],
            priority=self.priority[index],
            line=self.line[index],
        )

    def job(self, i: int) -> Job:
        return Job(
            job_id=int(self.job_id[i]),
            arrival_h=float(self.arrival_h[i]),
            length_h=float(self.length_h[i]),
            cpus=int(self.cpus[i]),
            deadline_h=float(self.deadline_h[i]),
            gpus=int(self.gpus[i]),
            interruptible=bool(self.interruptible[i]),
            priority=int(self.priority[i]),
            length_upper_h=float(self.length_upper_h[i]),
        )

    @classmethod
    def from_jobs(cls, jobs: Sequence[Job]) -> JobBatch:
        return cls(
            job_id=np.array([j.job_id for j in jobs], dtype=np.int64),
            arrival_h=np.array([j.arrival_h for j in jobs], dtype=np.float64),
            length_h=np.array([j.length_h for j in jobs], dtype=np.float64),
            cpus=np.array([j.cpus for j in jobs], dtype=np.int64),
            gpus=np.array([j.gpus for j in jobs], dtype=np.int64),
            deadline_h=np.array([j.deadline_h for j in jobs], dtype=np.float64),
            length_upper_h=np.array(
                [j.length_h if j.length_upper_h is None else j.length_upper_h for j in jobs],
                dtype=np.float64,
            ),
            interruptible=np.array([j.interruptible for j in jobs], dtype=np.bool_),
            priority=np.array([j.priority for j in jobs], dtype=np.int64),
            line=np.zeros(len(jobs), dtype=np.int64),
        )


@dataclass(frozen=True)
class NodeGroup:
    """``count`` identical nodes. Jobs of one group may span its nodes (gang), so a
    group offers ``count * cpus`` cores.

    Units: ``idle_w`` per node (W), ``active_w_per_cpu`` / ``active_w_per_gpu`` per busy
    core / GPU (W); ``speed`` is throughput relative to the reference node (a job of
    length L h runs L / speed h here); ``solar_peak_w`` is the on-site PV peak (W), 0 for
    none; ``solar_site`` names the PV profile.
    """

    name: str
    count: int
    cpus: int
    gpus: int = 0
    idle_w: float = 0.0
    active_w_per_cpu: float = DEFAULT_ACTIVE_W_PER_CPU
    active_w_per_gpu: float = 0.0
    speed: float = 1.0
    zone: str | None = None
    solar_peak_w: float = 0.0
    solar_latitude_deg: float | None = None
    solar_longitude_deg: float | None = None
    solar_profile: str | None = None
    solar_profile_column: str | None = None

    @property
    def total_cpus(self) -> int:
        return self.count * self.cpus

    @property
    def total_gpus(self) -> int:
        return self.count * self.gpus

    @property
    def idle_total_w(self) -> float:
        """Idle draw of the whole group. Units: W."""
        return self.count * self.idle_w

    def energy_per_work_wh(self) -> float:
        """Energy of one core-hour of reference work here (excluding idle). Units: Wh."""
        return self.active_w_per_cpu / self.speed


@dataclass(frozen=True)
class Cluster:
    """Node groups; ``unlimited`` means capacity is never binding (no cluster file)."""

    groups: tuple[NodeGroup, ...]
    unlimited: bool = False
    name: str = "cluster"
    notes: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.groups:
            raise ConfigError("a cluster needs at least one node group")
        names = [g.name for g in self.groups]
        if len(set(names)) != len(names):
            raise ConfigError(f"node group names must be unique, got {names}")

    def index(self, name: str) -> int:
        for i, g in enumerate(self.groups):
            if g.name == name:
                return i
        raise ConfigError(f"unknown node group {name!r}; groups: {[g.name for g in self.groups]}")

    @property
    def capacity_cpus(self) -> IntArray:
        return np.array([g.total_cpus for g in self.groups], dtype=np.int64)

    @property
    def capacity_gpus(self) -> IntArray:
        return np.array([g.total_gpus for g in self.groups], dtype=np.int64)


def default_cluster(zone: str | None = None) -> Cluster:
    """Unlimited capacity, one node type (EPYC 7543 power per core), no idle power."""
    return Cluster(
        groups=(NodeGroup(name="default", count=1, cpus=1, zone=zone),),
        unlimited=True,
        name="unlimited",
    )
