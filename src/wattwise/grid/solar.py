"""On-site PV output for a site, as a power series the scheduler treats as zero-carbon.

:func:`pv_power` models clear-sky output with pvlib (Ineichen clear sky with the
Linke turbidity climatology shipped with pvlib, isotropic transposition onto the
panel plane, SAPM cell temperature, PVWatts DC model) and optionally scales it by a
measured normalised profile (fraction of peak, such as
``../shared/data/solar/solar_example.csv`` via :func:`load_solar_profile`).

Scaling keeps the site's sun geometry from pvlib and takes the weather from the
profile: each 24 h block from ``start_s`` is multiplied by that block's *clearness*,
measured profile energy / clear-sky energy, so a cloudy day in the profile is a
cloudy day at the site. The profile should come from the same site or a similar
climate. A profile given in relative seconds (starting near 0) is laid onto
``start_s``; one shorter than the period is repeated, and the label says so.

pvlib and pandas are imported on use, so importing :mod:`wattwise.grid` stays light.
"""

from __future__ import annotations

import csv
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from wattwise.errors import ConfigError, DataFormatError
from wattwise.units import TimeSeries, iso_utc

POWER_UNIT = "W"
FRACTION_UNIT = "fraction of peak"
DAY_S = 86400.0
# Assumptions where no site data is given; each named so a caller can override.
DEFAULT_AIR_TEMP_C = 20.0
DEFAULT_WIND_M_S = 1.0
# PVWatts v5 defaults (NREL/TP-6A20-62641): -0.47 %/°C for standard modules, 14 %
# system losses (soiling, shading, wiring, mismatch, ...), 96 % nominal inverter.
DEFAULT_GAMMA_PER_C = -0.0047
DEFAULT_LOSSES = 0.14
DEFAULT_INVERTER_EFF = 0.96
_RELATIVE_BEFORE_S = 1e8  # profile times below this are offsets, not epoch (1973)


@dataclass(frozen=True)
class PVSite:
    """A PV installation. Units: degrees, kWp (DC nameplate), m.

    ``azimuth_deg`` is the direction the panels face, clockwise from north (180 =
    south); ``tilt_deg`` is from horizontal.
    """

    latitude_deg: float
    longitude_deg: float
    kwp: float
    tilt_deg: float = 30.0
    azimuth_deg: float = 180.0
    altitude_m: float = 0.0
    losses: float = DEFAULT_LOSSES
    air_temp_c: float = DEFAULT_AIR_TEMP_C
    wind_m_s: float = DEFAULT_WIND_M_S

    def __post_init__(self) -> None:
        if not -90.0 <= self.latitude_deg <= 90.0:
            raise ConfigError(f"latitude must be in [-90, 90] degrees, not {self.latitude_deg}")
        if not -180.0 <= self.longitude_deg <= 180.0:
            raise ConfigError(f"longitude must be in [-180, 180] degrees, not {self.longitude_deg}")
        if not (math.isfinite(self.kwp) and self.kwp > 0):
            raise ConfigError(f"kWp must be > 0, not {self.kwp}")
        if not 0.0 <= self.tilt_deg <= 90.0:
            raise ConfigError(f"tilt must be in [0, 90] degrees, not {self.tilt_deg}")
        if not 0.0 <= self.azimuth_deg <= 360.0:
            raise ConfigError(f"azimuth must be in [0, 360] degrees, not {self.azimuth_deg}")
        if not 0.0 <= self.losses < 1.0:
            raise ConfigError(f"losses must be a fraction in [0, 1), not {self.losses}")


def _grid(start_s: float, end_s: float, step_s: float) -> npt.NDArray[np.float64]:
    if not (math.isfinite(step_s) and step_s > 0):
        raise ConfigError(f"step must be > 0 s, not {step_s}")
    if not (math.isfinite(start_s) and math.isfinite(end_s)):
        raise ConfigError("bad period: its start and end must be finite times")
    if end_s <= start_s:
        raise ConfigError(
            f"bad period {iso_utc(start_s)} to {iso_utc(end_s)}: end must be after start"
        )
    n = math.ceil((end_s - start_s) / step_s - 1e-9)
    return start_s + step_s * np.arange(n, dtype=np.float64)


def clear_sky_power_w(
    site: PVSite, times_s: npt.NDArray[np.float64], step_s: float
) -> npt.NDArray[np.float64]:
    """AC power under clear sky, averaged over each step. Units: W.

    Each step is sampled at 5-minute (or finer) sub-steps so hourly values hold the
    hour's mean rather than one instant.
    """
    import pandas as pd
    from pvlib import irradiance, location, pvsystem, temperature

    with warnings.catch_warnings():
        # pvlib 0.16 calls DatetimeIndex.dayofyear, deprecated in pandas 3; harmless here.
        warnings.filterwarnings("ignore", message=".*dayofyear is deprecated.*")
        modules = (pd, irradiance, location, pvsystem, temperature)
        return _clear_sky_power_w(site, times_s, step_s, *modules)


def _clear_sky_power_w(
    site: PVSite,
    times_s: npt.NDArray[np.float64],
    step_s: float,
    pd: Any,
    irradiance: Any,
    location: Any,
    pvsystem: Any,
    temperature: Any,
) -> npt.NDArray[np.float64]:
    sub = max(1, math.ceil(step_s / 300.0))
    offsets = (np.arange(sub) + 0.5) * (step_s / sub)
    instants = (times_s[:, None] + offsets[None, :]).ravel()
    index = pd.DatetimeIndex(pd.to_datetime(instants, unit="s", utc=True))
    loc = location.Location(site.latitude_deg, site.longitude_deg, altitude=site.altitude_m)
    sun = loc.get_solarposition(index)
    sky = loc.get_clearsky(index, model="ineichen", solar_position=sun)
    poa = irradiance.get_total_irradiance(
        surface_tilt=site.tilt_deg,
        surface_azimuth=site.azimuth_deg,
        solar_zenith=sun["apparent_zenith"],
        solar_azimuth=sun["azimuth"],
        dni=sky["dni"],
        ghi=sky["ghi"],
        dhi=sky["dhi"],
    )["poa_global"].fillna(0.0)
    params = temperature.TEMPERATURE_MODEL_PARAMETERS["sapm"]["open_rack_glass_glass"]
    cell_c = temperature.sapm_cell(poa, site.air_temp_c, site.wind_m_s, **params)
    dc = pvsystem.pvwatts_dc(poa, cell_c, site.kwp * 1000.0, DEFAULT_GAMMA_PER_C)
    ac = np.asarray(dc, dtype=np.float64) * (1.0 - site.losses) * DEFAULT_INVERTER_EFF
    ac = np.clip(np.nan_to_num(ac, nan=0.0), 0.0, site.kwp * 1000.0)
    return np.asarray(ac.reshape(len(times_s), sub).mean(axis=1), dtype=np.float64)


def _profile_on(
    profile: TimeSeries, times_s: npt.NDArray[np.float64], step_s: float, start_s: float
) -> npt.NDArray[np.float64]:
    """The profile's mean over each output step, the profile repeated end to end.

    Uses the running integral of the step function, extended periodically, so steps
    that straddle the profile's end are averaged exactly. Units: those of the profile.
    """
    relative = profile.start_s < _RELATIVE_BEFORE_S
    offset = start_s - profile.start_s if relative else 0.0
    t = np.append(profile.times_s, profile.end_s)
    area = np.concatenate([[0.0], np.cumsum(profile.values * np.diff(t))])
    span = profile.end_s - profile.start_s
    edges = np.append(times_s, times_s[-1] + step_s) - offset - profile.start_s
    turns = np.floor(edges / span)
    cum = turns * area[-1] + np.interp(edges - turns * span, t - profile.start_s, area)
    return np.asarray(np.diff(cum) / step_s, dtype=np.float64)


def _profile_repeated(profile: TimeSeries, start_s: float, end_s: float) -> bool:
    relative = profile.start_s < _RELATIVE_BEFORE_S
    if relative:
        return end_s - start_s > profile.end_s - profile.start_s
    return not (profile.start_s <= start_s and end_s <= profile.end_s)


def pv_power(
    site: PVSite,
    start_s: float,
    end_s: float,
    step_s: float = 3600.0,
    *,
    profile: TimeSeries | None = None,
) -> TimeSeries:
    """On-site PV output over ``[start_s, end_s)`` at ``step_s``. Units: W, UTC epoch s.

    Without ``profile``: clear-sky output. With a measured ``profile`` (fraction of
    peak, see module doc): clear-sky output × each day's measured clearness, capped
    at the nameplate.
    """
    times = _grid(start_s, end_s, step_s)
    clear = clear_sky_power_w(site, times, step_s)
    if profile is None:
        return TimeSeries(times_s=times, values=clear, unit=POWER_UNIT, step_s=step_s)
    if len(profile) == 0:
        raise ConfigError("the solar profile is empty")
    measured = _profile_on(profile, times, step_s, start_s)
    peak_w = site.kwp * 1000.0
    day = np.floor((times - start_s) / DAY_S).astype(np.int64)
    clear_sum = np.bincount(day, weights=clear / peak_w)
    measured_sum = np.bincount(day, weights=measured)
    clearness = np.divide(
        measured_sum, clear_sum, out=np.zeros_like(measured_sum), where=clear_sum > 1e-9
    )
    values = np.minimum(clear * clearness[day], peak_w)
    return TimeSeries(times_s=times, values=values, unit=POWER_UNIT, step_s=step_s)


def describe_profile_use(profile: TimeSeries, start_s: float, end_s: float) -> str:
    """A label saying how a profile maps onto ``[start_s, end_s)``."""
    span_d = (profile.end_s - profile.start_s) / DAY_S
    label = f"clear sky (pvlib) scaled by a measured profile of {span_d:.1f} days"
    if profile.start_s < _RELATIVE_BEFORE_S:
        label += ", laid onto the start time"
    if _profile_repeated(profile, start_s, end_s):
        label += ", repeated to cover the period"
    return label


def load_solar_profile(path: str | Path, column: str) -> TimeSeries:
    """Read one column of a normalised PV profile CSV (``time`` in s, fractions 0..1).

    Units: fraction of peak. Raises :class:`DataFormatError` (file, line) on a missing
    column, a bad number, a value outside [0, 1.5] or irregular time steps.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise DataFormatError(p, "not UTF-8 text", hint="save the profile as UTF-8 CSV") from None
    except OSError as err:
        raise DataFormatError(p, f"cannot read: {err}") from err
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if not header:
        raise DataFormatError(p, "empty file")
    names = [h.strip() for h in header]
    if "time" not in names:
        raise DataFormatError(p, "missing column 'time'", line=1)
    if column not in names:
        raise DataFormatError(
            p, f"no column {column!r}", line=1, hint=f"columns: {', '.join(names[1:])}"
        )
    ti, vi = names.index("time"), names.index(column)
    times: list[float] = []
    values: list[float] = []
    for line, row in enumerate(reader, start=2):
        if not any(c.strip() for c in row):
            continue
        try:
            t, v = float(row[ti]), float(row[vi])
        except (ValueError, IndexError) as err:
            raise DataFormatError(p, f"bad row {row!r}", line=line) from err
        if not (math.isfinite(v) and 0.0 <= v <= 1.5):
            raise DataFormatError(p, f"value {v} is not a fraction of peak in [0, 1.5]", line=line)
        if times and t <= times[-1]:
            raise DataFormatError(p, "time not increasing", line=line)
        times.append(t)
        values.append(v)
    if len(times) < 2:
        raise DataFormatError(p, "need at least two rows of data")
    diffs = np.diff(times)
    step = float(np.median(diffs))
    bad = np.flatnonzero(np.abs(diffs - step) > 1e-6 * step)
    if bad.size:
        raise DataFormatError(p, f"irregular step: expected {step:g} s", line=int(bad[0]) + 3)
    return TimeSeries(
        times_s=np.asarray(times), values=np.asarray(values), unit=FRACTION_UNIT, step_s=step
    )
