from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from wattwise.errors import OptimizeError
from wattwise.optimize.search import optimize_inference

from .conftest import FakeMeasure, fast_settings, tiny_workload


def test_search_picks_cheapest_within_budget(fake_measure: FakeMeasure) -> None:
    w = tiny_workload()
    r = optimize_inference(w, "2%", fake_measure, fast_settings())
    names = [c.name for c in r.candidates]
    assert r.baseline.name == "fp32 (baseline)"
    assert {"bf16", "torch-int8-channel", "unstructured 50%"} <= set(names)
    assert r.chosen.meets_budget
    assert r.chosen.quality is not None
    assert r.chosen.quality >= r.quality_floor
    feasible = [c for c in r.candidates if c.meets_budget and c.energy_per_item_j is not None]
    assert r.chosen.energy_per_item_j == min(c.energy_per_item_j or 0.0 for c in feasible)
    assert any(c.pareto for c in r.candidates)
    # Knob variants (threads x batch size) inherit their parent's quality.
    assert any(c.quality_from for c in r.candidates)
    assert fake_measure.calls > 0


def test_structured_pruning_is_tried_and_reported(fake_measure: FakeMeasure) -> None:
    w = tiny_workload(prune_ratios=(0.5,))
    r = optimize_inference(w, "50%", fake_measure, fast_settings())
    pruned = next(c for c in r.candidates if c.name == "pruned 50%")
    assert any("32 -> 16 neurons" in n for n in pruned.notes)
    assert pruned.size_bytes is not None and r.baseline.size_bytes is not None
    assert pruned.size_bytes < r.baseline.size_bytes
    # The last Linear cannot lose outputs: skipped with the reason.
    assert any(s.recipe == "structured prune" and s.layer == "2" for s in r.skipped)


def test_failing_evaluation_is_reported_once_and_not_retried(fake_measure: FakeMeasure) -> None:
    calls: list[str] = []

    def flaky(predict: Any) -> float:
        out = predict(list(np.zeros((4, 64), np.float32)))
        calls.append("x")
        if len(calls) > 1:  # the baseline passes, every recipe fails
            raise ValueError("metric exploded")
        return float(out.shape[0])

    w = tiny_workload(evaluate=flaky)
    r = optimize_inference(w, "1%", fake_measure, fast_settings(structured_prune=False))
    failed = [c for c in r.candidates if c.error]
    assert failed and all("metric exploded" in (c.error or "") for c in failed)
    with_tb = [c for c in failed if c.traceback]
    assert len(with_tb) == 1 and "ValueError" in (with_tb[0].traceback or "")
    assert len(calls) == 1 + len(failed)  # one call per recipe, never a retry
    assert r.chosen is r.baseline


def test_evaluation_failing_on_baseline_is_an_optimize_error(fake_measure: FakeMeasure) -> None:
    calls = []

    def broken(predict: Any) -> float:
        calls.append(1)
        raise RuntimeError("no labels")

    with pytest.raises(OptimizeError, match="no labels"):
        optimize_inference(tiny_workload(evaluate=broken), "1%", fake_measure, fast_settings())
    assert len(calls) == 1


def test_unreachable_budget_keeps_the_baseline(fake_measure: FakeMeasure) -> None:
    r = optimize_inference(tiny_workload(), ">=1.5", fake_measure, fast_settings())
    assert r.chosen is r.baseline
    assert not r.budget_met
    assert "unreachable" in r.message
    assert not any(c.meets_budget for c in r.candidates)


def test_layers_a_recipe_cannot_handle_are_skipped_with_reason(fake_measure: FakeMeasure) -> None:
    class WithAttention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inp = nn.Linear(64, 16)
            self.attn = nn.MultiheadAttention(16, 2, batch_first=True)
            self.out = nn.Linear(16, 10)

        def forward(self, input: torch.Tensor) -> torch.Tensor:
            h = self.inp(input).unsqueeze(1)
            h, _ = self.attn(h, h, h)
            return self.out(h.squeeze(1))  # type: ignore[no-any-return]

    torch.manual_seed(0)
    w = tiny_workload(model=WithAttention())
    r = optimize_inference(w, "100%", fake_measure, fast_settings(structured_prune=True))
    reasons = {(s.recipe, s.layer): s.reason for s in r.skipped}
    assert "MultiheadAttention" in reasons[("torch-int8-channel", "attn.out_proj")]
    assert any(s.recipe == "structured prune" for s in r.skipped)
    assert r.chosen.error is None


def test_sensitive_layers_are_left_in_float(fake_measure: FakeMeasure) -> None:
    """A metric that punishes any change: int8 misses, skipping layers is tried, fewest first."""
    w0 = tiny_workload()
    net = w0.model_factory()
    x = np.asarray(w0.inputs[:64], np.float32)
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()

    def closeness(predict: Any) -> float:
        return -float(np.abs(predict(list(x)) - ref).max())

    w = tiny_workload(evaluate=closeness)
    r = optimize_inference(
        w,
        "0.0000001",
        fake_measure,
        fast_settings(structured_prune=False, runtimes=("fp32", "torch-int8-channel")),
    )
    skips = [c for c in r.candidates if "skip" in c.name]
    assert skips, "the search should retry int8 with sensitive layers in float"
    assert skips[0].recipe["float_layers"] and len(skips[0].recipe["float_layers"]) == 1


def test_agreement_guard_rejects_recipes_that_drift_from_fp32(fake_measure: FakeMeasure) -> None:
    r = optimize_inference(
        tiny_workload(prune_ratios=(0.5,)), "100%", fake_measure,
        fast_settings(min_agreement=1.0 + 1e-9),
    )  # fmt: skip
    others = [c for c in r.candidates if c.quality_from is None and c is not r.baseline]
    assert others and not any(c.meets_budget for c in others)
    assert any("cosine to fp32" in n for c in others for n in c.notes)
    assert r.chosen.recipe["runtime"] == "fp32" and not r.chosen.recipe.get("transform")
