"""Baseline policies from the literature, each deciding once, when a job arrives.

- ``fifo``: start on arrival, first group with room (carbon-agnostic).
- ``lowest-start``: start in the hour with the lowest forecast intensity within the
  slack (Let's Wait Awhile, Wiesner et al., Middleware'21).
- ``lowest-window``: start where the forecast mean over the job's run is lowest; on a
  cluster spanning several zones, in the zone where that window is cleanest.
- ``threshold``: start (or, for interruptible jobs with unlimited capacity, run only)
  when the forecast is below a percentile of the window's forecast.
- ``gaia-cst``: carbon saving per waiting time (GAIA, Hanafy et al., ASPLOS'24): wait
  for the start that saves the most carbon per hour waited, if any saves.
- ``efficiency``: start on arrival on the most energy-efficient group with room.

All but ``efficiency`` and (across zones) ``lowest-window`` read the forecast of the
first group's zone and leave the group to the dispatcher (cluster order): they are not
heterogeneity-aware.
"""

from __future__ import annotations

import numpy as np

from wattwise.schedule.model import Cluster, FloatArray, JobBatch
from wattwise.schedule.policies.base import (
    ANY_GROUP,
    ClusterState,
    ForecastView,
    Plan,
    Policy,
    integer_candidates,
    start_candidates,
    window_integral,
)


def _any(queue: JobBatch, start_h: FloatArray) -> Plan:
    return Plan(queue.job_id.copy(), np.full(len(queue), ANY_GROUP, np.int64), start_h)


def _duration(policy: Policy, queue: JobBatch) -> FloatArray:
    speed = policy.cluster.groups[policy.group_order[0]].speed
    out: FloatArray = queue.length_h / speed
    return out


class Fifo(Policy):
    name = "fifo"

    def plan(
        self, now_h: float, queue: JobBatch, state: ClusterState, forecast: ForecastView
    ) -> Plan:
        return _any(queue, np.maximum(queue.arrival_h, now_h))


class Efficiency(Policy):
    name = "efficiency"

    def reset(self, cluster: Cluster, n_hours: int) -> None:
        super().reset(cluster, n_hours)
        groups = self.cluster.groups
        self.group_order = sorted(range(len(groups)), key=lambda g: groups[g].energy_per_work_wh())

    def plan(
        self, now_h: float, queue: JobBatch, state: ClusterState, forecast: ForecastView
    ) -> Plan:
        return _any(queue, np.maximum(queue.arrival_h, now_h))


class LowestStart(Policy):
    name = "lowest-start"

    def plan(
        self, now_h: float, queue: JobBatch, state: ClusterState, forecast: ForecastView
    ) -> Plan:
        row = forecast.intensity[self.group_order[0]]
        latest = queue.latest_start_h
        cand = integer_candidates(queue, now_h, latest)
        k = np.clip(np.floor(cand - forecast.hour).astype(np.int64), 0, len(row) - 1)
        best = np.argmin(row[k], axis=1)  # first minimum: the earliest of equals
        return _any(queue, cand[np.arange(len(queue)), best])


class LowestWindow(Policy):
    """Start where the forecast mean over the job's run is lowest. Where the groups lie
    in more than one zone, each zone's first group (in ``group_order``) is scored too and
    a job goes to the zone whose best window is cleaner than the first group's (ties:
    the first group's zone, then the group left to the dispatcher as in one zone)."""

    name = "lowest-window"

    def reset(self, cluster: Cluster, n_hours: int) -> None:
        super().reset(cluster, n_hours)
        seen: dict[str | None, int] = {}
        for g in self.group_order:
            seen.setdefault(cluster.groups[g].zone, g)
        #: One group per zone, the first group's zone first.
        self.zone_groups = list(seen.values())

    def plan(
        self, now_h: float, queue: JobBatch, state: ClusterState, forecast: ForecastView
    ) -> Plan:
        best_cost: FloatArray | None = None
        plan = Plan.empty()
        for g in self.zone_groups:
            row = forecast.intensity[g]
            dur = queue.length_h / self.cluster.groups[g].speed
            latest = queue.latest_start_h
            cand = start_candidates(queue, now_h, latest, dur)
            cost = window_integral(row, forecast.hour, cand, dur[:, None])
            # Prefer the earliest of near-equal windows (less waiting for the same carbon).
            best = np.argmin(cost + 1e-9 * (cand - cand[:, :1]), axis=1)
            rows = np.arange(len(queue))
            mean = cost[rows, best] / np.maximum(dur, 1e-12)
            start = cand[rows, best]
            if best_cost is None:
                best_cost, plan = mean, _any(queue, start)
                continue
            better = mean < best_cost * (1.0 - 1e-9) - 1e-12
            best_cost = np.where(better, mean, best_cost)
            plan.group = np.where(better, g, plan.group)
            plan.start_h = np.where(better, start, plan.start_h)
        return plan


class Threshold(Policy):
    """Start when the forecast falls to the ``percentile`` of the slack window.

    Interruptible jobs (unlimited capacity only) instead run in the cheapest-forecast
    hours below the threshold and are forced to run at the end to meet the deadline;
    see :meth:`segments`.
    """

    name = "threshold"
    percentile = 30.0

    def plan(
        self, now_h: float, queue: JobBatch, state: ClusterState, forecast: ForecastView
    ) -> Plan:
        row = forecast.intensity[self.group_order[0]]
        latest = queue.latest_start_h
        cand = integer_candidates(queue, now_h, latest)
        k = np.clip(np.floor(cand - forecast.hour).astype(np.int64), 0, len(row) - 1)
        vals = row[k]
        thr = np.percentile(vals, self.percentile, axis=1)
        ok = vals <= thr[:, None]
        first = np.argmax(ok, axis=1)
        return _any(queue, cand[np.arange(len(queue)), first])

    def segments(
        self, now_h: float, queue: JobBatch, forecast: ForecastView
    ) -> list[list[tuple[float, float]]]:
        """Suspend-resume plan for interruptible jobs: run hours ``[(start, end), ...]``.

        Runs whole hours whose forecast is below the threshold, earliest first, until
        the work is done; hours the deadline forces are added last. Units: h.
        """
        row = forecast.intensity[self.group_order[0]]
        speed = self.cluster.groups[self.group_order[0]].speed
        out: list[list[tuple[float, float]]] = []
        for i in range(len(queue)):
            a = max(float(queue.arrival_h[i]), now_h)
            need = float(queue.length_upper_h[i]) / speed
            work = float(queue.length_h[i]) / speed
            deadline = float(queue.deadline_h[i])
            # Slots: the partial first hour, then whole hours up to the deadline.
            edges = [a, *np.arange(np.floor(a) + 1, deadline, 1.0).tolist(), deadline]
            slots = [(edges[j], edges[j + 1]) for j in range(len(edges) - 1)]
            k = [min(max(int(s - forecast.hour), 0), len(row) - 1) for s, _ in slots]
            vals = np.array([row[x] for x in k])
            thr = float(np.percentile(vals, self.percentile))
            chosen: list[int] = []
            got = 0.0
            # Latest slots needed to finish `need` if we stopped choosing now.
            for j, (s, e) in enumerate(slots):
                if got >= work - 1e-12:
                    break
                remaining_after = sum(e2 - s2 for s2, e2 in slots[j + 1 :])
                forced = got + remaining_after < need - 1e-12
                if vals[j] <= thr or forced:
                    chosen.append(j)
                    got += e - s
            segs: list[tuple[float, float]] = []
            left = work
            for j in chosen:
                s, e = slots[j]
                take = min(e - s, left)
                if take <= 0:
                    break
                if segs and abs(segs[-1][1] - s) < 1e-12:
                    segs[-1] = (segs[-1][0], s + take)
                else:
                    segs.append((s, s + take))
                left -= take
            out.append(segs)
        return out


class GaiaCst(Policy):
    """GAIA's carbon saving per waiting time: among starts that save carbon against
    starting now (by the forecast), take the one with the largest saving per hour of
    waiting."""

    name = "gaia-cst"

    def plan(
        self, now_h: float, queue: JobBatch, state: ClusterState, forecast: ForecastView
    ) -> Plan:
        row = forecast.intensity[self.group_order[0]]
        dur = _duration(self, queue)
        latest = queue.latest_start_h
        cand = integer_candidates(queue, now_h, latest)
        cost = window_integral(row, forecast.hour, cand, dur[:, None])
        now_start = cand[:, :1]
        saving = cost[:, :1] - cost
        wait = cand - now_start
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.where((wait > 1e-9) & (saving > 0), saving / wait, -np.inf)
        best = np.argmax(rate, axis=1)
        has = np.isfinite(rate[np.arange(len(queue)), best])
        start = np.where(has, cand[np.arange(len(queue)), best], now_start[:, 0])
        return _any(queue, start)
