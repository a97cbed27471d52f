"""The online policy interface shared by the simulator and the engine.

Every ``plan`` call sees only what exists at ``now_h``: the jobs handed to it, the
cluster, and the forecast issued at ``now_h`` (never the future truth). It returns a
:class:`Plan`; a later plan for the same job replaces an earlier one until the job
starts (that is how re-planning policies revise their choices).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from wattwise.schedule.model import BoolArray, Cluster, Decision, FloatArray, IntArray, JobBatch
from wattwise.schedule.signals import Signals
from wattwise.schedule.windows import integral_1d, prefix

ANY_GROUP = -1


@dataclass
class Plan:
    """Decisions as arrays. ``group[i] == ANY_GROUP`` lets the dispatcher take the first
    group with room in the policy's ``group_order``. Units: h since origin."""

    job_id: IntArray
    group: IntArray
    start_h: FloatArray

    @classmethod
    def empty(cls) -> Plan:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))

    def decisions(self, cluster: Cluster) -> list[Decision]:
        """The plan as :class:`Decision` objects (for the engine)."""
        return [
            Decision(int(j), None if g == ANY_GROUP else cluster.groups[int(g)].name, float(s))
            for j, g, s in zip(self.job_id, self.group, self.start_h, strict=True)
        ]


@dataclass
class ForecastView:
    """The forecast issued at the start of hour ``hour`` for every node group.

    ``intensity[g, k]``: gCO2e/kWh expected in hour ``hour + k``; ``pv_w[g, k]``: expected
    on-site PV power (W).
    """

    hour: int
    intensity: FloatArray
    pv_w: FloatArray

    @classmethod
    def at(cls, signals: Signals, hour: int) -> ForecastView:
        h = min(hour, signals.forecast.shape[1] - 1)
        return cls(
            hour=hour, intensity=signals.forecast[:, h, :], pv_w=signals.pv_forecast_w[:, h, :]
        )


@dataclass
class ClusterState:
    """What the dispatcher knows now: free cores and GPUs per group."""

    cluster: Cluster
    free_cpus: IntArray
    free_gpus: IntArray


class Policy(ABC):
    """A scheduling policy. Subclasses set ``name`` and implement :meth:`plan`."""

    name: str = ""
    #: True when the policy wants ``plan`` called every hour, even with no arrivals.
    replans: bool = False
    #: How the dispatcher orders jobs waiting for room: "fifo" or "edf" (latest start).
    queue_order: str = "fifo"

    def reset(self, cluster: Cluster, n_hours: int) -> None:
        """Start a new simulation (or a new engine session) on ``cluster``."""
        self.cluster = cluster
        self.n_hours = n_hours
        self.group_order: list[int] = list(range(len(cluster.groups)))

    def started(self, job_id: int, group: int, start_h: float) -> None:  # noqa: B027
        """The dispatcher started ``job_id`` on ``group`` at ``start_h`` (an optional
        hook for policies that keep a plan of their own)."""

    def withdrawn(self, job_id: int) -> None:  # noqa: B027
        """``job_id`` left before it started (cancelled, or failed while waiting): a
        policy that reserved room for it gives that room back (an optional hook; the
        simulator never withdraws a job, the engine does)."""

    @abstractmethod
    def plan(
        self, now_h: float, queue: JobBatch, state: ClusterState, forecast: ForecastView
    ) -> Plan:
        """Decide where and when the jobs in ``queue`` run (starts >= their arrival)."""


def _n_columns(span_h: FloatArray, extra: int) -> IntArray:
    """Whole hours needed to cover the widest ``span_h`` (per group: the last axis is
    the jobs), plus ``extra`` columns."""
    if span_h.shape[-1] == 0:
        return np.full(span_h.shape[:-1], extra, dtype=np.int64)
    out: IntArray = np.ceil(np.maximum(np.max(span_h, axis=-1), 0.0)).astype(np.int64) + extra
    return out


def _hour_starts(base: float, earliest: FloatArray, hi: FloatArray, n: int) -> FloatArray:
    """The arrival, then every whole hour from ``base``, ``n`` columns, clamped to
    ``hi`` (the latest start, or the arrival where that is later). Shape (..., jobs,
    n)."""
    grid = base + np.arange(n, dtype=np.float64)
    out: FloatArray = np.minimum(np.maximum(earliest[..., None], grid), hi[..., None])
    return out


def _end_aligned(
    earliest: FloatArray, hi: FloatArray, duration_h: FloatArray, n: int
) -> FloatArray:
    """``n`` starts whose end falls on a whole hour, within [earliest, hi]."""
    ends = np.ceil(earliest + duration_h)[..., None] + np.arange(n, dtype=np.float64)
    out: FloatArray = np.minimum(
        np.maximum(ends - duration_h[..., None], earliest[..., None]), hi[..., None]
    )
    return out


def integer_candidates(queue: JobBatch, now_h: float, latest_h: FloatArray) -> FloatArray:
    """Start candidates: the arrival, then every whole hour up to the latest start, and
    the latest start itself. Shape (jobs, candidates). Units: h."""
    earliest = np.maximum(queue.arrival_h, now_h)
    hi = np.maximum(latest_h, earliest)
    base = float(np.floor(max(now_h, 0.0)))
    grid = _hour_starts(base, earliest, hi, int(_n_columns(latest_h - base, 2)))
    out: FloatArray = np.concatenate([grid, hi[:, None]], axis=1)
    return out


def end_aligned_candidates(
    queue: JobBatch, now_h: float, latest_h: FloatArray, duration_h: FloatArray
) -> FloatArray:
    """Starts whose end falls on a whole hour (where a window mean can be minimal)."""
    earliest = np.maximum(queue.arrival_h, now_h)
    n = int(_n_columns(latest_h - earliest, 1))
    return _end_aligned(earliest, np.maximum(latest_h, earliest), duration_h, n)


def start_candidates(
    queue: JobBatch, now_h: float, latest_h: FloatArray, duration_h: FloatArray
) -> FloatArray:
    """:func:`integer_candidates` then :func:`end_aligned_candidates`, side by side (one
    pass: policies that score windows call this for every batch)."""
    cand, _ = group_start_candidates(queue, now_h, latest_h[None, :], duration_h[None, :])
    return cand[0]


def group_start_candidates(
    queue: JobBatch, now_h: float, latest_h: FloatArray, duration_h: FloatArray
) -> tuple[FloatArray, BoolArray]:
    """:func:`start_candidates` for several node groups at once: ``latest_h`` and
    ``duration_h`` have shape (groups, jobs). Groups with fewer candidates than the
    widest are padded; the mask (groups, 1, candidates) is False on the padding, and
    each group's unpadded columns are exactly its :func:`start_candidates`. One set of
    array operations for every group: NumPy's per-call cost, not the arithmetic,
    dominates on batches this small."""
    earliest = np.maximum(queue.arrival_h, now_h)[None, :]
    hi = np.maximum(latest_h, earliest)
    base = float(np.floor(max(now_h, 0.0)))
    # Columns per group: whole hours up to the latest start, then end-aligned starts.
    n_hours = _n_columns(latest_h - base, 2)
    n_ends = _n_columns(latest_h - earliest, 1)
    w_hours, w_ends = int(n_hours.max()), int(n_ends.max())
    cand: FloatArray = np.concatenate(
        [
            _hour_starts(base, earliest, hi, w_hours),
            hi[..., None],
            _end_aligned(earliest, hi, duration_h, w_ends),
        ],
        axis=2,
    )
    col = np.arange(cand.shape[2])
    valid: BoolArray = (col < n_hours[:, None]) | (
        (col >= w_hours) & (col <= w_hours + n_ends[:, None])
    )
    return cand, valid[:, None, :]


def window_integral(
    row: FloatArray, issue_h: float, start_h: FloatArray, dur_h: FloatArray
) -> FloatArray:
    """Integral of forecast ``row`` (issued at ``issue_h``) over ``[start, start+dur)``.
    Units: (gCO2e/kWh) x h."""
    cum = prefix(row)
    tau = start_h - issue_h
    out: FloatArray = integral_1d(cum, row, tau + dur_h) - integral_1d(cum, row, tau)
    return out
