"""Read carbon-intensity trace files into a :class:`~wattwise.units.TimeSeries`.

Two formats are read directly:

* the Electricity Maps data-portal CSV (``Datetime (UTC), ..., Carbon Intensity
  gCO₂eq/kWh (direct), Carbon Intensity gCO₂eq/kWh (LCA), ...``);
* a plain two-column ``time,value`` CSV. ``time`` is ISO 8601 (with a UTC offset, or
  naive and then read in ``tz``, UTC by default) or epoch seconds. The value header
  may name its unit in brackets, e.g. ``value (lbs/MWh)``; it is converted to
  gCO₂e/kWh. No unit means gCO₂e/kWh.

Any resolution works (5-minute, 15-minute, hourly ...). Gaps, duplicates, rows out of
order, missing or negative values are reported with the file and line number; nothing
is interpolated or guessed over.
"""

from __future__ import annotations

import csv
import math
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from wattwise.errors import ConfigError, DataFormatError
from wattwise.units import TimeSeries, lbs_per_mwh_to_g_per_kwh

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


def _validate_times(times: list[float], lines: list[int], path: Path) -> float:
    """Check strict order and a regular step; return the step. Units: s."""
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
    step = Counter(diffs.tolist()).most_common(1)[0][0]
    irregular = np.flatnonzero(diffs != step)
    if irregular.size:
        k = int(irregular[0])
        d = float(diffs[k])
        what = "gap" if d > step else "irregular step"
        raise DataFormatError(
            path,
            f"{what}: {d:g} s after the row before, expected {step:g} s",
            line=lines[k + 1],
            hint="fill or remove the missing period explicitly; wattwise does not interpolate",
        )
    return float(step)


def load_intensity(
    path: str | Path, *, emission: Emission = "lca", tz: str | None = None
) -> TimeSeries:
    """Read a carbon-intensity trace. Units: values gCO₂e/kWh, times UTC epoch s.

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
    step_s = _validate_times(times, lines, p)
    return TimeSeries(
        times_s=np.asarray(times, dtype=np.float64),
        values=np.asarray(values, dtype=np.float64),
        unit=INTENSITY_UNIT,
        step_s=step_s,
    )
