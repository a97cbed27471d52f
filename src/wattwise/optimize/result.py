"""What a search found: candidates with their quality and energy, and the choice.

Plain dataclasses, so the report writers and the CLI never need torch.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from wattwise.optimize.budget import QualityBudget


@dataclass
class Candidate:
    """One recipe, built and judged.

    Units: ``energy_samples_j`` J per item (one per measured round),
    ``duration_samples_s`` s per pass over the sample inputs, sizes in bytes.
    """

    name: str
    recipe: dict[str, Any]
    backend: Any = None
    quality: float | None = None
    test_quality: float | None = None
    agreement: float | None = None
    energy_samples_j: list[float] = field(default_factory=list)
    duration_samples_s: list[float] = field(default_factory=list)
    items_per_pass: int = 0
    batches_per_pass: int = 0
    size_bytes: int | None = None
    sparse_size_bytes: int | None = None
    meets_budget: bool = False
    pareto: bool = False
    error: str | None = None
    traceback: str | None = None
    notes: list[str] = field(default_factory=list)
    quality_from: str | None = None

    @property
    def energy_per_item_j(self) -> float | None:
        """Median energy per item over the measured rounds. Units: J."""
        return statistics.median(self.energy_samples_j) if self.energy_samples_j else None

    @property
    def latency_s(self) -> float | None:
        """Median time per batch. Units: s."""
        if not self.duration_samples_s or not self.batches_per_pass:
            return None
        return statistics.median(self.duration_samples_s) / self.batches_per_pass

    @property
    def throughput_items_per_s(self) -> float | None:
        """Items per second over a pass (median pass). Units: 1/s."""
        if not self.duration_samples_s:
            return None
        med = statistics.median(self.duration_samples_s)
        return self.items_per_pass / med if med > 0 else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (no model object)."""
        return {
            "name": self.name,
            "recipe": self.recipe,
            "quality": self.quality,
            "test_quality": self.test_quality,
            "agreement": self.agreement,
            "energy_per_item_j": self.energy_per_item_j,
            "energy_samples_j": self.energy_samples_j,
            "latency_s": self.latency_s,
            "throughput_items_per_s": self.throughput_items_per_s,
            "size_bytes": self.size_bytes,
            "sparse_size_bytes": self.sparse_size_bytes,
            "meets_budget": self.meets_budget,
            "pareto": self.pareto,
            "error": self.error,
            "traceback": self.traceback,
            "notes": self.notes,
            "quality_from": self.quality_from,
        }


@dataclass
class Skipped:
    """A recipe or a layer a recipe could not handle, and why."""

    recipe: str
    reason: str
    layer: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"recipe": self.recipe, "layer": self.layer, "reason": self.reason}


@dataclass
class OptimizeResult:
    """The outcome of one ``optimize`` run (inference or training)."""

    workload: str
    kind: str
    metric: str
    higher_is_better: bool
    budget: QualityBudget
    baseline: Candidate
    chosen: Candidate
    candidates: list[Candidate]
    skipped: list[Skipped]
    budget_met: bool
    message: str
    measurement: dict[str, Any]
    quality_floor: float
    saved_model: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def energy_ratio(self) -> float | None:
        """Baseline energy per item / chosen energy per item (>1 is a saving)."""
        b, c = self.baseline.energy_per_item_j, self.chosen.energy_per_item_j
        return b / c if b is not None and c else None

    def to_dict(self) -> dict[str, Any]:
        """The report's JSON shape (documented in ARCHITECTURE.md)."""
        return {
            "workload": self.workload,
            "kind": self.kind,
            "metric": {"name": self.metric, "higher_is_better": self.higher_is_better},
            "budget": self.budget.to_dict(),
            "quality_floor": self.quality_floor,
            "budget_met": self.budget_met,
            "message": self.message,
            "measurement": self.measurement,
            "energy_ratio": self.energy_ratio,
            "baseline": self.baseline.to_dict(),
            "chosen": self.chosen.to_dict(),
            "candidates": [c.to_dict() for c in self.candidates],
            "skipped": [s.to_dict() for s in self.skipped],
            "saved_model": self.saved_model,
            "extra": self.extra,
        }


def mark_pareto(cands: list[Candidate], higher_is_better: bool = True) -> None:
    """Set ``pareto`` on candidates no other beats on both energy and quality."""
    pts = [
        c
        for c in cands
        if c.energy_per_item_j is not None and c.quality is not None and c.error is None
    ]
    sign = 1.0 if higher_is_better else -1.0
    for c in cands:
        c.pareto = False
    for c in pts:
        e, q = c.energy_per_item_j, sign * (c.quality or 0.0)
        assert e is not None
        dominated = False
        for o in pts:
            if o is c:
                continue
            oe, oq = o.energy_per_item_j, sign * (o.quality or 0.0)
            assert oe is not None
            if oe <= e and oq >= q and (oe < e or oq > q):
                dominated = True
                break
        c.pareto = not dominated
