from __future__ import annotations

import pytest
import torch
from torch import nn

from wattwise.errors import ConfigError, OptimizeError
from wattwise.optimize import TrainingWorkload
from wattwise.optimize.training import (
    TrainingSettings,
    TrainRecipe,
    default_recipes,
    optimize_training,
    train,
    train_within_energy,
)

from .conftest import FakeMeasure


def _workload(evaluate: object = None, steps: int = 5) -> TrainingWorkload:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 8, generator=g)
    y = (x[:, 0] > 0).long()

    def factory() -> nn.Module:
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))

    def acc(m: nn.Module) -> float:
        with torch.no_grad():
            return float((m(x).argmax(1) == y).float().mean())

    return TrainingWorkload(
        name="tiny-train",
        model_factory=factory,
        batches=lambda bs, step: (x[(step * bs) % 256 :][:bs], y[(step * bs) % 256 :][:bs]),
        loss=lambda m, a, b: nn.functional.cross_entropy(m(a), b),
        evaluate=evaluate or acc,  # type: ignore[arg-type]
        steps=steps,
        batch_size=16,
        lr=1e-2,
        metric="accuracy",
        freezable=("0",),
    )


def test_recipes_cover_amp_accumulation_freezing() -> None:
    names = [r.name for r in default_recipes(_workload(), TrainingSettings())]
    assert names[0] == "fp32 (baseline)"
    assert "bf16 autocast" in names and "accumulate 2x8" in names and "freeze 0" in names


def test_accumulation_keeps_the_effective_batch() -> None:
    seen: list[int] = []
    w = _workload()
    inner = w.loss
    w.loss = lambda m, a, b: (seen.append(len(a)), inner(m, a, b))[1]  # type: ignore[assignment]
    _, steps = train(w, TrainRecipe("acc", accumulate=4))
    assert steps == 5 and seen == [4] * 20  # 5 steps x 4 micro-batches of 16 / 4


def test_freezing_leaves_weights_unchanged() -> None:
    w = _workload()
    before = w.model_factory()[0].weight.clone()  # type: ignore[index]
    model, _ = train(w, TrainRecipe("f", freeze=("0",)))
    assert torch.equal(model[0].weight, before)
    with pytest.raises(ConfigError, match="matches no parameter"):
        train(w, TrainRecipe("bad", freeze=("nope",)))


def test_optimize_training_reports_each_recipe(fake_measure: FakeMeasure) -> None:
    r = optimize_training(_workload(), "100%", fake_measure, TrainingSettings(rounds=1))
    assert r.kind == "training"
    assert all(c.energy_per_item_j for c in r.candidates)
    assert r.chosen.meets_budget


def test_bad_freeze_prefix_is_skipped_with_reason(fake_measure: FakeMeasure) -> None:
    recipes = [TrainRecipe("fp32 (baseline)"), TrainRecipe("freeze x", freeze=("x",))]
    r = optimize_training(_workload(), "1%", fake_measure, TrainingSettings(rounds=2), recipes)
    assert [s.recipe for s in r.skipped] == ["freeze x"]
    assert "matches no parameter" in r.skipped[0].reason


def test_failing_evaluation_on_baseline(fake_measure: FakeMeasure) -> None:
    def boom(m: nn.Module) -> float:
        raise ValueError("bad eval")

    with pytest.raises(OptimizeError, match="bad eval"):
        optimize_training(_workload(evaluate=boom), "1%", fake_measure, TrainingSettings(rounds=1))


def test_stop_at_energy_budget(fake_measure: FakeMeasure) -> None:
    def fixed(fn: object) -> object:
        from wattwise.optimize import EnergySample

        fn()  # type: ignore[operator]
        return EnergySample(2.0, 0.01, True, "fake")

    _, steps, spent = train_within_energy(_workload(), TrainRecipe("b"), fixed, budget_j=7.0)  # type: ignore[arg-type]
    assert steps == 4 and spent == pytest.approx(8.0)
    with pytest.raises(ConfigError):
        train_within_energy(_workload(), TrainRecipe("b"), fixed, budget_j=0)  # type: ignore[arg-type]


def test_energy_budget_recipe_stops_early() -> None:
    from wattwise.optimize import EnergySample

    def fixed(fn: object) -> EnergySample:
        fn()  # type: ignore[operator]
        return EnergySample(1.0, 0.01, True, "fake")

    settings = TrainingSettings(rounds=1, energy_budget_j=3.0, accumulations=())
    recipes = [r for r in default_recipes(_workload(steps=10), settings) if not r.freeze]
    assert recipes[-1].name == "stop at 3 J"
    r = optimize_training(_workload(steps=10), "100%", fixed, settings, recipes)
    stop = next(c for c in r.candidates if c.name == "stop at 3 J")
    assert stop.items_per_pass == 3  # three 1 J steps, then the budget is spent
