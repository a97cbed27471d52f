"""The replay adapters: a trace compressed into wall time and jobs mapped back."""

from __future__ import annotations

import numpy as np
import pytest

from tests.api.conftest import ORIGIN_S
from wattwise.api.clock import Clock
from wattwise.api.grid_view import GridView
from wattwise.api.jobs import JobBoard
from wattwise.api.models import JobSubmit
from wattwise.api.replay import ReplayJobs, ReplayProvider, replay_forecast

SPEED = 600.0


@pytest.fixture
def fast_grid(grid: GridView) -> GridView:
    return GridView(Clock(origin_s=ORIGIN_S, speed=SPEED), "t", trace=grid.trace)


def test_provider_compresses_hours_into_wall_seconds(fast_grid: GridView) -> None:
    clock = fast_grid.clock
    provider = ReplayProvider(fast_grid, clock)
    wall_now = clock.to_wall_s(ORIGIN_S)
    series = provider.series(wall_now, wall_now + 3 * 3600 / SPEED)
    assert series.step_s == 6.0  # one grid hour is 6 wall seconds at 600x
    assert series.times_s[0] == pytest.approx(wall_now)
    assert np.diff(series.times_s) == pytest.approx([6.0] * (len(series) - 1))
    assert series.values[0] == 292.32  # 2022-06-21 10:00 UTC, as in the trace
    assert "replayed x600" in provider.describe()


def test_forecast_covers_what_the_policy_asks(fast_grid: GridView) -> None:
    clock = fast_grid.clock
    forecast = replay_forecast(fast_grid, clock)
    now = clock.to_wall_s(clock.now_s())
    series = forecast(None, now, now + 30 * 3600 / SPEED)  # 30 grid hours, past the 24 h horizon
    assert series.times_s[0] <= now and series.end_s >= now + 30 * 3600 / SPEED
    assert series.values[-1] == series.values[23]  # held at the last forecast value
    issued = fast_grid.forecast_from(clock.now_s())[1]
    assert list(series.values[:24]) == issued


def test_jobs_are_shown_on_the_grid_clock() -> None:
    clock = Clock(origin_s=ORIGIN_S, speed=SPEED)
    board = JobBoard()
    job = board.add(JobSubmit(name="a", command=["x"]))
    wall = job.submitted_s
    board.update(job.id, planned_start_s=wall + 6.0, started_s=wall + 6.0, ended_s=wall + 12.0)
    replay = ReplayJobs(board, clock, runtime_s={job.id: 5.0}, extra={job.id: {"kind": "training"}})
    shown = replay.get_job(job.id)
    assert shown.submitted_s == pytest.approx(clock.to_sim_s(wall))
    assert shown.started_s - shown.submitted_s == pytest.approx(3600.0)  # 6 s = 1 grid hour
    assert shown.planned_end_s - shown.planned_start_s == pytest.approx(5.0 * SPEED)
    assert shown.kind == "training"
    (listed,), total = replay.list_jobs(10, 0, None)
    assert total == 1 and listed == shown
    assert replay.counts() == {"queued": 1}
