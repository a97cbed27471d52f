"""wattwise's own policy: forecast-driven, capacity-, heterogeneity- and solar-aware,
re-planning every hour.

For each arriving job it scores every (node group, start) pair by the forecast carbon
of running there: the job's power on that group x its run time there (speed) x the
forecast grid intensity, less what the forecast on-site PV surplus (PV minus what is
already planned on that group) would cover. Starts whose run would overfill the
group's planning calendar (per-hour cores and watts per group, fluid, filled to
``fill``) or begin after the latest safe start (deadline minus the calibrated upper
quantile of the length) less ``guard_h`` are ruled out; the cheapest pair is
committed. This is a greedy, per-job solution of the rolling-horizon LP that the
oracle solves exactly with perfect knowledge.

Re-planning: with limited capacity, every hour each deferred job is pulled forward to
now when the fresh forecast says now is cheaper than its slot (its slot pays
``pull_margin_per_h`` per hour of lead, for the error of far-ahead forecasts). When
the dispatcher starts a job elsewhere or later, the calendar moves with it. Moving a
job again at its start hour (``recheck``) is implemented but off: measured, it lost
carbon, because the cheapest of many noisy far-ahead forecasts is biased low.
Waiting jobs are served earliest-deadline first, except those already past their
latest start, which go last, and backfilled around a reservation for the most urgent
blocked job (the simulator's dispatcher).

Why the calendar is overbooked (``fill`` > 1): on a cluster whose efficient group
cannot take all the work, the cheapest core-hour is one on that group a few hours
later, not one on the slow group now. Planning past the group's cores makes jobs
queue for it; the guard before the latest safe start, the EDF queue and the
reservations keep deadlines (measured in ``bench/schedule.py``).
"""

from __future__ import annotations

import math

import numpy as np

from wattwise.schedule.model import BoolArray, Cluster, FloatArray, IntArray, JobBatch
from wattwise.schedule.policies.base import (
    ClusterState,
    ForecastView,
    Plan,
    Policy,
    group_start_candidates,
)
from wattwise.schedule.windows import integral_rows, prefix

#: Calendar checks for jobs spanning at most this many hours use a plain loop.
_SHORT_SPAN_H = 4
#: Calendar updates for jobs spanning at most this many hours work on Python lists
#: (measured faster than NumPy's per-call cost below about 30 hours; same values).
_LIST_SPAN_H = 24


def _window_carbon(
    eff: FloatArray, rows: IntArray, tau: FloatArray, tau_end: FloatArray
) -> FloatArray:
    """Integral of the effective intensity row ``rows`` of ``eff`` (forecast intensity
    x the share PV does not cover; rows broadcast against ``tau``) from ``tau`` to
    ``tau_end`` hours after the forecast's issue. Units: (gCO2e/kWh) x h."""
    cum = prefix(eff)
    # Both ends in one look-up: half the NumPy calls on these small arrays.
    ends = integral_rows(cum, eff, rows, np.stack([tau_end, tau]))
    out: FloatArray = ends[0] - ends[1]
    return out


class Wattwise(Policy):
    name = "wattwise"
    replans = True
    #: Share of each group's cores the planner fills. Above 1: the calendar is
    #: overbooked on purpose, so jobs queue for the efficient, solar-fed group rather
    #: than spill onto the slow one; the dispatcher's EDF queue with reservations and
    #: the guard absorb the overbooking (measured with them, against the former 0.9
    #: and 10 h guard: +1.8 to +6.9 pp of carbon saved on the shared traces, still
    #: fewer deadline misses than FIFO; bench/schedule.py, BENCHMARKS.md).
    fill = 1.35
    #: Hours kept between a planned start and the latest safe start when capacity is
    #: limited, so a short wait for room at dispatch does not miss the deadline.
    guard_h = 6.0
    queue_order = "edf"
    #: Waiting jobs are backfilled around a reservation for the most urgent blocked one.
    reservations = True
    #: Premium on a start at the latest safe start relative to one at arrival
    #: (linear in between), limited capacity only.
    late_premium = 0.0
    #: A job waiting for room on its planned group may take another group that still
    #: meets its deadline this long before the guard begins.
    patience_h = 0.0
    #: Jobs wider than this share of a group's cores are not deferred there.
    wide_share = 1.0
    wide_guard_h = 12.0
    #: Share of an hour a job is counted as holding its cores in any hour it touches:
    #: jobs planned for the same hour all start at its top and overlap, so counting
    #: only their fraction of the hour overbooks the group.
    min_occupancy = 0.0
    #: Forecasts err more the further ahead they look, and the cheapest of many noisy
    #: future slots looks cheaper than it will be. A future slot must beat starting
    #: now by this share per hour of lead before the policy waits for it.
    lead_margin_per_h = 0.03
    recheck = False
    #: Lead margin for pulling a deferred job forward to now (0: the forecast as is).
    pull_margin_per_h = 0.03
    pull = True

    def reset(self, cluster: Cluster, n_hours: int) -> None:
        super().reset(cluster, n_hours)
        g = len(cluster.groups)
        self.t_max = n_hours + 24 * 8
        cap = np.array([gr.total_cpus for gr in cluster.groups], dtype=np.float64)
        self.cap_cpu = np.full(g, np.inf) if cluster.unlimited else np.floor(cap * self.fill)
        self.cap_gpu = np.array([gr.total_gpus for gr in cluster.groups], dtype=np.float64)
        self.cpu = np.zeros((g, self.t_max))
        self.gpu = np.zeros((g, self.t_max))
        self.watts = np.repeat(
            np.array([gr.idle_total_w for gr in cluster.groups])[:, None], self.t_max, axis=1
        )
        self.speed = np.array([gr.speed for gr in cluster.groups])
        self.w_cpu = np.array([gr.active_w_per_cpu for gr in cluster.groups], dtype=np.float64)
        self.w_gpu = np.array([gr.active_w_per_gpu for gr in cluster.groups], dtype=np.float64)
        self.total_cpus = np.array([gr.total_cpus for gr in cluster.groups])
        # Plain floats per group for the per-job calendar arithmetic (NumPy scalars
        # cost several times as much there, and give the same values).
        self.speed_l = [float(gr.speed) for gr in cluster.groups]
        self.cap_cpu_l = [float(c) for c in self.cap_cpu]
        self.cap_gpu_l = [float(c) for c in self.cap_gpu]
        self.w_cpu_l = [float(gr.active_w_per_cpu) for gr in cluster.groups]
        self.w_gpu_l = [float(gr.active_w_per_gpu) for gr in cluster.groups]
        self.jobs: dict[int, tuple[float, float, float, int, int, float, int]] = {}
        self.planned: dict[int, tuple[int, float]] = {}
        self.due: dict[int, list[int]] = {}
        # Jobs planned to start after the current hour, in planning order, with what
        # pricing a pull-forward needs: (group, start, arrival, length, cpus, gpus).
        self.deferred: dict[int, tuple[int, float, float, float, int, int]] = {}
        self.hour = -1

    # -- calendar -----------------------------------------------------------------
    def _reserve(self, jid: int, g: int, start: float, sign: float) -> None:
        _a, length, _upper, cpus, gpus, _deadline, _prio = self.jobs[jid]
        end = start + length / self.speed_l[g]
        h0 = math.floor(start)
        h1 = min(math.ceil(end), self.t_max)
        if h1 <= h0:
            return
        watts = cpus * self.w_cpu_l[g] + gpus * self.w_gpu_l[g]
        floor_ov = self.min_occupancy
        if h1 - h0 == 1:
            # Most jobs touch one hour: plain floats on three elements.
            ov = min(end, h0 + 1.0) - max(start, float(h0))
            ov = 0.0 if ov < 0.0 else (1.0 if ov > 1.0 else ov)
            self.cpu[g, h0] += sign * cpus * (ov if ov > floor_ov else floor_ov)
            if gpus:
                self.gpu[g, h0] += sign * gpus * ov
            self.watts[g, h0] += sign * watts * ov
            return
        if h1 - h0 <= _LIST_SPAN_H:
            # A few hours: the calendar slices as lists, one read and one write each.
            cpu, w = self.cpu[g, h0:h1].tolist(), self.watts[g, h0:h1].tolist()
            gpu = self.gpu[g, h0:h1].tolist() if gpus else []
            s_cpu, s_gpu, s_w = sign * cpus, sign * gpus, sign * watts
            for k in range(h1 - h0):
                h = h0 + k
                ov = (end if end < h + 1 else h + 1) - (start if start > h else h)
                ov = 0.0 if ov < 0.0 else (1.0 if ov > 1.0 else ov)
                cpu[k] += s_cpu * (ov if ov > floor_ov else floor_ov)
                if gpus:
                    gpu[k] += s_gpu * ov
                w[k] += s_w * ov
            self.cpu[g, h0:h1] = cpu
            self.watts[g, h0:h1] = w
            if gpus:
                self.gpu[g, h0:h1] = gpu
            return
        t = np.arange(h0, h1, dtype=np.float64)
        ov = np.minimum(np.maximum(np.minimum(end, t + 1) - np.maximum(start, t), 0.0), 1.0)
        self.cpu[g, h0:h1] += sign * cpus * np.maximum(ov, floor_ov)
        if gpus:
            self.gpu[g, h0:h1] += sign * gpus * ov
        self.watts[g, h0:h1] += sign * watts * ov

    def _commit(self, jid: int, g: int, start: float) -> None:
        self.planned[jid] = (g, start)
        self._reserve(jid, g, start, 1.0)
        due_h = math.floor(start)
        self.due.setdefault(due_h, []).append(jid)
        if due_h > self.hour:
            arrival, length, _, cpus, gpus, _, _ = self.jobs[jid]
            self.deferred[jid] = (g, start, arrival, length, cpus, gpus)
        else:
            self.deferred.pop(jid, None)

    def _batch(self, ids: list[int]) -> JobBatch:
        rows = [self.jobs[j] for j in ids]
        arr = np.array(rows, dtype=np.float64).reshape(len(ids), 7)
        return JobBatch(
            job_id=np.array(ids, dtype=np.int64),
            arrival_h=arr[:, 0],
            length_h=arr[:, 1],
            cpus=arr[:, 3].astype(np.int64),
            gpus=arr[:, 4].astype(np.int64),
            deadline_h=arr[:, 5],
            length_upper_h=arr[:, 2],
            interruptible=np.zeros(len(ids), np.bool_),
            priority=arr[:, 6].astype(np.int64),
            line=np.zeros(len(ids), np.int64),
        )

    # -- scoring ------------------------------------------------------------------
    def _score(
        self, now_h: float, q: JobBatch, forecast: ForecastView, margin: FloatArray | None = None
    ) -> tuple[FloatArray, IntArray, FloatArray]:
        """Best (group, start) per job against the current calendar, and its cost (g).

        Every group is scored in one set of array operations, shape (groups, jobs,
        candidates). ``margin`` (per job, per hour of lead) penalises waiting; 0 when
        None."""
        n = len(q)
        h = forecast.hour
        horizon = forecast.intensity.shape[1]
        rows = np.arange(n)
        limited = not self.cluster.unlimited
        # The lead margin and the lateness premium are mostly zero: skip their terms.
        if margin is not None and not np.any(margin):
            margin = None
        risk = self.late_premium if limited else 0.0
        earliest = np.maximum(q.arrival_h, now_h)
        speed = self.speed[:, None]
        p_w = q.cpus * self.w_cpu[:, None] + q.gpus * self.w_gpu[:, None]
        dur = q.length_h / speed
        guard = self.guard_h if limited else 0.0
        latest = np.maximum(earliest, q.deadline_h - q.length_upper_h / speed - guard)
        if limited:
            # Wide jobs need much of a group free at once, which can take hours to
            # come: plan them with a longer guard before their latest safe start.
            wide = q.cpus > self.wide_share * self.total_cpus[:, None]
            latest = np.where(wide, np.maximum(earliest, latest - self.wide_guard_h), latest)
        cand, valid = group_start_candidates(q, now_h, latest, dur)
        tau = cand - h
        tau_end = tau + dur[..., None]
        # Only the forecast hours some candidate run touches matter.
        span = min(horizon, math.ceil(float(tau_end.max())) + 1)
        cost = self._energy_cost(forecast, span, tau, tau_end, p_w)
        lead = np.maximum(cand - max(now_h, float(h)), 0.0)
        if margin is not None or risk:
            factor = 1.0 if margin is None else 1.0 + margin[None, :, None] * lead
            if risk:
                # Risk of missing the deadline grows as the start nears the latest
                # safe start (queues at dispatch): a premium for lateness.
                slack = np.maximum(latest - earliest, 1e-9)[..., None]
                late = (cand - q.arrival_h[None, :, None]) / slack
                factor = factor + risk * np.minimum(np.maximum(late, 0.0), 1.0)
            cost = cost * factor
        cost = cost + 1e-9 * lead
        fits = q.cpus[None, :] <= self.total_cpus[:, None]
        unusable = ~valid  # padding of groups with fewer candidates
        if limited:
            unusable = unusable | self._blocked(h, span, q, tau, tau_end) | ~fits[..., None]
        else:
            fits = np.ones_like(fits)
        ok_cost = np.where(unusable, np.inf, cost)
        self._alternatives = (ok_cost, cand)
        # Cheapest start per group, then the cheapest group (ties: the first group).
        j = np.argmin(ok_cost, axis=2)
        c = ok_cost.min(axis=2)
        best_g = np.argmin(c, axis=0)
        best_cost = c[best_g, rows]
        best_s = cand[best_g, rows, j[best_g, rows]]
        # Fallback when every start is over capacity: earliest start, cheapest group.
        fallback_g = np.argmin(np.where(fits, cost[:, :, 0], np.inf), axis=0)
        none = ~np.isfinite(best_cost)
        return best_cost, np.where(none, fallback_g, best_g), np.where(none, earliest, best_s)

    def _energy_cost(
        self,
        forecast: ForecastView,
        span: int,
        tau: FloatArray,
        tau_end: FloatArray,
        p_w: FloatArray,
    ) -> FloatArray:
        """Forecast carbon (g) of running each job on each group (``p_w``: groups x
        jobs) from ``tau`` to ``tau_end`` hours after the forecast's issue, less what
        the forecast PV surplus there covers; the first ``span`` forecast hours cover
        every run."""
        hrs = np.arange(forecast.hour, forecast.hour + span)
        intensity = forecast.intensity[:, :span]
        surplus = forecast.pv_w[:, :span] - self.watts[:, np.minimum(hrs, self.t_max - 1)]
        surplus = np.maximum(surplus, 0.0) * (hrs < self.t_max)
        n_groups, n = p_w.shape
        if surplus.any():
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = surplus[:, None, :] / np.maximum(p_w, 1e-9)[..., None]
            covered = np.minimum(np.maximum(ratio, 0.0), 1.0)
            eff = (intensity[:, None, :] * (1.0 - covered)).reshape(n_groups * n, span)
            rows = (np.arange(n_groups)[:, None] * n + np.arange(n))[..., None]
        else:
            # No PV surplus in reach: one intensity row per group serves every job.
            eff, rows = intensity, np.arange(n_groups)[:, None, None]
        out: FloatArray = _window_carbon(eff, rows, tau, tau_end) * (p_w / 1000.0)[..., None]
        return out

    def _blocked(
        self, h: int, span: int, q: JobBatch, tau: FloatArray, tau_end: FloatArray
    ) -> BoolArray:
        """Which candidate runs (groups x jobs x candidates) touch an hour whose
        planned load on the group leaves too little room for the job (cores, or
        GPUs)."""
        hrs_c = np.minimum(np.arange(h, h + span), self.t_max - 1)
        free = self.cap_cpu[:, None] - self.cpu[:, hrs_c]
        gpus = bool(np.any(q.gpus > 0))
        if not gpus and float(free.min()) >= float(q.cpus.max()) - 1e-9:
            return np.zeros(tau.shape, np.bool_)  # room for every job in every hour
        blocked = free[:, None, :] < q.cpus[None, :, None] - 1e-9
        if gpus:
            free_g = self.cap_gpu[:, None] - self.gpu[:, hrs_c]
            blocked = blocked | (free_g[:, None, :] < q.gpus[None, :, None] - 1e-9)
        bcum = prefix(blocked.astype(np.float64))
        k0 = np.minimum(np.maximum(np.floor(tau).astype(np.int64), 0), span)
        k1 = np.minimum(np.maximum(np.ceil(tau_end).astype(np.int64), 0), span)
        gi = np.arange(len(free))[:, None, None]
        ri = np.arange(len(q))[None, :, None]
        out: BoolArray = bcum[gi, ri, k1] - bcum[gi, ri, k0] > 0.5
        return out

    def _place(
        self, now_h: float, ids: list[int], forecast: ForecastView, n_rechecked: int = 0
    ) -> None:
        # Most urgent first (latest start on a speed-1.0 node; a stable sort).
        urgency = [self.jobs[j][5] - self.jobs[j][2] for j in ids]
        order = sorted(range(len(ids)), key=urgency.__getitem__)
        q = self._batch([ids[i] for i in order])
        # Jobs placed before pay the lead margin to move: a fresh forecast must say
        # clearly that waiting longer pays.
        margin = None
        if n_rechecked:
            margin = np.array([self.lead_margin_per_h if i < n_rechecked else 0.0 for i in order])
        cost, grp, start = self._score(now_h, q, forecast, margin)
        alternatives = self._alternatives
        for i, (jid, g, s, c) in enumerate(
            zip(q.job_id.tolist(), grp.tolist(), start.tolist(), cost.tolist(), strict=True)
        ):
            if i and math.isfinite(c) and not self._still_fits(jid, g, s):
                g, s = self._next_fit(now_h, q, i, alternatives, forecast, margin)
            self._commit(jid, g, s)

    def _next_fit(
        self,
        now_h: float,
        q: JobBatch,
        i: int,
        alternatives: tuple[FloatArray, FloatArray],
        forecast: ForecastView,
        margin: FloatArray | None,
    ) -> tuple[int, float]:
        """An earlier job of this batch took the best slot: try the next-cheapest few
        from the same scoring, then score this job again against the calendar."""
        ok_cost, cand = alternatives
        costs = ok_cost[:, i, :].ravel()  # group by group, as (group, candidate)
        starts = cand[:, i, :].ravel()
        width = ok_cost.shape[2]
        jid = int(q.job_id[i])
        for k in np.argsort(costs, kind="stable")[1:7].tolist():
            if not math.isfinite(costs[k]):
                break
            if self._still_fits(jid, k // width, float(starts[k])):
                return k // width, float(starts[k])
        _, g2, s2 = self._score(
            now_h, q.subset(np.array([i])), forecast, None if margin is None else margin[i : i + 1]
        )
        return int(g2[0]), float(s2[0])

    def _still_fits(self, jid: int, g: int, start: float) -> bool:
        if self.cluster.unlimited:
            return True
        _, length, _, cpus, gpus, _, _ = self.jobs[jid]
        end = start + length / self.speed_l[g]
        h0 = math.floor(start)
        h1 = min(math.ceil(end), self.t_max)
        if h1 <= h0:
            return True
        cap = self.cap_cpu_l[g] + 1e-9
        if h1 - h0 == 1:
            if self.cpu[g, h0] + cpus > cap:
                return False
        elif h1 - h0 <= _SHORT_SPAN_H:
            cpu = self.cpu[g]
            if any(cpu[h] + cpus > cap for h in range(h0, h1)):
                return False
        elif self.cpu[g, h0:h1].max() + cpus > cap:
            return False
        return not gpus or bool(self.gpu[g, h0:h1].max() + gpus <= self.cap_gpu_l[g] + 1e-9)

    # -- the online interface -----------------------------------------------------
    def plan(
        self, now_h: float, queue: JobBatch, state: ClusterState, forecast: ForecastView
    ) -> Plan:
        hour = int(np.floor(now_h))
        self.hour = hour
        due_now = self.due.pop(hour, [])
        for jid in due_now:
            self.deferred.pop(jid, None)  # its start hour has come
        if self.cluster.unlimited:
            for jid in [j for j, (_, st) in self.planned.items() if st < hour]:
                self._forget(jid)  # its start has passed: it runs

        # Re-plan jobs whose start comes this hour, with the forecast issued now.
        recheck = [
            j for j in due_now if self.recheck and self.planned.get(j, (0, -1.0))[1] >= now_h
        ]
        recheck = [j for j in recheck if int(np.floor(self.planned[j][1])) == hour]
        for jid in recheck:
            g, s = self.planned.pop(jid)
            self._reserve(jid, g, s, -1.0)
        for i in range(len(queue)):
            self.jobs[int(queue.job_id[i])] = (
                float(queue.arrival_h[i]),
                float(queue.length_h[i]),
                float(queue.length_upper_h[i]),
                int(queue.cpus[i]),
                int(queue.gpus[i]),
                float(queue.deadline_h[i]),
                int(queue.priority[i]),
            )
        pulled = (
            self._pull_forward(now_h, forecast) if self.pull and not self.cluster.unlimited else []
        )
        ids = recheck + [int(j) for j in queue.job_id]
        if ids:
            self._place(now_h, ids, forecast, n_rechecked=len(recheck))
        ids = ids + pulled
        if not ids:
            return Plan.empty()
        out_g = np.array([self.planned[j][0] for j in ids], dtype=np.int64)
        out_s = np.array([self.planned[j][1] for j in ids], dtype=np.float64)
        return Plan(np.array(ids, dtype=np.int64), out_g, out_s)

    def _pull_costs(
        self,
        forecast: ForecastView,
        g_plan: IntArray,
        s_plan: FloatArray,
        s_now: FloatArray,
        dur: FloatArray,
        p_kw: FloatArray,
    ) -> tuple[FloatArray, FloatArray]:
        """Forecast carbon (g) of each deferred job on its planned group ``g_plan`` in
        its planned slot and if started now, each less what forecast PV surplus
        covers. In its planned slot the job's own load is already in the calendar, so
        it is added back to the surplus there."""
        h = forecast.hour
        tau_plan, tau_now = s_plan - h, s_now - h
        end_plan, end_now = tau_plan + dur, tau_now + dur
        reach = max(float(end_plan.max()), float(end_now.max()))
        span = min(forecast.intensity.shape[1], math.ceil(reach) + 1)
        intensity = forecast.intensity[:, :span]
        pv = forecast.pv_w[:, :span]
        if not pv.any():
            # No PV forecast in reach: nothing is covered, one row per group serves.
            plan = _window_carbon(intensity, g_plan, tau_plan, end_plan)
            return plan * p_kw, _window_carbon(intensity, g_plan, tau_now, end_now) * p_kw
        t = np.arange(h, h + span, dtype=np.float64)
        hrs = np.minimum(t.astype(np.int64), self.t_max - 1)
        # A group without PV has a negative surplus (its idle power at least): its
        # jobs come out uncovered.
        surplus = (pv - self.watts[:, hrs])[g_plan]
        p_w = np.maximum(p_kw * 1000.0, 1e-9)[:, None]
        end = (s_plan + dur)[:, None]
        own = np.minimum(end, t[None, :] + 1) - np.maximum(s_plan[:, None], t[None, :])
        own = np.minimum(np.maximum(own, 0.0), 1.0)
        rows = np.arange(len(p_kw))
        job_intensity = intensity[g_plan]
        out = []
        for extra, tau, tau_end in ((p_w * own, tau_plan, end_plan), (0.0, tau_now, end_now)):
            covered = np.minimum(np.maximum((surplus + extra) / p_w, 0.0), 1.0)
            eff = job_intensity * (1.0 - covered)
            out.append(_window_carbon(eff, rows, tau, tau_end) * p_kw)
        return out[0], out[1]

    def _pull_forward(self, now_h: float, forecast: ForecastView) -> list[int]:
        """Start now any deferred job for which the fresh forecast says now is cheaper
        than its planned slot (after the lead margin)."""
        hour = math.floor(now_h)
        if hour >= self.t_max:
            return []
        # A job that does not fit in this hour's calendar cannot move to now (moves
        # only add load to this hour): skip pricing it.
        room_now = (self.cap_cpu - self.cpu[:, hour] + 1e-9).tolist()
        later: list[int] = []
        plans: list[tuple[int, float, float, float, int, int]] = []
        for j, p in self.deferred.items():
            if p[4] <= room_now[p[0]] or p[3] <= 0.0:
                later.append(j)
                plans.append(p)
        if not later:
            return []
        g_f, s_plan, arrival_h, length_h, cpus_a, gpus_a = np.array(plans).T
        g_plan = g_f.astype(np.int64)
        s_now = np.maximum(arrival_h, now_h)
        p_kw = (cpus_a * self.w_cpu[g_plan] + gpus_a * self.w_gpu[g_plan]) / 1000.0
        dur = length_h / self.speed[g_plan]
        lead = np.maximum(s_plan - now_h, 0.0)
        c_plan, c_now = self._pull_costs(forecast, g_plan, s_plan, s_now, dur, p_kw)
        c_plan = c_plan * (1.0 + self.pull_margin_per_h * lead)
        cheaper = np.flatnonzero(c_now < c_plan - 1e-12)
        # Moves are tried group by group, each in planning order: a move changes only
        # its own group's calendar, so the prices above stay valid.
        moved: list[int] = []
        for i in cheaper[np.argsort(g_plan[cheaper], kind="stable")].tolist():
            jid, g, start_now = later[i], int(g_plan[i]), float(s_now[i])
            # Checked against the calendar with the job still in its old slot:
            # conservative, and it spares undoing a move that does not fit.
            if self._still_fits(jid, g, start_now):
                self._reserve(jid, g, float(s_plan[i]), -1.0)
                self._commit(jid, g, start_now)
                moved.append(jid)
        return moved

    def started(self, job_id: int, group: int, start_h: float) -> None:
        """The dispatcher started ``job_id``: move its calendar entry to where and when
        it really runs (closing the loop on queueing), then forget it."""
        if job_id in self.planned and job_id in self.jobs:
            g, st = self.planned[job_id]
            if g != group or abs(st - start_h) > 1e-9:
                self._reserve(job_id, g, st, -1.0)
                self._reserve(job_id, group, start_h, 1.0)
        self._forget(job_id)

    def withdrawn(self, job_id: int) -> None:
        """Give back the calendar room of a job that left before it started."""
        if job_id in self.planned and job_id in self.jobs:
            g, st = self.planned[job_id]
            self._reserve(job_id, g, st, -1.0)
        self._forget(job_id)

    def _forget(self, job_id: int) -> None:
        self.jobs.pop(job_id, None)
        self.planned.pop(job_id, None)
        self.deferred.pop(job_id, None)
