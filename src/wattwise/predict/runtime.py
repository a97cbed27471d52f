"""The runtime a job is planned with: from history, declared, or a cold start.

:class:`RuntimeModel` answers in this order:

1. ``declared``: the spec names a ``runtime``. The user's word is the plan and its
   own upper bound (``runtime_upper_s == runtime_s``), as before prediction existed.
2. ``history``, same job: at least ``MIN_SAME_RUNS`` finished runs with the same
   features (:attr:`~wattwise.predict.records.JobFeatures.key`). Runtime is the
   median of the latest ``MAX_SAME_RUNS``; the upper bound covers the next run with
   probability ``coverage``: the order statistic of rank ⌈(n+1)·coverage⌉ where n
   allows it (distribution-free for exchangeable runs, the split-conformal rule),
   else a Student-t prediction interval on log runtime (log-normal runs; the spread
   floored at ``MIN_LOG_SD``, an assumption, so identical runs still get room).
3. ``history``, similar jobs: the quantile-regression :class:`Predictor`, once fitted
   (``MIN_HISTORY`` records) and the job's name is in it.
4. ``cold-start``: nothing known. ``COLD_RUNTIME_S`` with a ``COLD_UPPER`` x wider
   upper bound (assumptions: wide on purpose, so a long unknown job still meets its
   deadline), power from the spec (:func:`~wattwise.predict.model.cold_power_w`).

Units: s, W.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from wattwise.predict.model import COLD_RUNTIME_S, COLD_UPPER, Predictor, cold_power_w
from wattwise.predict.records import HistoryRecord, JobFeatures
from wattwise.units import latest_start_s

#: Runs of the same job needed before its own history is the plan.
MIN_SAME_RUNS = 3
#: Only the latest runs of a job count (its runtime may drift).
MAX_SAME_RUNS = 50
#: Smallest spread of log runtime assumed among runs of one job (about ±5 %).
MIN_LOG_SD = 0.05


class Source(StrEnum):
    """Where a planned runtime came from."""

    HISTORY = "history"
    COLD_START = "cold-start"
    DECLARED = "declared"


@dataclass(frozen=True)
class PredictedRuntime:
    """What a job is planned with. Units: s, W. ``runtime_upper_s`` covers the real
    runtime with probability ``coverage`` (for ``history``); ``n``: runs behind it."""

    runtime_s: float
    runtime_upper_s: float
    power_w: float
    source: Source
    n: int = 0
    coverage: float = 0.9

    def latest_start_s(self, submitted_s: float, deadline_s: float | None) -> float:
        """Latest start that still meets the deadline if the job runs as long as the
        upper bound; no deadline: at once. Units: epoch s."""
        return latest_start_s(submitted_s, deadline_s, self.runtime_upper_s)

    def to_dict(self) -> dict[str, Any]:
        return {
            "runtime_s": self.runtime_s,
            "runtime_upper_s": self.runtime_upper_s,
            "power_w": self.power_w,
            "source": str(self.source),
            "n": self.n,
            "coverage": self.coverage,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PredictedRuntime:
        return cls(
            runtime_s=float(data["runtime_s"]),
            runtime_upper_s=float(data["runtime_upper_s"]),
            power_w=float(data["power_w"]),
            source=Source(data["source"]),
            n=int(data.get("n", 0)),
            coverage=float(data.get("coverage", 0.9)),
        )


@dataclass(frozen=True)
class ActualRuntime:
    """How a finished job really went, beside what it was planned with. Units: s, W, %.

    ``power_w`` is ``None`` when the job was not metered."""

    runtime_s: float
    power_w: float | None
    runtime_abs_error_s: float | None = None
    runtime_error_pct: float | None = None
    within_upper: bool | None = None

    @classmethod
    def compare(
        cls, runtime_s: float, power_w: float | None, predicted: PredictedRuntime | None
    ) -> ActualRuntime:
        if predicted is None:
            return cls(runtime_s, power_w)
        err = abs(runtime_s - predicted.runtime_s)
        return cls(
            runtime_s=runtime_s,
            power_w=power_w,
            runtime_abs_error_s=err,
            runtime_error_pct=100.0 * err / runtime_s if runtime_s > 0 else None,
            within_upper=runtime_s <= predicted.runtime_upper_s,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "runtime_s": self.runtime_s,
            "power_w": self.power_w,
            "runtime_abs_error_s": self.runtime_abs_error_s,
            "runtime_error_pct": self.runtime_error_pct,
            "within_upper": self.within_upper,
        }


def cold_start(features: JobFeatures, coverage: float = 0.9) -> PredictedRuntime:
    """The plan for a job nothing is known about (or ``declared``, when it says)."""
    power = cold_power_w(features.cpus, features.gpus)
    if features.declared_duration_s is not None:
        d = features.declared_duration_s
        return PredictedRuntime(d, d, power, Source.DECLARED, 0, coverage)
    return PredictedRuntime(
        COLD_RUNTIME_S, COLD_UPPER * COLD_RUNTIME_S, power, Source.COLD_START, 0, coverage
    )


def same_job_upper_s(runtimes_s: np.ndarray, coverage: float) -> float:
    """Upper bound on the next run's runtime from ``runtimes_s`` of the same job
    (n >= 2). Units: s."""
    n = len(runtimes_s)
    rank = math.ceil((n + 1) * coverage)
    if rank <= n:
        return float(np.sort(runtimes_s)[rank - 1])
    from scipy.stats import t

    y = np.log(runtimes_s)
    sd = max(float(np.std(y, ddof=1)), MIN_LOG_SD)
    return float(np.exp(y.mean() + t.ppf(coverage, n - 1) * sd * math.sqrt(1 + 1 / n)))


class RuntimeModel:
    """History of finished runs (grown with :meth:`add`) and the plan for a job.

    :meth:`add` and :meth:`predict` are cheap (no fitting). The quantile regression
    is fitted apart (:meth:`fit_predictor`, slow) and attached with
    :meth:`use_predictor`, so a caller can fit it off its hot path.
    """

    def __init__(
        self, records: Iterable[HistoryRecord] = (), coverage: float = 0.9, max_records: int = 5000
    ) -> None:
        if not 0.5 <= coverage < 1.0:
            from wattwise.errors import ConfigError

            raise ConfigError(f"coverage must be in [0.5, 1), got {coverage}")
        self.coverage = coverage
        self.records: deque[HistoryRecord] = deque(maxlen=max_records)
        self._by_key: dict[tuple[str, str, int, int, int, str], deque[HistoryRecord]] = {}
        self.predictor: Predictor | None = None
        for r in records:
            self.add(r)

    def add(self, record: HistoryRecord) -> None:
        if not (record.duration_s > 0 and math.isfinite(record.duration_s)):
            return
        self.records.append(record)
        self._by_key.setdefault(record.key, deque(maxlen=MAX_SAME_RUNS)).append(record)

    def predictor_useful(self) -> bool:
        """Whether the quantile regression could add anything: some job name was run
        with more than one set of features (else each job is its own history)."""
        seen: dict[str, tuple[str, str, int, int, int, str]] = {}
        return any(seen.setdefault(key[0], key) != key for key in self._by_key)

    def fit_predictor(self, max_train: int = 2000) -> Predictor:
        """Fit the quantile regression (slow) on the latest ``max_train`` records, at
        most ``MAX_SAME_RUNS`` of each job: the cost grows with the variety of jobs,
        not with how often one ran."""
        kept = sorted((r for runs in self._by_key.values() for r in runs), key=lambda r: r.ended_s)
        return Predictor(coverage=self.coverage).fit(kept[-max_train:])

    def use_predictor(self, predictor: Predictor | None) -> None:
        self.predictor = predictor

    def predict(self, features: JobFeatures, *, use_declared: bool = True) -> PredictedRuntime:
        """The plan for one job (see the module's order). ``use_declared=False`` asks
        the model alone, as :func:`~wattwise.predict.evaluate.evaluate_history` does."""
        if use_declared and features.declared_duration_s is not None:
            planned = cold_start(features, self.coverage)
            power = _median_power(self._by_key.get(features.key, ()))
            return planned if power is None else _with_power(planned, power)
        same = list(self._by_key.get(features.key, ()))
        if len(same) >= MIN_SAME_RUNS:
            y = np.array([r.duration_s for r in same])
            power = _median_power(same)
            return PredictedRuntime(
                runtime_s=float(np.median(y)),
                runtime_upper_s=max(same_job_upper_s(y, self.coverage), float(np.median(y))),
                power_w=power if power is not None else cold_power_w(features.cpus, features.gpus),
                source=Source.HISTORY,
                n=len(same),
                coverage=self.coverage,
            )
        model = self.predictor
        if model is not None and model.fitted and features.name in model.name_codes:
            p = model.predict([_undeclared(features)])[0]
            if not p.cold_start:
                return PredictedRuntime(
                    p.duration_s,
                    p.duration_upper_s,
                    p.avg_power_w,
                    Source.HISTORY,
                    len(self.records),
                    self.coverage,
                )
        return cold_start(_undeclared(features), self.coverage)


def _undeclared(f: JobFeatures) -> JobFeatures:
    return JobFeatures(f.name, f.command, f.cpus, f.gpus, None, f.shards, f.node_type)


def _median_power(records: Iterable[HistoryRecord]) -> float | None:
    p = [r.avg_power_w for r in records if math.isfinite(r.avg_power_w)]
    return float(np.median(p)) if p else None


def _with_power(p: PredictedRuntime, power_w: float) -> PredictedRuntime:
    return PredictedRuntime(p.runtime_s, p.runtime_upper_s, power_w, p.source, p.n, p.coverage)
