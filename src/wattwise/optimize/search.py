"""The inference search: build recipes, judge quality, measure energy interleaved, choose.

1. Quality pass: every recipe is built and evaluated once (an evaluation that
   raises is recorded with its traceback and never retried). Int8 recipes that miss
   the budget are retried with the most sensitive layers left in float, found by
   quantising one layer at a time and comparing outputs with fp32.
2. Energy pass: all candidates are measured in interleaved rounds (A B C, B C A...)
   and compared on the median energy per item.
3. Knob pass: the cheapest candidates that keep the budget are re-measured with
   each thread count and batch size, interleaved with the baseline.
The cheapest candidate that keeps the budget wins; if none does, the baseline stays.
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from wattwise.errors import OptimizeError
from wattwise.optimize.budget import QualityBudget
from wattwise.optimize.measure import EnergySample, MeasureFn
from wattwise.optimize.result import Candidate, OptimizeResult, Skipped, mark_pareto
from wattwise.optimize.workload import InferenceWorkload

log = logging.getLogger(__name__)

ALL_RUNTIMES = (
    "fp32",
    "bf16",
    "fp16",
    "torch-int8-tensor",
    "torch-int8-channel",
    "ort-fp32",
    "ort-int8-tensor",
    "ort-int8-channel",
)
# On a pruned model fp32 is the pruned candidate itself, and fp16 autocast and
# per-tensor int8 are dominated by bf16 / per-channel int8 as on the original.
_NOT_AFTER_PRUNING = frozenset({"fp32", "fp16", "torch-int8-tensor"})
# How many sensitive layers to leave in float, tried in this order until the budget holds.
SKIP_STEPS = (1, 2, 3, 4, 6, 8, 12, 16, 24)


@dataclass
class SearchSettings:
    """Knobs of the search itself."""

    runtimes: Sequence[str] = ALL_RUNTIMES
    structured_prune: bool = True
    unstructured_sparsities: Sequence[float] = (0.5, 0.9)
    rounds: int = 5
    knob_rounds: int = 5
    knob_top: int = 3
    thread_options: Sequence[int] | None = None
    sensitivity_items: int = 64
    measure_items: int | None = None
    min_window_s: float = 0.5
    # Optional guard: a recipe whose outputs' mean cosine to fp32 (on the sensitivity
    # sample) is below this does not keep the budget, whatever its metric says.
    min_agreement: float | None = None
    progress: bool = True
    workdir: Path | None = None
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class _Progress:
    """A rich progress bar on stderr, or nothing."""

    def __init__(self, enabled: bool) -> None:
        self._bar: Any = None
        self._task: Any = None
        if enabled:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                TextColumn("[bold]optimize[/] {task.description:<38}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )

    @contextmanager
    def phase(self, description: str, total: int) -> Iterator[Callable[[str], None]]:
        if self._bar is None:
            yield lambda _label: None
            return
        task = self._bar.add_task(description, total=total)

        def step(label: str) -> None:
            self._bar.update(task, advance=1, description=f"{description}: {label}"[:38])

        with self._bar:
            yield step
        self._bar.remove_task(task)


class InferenceSearch:
    """One search over one workload. Use :func:`optimize_inference`."""

    def __init__(
        self,
        workload: InferenceWorkload,
        budget: QualityBudget,
        measure: MeasureFn,
        settings: SearchSettings,
    ) -> None:
        self.w = workload
        self.budget = budget
        self.measure = measure
        self.s = settings
        self.skipped: list[Skipped] = []
        self.candidates: list[Candidate] = []
        self._errors_seen: dict[str, str] = {}
        self._tmp = tempfile.TemporaryDirectory(prefix="wattwise-optimize-")
        self.workdir = settings.workdir or Path(self._tmp.name)
        self.progress = _Progress(settings.progress)
        n = len(workload.inputs)
        k = settings.measure_items or n
        self.measure_inputs = list(workload.inputs)[: min(k, n)]
        self.sens_inputs = list(workload.inputs)[: min(settings.sensitivity_items, n)]
        self.baseline_quality = math.nan
        self.floor = math.nan

    # ---------------------------------------------------------------- quality
    def _predictor(self, backend: Any, batch_size: int | None = None) -> Any:
        from wattwise.optimize.backends import BatchRunner

        return BatchRunner(backend, self.w, batch_size or self.w.batch_size)

    def _evaluate(self, cand: Candidate) -> None:
        """Evaluate once; on an exception record it (traceback only the first time)."""
        predict = self._predictor(cand.backend)
        try:
            value = float(self.w.evaluate(predict))
        except Exception as err:
            summary = f"{type(err).__name__}: {err}"
            first = self._errors_seen.get(summary)
            cand.error = f"evaluation raised {summary}"
            if first is None:
                self._errors_seen[summary] = cand.name
                cand.traceback = traceback.format_exc()
                log.error("evaluation of %s raised:\n%s", cand.name, cand.traceback)
            else:
                cand.notes.append(f"same error as {first}; traceback reported there")
            return
        if not math.isfinite(value):
            cand.error = f"evaluation returned {value}"
            return
        cand.quality = value
        hib = self.w.higher_is_better
        # Under an unreachable floor nothing keeps the budget, not even a lucky recipe.
        cand.meets_budget = self.budget.keeps(
            value, self.baseline_quality, hib
        ) and self.budget.keeps(self.baseline_quality, self.baseline_quality, hib)

    def _agreement(self, cand: Candidate, reference: np.ndarray) -> None:
        """Mean cosine between this candidate's outputs and fp32's on the sample."""
        try:
            out = self._predictor(cand.backend)(self.sens_inputs)
        except Exception as err:
            cand.error = cand.error or f"prediction raised {type(err).__name__}: {err}"
            return
        cand.agreement = _mean_cosine(out, reference)
        floor = self.s.min_agreement
        if floor is not None and cand.meets_budget and cand.agreement < floor:
            cand.meets_budget = False
            cand.notes.append(f"cosine to fp32 {cand.agreement:.4f} < guard {floor:g}")

    def _add(self, name: str, recipe: dict[str, Any], build: Callable[[], Any]) -> Candidate | None:
        """Build a backend; a recipe that cannot be built is skipped with its reason."""
        try:
            backend = build()
        except _Skip as skip:
            self.skipped.append(Skipped(name, str(skip)))
            return None
        except OptimizeError as err:
            self.skipped.append(Skipped(name, str(err)))
            return None
        except Exception as err:
            self.skipped.append(Skipped(name, f"{type(err).__name__}: {err}"))
            return None
        cand = Candidate(name=name, recipe=recipe, backend=backend)
        try:
            cand.size_bytes = backend.size_bytes()
        except Exception as err:  # size is informative only; keep the candidate
            cand.notes.append(f"size unknown: {err}")
        self.candidates.append(cand)
        return cand

    # ---------------------------------------------------------------- recipes
    def run(self) -> OptimizeResult:
        import torch

        from wattwise.optimize.backends import TorchBackend

        try:
            base_model = self.w.model_factory().eval()
        except Exception as err:
            raise OptimizeError(
                f"model factory of {self.w.name!r} raised {type(err).__name__}: {err}"
            ) from err
        if not isinstance(base_model, torch.nn.Module):
            raise OptimizeError(
                f"model factory of {self.w.name!r} returned {type(base_model).__name__}, "
                "not a torch.nn.Module"
            )
        self.base_model = base_model
        baseline = Candidate(
            "fp32 (baseline)",
            {"runtime": "fp32", "batch_size": self.w.batch_size, "threads": None},
            backend=TorchBackend(base_model, self.w.forward),
        )
        baseline.size_bytes = baseline.backend.size_bytes()
        self.candidates.append(baseline)
        self._evaluate(baseline)
        if baseline.quality is None:
            raise OptimizeError(
                f"the evaluation function failed on the fp32 baseline: {baseline.error}",
                hint="fix the evaluation function; its traceback was logged once",
            )
        self.baseline_quality = baseline.quality
        baseline.meets_budget = True
        self.floor = self.budget.floor(self.baseline_quality, self.w.higher_is_better)
        reference = self._predictor(baseline.backend)(self.sens_inputs)
        self._reference = reference
        baseline.agreement = 1.0

        models = self._transforms(base_model)
        # On a pruned model only the runtimes that can still win are tried again.
        jobs: list[tuple[str, torch.nn.Module, str]] = [
            (label, model, rt)
            for label, model in models
            for rt in self.s.runtimes
            if not label or rt not in _NOT_AFTER_PRUNING
        ]
        with self.progress.phase("quality", len(jobs)) as step:
            for label, model, runtime in jobs:
                name = runtime if not label else f"{label} + {runtime}"
                step(name)
                if not label and runtime == "fp32":
                    continue  # that is the baseline
                cand = self._add(
                    name,
                    {"transform": label or None, "runtime": runtime},
                    partial(self._build, model, runtime, label, ()),
                )
                if cand is None:
                    continue
                self._evaluate(cand)
                if cand.error is None:
                    self._agreement(cand, reference)
                if (
                    cand.error is None
                    and not cand.meets_budget
                    and "int8" in runtime
                    and runtime.endswith("channel")
                ):
                    self._skip_sensitive(model, runtime, label, reference)

        self._measure_all()
        self._knobs(baseline)
        return self._finish(baseline)

    def _transforms(self, base: Any) -> list[tuple[str, Any]]:
        """The model variants to try every runtime on: fp32 and the best structured prune."""
        from wattwise.optimize.backends import TorchBackend
        from wattwise.optimize.pruning import (
            find_linear_pairs,
            prune_structured,
            prune_unstructured,
            sparse_size_bytes,
        )

        out: list[tuple[str, Any]] = [("", base)]
        # Unstructured pruning: a size win, measured as is (dense kernels).
        for sp in self.s.unstructured_sparsities:
            name = f"unstructured {int(sp * 100)}%"
            res = prune_unstructured(base, sp)
            cand = self._add(
                name,
                {"transform": name, "runtime": "fp32"},
                partial(TorchBackend, res.model, self.w.forward),
            )
            if cand is not None:
                cand.sparse_size_bytes = sparse_size_bytes(res.model)
                cand.notes.append("size win when stored sparse; dense kernels do the same work")
                self._evaluate(cand)
                if cand.error is None:
                    self._agreement(cand, self._reference)
        if not self.s.structured_prune:
            return out
        pairs = list(self.w.prunable) if self.w.prunable is not None else None
        if pairs is None:
            pairs, skipped = find_linear_pairs(base)
            for layer, reason in skipped:
                self.skipped.append(Skipped("structured prune", reason, layer))
        if not pairs:
            self.skipped.append(Skipped("structured prune", "no prunable Linear pairs found"))
            return out
        best: tuple[str, Any] | None = None
        with self.progress.phase("structured pruning", len(self.w.prune_ratios)) as step:
            for ratio in sorted(self.w.prune_ratios):
                name = f"pruned {int(ratio * 100)}%"
                step(name)
                res = prune_structured(base, ratio, pairs)
                for layer, reason in res.skipped:
                    self.skipped.append(Skipped(name, reason, layer))
                if self.w.finetune is not None:
                    try:
                        self.w.finetune(res.model)
                    except Exception as err:
                        self.skipped.append(Skipped(name, f"fine-tune raised {err!r}"))
                        continue
                res.model.eval()
                cand = self._add(
                    name,
                    {
                        "transform": name,
                        "runtime": "fp32",
                        "finetuned": self.w.finetune is not None,
                    },
                    partial(TorchBackend, res.model, self.w.forward),
                )
                if cand is None:
                    continue
                cand.notes.extend(res.pruned)
                self._evaluate(cand)
                if cand.error is None:
                    self._agreement(cand, self._reference)
                if cand.meets_budget:
                    best = (name, res.model)
        if best is not None:
            out.append(best)
        return out

    def _build(self, model: Any, runtime: str, label: str, skip: Sequence[str]) -> Any:
        import torch

        from wattwise.optimize.backends import OrtBackend, TorchBackend
        from wattwise.optimize.quantize import (
            export_onnx,
            onnx_node_names,
            ort_int8,
            quantizable_linears,
            torch_int8,
        )

        fwd = self.w.forward
        if runtime == "fp32":
            return TorchBackend(model, fwd)
        if runtime in ("bf16", "fp16"):
            dtype = torch.bfloat16 if runtime == "bf16" else torch.float16
            return TorchBackend(model, fwd, autocast_dtype=dtype)
        if runtime.startswith("torch-int8"):
            ok, cannot = quantizable_linears(model)
            if not ok:
                raise _Skip("no Linear layer dynamic int8 can replace")
            for layer, reason in cannot:
                self.skipped.append(Skipped(runtime, reason, layer))
            return TorchBackend(torch_int8(model, runtime.endswith("channel"), skip), fwd)
        if runtime.startswith("ort"):
            tag = (label or "base").replace(" ", "_").replace("%", "pct")
            fp32_path = self.workdir / f"{tag}.onnx"
            if not fp32_path.exists():
                sample = self.w.collate(self.sens_inputs[: min(4, len(self.sens_inputs))])
                from wattwise.optimize.backends import default_forward

                export_onnx(model, sample, fwd or default_forward, fp32_path)
            if runtime == "ort-fp32":
                return OrtBackend(fp32_path)
            nodes: list[str] = []
            if skip:
                found = onnx_node_names(fp32_path, skip)
                for layer, names in found.items():
                    if not names:
                        self.skipped.append(
                            Skipped(runtime, "no MatMul/Gemm node found for it in ONNX", layer)
                        )
                    nodes.extend(names)
            per_channel = runtime.endswith("channel")
            out = self.workdir / f"{tag}-{runtime}-skip{len(skip)}.onnx"
            return OrtBackend(ort_int8(fp32_path, out, per_channel, nodes))
        raise _Skip(f"unknown runtime {runtime!r}")

    def _skip_sensitive(self, model: Any, runtime: str, label: str, reference: np.ndarray) -> None:
        """Leave the most sensitive Linears in float, fewest first, until the budget holds."""
        ranking = self._sensitivity(model, label)
        if not ranking:
            return
        for k in SKIP_STEPS:
            if k >= len(ranking):
                break
            skip = [name for name, _ in ranking[:k]]
            name = f"{label + ' + ' if label else ''}{runtime} skip {k}"
            cand = self._add(
                name,
                {"transform": label or None, "runtime": runtime, "float_layers": skip},
                partial(self._build, model, runtime, label, skip),
            )
            if cand is None:
                return
            cand.notes.append("float layers: " + ", ".join(skip))
            self._evaluate(cand)
            if cand.error is not None:
                return
            self._agreement(cand, reference)
            if cand.meets_budget:
                return

    def _sensitivity(self, model: Any, label: str) -> list[tuple[str, float]]:
        """Linears ranked by output error when only that layer is int8 (per-channel)."""
        cache: dict[str, list[tuple[str, float]]] = self.__dict__.setdefault("_sens_cache", {})
        if label in cache:
            return cache[label]
        from wattwise.optimize.backends import BatchRunner, TorchBackend
        from wattwise.optimize.quantize import quantizable_linears, torch_int8

        ref = BatchRunner(TorchBackend(model, self.w.forward), self.w, self.w.batch_size)(
            self.sens_inputs
        )
        names, _ = quantizable_linears(model)
        scores: list[tuple[str, float]] = []
        with self.progress.phase("layer sensitivity", len(names)) as step:
            for layer in names:
                step(layer)
                q = torch_int8(model, per_channel=True, only=[layer])
                out = BatchRunner(TorchBackend(q, self.w.forward), self.w, self.w.batch_size)(
                    self.sens_inputs
                )
                scores.append((layer, 1.0 - _mean_cosine(out, ref)))
        scores.sort(key=lambda t: t[1], reverse=True)
        cache[label] = scores
        return scores

    # ---------------------------------------------------------------- energy
    def _measure(self, cands: list[Candidate], rounds: int, label: str) -> None:
        """Interleaved rounds; each round starts one candidate later (A B C, B C A, ...).

        Each window repeats the pass until it lasts about ``min_window_s``, so the
        meter's tick (CPU time is counted in 10 ms steps) stays small against it.
        """
        items = self.measure_inputs
        predictors = {id(c): self._predictor(c.backend, c.recipe.get("batch_size")) for c in cands}
        reps: dict[int, int] = {}
        with self.progress.phase(label, rounds * len(cands)) as step:
            for c in cands:  # warm-up (lazy init, first-run allocations) and calibration
                try:
                    predictors[id(c)](items[: min(len(items), 8)])
                    t0 = time.perf_counter()
                    predictors[id(c)](items)
                    took = time.perf_counter() - t0
                except Exception as err:
                    c.error = c.error or f"prediction raised {type(err).__name__}: {err}"
                    continue
                reps[id(c)] = max(1, math.ceil(self.s.min_window_s / max(took, 1e-6)))
            live = [c for c in cands if c.error is None]
            for r in range(rounds):
                order = live[r % len(live) :] + live[: r % len(live)] if live else []
                for c in order:
                    step(c.name)
                    predict, n = predictors[id(c)], reps[id(c)]

                    def work(p: Any = predict, n: int = n) -> None:
                        for _ in range(n):
                            p(items)

                    sample: EnergySample = self.measure(work)
                    c.energy_samples_j.append(sample.energy_j / (n * len(items)))
                    c.duration_samples_s.append(sample.duration_s / n)
                    c.items_per_pass = len(items)
                    bs = c.recipe.get("batch_size") or self.w.batch_size
                    c.batches_per_pass = math.ceil(len(items) / bs)
                    self._last_sample = sample

    def _measure_all(self) -> None:
        live = [c for c in self.candidates if c.error is None and c.backend is not None]
        self._measure(live, self.s.rounds, "energy")

    def _knobs(self, baseline: Candidate) -> None:
        """Thread count x batch size for the cheapest budget-keeping candidates."""
        import torch

        ok = [
            c
            for c in self.candidates
            if c.meets_budget and c.energy_per_item_j is not None and c is not baseline
        ]
        ok.sort(key=lambda c: c.energy_per_item_j or math.inf)
        top = ok[: self.s.knob_top]
        if not top:
            return
        threads = list(self.s.thread_options or sorted({1, torch.get_num_threads()}))
        batch_sizes = sorted({*self.w.batch_sizes, self.w.batch_size})
        variants: list[Candidate] = []
        # The baseline's own knobs too, so "fp32, tuned" is in the comparison.
        for parent in [baseline, *top]:
            for t in threads:
                for bs in batch_sizes:
                    if bs == self.w.batch_size and t == torch.get_num_threads():
                        continue  # the parent itself
                    v = Candidate(
                        f"{parent.name} | {t}T bs{bs}",
                        {**parent.recipe, "threads": t, "batch_size": bs},
                        backend=parent.backend.with_threads(t),
                        quality=parent.quality,
                        test_quality=None,
                        agreement=parent.agreement,
                        size_bytes=parent.size_bytes,
                        meets_budget=parent.meets_budget,
                        quality_from=parent.name,
                    )
                    variants.append(v)
        # Fresh interleaved rounds: baseline, parents and variants compared together.
        group = [baseline, *top]
        for c in group:
            c.energy_samples_j.clear()
            c.duration_samples_s.clear()
        self.candidates.extend(variants)
        self._measure(group + variants, self.s.knob_rounds, "threads x batch")

    # ---------------------------------------------------------------- choice
    def _finish(self, baseline: Candidate) -> OptimizeResult:
        mark_pareto(self.candidates, self.w.higher_is_better)
        feasible = [
            c
            for c in self.candidates
            if c.meets_budget and c.energy_per_item_j is not None and c.error is None
        ]
        reachable = self.budget.keeps(
            self.baseline_quality, self.baseline_quality, self.w.higher_is_better
        )
        if not reachable:
            chosen = baseline
            message = (
                f"budget unreachable: the baseline scores {self.baseline_quality:.4g} "
                f"{self.w.metric}, below the floor {self.floor:.4g}; keeping the baseline"
            )
            for c in self.candidates:
                c.meets_budget = False
        else:
            chosen = min(feasible, key=lambda c: c.energy_per_item_j or math.inf)
            if chosen is baseline:
                message = "no recipe spent less energy within the budget; keeping the baseline"
            else:
                ratio = (baseline.energy_per_item_j or 0.0) / (chosen.energy_per_item_j or 1.0)
                message = (
                    f"chose {chosen.name}: {ratio:.2f}x less energy per item, "
                    f"{self.w.metric} {chosen.quality:.4g} vs {self.baseline_quality:.4g}"
                )
        # Held-out quality for the baseline, the choice and the Pareto front.
        if self.w.test_evaluate is not None:
            done: dict[str, float | None] = {}
            for c in self.candidates:
                if not (c is baseline or c is chosen or c.pareto):
                    continue
                key = c.quality_from or c.name
                if key not in done:
                    src = next((p for p in self.candidates if p.name == key), c)
                    try:
                        done[key] = float(self.w.test_evaluate(self._predictor(src.backend)))
                    except Exception as err:
                        c.notes.append(f"test evaluation raised {type(err).__name__}: {err}")
                        done[key] = None
                c.test_quality = done[key]
        last: EnergySample | None = getattr(self, "_last_sample", None)
        measurement = {
            "source": last.source if last else None,
            "estimated": last.estimated if last else None,
            "devices": list(last.devices) if last else [],
            "rounds": self.s.rounds,
            "knob_rounds": self.s.knob_rounds,
            "items_per_pass": len(self.measure_inputs),
            "interleaved": True,
        }
        return OptimizeResult(
            workload=self.w.name,
            kind="inference",
            metric=self.w.metric,
            higher_is_better=self.w.higher_is_better,
            budget=self.budget,
            baseline=baseline,
            chosen=chosen,
            candidates=self.candidates,
            skipped=self.skipped,
            budget_met=reachable,
            message=message,
            measurement=measurement,
            quality_floor=self.floor,
        )

    def close(self) -> None:
        self._tmp.cleanup()


class _Skip(Exception):
    """A recipe does not apply to this model; the message says why."""


def _mean_cosine(a: np.ndarray, b: np.ndarray) -> float:
    a = a.reshape(len(a), -1).astype(np.float64)
    b = b.reshape(len(b), -1).astype(np.float64)
    na = np.linalg.norm(a, axis=1)
    nb = np.linalg.norm(b, axis=1)
    denom = np.where(na * nb > 0, na * nb, 1.0)
    return float(np.mean((a * b).sum(axis=1) / denom))


def optimize_inference(
    workload: InferenceWorkload,
    budget: QualityBudget | str | None = None,
    measure: MeasureFn | None = None,
    settings: SearchSettings | None = None,
    save_to: Path | None = None,
) -> OptimizeResult:
    """Search recipes for ``workload``; return the result (and save the chosen model).

    ``measure`` defaults to the wattwise meter. ``save_to`` is a directory: the
    chosen model goes to ``save_to/model.pt`` or ``save_to/model.onnx``.
    """
    from wattwise.optimize.measure import MeterMeasure

    if budget is None:
        budget = workload.budget
    qb = budget if isinstance(budget, QualityBudget) else QualityBudget.parse(budget)
    owned = measure is None
    meas: MeasureFn = measure if measure is not None else MeterMeasure()
    search = InferenceSearch(workload, qb, meas, settings or SearchSettings())
    try:
        result = search.run()
        if save_to is not None:
            result.saved_model = str(result.chosen.backend.save(Path(save_to) / "model"))
        return result
    finally:
        search.close()
        if owned and isinstance(meas, MeterMeasure):
            meas.close()
