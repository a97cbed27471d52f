"""Lightning with wattwise: energy in every logger, per epoch, per phase.

A small MLP learns scikit-learn's digits (nothing downloaded); validation each epoch
and a checkpoint at each epoch's end. Runs on CPU in a few seconds:
``python examples/lightning_digits.py``; then ``wattwise show <run id>``. The CSV log
it prints from holds ``energy_j``, ``power_w`` and ``co2e_g`` beside the loss.
"""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch

from wattwise.integrations.lightning import WattwiseCallback


def digits_loaders(batch_size: int = 64) -> tuple[Any, Any]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x_tr, x_va, y_tr, y_va = train_test_split(x / 16.0, y, test_size=0.25, random_state=0)

    def loader(x: np.ndarray, y: np.ndarray, shuffle: bool) -> Any:
        data = torch.utils.data.TensorDataset(
            torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y).long()
        )
        return torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=shuffle)

    return loader(x_tr, y_tr, True), loader(x_va, y_va, False)


class DigitsMLP(pl.LightningModule):
    def __init__(self, width: int = 128) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(64, width), torch.nn.ReLU(), torch.nn.Linear(width, 10)
        )

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = torch.nn.functional.cross_entropy(self.net(x), y)
        self.log("loss", loss)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        accuracy = (self.net(x).argmax(-1) == y).float().mean()
        self.log("val_acc", accuracy)

    def configure_optimizers(self) -> Any:
        return torch.optim.Adam(self.parameters(), lr=3e-3)


def trainer(out_dir: str, callbacks: list[Any], *, max_epochs: int = 3, **args: Any) -> Any:
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger

    options: dict[str, Any] = {
        "max_epochs": max_epochs,
        "accelerator": "cpu",
        "devices": 1,
        "log_every_n_steps": 5,
        "logger": CSVLogger(out_dir, name="digits"),
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "default_root_dir": out_dir,
        **args,
    }
    checkpoint = ModelCheckpoint(dirpath=Path(out_dir) / "ckpt", every_n_epochs=1)
    return pl.Trainer(callbacks=[*callbacks, checkpoint], **options)


def main() -> None:
    callback = WattwiseCallback("lightning mlp digits", every_n_steps=10)
    train, val = digits_loaders()
    with tempfile.TemporaryDirectory() as out:
        t = trainer(out, [callback])
        t.fit(DigitsMLP(), train, val)
        metrics = Path(t.logger.log_dir) / "metrics.csv"
        for row in csv.DictReader(metrics.open()):
            if row.get("energy_j"):
                print({k: row[k] for k in ("step", "loss", "energy_j", "power_w") if row.get(k)})
    r = callback.result
    if r is not None:
        print(f"run {r.meta.get('run_id')}: {r.energy_j:.1f} J, {r.co2e_g} gCO2e;")
        print(f"phases (J): {r.meta['phases_j']}")


if __name__ == "__main__":
    main()
