"""The Zeus (NSDI'23) GPU traces and a simulator of recurring training jobs on them.

Train trace: epochs needed to reach a target metric, per batch size and seed (a
"training path"). Power trace: time per epoch and average power per (batch size,
power limit). Energy to accuracy = epochs x time per epoch x average power.

The simulator follows the paper's rules so policies are comparable: a new batch size
profiles every power limit during its first epoch (just-in-time), a run is stopped
before the epoch that would push its cost past the cap, and a run that does not reach
the target is retried (its cost still counts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wattwise.errors import ConfigError, DataFormatError
from wattwise.optimize.gpu.power_limit import PowerProfile, choose_power_limit, zeus_cost

GPUS = ("a40", "v100", "rtx6000")
_TRAIN_COLS = ("dataset", "network", "batch_size", "optimizer", "target_metric", "target_epoch")
_POWER_COLS = ("dataset", "network", "batch_size", "optimizer", "power_limit",
               "time_per_epoch", "average_power")  # fmt: skip


@dataclass(frozen=True)
class TraceJob:
    """A recurring job: what it trains, to which target, from which default batch size."""

    dataset: str
    network: str
    optimizer: str
    target_metric: float
    max_epochs: int
    default_bs: int

    @property
    def name(self) -> str:
        return f"{self.dataset}/{self.network}"


# The six jobs as the Zeus artifact configures them (target, epoch cap, default batch
# size b0; b0 is clipped to the largest batch size a GPU fits, as the artifact does).
# Source: ml-energy/zeus examples/research_reproducibility/zeus_nsdi23 (Apache-2.0).
PAPER_JOBS = (
    TraceJob("cifar100", "shufflenetv2", "adadelta", 0.6, 100, 1024),
    TraceJob("imagenet", "resnet50", "adadelta", 0.65, 100, 256),
    TraceJob("squad", "bert_base_uncased", "adamw", 84.0, 6, 32),
    TraceJob("librispeech", "deepspeech2", "adamw", 40.0, 16, 256),
    TraceJob("movielens-1m", "ncf", "adam", 0.41, 100, 1024),
    TraceJob("sentiment140", "bert_base_uncased", "adamw", 0.84, 10, 128),
)


def _read_csv(path: Path, columns: tuple[str, ...]) -> dict[str, list[str]]:
    if not path.is_file():
        raise DataFormatError(path, "no such trace file")
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines:
        raise DataFormatError(path, "empty file", line=1)
    header = [h.strip() for h in lines[0].split(",")]
    missing = [c for c in columns if c not in header]
    if missing:
        raise DataFormatError(path, f"missing column(s) {', '.join(missing)}", line=1)
    out: dict[str, list[str]] = {c: [] for c in header}
    for i, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split(",")
        if len(cells) != len(header):
            raise DataFormatError(path, f"expected {len(header)} fields, got {len(cells)}", line=i)
        for c, v in zip(header, cells, strict=True):
            out[c].append(v.strip())
    return out


def _floats(path: Path, col: str, values: list[str], allow_nan: bool = False) -> np.ndarray:
    arr = np.empty(len(values))
    for i, v in enumerate(values):
        try:
            arr[i] = float(v) if v != "" else math.nan
        except ValueError:
            raise DataFormatError(path, f"{col} {v!r} is not a number", line=i + 2) from None
        if math.isnan(arr[i]) and not allow_nan:
            raise DataFormatError(path, f"{col} is empty", line=i + 2)
    return arr


class Traces:
    """Both traces for one GPU, indexed for fast lookup."""

    def __init__(self, train_csv: Path, power_csv: Path) -> None:
        t = _read_csv(train_csv, _TRAIN_COLS)
        p = _read_csv(power_csv, _POWER_COLS)
        self.gpu = power_csv.stem.removeprefix("summary_power_")
        t_bs = _floats(train_csv, "batch_size", t["batch_size"])
        t_tm = _floats(train_csv, "target_metric", t["target_metric"])
        t_ep = _floats(train_csv, "target_epoch", t["target_epoch"], allow_nan=True)
        self._paths: dict[tuple[str, str, str, float, int], list[float]] = {}
        for i in range(len(t_bs)):
            key = (t["dataset"][i], t["network"][i], t["optimizer"][i], t_tm[i], int(t_bs[i]))
            self._paths.setdefault(key, []).append(t_ep[i])
        p_bs = _floats(power_csv, "batch_size", p["batch_size"])
        p_pl = _floats(power_csv, "power_limit", p["power_limit"])
        p_t = _floats(power_csv, "time_per_epoch", p["time_per_epoch"])
        p_w = _floats(power_csv, "average_power", p["average_power"])
        if (p_t <= 0).any() or (p_w <= 0).any():
            row = int(np.argmax((p_t <= 0) | (p_w <= 0))) + 2
            raise DataFormatError(power_csv, "time and power must be positive", line=row)
        self._epoch: dict[tuple[str, str, str, int], dict[int, tuple[float, float]]] = {}
        for i in range(len(p_bs)):
            pkey = (p["dataset"][i], p["network"][i], p["optimizer"][i], int(p_bs[i]))
            self._epoch.setdefault(pkey, {})[int(p_pl[i])] = (p_t[i], p_w[i])

    @classmethod
    def load(cls, data_dir: Path, gpu: str) -> Traces:
        if gpu not in GPUS:
            raise ConfigError(f"unknown GPU {gpu!r}", hint="one of " + ", ".join(GPUS))
        return cls(data_dir / "summary_train.csv", data_dir / f"summary_power_{gpu}.csv")

    def batch_sizes(self, job: TraceJob) -> list[int]:
        """Batch sizes with both a training path and a power profile on this GPU."""
        out = [
            bs
            for (d, n, o, tm, bs) in self._paths
            if (d, n, o) == (job.dataset, job.network, job.optimizer)
            and tm == job.target_metric
            and (d, n, o, bs) in self._epoch
        ]
        return sorted(set(out))

    def default_bs(self, job: TraceJob) -> int:
        """b0 clipped to what this GPU fits."""
        sizes = self.batch_sizes(job)
        if not sizes:
            raise ConfigError(f"no trace rows for {job.name} at target {job.target_metric}")
        fits = [b for b in sizes if b <= job.default_bs]
        return max(fits) if fits else min(sizes)

    def paths(self, job: TraceJob, bs: int) -> list[float]:
        """Epochs to target per seed (NaN: never reached)."""
        return self._paths[(job.dataset, job.network, job.optimizer, job.target_metric, bs)]

    def epoch(self, job: TraceJob, bs: int) -> dict[int, tuple[float, float]]:
        """Power limit (W) -> (time per epoch s, average power W)."""
        return self._epoch[(job.dataset, job.network, job.optimizer, bs)]

    def max_power_w(self, job: TraceJob) -> float:
        return float(max(max(self.epoch(job, b)) for b in self.batch_sizes(job)))

    def epoch_profiles(self, job: TraceJob, bs: int) -> list[PowerProfile]:
        return [PowerProfile(pl, t, t * w) for pl, (t, w) in sorted(self.epoch(job, bs).items())]

    def expected(self, job: TraceJob, bs: int, pl: int) -> tuple[float, float]:
        """Mean energy (J) and time (s) to target over the paths that reach it."""
        eps = [e for e in self.paths(job, bs) if not math.isnan(e) and e <= job.max_epochs]
        if not eps:
            return math.inf, math.inf
        t, w = self.epoch(job, bs)[pl]
        mean_ep = float(np.mean(eps))
        return mean_ep * t * w, mean_ep * t

    def expected_cost(self, job: TraceJob, bs: int, pl: int, eta: float) -> float:
        e, t = self.expected(job, bs, pl)
        return zeus_cost(e, t, eta, self.max_power_w(job))

    def oracle(self, job: TraceJob, eta: float) -> tuple[int, int, float]:
        """The (bs, pl) with the least expected cost, and that cost. Units: J."""
        best = min(
            ((bs, pl) for bs in self.batch_sizes(job) for pl in self.epoch(job, bs)),
            key=lambda c: self.expected_cost(job, c[0], c[1], eta),
        )
        return best[0], best[1], self.expected_cost(job, best[0], best[1], eta)


@dataclass(frozen=True)
class RunRecord:
    """One (possibly stopped) training run. Units: J, s."""

    recurrence: int
    bs: int
    pl: int
    energy_j: float
    time_s: float
    cost: float
    reached: bool


class TraceSimulator:
    """Plays one recurring job on the traces for a policy (the environment)."""

    def __init__(self, traces: Traces, job: TraceJob, eta: float, seed: int = 0) -> None:
        self.traces = traces
        self.job = job
        self.eta = eta
        self.rng = np.random.default_rng(seed)
        self.max_power_w = traces.max_power_w(job)
        self._profiled: set[int] = set()

    def best_power_limit(self, bs: int) -> int:
        """The JIT choice for a batch size: least epoch cost at this η."""
        prof = self.traces.epoch_profiles(self.job, bs)
        return int(choose_power_limit(prof, self.eta, max_power_w=self.max_power_w).limit_w)

    def run(self, recurrence: int, bs: int, cost_cap: float) -> RunRecord:
        """Train once with ``bs`` at its best limit, stopping before ``cost_cap`` is passed."""
        pl = self.best_power_limit(bs)
        epochs = self.traces.paths(self.job, bs)
        target = epochs[int(self.rng.integers(len(epochs)))]
        t, w = self.traces.epoch(self.job, bs)[pl]
        per_epoch = zeus_cost(t * w, t, self.eta, self.max_power_w)
        max_epochs = self.job.max_epochs
        if math.isfinite(cost_cap):
            max_epochs = min(max_epochs, int(cost_cap // per_epoch))
        reached = not math.isnan(target) and target <= max_epochs
        n = int(target) if reached else max_epochs
        energy, time = n * t * w, n * t
        if bs not in self._profiled and n > 0:
            # First epoch of a new batch size cycles through every limit (JIT profiling).
            table = self.traces.epoch(self.job, bs)
            energy += float(np.mean([tt * ww for tt, ww in table.values()])) - t * w
            time += float(np.mean([tt for tt, _ in table.values()])) - t
            self._profiled.add(bs)
        cost = zeus_cost(energy, time, self.eta, self.max_power_w)
        return RunRecord(recurrence, bs, pl, energy, time, cost, reached)
