"""Demo job: train a training workload for its steps and print its quality.

Run: ``python examples/jobs/train.py examples/tiny_transformer_train.py`` (or as a job
of ``wattwise demo`` / ``wattwise submit``). One thread: demo jobs share the cores.
"""

from __future__ import annotations

import sys

import torch

from wattwise.optimize.workload import TrainingWorkload, load_workload


def main(path: str) -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    w = load_workload(path)
    if not isinstance(w, TrainingWorkload):
        raise SystemExit(f"{path}: not a training workload")
    model = w.model_factory()
    opt = torch.optim.Adam(model.parameters(), lr=w.lr)
    for step in range(w.steps):
        x, y = w.batches(w.batch_size, step)
        opt.zero_grad()
        w.loss(model, x, y).backward()
        opt.step()
    model.eval()
    print(f"{w.steps} steps, {w.metric} {w.evaluate(model):.4f}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: train.py WORKLOAD.py")
    main(sys.argv[1])
