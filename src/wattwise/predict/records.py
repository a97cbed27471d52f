"""What the predictor learns from: one record per finished run."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wattwise.store import RunStore

_FLAG_VALUE = re.compile(r"^--?([A-Za-z][\w-]*)(?:=(.+))?$")


@dataclass(frozen=True)
class HistoryRecord:
    """A finished run. Units: s, W. ``command`` is the command line as one string."""

    name: str
    command: str
    cpus: int
    gpus: int
    duration_s: float
    avg_power_w: float


@dataclass(frozen=True)
class JobFeatures:
    """A job to predict. ``declared_duration_s``: the user's own estimate, if any."""

    name: str
    command: str = ""
    cpus: int = 1
    gpus: int = 0
    declared_duration_s: float | None = None


def numeric_flags(command: str) -> dict[str, float]:
    """Numeric ``--flag value`` / ``--flag=value`` pairs of a command line
    (``--batch-size 64`` -> ``{"batch-size": 64.0}``): the knobs runtime depends on."""
    out: dict[str, float] = {}
    tokens = command.split()
    for i, tok in enumerate(tokens):
        m = _FLAG_VALUE.match(tok)
        if not m:
            continue
        raw = m.group(2)
        if raw is None and i + 1 < len(tokens):
            raw = tokens[i + 1]
        try:
            out[m.group(1).lower()] = float(raw) if raw is not None else 1.0
        except ValueError:
            continue
    return out


def from_store(store: RunStore, limit: int = 100_000) -> list[HistoryRecord]:
    """Completed runs of ``store`` with a duration and an average power, as records.

    GPU count comes from the run's ``meta["gpus"]`` when the engine recorded it.
    """
    out: list[HistoryRecord] = []
    for run in store.list_runs(limit=limit, status="completed"):
        if not run.duration_s or run.avg_power_w is None or run.duration_s <= 0:
            continue
        gpus = run.meta.get("gpus", 0) if isinstance(run.meta, dict) else 0
        out.append(
            HistoryRecord(
                name=run.name,
                command=" ".join(run.command or []),
                cpus=max(round(run.cpus or 1), 1),
                gpus=int(gpus) if isinstance(gpus, int | float) else 0,
                duration_s=float(run.duration_s),
                avg_power_w=float(run.avg_power_w),
            )
        )
    return out
