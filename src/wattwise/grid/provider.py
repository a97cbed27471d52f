"""Carbon-intensity providers behind one interface, and the resolution rule.

``IntensityProvider.series(start_s, end_s)`` returns intensity covering
``[start_s, end_s]``; ``describe()`` says where the numbers come from. The measure
CLI integrates a run's energy against it; the scheduler reads whole traces.

:func:`resolve_provider` is the one resolution of what the user asked for into a
provider, used by every command, the API and the engine. Precedence: a fixed value >
a trace file > a provider chain (``providers``, given or in the config file; see
:mod:`wattwise.grid.chain`) for the zone asked for > a zone > the config file's
``carbon_file`` (replayed by time of year) > its ``zone`` > ``WORLD``. A zone string is
read in one place, :func:`zone_provider`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast, runtime_checkable

from wattwise.errors import ConfigError, CoverageError
from wattwise.grid.static import WORLD, StaticIntensity, static_intensity
from wattwise.units import TimeSeries, iso_utc

if TYPE_CHECKING:
    from wattwise.grid.trace import Emission, GapFill

# NumPy and the trace reader load on first use (inside the functions below), so a
# fixed or static provider costs no NumPy import: `wattwise measure` starts faster.


@runtime_checkable
class IntensityProvider(Protocol):
    """Where carbon intensity comes from."""

    def describe(self) -> str:
        """Human label including the source, e.g. ``"static DE 381 gCO2e/kWh (2023, Ember...)"``."""
        ...

    def series(self, start_s: float, end_s: float) -> TimeSeries:
        """Intensity covering ``[start_s, end_s]``. Units: gCO₂e/kWh, UTC epoch s.

        Raises :class:`CoverageError` when the provider cannot cover the period.
        """
        ...


def _check_range(start_s: float, end_s: float) -> None:
    if not (math.isfinite(start_s) and math.isfinite(end_s)):
        raise ConfigError("bad period: its start and end must be finite times")
    if end_s < start_s:
        raise ConfigError(
            f"bad period {iso_utc(start_s)} to {iso_utc(end_s)}: end must not precede start"
        )


def _constant(value: float, start_s: float, end_s: float) -> TimeSeries:
    import numpy as np

    from wattwise.grid.trace import INTENSITY_UNIT

    step = max(end_s - start_s, 1.0)
    return TimeSeries(
        times_s=np.array([start_s], dtype=np.float64),
        values=np.array([value], dtype=np.float64),
        unit=INTENSITY_UNIT,
        step_s=step,
    )


def _fmt_time(seconds: float) -> str:
    return iso_utc(seconds)


@dataclass(frozen=True)
class FixedProvider:
    """One constant intensity given by the user. Units: gCO₂e/kWh."""

    g_per_kwh: float

    def describe(self) -> str:
        return f"fixed {self.g_per_kwh:g} gCO2e/kWh (given by the user)"

    def series(self, start_s: float, end_s: float) -> TimeSeries:
        _check_range(start_s, end_s)
        return _constant(self.g_per_kwh, start_s, end_s)


@dataclass(frozen=True)
class StaticProvider:
    """A zone's annual average from the shipped table (constant over time)."""

    entry: StaticIntensity
    note: str = ""

    def describe(self) -> str:
        label = (
            f"static annual average {self.entry.zone} {self.entry.g_per_kwh:g} gCO2e/kWh "
            f"({self.entry.year}; {self.entry.source})"
        )
        return f"{label}; {self.note}" if self.note else label

    def series(self, start_s: float, end_s: float) -> TimeSeries:
        _check_range(start_s, end_s)
        return _constant(self.entry.g_per_kwh, start_s, end_s)


@dataclass(frozen=True)
class TraceProvider:
    """Intensity read from a trace file; ``replay`` maps other years onto the trace's.

    With ``replay`` an instant outside the trace takes the trace's value at the same
    UTC month, day and hour (29 February falls back to 28 February), so a 2023 trace
    gives carbon for a run today. The label says so.
    """

    trace: TimeSeries
    path: str
    replay: bool = False
    emission: Emission = "lca"
    note: str = ""  # how the file was read, e.g. which gaps were filled
    _year: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        year = datetime.fromtimestamp(self.trace.start_s, tz=UTC).year
        object.__setattr__(self, "_year", year)

    def describe(self) -> str:
        span = f"{_fmt_time(self.trace.start_s)} to {_fmt_time(self.trace.end_s)}"
        label = f"trace {self.path} ({self.emission}, {span}, step {self.trace.step_s:g} s)"
        if self.replay:
            label += f"; periods outside it replayed by time of year from {self._year}"
        return f"{label}; {self.note}" if self.note else label

    def covers(self, start_s: float, end_s: float) -> bool:
        return self.trace.start_s <= start_s and end_s <= self.trace.end_s

    def series(self, start_s: float, end_s: float) -> TimeSeries:
        _check_range(start_s, end_s)
        tr = self.trace
        if self.covers(start_s, end_s):
            return tr.between(start_s, end_s)
        if not self.replay:
            raise CoverageError(
                f"{self.path} covers {_fmt_time(tr.start_s)} to {_fmt_time(tr.end_s)}, "
                f"not {_fmt_time(start_s)} to {_fmt_time(end_s)}",
                hint="pass replay=True (--replay) to reuse it by time of year, or a longer trace",
            )
        return self._replayed(start_s, end_s)

    def _replayed(self, start_s: float, end_s: float) -> TimeSeries:
        import numpy as np

        tr = self.trace
        step = tr.step_s
        first = math.floor(start_s / step) * step
        n = max(1, math.ceil((end_s - first) / step))
        times = first + step * np.arange(n, dtype=np.float64)
        mapped = np.array([self.replay_instant(float(t)) for t in times], dtype=np.float64)
        idx = np.floor((mapped - tr.start_s) / step).astype(np.int64)
        bad = np.flatnonzero((idx < 0) | (idx >= len(tr)))
        if bad.size:
            raise CoverageError(
                f"{self.path} has no value for the time of year of "
                f"{_fmt_time(float(times[bad[0]]))}",
                hint="replay needs a trace covering the same months; use a full-year trace",
            )
        return TimeSeries(times_s=times, values=tr.values[idx].copy(), unit=tr.unit, step_s=step)

    def replay_instant(self, t: float) -> float:
        """The instant in the trace's year with ``t``'s UTC month, day and hour."""
        if self.trace.start_s <= t < self.trace.end_s:
            return t
        stamp = datetime.fromtimestamp(t, tz=UTC)
        day = 28 if (stamp.month == 2 and stamp.day == 29) else stamp.day
        return stamp.replace(year=self._year, day=day).timestamp()


EMISSIONS = ("lca", "direct")


def zone_provider(zone: str) -> IntensityProvider:
    """The provider for a zone string: a cloud region (``aws:eu-central-1``, see
    :mod:`wattwise.grid.regions`), a live spec ``PROVIDER:ZONE``
    (``electricitymaps:DE``, ``watttime:CAISO_NORTH``, ``ukci:GB``; see
    :mod:`wattwise.grid.live`, falling back to cache or the static average) or a
    static-table zone (``DE``, ``US-CAL-CISO``). Raises ``ConfigError`` for an unknown
    zone, with the hint to list them."""
    from wattwise.grid.regions import cloud_provider

    # A cloud region (aws:eu-central-1, electricitymaps:gcp:europe-west4) is its grid zone.
    if (region_provider := cloud_provider(zone)) is not None:
        return region_provider
    if ":" in zone:
        from wattwise.grid.live import live_provider

        return live_provider(zone)
    return StaticProvider(static_intensity(zone))


def resolve_provider(
    zone: str | None = None,
    carbon_file: str | Path | None = None,
    fixed_g_per_kwh: float | None = None,
    replay: bool = False,
    *,
    emission: str = "lca",
    use_config: bool = True,
    providers: Sequence[str] | None = None,
    fill: GapFill | None = None,
) -> IntensityProvider:
    """Pick the provider the user asked for: fixed > file > chain > zone > config > ``WORLD``.

    ``zone`` (static zone, cloud region or live spec) is read by :func:`zone_provider`.
    ``providers`` (else, with ``use_config``, the config's ``providers``) makes a
    :class:`~wattwise.grid.chain.ProviderChain` for ``zone`` (else the config's
    ``zone``), unless ``zone`` names one live provider itself (``electricitymaps:DE``).
    With nothing given (and ``use_config``), ``config.toml`` decides: its
    ``carbon_file`` replayed by time of year (it stands for the user's grid at any
    date; the label says so), else its ``zone``. ``emission`` is the portal column
    (``lca`` or ``direct``). ``fill``: how gaps in a trace file are filled
    (:class:`~wattwise.grid.trace.GapFill`; default none, a gap is an error).
    """
    from wattwise.grid.chain import chain_provider, is_plain_zone

    if emission not in EMISSIONS:
        raise ConfigError(f"emission must be lca or direct, not {emission!r}")
    column = cast("Emission", emission)
    if fixed_g_per_kwh is not None:
        if not math.isfinite(fixed_g_per_kwh) or fixed_g_per_kwh < 0:
            raise ConfigError(
                f"fixed carbon intensity must be >= 0 gCO2e/kWh, not {fixed_g_per_kwh}"
            )
        return FixedProvider(float(fixed_g_per_kwh))
    chainable = carbon_file is None and (not zone or is_plain_zone(zone))
    config = None
    trace_zone = None
    if chainable and use_config and (providers is None or not zone):
        from wattwise.config import load_config

        config = load_config()
        if providers is None and config.providers:
            providers, trace_zone = config.providers, config.zone
        zone = zone or (config.zone if providers else None)
    if chainable and providers:
        return chain_provider(providers, zone, emission=emission, trace_zone=trace_zone)
    if carbon_file is None and not zone and config is not None:
        if config.carbon_file:
            carbon_file, replay = config.carbon_file, True
        else:
            zone = config.zone
    if carbon_file is not None:
        from wattwise.grid.trace import load_intensity_filled  # NumPy: only a trace needs it

        read = load_intensity_filled(carbon_file, emission=column, fill=fill)
        return TraceProvider(
            trace=read.series,
            path=str(carbon_file),
            replay=replay,
            emission=column,
            note=read.note(),
        )
    if zone:
        return zone_provider(zone)
    return StaticProvider(static_intensity(WORLD), note="no zone given, world average used")


def forecast_series(
    provider: IntensityProvider, issue_s: float, horizon_h: int = 24
) -> tuple[TimeSeries, str]:
    """Intensity ahead of ``issue_s`` for ``horizon_h`` hours, and how it was made.

    A trace is forecast by :func:`~wattwise.grid.forecast.walk_forward_forecasts`
    from its own past before ``issue_s`` (with ``replay``, from the same time of year
    in the trace); any other provider answers for the period itself (a live
    provider's own forecast, or a constant). Units: gCO₂e/kWh, epoch s.
    """
    import numpy as np

    from wattwise.grid.forecast import walk_forward_forecasts

    if not isinstance(horizon_h, int) or horizon_h < 1:
        raise ConfigError(f"horizon must be a positive whole number of hours, not {horizon_h!r}")
    from wattwise.grid.chain import ProviderChain

    if isinstance(provider, ProviderChain):
        return provider.forecast(issue_s, horizon_h)
    if not isinstance(provider, TraceProvider):
        return provider.series(issue_s, issue_s + horizon_h * 3600.0), "provider"
    trace = provider.trace
    if trace.step_s != 3600.0:
        raise ConfigError(
            f"the forecaster needs hourly data; {provider.path} has {trace.step_s:g} s steps"
        )
    mapped = issue_s
    if provider.replay and not trace.start_s < issue_s <= trace.end_s:
        mapped = provider.replay_instant(issue_s)
    i = math.ceil((mapped - trace.start_s) / 3600.0 - 1e-9)
    if i < 1 or i > len(trace):
        raise CoverageError(
            f"{provider.path} covers {_fmt_time(trace.start_s)} to {_fmt_time(trace.end_s)}; "
            f"a forecast issued {_fmt_time(issue_s)} needs the trace's past",
            hint="issue it inside the trace, or pass replay=True (--replay)",
        )
    past = trace.values[: i + 1]
    if i == len(trace):  # issued in the trace's last hour: row i exists once a value
        past = np.append(past, past[-1])  # stands at i (row i reads only values[:i])
    row = walk_forward_forecasts(past, horizon_h)[i]
    first = trace.start_s + 3600.0 * i + (issue_s - mapped)
    times = first + 3600.0 * np.arange(horizon_h, dtype=np.float64)
    series = TimeSeries(times_s=times, values=row.copy(), unit=trace.unit, step_s=3600.0)
    return series, "wattwise walk-forward forecaster (ridge on daily/weekly lags, past only)"
