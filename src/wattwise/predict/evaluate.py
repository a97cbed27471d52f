"""How good the predictor is, on real profiled training runs (Zeus NSDI'23 traces).

Each (GPU, workload, batch size, power limit, seed) becomes a record: runtime =
epochs to target x time per epoch, power = measured average power. A quarter of the
(workload, GPU, batch size) configurations is held out whole, every power limit and
seed of it, so the test asks what a user asks: "how long will this new configuration
take, given runs of others?". The cold-start figure predicts the same held-out runs
from the spec alone (the median runtime of the history).
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from wattwise.errors import DataFormatError
from wattwise.predict.model import Predictor
from wattwise.predict.records import HistoryRecord, JobFeatures, numeric_flags


@dataclass(frozen=True)
class PredictorReport:
    """Errors on held-out records. Units: %; ``coverage``: share of runtimes at or
    below the calibrated upper quantile (target ``target_coverage``)."""

    runtime_mape_pct: float
    runtime_median_ape_pct: float
    power_mape_pct: float
    coverage: float
    target_coverage: float
    upper_over_true_median: float
    cold_start_runtime_mape_pct: float
    n_train: int
    n_test: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def zeus_records(gpu_dir: str | Path) -> tuple[list[HistoryRecord], list[int]]:
    """Records from the Zeus traces, and the seed (``run``) of each."""
    d = Path(gpu_dir)
    train_path = d / "summary_train.csv"
    epochs: dict[tuple[str, str, str, str], list[tuple[int, float]]] = {}
    target: dict[tuple[str, str], float] = {}
    try:
        rows = list(csv.DictReader(train_path.open(encoding="utf-8")))
    except OSError as err:
        raise DataFormatError(train_path, f"cannot read: {err.strerror}") from err
    # Per workload, the target metric most runs reached (a finite target_epoch).
    reached: dict[tuple[str, str], dict[float, int]] = {}
    for r in rows:
        k = (r["dataset"], r["network"])
        per = reached.setdefault(k, {})
        ok = np.isfinite(float(r["target_epoch"] or "nan"))
        per[float(r["target_metric"])] = per.get(float(r["target_metric"]), 0) + int(ok)
    for k, per in reached.items():
        target[k] = max(per.items(), key=lambda kv: (kv[1], kv[0]))[0]
    for r in rows:
        k = (r["dataset"], r["network"])
        if float(r["target_metric"]) != target[k]:
            continue
        key = (r["dataset"], r["network"], r["batch_size"], r["optimizer"])
        epochs.setdefault(key, []).append((int(r["run"]), float(r["target_epoch"] or "nan")))
    records: list[HistoryRecord] = []
    seeds: list[int] = []
    for gpu in ("a40", "v100", "rtx6000"):
        path = d / f"summary_power_{gpu}.csv"
        with path.open(encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                key = (r["dataset"], r["network"], r["batch_size"], r["optimizer"])
                for run, ep in epochs.get(key, []):
                    t = ep * float(r["time_per_epoch"])
                    if not np.isfinite(t) or t <= 0:
                        continue
                    cmd = (
                        f"python train.py --gpu-model {['a40', 'v100', 'rtx6000'].index(gpu)}"
                        f" --batch-size {r['batch_size']} --power-limit {r['power_limit']}"
                    )
                    records.append(
                        HistoryRecord(
                            f"{r['network']}-{gpu}", cmd, 8, 1, t, float(r["average_power"])
                        )
                    )
                    seeds.append(run)
    return records, seeds


def evaluate_on_zeus(gpu_dir: str | Path, coverage: float = 0.9) -> PredictorReport:
    records, _ = zeus_records(gpu_dir)
    configs = sorted({(r.name, numeric_flags(r.command)["batch-size"]) for r in records})
    rng = np.random.default_rng(0)
    held = {configs[i] for i in rng.permutation(len(configs))[: max(len(configs) // 4, 1)]}

    def is_test(r: HistoryRecord) -> bool:
        return (r.name, numeric_flags(r.command)["batch-size"]) in held

    test = [r for r in records if is_test(r)]
    train = [r for r in records if not is_test(r)]
    model = Predictor(coverage=coverage).fit(train)
    specs = [JobFeatures(r.name, r.command, r.cpus, r.gpus) for r in test]
    pred = model.predict(specs)
    y = np.array([r.duration_s for r in test])
    p = np.array([r.avg_power_w for r in test])
    yd = np.array([x.duration_s for x in pred])
    yu = np.array([x.duration_upper_s for x in pred])
    pp = np.array([x.avg_power_w for x in pred])
    ape = np.abs(yd - y) / y
    cold = Predictor(coverage=coverage).fit([])
    cold.history_median_s = float(np.median([r.duration_s for r in train]))
    yc = np.array([x.duration_s for x in cold.predict(specs)])
    return PredictorReport(
        runtime_mape_pct=100 * float(ape.mean()),
        runtime_median_ape_pct=100 * float(np.median(ape)),
        power_mape_pct=100 * float(np.mean(np.abs(pp - p) / p)),
        coverage=float(np.mean(y <= yu)),
        target_coverage=coverage,
        upper_over_true_median=float(np.median(yu / y)),
        cold_start_runtime_mape_pct=100 * float(np.mean(np.abs(yc - y) / y)),
        n_train=len(train),
        n_test=len(test),
    )


# -- the store's own history ------------------------------------------------------


@dataclass(frozen=True)
class HistoryReport:
    """The loop's predictor on the store's own finished jobs, the latest held out.

    Fitted on the older ``n_train`` jobs, asked (without the declared runtimes) for the
    newer ``n_test``. Units: % for errors; ``coverage``: share of held-out runtimes at
    or below ``runtime_upper_s`` (target ``target_coverage``); ``*_history``: only the
    held-out jobs predicted from history (the rest were cold starts: ``n_cold``)."""

    n_train: int
    n_test: int
    n_history: int
    n_cold: int
    runtime_mape_pct: float
    runtime_median_ape_pct: float
    coverage: float
    runtime_mape_history_pct: float | None
    coverage_history: float | None
    power_mape_pct: float | None
    n_power: int
    target_coverage: float

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def evaluate_history(
    records: list[HistoryRecord], holdout: float = 0.25, coverage: float = 0.9
) -> HistoryReport:
    """Hold out the latest ``holdout`` share of ``records`` (by end time) and predict
    them as the engine would have, from the older ones (quantile regression fitted
    when they are enough). Raises :class:`ConfigError` for too little history."""
    from wattwise.errors import ConfigError
    from wattwise.predict.model import MIN_HISTORY
    from wattwise.predict.runtime import RuntimeModel, Source

    if not 0.0 < holdout < 1.0:
        raise ConfigError(f"holdout must be a share in (0, 1), got {holdout}")
    ordered = sorted(records, key=lambda r: r.ended_s)
    n_test = max(1, round(len(ordered) * holdout))
    if len(ordered) - n_test < 1:
        raise ConfigError(
            f"the store holds {len(ordered)} finished job(s) with a runtime; "
            "evaluating needs at least 2",
            hint="run some jobs through `wattwise serve` first",
        )
    train, test = ordered[:-n_test], ordered[-n_test:]
    model = RuntimeModel(train, coverage=coverage, max_records=max(len(train), 1))
    if len(train) >= MIN_HISTORY:
        model.use_predictor(model.fit_predictor())
    pred = [
        model.predict(JobFeatures(r.name, r.command, r.cpus, r.gpus, None, r.shards, r.node_type))
        for r in test
    ]
    y = np.array([r.duration_s for r in test])
    yd = np.array([p.runtime_s for p in pred])
    yu = np.array([p.runtime_upper_s for p in pred])
    ape = np.abs(yd - y) / y
    hist = np.array([p.source == Source.HISTORY for p in pred])
    p_true = np.array([r.avg_power_w for r in test])
    p_pred = np.array([p.power_w for p in pred])
    metered = np.isfinite(p_true) & (p_true > 0)
    return HistoryReport(
        n_train=len(train),
        n_test=len(test),
        n_history=int(hist.sum()),
        n_cold=int((~hist).sum()),
        runtime_mape_pct=100 * float(ape.mean()),
        runtime_median_ape_pct=100 * float(np.median(ape)),
        coverage=float(np.mean(y <= yu)),
        runtime_mape_history_pct=100 * float(ape[hist].mean()) if hist.any() else None,
        coverage_history=float(np.mean(y[hist] <= yu[hist])) if hist.any() else None,
        power_mape_pct=100 * float(np.mean(np.abs(p_pred - p_true)[metered] / p_true[metered]))
        if metered.any()
        else None,
        n_power=int(metered.sum()),
        target_coverage=coverage,
    )
