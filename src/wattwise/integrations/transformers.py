"""Hugging Face Transformers: ``Trainer(..., callbacks=[WattwiseCallback()])``.

Energy goes into every log line the Trainer writes (so TensorBoard, W&B, MLflow and
the rest of ``report_to`` receive it) and into ``trainer.state.log_history``. To be
seen by those reporters the callback moves itself just after the Trainer's own flow
callback, ahead of them, when the Trainer is built (and again when training begins,
for a callback added later with ``add_callback``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from wattwise.errors import ConfigError
from wattwise.integrations._requires import require
from wattwise.integrations._training import Phase, TrainingMeter, TrainingOptions

MIN_VERSION = "4.40"
require("transformers", MIN_VERSION, "hf", "wattwise.integrations.transformers")

from transformers import TrainerCallback  # noqa: E402


def _handler_calling() -> Any:
    """The Trainer's CallbackHandler, found in the caller's frame (it calls each hook)."""
    from transformers.trainer_callback import CallbackHandler

    frame: Any = sys._getframe(2)
    for _ in range(4):
        if frame is None:
            return None
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, CallbackHandler):
            return candidate
        frame = frame.f_back
    return None


class WattwiseCallback(TrainerCallback):
    """Meters a ``Trainer``: one run, a window per epoch and per ``every_n_steps`` steps,
    evaluation and checkpoint saving as phases; energy in the logs."""

    def __init__(
        self,
        name: str | None = None,
        *,
        every_n_steps: int = 50,
        zone: str | None = None,
        carbon_file: str | Path | None = None,
        intensity_g_per_kwh: float | None = None,
        store: bool = True,
        interval_s: float | None = None,
    ) -> None:
        self.meter = TrainingMeter(
            "transformers",
            TrainingOptions(
                name, every_n_steps, zone, carbon_file, intensity_g_per_kwh, store, interval_s
            ),
        )
        self._handler: Any = None

    @property
    def result(self) -> Any:
        """The stored measurement of the last training (``None`` before it ends)."""
        return self._result if hasattr(self, "_result") else None

    def _place_first(self) -> None:
        handler = _handler_calling()
        if handler is None:
            return
        mine = [cb for cb in handler.callbacks if isinstance(cb, WattwiseCallback)]
        if len(mine) > 1:
            raise ConfigError(
                "WattwiseCallback was added twice to this Trainer",
                hint="pass it once in callbacks=[...]",
            )
        self._handler = handler
        callbacks = handler.callbacks
        from transformers.trainer_callback import DefaultFlowCallback

        flow = [i for i, cb in enumerate(callbacks) if isinstance(cb, DefaultFlowCallback)]
        target = flow[0] + 1 if flow else 0
        here = callbacks.index(self)
        if here > target:
            # Moving an element to an earlier index while the handler iterates skips
            # nobody: the ones after us keep their order and come next.
            callbacks.insert(target, callbacks.pop(here))

    # -- hooks --------------------------------------------------------------------

    def on_init_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._place_first()

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._place_first()
        model = kwargs.get("model")
        default = f"train {type(model).__name__}" if model is not None else "train"
        self.meter.start(self._handler or self, default)
        self._result: Any = None

    def on_epoch_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.meter.epoch_begin(int(state.epoch or 0) + 1)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.meter.step_end()
        # The flow callback (run before us) has decided what follows this step.
        if control.should_evaluate:
            self.meter.phase_begin(Phase.EVAL)
        elif control.should_save:
            self.meter.phase_begin(Phase.SAVE)

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.meter.epoch_end(round(state.epoch or 0))
        if control.should_evaluate:
            self.meter.phase_begin(Phase.EVAL)
        elif control.should_save:
            self.meter.phase_begin(Phase.SAVE)

    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.meter.phase_end(Phase.EVAL)
        if control.should_save:
            self.meter.phase_begin(Phase.SAVE)

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.meter.phase_end(Phase.SAVE)

    def on_log(
        self, args: Any, state: Any, control: Any, logs: dict[str, float] | None = None, **kw: Any
    ) -> None:
        values = self.meter.log_values()
        if not values or logs is None:
            return
        logs.update(values)
        # The Trainer copied ``logs`` into its history before calling us.
        if state.log_history and state.log_history[-1].get("step") == state.global_step:
            state.log_history[-1].update(values)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self._result = self.meter.stop()
