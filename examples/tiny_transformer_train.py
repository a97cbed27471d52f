"""Reference workload: train a small transformer for a fixed number of steps.

Task: classify scikit-learn's digits read as a sequence of 8 rows (8 tokens of 8
pixels each), so the data is real and offline. Quality: validation accuracy after
the fixed number of steps. Run: ``wattwise optimize examples/tiny_transformer_train.py``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from torch import nn

from wattwise.optimize import TrainingWorkload

SEED = 0
WIDTH = 64


class TinyTransformer(nn.Module):
    def __init__(self, width: int = WIDTH, layers: int = 2, heads: int = 4) -> None:
        super().__init__()
        self.embed = nn.Linear(8, width)
        self.pos = nn.Parameter(torch.zeros(1, 8, width))
        layer = nn.TransformerEncoderLayer(
            width, heads, dim_feedforward=4 * width, dropout=0.0, batch_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(width, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encoder(self.embed(x.view(-1, 8, 8)) + self.pos)
        return self.head(h.mean(dim=1))  # type: ignore[no-any-return]


@lru_cache(maxsize=1)
def _data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    x_tr, x_va, y_tr, y_va = train_test_split(x, y, test_size=0.3, random_state=SEED, stratify=y)
    return (
        torch.from_numpy(x_tr),
        torch.from_numpy(y_tr).long(),
        torch.from_numpy(x_va),
        torch.from_numpy(y_va).long(),
    )


def model_factory() -> nn.Module:
    torch.manual_seed(SEED)
    return TinyTransformer()


def batches(batch_size: int, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    x, y, _, _ = _data()
    gen = torch.Generator().manual_seed(SEED * 100_003 + step)
    idx = torch.randint(0, len(x), (batch_size,), generator=gen)
    return x[idx], y[idx]


def loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(model(x), y)


def evaluate(model: nn.Module) -> float:
    _, _, x, y = _data()
    with torch.inference_mode():
        return float((model(x).argmax(dim=1) == y).float().mean())


def workload(steps: int = 150) -> TrainingWorkload:
    return TrainingWorkload(
        name="tiny-transformer-train",
        model_factory=model_factory,
        batches=batches,
        loss=loss,
        evaluate=evaluate,
        steps=steps,
        batch_size=64,
        lr=2e-3,
        metric="accuracy",
        freezable=("embed", "encoder.layers.0"),
        budget="0.01",
    )
