"""examples/tracker_log_run.py: a measured region lands in TensorBoard, as its docstring says."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integrations._examples import load_example
from wattwise.store import RunStore


def test_example_writes_the_stored_run_to_tensorboard(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    example = load_example("tracker_log_run")
    (logged,) = example.main(["--tensorboard", str(tmp_path / "tb"), "--seconds", "0.3"])
    assert Path(logged.location).parent == tmp_path / "tb"  # the event file
    (run,) = RunStore().list_runs()
    assert run.name == "lstsq example"
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert events.Scalars("wattwise/energy_j")[0].value == pytest.approx(run.energy_j, rel=1e-6)
    assert len(events.Scalars("wattwise/power_w")) >= 2  # sampled every 0.1 s for 0.3 s
