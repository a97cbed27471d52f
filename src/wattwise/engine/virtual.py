"""The engine's scheduling core on a job trace in virtual time: what the head's
:class:`~wattwise.engine.scheduler.Scheduler` decides when every task starts the
instant it is dispatched and runs exactly its length (over its group's speed).

It drives the scheduler as the head does (each job offered when it arrives, the
hourly re-plan when ``replan_due``, ``dispatch`` against the nodes' free cores) on one
node per group of the cluster, stepping a virtual clock. Against
:func:`wattwise.schedule.simulator.simulate` on the same inputs it separates the
scheduling core from the cost of running real processes (``bench/engine_parity.py``).
No processes, no Ray, no store. Units: h on the trace's clock, s inside the scheduler.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from wattwise.engine.scheduler import NodeView, PendingJob, Scheduler
from wattwise.errors import ConfigError
from wattwise.schedule.model import Cluster, FloatArray, IntArray, JobBatch
from wattwise.schedule.policies.base import Policy
from wattwise.schedule.signals import Signals
from wattwise.units import SECONDS_PER_HOUR, TimeSeries


@dataclass(frozen=True)
class VirtualRun:
    """Where and when each job ran (rows as in the trace; NaN and -1: never started).
    Units: h since the trace's hour 0."""

    start_h: FloatArray
    end_h: FloatArray
    group: IntArray


def replay(
    jobs: JobBatch,
    cluster: Cluster,
    signals: Signals,
    policy: Policy,
    step_h: float = 0.01,
    limit_h: float | None = None,
) -> VirtualRun:
    """Run ``jobs`` through a :class:`Scheduler` keeping ``policy``, fed the forecast
    rows ``signals`` issues at each hour, on one node per node of each group of
    ``cluster``, with a virtual clock stepped every ``step_h``. Stops when every job
    ended, or at ``limit_h`` (default: the last deadline plus a week)."""
    if not (math.isfinite(step_h) and step_h > 0):
        raise ConfigError(f"step_h must be a positive number of hours, got {step_h}")
    hour_s = SECONDS_PER_HOUR
    now = [0.0]

    def forecast(zone: str | None, start_s: float, end_s: float) -> TimeSeries:
        g = next((k for k, gr in enumerate(cluster.groups) if gr.zone == zone), 0)
        return signals.issued_series(g, math.floor(now[0] / hour_s + 1e-9), 0.0, hour_s)

    scheduler = Scheduler(
        policy,
        forecast,
        hour_s=hour_s,
        origin_s=0.0,
        node_groups={g.name: g for g in cluster.groups},
    )
    nodes = [
        (f"{g.name}-{k}", gi, g) for gi, g in enumerate(cluster.groups) for k in range(g.count)
    ]
    used = {name: [0.0, 0.0] for name, _, _ in nodes}

    def views() -> list[NodeView]:
        return [
            NodeView(
                node_id=name,
                name=name,
                cpus=g.cpus,
                gpus=g.gpus,
                free_cpus=g.cpus - used[name][0],
                free_gpus=g.gpus - used[name][1],
                node_type=g.name,
                zone=g.zone,
            )
            for name, _, g in nodes
        ]

    group_of = {name: (gi, g) for name, gi, g in nodes}
    row_of = {int(j): i for i, j in enumerate(jobs.job_id)}
    n = len(jobs)
    start, end = np.full(n, np.nan), np.full(n, np.nan)
    group = np.full(n, -1, np.int64)
    running: dict[int, tuple[float, str]] = {}  # row -> (end h, node)
    holding: dict[int, int] = {}  # job id -> tasks still to start
    order = np.argsort(jobs.arrival_h, kind="stable")
    arrived = 0
    last_h = limit_h if limit_h is not None else float(jobs.deadline_h.max()) + 24 * 7
    t = 0.0
    while t <= last_h:
        now[0] = t * hour_s
        for r, (end_h, node) in list(running.items()):
            if end_h <= t + 1e-9:
                used[node][0] -= float(jobs.cpus[r])
                used[node][1] -= float(jobs.gpus[r])
                del running[r]
                holding.pop(int(jobs.job_id[r]), None)
        new: list[PendingJob] = []
        while arrived < n and jobs.arrival_h[order[arrived]] <= t + 1e-9:
            r = int(order[arrived])
            arrived += 1
            length_s = float(jobs.length_h[r]) * hour_s
            upper_s = float(jobs.length_upper_h[r]) * hour_s
            new.append(
                PendingJob(
                    job_id=int(jobs.job_id[r]),
                    cpus=float(jobs.cpus[r]),
                    gpus=int(jobs.gpus[r]),
                    n_tasks=1,
                    submitted_s=float(jobs.arrival_h[r]) * hour_s,
                    latest_start_s=float(jobs.deadline_h[r]) * hour_s - upper_s,
                    runtime_s=length_s,
                    runtime_upper_s=upper_s,
                    priority=int(jobs.priority[r]),
                )
            )
            holding[int(jobs.job_id[r])] = 1
        if new or scheduler.replan_due(now[0]):
            scheduler.plan(new, views(), now[0])
        for s in scheduler.dispatch(now[0], views(), holding):
            r = row_of[s.job_id]
            gi, g = group_of[s.node_id]
            used[s.node_id][0] += float(jobs.cpus[r])
            used[s.node_id][1] += float(jobs.gpus[r])
            start[r], group[r] = t, gi
            end[r] = t + float(jobs.length_h[r]) / g.speed
            running[r] = (float(end[r]), s.node_id)
            holding[s.job_id] = 0
        if arrived >= n and not running and not any(holding.values()):
            break
        t = round(t + step_h, 9)
    return VirtualRun(start, end, group)
