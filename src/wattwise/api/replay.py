"""A grid trace replayed on an accelerated clock, as seen from the wall clock.

The engine plans and accounts in wall-clock time. To run it against a replayed trace
(the demo: one wall second is ten grid minutes), these adapters compress the grid
into wall time (:class:`ReplayProvider`, :func:`replay_forecast`) and map the jobs
it reports back onto the grid clock for the dashboard (:class:`ReplayJobs`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from wattwise.api.clock import Clock
from wattwise.api.grid_view import HOUR_S, GridView
from wattwise.api.jobs import JobBackend
from wattwise.api.models import JobOut, JobSubmit
from wattwise.units import TimeSeries

_TIMES = ("submitted_s", "deadline_s", "planned_start_s", "planned_end_s", "started_s", "ended_s")


@dataclass
class ReplayProvider:
    """Actual intensity at wall-clock instants (an ``IntensityProvider``). Units: gCO₂e/kWh."""

    grid: GridView
    clock: Clock

    def describe(self) -> str:
        return f"{self.grid.source}, replayed x{self.clock.speed:g}"

    def series(self, start_s: float, end_s: float) -> TimeSeries:
        trace = self.grid.trace
        assert trace is not None, "ReplayProvider needs a trace"
        a, b = self.clock.to_sim_s(start_s), self.clock.to_sim_s(end_s)
        n = len(trace)
        lo = min(max(0, int((a - trace.start_s) // HOUR_S)), n - 1)
        hi = min(n, max(lo + 1, math.ceil((b - trace.start_s) / HOUR_S)))
        times = np.array([self.clock.to_wall_s(float(t)) for t in trace.times_s[lo:hi]])
        return TimeSeries(times, trace.values[lo:hi].copy(), trace.unit, HOUR_S / self.clock.speed)


def replay_forecast(
    grid: GridView, clock: Clock
) -> Callable[[str | None, float, float], TimeSeries]:
    """The engine's ``Forecast``: the forecast issued at the grid clock's current hour,
    in wall time, held at its last value past its horizon."""

    def forecast(zone: str | None, start_s: float, end_s: float) -> TimeSeries:
        times, values = grid.forecast_from(clock.now_s())
        if not times:
            return ReplayProvider(grid, clock).series(start_s, end_s)
        step = HOUR_S / clock.speed
        wall = [clock.to_wall_s(t) for t in times]
        while wall[-1] + step < end_s:
            wall.append(wall[-1] + step)
            values.append(values[-1])
        return TimeSeries(np.array(wall), np.array(values), "gCO2e/kWh", step)

    return forecast


@dataclass
class ReplayJobs:
    """Jobs of ``inner`` (in wall time) shown on the grid clock, with demo annotations.

    ``extra[job_id]`` adds fields the engine does not know (kind, the baseline carbon).
    ``duration_s`` stays in wall seconds: it is how long the job really ran.
    """

    inner: JobBackend
    clock: Clock
    runtime_s: dict[str, float] = field(default_factory=dict)  # job id -> wall seconds
    extra: dict[str, dict[str, Any]] = field(default_factory=dict)

    def _map(self, job: JobOut) -> JobOut:
        update: dict[str, Any] = {
            k: self.clock.to_sim_s(v) for k in _TIMES if (v := getattr(job, k)) is not None
        }
        if job.planned_start_s is not None and job.id in self.runtime_s and not job.planned_end_s:
            update["planned_end_s"] = (
                update["planned_start_s"] + self.runtime_s[job.id] * self.clock.speed
            )
        update.update(self.extra.get(job.id, {}))
        return job.model_copy(update=update)

    def list_jobs(self, limit: int, offset: int, status: str | None) -> tuple[list[JobOut], int]:
        items, total = self.inner.list_jobs(limit, offset, status)
        return [self._map(j) for j in items], total

    def get_job(self, job_id: str) -> JobOut:
        return self._map(self.inner.get_job(job_id))

    def submit(self, spec: JobSubmit) -> JobOut:
        return self._map(self.inner.submit(spec))

    def cancel(self, job_id: str) -> JobOut:
        return self._map(self.inner.cancel(job_id))

    def counts(self) -> dict[str, int]:
        return self.inner.counts()
