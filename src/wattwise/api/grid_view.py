"""Carbon intensity around the clock's now, with the forecast a scheduler would have.

For a trace the forecast is :func:`wattwise.grid.walk_forward_forecasts` issued at
the current hour (it sees only the past); for other providers (static, fixed) the
provider's own values stand in for both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from wattwise.api.clock import Clock
from wattwise.api.models import GridOut, GridWindow
from wattwise.errors import WattwiseError
from wattwise.grid import IntensityProvider, walk_forward_forecasts
from wattwise.units import TimeSeries

HOUR_S = 3600.0


@dataclass
class GridView:
    """``trace`` (hourly) or ``provider`` gives the intensity; ``clock`` says when now is."""

    clock: Clock
    source: str
    trace: TimeSeries | None = None
    provider: IntensityProvider | None = None
    horizon_h: int = 24
    _forecasts: npt.NDArray[np.float64] | None = field(init=False, default=None)
    _provider_forecasts: dict[tuple[int, int], TimeSeries] = field(init=False, default_factory=dict)

    @classmethod
    def from_config(cls) -> GridView:
        """The user's grid (``config.toml``: ``carbon_file`` replayed by time of year, or
        ``zone``; default the world average) on the real clock."""
        from wattwise.grid import resolve_provider

        provider = resolve_provider()
        return cls(Clock(), provider.describe(), provider=provider)

    def __post_init__(self) -> None:
        if self.trace is not None:
            if self.trace.step_s != HOUR_S:
                raise WattwiseError("the dashboard's grid view needs an hourly trace")
            self._forecasts = walk_forward_forecasts(self.trace.values, self.horizon_h)

    def _index(self, t_s: float) -> int | None:
        tr = self.trace
        if tr is None or not tr.start_s <= t_s < tr.end_s:
            return None
        return int((t_s - tr.start_s) // HOUR_S)

    def intensity_at(self, t_s: float) -> float | None:
        """Actual intensity at ``t_s``. Units: gCO₂e/kWh."""
        if self.trace is not None:
            return None if self._index(t_s) is None else self.trace.at(t_s)
        if self.provider is not None:
            try:
                return self.provider.series(t_s, t_s + 1.0).at(t_s)
            except WattwiseError:
                return None
        return None

    def mean_intensity(self, start_s: float, end_s: float) -> float | None:
        """Time-weighted mean intensity over ``[start_s, end_s]``. Units: gCO₂e/kWh."""
        if end_s <= start_s:
            return self.intensity_at(start_s)
        if self.trace is not None:
            if start_s < self.trace.start_s or end_s > self.trace.end_s:
                return None
            return self.trace.mean(start_s, end_s)
        if self.provider is None:
            return None
        try:
            return self.provider.series(start_s, end_s).mean(start_s, end_s)
        except WattwiseError:
            return None

    def as_provider(self) -> IntensityProvider | None:
        """The actual intensity as a provider (its own, or one over its trace)."""
        if self.provider is not None or self.trace is None:
            return self.provider
        from wattwise.grid.provider import TraceProvider

        return TraceProvider(self.trace, self.source)

    def forecast_from(self, t_s: float) -> tuple[list[float], list[float]]:
        """Forecast issued at the hour containing ``t_s``: (hour starts, values)."""
        i = self._index(t_s)
        if i is None or self._forecasts is None or self.trace is None:
            return [], []
        row = self._forecasts[i]
        t0 = float(self.trace.times_s[i])
        times, values = [], []
        for h, v in enumerate(row):
            if math.isfinite(float(v)):
                times.append(t0 + h * HOUR_S)
                values.append(float(v))
        return times, values

    def snapshot(
        self, windows: list[GridWindow], back_h: float = 12.0, ahead_h: float = 24.0
    ) -> GridOut:
        now = self.clock.now_s()
        out = GridOut(
            available=False, source=self.source, now_s=now, speed=self.clock.speed, windows=windows
        )
        if self.trace is not None:
            i = self._index(now)
            if i is None:
                out.source += " (the clock is outside the trace)"
                return out
            lo = max(0, i - int(back_h))
            hi = i + 1  # actual values only up to now; the future is the forecast
            out.times_s = [float(x) for x in self.trace.times_s[lo:hi]]
            out.values = [float(x) for x in self.trace.values[lo:hi]]
            times, values = self.forecast_from(now)
            keep = [k for k, t in enumerate(times) if t < now + ahead_h * HOUR_S]
            out.forecast_times_s = [times[k] for k in keep]
            out.forecast_values = [values[k] for k in keep]
        elif self.provider is not None:
            from wattwise.grid.provider import forecast_series

            try:
                past = self.provider.series(now - back_h * HOUR_S, now)
                key = (int(now // HOUR_S), int(ahead_h))
                if key not in self._provider_forecasts:  # one forecast per hour is enough
                    self._provider_forecasts = {key: forecast_series(self.provider, now, key[1])[0]}
                ahead = self._provider_forecasts[key]
            except WattwiseError as err:
                out.source += f" ({err})"
                return out
            out.source = self.provider.describe()  # a chain names the link that served
            out.times_s = [float(x) for x in past.times_s]
            out.values = [float(x) for x in past.values]
            out.forecast_times_s = [float(x) for x in ahead.times_s]
            out.forecast_values = [float(x) for x in ahead.values]
        else:
            return out
        out.available = True
        out.intensity_now = self.intensity_at(now)
        return out
