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
