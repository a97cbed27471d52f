"""The offline bound: what a scheduler with perfect knowledge of the future could do.

- Unlimited capacity: each job independently takes the (group, start) with the least
  true carbon. Window carbon is piecewise linear in the start, so its minimum lies
  where the start or the end meets a whole hour, or at the bounds: checking those
  candidates is exact (PV is not modelled here: an unlimited cluster has none).
- Limited capacity: the LP relaxation of the time-indexed placement problem, solved
  with HiGHS. x[j, g, s] in [0, 1] is the share of job j run on group g from start s
  (the arrival or a whole hour up to the latest start); each job is placed once; each
  group-hour holds at most its cores; grid draw per group-hour is at least load minus
  PV. Minimise carbon. Its value bounds every schedule from below; it grows with
  jobs x starts, so benchmarks solve it on a window of the trace (they say which).
- The same model with whole jobs (x binary) is the exact MILP: slower (branch and
  bound), but it says how loose the relaxation is (on the benchmark windows: not at
  all, see BENCHMARKS.md) and gives a schedule that :class:`.policies.replay.Replay`
  can run against real cores. Both count capacity per group-hour (or per finer slot,
  ``slots_per_hour``), so two jobs may share a slot's cores one after the other: a
  little looser than real cores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from wattwise.errors import OptimizeError
from wattwise.schedule.model import Cluster, FloatArray, IntArray, JobBatch, NodeGroup
from wattwise.schedule.policies.base import end_aligned_candidates
from wattwise.schedule.signals import Signals
from wattwise.schedule.windows import integral_1d, prefix


def oracle_unlimited(
    jobs: JobBatch, cluster: Cluster, signals: Signals
) -> tuple[FloatArray, FloatArray]:
    """Best true start and group per job with unlimited capacity. Units: h."""
    n = len(jobs)
    best_cost = np.full(n, np.inf)
    best_s = jobs.arrival_h.copy()
    best_g = np.zeros(n)
    chunk = 20000
    for g, grp in enumerate(cluster.groups):
        row = signals.intensity[g]
        cum = prefix(row)
        for lo in range(0, n, chunk):
            q = jobs.subset(slice(lo, lo + chunk))
            dur = q.length_h / grp.speed
            latest = np.maximum(q.arrival_h, q.deadline_h - q.length_h / grp.speed)
            cand = np.concatenate(
                [
                    integer_candidates_per_job(q, latest),
                    end_aligned_candidates(q, 0.0, latest, dur),
                ],
                axis=1,
            )
            p_kw = (q.cpus * grp.active_w_per_cpu + q.gpus * grp.active_w_per_gpu) / 1000.0
            cost = (
                integral_1d(cum, row, cand + dur[:, None]) - integral_1d(cum, row, cand)
            ) * p_kw[:, None]
            j = np.argmin(cost, axis=1)
            c = cost[np.arange(len(q)), j]
            sl = slice(lo, lo + len(q))
            better = c < best_cost[sl]
            best_cost[sl] = np.where(better, c, best_cost[sl])
            best_s[sl] = np.where(better, cand[np.arange(len(q)), j], best_s[sl])
            best_g[sl] = np.where(better, g, best_g[sl])
    return best_s, best_g


def integer_candidates_per_job(q: JobBatch, latest: FloatArray) -> FloatArray:
    """Whole-hour starts from each job's own arrival (jobs of many hours at once)."""
    base = np.floor(q.arrival_h)
    span = float(np.max(latest - base)) if len(q) else 0.0
    n = int(np.ceil(max(span, 0.0))) + 2
    grid = base[:, None] + np.arange(n, dtype=np.float64)[None, :]
    cand = np.clip(grid, q.arrival_h[:, None], np.maximum(latest, q.arrival_h)[:, None])
    out: FloatArray = np.concatenate([cand, latest[:, None]], axis=1)
    return out


def _latest_start(jobs: JobBatch, grp: NodeGroup) -> FloatArray:
    """Latest start on ``grp`` that meets the deadline by the upper length estimate."""
    out: FloatArray = np.maximum(jobs.arrival_h, jobs.deadline_h - jobs.length_upper_h / grp.speed)
    return out


def lp_variables(jobs: JobBatch, cluster: Cluster) -> int:
    """About how many placement variables :func:`oracle_lp` builds for ``jobs`` (an
    upper estimate: whole-hour starts from the arrival to the latest start, per group
    a job fits, plus two)."""
    n = 0
    for grp in cluster.groups:
        span = np.ceil(_latest_start(jobs, grp) - np.floor(jobs.arrival_h)) + 2
        n += int(np.sum(span[jobs.cpus <= grp.total_cpus]))
    return n


@dataclass
class LpBound:
    """Result of :func:`oracle_lp`. Units: kg CO2e, kWh; ``hours`` accounted.

    ``co2e_kg`` is the lower bound: the LP optimum, or with ``whole_jobs`` the bound
    HiGHS proved for the MILP. ``schedule_co2e_kg`` is the carbon of the best whole
    schedule the MILP found (None for the LP): equal to the bound, within the MIP gap,
    when ``optimal``. ``start_h`` and ``group`` give each job's start (h) and group
    index: the MILP's schedule, or for the LP the (group, start) holding the largest
    share of the job (NaN and -1 for a job the model left out).
    """

    co2e_kg: float
    energy_kwh: float
    hours: int
    jobs: int
    variables: int
    seconds: float
    start_h: FloatArray
    group: IntArray
    schedule_co2e_kg: float | None = None
    optimal: bool = True


@dataclass
class _Columns:
    """The placement variables of the time-indexed model: one per (job, group, start),
    with each variable's core-hours and active watt-hours in every group-hour."""

    job: IntArray
    group: IntArray
    start_h: FloatArray
    occupancy: Any  # scipy.sparse (group-slots x variables): mean busy cores in the slot
    load_wh: Any  # scipy.sparse (group-hours x variables): active Wh


def _columns(jobs: JobBatch, cluster: Cluster, hours: int, slots_per_hour: int) -> _Columns:
    import scipy.sparse as sp

    cols_job: list[IntArray] = []
    cols_group: list[IntArray] = []
    cols_start: list[FloatArray] = []
    trip_q: list[IntArray] = []  # capacity rows (group-slots)
    trip_h: list[IntArray] = []  # energy rows (group-hours)
    trip_c: list[IntArray] = []
    trip_cpu: list[FloatArray] = []
    trip_w: list[FloatArray] = []
    n_var = 0
    for g, grp in enumerate(cluster.groups):
        dur = jobs.length_h / grp.speed
        fits = jobs.cpus <= grp.total_cpus
        cand = integer_candidates_per_job(jobs, _latest_start(jobs, grp))
        p_w = jobs.cpus * grp.active_w_per_cpu + jobs.gpus * grp.active_w_per_gpu
        for k in range(cand.shape[1]):
            if k and np.all(cand[:, k] == cand[:, k - 1]):
                continue
            keep = fits & ((k == 0) | (cand[:, k] > cand[:, max(k - 1, 0)] + 1e-9))
            jj = np.flatnonzero(keep)
            if not len(jj):
                continue
            s = cand[jj, k]
            e = s + dur[jj]
            if np.any(e > hours + 1e-9):
                raise OptimizeError(f"LP horizon {hours} h is shorter than the jobs' deadlines")
            var = n_var + np.arange(len(jj))
            n_var += len(jj)
            cols_job.append(jj)
            cols_group.append(np.full(len(jj), g, dtype=np.int64))
            cols_start.append(s)
            # Overlap of each variable with each capacity slot it touches (a share of
            # the slot), and the active energy that puts into each hour.
            s_q, e_q = s * slots_per_hour, e * slots_per_hour  # in slots
            q0 = np.floor(s_q).astype(np.int64)
            q1 = np.ceil(e_q).astype(np.int64)
            for d in range(int((q1 - q0).max())):
                q = q0 + d
                ov = np.clip(np.minimum(e_q, q + 1) - np.maximum(s_q, q), 0.0, 1.0)
                m = (q < q1) & (ov > 0)
                trip_q.append(g * hours * slots_per_hour + q[m])
                trip_h.append(g * hours + q[m] // slots_per_hour)
                trip_c.append(var[m])
                trip_cpu.append(jobs.cpus[jj][m] * ov[m])
                trip_w.append(p_w[jj][m] * ov[m] / slots_per_hour)
    if n_var == 0:
        raise OptimizeError("no job can be placed on any node group")
    c = np.concatenate(trip_c)
    n_g = len(cluster.groups)
    occupancy = sp.csr_matrix(
        (np.concatenate(trip_cpu), (np.concatenate(trip_q), c)),
        shape=(n_g * hours * slots_per_hour, n_var),
    )
    load_wh = sp.csr_matrix(
        (np.concatenate(trip_w), (np.concatenate(trip_h), c)), shape=(n_g * hours, n_var)
    )
    return _Columns(
        job=np.concatenate(cols_job),
        group=np.concatenate(cols_group),
        start_h=np.concatenate(cols_start),
        occupancy=occupancy,
        load_wh=load_wh,
    )


def _largest_share(cols: _Columns, x: FloatArray, n_jobs: int) -> tuple[FloatArray, IntArray]:
    """Each job's (start, group): its variable with the largest share."""
    order = np.lexsort((-x, cols.job))
    first = order[np.r_[True, cols.job[order][1:] != cols.job[order][:-1]]]
    start_h = np.full(n_jobs, np.nan)
    group = np.full(n_jobs, -1, dtype=np.int64)
    start_h[cols.job[first]] = cols.start_h[first]
    group[cols.job[first]] = cols.group[first]
    return start_h, group


def _solver() -> Any:
    """A HiGHS instance that keeps quiet. ``highspy.Highs()`` prints its banner to
    stdout while it is built, before any option can be set, and stdout carries
    ``wattwise simulate --json``; the core class it wraps prints nothing."""
    try:
        from highspy.highs import _Highs

        return _Highs()
    except ImportError:  # a highspy without that layout: the banner is harmless text
        import highspy

        return highspy.Highs()


def oracle_lp(
    jobs: JobBatch,
    cluster: Cluster,
    signals: Signals,
    until_h: int,
    time_limit_s: float = 300.0,
    whole_jobs: bool = False,
    mip_rel_gap: float = 1e-3,
    busy_cpus: FloatArray | None = None,
    overflow_kg_per_core_h: float | None = None,
    slots_per_hour: int = 1,
) -> LpBound:
    """Lower bound on carbon over hours ``[0, until_h)`` for ``jobs``.

    By default the LP relaxation (a job may be split across groups and starts). With
    ``whole_jobs`` each job takes exactly one (group, start): the time-indexed MILP,
    solved until ``mip_rel_gap`` or ``time_limit_s``; its bound is the best HiGHS
    proved, never below the LP's. For planning on a cluster already partly busy:
    ``busy_cpus[g, h]`` cores are taken in group-hour (g, h), and with
    ``overflow_kg_per_core_h`` a group-hour may be overfull at that price (so that
    jobs that cannot all meet their deadlines still get a plan).

    Capacity is counted per ``1 / slots_per_hour`` h: finer slots leave less room for
    jobs to share a slot's cores one after the other, so the bound is tighter (and
    the model larger); carbon is still hourly.
    """
    import time

    import highspy
    import scipy.sparse as sp

    t0 = time.perf_counter()
    T = until_h
    cols = _columns(jobs, cluster, T, slots_per_hour)
    n_var = len(cols.job)
    # Variables: x (n_var), y = grid draw per group-hour in Wh (n_y), then the
    # overfull cores per group-slot where allowed (n_o).
    n_y = len(cluster.groups) * T
    n_q = n_y * slots_per_hour  # capacity rows
    n_o = n_q if overflow_kg_per_core_h is not None else 0
    inten = signals.intensity[:, :T].reshape(-1)
    pv = signals.pv_w[:, :T].reshape(-1)
    idle = np.repeat([0.0 if cluster.unlimited else g.idle_total_w for g in cluster.groups], T)
    cost = np.concatenate(
        [
            np.zeros(n_var),
            inten / 1e6,
            np.full(n_o, (overflow_kg_per_core_h or 0.0) / slots_per_hour),
        ]
    )  # Wh x g/kWh / 1e6 = kg
    assign = sp.csr_matrix((np.ones(n_var), (cols.job, np.arange(n_var))), shape=(len(jobs), n_var))
    eye = sp.identity(n_y, format="csr")
    a_assign = sp.hstack([assign, sp.csr_matrix((len(jobs), n_y + n_o))])
    over = [-sp.identity(n_q, format="csr")] if n_o else []
    a_cap = sp.hstack([cols.occupancy, sp.csr_matrix((n_q, n_y)), *over])
    a_grid = sp.hstack([-cols.load_wh, eye] + ([sp.csr_matrix((n_y, n_o))] if n_o else []))
    a = sp.vstack([a_assign, a_cap, a_grid]).tocsc()  # y - load >= idle - pv
    cap = cluster.capacity_cpus.astype(np.float64)[:, None] - (
        0.0 if busy_cpus is None else busy_cpus[:, :T]
    )
    cap = np.repeat(np.broadcast_to(cap, (len(cap), T)), slots_per_hour, axis=1)
    lp = highspy.HighsLp()
    lp.num_col_ = n_var + n_y + n_o
    lp.num_row_ = a.shape[0]
    lp.col_cost_ = cost
    lp.col_lower_ = np.zeros(n_var + n_y + n_o)
    lp.col_upper_ = np.concatenate([np.ones(n_var), np.full(n_y + n_o, np.inf)])
    lp.row_lower_ = np.concatenate([np.ones(len(jobs)), np.full(n_q, -np.inf), idle - pv])
    room = np.maximum(cap, 0.0).reshape(-1)
    lp.row_upper_ = np.concatenate([np.ones(len(jobs)), room, np.full(n_y, np.inf)])
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a.indptr
    lp.a_matrix_.index_ = a.indices
    lp.a_matrix_.value_ = a.data
    h = _solver()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit_s))
    if whole_jobs:
        integer, continuous = highspy.HighsVarType.kInteger, highspy.HighsVarType.kContinuous
        lp.integrality_ = [integer] * n_var + [continuous] * (n_y + n_o)
        h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    h.passModel(lp)
    h.run()
    status = h.getModelStatus()
    optimal = status == highspy.HighsModelStatus.kOptimal
    has_schedule = whole_jobs and h.getInfo().primal_solution_status == 2  # feasible
    if not optimal and not (status == highspy.HighsModelStatus.kTimeLimit and has_schedule):
        what = "MILP" if whole_jobs else "LP"
        raise OptimizeError(
            f"oracle {what} ended with status {h.modelStatusToString(status)}",
            hint="a longer time limit or a shorter window of the trace",
        )
    sol = np.asarray(h.getSolution().col_value)
    x = sol[:n_var]
    found = float(sol[n_var : n_var + n_y] @ inten) / 1e6
    bound = max(float(h.getInfo().mip_dual_bound), 0.0) if whole_jobs else found
    start_h, group = _largest_share(cols, x, len(jobs))
    return LpBound(
        co2e_kg=min(bound, found),
        energy_kwh=(float(cols.load_wh.sum(axis=0).A1 @ x) + float(idle.sum())) / 1000.0,
        hours=T,
        jobs=len(jobs),
        variables=n_var,
        seconds=time.perf_counter() - t0,
        start_h=start_h,
        group=group,
        schedule_co2e_kg=found if whole_jobs else None,
        optimal=optimal,
    )
