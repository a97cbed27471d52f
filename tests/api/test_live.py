"""Nodes, power, grid view, summary and /metrics: what the dashboard and Prometheus read."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import AUTH, BASE_URL, LOOPBACK, ORIGIN_S, measurement
from tests.conftest import shared_data_dir
from wattwise.api import create_app
from wattwise.api.grid_view import GridView
from wattwise.api.jobs import JobBoard
from wattwise.api.models import JobSubmit
from wattwise.store import RunStore


def _finished(board: JobBoard, name: str, energy_j: float, co2: float, base: float) -> None:
    job = board.add(JobSubmit(name=name, command=["x"]))
    board.update(
        job.id,
        status="done",
        started_s=ORIGIN_S + 3600,
        ended_s=ORIGIN_S + 7200,
        energy_j=energy_j,
        co2e_g=co2,
        baseline_co2e_g=base,
    )


def test_nodes_list_devices_with_latest_power(client: TestClient) -> None:
    nodes = client.get("/api/v1/nodes").json()
    assert [n["name"] for n in nodes] == ["node-a"]
    cpu = nodes[0]["devices"][0]
    assert cpu["name"] == "estimate:cpu" and cpu["power_w"] == 14.0
    assert cpu["energy_j"] == 26.5 and cpu["estimated"] is True
    assert nodes[0]["power_w"] == 14.0


def test_power_since_filters_old_samples(client: TestClient) -> None:
    series = client.get("/api/v1/power").json()["series"]
    points = series[0]["points"]
    assert points == [{"t_s": 1000.0, "power_w": 12.5}, {"t_s": 1001.0, "power_w": 14.0}]
    later = client.get("/api/v1/power", params={"since_s": 1000.5}).json()["series"]
    assert [p["t_s"] for p in later[0]["points"]] == [1001.0]
    assert client.get("/api/v1/power", params={"since_s": -1}).status_code == 422


def test_grid_shows_trace_until_now_and_forecast_after(client: TestClient, board: JobBoard) -> None:
    job = board.add(JobSubmit(name="later", command=["x"]))
    board.update(
        job.id,
        status="waiting",
        planned_start_s=ORIGIN_S + 4 * 3600,
        planned_end_s=ORIGIN_S + 5 * 3600,
    )
    g = client.get("/api/v1/grid", params={"back_h": 6, "ahead_h": 12}).json()
    assert g["available"] is True and g["unit"] == "gCO2e/kWh"
    assert len(g["times_s"]) == 7 and g["times_s"][-1] == ORIGIN_S  # 10:00 UTC, the hour of now
    # 2022-06-21 10:00 UTC in the California trace (LCA column), read from the file.
    assert g["values"][-1] == 292.32 and g["intensity_now"] == 292.32
    # Forecast hours from the current one until now + 12 h (now is just past 10:00).
    assert len(g["forecast_values"]) == 13 and g["forecast_times_s"][0] == ORIGIN_S
    assert all(math.isfinite(v) and v > 0 for v in g["forecast_values"])
    assert g["windows"] == [
        {
            "job_id": job.id,
            "name": "later",
            "status": "waiting",
            "start_s": ORIGIN_S + 4 * 3600,
            "end_s": ORIGIN_S + 5 * 3600,
        }
    ]
    assert client.get("/api/v1/grid", params={"ahead_h": 49}).status_code == 422


def test_summary_compares_with_the_baseline(client: TestClient, board: JobBoard) -> None:
    _finished(board, "a", 100.0, 2.0, 3.0)
    _finished(board, "b", 50.0, 1.0, 2.0)
    board.add(JobSubmit(name="c", command=["x"]))
    s = client.get("/api/v1/summary").json()
    assert s["jobs"] == {"done": 2, "queued": 1}
    assert s["energy_j"] == 150.0 and s["co2e_g"] == 3.0 and s["baseline_co2e_g"] == 5.0
    assert s["saved_co2e_g"] == 2.0 and s["saved_percent"] == 40.0


def test_metrics_in_prometheus_format(client: TestClient, board: JobBoard, store: RunStore) -> None:
    store.record(measurement("r", 1000.0, 40.0))
    _finished(board, "a", 100.0, 2.0, 3.0)
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    labels = 'device="estimate:cpu",estimated="true",kind="cpu",node="node-a",source="estimate"'
    assert f"wattwise_device_energy_joules_total{{{labels}}} 26.5" in text
    assert f"wattwise_device_power_watts{{{labels}}} 14.0" in text
    assert 'wattwise_node_power_watts{node="node-a"} 14.0' in text
    assert 'wattwise_jobs{status="done"} 1.0' in text
    assert 'wattwise_jobs{status="running"} 0.0' in text
    assert "wattwise_jobs_energy_joules_total 100.0" in text
    assert "wattwise_jobs_co2e_saved_grams_total 1.0" in text
    assert 'wattwise_runs{status="completed"} 1.0' in text
    assert 'wattwise_runs_energy_joules_total{status="completed"} 40.0' in text
    assert "wattwise_grid_intensity_g_per_kwh 292.32" in text


def test_metrics_from_outside_need_the_token(remote: TestClient) -> None:
    assert remote.get("/metrics").status_code == 401
    assert remote.get("/metrics", headers=AUTH).status_code == 200


def test_grid_defaults_to_the_configured_zone(wattwise_home: Path, store_url: str) -> None:
    (wattwise_home / "config.toml").write_text('zone = "DE"\n')
    app = create_app(store_url, home=wattwise_home, token="t", monitor_power=False)
    with TestClient(app, client=LOOPBACK, base_url=BASE_URL) as c:
        g = c.get("/api/v1/grid").json()
    assert g["available"] is True and g["source"].startswith("static annual average DE")
    assert g["intensity_now"] == g["values"][-1] and g["forecast_values"]


def test_grid_from_a_configured_trace_is_forecast(wattwise_home: Path, store_url: str) -> None:
    trace = shared_data_dir() / "carbon" / "GB_2023_hourly.csv"
    if not trace.exists():
        pytest.skip(f"{trace} not found (shared data beside the repository)")
    (wattwise_home / "config.toml").write_text(f'carbon_file = "{trace}"\n')
    app = create_app(store_url, home=wattwise_home, token="t", monitor_power=False)
    with TestClient(app, client=LOOPBACK, base_url=BASE_URL) as c:
        g = c.get("/api/v1/grid", params={"back_h": 6, "ahead_h": 24}).json()
    assert g["available"] is True and "GB_2023_hourly.csv" in g["source"]
    assert len(g["forecast_values"]) == 24 and len(set(g["forecast_values"])) > 1
    assert g["times_s"][-1] <= g["now_s"] < g["forecast_times_s"][0] + 3600


def test_mean_intensity_weights_each_hour_by_its_overlap(grid: GridView) -> None:
    # 2022-06-21 10:00 and 11:00 UTC in the California trace (LCA): 292.32 and 287.21.
    half_past = ORIGIN_S + 1800
    assert grid.mean_intensity(half_past, half_past + 3600) == pytest.approx((292.32 + 287.21) / 2)
    assert grid.mean_intensity(ORIGIN_S, ORIGIN_S + 600) == pytest.approx(292.32)
    assert grid.mean_intensity(0.0, 3600.0) is None  # outside the trace
