"""Runtime and average power of a job from the history of similar runs.

Quantile regression with scikit-learn's HistGradientBoostingRegressor on the job name
and node type (categorical), CPUs, GPUs, shards and the numeric flags of its command
line. Runtime is
learnt in log space (errors are multiplicative); the median is the prediction and an
upper quantile is conformally calibrated on held-out history (split-conformal
quantile regression, Romano et al., NeurIPS'19) so that it covers the true runtime
``coverage`` of the time: that upper bound is what deadline safety uses
(``wattwise.schedule.latest_safe_start``).

Cold start (no or too little history): the user's declared runtime if any, else the
median of all history, else ``COLD_RUNTIME_S``; power from the spec
(:func:`cold_power_w`). The upper bound is then ``COLD_UPPER`` x the median: an
assumption, labelled ``cold_start=True`` in the prediction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from wattwise.errors import ConfigError
from wattwise.predict.records import HistoryRecord, JobFeatures, numeric_flags

FloatArray = npt.NDArray[np.float64]

#: Per busy core: AMD EPYC 7543, 225 W TDP over 32 cores (AMD product page). Units: W.
COLD_W_PER_CPU = 225.0 / 32.0
#: Per GPU: 300 W board power of an NVIDIA A40 or V100 SXM2 (NVIDIA data sheets). Units: W.
COLD_W_PER_GPU = 300.0
#: Cold-start upper bound as a multiple of the runtime estimate (assumption).
COLD_UPPER = 2.0
#: Runtime of a job nothing is known about (assumption; the engine's old default). Units: s.
COLD_RUNTIME_S = 3600.0
#: Fewer records than this and the predictor stays in cold start.
MIN_HISTORY = 20
MAX_FLAGS = 8
#: Feature columns before the command-line flags: name, cpus, gpus, shards, node type.
_FIXED = 5


def cold_power_w(cpus: int, gpus: int) -> float:
    """Average power from the spec alone: busy cores and GPUs at the reference
    parts' rated power. Units: W."""
    return cpus * COLD_W_PER_CPU + gpus * COLD_W_PER_GPU


@dataclass(frozen=True)
class Prediction:
    """Units: s, W. ``duration_upper_s`` covers the runtime with the calibrated
    probability; ``cold_start`` marks an estimate from the spec, not from history."""

    duration_s: float
    duration_upper_s: float
    avg_power_w: float
    cold_start: bool


class Predictor:
    """Fit on past runs (:class:`HistoryRecord`), predict for a job (:class:`JobFeatures`)."""

    def __init__(self, coverage: float = 0.9, seed: int = 0) -> None:
        if not 0.5 <= coverage < 1.0:
            raise ConfigError(f"coverage must be in [0.5, 1), got {coverage}")
        self.coverage = coverage
        self.seed = seed
        self.fitted = False
        self.history_median_s: float | None = None

    # -- features -----------------------------------------------------------------
    def _features(self, jobs: Sequence[HistoryRecord | JobFeatures]) -> FloatArray:
        x = np.full((len(jobs), _FIXED + len(self.flags)), np.nan)
        for i, job in enumerate(jobs):
            x[i, 0] = self.name_codes.get(job.name, np.nan)  # unseen name: missing, not a guess
            x[i, 1] = job.cpus
            x[i, 2] = job.gpus
            x[i, 3] = job.shards
            x[i, 4] = self.node_codes.get(job.node_type or "", np.nan)
            fl = numeric_flags(job.command)
            for j, f in enumerate(self.flags):
                x[i, _FIXED + j] = fl.get(f, np.nan)
        return x

    def fit(self, records: Sequence[HistoryRecord]) -> Predictor:
        """Learn from ``records``; with fewer than ``MIN_HISTORY`` stays cold.

        Runtime learns from every record with a runtime; power from those that were
        metered (a finite ``avg_power_w``).
        """
        good = [r for r in records if r.duration_s > 0 and math.isfinite(r.duration_s)]
        if good:
            self.history_median_s = float(np.median([r.duration_s for r in good]))
        if len(good) < MIN_HISTORY:
            self.fitted = False
            return self
        from sklearn.ensemble import HistGradientBoostingRegressor

        names = sorted({r.name for r in good})
        self.name_codes = {n: float(i) for i, n in enumerate(names)}
        node_types = sorted({r.node_type or "" for r in good})
        self.node_codes = {n: float(i) for i, n in enumerate(node_types)}
        counts: dict[str, int] = {}
        for r in good:
            for f in numeric_flags(r.command):
                counts[f] = counts.get(f, 0) + 1
        self.flags = [f for f, _ in sorted(counts.items(), key=lambda kv: -kv[1])[:MAX_FLAGS]]
        x = self._features(good)
        y = np.log(np.array([r.duration_s for r in good]))
        p = np.array([r.avg_power_w for r in good])
        metered = np.isfinite(p) & (p >= 0)
        rng = np.random.default_rng(self.seed)
        idx = rng.permutation(len(good))
        n_cal = max(len(good) // 4, 5)
        cal, train = idx[:n_cal], idx[n_cal:]
        cat = np.zeros(x.shape[1], dtype=bool)
        cat[0] = cat[4] = True

        def model(loss: str, q: float | None = None) -> HistGradientBoostingRegressor:
            kw: dict[str, object] = {
                "loss": loss,
                "max_iter": 100,
                "learning_rate": 0.1,
                "categorical_features": cat,
                "random_state": self.seed,
                "min_samples_leaf": 5,
            }
            if q is not None:
                kw["quantile"] = q
            return HistGradientBoostingRegressor(**kw)

        self.med = model("quantile", 0.5).fit(x[train], y[train])
        self.up = model("quantile", self.coverage).fit(x[train], y[train])
        # Split-conformal correction of the upper quantile on the calibration set.
        scores = y[cal] - self.up.predict(x[cal])
        level = min(1.0, math.ceil((len(cal) + 1) * self.coverage) / len(cal))
        self.upper_shift = float(np.quantile(scores, level, method="higher"))
        # Refit on everything for the final median/power models.
        self.med = model("quantile", 0.5).fit(x, y)
        self.pow = (
            model("quantile", 0.5).fit(x[metered], p[metered])
            if metered.sum() >= MIN_HISTORY
            else None
        )
        self.fitted = True
        return self

    def predict(self, specs: Sequence[JobFeatures]) -> list[Prediction]:
        """One prediction per spec (cold start where there is no fitted model or the
        user declared a runtime for a job name never seen)."""
        out: list[Prediction] = []
        if self.fitted and specs:
            x = self._features(specs)
            med = np.exp(self.med.predict(x))
            up = np.exp(self.up.predict(x) + self.upper_shift)
            if self.pow is not None:
                pw = np.maximum(self.pow.predict(x), 0.0)
            else:
                pw = np.array([cold_power_w(s.cpus, s.gpus) for s in specs])
        for i, s in enumerate(specs):
            seen = self.fitted and s.name in self.name_codes
            if seen:
                out.append(
                    Prediction(float(med[i]), float(max(up[i], med[i])), float(pw[i]), False)
                )
            else:
                out.append(self.cold(s))
        return out

    def cold(self, spec: JobFeatures) -> Prediction:
        """Estimate from the spec alone. Units: s, W."""
        if spec.declared_duration_s is not None:
            if spec.declared_duration_s <= 0:
                raise ConfigError(
                    f"declared duration must be > 0 s, got {spec.declared_duration_s}"
                )
            dur = spec.declared_duration_s
        else:
            dur = self.history_median_s or COLD_RUNTIME_S
        return Prediction(dur, COLD_UPPER * dur, cold_power_w(spec.cpus, spec.gpus), True)
