"""A measured region into the experiment tracker you already read.

``wattwise.measure()`` meters a small CPU workload (a least-squares fit in NumPy),
then ``log_run`` writes its energy, CO₂e, device split and power timeline under
``wattwise/`` to TensorBoard event files, and to MLflow or an offline W&B run if
asked. Runs on CPU in a few seconds:

    python examples/tracker_log_run.py --tensorboard runs/example
    tensorboard --logdir runs/example
    python examples/tracker_log_run.py --mlflow file:./mlruns
    python examples/tracker_log_run.py --wandb                   # offline; wandb sync DIR

The same from the shell, for any command: ``wattwise measure --tensorboard DIR -- CMD``.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

import wattwise
from wattwise.integrations.trackers import log_run


def workload(seconds: float = 1.0) -> float:
    """Least-squares fits on random data for about ``seconds``; the last residual."""
    import time

    rng = np.random.default_rng(0)
    end = time.perf_counter() + seconds
    residual = 0.0
    while time.perf_counter() < end:
        a = rng.standard_normal((400, 50))
        b = rng.standard_normal(400)
        residual = float(np.linalg.lstsq(a, b, rcond=None)[1][0])
    return residual


def main(argv: list[str] | None = None) -> list[Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tensorboard", metavar="DIR", help="write TensorBoard events in DIR")
    p.add_argument("--mlflow", metavar="URI", help="log to MLflow at this tracking URI")
    p.add_argument("--wandb", metavar="DIR", nargs="?", const=".", help="offline W&B run")
    p.add_argument("--seconds", type=float, default=1.0, help="workload length (default 1 s)")
    a = p.parse_args(argv)
    with wattwise.measure("lstsq example", interval_s=0.1) as m:
        workload(a.seconds)
    assert m.result is not None
    print(f"{m.result.energy_j:.2f} J, {m.result.co2e_g or 0:.3g} gCO2e, run {m.run_id}")
    logged = []
    if a.tensorboard:
        logged.append(log_run(m.result, "tensorboard", log_dir=a.tensorboard))
    if a.mlflow:
        logged.append(log_run(m.result, "mlflow", tracking_uri=a.mlflow))
    if a.wandb:
        logged.append(log_run(m.result, "wandb", dir=a.wandb))
    for entry in logged:
        print(f"logged to {entry.tracker.value}: {entry.location}")
    return logged


if __name__ == "__main__":
    main()
