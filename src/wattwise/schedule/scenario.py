"""Everything one simulation needs, loaded from files: jobs, cluster, signals.

Used by ``wattwise simulate`` and ``bench/schedule.py``. Forecasts come from
:func:`wattwise.grid.walk_forward_forecasts`, so policies see forecasts with their
real error; accounting uses the true trace.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from wattwise.errors import ConfigError, CoverageError, ScheduleError
from wattwise.schedule.cluster import load_cluster, pv_series
from wattwise.schedule.metrics import Metrics, Pieces, compute_metrics
from wattwise.schedule.model import Cluster, FloatArray, JobBatch, default_cluster
from wattwise.schedule.oracle import lp_variables, oracle_lp, oracle_unlimited
from wattwise.schedule.policies import make_policy
from wattwise.schedule.signals import Signals, build_signals, hourly_means
from wattwise.schedule.simulator import Progress, oversize, simulate
from wattwise.schedule.traces import read_job_trace
from wattwise.units import SECONDS_PER_HOUR, TimeSeries, iso_utc

if TYPE_CHECKING:
    from wattwise.grid.trace import GapFill

#: Hours kept after the last deadline for jobs that queue past it.
ACCOUNTING_MARGIN_H = 24 * 8
#: Hours of carbon data before the trace's start that forecasters see as the past.
HISTORY_H = 28 * 24
#: The largest capacity-limited LP bound the command line solves (variables): about
#: a minute of HiGHS here (the 14-day windows of bench/schedule.py, 160-190k, took
#: 13-56 s). Larger traces are bounded on a window.
LP_MAX_VARIABLES = 200_000
#: The most forecast cells (hours forecast x lead hours) one zone may need. The
#: walk-forward forecaster holds about 30 float64 arrays of that size at its peak
#: (its blend scores five weights), so this is ~2.4 GB; the README's year of the
#: azure-100k trace on a cluster needs ~1.2 million. More means absurd job lengths or
#: arrival times, refused before anything is allocated.
MAX_FORECAST_CELLS = 10_000_000


@dataclass
class Scenario:
    jobs: JobBatch
    cluster: Cluster
    signals: Signals
    zone: str
    notes: list[str] = field(default_factory=list)


def forecaster(values: FloatArray, horizon: int) -> FloatArray:
    """Walk-forward forecasts; the first row (no past) is flat, so it prefers nothing."""
    from wattwise.grid import walk_forward_forecasts

    out = np.asarray(walk_forward_forecasts(values, horizon), dtype=np.float64)
    return np.where(np.isnan(out), float(values[0]), out)


def load_carbon(
    paths: Sequence[str | Path],
    emission: str = "lca",
    fill: GapFill | None = None,
    notes: dict[str, list[str]] | None = None,
) -> dict[str, TimeSeries]:
    """Hourly carbon traces keyed by zone (Zone Id from the file name's first part).

    Gaps are filled only as ``fill`` allows (:mod:`wattwise.grid.trace`); finer data
    (15-minute, 5-minute) becomes hourly means (:func:`.signals.hourly_means`). Both
    are said in ``notes[zone]``, when given."""
    from wattwise.grid.trace import load_intensity_filled

    out: dict[str, TimeSeries] = {}
    for p in paths:
        zone = Path(p).name.split("_")[0]
        trace = load_intensity_filled(p, emission=emission, fill=fill)  # type: ignore[arg-type]
        series = trace.series
        said = notes.setdefault(zone, []) if notes is not None else []
        if trace.filled:
            said.append(f"{zone}: {trace.note()}")
        if series.step_s < SECONDS_PER_HOUR:
            series = hourly_means(series, f"carbon signal {zone}")
            said.append(f"{zone}: {trace.series.step_s:g} s data averaged to hourly means")
        out[zone] = series
    return out


def build_scenario(
    jobs: JobBatch,
    carbon: dict[str, TimeSeries],
    cluster: Cluster | None = None,
    wrap: bool = False,
    start_h: int = 0,
    notes: Sequence[str] = (),
) -> Scenario:
    """Align ``carbon`` (one zone, or the zones the cluster names) to ``jobs``.

    Hour 0 of the jobs is hour ``start_h`` of the carbon data; forecasters see up to
    ``HISTORY_H`` hours before it as the past. ``notes`` (how the data was read) lead
    the scenario's notes."""
    history: dict[str, FloatArray] = {}
    if start_h:
        carbon, history = _from_hour(carbon, start_h)
    zone = next(iter(carbon))
    cl = cluster if cluster is not None else default_cluster()
    needed = int(np.ceil(float(jobs.deadline_h.max())))
    min_speed = min(g.speed for g in cl.groups)
    horizon = int(np.ceil(float(np.max(jobs.latest_start_h - jobs.arrival_h))))
    horizon += int(np.ceil(float(jobs.length_upper_h.max()) / min_speed)) + 2
    cells = (needed + horizon) * horizon
    if cells > MAX_FORECAST_CELLS:
        raise ScheduleError(
            f"the simulation would forecast {needed + horizon:,} h, {horizon:,} h ahead each:"
            f" {cells:,} cells, past the limit of {MAX_FORECAST_CELLS:,}"
            " (the forecaster needs ~240 bytes a cell)",
            hint="check the trace's lengths and arrival times and its --time-unit,"
            " or simulate a shorter slice",
        )
    said: list[str] = list(notes)
    pv: dict[str, TimeSeries] = {}
    start_s = carbon[zone].start_s
    for g in cl.groups:
        if g.solar_peak_w > 0:
            pv[g.name] = pv_series(g, start_s, needed + horizon + ACCOUNTING_MARGIN_H)
    signals = build_signals(
        cl,
        carbon,
        needed,
        horizon,
        forecaster,
        pv_by_group=pv,
        wrap=wrap,
        accounting_margin_h=ACCOUNTING_MARGIN_H,
        history_by_zone=history,
    )
    if signals.wrapped:
        said.append("carbon data repeated (--wrap) to cover the jobs' deadlines")
    return Scenario(jobs=jobs, cluster=cl, signals=signals, zone=zone, notes=said)


def start_hour(carbon: dict[str, TimeSeries], start_s: float) -> int:
    """Index of the carbon hour at ``start_s`` (epoch s; the same in every zone), for
    ``build_scenario(start_h=...)``. Refused when the files start apart, before the
    data or off a whole hour."""
    firsts = {ts.start_s for ts in carbon.values()}
    if len(firsts) > 1:
        raise ConfigError(
            "the carbon files start at different times", hint="--start needs them aligned"
        )
    first = firsts.pop()
    offset_h = (start_s - first) / SECONDS_PER_HOUR
    when = iso_utc(first)
    if offset_h < 0:
        raise ConfigError(f"--start is before the carbon data begins ({when})")
    if abs(offset_h - round(offset_h)) > 1e-9:
        raise ConfigError("--start must fall on a whole hour of the carbon data")
    return round(offset_h)


def _from_hour(
    carbon: dict[str, TimeSeries], start_h: int
) -> tuple[dict[str, TimeSeries], dict[str, FloatArray]]:
    """Each zone's series from hour ``start_h`` on, and the hours before it."""
    if start_h < 0:
        raise CoverageError(f"start hour must be 0 or later, not {start_h}")
    cut: dict[str, TimeSeries] = {}
    past: dict[str, FloatArray] = {}
    for zone, ts in carbon.items():
        if start_h >= len(ts):
            raise CoverageError(
                f"carbon signal {zone} covers {len(ts)} h; it cannot start at hour {start_h}",
                hint="choose an earlier start or give a longer carbon trace",
            )
        cut[zone] = TimeSeries(ts.times_s[start_h:], ts.values[start_h:], ts.unit, ts.step_s)
        past[zone] = np.asarray(ts.values[max(0, start_h - HISTORY_H) : start_h], np.float64)
    return cut, past


def load_scenario(
    jobs_path: str | Path,
    carbon_path: str | Path,
    cluster_path: str | Path | None = None,
    slack_h: float = 24.0,
    wrap: bool = False,
    time_unit: str = "h",
    emission: str = "lca",
) -> Scenario:
    jobs = read_job_trace(jobs_path, time_unit=time_unit, slack_h=slack_h)
    cluster = load_cluster(cluster_path) if cluster_path is not None else None
    return build_scenario(jobs, load_carbon([carbon_path], emission), cluster, wrap)


def run_policy(
    scn: Scenario, name: str, progress: Progress | None = None, until_h: int | None = None
) -> Metrics:
    """Metrics of policy ``name`` over at least ``until_h`` hours."""
    policy = make_policy(name)
    return simulate(scn.jobs, scn.cluster, scn.signals, policy, progress, until_h).metrics


def oracle_result(scn: Scenario, until_h: int | None = None) -> dict[str, Any]:
    """The perfect-knowledge bound as ``wattwise simulate`` reports it: exact with
    unlimited capacity, the LP relaxation over ``until_h`` hours (default
    :func:`bound_hours`) with a cluster (:class:`CoverageError` when too large)."""
    if scn.cluster.unlimited:
        return dict(oracle_metrics(scn).as_dict())
    return capacity_bound(scn, until_h if until_h is not None else bound_hours(scn))


def bound_hours(scn: Scenario) -> int:
    """The common accounting period with a cluster: the hours until every job has
    ended even when started as late as it safely may (or, where that is its arrival,
    at its arrival) on any group, plus two. Policies and the capacity-limited bound
    are accounted over (at least) these hours, so that all pay the cluster's idle
    power over the same period; a job that still runs later counts in full."""
    jobs = scn.jobs
    ends = [
        np.maximum(jobs.arrival_h, jobs.deadline_h - jobs.length_upper_h / g.speed)
        + jobs.length_h / g.speed
        for g in scn.cluster.groups
    ]
    return int(np.ceil(float(np.max(ends)))) + 2


@dataclass
class Comparison:
    """Policies side by side on one scenario. ``hours``: the common accounting period
    with a cluster (:func:`bound_hours`), None with unlimited capacity (no idle power)."""

    zone: str
    policies: dict[str, Metrics]
    notes: list[str]
    hours: int | None
    oracle: dict[str, Any] | None = None
    oracle_note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """What ``wattwise simulate --json`` prints per grid, with ``saved_vs_fifo``
        (share of FIFO's carbon saved) on every row when FIFO ran."""
        per: dict[str, dict[str, Any]] = {n: dict(m.as_dict()) for n, m in self.policies.items()}
        oracle = dict(self.oracle) if self.oracle is not None else None
        if "fifo" in per:
            base = float(per["fifo"]["co2e_kg"])
            for row in [*per.values(), *filter(None, [oracle])]:
                row["saved_vs_fifo"] = 1.0 - float(row["co2e_kg"]) / base if base > 0 else 0.0
        out: dict[str, Any] = {
            "policies": per,
            "notes": list(self.notes),
            "oracle": oracle,
            "accounting_h": self.hours,
        }
        if self.oracle_note is not None:
            out["oracle_note"] = self.oracle_note
        return out


def compare(
    scn: Scenario,
    names: Sequence[str],
    progress_for: Callable[[str], Progress] | None = None,
) -> Comparison:
    """Run each policy in ``names`` (``"oracle"``: the perfect-knowledge bound) on
    ``scn``. With a cluster all are accounted over :func:`bound_hours`; an LP bound
    too large to solve becomes ``oracle_note``. ``progress_for(name)`` gives the
    progress callback of each run."""
    until = None if scn.cluster.unlimited else bound_hours(scn)
    result = Comparison(scn.zone, {}, list(scn.notes), until)
    for name in names:
        tick = progress_for(name) if progress_for is not None else None
        if name == "oracle":
            try:
                result.oracle = oracle_result(scn, until)
            except CoverageError as err:
                if until is None:
                    raise
                result.oracle_note = f"no capacity-limited bound: {err}"
        else:
            result.policies[name] = run_policy(scn, name, tick, until)
        if tick is not None:
            tick(1.0)
    return result


def capacity_bound(scn: Scenario, until_h: int, max_variables: int | None = None) -> dict[str, Any]:
    """The LP-relaxation bound on carbon with the scenario's cluster (see
    :func:`.oracle.oracle_lp`) over hours ``[0, until_h)``, jobs larger than every
    group left out. Raises :class:`CoverageError` when the LP would be too large."""
    bad, _ = oversize(scn.jobs, scn.cluster)
    jobs = scn.jobs.subset(~bad)
    n = lp_variables(jobs, scn.cluster)
    max_variables = LP_MAX_VARIABLES if max_variables is None else max_variables
    if n > max_variables:
        raise CoverageError(
            f"the LP bound for {len(jobs)} jobs needs about {n:,} variables"
            f" (limit {max_variables:,})",
            hint="simulate a shorter slice of the trace; bench/schedule.py bounds a window",
        )
    b = oracle_lp(jobs, scn.cluster, scn.signals, until_h)
    return {
        "co2e_kg": b.co2e_kg,
        "energy_kwh": b.energy_kwh,
        "bound": "LP relaxation",
        "hours": b.hours,
        "seconds": b.seconds,
    }


def oracle_metrics(scn: Scenario) -> Metrics:
    """Perfect-knowledge bound with unlimited capacity (exact, see :mod:`.oracle`)."""
    if not scn.cluster.unlimited:
        raise CoverageError(
            "the exact oracle covers unlimited capacity only",
            hint="bench/schedule.py solves the capacity-limited LP bound on a window",
        )
    jobs, cl = scn.jobs, scn.cluster
    start, grp = oracle_unlimited(jobs, cl, scn.signals)
    g = grp.astype(np.int64)
    speed = np.array([x.speed for x in cl.groups])[g]
    end = start + jobs.length_h / speed
    w = np.array([x.active_w_per_cpu for x in cl.groups])[g] * jobs.cpus.astype(np.float64)
    pieces = Pieces(np.arange(len(jobs)), g, start, end, w, jobs.cpus)
    none = np.zeros(len(jobs), np.bool_)
    return compute_metrics(
        pieces,
        cl,
        scn.signals,
        jobs.arrival_h,
        start,
        end,
        jobs.deadline_h,
        jobs.cpus * jobs.length_h,
        none,
    )
