"""Optimize reports and simulation results read from WATTWISE_HOME."""

from __future__ import annotations

import json
import os
from pathlib import Path

from fastapi.testclient import TestClient


def _write(home: Path, folder: str, rid: str, name: str, data: object, mtime: float) -> None:
    path = home / folder / rid / name
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(data))
    os.utime(path, (mtime, mtime))


def test_optimize_reports_newest_first(client: TestClient, wattwise_home: Path) -> None:
    report = {"workload": "digits-mlp", "candidates": [{"name": "fp32", "pareto": True}]}
    _write(wattwise_home, "optimize", "old", "report.json", report, 1000)
    _write(wattwise_home, "optimize", "new", "report.json", report, 2000)
    page = client.get("/api/v1/optimize").json()
    assert page["total"] == 2 and [r["id"] for r in page["items"]] == ["new", "old"]
    assert client.get("/api/v1/optimize", params={"offset": 1}).json()["items"][0]["id"] == "old"
    assert client.get("/api/v1/optimize/new").json() == report


def test_simulation_results(client: TestClient, wattwise_home: Path) -> None:
    result = {"policies": {"fifo": {"co2e_g": 3.0}, "wattwise": {"co2e_g": 2.0}}}
    _write(wattwise_home, "simulations", "s1", "result.json", result, 1000)
    assert client.get("/api/v1/simulations").json()["items"][0]["kind"] == "simulations"
    assert client.get("/api/v1/simulations/s1").json() == result


def test_missing_reports(client: TestClient) -> None:
    assert client.get("/api/v1/optimize").json() == {
        "items": [],
        "total": 0,
        "limit": 50,
        "offset": 0,
    }
    assert client.get("/api/v1/optimize/nope").status_code == 404
    assert client.get("/api/v1/simulations/nope").status_code == 404


def test_report_ids_cannot_leave_the_folder(client: TestClient, wattwise_home: Path) -> None:
    (wattwise_home / "secret.json").write_text("{}")
    for bad in ("..", ".hidden", "a%2F..%2F..", "a b"):
        assert client.get(f"/api/v1/optimize/{bad}").status_code in (404, 422), bad


def test_unreadable_report_is_a_clear_500(client: TestClient, wattwise_home: Path) -> None:
    path = wattwise_home / "optimize" / "broken" / "report.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    r = client.get("/api/v1/optimize/broken")
    assert r.status_code == 500 and "unreadable report" in r.json()["detail"]
