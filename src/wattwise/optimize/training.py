"""Training recipes: mixed precision, gradient accumulation, freezing, an energy budget.

Each recipe trains a fresh model for the workload's number of steps (same effective
batch), measured as one window per run; recipes run interleaved over rounds and are
compared on the median energy per step and the median quality after training.
"""

from __future__ import annotations

import math
import statistics
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wattwise.errors import ConfigError, OptimizeError
from wattwise.optimize.budget import QualityBudget
from wattwise.optimize.measure import EnergySample, MeasureFn
from wattwise.optimize.result import Candidate, OptimizeResult, Skipped, mark_pareto
from wattwise.optimize.workload import TrainingWorkload


@dataclass(frozen=True)
class TrainRecipe:
    """How to run the steps. ``accumulate`` micro-batches make one optimizer step."""

    name: str
    autocast: str | None = None  # "bf16" | "fp16"
    accumulate: int = 1
    freeze: tuple[str, ...] = ()
    energy_budget_j: float | None = None  # stop when the meter says this much is spent

    def to_dict(self) -> dict[str, Any]:
        return {
            "autocast": self.autocast,
            "accumulate": self.accumulate,
            "freeze": list(self.freeze),
            "energy_budget_j": self.energy_budget_j,
        }


@dataclass
class TrainingSettings:
    rounds: int = 3
    accumulations: tuple[int, ...] = (2, 4)
    energy_budget_j: float | None = None  # adds a recipe that stops at this energy (J)
    threads: int | None = None  # intra-op threads for every recipe (None: torch default)
    progress: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


def default_recipes(workload: TrainingWorkload, settings: TrainingSettings) -> list[TrainRecipe]:
    """fp32 baseline, bf16 autocast, accumulation, and freezing each listed prefix."""
    recipes = [TrainRecipe("fp32 (baseline)"), TrainRecipe("bf16 autocast", autocast="bf16")]
    for k in settings.accumulations:
        if workload.batch_size % k == 0:
            recipes.append(TrainRecipe(f"accumulate {k}x{workload.batch_size // k}", accumulate=k))
    frozen: tuple[str, ...] = ()
    for prefix in workload.freezable:
        frozen = (*frozen, prefix)
        recipes.append(TrainRecipe(f"freeze {'+'.join(frozen)}", freeze=frozen))
        recipes.append(
            TrainRecipe(f"freeze {'+'.join(frozen)} + bf16", autocast="bf16", freeze=frozen)
        )
    if settings.energy_budget_j is not None:
        budget = settings.energy_budget_j
        recipes.append(TrainRecipe(f"stop at {budget:g} J", energy_budget_j=budget))
    return recipes


def train(
    workload: TrainingWorkload,
    recipe: TrainRecipe,
    steps: int | None = None,
    step_hook: Callable[[int], bool] | None = None,
) -> tuple[Any, int]:
    """Train a fresh model with ``recipe``; return (model, steps done).

    ``step_hook(step)`` runs after every optimizer step; returning False stops early.
    """
    import torch

    model = workload.model_factory()
    names = [n for n, _ in model.named_parameters()]
    for prefix in recipe.freeze:
        if not any(n == prefix or n.startswith(prefix + ".") for n in names):
            raise ConfigError(f"freeze prefix {prefix!r} matches no parameter of the model")
    for n, p in model.named_parameters():
        if any(n == f or n.startswith(f + ".") for f in recipe.freeze):
            p.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ConfigError(f"recipe {recipe.name!r} freezes every parameter")
    opt = torch.optim.AdamW(params, lr=workload.lr)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(recipe.autocast or "")
    micro = workload.batch_size // recipe.accumulate
    model.train()
    total = steps if steps is not None else workload.steps
    done = 0
    for step in range(total):
        opt.zero_grad(set_to_none=True)
        x, y = workload.batches(workload.batch_size, step)
        for i in range(recipe.accumulate):
            xs, ys = x[i * micro : (i + 1) * micro], y[i * micro : (i + 1) * micro]
            if dtype is not None:
                with torch.autocast("cpu", dtype=dtype):
                    loss = workload.loss(model, xs, ys)
            else:
                loss = workload.loss(model, xs, ys)
            (loss.float() / recipe.accumulate).backward()
        opt.step()
        done += 1
        if step_hook is not None and not step_hook(step):
            break
    model.eval()
    return model, done


def train_within_energy(
    workload: TrainingWorkload,
    recipe: TrainRecipe,
    measure: MeasureFn,
    budget_j: float,
    max_steps: int | None = None,
) -> tuple[Any, int, float]:
    """Train until the meter says ``budget_j`` is spent; return (model, steps, J used).

    Each step is one meter window, so the stop lands within one step of the budget.
    Units: ``budget_j`` J.
    """
    if not budget_j > 0:
        raise ConfigError(f"energy budget must be > 0 J, got {budget_j}")
    import torch

    model = workload.model_factory()
    opt = torch.optim.AdamW(model.parameters(), lr=workload.lr)
    dtype = torch.bfloat16 if recipe.autocast == "bf16" else None
    spent = 0.0
    steps = 0
    limit = max_steps if max_steps is not None else 10 * workload.steps
    model.train()

    def one_step() -> None:
        opt.zero_grad(set_to_none=True)
        x, y = workload.batches(workload.batch_size, steps)
        if dtype is not None:
            with torch.autocast("cpu", dtype=dtype):
                loss = workload.loss(model, x, y)
        else:
            loss = workload.loss(model, x, y)
        loss.float().backward()
        opt.step()

    while spent < budget_j and steps < limit:
        sample = measure(one_step)
        spent += sample.energy_j
        steps += 1
    model.eval()
    return model, steps, spent


def _with_threads(threads: int | None, fn: Callable[..., Any], *args: Any) -> Any:
    import torch

    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return fn(*args)
    finally:
        torch.set_num_threads(previous)


def optimize_training(
    workload: TrainingWorkload,
    budget: QualityBudget | str | None = None,
    measure: MeasureFn | None = None,
    settings: TrainingSettings | None = None,
    recipes: list[TrainRecipe] | None = None,
) -> OptimizeResult:
    """Run every recipe interleaved, pick the least energy per step within the budget."""
    from wattwise.optimize.measure import MeterMeasure

    s = settings or TrainingSettings()
    raw = budget if budget is not None else workload.budget
    qb = raw if isinstance(raw, QualityBudget) else QualityBudget.parse(raw)
    owned = measure is None
    meas: MeasureFn = measure if measure is not None else MeterMeasure()
    recipes = recipes or default_recipes(workload, s)
    cands = {r.name: Candidate(r.name, {"kind": "training", **r.to_dict()}) for r in recipes}
    qualities: dict[str, list[float]] = {r.name: [] for r in recipes}
    skipped: list[Skipped] = []
    last: EnergySample | None = None
    live = list(recipes)
    try:
        for rnd in range(s.rounds):
            order = live[rnd % len(live) :] + live[: rnd % len(live)] if live else []
            for r in order:
                c = cands[r.name]
                box: dict[str, Any] = {}

                def run(r: TrainRecipe = r, box: dict[str, Any] = box) -> None:
                    if r.energy_budget_j is not None:  # nested meter windows, one per step
                        box["model"], box["steps"], _ = _with_threads(
                            s.threads, train_within_energy, workload, r, meas, r.energy_budget_j
                        )
                    else:
                        box["model"], box["steps"] = _with_threads(s.threads, train, workload, r)

                try:
                    sample = meas(run)
                except ConfigError as err:
                    skipped.append(Skipped(r.name, str(err)))
                    live.remove(r)
                    continue
                except Exception as err:
                    c.error = f"training raised {type(err).__name__}: {err}"
                    c.traceback = traceback.format_exc()
                    live.remove(r)
                    continue
                last = sample
                c.energy_samples_j.append(sample.energy_j / box["steps"])
                c.duration_samples_s.append(sample.duration_s)
                c.items_per_pass = box["steps"]
                c.batches_per_pass = box["steps"]
                try:
                    qualities[r.name].append(float(workload.evaluate(box["model"])))
                except Exception as err:
                    c.error = f"evaluation raised {type(err).__name__}: {err}"
                    c.traceback = traceback.format_exc()
                    live.remove(r)
    finally:
        if owned and isinstance(meas, MeterMeasure):
            meas.close()
    for name, qs in qualities.items():
        if qs and cands[name].error is None:
            cands[name].quality = statistics.median(qs)
    baseline = cands[recipes[0].name]
    if baseline.quality is None:
        raise OptimizeError(
            f"the baseline training recipe failed: {baseline.error or 'no quality'}",
            hint="its traceback is in the report" if baseline.traceback else None,
        )
    hib = workload.higher_is_better
    reachable = qb.keeps(baseline.quality, baseline.quality, hib)
    for c in cands.values():
        c.meets_budget = (
            reachable
            and c.quality is not None
            and c.error is None
            and qb.keeps(c.quality, baseline.quality, hib)
        )
    baseline.meets_budget = reachable
    all_c = list(cands.values())
    mark_pareto(all_c, hib)
    feasible = [c for c in all_c if c.meets_budget and c.energy_per_item_j is not None]
    if not reachable or not feasible:
        chosen = baseline
        message = (
            f"budget unreachable: baseline {workload.metric} {baseline.quality:.4g} is below "
            f"the floor {qb.floor(baseline.quality, hib):.4g}; keeping the baseline"
        )
    else:
        chosen = min(feasible, key=lambda c: c.energy_per_item_j or math.inf)
        ratio = (baseline.energy_per_item_j or 0.0) / (chosen.energy_per_item_j or 1.0)
        message = (
            f"chose {chosen.name}: {ratio:.2f}x less energy per step, "
            f"{workload.metric} {chosen.quality:.4g} vs {baseline.quality:.4g}"
            if chosen is not baseline
            else "no recipe spent less energy within the budget; keeping the baseline"
        )
    return OptimizeResult(
        workload=workload.name,
        kind="training",
        metric=workload.metric,
        higher_is_better=hib,
        budget=qb,
        baseline=baseline,
        chosen=chosen,
        candidates=all_c,
        skipped=skipped,
        budget_met=reachable,
        message=message,
        measurement={
            "source": last.source if last else None,
            "estimated": last.estimated if last else None,
            "devices": list(last.devices) if last else [],
            "rounds": s.rounds,
            "threads": s.threads,
            "items_per_pass": workload.steps,
            "interleaved": True,
        },
        quality_floor=qb.floor(baseline.quality, hib),
        extra={"item": "step", "steps": workload.steps, "batch_size": workload.batch_size},
    )
