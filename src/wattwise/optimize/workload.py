"""What a user hands to ``wattwise optimize``: the model, its inputs, its metric.

An example file (``examples/<name>.py``) defines ``workload()`` returning an
:class:`InferenceWorkload` or a :class:`TrainingWorkload`; :func:`load_workload`
imports it.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wattwise.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np
    import torch

Predict = Callable[[Sequence[Any]], "np.ndarray"]
"""Maps a sequence of items to one output row per item (a float array)."""


@dataclass
class InferenceWorkload:
    """A model to serve cheaper, and how to judge it.

    - ``model_factory()`` returns the fp32 ``torch.nn.Module`` (called once).
    - ``inputs``: sample items; energy per item is measured by predicting all of them.
    - ``collate(items)`` turns a batch of items into named numpy arrays
      (the model's keyword arguments).
    - ``evaluate(predict)`` returns the quality metric (tuning split);
      ``test_evaluate`` (optional) the same metric on the held-out split, reported only.
    - ``forward(model, tensors)`` calls the model (default ``model(**tensors)``) and
      returns one tensor; ``postprocess(output, batch)`` turns it into rows per item.
    - ``finetune(model)`` (optional) trains a pruned model briefly, in place.
    - ``prunable``: pairs (producer Linear, consumer Linear) whose shared hidden
      neurons may be removed; found automatically inside ``nn.Sequential`` when None.
    """

    name: str
    model_factory: Callable[[], torch.nn.Module]
    inputs: Sequence[Any]
    collate: Callable[[Sequence[Any]], dict[str, np.ndarray]]
    evaluate: Callable[[Predict], float]
    metric: str = "quality"
    higher_is_better: bool = True
    test_evaluate: Callable[[Predict], float] | None = None
    forward: Callable[[torch.nn.Module, dict[str, torch.Tensor]], torch.Tensor] | None = None
    postprocess: Callable[[np.ndarray, dict[str, np.ndarray]], np.ndarray] | None = None
    sort_key: Callable[[Any], float] | None = None
    batch_size: int = 32
    batch_sizes: Sequence[int] = (8, 32, 128)
    finetune: Callable[[torch.nn.Module], None] | None = None
    prunable: Sequence[tuple[str, str]] | None = None
    prune_ratios: Sequence[float] = (0.25, 0.5, 0.75)
    budget: str = "1%"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.inputs) == 0:
            raise ConfigError(f"workload {self.name!r} has no sample inputs")
        if self.batch_size < 1 or any(b < 1 for b in self.batch_sizes):
            raise ConfigError(f"workload {self.name!r}: batch sizes must be >= 1")


@dataclass
class TrainingWorkload:
    """A training job to run cheaper at the same quality.

    - ``model_factory()`` returns a fresh model (called once per recipe).
    - ``batches(batch_size, step)`` returns ``(inputs, targets)`` tensors for a step.
    - ``loss(model, inputs, targets)`` returns the scalar loss tensor.
    - ``evaluate(model)`` returns the quality after training (higher is better
      unless ``higher_is_better`` is False).
    - ``freezable``: module-name prefixes that may be frozen for transfer learning.
    """

    name: str
    model_factory: Callable[[], torch.nn.Module]
    batches: Callable[[int, int], tuple[torch.Tensor, torch.Tensor]]
    loss: Callable[[torch.nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]
    evaluate: Callable[[torch.nn.Module], float]
    steps: int = 100
    batch_size: int = 32
    lr: float = 1e-3
    metric: str = "quality"
    higher_is_better: bool = True
    freezable: Sequence[str] = ()
    budget: str = "1%"

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise ConfigError(f"training workload {self.name!r}: steps and batch size >= 1")


Workload = InferenceWorkload | TrainingWorkload


def load_workload(path: str | Path, **kwargs: Any) -> Workload:
    """Import ``path`` and call its ``workload(**kwargs)``.

    Raises ConfigError when the file is missing or defines no ``workload()``.
    """
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"{file}: no such workload file")
    spec = importlib.util.spec_from_file_location(f"wattwise_workload_{file.stem}", file)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{file}: not an importable Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as err:
        raise ConfigError(f"{file}:{err.lineno}: syntax error: {err.msg}") from err
    factory = getattr(module, "workload", None)
    if not callable(factory):
        raise ConfigError(
            f"{file}: defines no workload() function",
            hint="an example returns InferenceWorkload or TrainingWorkload from workload()",
        )
    result = factory(**kwargs)
    if not isinstance(result, InferenceWorkload | TrainingWorkload):
        raise ConfigError(
            f"{file}: workload() returned {type(result).__name__}, "
            "not InferenceWorkload or TrainingWorkload"
        )
    return result
