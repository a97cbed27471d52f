"""Quality budgets: how much quality a recipe may lose against the baseline.

A budget is written the way a user says it: ``"1%"`` (relative drop), ``"0.005"``
(absolute drop, in the metric's own units) or ``">=0.815"`` (an absolute floor).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from wattwise.errors import ConfigError


@dataclass(frozen=True)
class QualityBudget:
    """At most ``max_drop`` below the baseline, or at least ``min_quality``.

    Exactly one of the three fields is set. ``max_drop_rel`` is a fraction (0.01 = 1%).
    """

    max_drop_abs: float | None = None
    max_drop_rel: float | None = None
    min_quality: float | None = None

    @classmethod
    def parse(cls, text: str | float) -> QualityBudget:
        """Read ``"1%"``, ``"0.005"`` or ``">=0.815"``; raise ConfigError otherwise."""
        if isinstance(text, int | float):
            return cls._checked(max_drop_abs=float(text))
        raw = str(text).strip().replace(" ", "")
        try:
            if raw.startswith(">="):
                return cls._checked(min_quality=float(raw[2:]))
            if raw.endswith("%"):
                return cls._checked(max_drop_rel=float(raw[:-1]) / 100.0)
            return cls._checked(max_drop_abs=float(raw))
        except ValueError:
            raise ConfigError(
                f"quality budget {text!r} is not a number",
                hint="use e.g. '1%' (relative drop), '0.005' (absolute drop) or '>=0.815'",
            ) from None

    @classmethod
    def _checked(cls, **kw: float) -> QualityBudget:
        value = next(iter(kw.values()))
        if not math.isfinite(value):
            raise ConfigError(f"quality budget must be finite, got {value}")
        if "min_quality" not in kw and value < 0:
            raise ConfigError(f"quality budget must not be negative, got {value}")
        return cls(**kw)

    def floor(self, baseline: float, higher_is_better: bool = True) -> float:
        """The worst quality that still keeps the budget. Units: the metric's."""
        if self.min_quality is not None:
            return self.min_quality
        if self.max_drop_abs is not None:
            drop = self.max_drop_abs
        else:
            drop = abs(baseline) * (self.max_drop_rel or 0.0)
        return baseline - drop if higher_is_better else baseline + drop

    def keeps(self, quality: float, baseline: float, higher_is_better: bool = True) -> bool:
        """Whether ``quality`` is within the budget of ``baseline``."""
        if not math.isfinite(quality):
            return False
        floor = self.floor(baseline, higher_is_better)
        # A hair of tolerance so the baseline always keeps a zero budget.
        eps = 1e-12 * max(1.0, abs(floor))
        return quality >= floor - eps if higher_is_better else quality <= floor + eps

    def describe(self) -> str:
        """Human-readable budget, e.g. 'at most 1% below baseline'."""
        if self.min_quality is not None:
            return f"quality >= {self.min_quality:g}"
        if self.max_drop_abs is not None:
            return f"at most {self.max_drop_abs:g} below baseline"
        return f"at most {100 * (self.max_drop_rel or 0.0):g}% below baseline"

    def to_dict(self) -> dict[str, float | str | None]:
        """JSON-ready form."""
        return {
            "max_drop_abs": self.max_drop_abs,
            "max_drop_rel": self.max_drop_rel,
            "min_quality": self.min_quality,
            "text": self.describe(),
        }
