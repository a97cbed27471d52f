"""Units and conversions shared by every package.

Quantities travel as plain floats whose unit is in the name (``energy_j``,
``power_w``, ``intensity_g_per_kwh``, ``co2e_g``); times are UTC epoch seconds.
This module holds the conversions so no other module writes ``3.6e6`` itself.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, overload

from wattwise.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

# NumPy is imported inside the methods below: a fixed or static intensity must not
# pay for it at `wattwise measure`'s start-up.

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


_DURATION_PART = re.compile(r"(\d+\.?\d*(?:e[+-]?\d+)?|\.\d+(?:e[+-]?\d+)?)(d|h|min|m|s)")
_DURATION_UNIT_S = {"d": 86400.0, "h": 3600.0, "min": 60.0, "m": 60.0, "s": 1.0}


def parse_duration_s(
    value: object,
    what: str,
    *,
    bare_unit_s: float = 1.0,
    max_s: float | None = None,
    error: type[ConfigError] = ConfigError,
) -> float:
    """The one duration parser: ``"90s"``, ``"30m"``/``"30min"``, ``"6h"``, ``"1d"``,
    ``"1h30m"``, or a plain number (of ``bare_unit_s`` seconds: 1 for job specs,
    3600 where the option counts hours). Units: s.

    Raises ``error`` (a :class:`~wattwise.errors.ConfigError`; job specs pass their
    ``SpecError``) naming ``what`` (the field or option) for garbage, NaN, infinity, a
    negative value or one above ``max_s``. Dates in messages show as ISO 8601.
    """
    example = "use e.g. 90s, 30m, 6h, 1d or 1h30m"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise error(f"{what}: expected a duration like 30m or 6h, got {shown(value)}")
    if isinstance(value, str):
        text = value.strip().replace(" ", "").lower()
        try:
            seconds = float(text) * bare_unit_s
        except ValueError:
            parts = _DURATION_PART.findall(text)
            if not parts or "".join(n + u for n, u in parts) != text:
                raise error(f"{what}: {shown(value)} is not a duration ({example})") from None
            seconds = sum(float(n) * _DURATION_UNIT_S[u] for n, u in parts)
    else:
        seconds = float(value) * bare_unit_s
    if not math.isfinite(seconds) or seconds < 0:
        raise error(f"{what}: a duration must be a finite number >= 0, not {shown(value)}")
    if max_s is not None and seconds > max_s:
        raise error(f"{what}: {shown(value)} is longer than the {max_s:g} s allowed")
    return seconds


def latest_start_s(submitted_s: float, deadline_s: float | None, run_s: float) -> float:
    """The latest start that still meets ``deadline_s`` for a run of ``run_s``, never
    before ``submitted_s``; no deadline: at once. The one rule the spec (declared
    runtime) and the predictor (its upper bound) both plan by. Units: epoch s, s."""
    if deadline_s is None:
        return submitted_s
    return max(submitted_s, deadline_s - run_s)


def iso_utc(epoch_s: float) -> str:
    """An instant as users see it: ISO 8601 in UTC, ``2022-03-01T06:00:00Z``. Units: epoch s."""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch_s, tz=UTC).isoformat().replace("+00:00", "Z")


def shown(value: object) -> str:
    """``value`` for a message: its ``repr``, except dates and times (YAML and TOML read
    ``2024-01-01`` as one), which show as ISO 8601, never as ``datetime.date(...)``."""
    from datetime import date, time

    if isinstance(value, date | time):
        return value.isoformat()
    return repr(value)


@dataclass(frozen=True)
class TimeSeries:
    """Values sampled at instants: a step function of time.

    ``times_s`` are UTC epoch seconds (float64, strictly increasing); ``values`` share
    one unit, named in ``unit`` (for example ``"W"`` or ``"gCO2e/kWh"``). A value holds
    from its instant until the next one; ``step_s`` is the nominal resolution, used for
    the last step. Outside the samples the series is extended flat: before the first
    instant the first value holds, after the last one the last value holds. Those are
    the semantics of :meth:`at`, :meth:`integral` and :meth:`mean`, the one home of
    "value at t" and "mean over a window" (``wattwise.schedule.windows`` is their
    documented fast twin for hourly arrays, tested against them).
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

    @cached_property
    def _cumulative(self) -> npt.NDArray[np.float64]:
        """∫ from the first instant to each instant. Units: value · s."""
        import numpy as np

        times = np.asarray(self.times_s, dtype=np.float64)
        values = np.asarray(self.values, dtype=np.float64)
        out = np.zeros(len(times))
        np.cumsum(values[:-1] * np.diff(times), out=out[1:])
        return out

    def _index(self, t: npt.ArrayLike) -> npt.NDArray[np.int64]:
        import numpy as np

        if len(self.times_s) == 0:
            raise ValueError("an empty time series has no value at any time")
        i = np.searchsorted(self.times_s, t, side="right") - 1
        return np.clip(i, 0, len(self.times_s) - 1)

    @overload
    def at(self, t_s: float) -> float: ...
    @overload
    def at(self, t_s: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]: ...
    def at(self, t_s: float | npt.NDArray[np.float64]) -> float | npt.NDArray[np.float64]:
        """The value in force at ``t_s`` (scalar or array; epoch s): ``values[i]`` for
        ``times_s[i] <= t_s < times_s[i+1]``; the first value before the first instant,
        the last after the last. Units: the series'."""
        import numpy as np

        values = np.asarray(self.values, dtype=np.float64)
        out = values[self._index(t_s)]
        return float(out) if np.ndim(t_s) == 0 else out

    def _antiderivative(self, t: npt.ArrayLike) -> npt.NDArray[np.float64]:
        import numpy as np

        t = np.asarray(t, dtype=np.float64)
        i = self._index(t)
        values = np.asarray(self.values, dtype=np.float64)
        out: npt.NDArray[np.float64] = self._cumulative[i] + (t - self.times_s[i]) * values[i]
        return out

    @overload
    def integral(self, t0_s: float, t1_s: float) -> float: ...
    @overload
    def integral(
        self, t0_s: float | npt.NDArray[np.float64], t1_s: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]: ...
    @overload
    def integral(
        self, t0_s: npt.NDArray[np.float64], t1_s: float | npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]: ...
    def integral(
        self, t0_s: float | npt.NDArray[np.float64], t1_s: float | npt.NDArray[np.float64]
    ) -> float | npt.NDArray[np.float64]:
        """∫ of the step function from ``t0_s`` to ``t1_s`` (scalars or arrays that
        broadcast; negative when ``t1_s < t0_s``). Units: value · s (W -> J)."""
        import numpy as np

        out = self._antiderivative(t1_s) - self._antiderivative(t0_s)
        return float(out) if np.ndim(out) == 0 else out

    @overload
    def mean(self, t0_s: float, t1_s: float) -> float: ...
    @overload
    def mean(
        self, t0_s: float | npt.NDArray[np.float64], t1_s: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]: ...
    @overload
    def mean(
        self, t0_s: npt.NDArray[np.float64], t1_s: float | npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]: ...
    def mean(
        self, t0_s: float | npt.NDArray[np.float64], t1_s: float | npt.NDArray[np.float64]
    ) -> float | npt.NDArray[np.float64]:
        """Time-weighted mean over ``[t0_s, t1_s]``; the value at ``t0_s`` where the
        window is empty. Units: the series'."""
        import numpy as np

        t0 = np.asarray(t0_s, dtype=np.float64)
        t1 = np.asarray(t1_s, dtype=np.float64)
        width = t1 - t0
        safe = np.where(width > 0, width, 1.0)
        out = np.where(width > 0, self.integral(t0, t1) / safe, self.at(t0))
        return float(out) if np.ndim(out) == 0 else out

    def between(self, start_s: float, end_s: float) -> TimeSeries:
        """The samples whose steps overlap ``[start_s, end_s]`` (at least one), copied.
        Units: epoch s."""
        import numpy as np

        lo = max(int(np.searchsorted(self.times_s, start_s, side="right")) - 1, 0)
        hi = max(int(np.searchsorted(self.times_s, end_s, side="left")), lo + 1)
        return TimeSeries(
            times_s=self.times_s[lo:hi].copy(),
            values=self.values[lo:hi].copy(),
            unit=self.unit,
            step_s=self.step_s,
        )
