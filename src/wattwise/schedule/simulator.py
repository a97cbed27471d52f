"""Trace-driven, discrete-event simulation of a policy on a cluster.

The policy is called at the start of every hour with the jobs arriving in that hour
and the forecast issued then (re-planning policies are called every hour). Jobs never
start before they arrive. With unlimited capacity a job starts exactly when planned;
otherwise a dispatcher runs arrivals of planned starts and completions in time order:
a job whose group is full waits, first come first served with backfilling (or
earliest deadline first, for policies whose ``queue_order`` is "edf"), and may take
any group once its latest safe start has passed. Policies with ``reservations``
get EASY-style backfilling: the first blocked job in queue order holds a
reservation on its group from when the running jobs' upper estimates say enough
frees up, and later jobs may start there only if they end before it or use cores it
leaves spare. Deterministic: no randomness.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from wattwise.errors import ScheduleError
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
    len(cluster.groups)
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
    live = _Dispatcher(jobs, cluster, policy, speed) if not cluster.unlimited else None
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
                    for r in rows:
                        if np.isnan(start[r]):
                            live.ready(float(planned_s[r]), int(r), int(version[r]))
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
            live.run_until(float(hour + 1), planned_g, version, start, group)
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


class _Dispatcher:
    """Planned starts and completions in time order, against real capacity."""

    def __init__(self, jobs: JobBatch, cluster: Cluster, policy: Policy, speed: FloatArray) -> None:
        self.jobs = jobs
        self.policy = policy
        self.free_cpus = [g.total_cpus for g in cluster.groups]
        self.free_gpus = [g.total_gpus for g in cluster.groups]
        self.cpus = jobs.cpus.tolist()
        self.gpus = jobs.gpus.tolist()
        self.length = jobs.length_h.tolist()
        self.deadline = jobs.deadline_h.tolist()
        self.upper = jobs.length_upper_h.tolist()
        self.speed = speed.tolist()
        self.ready_heap: list[tuple[float, int, int]] = []
        self.done_heap: list[tuple[float, int, int]] = []
        # Waiting jobs as (key, row): arrival order, or latest start for EDF policies.
        self.waiting: list[tuple[float, int]] = []
        self.edf = getattr(policy, "queue_order", "fifo") == "edf"
        self.latest = (jobs.deadline_h - jobs.length_upper_h).tolist()
        self.tick = 0.0
        # A job planned on one group may move to another this long before its latest
        # safe start there (policies that plan with a guard say how long).
        self.guard_h = float(getattr(policy, "guard_h", 0.0))
        self.patience_h = float(getattr(policy, "patience_h", 0.0))

        self.seen_version: dict[int, int] = {}
        self.groups = range(len(cluster.groups))
        self.total_cpus = [g.total_cpus for g in cluster.groups]
        self.total_gpus = [g.total_gpus for g in cluster.groups]
        # Backfilling with reservations (EASY), for policies that ask: the most urgent
        # blocked job holds a reservation on its group, and later jobs may start there
        # only if they end (by their upper estimate) before it can start, or use cores
        # it will not need. Without it, a stream of small jobs starves wide ones.
        self.reserve = bool(getattr(policy, "reservations", False))
        self.running: list[dict[int, float]] = [{} for _ in cluster.groups]  # row -> end
        self.resv: dict[int, list[float]] = {}  # group -> [shadow time, spare cpus, gpus]
        self.started = [False] * len(jobs)
        # Waiting row -> (the group it waits for, when it may look at others).
        self.wanted: dict[int, tuple[int, float]] = {}

    def ready(self, t: float, row: int, ver: int) -> None:
        self.seen_version[row] = ver
        heapq.heappush(self.ready_heap, (t, ver, row))

    def idle(self) -> bool:
        return not self.ready_heap and not self.done_heap and not self.waiting

    def _fits(self, row: int, g: int, t: float) -> bool:
        if self.free_cpus[g] < self.cpus[row] or self.free_gpus[g] < self.gpus[row]:
            return False
        r = self.resv.get(g)
        if r is None:
            return True
        ends_before = t + self.upper[row] / self.speed[g] <= r[0] + 1e-9
        return ends_before or (self.cpus[row] <= r[1] and self.gpus[row] <= r[2])

    def _reserve(self, row: int, want: int, t: float) -> None:
        """Give blocked ``row`` the reservation on its group if that group has none:
        when, by the running jobs' upper estimates, enough frees up for it."""
        if want == ANY_GROUP:
            order = [g for g in self.policy.group_order if self.total_cpus[g] >= self.cpus[row]]
            if not order:
                return
            want = order[0]
        if want in self.resv or self.total_cpus[want] < self.cpus[row]:
            return
        if self.total_gpus[want] < self.gpus[row]:
            return
        free_c, free_g = self.free_cpus[want], self.free_gpus[want]
        shadow = t
        ends = sorted((max(e, t), r) for r, e in self.running[want].items())
        for end, r in ends:
            if free_c >= self.cpus[row] and free_g >= self.gpus[row]:
                break
            free_c += self.cpus[r]
            free_g += self.gpus[r]
            shadow = end
        self.resv[want] = [shadow, free_c - self.cpus[row], free_g - self.gpus[row]]

    def _switch_h(self, row: int, g: int) -> float:
        """When a job waiting for group ``g`` may look at other groups. Units: h."""
        latest = self.deadline[row] - self.upper[row] / self.speed[g]
        return latest - self.guard_h - self.patience_h - 1e-9

    def _choose(self, row: int, want: int, t: float) -> int:
        order = self.policy.group_order
        if want != ANY_GROUP:
            if self._fits(row, want, t):
                return want
            if t < self._switch_h(row, want):
                return -1
            latest = self.deadline[row] - self.upper[row] / self.speed[want]
            # The deadline is near: any group that still meets it, then any at all.
            for g in order:
                fast_enough = t + self.upper[row] / self.speed[g] <= self.deadline[row]
                if fast_enough and self._fits(row, g, t):
                    return g
            if t < latest - 1e-9:
                return -1
        for g in order:
            if self._fits(row, g, t):
                return g
        return -1

    def _start(self, row: int, g: int, t: float, start: FloatArray, group: IntArray) -> None:
        self.free_cpus[g] -= self.cpus[row]
        self.free_gpus[g] -= self.gpus[row]
        start[row] = t
        group[row] = g
        self.started[row] = True
        r = self.resv.get(g)
        if r is not None and t + self.upper[row] / self.speed[g] > r[0] + 1e-9:
            r[1] -= self.cpus[row]  # a backfill that outlasts the shadow time uses spare cores
            r[2] -= self.gpus[row]
        if self.reserve:
            self.running[g][row] = t + self.upper[row] / self.speed[g]

        heapq.heappush(self.done_heap, (t + self.length[row] / self.speed[g], row, g))
        self.policy.started(int(self.jobs.job_id[row]), g, t)

    def run_until(
        self, t_end: float, want: IntArray, version: IntArray, start: FloatArray, group: IntArray
    ) -> None:
        ready, done = self.ready_heap, self.done_heap
        while True:
            t_r = ready[0][0] if ready else np.inf
            t_d = done[0][0] if done else np.inf
            t = min(t_r, t_d)
            if t >= t_end:
                return
            if t_d <= t_r:
                _, row, g = heapq.heappop(done)
                self._finish(row, g)
                # Drain every completion at this instant before starting waiters.
                while done and done[0][0] <= t:
                    _, r2, g2 = heapq.heappop(done)
                    self._finish(r2, g2)
                self._serve_waiting(t, want, start, group)
                continue
            _, ver, row = heapq.heappop(ready)
            if ver != version[row] or self.started[row]:
                continue
            g = self._choose(row, int(want[row]), t)
            if g >= 0:
                self._start(row, g, t, start, group)
            else:
                self.tick += 1.0
                w = int(want[row])
                self.wanted[row] = (w, self._switch_h(row, w) if w >= 0 else -np.inf)
                bisect.insort(self.waiting, (self.latest[row] if self.edf else self.tick, row))
                if self.reserve:
                    self._reserve(row, int(want[row]), t)

    def _finish(self, row: int, g: int) -> None:
        self.free_cpus[g] += self.cpus[row]
        self.free_gpus[g] += self.gpus[row]
        if self.reserve:
            del self.running[g][row]

    def _serve_waiting(self, t: float, want: IntArray, start: FloatArray, group: IntArray) -> None:
        self.resv.clear()
        if not self.waiting:
            return
        order = self.waiting
        if self.edf:
            # Overload-aware EDF: jobs already past their latest start will miss anyway;
            # serving them first would make the salvageable ones miss too (the EDF
            # domino effect), so they go after the rest.
            cut = bisect.bisect_left(order, (t, -1))
            order = order[cut:] + order[:cut]
        keep: list[tuple[float, int]] = []
        free, cpus, started = self.free_cpus, self.cpus, self.started
        most_free = max(free)
        for i, (key, row) in enumerate(order):
            if most_free <= 0:
                keep.extend(order[i:])
                break
            if started[row]:
                continue
            w, switch = self.wanted[row]
            if w != want[row]:  # re-planned while waiting
                w = int(want[row])
                switch = self._switch_h(row, w) if w >= 0 else -np.inf
                self.wanted[row] = (w, switch)
            # Cheap tests first: most waiting jobs fit nowhere at this instant, or wait
            # for their own full group while it is not yet time to look elsewhere.
            c = cpus[row]
            if c > most_free or (w >= 0 and c > free[w] and t < switch):
                g = -1
            else:
                g = self._choose(row, w, t)
            if g >= 0:
                self._start(row, g, t, start, group)
                most_free = max(free)
            else:
                keep.append((key, row))
                if self.reserve and (w < 0 or w not in self.resv):
                    self._reserve(row, w, t)
        keep.sort()
        self.waiting = keep
