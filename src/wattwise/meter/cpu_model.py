"""Which CPU this is and what its TDP is, for the energy estimate.

Reads ``/proc/cpuinfo`` once (a file read, microseconds; no one-second probe) and
looks the model up in the shipped table ``wattwise/data/cpu_tdp.csv``, whose rows
name their source. Unknown models fall back to the median power per thread of
the table, labelled as such.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path


@dataclass(frozen=True)
class CpuPower:
    """Power figure for one CPU model. ``watts_per_thread`` = TDP / hardware threads. Units: W."""

    model: str
    tdp_w: float
    threads: int
    source: str

    @property
    def watts_per_thread(self) -> float:
        return self.tdp_w / self.threads


def cpu_model_name(cpuinfo: Path | None = None) -> str:
    """The ``model name`` line of /proc/cpuinfo (``"unknown"`` if absent)."""
    root = Path(os.environ.get("WATTWISE_SYSFS_ROOT", "/"))
    path = cpuinfo or root / "proc" / "cpuinfo"
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


@lru_cache(maxsize=1)
def _table() -> list[tuple[re.Pattern[str], float, int, str]]:
    text = resources.files("wattwise").joinpath("data/cpu_tdp.csv").read_text(encoding="utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    return [
        (re.compile(r["pattern"], re.IGNORECASE), float(r["tdp_w"]), int(r["threads"]), r["source"])
        for r in rows
    ]


def lookup_cpu_power(model: str) -> CpuPower:
    """TDP figure for ``model``; the table's median W/thread when the model is unknown."""
    for pattern, tdp_w, threads, source in _table():
        if pattern.search(model):
            return CpuPower(model, tdp_w, threads, source)
    import statistics  # only for a model the table lacks

    per_thread = statistics.median(tdp / threads for _, tdp, threads, _ in _table())
    return CpuPower(
        model,
        per_thread,
        1,
        "median W/thread of wattwise's CPU table (model not in table; set cpu_tdp_w to correct)",
    )
