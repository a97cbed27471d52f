"""A clock that may run faster than the wall clock, for replaying a grid trace."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Clock:
    """``now_s()`` = ``origin_s`` + (wall seconds since creation) × ``speed``.

    ``speed`` is simulated seconds per wall second (600: one wall second is ten minutes
    of the trace). The default is the real clock.
    """

    origin_s: float | None = None
    speed: float = 1.0
    _wall0: float = field(init=False, default_factory=time.time)

    def __post_init__(self) -> None:
        if self.speed <= 0:
            raise ValueError(f"clock speed must be positive, got {self.speed}")
        if self.origin_s is None:
            self.origin_s = self._wall0

    def restart(self) -> None:
        """Start counting from now again (e.g. after a slow start-up): ``now_s()`` = origin."""
        self._wall0 = time.time()

    def now_s(self) -> float:
        assert self.origin_s is not None
        return self.origin_s + (time.time() - self._wall0) * self.speed

    def to_sim_s(self, wall_s: float) -> float:
        """The simulated instant of a wall-clock instant. Units: epoch s."""
        assert self.origin_s is not None
        return self.origin_s + (wall_s - self._wall0) * self.speed

    def to_wall_s(self, sim_s: float) -> float:
        """The wall-clock instant of a simulated one (inverse of ``to_sim_s``). Units: epoch s."""
        assert self.origin_s is not None
        return self._wall0 + (sim_s - self.origin_s) / self.speed

    def wall_seconds(self, sim_seconds: float) -> float:
        """How many wall seconds a simulated span takes. Units: s."""
        return sim_seconds / self.speed
