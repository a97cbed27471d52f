"""Choosing a GPU power limit from a profile of time and power per limit.

Cost (Zeus, NSDI'23, eq. 2): ``η·E + (1−η)·P_max·T`` — η=1 minimises energy only,
η=0 time only; ``P_max`` (the highest limit) converts time into watts-seconds.
Alternatively a slowdown cap: the least energy whose time is at most ``max_slowdown``
times the fastest limit's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from wattwise.errors import ConfigError
from wattwise.optimize.measure import EnergySample


@dataclass(frozen=True)
class PowerProfile:
    """One power limit's measured work rate.

    Units: ``limit_w`` W, ``time_s`` s and ``energy_j`` J for the same amount of work
    (one epoch, or a fixed number of steps).
    """

    limit_w: float
    time_s: float
    energy_j: float

    @property
    def avg_power_w(self) -> float:
        """Units: W."""
        return self.energy_j / self.time_s if self.time_s > 0 else 0.0


def zeus_cost(energy_j: float, time_s: float, eta: float, max_power_w: float) -> float:
    """``η·E + (1−η)·P_max·T``. Units: J."""
    return eta * energy_j + (1.0 - eta) * max_power_w * time_s


def choose_power_limit(
    profiles: Sequence[PowerProfile],
    eta: float = 0.5,
    max_slowdown: float | None = None,
    max_power_w: float | None = None,
) -> PowerProfile:
    """The profile with the least cost, or least energy within ``max_slowdown``."""
    if not profiles:
        raise ConfigError("no power-limit profiles to choose from")
    if not 0.0 <= eta <= 1.0:
        raise ConfigError(f"eta must be within [0, 1], got {eta}")
    if max_slowdown is not None:
        if max_slowdown < 1.0:
            raise ConfigError(f"max slowdown must be >= 1, got {max_slowdown}")
        fastest = min(p.time_s for p in profiles)
        ok = [p for p in profiles if p.time_s <= max_slowdown * fastest]
        return min(ok, key=lambda p: (p.energy_j, p.time_s))
    pmax = max_power_w if max_power_w is not None else max(p.limit_w for p in profiles)
    return min(profiles, key=lambda p: (zeus_cost(p.energy_j, p.time_s, eta, pmax), -p.limit_w))


def profile_power_limits(
    actuator: Any,
    gpu: int,
    limits_w: Sequence[float],
    measure: Callable[[Callable[[], Any]], EnergySample],
    work: Callable[[], Any],
) -> list[PowerProfile]:
    """Set each limit (highest first), measure ``work`` under it, restore the old limit.

    ``actuator`` is a :class:`~wattwise.optimize.gpu.nvml.PowerLimitActuator`.
    """
    if not limits_w:
        raise ConfigError("no power limits to profile")
    previous = actuator.get_limit_w(gpu)
    out: list[PowerProfile] = []
    try:
        for limit in sorted(limits_w, reverse=True):
            actuator.set_limit_w(gpu, limit)
            s = measure(work)
            out.append(PowerProfile(limit, s.duration_s, s.energy_j))
    finally:
        actuator.set_limit_w(gpu, previous)
    return out


def optimize_power_limit(
    actuator: Any,
    gpu: int,
    measure: Callable[[Callable[[], Any]], EnergySample],
    work: Callable[[], Any],
    eta: float = 0.5,
    max_slowdown: float | None = None,
    steps: int = 5,
) -> tuple[PowerProfile, list[PowerProfile]]:
    """Profile ``steps`` evenly spaced limits over the GPU's range, set and return the best."""
    rng = actuator.limits(gpu)
    if steps < 2:
        raise ConfigError("profile at least 2 power limits")
    span = rng.max_w - rng.min_w
    limits = [rng.min_w + span * i / (steps - 1) for i in range(steps)]
    profiles = profile_power_limits(actuator, gpu, limits, measure, work)
    best = choose_power_limit(profiles, eta, max_slowdown, max_power_w=rng.max_w)
    actuator.set_limit_w(gpu, best.limit_w)
    return best, profiles
