"""A job's CO2e comes from the signal the head planned with (issue 14, part 3): under
``serve --carbon FILE`` (``PlanningSignal.from_trace``) the replayed trace, labelled as
such, not the world average an unlabelled node would otherwise get. No Ray here (the
one-node stand-in of ``test_predict_loop``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.engine.test_predict_loop import POWER_W, _Backend, _run_all
from tests.engine.test_predict_loop import backend as backend
from wattwise.engine.carbon import PlanningSignal
from wattwise.engine.client import EngineClient
from wattwise.engine.head import Engine, EngineConfig
from wattwise.engine.scheduler import make_engine_policy

TRACE_G = 42.0  # far from any zone's average, so the source cannot be mistaken


def _trace(path: Path) -> Path:
    """A whole year of hourly intensity at ``TRACE_G`` (Electricity Maps' CSV layout)."""
    t0 = datetime(2023, 1, 1, tzinfo=UTC)
    rows = ["Datetime (UTC),Zone Id,Carbon Intensity gCO₂eq/kWh (direct),"
            "Carbon Intensity gCO₂eq/kWh (LCA)"]  # fmt: skip
    for h in range(365 * 24):
        stamp = (t0 + timedelta(hours=h)).strftime("%Y-%m-%d %H:%M:%S")
        rows.append(f"{stamp},XX,{TRACE_G},{TRACE_G}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_a_job_under_a_carbon_trace_is_accounted_on_that_trace(
    tmp_path: Path, backend: _Backend
) -> None:
    trace = _trace(tmp_path / "grid-2023.csv")
    signal = PlanningSignal.from_trace(trace)
    url = f"sqlite:///{tmp_path / 'w.db'}"
    engine = Engine(EngineConfig(store_url=url, meter=False, home=tmp_path, tick_s=0.0,
                                 policy=make_engine_policy("carbon"), signal=signal))  # fmt: skip
    client = EngineClient(url)
    job_id = client.submit({"command": ["train"], "env": {"RUN_S": "600"}})
    engine.start()
    try:
        _run_all(engine, [job_id])
        job = client.get_job(job_id)
        assert job.status == "succeeded" and job.energy_j == pytest.approx(POWER_W * 600)
        assert job.co2e_g == pytest.approx(POWER_W * 600 / 3.6e6 * TRACE_G, rel=1e-6)
        [task] = client.tasks(job_id)
        source = task.detail["intensity_source"]
        assert str(trace) in source and "replayed" in source and "WORLD" not in source
        # The policy planned on the same trace.
        assert engine.scheduler.forecast is not None
        assert engine.scheduler.forecast(None, job.submitted_s, job.submitted_s + 7200).at(
            job.submitted_s
        ) == pytest.approx(TRACE_G)
    finally:
        engine.shutdown()
