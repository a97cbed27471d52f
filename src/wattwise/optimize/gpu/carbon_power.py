"""Choosing a GPU power limit by carbon, and choosing again as the grid changes.

Zeus's cost (NSDI'23, eq. 2) weighs a job's energy against its time:
``η·E + (1−η)·P_max·T``. Here the energy is weighed by the grid's intensity now and
the time by a reference intensity ``Ī``, the mean over the job's window (now to its
deadline, from the forecast)::

    cost = η·E·I(now) + (1−η)·P_max·T·Ī        Units: gCO₂e (J → kWh × gCO₂e/kWh)

On a flat grid (``I = Ī``) this is Zeus's cost times a constant, so the choice is
Zeus's. When the grid is dirtier than the window's mean the energy term weighs more
and a lower limit wins; when it is cleaner, a higher one: the job runs fast while power
is clean and frugally while it is dirty. A deadline removes the limits too slow to
finish the remaining work in time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from wattwise.errors import ConfigError
from wattwise.optimize.gpu.power_limit import PowerProfile, choose_power_limit
from wattwise.units import JOULES_PER_KWH, TimeSeries, co2e_grams

#: How often the governor chooses again when the grid changes. Units: s.
REPLAN_S = 3600.0


@dataclass(frozen=True)
class PowerChoice:
    """The limit chosen for the next stretch of work. Units: W, gCO₂e.

    ``feasible`` is False when no limit finishes the work before the deadline: then
    the fastest limit is chosen, the least late.
    """

    limit_w: float
    cost_g: float
    feasible: bool


def carbon_cost_g(
    profile: PowerProfile,
    intensity_g_per_kwh: float,
    ref_intensity_g_per_kwh: float,
    eta: float,
    max_power_w: float,
) -> float:
    """``η·E·I + (1−η)·P_max·T·Ī`` for one unit of work. Units: gCO₂e."""
    energy_kwh = profile.energy_j / JOULES_PER_KWH
    time_kwh = max_power_w * profile.time_s / JOULES_PER_KWH
    return eta * energy_kwh * intensity_g_per_kwh + (1.0 - eta) * time_kwh * ref_intensity_g_per_kwh


def choose_carbon_power_limit(
    profiles: Sequence[PowerProfile],
    *,
    intensity_g_per_kwh: float,
    ref_intensity_g_per_kwh: float,
    eta: float = 0.5,
    max_power_w: float | None = None,
    work_left: float = 1.0,
    time_left_s: float = math.inf,
) -> PowerChoice:
    """The least-cost limit that still finishes ``work_left`` units in ``time_left_s``.

    ``profiles`` give the time and energy of one unit of work (an epoch, N steps) per
    limit. Units: W, s, gCO₂e/kWh.
    """
    if not profiles:
        raise ConfigError("no power-limit profiles to choose from")
    if not 0.0 <= eta <= 1.0:
        raise ConfigError(f"eta must be within [0, 1], got {eta}")
    for name, value in (("intensity", intensity_g_per_kwh), ("reference", ref_intensity_g_per_kwh)):
        if not math.isfinite(value) or value < 0:
            raise ConfigError(f"{name} must be a finite gCO2e/kWh >= 0, got {value}")
    pmax = max_power_w if max_power_w is not None else max(p.limit_w for p in profiles)
    in_time = [p for p in profiles if work_left * p.time_s <= time_left_s]
    if not in_time:
        fastest = min(profiles, key=lambda p: (p.time_s, -p.limit_w))
        cost = carbon_cost_g(fastest, intensity_g_per_kwh, ref_intensity_g_per_kwh, eta, pmax)
        return PowerChoice(fastest.limit_w, cost, feasible=False)
    costs = [
        (carbon_cost_g(p, intensity_g_per_kwh, ref_intensity_g_per_kwh, eta, pmax), -p.limit_w, p)
        for p in in_time
    ]
    cost, _, best = min(costs, key=lambda c: (c[0], c[1]))
    return PowerChoice(best.limit_w, cost, feasible=True)


#: A rule that picks the limit at ``now_s`` with ``work_left`` units to go. Units: W.
LimitRule = Callable[[float, float], float]


def default_rule(profiles: Sequence[PowerProfile]) -> LimitRule:
    """The card's highest limit throughout (what a GPU does untouched)."""
    top = max(p.limit_w for p in profiles)
    return lambda now_s, work_left: top


def zeus_rule(profiles: Sequence[PowerProfile], eta: float) -> LimitRule:
    """Zeus's energy-time choice, made once: blind to the grid and the deadline."""
    limit = choose_power_limit(profiles, eta).limit_w
    return lambda now_s, work_left: limit


def carbon_rule(
    profiles: Sequence[PowerProfile],
    eta: float,
    intensity: TimeSeries,
    deadline_s: float,
    forecast: TimeSeries | None = None,
) -> LimitRule:
    """The carbon-aware choice, made again at every call.

    ``I(now)`` is read from ``intensity``; ``Ī`` is the mean of ``forecast`` (default:
    ``intensity`` itself, a perfect forecast) from now to the deadline.
    """
    ahead = forecast if forecast is not None else intensity

    def rule(now_s: float, work_left: float) -> float:
        return choose_carbon_power_limit(
            profiles,
            intensity_g_per_kwh=intensity.at(now_s),
            ref_intensity_g_per_kwh=ahead.mean(now_s, max(deadline_s, now_s + 1.0)),
            eta=eta,
            work_left=work_left,
            time_left_s=deadline_s - now_s,
        ).limit_w

    return rule


@dataclass(frozen=True)
class GridRun:
    """One job played on a carbon trace. Units: gCO₂e, J, s (epoch s for ``end_s``)."""

    co2e_g: float
    energy_j: float
    time_s: float
    end_s: float
    met_deadline: bool
    limits_w: tuple[float, ...] = field(default=())


def play(
    profiles: Sequence[PowerProfile],
    work_units: float,
    intensity: TimeSeries,
    start_s: float,
    deadline_s: float,
    rule: LimitRule,
    replan_s: float = REPLAN_S,
) -> GridRun:
    """Run ``work_units`` from ``start_s``, asking ``rule`` for a limit every ``replan_s``.

    Each stretch draws its profile's average power; its carbon is that energy times the
    trace's mean intensity over the stretch.
    """
    if work_units <= 0 or not math.isfinite(work_units):
        raise ConfigError(f"work must be a finite number of units > 0, got {work_units}")
    by_limit = {p.limit_w: p for p in profiles}
    now, left, grams, joules = start_s, float(work_units), 0.0, 0.0
    used: list[float] = []
    while left > 1e-12:
        p = by_limit[rule(now, left)]
        used.append(p.limit_w)
        dt = min(replan_s, left * p.time_s)
        energy = p.avg_power_w * dt
        grams += co2e_grams(energy, intensity.mean(now, now + dt))
        joules += energy
        left -= dt / p.time_s
        now += dt
    return GridRun(grams, joules, now - start_s, now, now <= deadline_s + 1e-6, tuple(used))
