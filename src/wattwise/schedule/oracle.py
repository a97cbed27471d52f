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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wattwise.errors import OptimizeError
from wattwise.schedule.model import Cluster, FloatArray, JobBatch
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


@dataclass
class LpBound:
    """Result of :func:`oracle_lp`. Units: kg CO2e, kWh; ``hours`` accounted."""

    co2e_kg: float
    energy_kwh: float
    hours: int
    jobs: int
    variables: int
    seconds: float


def oracle_lp(
    jobs: JobBatch, cluster: Cluster, signals: Signals, until_h: int, time_limit_s: float = 300.0
) -> LpBound:
    """LP-relaxation lower bound on carbon over hours ``[0, until_h)`` for ``jobs``."""
    import time

    import highspy
    import scipy.sparse as sp

    t0 = time.perf_counter()
    n_groups = len(cluster.groups)
    cols_job: list[np.ndarray] = []
    cols_cost: list[np.ndarray] = []
    trip_r: list[np.ndarray] = []
    trip_c: list[np.ndarray] = []
    trip_cpu: list[np.ndarray] = []
    trip_w: list[np.ndarray] = []
    n_var = 0
    T = until_h
    cap = cluster.capacity_cpus.astype(np.float64)
    for g, grp in enumerate(cluster.groups):
        dur = jobs.length_h / grp.speed
        latest = np.maximum(jobs.arrival_h, jobs.deadline_h - jobs.length_upper_h / grp.speed)
        fits = jobs.cpus <= grp.total_cpus
        cand = integer_candidates_per_job(jobs, latest)
        n_c = cand.shape[1]
        p_w = jobs.cpus * grp.active_w_per_cpu + jobs.gpus * grp.active_w_per_gpu
        for k in range(n_c):
            if k and np.all(cand[:, k] == cand[:, k - 1]):
                continue
            keep = fits & ((k == 0) | (cand[:, k] > cand[:, max(k - 1, 0)] + 1e-9))
            jj = np.flatnonzero(keep)
            if not len(jj):
                continue
            s = cand[jj, k]
            e = s + dur[jj]
            if np.any(e > T + 1e-9):
                raise OptimizeError(f"LP horizon {T} h is shorter than the jobs' deadlines")
            var = n_var + np.arange(len(jj))
            n_var += len(jj)
            cols_job.append(jj)
            cols_cost.append(np.zeros(len(jj)))
            # Overlap of each variable with each hour it touches.
            h0 = np.floor(s).astype(np.int64)
            h1 = np.ceil(e).astype(np.int64)
            width = int((h1 - h0).max())
            for d in range(width):
                h = h0 + d
                ov = np.clip(np.minimum(e, h + 1) - np.maximum(s, h), 0.0, 1.0)
                m = (h < h1) & (ov > 0)
                trip_r.append(g * T + h[m])
                trip_c.append(var[m])
                trip_cpu.append(jobs.cpus[jj][m] * ov[m])
                trip_w.append(p_w[jj][m] * ov[m])
    if n_var == 0:
        raise OptimizeError("no job can be placed on any node group")
    job_of = np.concatenate(cols_job)
    r = np.concatenate(trip_r)
    c = np.concatenate(trip_c)
    occ = sp.csr_matrix((np.concatenate(trip_cpu), (r, c)), shape=(n_groups * T, n_var))
    load = sp.csr_matrix((np.concatenate(trip_w), (r, c)), shape=(n_groups * T, n_var))
    # Variables: x (n_var), then y = grid draw per group-hour in Wh (n_groups*T).
    n_y = n_groups * T
    inten = signals.intensity[:, :T].reshape(-1)
    pv = signals.pv_w[:, :T].reshape(-1)
    idle = np.repeat([0.0 if cluster.unlimited else g.idle_total_w for g in cluster.groups], T)
    cost = np.concatenate([np.zeros(n_var), inten / 1e6])  # Wh x g/kWh / 1e6 = kg
    assign = sp.csr_matrix((np.ones(n_var), (job_of, np.arange(n_var))), shape=(len(jobs), n_var))
    eye = sp.identity(n_y, format="csr")
    a_assign = sp.hstack([assign, sp.csr_matrix((len(jobs), n_y))])
    a_cap = sp.hstack([occ, sp.csr_matrix((n_y, n_y))])
    a_grid = sp.hstack([-load, eye])  # y - load >= idle - pv
    a = sp.vstack([a_assign, a_cap, a_grid]).tocsr()
    lo = np.concatenate([np.ones(len(jobs)), np.full(n_y, -np.inf), idle - pv])
    hi = np.concatenate([np.ones(len(jobs)), np.repeat(cap, T), np.full(n_y, np.inf)])
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit_s))
    lp = highspy.HighsLp()
    lp.num_col_ = n_var + n_y
    lp.num_row_ = a.shape[0]
    lp.col_cost_ = cost
    lp.col_lower_ = np.zeros(n_var + n_y)
    lp.col_upper_ = np.concatenate([np.ones(n_var), np.full(n_y, np.inf)])
    lp.row_lower_ = lo
    lp.row_upper_ = hi
    csc = a.tocsc()
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = csc.indptr
    lp.a_matrix_.index_ = csc.indices
    lp.a_matrix_.value_ = csc.data
    h.passModel(lp)
    h.run()
    status = h.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        raise OptimizeError(f"oracle LP ended with status {h.modelStatusToString(status)}")
    sol = np.asarray(h.getSolution().col_value)
    x = sol[:n_var]
    y = sol[n_var:]
    energy_wh = float(load.sum(axis=0).A1 @ x) + float(idle.sum())
    return LpBound(
        co2e_kg=float(y @ inten) / 1e6,
        energy_kwh=energy_wh / 1000.0,
        hours=T,
        jobs=len(jobs),
        variables=n_var,
        seconds=time.perf_counter() - t0,
    )
