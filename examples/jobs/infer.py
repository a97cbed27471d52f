"""Demo job: run an inference workload over its inputs REPEAT times, print its quality.

Run: ``python examples/jobs/infer.py examples/digits_mlp.py 5``. REPEAT 0 only builds
the model (``digits_mlp`` trains its MLP there) and evaluates it. Predictions go through
``wattwise.optimize``'s :class:`BatchRunner`, as ``wattwise optimize`` judges them.
"""

from __future__ import annotations

import sys

import torch

from wattwise.optimize.backends import BatchRunner, TorchBackend
from wattwise.optimize.workload import InferenceWorkload, load_workload


def main(path: str, repeat: int) -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    w = load_workload(path)
    if not isinstance(w, InferenceWorkload):
        raise SystemExit(f"{path}: not an inference workload")
    predict = BatchRunner(TorchBackend(w.model_factory(), w.forward), w, w.batch_size)
    for _ in range(repeat):
        predict(w.inputs)
    quality = f"{w.metric} {w.evaluate(predict):.4f}"
    print(f"{repeat * len(w.inputs)} items, {quality}" if repeat else f"trained, {quality}")


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) not in (1, 2) or (len(args) == 2 and not args[1].isdigit()):
        raise SystemExit("usage: infer.py WORKLOAD.py [REPEAT]")
    main(args[0], int(args[1]) if len(args) == 2 else 0)
