from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from wattwise.optimize.quantize import (
    export_onnx,
    onnx_node_names,
    ort_int8,
    quantizable_linears,
    torch_int8,
)


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.dense = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.dense(x))


class Net(nn.Module):
    """Both exporter naming styles: nested attributes and nn.Sequential children."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([Block(), Block()])
        self.head = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        for b in self.blocks:
            input = b(input)
        return self.head(input)  # type: ignore[no-any-return]


def test_module_names_map_to_onnx_nodes(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = Net().eval()
    path = export_onnx(
        net,
        {"input": np.zeros((2, 4), np.float32)},
        lambda m, t: m(t["input"]),
        tmp_path / "n.onnx",
    )
    names, cannot = quantizable_linears(net)
    assert not cannot
    found = onnx_node_names(path, names)
    assert all(v for v in found.values()), found
    # Leaving one layer in float really leaves its node unquantised.
    q = ort_int8(path, tmp_path / "q.onnx", True, found["blocks.1.dense"])
    import onnx

    ops = [(n.name, n.op_type) for n in onnx.load(str(q)).graph.node]
    kept = [op for name, op in ops if name.startswith("/model/blocks.1/dense/")]
    quantised = [op for name, op in ops if name.startswith("/model/blocks.0/dense/")]
    assert "MatMulInteger" not in kept and "MatMulInteger" in quantised


def test_torch_int8_skip_and_only() -> None:
    net = Net().eval()
    q = torch_int8(net, per_channel=True, skip=["head.2"])
    assert type(q.get_submodule("head.2")) is nn.Linear
    assert type(q.get_submodule("head.0")) is not nn.Linear
    one = torch_int8(net, per_channel=False, only=["blocks.0.dense"])
    assert type(one.get_submodule("blocks.1.dense")) is nn.Linear
    assert type(one.get_submodule("blocks.0.dense")) is not nn.Linear
