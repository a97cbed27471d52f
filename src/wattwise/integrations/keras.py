"""Keras 3, any backend: ``model.fit(..., callbacks=[WattwiseCallback()])``.

Energy goes into the logs dict every callback after this one sees: each epoch's logs
(so ``History``, ``CSVLogger``, ``TensorBoard`` and tracker callbacks get it) carry
the epoch's ``energy_j``, ``co2e_g``, ``power_w`` and the run's ``energy_j_total``,
``co2e_g_total``; the batch logs every ``every_n_steps`` steps carry the figures since
the last such batch. The callback moves itself to the front of the fit's callback
list when training begins, so the others see the figures. One run per ``fit``: a
window per epoch and per ``every_n_steps`` steps; validation and every
``model.save``/``model.save_weights`` during the fit (``ModelCheckpoint``,
``BackupAndRestore``) as phases.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from wattwise.integrations._requires import require
from wattwise.integrations._training import (
    Phase,
    TrainingMeter,
    TrainingOptions,
    calling_container,
    dedupe,
    move_first,
    warn_duplicate,
)

MIN_VERSION = "3.3"
require("keras", MIN_VERSION, "keras", "wattwise.integrations.keras")

import keras  # noqa: E402

#: Model methods that write a checkpoint; timed as the ``save`` phase during a fit.
_SAVE_METHODS = ("save", "save_weights")


class WattwiseCallback(keras.callbacks.Callback):
    """Meters a Keras ``fit``: one run, a window per epoch and per ``every_n_steps``
    steps, validation and saving as phases; energy in the logs."""

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
        super().__init__()
        self.meter = TrainingMeter(
            "keras",
            TrainingOptions(
                name, every_n_steps, zone, carbon_file, intensity_g_per_kwh, store, interval_s
            ),
        )
        self.result: Any = None  # the stored Measurement once fit ends
        self._active = False
        self._fit: object | None = None  # the fit's CallbackList (one per fit call)
        self._saved: dict[str, Callable[..., Any]] = {}

    # -- life cycle ---------------------------------------------------------------

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        container = calling_container(keras.callbacks.CallbackList)
        if container is not None:
            if self._active and container is self._fit:
                return  # the same callback twice in one list: its repeats were dropped
            if dedupe(container.callbacks, self, WattwiseCallback):
                warn_duplicate("Keras")
            move_first(container.callbacks, self)
        if self._active:
            self._finish("failed")  # the previous fit raised before on_train_end
        self.result = None
        model = self.model
        self._active = self.meter.start(model, f"train {type(model).__name__}", duplicate="warn")
        self._fit = container
        if self._active:
            self._wrap_saves(model)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._finish("completed")

    def _finish(self, status: str) -> None:
        if not self._active:
            return
        self._active = False
        self._unwrap_saves()
        self.result = self.meter.stop(status)

    def _wrap_saves(self, model: Any) -> None:
        meter = self.meter
        for method in _SAVE_METHODS:
            original = getattr(model, method)

            def timed(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
                meter.phase_begin(Phase.SAVE)
                try:
                    return _original(*args, **kwargs)
                finally:
                    meter.phase_end(Phase.SAVE)

            self._saved[method] = original
            # On this model object only, and bypassing Layer.__setattr__'s tracking.
            object.__setattr__(model, method, timed)
        self._saved_on = model

    def _unwrap_saves(self) -> None:
        model = getattr(self, "_saved_on", None)
        for method in self._saved:
            if model is not None and method in vars(model):
                object.__delattr__(model, method)
        self._saved = {}
        self._saved_on = None

    # -- training -----------------------------------------------------------------

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._active:
            self.meter.epoch_begin(epoch + 1)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if not self._active:
            return
        meter = self.meter
        meter.step_end()
        if logs is not None and meter.step % meter.options.every_n_steps == 0:
            logs.update(meter.log_values())

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if not self._active:
            return
        window = self.meter.epoch_end(epoch + 1)
        if window is not None and logs is not None:
            logs.update(self.meter.window_values(window))

    # -- phases -------------------------------------------------------------------

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self._active:
            self.meter.phase_begin(Phase.EVAL)

    def on_test_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._active:
            self.meter.phase_end(Phase.EVAL)
