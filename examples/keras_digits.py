"""Keras 3 with wattwise: energy in every epoch's logs, per epoch, per phase.

A small MLP learns scikit-learn's digits (nothing downloaded), with validation and a
checkpoint each epoch. Any Keras backend works; this example picks torch unless
``KERAS_BACKEND`` says otherwise. Runs on CPU in a few seconds:
``python examples/keras_digits.py``; then ``wattwise show <run id>``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np

from wattwise.integrations.keras import WattwiseCallback


def digits() -> tuple[Any, Any, Any, Any]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x_tr, x_va, y_tr, y_va = train_test_split(
        (x / 16.0).astype(np.float32), y, test_size=0.25, random_state=0
    )
    return x_tr, y_tr, x_va, y_va


def mlp(width: int = 128) -> Any:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(width, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def fit(model: Any, out_dir: str, callbacks: list[Any], *, epochs: int = 3) -> Any:
    x_tr, y_tr, x_va, y_va = digits()
    extra = [
        keras.callbacks.ModelCheckpoint(
            str(Path(out_dir) / "digits.weights.h5"), save_weights_only=True
        ),
        keras.callbacks.CSVLogger(str(Path(out_dir) / "log.csv")),
    ]
    # wattwise listed last on purpose: it moves itself ahead of the loggers.
    return model.fit(
        x_tr,
        y_tr,
        validation_data=(x_va, y_va),
        epochs=epochs,
        batch_size=64,
        callbacks=[*extra, *callbacks],
        verbose=0,
    )


def main() -> None:
    callback = WattwiseCallback("keras mlp digits", every_n_steps=10)
    with tempfile.TemporaryDirectory() as out:
        history = fit(mlp(), out, [callback])
        print((Path(out) / "log.csv").read_text())
    for key in ("energy_j", "power_w", "co2e_g", "val_accuracy"):
        print(key, [round(v, 4) for v in history.history.get(key, [])])
    r = callback.result
    if r is not None:
        print(f"run {r.meta.get('run_id')}: {r.energy_j:.1f} J, {r.co2e_g} gCO2e;")
        print(f"phases (J): {r.meta['phases_j']}")


if __name__ == "__main__":
    main()
