"""Reference workload: an MLP on scikit-learn's digits (quality: test accuracy).

Run: ``wattwise optimize examples/digits_mlp.py --budget 0.005``. Offline: the
digits data ships inside scikit-learn. The MLP is trained here in a few seconds
(fixed seed) so the example has no weight file to download.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import torch
from torch import nn

from wattwise.optimize import InferenceWorkload

HIDDEN = 512
SEED = 0


@lru_cache(maxsize=1)
def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.3, random_state=SEED, stratify=y)
    # Tune on a validation slice of the training part; report on the untouched test part.
    x_tr, x_va, y_tr, y_va = train_test_split(
        x_tr, y_tr, test_size=0.25, random_state=SEED, stratify=y_tr
    )
    return x_tr, y_tr, x_va, y_va, x_te, y_te


def _mlp(hidden: int = HIDDEN) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(64, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, 10),
    )


def _train(model: nn.Module, epochs: int, lr: float = 1e-3) -> None:
    x_tr, y_tr, *_ = _data()
    gen = torch.Generator().manual_seed(SEED)
    x, y = torch.from_numpy(x_tr), torch.from_numpy(y_tr).long()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), 64):
            idx = perm[i : i + 64]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    model.eval()


@lru_cache(maxsize=1)
def _trained_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(SEED)
    model = _mlp()
    _train(model, epochs=30)
    return model.state_dict()


def model_factory() -> nn.Module:
    model = _mlp()
    model.load_state_dict(_trained_state())
    return model.eval()


def _accuracy(predict: Any, x: np.ndarray, y: np.ndarray) -> float:
    logits = predict(list(x))
    return float((logits.argmax(axis=1) == y).mean())


def collate(items: list[np.ndarray]) -> dict[str, np.ndarray]:
    return {"input": np.stack(items).astype(np.float32)}


def forward(model: nn.Module, tensors: dict[str, torch.Tensor]) -> torch.Tensor:
    return model(tensors["input"])  # type: ignore[no-any-return]


def workload(repeat: int = 8) -> InferenceWorkload:
    """``repeat``: how many times the test rows are repeated for energy measurement."""
    _, _, x_va, y_va, x_te, y_te = _data()
    inputs = list(np.concatenate([x_te] * repeat))
    return InferenceWorkload(
        name="digits-mlp",
        model_factory=model_factory,
        inputs=inputs,
        collate=collate,
        forward=forward,
        evaluate=lambda p: _accuracy(p, x_va, y_va),
        test_evaluate=lambda p: _accuracy(p, x_te, y_te),
        metric="accuracy",
        batch_size=32,
        batch_sizes=(32, 256),
        finetune=lambda m: _train(m, epochs=10),
        prune_ratios=(0.5, 0.75, 0.875),
        budget="0.005",
    )
