"""A batch-size optimizer for a job that recurs (the same training, run again and again).

Exploration walks out from the user's default batch size one neighbour at a time and
turns back in a direction once ``patience`` sizes in a row neither beat the best seen
nor improve on their neighbour (costs are close to unimodal in batch size), instead
of trying every size. Runs are stopped once they pass ``beta`` times the best cost.
After that it exploits the cheapest mean cost, re-running a runner-up once when it is
within ``recheck`` of the best, because one training path is a noisy sample.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from wattwise.errors import ConfigError


@dataclass
class BatchSizeOptimizer:
    """Chooses the next batch size from observed costs (``cost`` in J, Zeus's metric)."""

    batch_sizes: Sequence[int]
    default_bs: int
    beta: float = 2.0
    recheck: float = 0.1
    patience: int = 3
    costs: dict[int, list[float]] = field(default_factory=dict)
    failed: set[int] = field(default_factory=set)
    _frontier: list[int] = field(default_factory=list)
    _explored: set[int] = field(default_factory=set)
    _rechecked: set[int] = field(default_factory=set)
    _misses: dict[bool, int] = field(default_factory=dict)
    _prev: dict[bool, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.batch_sizes = sorted(set(self.batch_sizes))
        if self.default_bs not in self.batch_sizes:
            raise ConfigError(
                f"default batch size {self.default_bs} is not among {list(self.batch_sizes)}"
            )
        if self.beta <= 1.0:
            raise ConfigError(f"beta must be > 1, got {self.beta}")
        i = self.batch_sizes.index(self.default_bs)
        self._down = list(reversed(self.batch_sizes[:i]))
        self._up = list(self.batch_sizes[i + 1 :])
        self._frontier = [self.default_bs]

    def _mean(self, bs: int) -> float:
        c = self.costs.get(bs)
        return statistics.fmean(c) if c else math.inf

    def best(self) -> int:
        """The batch size with the least mean cost so far (the default before any run)."""
        done = [b for b in self.costs if b not in self.failed]
        return min(done, key=self._mean) if done else self.default_bs

    def cost_cap(self) -> float:
        """Stop a run once its cost passes this. Units: J."""
        done = [self._mean(b) for b in self.costs if b not in self.failed]
        return self.beta * min(done) if done else math.inf

    def exploring(self) -> bool:
        return bool(self._frontier) or bool(self._down) or bool(self._up)

    def next_batch_size(self) -> int:
        if self._frontier:
            return self._frontier[0]
        best = self.best()
        # Re-run a close runner-up once: one path per size is a noisy estimate.
        close = [
            b
            for b in self.costs
            if b != best
            and b not in self.failed
            and b not in self._rechecked
            and self._mean(b) <= (1 + self.recheck) * self._mean(best)
        ]
        if close:
            self._rechecked.add(close[0])
            return close[0]
        return best

    def observe(self, bs: int, cost: float, reached: bool) -> None:
        """Record a run's cost; a run stopped short marks its size as failed."""
        if self._frontier and self._frontier[0] == bs:
            self._frontier.pop(0)
        first = bs not in self._explored
        self._explored.add(bs)
        if not reached:
            self.failed.add(bs)
            self.costs.pop(bs, None)
        else:
            self.costs.setdefault(bs, []).append(cost)
        if not first:
            return
        # Walk outward while sizes make progress; tolerate ``patience`` - 1 misses in a
        # row (one training path is noisy); a stopped run ends the direction.
        going_down = bs < self.default_bs
        prev = self._prev.get(going_down, self._mean(self.default_bs))
        # Progress: a new best, or still falling from the previous size in this direction.
        improved = reached and (
            self._mean(bs) <= prev
            or all(
                self._mean(bs) <= self._mean(b)
                for b in self.costs
                if b != bs and b not in self.failed
            )
        )
        if reached:
            self._prev[going_down] = self._mean(bs)
        if bs == self.default_bs:
            if self._down:
                self._frontier.append(self._down.pop(0))
            elif self._up:
                self._frontier.append(self._up.pop(0))
            return
        pending = self._down if going_down else self._up
        misses = 0 if improved else self._misses.get(going_down, 0) + 1
        self._misses[going_down] = misses
        if reached and misses < self.patience and pending:
            self._frontier.append(pending.pop(0))
            return
        pending.clear()
        if going_down and self._up:
            self._frontier.append(self._up.pop(0))
