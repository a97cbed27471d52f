"""When and where queued jobs run: the engine's policy interface and two policies.

The engine hands a policy the jobs waiting to start and the live nodes, and gets
back a :class:`Placement` per job: a start instant and the nodes it may use (a
sharded job spreads over them). Whatever a policy answers, the engine never starts
a job later than its latest safe start. ``wattwise.schedule`` policies plug in
through the same interface. Units: s (times UTC epoch seconds), cores.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from wattwise.errors import WattwiseError
from wattwise.units import TimeSeries

log = logging.getLogger("wattwise.engine")


@dataclass(frozen=True)
class NodeView:
    """A live node and what is free on it now. Units: cores, GPUs."""

    node_id: str
    name: str
    cpus: float
    gpus: float
    free_cpus: float
    free_gpus: float
    node_type: str | None = None
    zone: str | None = None


@dataclass(frozen=True)
class PendingJob:
    """A job waiting to start. Units: cores; s; epoch s."""

    job_id: int
    cpus: float
    gpus: int
    n_tasks: int
    submitted_s: float
    latest_start_s: float
    runtime_s: float | None = None
    node_type: str | None = None
    zone: str | None = None
    excluded_nodes: tuple[str, ...] = ()
    priority: int = 0


@dataclass(frozen=True)
class Placement:
    """Start ``job_id`` at ``start_s`` (epoch s) on ``node_ids`` (in preference order).

    ``node_ids`` empty means no node can take the job now; ``reason`` says why.
    """

    job_id: int
    start_s: float
    node_ids: tuple[str, ...]
    reason: str = ""


@runtime_checkable
class PlacementPolicy(Protocol):
    """Plans start times and nodes for waiting jobs (the engine's interface; not
    :class:`wattwise.schedule.policies.base.Policy`, which plugs in through
    :class:`~wattwise.engine.schedule_adapter.ScheduleAdapter`)."""

    def plan(
        self, jobs: Sequence[PendingJob], nodes: Sequence[NodeView], now_s: float
    ) -> list[Placement]: ...


def eligible(job: PendingJob, nodes: Sequence[NodeView]) -> list[NodeView]:
    """Nodes that match the job's type and zone and are big enough for one task."""
    return [
        n
        for n in nodes
        if (job.node_type is None or n.node_type == job.node_type)
        and (job.zone is None or n.zone == job.zone)
        and n.node_id not in job.excluded_nodes
        and n.cpus >= job.cpus
        and n.gpus >= job.gpus
    ]


def no_node_reason(job: PendingJob) -> str:
    wants = [f"{job.cpus:g} cpus"]
    if job.gpus:
        wants.append(f"{job.gpus} gpus")
    if job.node_type:
        wants.append(f"node_type={job.node_type}")
    if job.zone:
        wants.append(f"zone={job.zone}")
    return f"no live node offers {', '.join(wants)}; waiting for one to join"


def _by_free(nodes: Sequence[NodeView]) -> tuple[str, ...]:
    return tuple(n.node_id for n in sorted(nodes, key=lambda n: (-n.free_cpus, n.name)))


@dataclass
class AsapPolicy:
    """Start every job now on the eligible nodes with the most free cores."""

    def plan(
        self, jobs: Sequence[PendingJob], nodes: Sequence[NodeView], now_s: float
    ) -> list[Placement]:
        out = []
        for job in jobs:
            fits = eligible(job, nodes)
            out.append(
                Placement(job.job_id, now_s, _by_free(fits), "" if fits else no_node_reason(job))
            )
        return out


#: Intensity forecast for a zone over [start_s, end_s]. Units: gCO2e/kWh.
Forecast = Callable[[str | None, float, float], TimeSeries]


@dataclass
class CarbonAwarePolicy:
    """Start each job in the window of lowest forecast carbon intensity before its
    latest safe start, in the zone (among eligible nodes) where that window is cleanest.

    Candidate starts are now, every ``step_s`` after, and the latest safe start.
    Jobs without a runtime are scored over ``default_runtime_s``. Units: s.
    """

    forecast: Forecast
    step_s: float = 900.0
    default_runtime_s: float = 3600.0
    _cache: dict[tuple[str | None, float, float], TimeSeries] = field(default_factory=dict)

    def plan(
        self, jobs: Sequence[PendingJob], nodes: Sequence[NodeView], now_s: float
    ) -> list[Placement]:
        self._cache.clear()
        out = []
        for job in jobs:
            fits = eligible(job, nodes)
            if not fits:
                out.append(Placement(job.job_id, now_s, (), no_node_reason(job)))
                continue
            runtime = job.runtime_s or self.default_runtime_s
            latest = max(now_s, job.latest_start_s)
            starts = np.unique(np.append(np.arange(now_s, latest, self.step_s), latest))
            best: tuple[float, float, str | None] | None = None
            for zone in sorted({n.zone for n in fits}, key=lambda z: z or ""):
                try:
                    series = self._series(zone, now_s, latest + runtime)
                except WattwiseError as err:
                    log.warning("no forecast for zone %s: %s", zone, err)
                    continue
                mean = series.mean(starts, starts + runtime)
                i = int(np.argmin(mean))
                if best is None or mean[i] < best[0] - 1e-9:
                    best = (float(mean[i]), float(starts[i]), zone)
            if best is None:  # no zone has a forecast: run now, anywhere eligible
                out.append(Placement(job.job_id, now_s, _by_free(fits), "no forecast; started now"))
                continue
            _, start, zone = best
            chosen = [n for n in fits if n.zone == zone]
            out.append(Placement(job.job_id, start, _by_free(chosen)))
        return out

    def _series(self, zone: str | None, start_s: float, end_s: float) -> TimeSeries:
        key = (zone, start_s, end_s)
        if key not in self._cache:
            self._cache[key] = self.forecast(zone, start_s, end_s)
        return self._cache[key]
