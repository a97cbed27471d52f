"""Lightning: ``Trainer(..., callbacks=[WattwiseCallback()])``.

Energy goes through ``LightningModule.log`` on the steps the Trainer writes its logs
(``log_every_n_steps``) and at each epoch's end, so every logger (TensorBoard, CSV,
MLflow, W&B, ...) and ``trainer.callback_metrics`` receive ``energy_j``, ``co2e_g``,
``power_w`` (since the last log) and ``energy_j_total``, ``co2e_g_total``. One run
per ``fit``: a window per epoch and per ``every_n_steps`` optimiser steps; validation
(sanity check included) and checkpoint saving (every ``trainer.save_checkpoint``) as
phases.
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
    dedupe,
    warn_duplicate,
)

MIN_VERSION = "2.2"
require("lightning", MIN_VERSION, "lightning", "wattwise.integrations.lightning")

import lightning.pytorch as pl  # noqa: E402


def _should_log(trainer: Any) -> bool:
    """Is this a step the Trainer writes its logs on (as its own monitors ask)?"""
    connector = getattr(trainer, "_logger_connector", None)
    if connector is not None and hasattr(connector, "should_update_logs"):
        return bool(connector.should_update_logs)
    every = int(getattr(trainer, "log_every_n_steps", 50) or 0)
    return every > 0 and trainer.global_step % every == 0


class WattwiseCallback(pl.Callback):
    """Meters a Lightning ``fit``: one run, a window per epoch and per ``every_n_steps``
    optimiser steps, validation and checkpoint saving as phases; energy in the logs."""

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
            "lightning",
            TrainingOptions(
                name, every_n_steps, zone, carbon_file, intensity_g_per_kwh, store, interval_s
            ),
        )
        self.result: Any = None  # the stored Measurement once fit ends
        self._active = False
        self._global_step = 0
        self._save: Callable[..., Any] | None = None

    # -- life cycle ---------------------------------------------------------------

    def setup(self, trainer: Any, pl_module: pl.LightningModule, stage: str) -> None:
        # (Any: the Trainer sets ``callbacks`` at run time, its type does not declare it)
        if stage == "fit" and dedupe(trainer.callbacks, self, WattwiseCallback):
            warn_duplicate("Lightning")

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.result = None
        default = f"train {type(pl_module).__name__}"
        self._active = self.meter.start(trainer, default, duplicate="warn")
        if not self._active:
            return
        self._global_step = trainer.global_step
        self._wrap_save(trainer)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._finish(trainer, "completed")

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        status = "interrupted" if isinstance(exception, KeyboardInterrupt) else "failed"
        self._finish(trainer, status)

    def _finish(self, trainer: pl.Trainer, status: str) -> None:
        if not self._active:
            return
        self._active = False
        self._unwrap_save(trainer)
        self.result = self.meter.stop(status)

    def _wrap_save(self, trainer: pl.Trainer) -> None:
        """Time every checkpoint write: ``ModelCheckpoint`` and users call this method."""
        original = trainer.save_checkpoint
        meter = self.meter

        def save_checkpoint(*args: Any, **kwargs: Any) -> None:
            meter.phase_begin(Phase.SAVE)
            try:
                original(*args, **kwargs)
            finally:
                meter.phase_end(Phase.SAVE)

        self._save = original
        vars(trainer)["save_checkpoint"] = save_checkpoint  # this Trainer only, until fit ends

    def _unwrap_save(self, trainer: pl.Trainer) -> None:
        if self._save is not None:
            vars(trainer).pop("save_checkpoint", None)  # the class's method again
            self._save = None

    # -- training -----------------------------------------------------------------

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._active:
            self.meter.epoch_begin(trainer.current_epoch + 1)

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if not self._active:
            return
        if trainer.global_step != self._global_step:  # an optimiser step was taken
            self._global_step = trainer.global_step
            self.meter.step_end()
        if _should_log(trainer):
            self._log(pl_module, on_step=True)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._active:
            return
        self.meter.epoch_end(trainer.current_epoch + 1)
        self._log(pl_module, on_step=False)

    def _log(self, pl_module: pl.LightningModule, *, on_step: bool) -> None:
        for key, value in self.meter.log_values().items():
            pl_module.log(
                key, value, on_step=on_step, on_epoch=not on_step, logger=True, batch_size=1
            )

    # -- phases -------------------------------------------------------------------

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._active:
            self.meter.phase_begin(Phase.EVAL)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._active:
            self.meter.phase_end(Phase.EVAL)
