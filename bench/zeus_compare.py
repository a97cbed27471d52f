"""Drive Zeus's own trace simulator (zeus 0.10.1, ``zeus._legacy``) on the NSDI'23 traces.

Runs INSIDE the separate venv ``bench/.venv-zeus`` (Zeus is not a wattwise
dependency); ``bench/optimize.py`` creates that venv and calls this file in a
subprocess, then scores Zeus's runs and ours the same way. Nothing from Zeus is
copied here: this file only calls its public simulator and policies.

Usage (inside the Zeus venv):
    python bench/zeus_compare.py --data DIR --jobs JOBS.json --out OUT.json
JOBS.json: [{"gpu", "dataset", "network", "optimizer", "target_metric", "max_epochs",
"default_bs", "eta", "beta", "seed", "recurrences"}, ...]. OUT.json: one list of runs
[bs, pl, energy_j, reached, time_s] per job, in the same order.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from pathlib import Path
from typing import Any


def run_one(spec: dict[str, Any], data: Path) -> list[list[Any]]:
    import pandas as pd
    from zeus._legacy.job import Job
    from zeus._legacy.policy.optimizer import JITPowerLimitOptimizer, PruningGTSBatchSizeOptimizer
    from zeus._legacy.simulate import Simulator

    train = pd.read_csv(data / "summary_train.csv")
    power = pd.read_csv(data / f"summary_power_{spec['gpu']}.csv")
    job = Job(
        spec["dataset"],
        spec["network"],
        spec["optimizer"],
        spec["target_metric"],
        spec["max_epochs"],
        spec["default_bs"],
    )
    bso = PruningGTSBatchSizeOptimizer(seed=spec["seed"], verbose=False)
    plo = JITPowerLimitOptimizer(verbose=False)
    sim = Simulator(train, power, bso, plo, seed=spec["seed"], verbose=False)
    with contextlib.redirect_stdout(io.StringIO()):  # Zeus prints even when not verbose
        history = sim.simulate_one_job(job, spec["recurrences"], spec["beta"], spec["eta"])
    return [
        [int(h.bs), int(h.pl), float(h.energy), bool(h.reached), float(h.time)] for h in history
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--jobs", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    specs = json.loads(args.jobs.read_text())
    args.out.write_text(json.dumps([run_one(s, args.data) for s in specs]))


if __name__ == "__main__":
    main()
