"""Read carbon-intensity trace files into a :class:`~wattwise.units.TimeSeries`.

Two formats are read directly:

* the Electricity Maps data-portal CSV (``Datetime (UTC), ..., Carbon Intensity
  gCO₂eq/kWh (direct), Carbon Intensity gCO₂eq/kWh (LCA), ...``);
* a plain two-column ``time,value`` CSV. ``time`` is ISO 8601 (with a UTC offset, or
  naive and then read in ``tz``, UTC by default) or epoch seconds. The value header
  may name its unit in brackets, e.g. ``value (lbs/MWh)``; it is converted to
  gCO₂e/kWh. No unit means gCO₂e/kWh.

Any resolution works (5-minute, 15-minute, hourly ...). Duplicates, rows out of
order, missing or negative values are reported with the file and line number. So is
a gap (missing rows), unless the caller asks for it to be filled (:class:`GapFill`:
``linear`` between the rows either side or ``previous``, the last value held) and it
is no longer than ``max_gap_s``; :func:`load_intensity_filled` says which rows were
filled, so that a filled value is never shown as recorded.
"""

from __future__ import annotations

import csv
import math
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt

from wattwise.errors import ConfigError, DataFormatError
from wattwise.units import TimeSeries, iso_utc, lbs_per_mwh_to_g_per_kwh

INTENSITY_UNIT = "gCO2e/kWh"

Emission = Literal["lca", "direct"]

_EM_TIME_COLUMN = "datetime (utc)"
_EM_COLUMNS: dict[str, str] = {
    "lca": "Carbon Intensity gCO₂eq/kWh (LCA)",
    "direct": "Carbon Intensity gCO₂eq/kWh (direct)",
}
# Header suffixes naming each column, lower-cased: older portal files say "(LCA)",
# newer ones "(Life cycle)"; the capitalisation of "Intensity" varies too.
_EM_SUFFIXES: dict[str, tuple[str, ...]] = {
    "lca": ("(lca)", "(life cycle)", "(lifecycle)"),
    "direct": ("(direct)",),
}


def _portal_column(lowered: list[str], emission: str) -> int | None:
    for k, name in enumerate(lowered):
        if name.startswith("carbon intensity") and name.endswith(_EM_SUFFIXES[emission]):
            return k
    return None


# Multipliers from a unit named in the value header to gCO₂e/kWh. Keys are the unit
# lower-cased with spaces, "₂", "eq", "e" suffixes on CO2 removed (see _normalise_unit).
_UNIT_FACTORS: dict[str, float] = {
    "g/kwh": 1.0,
    "gco2/kwh": 1.0,
    "kg/kwh": 1000.0,
    "kgco2/kwh": 1000.0,
    "kg/mwh": 1.0,
    "kgco2/mwh": 1.0,
    "t/mwh": 1000.0,
    "tco2/mwh": 1000.0,
    "lbs/mwh": lbs_per_mwh_to_g_per_kwh(1.0),
    "lb/mwh": lbs_per_mwh_to_g_per_kwh(1.0),
    "lbsco2/mwh": lbs_per_mwh_to_g_per_kwh(1.0),
    "lbco2/mwh": lbs_per_mwh_to_g_per_kwh(1.0),
}


def _normalise_unit(unit: str) -> str:
    u = unit.strip().lower().replace(" ", "").replace("₂", "2")
    u = u.replace("co2eq", "co2").replace("co2e", "co2")
    return u


def _unit_factor(header: str, path: Path) -> float:
    """gCO₂e/kWh per unit named in ``header`` (``value (lbs/MWh)``); 1 if none named."""
    match = re.search(r"[\(\[]([^\)\]]+)[\)\]]", header)
    if match is None:
        return 1.0
    unit = _normalise_unit(match.group(1))
    if unit not in _UNIT_FACTORS:
        known = ", ".join(sorted(_UNIT_FACTORS))
        raise DataFormatError(
            path,
            f"unknown intensity unit {match.group(1)!r} in header {header!r}",
            line=1,
            hint=f"use one of: {known}",
        )
    return _UNIT_FACTORS[unit]


def _zone(tz: str | None) -> ZoneInfo | None:
    if tz is None:
        return None
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ConfigError(
            f"unknown time zone {tz!r}", hint="use an IANA name such as Europe/Berlin"
        ) from err


class _TimeParser:
    """Parses one row's time to UTC epoch seconds; resolves DST folds in local files."""

    def __init__(self, path: Path, naive_zone: ZoneInfo | None) -> None:
        self.path = path
        self.zone = naive_zone
        self.prev_s: float | None = None

    def __call__(self, text: str, line: int) -> float:
        raw = text.strip()
        if not raw:
            raise DataFormatError(self.path, "empty time", line=line)
        try:
            value = float(raw)
        except ValueError:
            pass
        else:
            if not math.isfinite(value):
                raise DataFormatError(self.path, f"bad time {raw!r}", line=line)
            self.prev_s = value
            return value
        try:
            stamp = datetime.fromisoformat(raw)
        except ValueError as err:
            raise DataFormatError(
                self.path, f"bad time {raw!r}", line=line, hint="use ISO 8601 or epoch seconds"
            ) from err
        seconds = stamp.timestamp() if stamp.tzinfo else self._naive(stamp, raw, line)
        self.prev_s = seconds
        return seconds

    def _naive(self, stamp: datetime, raw: str, line: int) -> float:
        if self.zone is None:
            return stamp.replace(tzinfo=UTC).timestamp()
        first = stamp.replace(tzinfo=self.zone, fold=0)
        second = stamp.replace(tzinfo=self.zone, fold=1)
        s0, s1 = first.timestamp(), second.timestamp()
        # A local time that does not exist (spring forward) round-trips to another wall time.
        back = datetime.fromtimestamp(s0, tz=self.zone).replace(tzinfo=None)
        if back != stamp:
            raise DataFormatError(
                self.path, f"local time {raw!r} does not exist in {self.zone.key} (DST)", line=line
            )
        # Ambiguous (fall back): the second occurrence in a file in time order is fold=1.
        if s0 != s1 and self.prev_s is not None and s0 <= self.prev_s < s1:
            return s1
        return s0


def _parse_value(text: str, factor: float, path: Path, line: int) -> float:
    raw = text.strip()
    if not raw:
        raise DataFormatError(path, "missing intensity value", line=line)
    try:
        value = float(raw)
    except ValueError as err:
        raise DataFormatError(path, f"intensity {raw!r} is not a number", line=line) from err
    if not math.isfinite(value) or value < 0:
        raise DataFormatError(path, f"intensity {raw!r} must be a finite value >= 0", line=line)
    return value * factor


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class Fill(StrEnum):
    """What to put in missing rows: nothing (an error), a straight line between the
    rows either side, or the last recorded value held."""

    NONE = "none"
    LINEAR = "linear"
    PREVIOUS = "previous"


@dataclass(frozen=True)
class GapFill:
    """How gaps in a trace are treated: ``method``, and the longest missing period it
    may fill (a gap of one missing hourly row is 3600 s). Units: s."""

    method: Fill = Fill.NONE
    max_gap_s: float = 3600.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.max_gap_s) and self.max_gap_s > 0):
            raise ConfigError(f"the longest gap to fill must be > 0 s, not {self.max_gap_s!r}")


@dataclass(frozen=True)
class FilledGap:
    """Rows a :class:`GapFill` put in: ``rows`` missing after ``after_s`` (the last
    recorded instant, epoch s), before file line ``line``."""

    after_s: float
    rows: int
    line: int


@dataclass(frozen=True)
class FilledTrace:
    """A trace and the gaps filled in it (none unless asked)."""

    series: TimeSeries
    filled: tuple[FilledGap, ...] = ()
    method: Fill = Fill.NONE

    def note(self) -> str:
        """One line for reports; empty when nothing was filled."""
        if not self.filled:
            return ""
        rows = sum(g.rows for g in self.filled)
        first = iso_utc(self.filled[0].after_s + self.series.step_s)
        return (
            f"{rows} missing row(s) in {len(self.filled)} gap(s) filled ({self.method},"
            f" first at {first}): estimates, not recorded values"
        )


def _step(times: list[float], lines: list[int], path: Path) -> float:
    """Check strict order; return the regular step (the commonest). Units: s."""
    if len(times) == 1:
        return 3600.0  # one sample: assume hourly, the common portal resolution
    diffs = np.diff(np.asarray(times))
    for k, d in enumerate(diffs):
        if d == 0:
            raise DataFormatError(
                path, "duplicate time (same instant as the row before)", line=lines[k + 1]
            )
        if d < 0:
            raise DataFormatError(
                path, "time goes backwards (rows must be in time order)", line=lines[k + 1]
            )
    return float(Counter(diffs.tolist()).most_common(1)[0][0])


def _fill_gaps(
    times: list[float], values: list[float], lines: list[int], path: Path, fill: GapFill
) -> tuple[TimeSeries, tuple[FilledGap, ...]]:
    """The series on its regular step, gaps filled as ``fill`` allows; anything else
    irregular is a :class:`DataFormatError` naming the line."""
    step = _step(times, lines, path)
    t = np.asarray(times, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    diffs = np.diff(t)
    gaps: list[FilledGap] = []
    at: list[int] = []  # index of the row before each gap
    for k in np.flatnonzero(diffs != step).tolist():
        d = float(diffs[k])
        missing = d / step - 1.0
        whole = d > step and abs(missing - round(missing)) < 1e-9
        where = f"{d:g} s after the row before, expected {step:g} s"
        if not whole:
            raise DataFormatError(
                path,
                f"irregular step: {where}",
                line=lines[k + 1],
                hint="rows must fall on one regular step; fix the times in the file",
            )
        if fill.method is Fill.NONE:
            raise DataFormatError(
                path,
                f"gap: {where} ({round(missing)} missing row(s))",
                line=lines[k + 1],
                hint="fill it with --fill linear or --fill previous (up to --max-gap),"
                " or fix the file",
            )
        if d - step > fill.max_gap_s + 1e-9:
            raise DataFormatError(
                path,
                f"gap of {d - step:g} s missing ({where}), longer than the"
                f" {fill.max_gap_s:g} s allowed to fill",
                line=lines[k + 1],
                hint="a longer --max-gap fills it; a long gap is better fixed in the file",
            )
        gaps.append(FilledGap(after_s=float(t[k]), rows=round(missing), line=lines[k + 1]))
        at.append(k)
    if not gaps:
        return TimeSeries(t, v, INTENSITY_UNIT, step), ()
    out_t: list[npt.NDArray[np.float64]] = []
    out_v: list[npt.NDArray[np.float64]] = []
    start = 0
    for k, gap in zip(at, gaps, strict=True):
        out_t.append(t[start : k + 1])
        out_v.append(v[start : k + 1])
        frac = np.arange(1, gap.rows + 1, dtype=np.float64) / (gap.rows + 1)
        out_t.append(t[k] + step * np.arange(1, gap.rows + 1, dtype=np.float64))
        if fill.method is Fill.LINEAR:
            out_v.append(v[k] + (v[k + 1] - v[k]) * frac)
        else:
            out_v.append(np.full(gap.rows, v[k]))
        start = k + 1
    out_t.append(t[start:])
    out_v.append(v[start:])
    series = TimeSeries(np.concatenate(out_t), np.concatenate(out_v), INTENSITY_UNIT, step)
    return series, tuple(gaps)


def load_intensity(
    path: str | Path,
    *,
    emission: Emission = "lca",
    tz: str | None = None,
    fill: GapFill | None = None,
) -> TimeSeries:
    """Read a carbon-intensity trace. Units: values gCO₂e/kWh, times UTC epoch s.
    See :func:`load_intensity_filled` (this is its series)."""
    return load_intensity_filled(path, emission=emission, tz=tz, fill=fill).series


def load_intensity_filled(
    path: str | Path,
    *,
    emission: Emission = "lca",
    tz: str | None = None,
    fill: GapFill | None = None,
) -> FilledTrace:
    """Read a carbon-intensity trace and the gaps ``fill`` filled in it (default: none
    filled, a gap is an error). Units: values gCO₂e/kWh, times UTC epoch s.

    ``emission`` picks the Electricity Maps column: ``"lca"`` (life-cycle, default) or
    ``"direct"`` (combustion only). ``tz`` is the zone of naive times in a plain CSV
    (default UTC); ambiguous local times at the autumn DST change are resolved by file
    order, non-existent ones are an error. Raises :class:`DataFormatError` naming the
    file and line for anything malformed.
    """
    if emission not in _EM_COLUMNS:
        raise ConfigError(f"emission must be 'lca' or 'direct', not {emission!r}")
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError as err:
        raise DataFormatError(p, "file not found") from err
    except UnicodeDecodeError:
        raise DataFormatError(p, "not UTF-8 text", hint="save the trace as UTF-8 CSV") from None
    except OSError as err:
        raise DataFormatError(p, f"cannot read: {err.strerror or err}") from err
    rows = [
        (n, r)
        for n, r in enumerate(csv.reader(text.splitlines()), start=1)
        if any(c.strip() for c in r)
    ]
    if not rows:
        raise DataFormatError(
            p, "empty file", hint="expected an Electricity Maps CSV or time,value rows"
        )

    header_line, header = rows[0]
    lowered = [h.strip().lower() for h in header]
    if _EM_TIME_COLUMN in lowered:
        found = _portal_column(lowered, emission)
        if found is None:
            column = _EM_COLUMNS[emission]
            raise DataFormatError(p, f"missing column {column!r}", line=header_line)
        time_idx, value_idx = lowered.index(_EM_TIME_COLUMN), found
        factor = 1.0
        data = rows[1:]
        parse_time = _TimeParser(p, None)  # the column is UTC by definition
    else:
        if len(header) < 2:
            raise DataFormatError(p, "expected at least two columns: time,value", line=header_line)
        time_idx, value_idx = 0, 1
        if _looks_numeric(header[1].strip()):
            factor, data = 1.0, rows
        else:
            factor, data = _unit_factor(header[1], p), rows[1:]
        parse_time = _TimeParser(p, _zone(tz))
    if not data:
        raise DataFormatError(p, "no data rows after the header", line=header_line)

    times: list[float] = []
    values: list[float] = []
    lines: list[int] = []
    width = max(time_idx, value_idx) + 1
    for line, row in data:
        if len(row) < width:
            raise DataFormatError(
                p, f"expected at least {width} columns, found {len(row)}", line=line
            )
        times.append(parse_time(row[time_idx], line))
        values.append(_parse_value(row[value_idx], factor, p, line))
        lines.append(line)
    how = fill if fill is not None else GapFill()
    series, gaps = _fill_gaps(times, values, lines, p, how)
    return FilledTrace(series=series, filled=gaps, method=how.method)
