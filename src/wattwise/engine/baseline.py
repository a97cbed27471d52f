"""The carbon-agnostic baseline ("all at once"): what a finished job would have emitted
had it started the moment it arrived.

The same measured energy, with the same power shape, moved to start at submission and
priced at the intensity of the hours right after arrival. The API shows it beside each
finished job and the demo totals it; both get it from here. Units: J, W, gCO₂e,
s (UTC epoch s).
"""

from __future__ import annotations

from dataclasses import dataclass

from wattwise.carbon import timeline_co2e_g
from wattwise.meter.types import DeviceEnergy, Measurement, PowerSample
from wattwise.units import TimeSeries


@dataclass(frozen=True)
class RanJob:
    """What a finished job used, and when it arrived and ran.

    ``power`` holds its metered power samples: (t_s, W) at the end of each interval,
    oldest first; without any, its power is taken as flat over the run.
    """

    energy_j: float
    submitted_s: float
    started_s: float
    ended_s: float
    power: tuple[tuple[float, float], ...] = ()

    @property
    def run_s(self) -> float:
        """How long it ran (at least 1 s, so a window always has a width). Units: s."""
        return max(self.ended_s - self.started_s, 1.0)

    def arrival_window(self) -> tuple[float, float]:
        """The span the baseline prices: the run's length from submission. Units: epoch s."""
        return self.submitted_s, self.submitted_s + self.run_s


def all_at_once_co2e_g(job: RanJob, intensity: TimeSeries) -> float:
    """gCO₂e of ``job``'s energy timeline shifted to start at submission, under
    ``intensity`` (gCO₂e/kWh, covering :meth:`RanJob.arrival_window`), by the one
    timeline sum :func:`wattwise.carbon.timeline_co2e_g`."""
    t0, t1 = job.arrival_window()
    shift = t0 - job.started_s
    timeline, before = [], t0
    for t, p in job.power:
        if t0 < t + shift <= t1 and p > 0:
            timeline.append(
                PowerSample(t_s=t + shift, power_w=p, energy_j=p * (t + shift - before))
            )
        before = max(before, t + shift)
    shifted = Measurement(
        name="all at once",
        start_s=t0,
        end_s=t1,
        devices=(DeviceEnergy("job", "total", "metered", False, job.energy_j),),
        timeline=tuple(timeline),
    )
    # Energy the samples do not cover (all of it without samples) is priced flat over
    # the window: each hour weighed by its overlap with the run.
    return timeline_co2e_g(shifted, intensity)
