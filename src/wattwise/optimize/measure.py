"""The one seam between optimize and joules: a measure function.

``measure(fn)`` runs ``fn`` once and returns an :class:`EnergySample`. The default
comes from :mod:`wattwise.meter`; tests inject a fake. Optimize never turns work into
joules itself: the meter does.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wattwise.errors import HardwareUnavailableError


@dataclass(frozen=True)
class EnergySample:
    """One measured run.

    Units: ``energy_j`` in J, ``duration_s`` in s. ``source`` names where the joules
    came from (``rapl``, ``nvml``, ``estimate``...); ``estimated`` is True when no
    hardware counter was read.
    """

    energy_j: float
    duration_s: float
    estimated: bool
    source: str
    devices: tuple[str, ...] = field(default_factory=tuple)


MeasureFn = Callable[[Callable[[], Any]], EnergySample]


class MeterMeasure:
    """Measure with a :class:`wattwise.meter.Meter`, one named window per call."""

    def __init__(self, meter: Any | None = None) -> None:
        if meter is None:
            try:
                from wattwise.meter import Meter
            except ImportError as err:  # the meter package is not installed or broken
                raise HardwareUnavailableError(
                    f"wattwise.meter is unavailable ({err}); cannot measure energy"
                ) from err
            meter = Meter()
        self._meter = meter
        self._counter = itertools.count()

    def __call__(self, fn: Callable[[], Any]) -> EnergySample:
        name = f"optimize-{next(self._counter)}"
        self._meter.begin(name)
        try:
            fn()
        finally:
            m = self._meter.end(name)
        devices = tuple(getattr(d, "name", str(d)) for d in getattr(m, "devices", []) or [])
        sources = sorted(
            {str(getattr(d, "source", "")) for d in getattr(m, "devices", []) or []} - {""}
        )
        return EnergySample(
            energy_j=float(m.energy_j),
            duration_s=float(m.duration_s),
            estimated=bool(m.estimated),
            source="+".join(sources) or ("estimate" if m.estimated else "meter"),
            devices=devices,
        )

    def close(self) -> None:
        """Release the meter's devices."""
        close = getattr(self._meter, "close", None)
        if close is not None:
            close()
