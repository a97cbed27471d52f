"""Units and conversions shared by every package.

Quantities travel as plain floats whose unit is in the name (``energy_j``,
``power_w``, ``intensity_g_per_kwh``, ``co2e_g``); times are UTC epoch seconds.
This module holds the conversions so no other module writes ``3.6e6`` itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

JOULES_PER_KWH = 3.6e6
JOULES_PER_WH = 3600.0
SECONDS_PER_HOUR = 3600.0
MICRO = 1e-6
MILLI = 1e-3


def joules_to_kwh(energy_j: float) -> float:
    """Units: J -> kWh."""
    return energy_j / JOULES_PER_KWH


def kwh_to_joules(energy_kwh: float) -> float:
    """Units: kWh -> J."""
    return energy_kwh * JOULES_PER_KWH


def co2e_grams(energy_j: float, intensity_g_per_kwh: float) -> float:
    """Carbon of ``energy_j`` joules at ``intensity_g_per_kwh``. Units: gCO₂e."""
    return joules_to_kwh(energy_j) * intensity_g_per_kwh


def lbs_per_mwh_to_g_per_kwh(value: float) -> float:
    """Units: lbs/MWh (WattTime MOER) -> gCO₂/kWh. 1 lb = 453.59237 g (exact, NIST)."""
    return value * 453.59237 / 1000.0


@dataclass(frozen=True)
class TimeSeries:
    """Values sampled at instants.

    ``times_s`` are UTC epoch seconds (float64, strictly increasing); ``values`` share
    one unit, named in ``unit`` (for example ``"W"`` or ``"gCO2e/kWh"``). A value holds
    from its instant until the next one (step function); ``step_s`` is the nominal
    resolution, used for the last step.
    """

    times_s: npt.NDArray[np.float64]
    values: npt.NDArray[np.float64]
    unit: str
    step_s: float

    def __post_init__(self) -> None:
        if len(self.times_s) != len(self.values):
            raise ValueError("times_s and values must have the same length")

    def __len__(self) -> int:
        return len(self.times_s)

    @property
    def start_s(self) -> float:
        return float(self.times_s[0])

    @property
    def end_s(self) -> float:
        """Instant the last step ends. Units: epoch s."""
        return float(self.times_s[-1]) + self.step_s
