"""Metrics of a simulated schedule, computed from hourly load profiles per group.

Within an hour, load and on-site PV are compared as hourly energies (Wh): PV covers
load up to the smaller of the two, the rest comes from the grid at that hour's true
intensity. Idle power of every node counts for the whole accounting period.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from wattwise.errors import CoverageError
from wattwise.schedule.model import BoolArray, Cluster, FloatArray, IntArray
from wattwise.schedule.signals import Signals
from wattwise.schedule.windows import hourly_profile


@dataclass
class Pieces:
    """Runs of jobs: piece i runs job ``job[i]`` on ``group[i]`` over
    ``[start_h, end_h)`` drawing ``power_w`` (suspend-resume jobs have several)."""

    job: IntArray
    group: IntArray
    start_h: FloatArray
    end_h: FloatArray
    power_w: FloatArray
    cpus: IntArray


@dataclass
class Metrics:
    """Units in the names; ``None`` where a figure does not apply (no PV, unlimited)."""

    co2e_kg: float
    energy_kwh: float
    work_per_kwh: float
    utilisation: float | None
    mean_wait_h: float
    p95_wait_h: float
    deadline_misses: int
    solar_self_consumption: float | None
    solar_kwh: float
    jobs: int
    rejected: int

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def hourly_load_wh(pieces: Pieces, cluster: Cluster, n_hours: int) -> FloatArray:
    """Load per group per hour, idle included. Shape (groups, n_hours). Units: Wh."""
    out = np.zeros((len(cluster.groups), n_hours))
    for g, grp in enumerate(cluster.groups):
        sel = pieces.group == g
        out[g] = hourly_profile(
            pieces.start_h[sel], pieces.end_h[sel], pieces.power_w[sel], n_hours
        )
        if not cluster.unlimited:
            out[g] += grp.idle_total_w
    return out


def compute_metrics(
    pieces: Pieces,
    cluster: Cluster,
    signals: Signals,
    arrival_h: FloatArray,
    first_start_h: FloatArray,
    last_end_h: FloatArray,
    deadline_h: FloatArray,
    work_core_h: FloatArray,
    rejected: BoolArray,
    until_h: int | None = None,
) -> Metrics:
    """Metrics over hours ``[0, until_h)``, or until the last job ends where that is
    later (a late job's energy is never cut off). Runs compared on one ``until_h``
    pay the cluster's idle power over the same hours."""
    ok = ~rejected
    end = float(np.max(last_end_h[ok])) if np.any(ok) else 0.0
    n_hours = max(int(np.ceil(end)), until_h or 0, 1)
    if n_hours > signals.n_hours:
        raise CoverageError(
            f"the accounting period of {n_hours} h (jobs run until hour {end:.0f}, common"
            f" period {until_h or 0} h) is longer than the"
            f" {signals.n_hours} h the carbon signal covers",
            hint="the cluster may be too small for the trace; a carbon trace shorter than"
            " the jobs needs --wrap",
        )
    load = hourly_load_wh(pieces, cluster, n_hours)
    pv = signals.pv_w[:, :n_hours]
    solar_used = np.minimum(load, pv)
    grid_wh = load - solar_used
    co2e_g = float(np.sum(grid_wh / 1000.0 * signals.intensity[:, :n_hours]))
    energy_kwh = float(load.sum() / 1000.0)
    wait = (first_start_h - arrival_h)[ok]
    pv_total = float(pv.sum())
    util: float | None = None
    if not cluster.unlimited:
        busy = float(np.sum((pieces.end_h - pieces.start_h) * pieces.cpus))
        util = busy / (float(cluster.capacity_cpus.sum()) * max(end, 1e-9))
    return Metrics(
        co2e_kg=co2e_g / 1000.0,
        energy_kwh=energy_kwh,
        work_per_kwh=float(work_core_h[ok].sum()) / energy_kwh if energy_kwh > 0 else 0.0,
        utilisation=util,
        mean_wait_h=float(wait.mean()) if len(wait) else 0.0,
        p95_wait_h=float(np.percentile(wait, 95)) if len(wait) else 0.0,
        deadline_misses=int(np.sum(last_end_h[ok] > deadline_h[ok] + 1e-6)),
        solar_self_consumption=float(solar_used.sum()) / pv_total if pv_total > 0 else None,
        solar_kwh=float(solar_used.sum() / 1000.0),
        jobs=int(ok.sum()),
        rejected=int(rejected.sum()),
    )
