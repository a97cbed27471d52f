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
    from wattwise.store.jobs import JobRecord, JobStore, TaskRecord


def actual_of(job: JobRecord, tasks: Sequence[TaskRecord]) -> ActualRuntime | None:
    """How long a succeeded job ran and at what average power, beside its prediction.

    ``None`` for a job that did not succeed or whose tasks have no times."""
    if job.status != "succeeded":
        return None
    ok = [t for t in tasks if t.status == "succeeded" and t.ended_s is not None]
    starts = [t.started_s for t in ok if t.started_s is not None]
    if not ok or not starts:
        return None
    runtime_s = max(t.ended_s for t in ok if t.ended_s is not None) - min(starts)
    # Work done in segments the head suspended (for cleaner hours) counts; the pause not.
    runtime_s += sum(
        t.ended_s - t.started_s
        for t in tasks
        if t.status == "suspended" and t.started_s is not None and t.ended_s is not None
    )
    if not runtime_s > 0:
        return None
    power_w = job.energy_j / runtime_s if job.energy_j is not None else None
    predicted = PredictedRuntime.from_dict(job.predicted) if job.predicted else None
    return ActualRuntime.compare(runtime_s, power_w, predicted)


def record_of(job: JobRecord) -> HistoryRecord | None:
    """The history record of a succeeded job with an actual runtime."""
    actual = job.actual or {}
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
    """How the engine's predictions did on the jobs it ran (their ``actual`` blocks).
    Units: s, %; ``coverage``: share that ended within ``runtime_upper_s``;
    ``by_source``: jobs per prediction source."""

    n: int
    runtime_mae_s: float | None
    runtime_mape_pct: float | None
    coverage: float | None
    by_source: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def running_error(store: JobStore, limit: int = 5000) -> RunningError:
    """The running error of the latest ``limit`` succeeded jobs that had a prediction."""
    errs, pcts, within = [], [], []
    by_source: dict[str, int] = {}
    for job in store.with_actuals(limit):
        actual, predicted = job.actual or {}, job.predicted or {}
        if actual.get("runtime_abs_error_s") is None or "source" not in predicted:
            continue
        by_source[predicted["source"]] = by_source.get(predicted["source"], 0) + 1
        errs.append(float(actual["runtime_abs_error_s"]))
        if actual.get("runtime_error_pct") is not None:
            pcts.append(float(actual["runtime_error_pct"]))
        within.append(bool(actual.get("within_upper")))
    return RunningError(
        n=len(errs),
        runtime_mae_s=sum(errs) / len(errs) if errs else None,
        runtime_mape_pct=sum(pcts) / len(pcts) if pcts else None,
        coverage=sum(within) / len(within) if within else None,
        by_source=by_source,
    )


def model_from_store(store: JobStore, coverage: float = 0.9, limit: int = 5000) -> RuntimeModel:
    """The model the head would plan with now: the store's history, quantile
    regression fitted when there is enough of it (slow: seconds)."""
    from wattwise.predict.model import MIN_HISTORY

    model = RuntimeModel(job_history(store, limit), coverage, limit)
    if len(model.records) >= MIN_HISTORY:
        model.use_predictor(model.fit_predictor())
    return model
