"""The one "all at once" baseline: the API and the demo give the same figure."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest

from wattwise.engine.baseline import RanJob, all_at_once_co2e_g
from wattwise.units import TimeSeries, co2e_grams

H = 3600.0


def _hourly(*values: float, start: float = 0.0) -> TimeSeries:
    times = start + H * np.arange(len(values), dtype=np.float64)
    return TimeSeries(times, np.array(values, dtype=np.float64), "gCO2e/kWh", H)


def test_flat_power_weighs_each_hour_by_its_overlap() -> None:
    # 1 kWh over 2 h, arrived at 00:30, ran later: priced over 00:30-02:30.
    job = RanJob(energy_j=3.6e6, submitted_s=0.5 * H, started_s=10 * H, ended_s=12 * H)
    series = _hourly(100.0, 200.0, 300.0)
    expected = 0.25 * 100 + 0.5 * 200 + 0.25 * 300
    assert all_at_once_co2e_g(job, series) == pytest.approx(expected)


def test_the_power_shape_moves_with_the_job() -> None:
    # All of the energy in the job's second hour: at arrival that hour is the dirty one.
    job = RanJob(
        energy_j=3.6e6,
        submitted_s=0.0,
        started_s=5 * H,
        ended_s=7 * H,
        power=((5.5 * H, 0.0), (6 * H, 0.0), (7 * H, 1000.0)),
    )
    assert all_at_once_co2e_g(job, _hourly(100.0, 500.0)) == pytest.approx(500.0)


def test_api_and_demo_give_the_same_baseline(wattwise_home: Path) -> None:
    from fastapi.testclient import TestClient

    from wattwise.api import create_app
    from wattwise.api.clock import Clock
    from wattwise.api.grid_view import GridView
    from wattwise.api.jobs import EngineJobs
    from wattwise.api.replay import ReplayProvider
    from wattwise.cli.demo import DemoRun
    from wattwise.engine.local_runner import LocalRunner
    from wattwise.store import RunStore

    trace = _hourly(*[float(v) for v in range(100, 148)], start=1.65e9)
    clock = Clock(origin_s=trace.start_s + 2 * H, speed=3600.0)  # 1 wall s = 1 grid hour
    grid = GridView(clock, "test trace", trace=trace)
    provider = ReplayProvider(grid, clock)
    from wattwise.engine.carbon import PlanningSignal

    signal = PlanningSignal(lambda _zone: provider)
    runner = LocalRunner(cpus=1, signal=signal, interval_s=0.1)
    runner.start()
    demo = DemoRun(runner, grid, clock, wall_end_s=time.time() + 60)
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 1.5: pass"
    job_id = demo.client.submit({"name": "burn", "command": [sys.executable, "-c", burn]})
    deadline = time.time() + 60
    while demo.pending():
        demo.step()
        assert time.time() < deadline
        time.sleep(0.05)
    (shown,) = demo.jobs()
    assert shown.status == "done" and shown.baseline_co2e_g is not None
    app = create_app(
        home=wattwise_home,
        token="t",
        monitor_power=False,
        grid=grid,
        jobs=EngineJobs(intensity=provider),
    )
    with TestClient(app, client=("127.0.0.1", 5000), base_url="http://127.0.0.1") as c:
        api = c.get(f"/api/v1/jobs/{job_id}").json()
    assert api["baseline_co2e_g"] == pytest.approx(shown.baseline_co2e_g, rel=1e-12)
    # ... and both are the domain function on the job's stored power timeline.
    rec = demo.client.get_job(job_id)
    assert rec.started_s is not None and rec.ended_s is not None and rec.energy_j
    power = tuple(RunStore().samples(rec.run_id or 0))
    ran = RanJob(rec.energy_j, rec.submitted_s, rec.started_s, rec.ended_s, power)
    direct = all_at_once_co2e_g(ran, provider.series(*ran.arrival_window()))
    assert shown.baseline_co2e_g == pytest.approx(direct, rel=1e-12)
    # The job ran across several grid hours of a rising trace: not one hour's figure.
    assert direct != pytest.approx(co2e_grams(rec.energy_j, 102.0), rel=1e-6)
    runner.shutdown()
