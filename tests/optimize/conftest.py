"""Shared fixtures: a tiny digits MLP workload and a fake measure function."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from wattwise.optimize import EnergySample, InferenceWorkload
from wattwise.optimize.search import SearchSettings


class FakeMeasure:
    """Runs the work and reports 10 W x wall time as 'energy' (a stand-in meter)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, fn: Callable[[], Any]) -> EnergySample:
        self.calls += 1
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        return EnergySample(10.0 * dt, dt, True, "fake")


@pytest.fixture
def fake_measure() -> FakeMeasure:
    return FakeMeasure()


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return (x / 16.0).astype(np.float32), y


def tiny_workload(
    evaluate: Callable[[Any], float] | None = None,
    model: nn.Module | None = None,
    **kw: Any,
) -> InferenceWorkload:
    """A 64-32-10 MLP trained for a moment on 600 digits; quality = accuracy on 300 more."""
    x, y = _digits()
    torch.manual_seed(0)
    net = model or nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    if model is None:
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        xt, yt = torch.from_numpy(x[:600]), torch.from_numpy(y[:600]).long()
        for _ in range(60):
            opt.zero_grad()
            nn.functional.cross_entropy(net(xt), yt).backward()
            opt.step()
    net.eval()
    xv, yv = x[600:900], y[600:900]

    def accuracy(predict: Any) -> float:
        return float((predict(list(xv)).argmax(axis=1) == yv).mean())

    return InferenceWorkload(
        name="tiny-digits",
        model_factory=lambda: net,
        inputs=list(x[:200]),
        collate=lambda items: {"input": np.stack(items)},
        forward=lambda m, t: m(t["input"]),
        evaluate=evaluate or accuracy,
        metric="accuracy",
        batch_size=32,
        batch_sizes=(32, 64),
        **kw,
    )


def fast_settings(**kw: Any) -> SearchSettings:
    base: dict[str, Any] = {
        "runtimes": ("fp32", "bf16", "torch-int8-channel"),
        "unstructured_sparsities": (0.5,),
        "rounds": 1,
        "knob_rounds": 1,
        "knob_top": 1,
        "thread_options": (1,),
        "min_window_s": 0.0,
        "progress": False,
    }
    base.update(kw)
    return SearchSettings(**base)
