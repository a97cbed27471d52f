"""The Keras 3 callback (torch backend) on a small MLP: energy in every epoch's logs,
one stored run with phases, duplicates, an unwritable store, a fit that raised."""

from __future__ import annotations

import os
import sys
import warnings

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
pytest.importorskip("keras")

from tests.integrations._examples import load_example

ex = load_example("keras_digits")


def test_energy_in_history_and_csv_and_one_stored_run(tmp_path):  # type: ignore[no-untyped-def]
    import csv

    from wattwise.integrations.keras import WattwiseCallback
    from wattwise.store import RunStore

    cb = WattwiseCallback("keras test", every_n_steps=10)
    batches: list[dict[str, float]] = []
    spy = ex.keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: batches.append(dict(logs))
    )
    history = ex.fit(ex.mlp(width=32), str(tmp_path), [spy, cb], epochs=2)
    h = history.history
    assert len(h["energy_j"]) == 2 and all(v > 0 for v in h["energy_j"])
    assert all(v > 0 for v in h["power_w"]) and len(h["co2e_g"]) == 2
    assert h["energy_j_total"][1] > h["energy_j_total"][0]
    # CSVLogger is listed before the callback: it still saw the figures.
    rows = list(csv.DictReader((tmp_path / "log.csv").open()))
    assert [float(r["energy_j"]) for r in rows] == pytest.approx(h["energy_j"])
    # batch logs every 10 steps, seen by a callback listed before ours
    with_energy = [b for b in batches if "energy_j" in b]
    assert with_energy and len(with_energy) == len(batches) // 10

    run = RunStore().get_run(cb.result.meta["run_id"])
    assert run.kind == "training" and run.status == "completed"
    assert run.meta["framework"] == "keras" and run.meta["steps"] == len(batches)
    phases = run.meta["phases_j"]
    assert phases["eval"] > 0 and phases["save"] > 0 and phases["train"] > 0
    names = {w.name for w in run.windows}
    assert {"keras test/epoch-1", "keras test/epoch-2", "keras test/steps-1-10"} <= names
    assert {"keras test/eval-1", "keras test/save-1"} <= names
    epoch_1 = next(w for w in run.windows if w.name == "keras test/epoch-1")
    assert epoch_1.energy_j == pytest.approx(h["energy_j"][0])


def test_added_twice_warns_once_and_measures_once(tmp_path):  # type: ignore[no-untyped-def]
    from wattwise.integrations.keras import WattwiseCallback
    from wattwise.store import RunStore

    first, second = WattwiseCallback("once"), WattwiseCallback("twice")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = ex.fit(ex.mlp(width=16), str(tmp_path), [first, second, first], epochs=1)
    assert len([w for w in caught if "more than once" in str(w.message)]) == 1
    assert first.result is not None and second.result is None
    assert RunStore().count_runs() == 1
    assert first.result.meta["steps"] == history.params["steps"]


def test_no_writable_store_training_goes_on(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    from wattwise.integrations.keras import WattwiseCallback

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("WATTWISE_DB", f"sqlite:///{blocker}/runs.db")
    cb = WattwiseCallback("no store")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = ex.fit(ex.mlp(width=16), str(tmp_path), [cb], epochs=1)
    stored = [str(w.message) for w in caught if "not stored" in str(w.message)]
    assert len(stored) == 1 and "\n" not in stored[0]
    assert history.history["energy_j"][0] > 0 and "run_id" not in cb.result.meta


def test_a_fit_that_raised_is_stored_failed_and_the_next_fit_measured(tmp_path):  # type: ignore[no-untyped-def]
    from wattwise.integrations.keras import WattwiseCallback
    from wattwise.store import RunStore

    def boom(epoch: int, logs: object) -> None:
        raise RuntimeError("boom")

    cb = WattwiseCallback("refit")
    model = ex.mlp(width=16)
    failing = ex.keras.callbacks.LambdaCallback(on_epoch_end=boom)
    with pytest.raises(RuntimeError, match="boom"):
        ex.fit(model, str(tmp_path), [cb, failing], epochs=1)
    ex.fit(model, str(tmp_path), [cb], epochs=1)
    statuses = sorted(r.status for r in RunStore().list_runs())
    assert statuses == ["completed", "failed"]
    assert "save" not in vars(model)  # the model's own methods again


def test_too_old_keras_is_a_one_line_error(monkeypatch):  # type: ignore[no-untyped-def]
    from importlib import metadata

    from wattwise.errors import ConfigError

    real = metadata.version
    monkeypatch.setattr(metadata, "version", lambda d: "2.15.0" if d == "keras" else real(d))
    monkeypatch.delitem(sys.modules, "wattwise.integrations.keras", raising=False)
    with pytest.raises(ConfigError, match=r"keras >= 3\.3, found 2\.15\.0"):
        import wattwise.integrations.keras  # noqa: F401
