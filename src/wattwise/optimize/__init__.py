"""Which model/knob recipe spends the least energy for the quality asked.

Inference: :func:`optimize_inference` over an :class:`InferenceWorkload`.
Training: :func:`optimize_training` over a :class:`TrainingWorkload`.
GPU knobs (power limit, batch size): :mod:`wattwise.optimize.gpu`.
Energy always comes from :mod:`wattwise.meter` through a :data:`MeasureFn`.
"""

from __future__ import annotations

from wattwise.optimize.budget import QualityBudget
from wattwise.optimize.measure import EnergySample, MeasureFn, MeterMeasure
from wattwise.optimize.result import Candidate, OptimizeResult, Skipped
from wattwise.optimize.workload import (
    InferenceWorkload,
    Predict,
    TrainingWorkload,
    load_workload,
)

__all__ = [
    "Candidate",
    "EnergySample",
    "InferenceWorkload",
    "MeasureFn",
    "MeterMeasure",
    "OptimizeResult",
    "Predict",
    "QualityBudget",
    "Skipped",
    "TrainingWorkload",
    "load_workload",
    "optimize_inference",
]


def __getattr__(name: str) -> object:
    # The search pulls numpy/torch lazily; keep `import wattwise.optimize` light.
    if name == "optimize_inference":
        from wattwise.optimize.search import optimize_inference

        return optimize_inference
    if name == "optimize_training":
        from wattwise.optimize.training import optimize_training

        return optimize_training
    raise AttributeError(name)
