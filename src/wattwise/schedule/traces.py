"""Read job traces in the ``arrival_time,length,cpus`` CSV format (GAIA, ASPLOS'24).

Times are hours from the trace start unless ``time_unit="s"`` (the GAIA ``pai_1k``
slice is in seconds). Optional extra columns: ``gpus``, ``interruptible`` (0/1,
true/false), ``priority``. Every malformed row raises :class:`DataFormatError` with
the file and line; so does a value past :data:`TRACE_LIMITS`. The file is UTF-8 (a
byte-order mark is allowed).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from wattwise.config import Limit
from wattwise.errors import ConfigError, DataFormatError
from wattwise.schedule.model import JobBatch

REQUIRED_COLUMNS = ("arrival_time", "length", "cpus")
_TIME_UNITS = {"h": 1.0, "s": 1.0 / 3600.0, "min": 1.0 / 60.0}
_TRUE = {"1", "true", "yes", "y"}
_FALSE = {"0", "false", "no", "n", ""}

#: What one row may hold (the ``Limit`` rule the settings use). Past these a value is a
#: typo or garbage: a count overflows int64, a length of 1e9 h would size the
#: simulation's hourly arrays past any memory. Times in h after ``time_unit``.
TRACE_LIMITS: dict[str, Limit] = {
    "arrival_time": Limit(0.0, 10 * 8784.0, "h"),  # ten (leap) years
    "length": Limit(0.0, 8784.0, "h", above=True),  # one leap year
    "cpus": Limit(1, 1_000_000, "cores"),
    "gpus": Limit(0, 1_000_000, "GPUs"),
    "priority": Limit(0, 1_000_000, "levels"),
}


def read_job_trace(path: str | Path, time_unit: str = "h", slack_h: float = 24.0) -> JobBatch:
    """Jobs of ``path`` sorted by arrival, with deadline = arrival + slack + length.

    Units: ``slack_h`` in h (how long a job may wait beyond its arrival).
    """
    if time_unit not in _TIME_UNITS:
        raise ConfigError(f"time unit must be one of {sorted(_TIME_UNITS)}, got {time_unit!r}")
    if slack_h < 0:
        raise ConfigError(f"slack must be >= 0 h, got {slack_h}")
    scale = _TIME_UNITS[time_unit]
    p = Path(path)
    try:
        handle = p.open(newline="", encoding="utf-8-sig")
    except OSError as err:
        raise DataFormatError(p, f"cannot read job trace: {err.strerror}") from err
    arrival: list[float] = []
    length: list[float] = []
    cpus: list[int] = []
    gpus: list[int] = []
    inter: list[bool] = []
    prio: list[int] = []
    lines: list[int] = []
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            raise DataFormatError(
                p, "empty file; expected header arrival_time,length,cpus", 1
            ) from None
        except UnicodeDecodeError as err:
            raise _not_utf8(p, err) from None
        except csv.Error as err:
            raise DataFormatError(p, f"not a CSV file ({err})", 1) from err
        cols = [h.strip().lower() for h in header]
        missing = [c for c in REQUIRED_COLUMNS if c not in cols]
        if missing:
            raise DataFormatError(
                p, f"missing column(s) {missing}; expected header arrival_time,length,cpus", 1
            )
        ia, il, ic = (cols.index(c) for c in REQUIRED_COLUMNS)
        ig = cols.index("gpus") if "gpus" in cols else None
        ii = cols.index("interruptible") if "interruptible" in cols else None
        ip = cols.index("priority") if "priority" in cols else None
        try:
            for row in reader:
                line = reader.line_num
                if not row or all(not c.strip() for c in row):
                    continue
                if len(row) != len(cols):
                    raise DataFormatError(p, f"expected {len(cols)} fields, found {len(row)}", line)
                arrival.append(_time_h(p, line, "arrival_time", row[ia], scale))
                length.append(_time_h(p, line, "length", row[il], scale))
                cpus.append(_count(p, line, "cpus", row[ic]))
                gpus.append(0 if ig is None else _count(p, line, "gpus", row[ig]))
                inter.append(False if ii is None else _flag(p, line, row[ii]))
                prio.append(0 if ip is None else _count(p, line, "priority", row[ip]))
                lines.append(line)
        except UnicodeDecodeError as err:
            raise _not_utf8(p, err) from None
        except csv.Error as err:
            raise DataFormatError(p, f"not a CSV file ({err})", reader.line_num) from err
    if not arrival:
        raise DataFormatError(p, "no jobs in trace", 2)
    arr = np.asarray(arrival, dtype=np.float64)
    order = np.argsort(arr, kind="stable")
    len_h = np.asarray(length, dtype=np.float64)[order]
    arr = arr[order]
    return JobBatch(
        job_id=np.arange(len(arr), dtype=np.int64),
        arrival_h=arr,
        length_h=len_h,
        cpus=np.asarray(cpus, dtype=np.int64)[order],
        gpus=np.asarray(gpus, dtype=np.int64)[order],
        deadline_h=arr + slack_h + len_h,
        length_upper_h=len_h.copy(),
        interruptible=np.asarray(inter, dtype=np.bool_)[order],
        priority=np.asarray(prio, dtype=np.int64)[order],
        line=np.asarray(lines, dtype=np.int64)[order],
    )


def _number(path: Path, line: int, column: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DataFormatError(path, f"{column} is not a number: {text!r}", line) from None
    if not np.isfinite(value):
        raise DataFormatError(path, f"{column} is not finite: {text!r}", line)
    return value


def _not_utf8(path: Path, err: UnicodeDecodeError) -> DataFormatError:
    byte = err.object[err.start : err.start + 1].hex()
    return DataFormatError(
        path, f"not UTF-8 text (byte 0x{byte} in the file)", hint="save it as UTF-8 CSV"
    )


def _time_h(path: Path, line: int, column: str, text: str, scale: float) -> float:
    """A time of the row in h, held to :data:`TRACE_LIMITS`."""
    value_h = _number(path, line, column, text) * scale
    problem = TRACE_LIMITS[column].problem(value_h)
    if problem:
        as_h = "" if scale == 1.0 else f" ({value_h:g} h)"
        hint = "is the trace in seconds? read it with --time-unit s" if scale == 1.0 else None
        raise DataFormatError(path, f"{column} {problem}, got {text!r}{as_h}", line, hint)
    return value_h


def _count(path: Path, line: int, column: str, text: str) -> int:
    value = _number(path, line, column, text)
    problem = TRACE_LIMITS[column].problem(value)
    if problem:
        raise DataFormatError(path, f"{column} {problem}, got {text!r}", line)
    if value != int(value):
        raise DataFormatError(path, f"{column} must be a whole number, got {text!r}", line)
    return int(value)


def _flag(path: Path, line: int, text: str) -> bool:
    t = text.strip().lower()
    if t in _TRUE:
        return True
    if t in _FALSE:
        return False
    raise DataFormatError(path, f"interruptible must be 0/1 or true/false, got {text!r}", line)
