"""Scheduling policies by command-line name. Add a new one: subclass
:class:`~wattwise.schedule.policies.base.Policy` and list it in ``POLICIES``."""

from __future__ import annotations

from wattwise.errors import ConfigError
from wattwise.schedule.policies.base import (
    ANY_GROUP,
    ClusterState,
    ForecastView,
    Plan,
    Policy,
)
from wattwise.schedule.policies.baselines import (
    Efficiency,
    Fifo,
    GaiaCst,
    LowestStart,
    LowestWindow,
    Threshold,
)
from wattwise.schedule.policies.wattwise import Wattwise

POLICIES: dict[str, type[Policy]] = {
    p.name: p for p in (Fifo, LowestStart, LowestWindow, Threshold, GaiaCst, Efficiency, Wattwise)
}
#: Every name the CLI accepts; ``oracle`` is the offline bound, not an online policy.
POLICY_NAMES = (*POLICIES, "oracle")
BASELINES = ("fifo", "lowest-start", "lowest-window", "threshold", "gaia-cst", "efficiency")


def make_policy(name: str) -> Policy:
    try:
        return POLICIES[name]()
    except KeyError:
        raise ConfigError(
            f"unknown policy {name!r}", hint=f"choose from {', '.join(POLICY_NAMES)} or all"
        ) from None


__all__ = [
    "ANY_GROUP",
    "BASELINES",
    "POLICIES",
    "POLICY_NAMES",
    "ClusterState",
    "ForecastView",
    "Plan",
    "Policy",
    "make_policy",
]
