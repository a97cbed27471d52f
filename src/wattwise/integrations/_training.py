"""What every training callback does, whatever the framework.

A :class:`TrainingMeter` opens one run when training begins (one per node in a
multi-process job, see :mod:`wattwise.node_run`), keeps a window per epoch and per
``every_n_steps`` steps, times evaluation and checkpoint saving as phases, and hands
the callback the figures to put in the framework's logs. The per-step cost is a
counter and a comparison; the meter is read only when a window turns over or a log
line is due (``bench/integrations.py`` measures it).
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from wattwise.errors import ConfigError, WattwiseError
from wattwise.meter import Measurement

#: Keys the callbacks add to the framework's logs (the contract trackers and checks use).
ENERGY_KEY, CO2E_KEY, POWER_KEY = "energy_j", "co2e_g", "power_w"
ENERGY_TOTAL_KEY, CO2E_TOTAL_KEY = "energy_j_total", "co2e_g_total"

# Trainers (or models) that already have a wattwise callback running, by id().
_active_lock = threading.Lock()
_active: dict[int, str] = {}


class Phase(StrEnum):
    TRAIN = "train"
    EVAL = "eval"
    SAVE = "save"


@dataclass
class _Interval:
    """The figures at the last log line, to turn cumulative ones into per-interval."""

    energy_j: float = 0.0
    co2e_g: float = 0.0
    elapsed_s: float = 0.0


@dataclass
class TrainingOptions:
    """What the user chose when creating a callback."""

    name: str | None = None
    every_n_steps: int = 50
    zone: str | None = None
    carbon_file: str | Path | None = None
    intensity_g_per_kwh: float | None = None
    store: bool = True
    interval_s: float | None = None
    extra_meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.every_n_steps, int) or self.every_n_steps < 1:
            raise ConfigError(
                f"every_n_steps must be a whole number >= 1, got {self.every_n_steps!r}"
            )


def warn_duplicate(framework: str) -> None:
    """One warning: a second wattwise callback on the same training measures nothing."""
    warnings.warn(
        f"wattwise: WattwiseCallback was added more than once to this {framework} training;"
        " measuring it once",
        stacklevel=4,
    )


def dedupe(callbacks: list[Any], me: object, cls: type) -> bool:
    """Drop every other ``cls`` callback (and repeats of ``me``) after ``me`` in ``callbacks``.

    Called from ``me``'s first hook while the framework iterates ``callbacks``: only
    entries after ``me`` are removed, so the iteration skips nobody. True if any were.
    """
    try:
        here = next(i for i, cb in enumerate(callbacks) if cb is me)
    except StopIteration:
        return False
    extra = [i for i in range(here + 1, len(callbacks)) if isinstance(callbacks[i], cls)]
    for i in reversed(extra):
        del callbacks[i]
    return bool(extra)


def calling_container(cls: type, depth: int = 2) -> Any:
    """The ``cls`` instance (a framework's callback list) whose method called our hook.

    ``depth`` 2 is the hook's caller; a few frames further are looked at too.
    """
    import sys

    frame: Any = sys._getframe(depth)
    for _ in range(4):
        if frame is None:
            return None
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, cls):
            return candidate
        frame = frame.f_back
    return None


def move_first(callbacks: list[Any], me: object, index: int = 0) -> None:
    """Move ``me`` to ``index`` (earlier) while the framework iterates: nobody is skipped."""
    here = next((i for i, cb in enumerate(callbacks) if cb is me), None)
    if here is not None and here > index:
        callbacks.insert(index, callbacks.pop(here))


class TrainingMeter:
    """The run of one training, driven by a framework callback's hooks."""

    def __init__(self, framework: str, options: TrainingOptions) -> None:
        self.framework = framework
        self.options = options
        self.handle: Any = None  # wattwise.node_run.RunHandle while training
        self.step = 0
        self._block_start = 0
        self._epoch: int | None = None
        self._phase_n = {Phase.EVAL: 0, Phase.SAVE: 0}
        self._open_phase: tuple[Phase, str] | None = None
        self.phases_j = {Phase.EVAL: 0.0, Phase.SAVE: 0.0}
        self._last = _Interval()
        self._owner: int | None = None
        self._carbon_warned = False

    # -- life cycle --------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while this process meters the training (not on follower ranks)."""
        return self.handle is not None and self.handle.measuring

    def start(self, owner: object, default_name: str, *, duplicate: str = "raise") -> bool:
        """Training began. ``owner`` (the trainer or model) may carry one wattwise callback.

        Another callback already measuring ``owner``: ``duplicate="raise"`` is a
        ``ConfigError``; ``"warn"`` warns once and returns ``False`` (this one stays idle).
        """
        key = id(owner)
        with _active_lock:
            if key in _active:
                if duplicate == "warn":
                    warn_duplicate(self.framework)
                    return False
                raise ConfigError(
                    f"a wattwise callback is already measuring this {type(owner).__name__}",
                    hint="pass WattwiseCallback once in callbacks=[...]",
                )
            _active[key] = self.framework
        self._owner = key
        from wattwise.node_run import RunHandle

        opts = self.options
        try:
            self.handle = RunHandle(
                opts.name or default_name,
                kind="training",
                zone=opts.zone,
                carbon_file=opts.carbon_file,
                intensity_g_per_kwh=opts.intensity_g_per_kwh,
                store=opts.store,
                interval_s=opts.interval_s,
                meta={"framework": self.framework, "every_n_steps": opts.every_n_steps},
            )
        except WattwiseError:
            self._release()
            raise
        self.step = self._block_start = 0
        self._last = _Interval()
        self.phases_j = {Phase.EVAL: 0.0, Phase.SAVE: 0.0}
        self._phase_n = {Phase.EVAL: 0, Phase.SAVE: 0}
        self.handle.begin_window(self._block_name())
        return True

    def stop(self, status: str = "completed") -> Measurement | None:
        """Training ended: close windows and the run, store it."""
        if self.handle is None:
            return None
        handle, self.handle = self.handle, None
        try:
            if handle.measuring:
                self._end_phase(handle)
                if self._epoch is not None:
                    handle.end_window(f"epoch-{self._epoch}")
                    self._epoch = None
                if self.step > self._block_start:
                    handle.end_window(self._block_name())
                    self._rename_last(handle, self._block_name(self.step))
                else:
                    handle.end_window(self._block_name())
                    handle.windows.pop()  # an empty block says nothing
            total = handle.meter.peek(handle.name).energy_j if handle.measuring else 0.0
            meta = {
                **self.options.extra_meta,
                "steps": self.step,
                "phases_j": self._phases_meta(total),
            }
            return handle.close(status, meta=meta)
        finally:
            self._release()

    def _release(self) -> None:
        if self._owner is not None:
            with _active_lock:
                _active.pop(self._owner, None)
            self._owner = None

    def _phases_meta(self, total_j: float) -> dict[str, float]:
        spent = sum(self.phases_j.values())
        return {
            Phase.TRAIN.value: max(0.0, total_j - spent),
            **{p.value: j for p, j in self.phases_j.items()},
        }

    # -- steps and epochs -------------------------------------------------------

    def _block_name(self, last: int | None = None) -> str:
        first = self._block_start + 1
        return f"steps-{first}" if last is None else f"steps-{first}-{last}"

    @staticmethod
    def _rename_last(handle: Any, name: str) -> None:
        from dataclasses import replace

        w = handle.windows[-1]
        handle.windows[-1] = replace(w, name=handle.window_key(name))

    def step_end(self) -> None:
        """One optimiser step done. Cheap unless a block of steps is complete."""
        self.step += 1
        if self.step - self._block_start >= self.options.every_n_steps and self.running:
            self._roll_block()

    def _roll_block(self) -> None:
        handle = self.handle
        handle.end_window(self._block_name())
        self._rename_last(handle, self._block_name(self.step))
        self._block_start = self.step
        handle.begin_window(self._block_name())

    def epoch_begin(self, epoch: int) -> None:
        if not self.running:
            return
        if self._epoch is not None:
            self.handle.end_window(f"epoch-{self._epoch}")
        self._epoch = epoch
        self.handle.begin_window(f"epoch-{epoch}")

    def epoch_end(self, epoch: int) -> Measurement | None:
        """The epoch's window (``None`` if it was not open here)."""
        if self.running and self._epoch == epoch:
            self._epoch = None
            out: Measurement | None = self.handle.end_window(f"epoch-{epoch}")
            return out
        return None

    # -- phases -----------------------------------------------------------------

    def phase_begin(self, phase: Phase) -> None:
        """Evaluation or saving starts (ends the one open, if any)."""
        if not self.running:
            return
        self._end_phase(self.handle)
        self._phase_n[phase] += 1
        name = f"{phase.value}-{self._phase_n[phase]}"
        self.handle.begin_window(name)
        self._open_phase = (phase, name)

    def phase_end(self, phase: Phase | None = None) -> None:
        """The open phase (or only ``phase``, if given) is over."""
        if self.running and self._open_phase and phase in (None, self._open_phase[0]):
            self._end_phase(self.handle)

    def _end_phase(self, handle: Any) -> None:
        if self._open_phase is None:
            return
        phase, name = self._open_phase
        self._open_phase = None
        out = handle.end_window(name)
        if out is not None:
            self.phases_j[phase] += out.energy_j

    # -- logs -------------------------------------------------------------------

    def log_values(self) -> dict[str, float]:
        """``energy_j``, ``co2e_g``, ``power_w`` since the last call; totals since start."""
        if not self.running:
            return {}
        m = self.handle.so_far()
        if m is None:
            return {}
        energy = m.energy_j
        dt = m.duration_s - self._last.elapsed_s
        out = {
            ENERGY_KEY: energy - self._last.energy_j,
            POWER_KEY: (energy - self._last.energy_j) / dt if dt > 0 else 0.0,
            ENERGY_TOTAL_KEY: energy,
        }
        co2e = self._co2e_g(m)
        if co2e is not None:
            out[CO2E_KEY] = co2e - self._last.co2e_g
            out[CO2E_TOTAL_KEY] = co2e
            self._last.co2e_g = co2e
        self._last.energy_j, self._last.elapsed_s = energy, m.duration_s
        return out

    def window_values(self, m: Measurement) -> dict[str, float]:
        """``energy_j``, ``co2e_g``, ``power_w`` of one closed window, and run totals."""
        out = {ENERGY_KEY: m.energy_j, POWER_KEY: m.avg_power_w}
        co2e = self._co2e_g(m)
        if co2e is not None:
            out[CO2E_KEY] = co2e
        so_far = self.handle.so_far() if self.running else None
        if so_far is not None:
            out[ENERGY_TOTAL_KEY] = so_far.energy_j
            total_co2e = self._co2e_g(so_far)
            if total_co2e is not None:
                out[CO2E_TOTAL_KEY] = total_co2e
        return out

    def _co2e_g(self, m: Measurement) -> float | None:
        from wattwise.carbon import with_carbon

        try:
            return with_carbon(m, self.handle.provider).co2e_g
        except WattwiseError as err:
            if not self._carbon_warned:
                self._carbon_warned = True
                warnings.warn(f"wattwise: no CO₂e in the logs: {err}", stacklevel=3)
            return None
