"""Trace-driven, discrete-event simulation of a policy on a cluster.

The policy is called at the start of every hour with the jobs arriving in that hour
and the forecast issued then (re-planning policies are called every hour). Jobs never
start before they arrive. With unlimited capacity a job starts exactly when planned;
otherwise :class:`~wattwise.schedule.dispatcher.Dispatcher` starts planned jobs
against real capacity, in time order. Carbon is accounted with the true signal.
Deterministic: no randomness.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from wattwise.errors import ScheduleError
from wattwise.schedule.dispatcher import Dispatcher
from wattwise.schedule.metrics import Metrics, Pieces, compute_metrics
from wattwise.schedule.model import BoolArray, Cluster, FloatArray, IntArray, JobBatch
from wattwise.schedule.policies.base import ANY_GROUP, ClusterState, ForecastView, Policy
from wattwise.schedule.policies.baselines import Threshold
from wattwise.schedule.signals import Signals

Progress = Callable[[float], None]


@dataclass
class SimResult:
    """Outcome of one simulation. Units: h since origin."""

    policy: str
    metrics: Metrics
    start_h: FloatArray
    end_h: FloatArray
    group: IntArray
    rejected: BoolArray
    reasons: list[str] = field(default_factory=list)
    pieces: Pieces | None = None


def oversize(jobs: JobBatch, cluster: Cluster) -> tuple[BoolArray, list[str]]:
    """Jobs larger than every node group, with the reason for each."""
    if cluster.unlimited:
        return np.zeros(len(jobs), np.bool_), []
    cap_c = cluster.capacity_cpus
    cap_g = cluster.capacity_gpus
    fits = (jobs.cpus[:, None] <= cap_c[None, :]) & (jobs.gpus[:, None] <= cap_g[None, :])
    bad: BoolArray = np.asarray(~fits.any(axis=1), dtype=np.bool_)
    reasons = [
        f"job {int(jobs.job_id[i])} (line {int(jobs.line[i])}) needs {int(jobs.cpus[i])} CPUs"
        f" and {int(jobs.gpus[i])} GPUs; the largest node group offers {int(cap_c.max())} CPUs"
        f" and {int(cap_g.max())} GPUs"
        for i in np.flatnonzero(bad)
    ]
    return bad, reasons


def simulate(
    jobs: JobBatch,
    cluster: Cluster,
    signals: Signals,
    policy: Policy,
    progress: Progress | None = None,
    until_h: int | None = None,
) -> SimResult:
    """Run ``policy`` over ``jobs`` and account carbon with the true signal."""
    n = len(jobs)
    rejected, reasons = oversize(jobs, cluster)
    speed = np.array([g.speed for g in cluster.groups])
    w_cpu = np.array([g.active_w_per_cpu for g in cluster.groups])
    w_gpu = np.array([g.active_w_per_gpu for g in cluster.groups])
    last_arrival = float(jobs.arrival_h.max()) if n else 0.0
    plan_hours = int(np.floor(last_arrival)) + 1
    policy.reset(cluster, signals.n_hours)
    start = np.full(n, np.nan)
    group = np.full(n, -1, np.int64)
    planned_s = np.full(n, np.inf)
    planned_g = np.full(n, ANY_GROUP, np.int64)
    version = np.zeros(n, np.int64)
    bounds = np.searchsorted(jobs.arrival_h, np.arange(plan_hours + 1), side="left")
    # Map job ids (as policies see them) to rows.
    row_of = {int(j): i for i, j in enumerate(jobs.job_id)}
    segs: dict[int, list[tuple[float, float]]] = {}
    live = Dispatcher(jobs, cluster, policy, speed) if not cluster.unlimited else None
    state = ClusterState(cluster, cluster.capacity_cpus.copy(), cluster.capacity_gpus.copy())
    hour = 0
    max_hour = signals.n_hours - 1
    while True:
        if hour < plan_hours:
            idx = np.arange(bounds[hour], bounds[hour + 1])
            idx = idx[~rejected[idx]]
        else:
            idx = np.zeros(0, np.int64)
        if len(idx) or policy.replans:
            q = jobs.subset(idx)
            view = ForecastView.at(signals, hour)
            if live is not None:
                state.free_cpus[:] = live.free_cpus
                state.free_gpus[:] = live.free_gpus
            plan = policy.plan(float(hour), q, state, view)
            rows = np.array([row_of[int(j)] for j in plan.job_id], dtype=np.int64)
            if len(rows):
                if np.any(plan.start_h < jobs.arrival_h[rows] - 1e-9):
                    raise ScheduleError(f"policy {policy.name} started a job before it arrived")
                planned_s[rows] = plan.start_h
                planned_g[rows] = plan.group
                version[rows] += 1
                if live is not None:
                    todo = rows[np.isnan(start[rows])]  # not started yet
                    for r, at, ver, grp in zip(
                        todo.tolist(),
                        planned_s[todo].tolist(),
                        version[todo].tolist(),
                        planned_g[todo].tolist(),
                        strict=True,
                    ):
                        live.ready(at, r, ver, grp)
            if (
                cluster.unlimited
                and isinstance(policy, Threshold)
                and len(q)
                and np.any(q.interruptible)
            ):
                sel = np.flatnonzero(q.interruptible)
                for r, s in zip(
                    idx[sel], policy.segments(float(hour), q.subset(sel), view), strict=True
                ):
                    segs[int(r)] = s
        if live is not None:
            live.run_until(float(hour + 1), start, group)
        if progress is not None and hour % 24 == 0:
            progress(min(hour / max(plan_hours, 1), 1.0))
        hour += 1
        if hour >= plan_hours:
            if live is None:
                if not policy.replans or hour > max_hour or not _pending(planned_s, hour):
                    break
            elif live.idle() and (not policy.replans or not _pending_live(start, rejected)):
                break
            if hour > max_hour + 24 * 8:
                raise ScheduleError(
                    "simulation did not finish: jobs still queued a week past the data"
                )
    if live is None:
        start = np.where(rejected, np.nan, planned_s)
        g0 = policy.group_order[0]
        group = np.where(planned_g == ANY_GROUP, g0, planned_g)
        group = np.where(rejected, -1, group)
    if progress is not None:
        progress(1.0)
    ok = ~rejected
    gi = np.maximum(group, 0)
    dur = jobs.length_h / speed[gi]
    end = start + dur
    pw = jobs.cpus * w_cpu[gi] + jobs.gpus * w_gpu[gi]
    p_job = np.flatnonzero(ok)
    p_start, p_end = start[ok], end[ok]
    first, last = start.copy(), end.copy()
    if segs:
        keep = np.array([int(r) not in segs for r in p_job], dtype=np.bool_)
        extra = [(r, s, e) for r, lst in segs.items() for s, e in lst]
        er = np.array([x[0] for x in extra], np.int64)
        p_job = np.concatenate([p_job[keep], er])
        p_start = np.concatenate([p_start[keep], np.array([x[1] for x in extra])])
        p_end = np.concatenate([p_end[keep], np.array([x[2] for x in extra])])
        for r, lst in segs.items():
            first[r], last[r] = lst[0][0], lst[-1][1]
    pieces = Pieces(
        job=p_job,
        group=gi[p_job],
        start_h=p_start,
        end_h=p_end,
        power_w=pw[p_job],
        cpus=jobs.cpus[p_job],
    )
    metrics = compute_metrics(
        pieces,
        cluster,
        signals,
        jobs.arrival_h,
        np.where(ok, first, 0.0),
        np.where(ok, last, 0.0),
        jobs.deadline_h,
        jobs.cpus * jobs.length_h,
        rejected,
        until_h=until_h,
    )
    return SimResult(policy.name, metrics, start, end, group, rejected, reasons, pieces)


def _pending(planned_s: FloatArray, hour: int) -> bool:
    fin = planned_s[np.isfinite(planned_s)]
    return bool(len(fin) and fin.max() >= hour)


def _pending_live(start: FloatArray, rejected: BoolArray) -> bool:
    return bool(np.any(np.isnan(start) & ~rejected))
