"""Pruning: structured (neurons physically removed) and unstructured (zeros).

Structured pruning shrinks a producer Linear's outputs and the matching consumer
Linear's inputs, so dense kernels do less work. Unstructured pruning only zeroes
weights: a size win when stored sparse, no speed win on dense kernels.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

# Modules that act element-wise, so a hidden neuron's index means the same on both sides.
_ELEMENTWISE = (
    nn.ReLU,
    nn.GELU,
    nn.SiLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.LeakyReLU,
    nn.ELU,
    nn.Dropout,
    nn.Identity,
)


@dataclass
class PruneOutcome:
    """What a pruning pass changed and what it had to leave alone (with reasons)."""

    model: nn.Module
    pruned: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def find_linear_pairs(model: nn.Module) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Pairs (producer, consumer) of Linears inside ``nn.Sequential`` blocks.

    Returns (pairs, skipped) where skipped holds (layer, reason) for Linears whose
    outputs do not feed another Linear through element-wise modules only.
    """
    pairs: list[tuple[str, str]] = []
    skipped: list[tuple[str, str]] = []
    for seq_name, seq in model.named_modules():
        if not isinstance(seq, nn.Sequential):
            continue
        children = list(seq.named_children())
        for i, (name, child) in enumerate(children):
            if not isinstance(child, nn.Linear):
                continue
            full = f"{seq_name}.{name}" if seq_name else name
            j = i + 1
            while j < len(children) and isinstance(children[j][1], _ELEMENTWISE):
                j += 1
            if j < len(children) and isinstance(children[j][1], nn.Linear):
                nxt = children[j][0]
                pairs.append((full, f"{seq_name}.{nxt}" if seq_name else nxt))
            elif j < len(children):
                kind = type(children[j][1]).__name__
                skipped.append((full, f"output feeds {kind}, not a Linear: neurons not removable"))
            else:
                skipped.append((full, "last Linear of its block: its outputs are the model's"))
    return pairs, skipped


def _get(model: nn.Module, name: str) -> nn.Module:
    return model.get_submodule(name)


def _set(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, attr = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, attr, module)


def prune_structured(
    model: nn.Module, ratio: float, pairs: Sequence[tuple[str, str]]
) -> PruneOutcome:
    """Remove ``ratio`` of the hidden neurons between each (producer, consumer) pair.

    Neurons are ranked by ``|w_in|_2 * |w_out|_2`` (how much signal they carry).
    Returns a pruned deep copy; ``model`` is left as it was.
    """
    if not 0.0 < ratio < 1.0:
        raise ValueError(f"prune ratio must be in (0, 1), got {ratio}")
    pruned = copy.deepcopy(model)
    outcome = PruneOutcome(pruned)
    for prod_name, cons_name in pairs:
        try:
            prod, cons = _get(pruned, prod_name), _get(pruned, cons_name)
        except AttributeError:
            outcome.skipped.append((prod_name, "no such module"))
            continue
        if not isinstance(prod, nn.Linear) or not isinstance(cons, nn.Linear):
            outcome.skipped.append((prod_name, "pair is not two nn.Linear layers"))
            continue
        if prod.out_features != cons.in_features:
            outcome.skipped.append(
                (prod_name, f"width {prod.out_features} != consumer input {cons.in_features}")
            )
            continue
        hidden = prod.out_features
        keep_n = max(1, round(hidden * (1.0 - ratio)))
        with torch.no_grad():
            score = prod.weight.norm(dim=1) * cons.weight.norm(dim=0)
            keep = torch.sort(torch.topk(score, keep_n).indices).values
            new_prod = nn.Linear(prod.in_features, keep_n, bias=prod.bias is not None)
            new_prod.weight.copy_(prod.weight[keep])
            if prod.bias is not None:
                new_prod.bias.copy_(prod.bias[keep])
            new_cons = nn.Linear(keep_n, cons.out_features, bias=cons.bias is not None)
            new_cons.weight.copy_(cons.weight[:, keep])
            if cons.bias is not None:
                new_cons.bias.copy_(cons.bias)
        _set(pruned, prod_name, new_prod)
        _set(pruned, cons_name, new_cons)
        outcome.pruned.append(f"{prod_name}: {hidden} -> {keep_n} neurons")
    return outcome


def prune_unstructured(model: nn.Module, sparsity: float) -> PruneOutcome:
    """Zero the ``sparsity`` smallest-magnitude weights of every Linear (a deep copy)."""
    if not 0.0 < sparsity < 1.0:
        raise ValueError(f"sparsity must be in (0, 1), got {sparsity}")
    pruned = copy.deepcopy(model)
    outcome = PruneOutcome(pruned)
    with torch.no_grad():
        for name, mod in pruned.named_modules():
            if isinstance(mod, nn.Linear):
                w = mod.weight
                k = int(w.numel() * sparsity)
                if k == 0:
                    outcome.skipped.append((name, "too small to prune"))
                    continue
                threshold = w.abs().flatten().kthvalue(k).values
                w.mul_((w.abs() > threshold).to(w.dtype))
                outcome.pruned.append(name)
    return outcome


def sparse_size_bytes(model: nn.Module) -> int:
    """Size if Linear weights were stored sparse (value + int32 index per non-zero).

    Units: bytes. Other tensors count dense.
    """
    total = 0
    linear_weights = {id(m.weight) for m in model.modules() if isinstance(m, nn.Linear)}
    for t in list(model.parameters()) + list(model.buffers()):
        if id(t) in linear_weights:
            total += int(torch.count_nonzero(t)) * (t.element_size() + 4)
        else:
            total += t.numel() * t.element_size()
    return total
