"""Run any ``wattwise.schedule`` online policy (``wattwise``, ``lowest-window``, ...)
behind the engine's :class:`~wattwise.engine.policy.PlacementPolicy` interface.

Live nodes become node groups (one per node type and zone), waiting jobs a
``JobBatch`` in hours since the start of the current hour, and the per-zone forecast
a ``ForecastView``. The policy's plan comes back as start instants and the nodes of
the chosen group. The schedule policy is reset at every call: it sees the jobs the
engine hands it, not the ones already running. Units: s outside, h inside.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from wattwise.engine.policy import (
    AsapPolicy,
    Forecast,
    NodeView,
    PendingJob,
    Placement,
    eligible,
    no_node_reason,
)
from wattwise.errors import WattwiseError
from wattwise.schedule.model import Cluster, Job, JobBatch, NodeGroup
from wattwise.schedule.policies.base import ANY_GROUP, ClusterState, ForecastView
from wattwise.schedule.policies.base import Policy as SchedulePolicy
from wattwise.units import SECONDS_PER_HOUR

#: Jobs without a declared runtime are planned as this long. Units: s.
DEFAULT_RUNTIME_S = 3600.0


class ScheduleAdapter:
    """Adapts a schedule policy; ``forecast(zone, start_s, end_s)`` feeds its view."""

    def __init__(self, policy: SchedulePolicy, forecast: Forecast, horizon_h: int = 48) -> None:
        self.policy = policy
        self.forecast = forecast
        self.horizon_h = horizon_h

    def plan(
        self, jobs: Sequence[PendingJob], nodes: Sequence[NodeView], now_s: float
    ) -> list[Placement]:
        fallback = {p.job_id: p for p in AsapPolicy().plan(jobs, nodes, now_s)}
        plannable = [j for j in jobs if eligible(j, nodes)]
        if not plannable or not nodes:
            return [fallback[j.job_id] for j in jobs]
        origin_s = math.floor(now_s / SECONDS_PER_HOUR) * SECONDS_PER_HOUR
        keys = sorted(
            {(n.node_type, n.zone) for n in nodes}, key=lambda k: (k[0] or "", k[1] or "")
        )
        members = [[n for n in nodes if (n.node_type, n.zone) == k] for k in keys]
        cluster = Cluster(
            groups=tuple(
                NodeGroup(
                    name=f"{t or 'any'}@{z or '-'}#{i}",
                    count=len(ns),
                    cpus=max(1, int(min(n.cpus for n in ns))),
                    gpus=int(min(n.gpus for n in ns)),
                    zone=z,
                )
                for i, ((t, z), ns) in enumerate(zip(keys, members, strict=True))
            ),
            name="engine",
        )
        self.policy.reset(cluster, self.horizon_h)
        batch = JobBatch.from_jobs([_job(j, origin_s) for j in plannable])
        state = ClusterState(
            cluster,
            np.array([max(0, int(sum(n.free_cpus for n in ns))) for ns in members], np.int64),
            np.array([max(0, int(sum(n.free_gpus for n in ns))) for ns in members], np.int64),
        )
        view = ForecastView(
            hour=0,
            intensity=np.stack([self._row(z, origin_s) for _, z in keys]),
            pv_w=np.zeros((len(keys), self.horizon_h)),
        )
        now_h = (now_s - origin_s) / SECONDS_PER_HOUR
        plan = self.policy.plan(now_h, batch, state, view)
        by_id = {j.job_id: j for j in plannable}
        out: dict[int, Placement] = {}
        for job_id, group, start_h in zip(plan.job_id, plan.group, plan.start_h, strict=True):
            job = by_id.get(int(job_id))
            if job is None:
                continue
            fits = {n.node_id for n in eligible(job, nodes)}
            chosen = members[int(group)] if group != ANY_GROUP else list(nodes)
            ids = [
                n.node_id for n in sorted(chosen, key=lambda n: -n.free_cpus) if n.node_id in fits
            ]
            start_s = max(now_s, origin_s + float(start_h) * SECONDS_PER_HOUR)
            out[job.job_id] = Placement(
                job.job_id, start_s, tuple(ids or fallback[job.job_id].node_ids)
            )
        return [
            out.get(j.job_id)
            or fallback.get(j.job_id)
            or Placement(j.job_id, now_s, (), no_node_reason(j))
            for j in jobs
        ]

    def _row(self, zone: str | None, origin_s: float) -> np.ndarray:
        """Hourly forecast for ``zone`` from ``origin_s``. Units: gCO2e/kWh."""
        hours = origin_s + SECONDS_PER_HOUR * np.arange(self.horizon_h, dtype=np.float64)
        try:
            series = self.forecast(zone, origin_s, origin_s + self.horizon_h * SECONDS_PER_HOUR)
        except WattwiseError:
            return np.zeros(self.horizon_h)  # no forecast: every hour alike, start now
        return series.at(hours)


def _job(job: PendingJob, origin_s: float) -> Job:
    runtime_h = (job.runtime_s or DEFAULT_RUNTIME_S) / SECONDS_PER_HOUR
    return Job(
        job_id=job.job_id,
        arrival_h=(job.submitted_s - origin_s) / SECONDS_PER_HOUR,
        length_h=runtime_h,
        cpus=max(1, math.ceil(job.cpus)),
        deadline_h=(job.latest_start_s - origin_s) / SECONDS_PER_HOUR + runtime_h,
        gpus=job.gpus,
        priority=job.priority,
    )
