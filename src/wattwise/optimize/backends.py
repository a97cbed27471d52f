"""Runnable forms of a model: eager PyTorch or an ONNX Runtime session.

A backend runs one collated batch; :class:`BatchRunner` adds batching, length-sorting
and post-processing, so every recipe is judged through the same ``predict(items)``.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    import torch

    from wattwise.optimize.workload import InferenceWorkload


class Backend(Protocol):
    """A model ready to run. ``threads`` None means the library default."""

    kind: str
    threads: int | None

    def run(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        """Output for one batch of named inputs."""
        ...

    def size_bytes(self) -> int:
        """Serialized model size. Units: bytes."""
        ...

    def with_threads(self, threads: int | None) -> Backend:
        """The same model, run with ``threads`` intra-op threads."""
        ...

    def save(self, path: Path) -> Path:
        """Write the model under ``path`` (no suffix); return the file written."""
        ...


def default_forward(model: torch.nn.Module, tensors: dict[str, torch.Tensor]) -> torch.Tensor:
    """``model(**tensors)``; unwraps a ``last_hidden_state`` or first tuple item."""
    out = model(**tensors)
    if hasattr(out, "last_hidden_state"):
        return out.last_hidden_state
    if isinstance(out, tuple | list):
        return out[0]
    return out


class TorchBackend:
    """Eager PyTorch, optionally under CPU/GPU autocast (bf16/fp16)."""

    kind = "torch"

    def __init__(
        self,
        module: torch.nn.Module,
        forward: Callable[[torch.nn.Module, dict[str, torch.Tensor]], torch.Tensor] | None = None,
        autocast_dtype: torch.dtype | None = None,
        threads: int | None = None,
    ) -> None:
        self.module = module.eval()
        self.forward = forward or default_forward
        self.autocast_dtype = autocast_dtype
        self.threads = threads

    def run(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in batch.items()}
        previous = torch.get_num_threads()
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        try:
            with torch.inference_mode():
                if self.autocast_dtype is not None:
                    with torch.autocast("cpu", dtype=self.autocast_dtype):
                        out = self.forward(self.module, tensors)
                else:
                    out = self.forward(self.module, tensors)
            return out.float().numpy()
        finally:
            torch.set_num_threads(previous)

    def size_bytes(self) -> int:
        import torch

        buf = io.BytesIO()
        torch.save(self.module.state_dict(), buf)
        return buf.tell()

    def with_threads(self, threads: int | None) -> TorchBackend:
        return TorchBackend(self.module, self.forward, self.autocast_dtype, threads)

    def save(self, path: Path) -> Path:
        import torch

        target = path.with_suffix(".pt")
        target.parent.mkdir(parents=True, exist_ok=True)
        torch.save(self.module.state_dict(), target)
        return target


class OrtBackend:
    """An ONNX Runtime CPU session over an ``.onnx`` file."""

    kind = "onnxruntime"

    def __init__(self, onnx_path: Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        self.onnx_path = onnx_path
        self.threads = threads
        opts = ort.SessionOptions()
        if threads is not None:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(onnx_path), opts, providers=["CPUExecutionProvider"]
        )
        self.input_names = [i.name for i in self.session.get_inputs()]

    def run(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        feeds = {name: batch[name] for name in self.input_names}
        return np.asarray(self.session.run(None, feeds)[0], dtype=np.float32)

    def size_bytes(self) -> int:
        return self.onnx_path.stat().st_size

    def with_threads(self, threads: int | None) -> OrtBackend:
        return OrtBackend(self.onnx_path, threads)

    def save(self, path: Path) -> Path:
        target = path.with_suffix(".onnx")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.onnx_path, target)
        return target


@dataclass
class BatchRunner:
    """``predict(items) -> rows``: batches (length-sorted when a key is given) and runs."""

    backend: Backend
    workload: InferenceWorkload
    batch_size: int

    def __call__(self, items: Sequence[Any]) -> np.ndarray:
        n = len(items)
        key = self.workload.sort_key
        order = (
            np.argsort([key(it) for it in items], kind="stable")
            if key is not None
            else np.arange(n)
        )
        rows: list[np.ndarray] = []
        for start in range(0, n, self.batch_size):
            idx = order[start : start + self.batch_size]
            batch = self.workload.collate([items[i] for i in idx])
            out = self.backend.run(batch)
            if self.workload.postprocess is not None:
                out = self.workload.postprocess(out, batch)
            rows.append(np.asarray(out, dtype=np.float32).reshape(len(idx), -1))
        stacked = np.concatenate(rows, axis=0) if rows else np.zeros((0, 0), np.float32)
        result = np.empty_like(stacked)
        result[order] = stacked
        return result
