"""When to pause a running interruptible job, and when to bring it back.

The engine asks at each tick for each running interruptible job: with ``remaining_s``
of work left and a deadline, is there enough cleaner time ahead to be worth a pause?
The cleanest hours before the deadline that hold the remaining work (expected, plus
the cost of one stop and restart) are chosen; if the hour now is not among them, the first chosen
hour is at least ``min_pause_s`` away, and the chosen hours are at least
``min_saving`` cleaner than running on now, the job is paused until the first of them.

A paused job is resumed at its planned hour, or earlier when only its latest safe
start is left (``deadline − remaining_upper_s``): the deadline always wins.
Units: s (epoch s for instants), gCO₂e/kWh.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from wattwise.errors import ConfigError
from wattwise.units import SECONDS_PER_HOUR, TimeSeries

#: Pause only for at least this much cleaner power (fraction of the run-now mean).
MIN_SAVING = 0.10
#: A pause shorter than this is not worth a stop and a restart. Units: s.
MIN_PAUSE_S = SECONDS_PER_HOUR
#: What one stop and restart costs in extra run time (checkpoint, start-up). Units: s.
RESTART_OVERHEAD_S = 120.0


@dataclass(frozen=True)
class SuspendAdvice:
    """The answer for one job. Units: epoch s, gCO₂e/kWh, fraction."""

    suspend: bool
    resume_at_s: float | None
    run_now_g_per_kwh: float
    planned_g_per_kwh: float
    saving: float
    reason: str


def advise(
    remaining_s: float,
    now_s: float,
    deadline_s: float,
    forecast: TimeSeries,
    *,
    remaining_upper_s: float | None = None,
    min_saving: float = MIN_SAVING,
    min_pause_s: float = MIN_PAUSE_S,
    overhead_s: float = RESTART_OVERHEAD_S,
) -> SuspendAdvice:
    """Pause now, or run on? ``forecast`` is the planning signal (gCO₂e/kWh)."""
    for name, value in (("remaining", remaining_s), ("now", now_s), ("deadline", deadline_s)):
        if not math.isfinite(value):
            raise ConfigError(f"suspend advice: {name} must be finite, got {value}")
    upper = max(remaining_upper_s if remaining_upper_s is not None else remaining_s, remaining_s)
    run_now = forecast.mean(now_s, now_s + max(remaining_s, 1.0))
    if remaining_s <= 0:
        return SuspendAdvice(False, None, run_now, run_now, 0.0, "no work left")
    # The hours are chosen for the expected work; the upper bound guards the deadline.
    need = remaining_s + overhead_s
    slack = deadline_s - now_s - upper - overhead_s
    if slack < min_pause_s:
        return SuspendAdvice(False, None, run_now, run_now, 0.0, "no slack before the deadline")
    # Hour-aligned slots from now to the deadline; the first is the rest of this hour.
    edges = [now_s]
    t = (math.floor(now_s / SECONDS_PER_HOUR) + 1) * SECONDS_PER_HOUR
    while t < deadline_s:
        edges.append(t)
        t += SECONDS_PER_HOUR
    edges.append(deadline_s)
    slots = [(edges[i], edges[i + 1]) for i in range(len(edges) - 1) if edges[i + 1] > edges[i]]
    means = [forecast.mean(s, e) for s, e in slots]
    order = sorted(range(len(slots)), key=lambda i: (means[i], i))
    chosen: list[int] = []
    got = 0.0
    for i in order:
        if got >= need:
            break
        chosen.append(i)
        got += slots[i][1] - slots[i][0]
    chosen.sort()
    weight = sum(slots[i][1] - slots[i][0] for i in chosen)
    planned = sum(means[i] * (slots[i][1] - slots[i][0]) for i in chosen) / weight
    saving = 1.0 - planned / run_now if run_now > 0 else 0.0

    def run_on(reason: str) -> SuspendAdvice:
        return SuspendAdvice(False, None, run_now, planned, saving, reason)

    if chosen[0] == 0:
        return run_on("now is among the cleanest hours")
    resume_at = slots[chosen[0]][0]
    if resume_at - now_s < min_pause_s:
        return run_on("the cleaner hours are too close")
    if saving < min_saving:
        return run_on(f"only {saving:.0%} cleaner ahead")
    latest_safe = deadline_s - upper - overhead_s
    resume_at = min(resume_at, latest_safe)
    return SuspendAdvice(
        True, resume_at, run_now, planned, saving, f"{saving:.0%} cleaner from the resume hour"
    )


def should_resume(now_s: float, resume_at_s: float, deadline_s: float, remaining_upper_s: float,
                  overhead_s: float = RESTART_OVERHEAD_S) -> bool:  # fmt: skip
    """A paused job comes back at its hour, or at its latest safe start, if earlier."""
    return now_s >= min(resume_at_s, deadline_s - remaining_upper_s - overhead_s)
