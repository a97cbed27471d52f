"""The history the predictor learns from: the store's finished engine jobs.

A job that succeeded has its features in its spec and its targets in the store: the
runtime is the span of its successful task attempts (first start to last end, so a
sharded job's runtime is the wall time its deadline cares about) plus the segments
it ran before the head suspended it and its average
power the job's metered energy over that span. Both are written back on the job
(``actual``) beside what it was planned with (``predicted``). Units: s, W.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from wattwise.predict.records import HistoryRecord, features_of
from wattwise.predict.runtime import ActualRuntime, PredictedRuntime, RuntimeModel

if TYPE_CHECKING:
    from wattwise.store.jobs import JobOutcome, JobStore


def actual_of(job: JobOutcome) -> ActualRuntime | None:
    """How long a succeeded job ran and at what average power, beside its prediction.

    ``None`` for a job that did not succeed or whose tasks have no times."""
    if job.status != "succeeded" or job.first_start_s is None or job.last_end_s is None:
        return None
    # Work done in segments the head suspended (for cleaner hours) counts; the pause not.
    runtime_s = job.last_end_s - job.first_start_s + job.suspended_s
    if not runtime_s > 0:
        return None
    power_w = job.energy_j / runtime_s if job.energy_j is not None else None
    predicted = PredictedRuntime.from_dict(job.predicted) if job.predicted else None
    return ActualRuntime.compare(runtime_s, power_w, predicted)


def record_of(job: JobOutcome, actual: dict[str, Any] | None = None) -> HistoryRecord | None:
    """The history record of a succeeded job with an actual runtime (``actual``, else
    the one stored)."""
    actual = actual if actual is not None else (job.actual or {})
    runtime_s = actual.get("runtime_s")
    if not isinstance(runtime_s, int | float) or not runtime_s > 0:
        return None
    power_w = actual.get("power_w")
    f = features_of(job.spec)
    return HistoryRecord(
        name=f.name,
        command=f.command,
        cpus=f.cpus,
        gpus=f.gpus,
        duration_s=float(runtime_s),
        avg_power_w=float(power_w) if isinstance(power_w, int | float) else math.nan,
        shards=f.shards,
        node_type=f.node_type,
        ended_s=job.ended_s or 0.0,
    )


def job_history(
    store: JobStore, limit: int = 5000, names: Sequence[str] | None = None
) -> list[HistoryRecord]:
    """The latest ``limit`` succeeded jobs with an actual runtime (named one of
    ``names``, if given), oldest first."""
    out = [record_of(j) for j in reversed(store.with_actuals(limit, names))]
    return [r for r in out if r is not None]


@dataclass(frozen=True)
class RunningError:
    """How the engine's predictions did on the jobs it ran (their ``actual`` blocks),
    for one prediction ``source`` (``all``: every one). Units: s, %; ``coverage``:
    share that ended within ``runtime_upper_s``."""

    source: str
    n: int
    runtime_mae_s: float
    runtime_mape_pct: float | None
    coverage: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def running_error(store: JobStore, limit: int = 5000) -> list[RunningError]:
    """The running error of the latest ``limit`` succeeded jobs that had a prediction:
    over all of them, then per source (a cold start's error says little of history's).
    Empty when no such job ran."""
    rows: list[tuple[str, float, float | None, bool]] = []
    for job in store.with_actuals(limit):
        actual, predicted = job.actual or {}, job.predicted or {}
        if actual.get("runtime_abs_error_s") is None or "source" not in predicted:
            continue
        pct = actual.get("runtime_error_pct")
        rows.append(
            (
                str(predicted["source"]),
                float(actual["runtime_abs_error_s"]),
                float(pct) if pct is not None else None,
                bool(actual.get("within_upper")),
            )
        )
    out = []
    for source in ["all", *sorted({r[0] for r in rows})] if rows else []:
        mine = [r for r in rows if source in ("all", r[0])]
        pcts = [r[2] for r in mine if r[2] is not None]
        out.append(
            RunningError(
                source=source,
                n=len(mine),
                runtime_mae_s=sum(r[1] for r in mine) / len(mine),
                runtime_mape_pct=sum(pcts) / len(pcts) if pcts else None,
                coverage=sum(r[3] for r in mine) / len(mine),
            )
        )
    return out


def model_from_store(store: JobStore, coverage: float = 0.9, limit: int = 5000) -> RuntimeModel:
    """The model the head would plan with now: the store's history, quantile
    regression fitted when there is enough of it (slow: seconds)."""
    from wattwise.predict.model import MIN_HISTORY

    model = RuntimeModel(job_history(store, limit), coverage, limit)
    if len(model.records) >= MIN_HISTORY:
        model.use_predictor(model.fit_predictor())
    return model
