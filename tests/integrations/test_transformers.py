"""The HF callback on a tiny config-built BERT: energy in the logs, one stored run with phases."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("transformers")


def _example():  # type: ignore[no-untyped-def]
    path = Path(__file__).resolve().parents[2] / "examples" / "hf_trainer.py"
    spec = importlib.util.spec_from_file_location("hf_trainer_example", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_energy_in_logs_and_one_stored_run(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("WATTWISE_HOME", str(tmp_path / "home"))
    from wattwise.integrations.transformers import WattwiseCallback
    from wattwise.store import RunStore

    cb = WattwiseCallback("hf test", every_n_steps=10)
    t = _example().trainer(str(tmp_path / "out"), [cb], max_steps=20, eval_steps=10, save_steps=20)
    t.train()
    logged = [line for line in t.state.log_history if "loss" in line]
    assert logged and all(line["energy_j"] > 0 and line["power_w"] > 0 for line in logged)
    assert all("co2e_g" in line and "energy_j_total" in line for line in logged)
    run = RunStore().get_run(cb.result.meta["run_id"])
    assert run.kind == "training" and run.status == "completed"
    phases = run.meta["phases_j"]
    assert phases["eval"] > 0 and phases["save"] > 0 and phases["train"] > 0
    assert {w.name for w in run.windows} >= {"hf test/steps-1-10", "hf test/eval-1"}


def test_added_twice_is_a_one_line_error(tmp_path):  # type: ignore[no-untyped-def]
    from wattwise.errors import ConfigError
    from wattwise.integrations.transformers import WattwiseCallback

    with pytest.raises(ConfigError, match="added twice"):
        _example().trainer(str(tmp_path), [WattwiseCallback(), WattwiseCallback()])


def test_too_old_version_names_the_minimum():  # type: ignore[no-untyped-def]
    from wattwise.errors import ConfigError
    from wattwise.integrations._requires import require

    with pytest.raises(ConfigError, match=">= 999"):
        require("transformers", "999", "hf", "x")
