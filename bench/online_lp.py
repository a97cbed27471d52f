"""A diagnostic, not a product policy: the LP re-solved every hour over every job that
has arrived and not started, with the forecast of that hour.

It answers how much of the gap between wattwise and the offline bound comes from
optimising the known queue jointly (this policy does, wattwise places one job at a
time) rather than from knowing future arrivals (only the offline bound does). It is
far too slow for the 100k-job traces (one HiGHS solve per hour) and it may miss
deadlines: it counts capacity per group-hour, so jobs planned back to back inside an
hour can overlap on real cores and spill.
"""

from __future__ import annotations

import dataclasses
import time
from types import SimpleNamespace
from typing import Any

import numpy as np

from wattwise.schedule.model import Cluster, FloatArray, JobBatch
from wattwise.schedule.oracle import oracle_lp
from wattwise.schedule.policies.base import ClusterState, ForecastView, Plan, Policy

#: Share of each group's cores the LP leaves unplanned, against the spill above.
DERATE = 0.1
#: Price of an overfull core-hour (kg): far above any carbon, so used only when the
#: known jobs cannot all meet their deadlines.
OVERFLOW_KG_PER_CORE_H = 1.0


class OnlineLp(Policy):
    name = "online-lp"
    replans = True
    queue_order = "edf"

    def reset(self, cluster: Cluster, n_hours: int) -> None:
        super().reset(cluster, n_hours)
        self.pending: dict[int, dict[str, Any]] = {}
        # job id -> (group, start h, duration h, cores)
        self.running: dict[int, tuple[int, float, float, int]] = {}
        self.min_speed = min(g.speed for g in cluster.groups)
        self.solve_s = 0.0

    def started(self, job_id: int, group: int, start_h: float) -> None:
        row = self.pending.pop(job_id, None)
        if row is not None:
            dur = float(row["length_h"]) / self.cluster.groups[group].speed
            self.running[job_id] = (group, start_h, dur, int(row["cpus"]))

    def plan(
        self, now_h: float, queue: JobBatch, state: ClusterState, forecast: ForecastView
    ) -> Plan:
        names = [f.name for f in dataclasses.fields(JobBatch)]
        for i in range(len(queue)):
            self.pending[int(queue.job_id[i])] = {k: getattr(queue, k)[i] for k in names}
        self.running = {j: r for j, r in self.running.items() if r[1] + r[2] > now_h}
        if not self.pending:
            return Plan.empty()
        ids = list(self.pending)
        known = JobBatch(**{k: np.array([self.pending[j][k] for j in ids]) for k in names})
        # The model's clock starts now.
        local = dataclasses.replace(
            known,
            arrival_h=np.maximum(known.arrival_h, now_h) - now_h,
            deadline_h=known.deadline_h - now_h,
        )
        ends = np.maximum(local.deadline_h, local.arrival_h + local.length_upper_h)
        hours = int(np.ceil(float(ends.max()) / self.min_speed)) + 2
        if self.running:
            last_end = max(s + d for _, s, d, _ in self.running.values())
            hours = max(hours, int(np.ceil(last_end - now_h)) + 1)
        busy, running_w = self._running_load(now_h, hours)
        intensity = _extend(forecast.intensity, hours)
        pv = _extend(forecast.pv_w, hours, fill=0.0)
        # Running jobs' power enters as negative PV: the grid must carry it too.
        signals = SimpleNamespace(intensity=intensity, pv_w=pv - running_w)
        t0 = time.perf_counter()
        res = oracle_lp(
            local,
            self.cluster,
            signals,  # type: ignore[arg-type]
            hours,
            busy_cpus=busy,
            overflow_kg_per_core_h=OVERFLOW_KG_PER_CORE_H,
        )
        self.solve_s += time.perf_counter() - t0
        start = np.maximum(res.start_h + now_h, known.arrival_h)
        return Plan(known.job_id.copy(), res.group.astype(np.int64), start)

    def _running_load(self, now_h: float, hours: int) -> tuple[FloatArray, FloatArray]:
        groups = self.cluster.groups
        busy = np.zeros((len(groups), hours)) + DERATE * self.cluster.capacity_cpus[:, None]
        watts = np.zeros((len(groups), hours))
        for g, s, d, cpus in self.running.values():
            end = s + d - now_h
            for h in range(int(np.ceil(end))):
                share = min(end, h + 1) - max(0.0, h)
                busy[g, h] += cpus * share
                watts[g, h] += cpus * groups[g].active_w_per_cpu * share
        return busy, watts


def _extend(rows: FloatArray, hours: int, fill: float | None = None) -> FloatArray:
    """Forecast rows stretched to ``hours`` (the last value held, or ``fill``)."""
    if rows.shape[1] >= hours:
        return rows[:, :hours]
    pad = rows[:, -1:] if fill is None else np.full((rows.shape[0], 1), fill)
    out: FloatArray = np.concatenate([rows, np.repeat(pad, hours - rows.shape[1], axis=1)], 1)
    return out
