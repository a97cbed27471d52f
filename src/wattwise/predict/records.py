"""What the predictor learns from: one record per finished run, and a job's features.

Features come from the job spec as the store holds it (``JobSpec.to_dict()``): the
command (or the entry point and its arguments), the name, CPUs, GPUs, the number of
shards and the node type. Targets: runtime (s) and average power (W).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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
    #: ``math.nan`` where the run was not metered (the runtime still counts).
    avg_power_w: float
    shards: int = 1
    node_type: str | None = None
    #: When the run ended (epoch s; 0: unknown): orders history for held-out tests.
    ended_s: float = 0.0

    @property
    def key(self) -> tuple[str, str, int, int, int, str]:
        """Runs with the same key are the same job run again."""
        return (self.name, self.command, self.cpus, self.gpus, self.shards, self.node_type or "")


@dataclass(frozen=True)
class JobFeatures:
    """A job to predict. ``declared_duration_s``: the user's own estimate, if any."""

    name: str
    command: str = ""
    cpus: int = 1
    gpus: int = 0
    declared_duration_s: float | None = None
    shards: int = 1
    node_type: str | None = None

    @property
    def key(self) -> tuple[str, str, int, int, int, str]:
        return (self.name, self.command, self.cpus, self.gpus, self.shards, self.node_type or "")


def features_of(spec: Mapping[str, Any]) -> JobFeatures:
    """The features of a stored job spec (``JobSpec.to_dict()``).

    An entry-point job's "command" is its entry and JSON arguments, so two calls of
    the same function with other arguments are different jobs. CPUs round up to
    whole cores (a 0.5-CPU job is a 1-core job to the model).
    """
    command = spec.get("command") or []
    if command:
        text = " ".join(str(c) for c in command)
    else:
        text = f"{spec.get('entry') or ''} {json.dumps(list(spec.get('args') or []))}"
    runtime = spec.get("runtime_s")
    node_type = spec.get("node_type")
    return JobFeatures(
        name=str(spec.get("name") or "job"),
        command=text.strip(),
        cpus=max(1, math.ceil(float(spec.get("cpus") or 1.0) - 1e-9)),
        gpus=int(spec.get("gpus") or 0),
        declared_duration_s=float(runtime) if runtime else None,
        shards=max(1, len(spec.get("shards") or ())),
        node_type=str(node_type) if node_type else None,
    )


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
