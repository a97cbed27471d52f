"""The Lightning callback on a small MLP: energy in every logger, one stored run with phases."""

from __future__ import annotations

import csv
import sys
import warnings
from pathlib import Path

import pytest

pytest.importorskip("lightning")

from tests.integrations._examples import load_example


def _fit(out: Path, callbacks: list[object], **args: object):  # type: ignore[no-untyped-def]
    ex = load_example("lightning_digits")
    train, val = ex.digits_loaders()
    t = ex.trainer(str(out), callbacks, **args)
    t.fit(ex.DigitsMLP(width=32), train, val)
    return t


def test_energy_in_logger_and_one_stored_run(tmp_path):  # type: ignore[no-untyped-def]
    from wattwise.integrations.lightning import WattwiseCallback
    from wattwise.store import RunStore

    cb = WattwiseCallback("pl test", every_n_steps=10)
    t = _fit(tmp_path, [cb], max_epochs=2)
    rows = list(csv.DictReader((Path(t.logger.log_dir) / "metrics.csv").open()))
    step_rows = [r for r in rows if r.get("loss") and r.get("energy_j")]
    assert step_rows, "no log line carried energy_j"
    assert all(float(r["energy_j"]) > 0 and float(r["power_w"]) > 0 for r in step_rows)
    assert all(r["co2e_g"] and r["energy_j_total"] for r in step_rows)
    totals = [float(r["energy_j_total"]) for r in rows if r.get("energy_j_total")]
    assert totals == sorted(totals)  # cumulative
    assert "energy_j_total" in t.callback_metrics

    run = RunStore().get_run(cb.result.meta["run_id"])
    assert run.kind == "training" and run.status == "completed"
    assert run.meta["framework"] == "lightning" and run.meta["steps"] == t.global_step
    phases = run.meta["phases_j"]
    assert phases["eval"] > 0 and phases["save"] > 0 and phases["train"] > 0
    names = {w.name for w in run.windows}
    assert {"pl test/epoch-1", "pl test/epoch-2", "pl test/steps-1-10"} <= names
    assert {"pl test/eval-1", "pl test/save-1"} <= names
    # the last log line's total is at most the stored run's energy
    assert totals[-1] <= run.energy_j
    assert not hasattr(t, "__dict__") or "save_checkpoint" not in t.__dict__  # unwrapped


def test_added_twice_warns_once_and_measures_once(tmp_path):  # type: ignore[no-untyped-def]
    from wattwise.integrations.lightning import WattwiseCallback
    from wattwise.store import RunStore

    first, second = WattwiseCallback("once"), WattwiseCallback("twice")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _fit(tmp_path, [first, second, first], max_epochs=1)
    ours = [w for w in caught if "more than once" in str(w.message)]
    assert len(ours) == 1
    assert first.result is not None and second.result is None
    assert RunStore().count_runs() == 1
    assert first.result.meta["steps"] > 0


def test_no_writable_store_training_goes_on(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    from wattwise.integrations.lightning import WattwiseCallback

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("WATTWISE_DB", f"sqlite:///{blocker}/runs.db")
    cb = WattwiseCallback("no store")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = _fit(tmp_path / "out", [cb], max_epochs=1)
    stored = [str(w.message) for w in caught if "not stored" in str(w.message)]
    assert len(stored) == 1 and "\n" not in stored[0]
    assert t.global_step > 0 and cb.result is not None and cb.result.energy_j > 0
    assert "run_id" not in cb.result.meta


def test_too_old_lightning_is_a_one_line_error(monkeypatch):  # type: ignore[no-untyped-def]
    from importlib import metadata

    from wattwise.errors import ConfigError

    real = metadata.version
    monkeypatch.setattr(metadata, "version", lambda d: "2.0.1" if d == "lightning" else real(d))
    monkeypatch.delitem(sys.modules, "wattwise.integrations.lightning", raising=False)
    with pytest.raises(ConfigError, match=r"lightning >= 2\.2, found 2\.0\.1") as err:
        import wattwise.integrations.lightning  # noqa: F401
    assert "\n" not in str(err.value)
