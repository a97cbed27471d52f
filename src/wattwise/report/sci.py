"""The Software Carbon Intensity: SCI = (E x I + M) per functional unit R.

E x I is the operational, location-based CO₂e (the metered energy x PUE x the grid
intensity the run was accounted with); M the embodied CO₂e amortised over the run;
R what the work produced, as the user names it (items, steps, tokens, jobs). The
Green Software Foundation's SCI specification excludes market-based instruments, so
a contract factor never enters it. Units: gCO₂e per unit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from wattwise.errors import ConfigError


@dataclass(frozen=True)
class FunctionalUnit:
    """``count`` of ``name`` (``"run"``, ``"token"``, ...); a count is finite and > 0."""

    name: str
    count: float
    given: bool = False  # named by the user (--unit/--units), not the default

    @classmethod
    def of(
        cls, name: str | None, count: float | None, default_name: str, default_count: int
    ) -> FunctionalUnit:
        """The user's unit (``--unit NAME --units N``) or the default (one per run/job)."""
        if count is None and name is None:
            return cls(default_name, float(default_count))
        label = (name or default_name).strip()
        if not label:
            raise ConfigError("--unit must name what the work produced, e.g. --unit token")
        if count is None:
            raise ConfigError(
                f"--unit {label} needs --units N: how many {label}s the work produced"
            )
        value = float(count)
        if not math.isfinite(value) or value <= 0:
            raise ConfigError(
                f"--units must be a finite number above 0, not {count!r}",
                hint="give how many units the work produced, e.g. --unit token --units 12000",
            )
        return cls(label, value, given=True)


def sci_g(total_co2e_g: float | None, unit: FunctionalUnit) -> float | None:
    """SCI in gCO₂e per unit; ``None`` when the CO₂e is unknown."""
    if total_co2e_g is None:
        return None
    return total_co2e_g / unit.count
