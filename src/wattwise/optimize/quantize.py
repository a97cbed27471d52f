"""Int8 dynamic quantisation in PyTorch and ONNX Runtime, per-tensor or per-channel.

Both take a set of Linear layer names to leave in float (the sensitive ones).
"""

from __future__ import annotations

import copy
import logging
import warnings
from collections.abc import Callable, Collection
from pathlib import Path

import numpy as np
import torch
from torch import nn

from wattwise.errors import OptimizeError


def quantizable_linears(model: nn.Module) -> tuple[list[str], list[tuple[str, str]]]:
    """Linear layers dynamic int8 can replace, and (name, reason) for those it cannot."""
    ok: list[str] = []
    skipped: list[tuple[str, str]] = []
    for name, mod in model.named_modules():
        if not isinstance(mod, nn.Linear):
            continue
        if type(mod).__name__ == "NonDynamicallyQuantizableLinear":
            skipped.append((name, "called functionally by MultiheadAttention; cannot be swapped"))
        elif mod.weight.dtype != torch.float32:
            skipped.append((name, f"weight is {mod.weight.dtype}, not float32"))
        else:
            ok.append(name)
    return ok, skipped


def torch_int8(
    model: nn.Module,
    per_channel: bool,
    skip: Collection[str] = (),
    only: Collection[str] | None = None,
) -> nn.Module:
    """A dynamic-int8 copy of ``model``: quantizable Linears not in ``skip`` become int8.

    With ``only``, just those layers are quantised (used to rank sensitivity).
    """
    from torch.ao.quantization import (
        default_dynamic_qconfig,
        per_channel_dynamic_qconfig,
        quantize_dynamic,
    )

    qconfig = per_channel_dynamic_qconfig if per_channel else default_dynamic_qconfig
    names, _ = quantizable_linears(model)
    spec = {n: qconfig for n in names if n not in skip and (only is None or n in only)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao deprecation notices, once per layer
        return quantize_dynamic(copy.deepcopy(model), spec, dtype=torch.qint8)


class _Wrapper(nn.Module):
    """Positional-argument front so the ONNX exporter sees named inputs in order."""

    def __init__(
        self,
        model: nn.Module,
        names: list[str],
        forward: Callable[[nn.Module, dict[str, torch.Tensor]], torch.Tensor],
    ) -> None:
        super().__init__()
        self.model = model
        self.names = names
        self.fwd = forward

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        return self.fwd(self.model, dict(zip(self.names, args, strict=True)))


def export_onnx(
    model: nn.Module,
    sample: dict[str, np.ndarray],
    forward: Callable[[nn.Module, dict[str, torch.Tensor]], torch.Tensor],
    path: Path,
) -> Path:
    """Export ``model`` to ONNX with every input and output axis dynamic."""
    names = list(sample)
    args = tuple(torch.from_numpy(np.ascontiguousarray(sample[n])) for n in names)
    axes = {
        n: dict(enumerate(f"{n}_d{i}" for i in range(a.ndim)))
        for n, a in zip(names, args, strict=True)
    }
    with torch.no_grad():
        probe = forward(model, dict(zip(names, args, strict=True)))
    axes["output"] = {i: f"out_d{i}" for i in range(probe.ndim)}
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Wrapper(model, names, forward).eval(),
                args,
                str(path),
                input_names=names,
                output_names=["output"],
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,
            )
    except Exception as err:
        raise OptimizeError(f"ONNX export failed: {type(err).__name__}: {err}") from err
    return path


def onnx_node_names(onnx_path: Path, layers: Collection[str]) -> dict[str, list[str]]:
    """MatMul/Gemm node names of each module name in ``layers``.

    The TorchScript exporter names a node by its module scopes, e.g.
    ``/model/encoder/layer.0/output/dense/MatMul`` (attribute names joined by "/") or,
    inside ``nn.Sequential``, ``/model/blocks.0/blocks.0.2/Gemm`` (the full dotted name
    as the last scope). Both forms are matched.
    """
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    wanted = set(layers)
    found: dict[str, list[str]] = {layer: [] for layer in layers}
    for node in graph.node:
        if node.op_type not in ("MatMul", "Gemm"):
            continue
        scopes = node.name.strip("/").split("/")[:-1]  # drop the op's own name
        if scopes and scopes[0] == "model":  # our export wrapper's attribute
            scopes = scopes[1:]
        if not scopes:
            continue
        for name in {".".join(scopes), scopes[-1]} & wanted:
            found[name].append(node.name)
            if node.op_type == "Gemm":  # ORT rewrites Gemm to <name>_MatMul + Add first
                found[name].append(node.name + "_MatMul")
    return found


def ort_int8(
    fp32_path: Path, out_path: Path, per_channel: bool, exclude_nodes: Collection[str] = ()
) -> Path:
    """ONNX Runtime dynamic int8 quantisation of ``fp32_path`` into ``out_path``."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # ORT logs a pre-processing hint at WARNING per call
    try:
        quantize_dynamic(
            str(fp32_path),
            str(out_path),
            per_channel=per_channel,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=list(exclude_nodes),
        )
    except Exception as err:
        raise OptimizeError(f"ONNX Runtime quantisation failed: {err}") from err
    finally:
        root.setLevel(level)
    return out_path
