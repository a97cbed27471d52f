"""Runs: pagination, filters, detail, samples, and bad input."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import BASE_URL, LOOPBACK, measurement
from wattwise.api import create_app
from wattwise.store import RunStore


def _fill(store: RunStore, n: int) -> list[int]:
    return [store.record(measurement(f"run-{i}", 1000.0 + i * 10, 100.0 + i)) for i in range(n)]


def test_list_is_paginated_newest_first(client: TestClient, store: RunStore) -> None:
    ids = _fill(store, 7)
    page = client.get("/api/v1/runs", params={"limit": 3, "offset": 2}).json()
    assert page["total"] == 7 and page["limit"] == 3 and page["offset"] == 2
    assert [r["id"] for r in page["items"]] == list(reversed(ids))[2:5]
    assert page["items"][0]["energy_j"] == 104.0
    assert page["items"][0]["estimated"] is True
    last = client.get("/api/v1/runs", params={"offset": 6}).json()
    assert len(last["items"]) == 1
    assert client.get("/api/v1/runs", params={"offset": 100}).json()["items"] == []


def test_status_filter(client: TestClient, store: RunStore) -> None:
    _fill(store, 2)
    store.start_run("still going")
    running = client.get("/api/v1/runs", params={"status": "running"}).json()
    assert running["total"] == 1 and running["items"][0]["name"] == "still going"
    assert client.get("/api/v1/runs", params={"status": "completed"}).json()["total"] == 2


def test_detail_has_devices_and_windows(client: TestClient, store: RunStore) -> None:
    window = measurement("step", 1000.5, 10.0)
    run_id = store.record(measurement("train", 1000.0, 50.0), windows=[window])
    run = client.get(f"/api/v1/runs/{run_id}").json()
    assert run["name"] == "train" and run["co2e_g"] == 0.5
    assert {d["name"] for d in run["devices"]} == {"estimate:cpu", "estimate:dram"}
    assert run["windows"][0]["name"] == "step" and run["windows"][0]["energy_j"] == 10.0
    samples = client.get(f"/api/v1/runs/{run_id}/samples").json()
    assert [s["t_s"] for s in samples] == [1001.0, 1002.0, 1003.0]


def test_unknown_run_is_404(client: TestClient) -> None:
    assert client.get("/api/v1/runs/999").json() == {"detail": "no run 999"}
    assert client.get("/api/v1/runs/999").status_code == 404
    assert client.get("/api/v1/runs/999/samples").status_code == 404


def test_bad_query_is_422_with_a_clear_message(client: TestClient) -> None:
    cases = {
        "limit=0": "query.limit: Input should be greater than or equal to 1",
        "limit=501": "query.limit: Input should be less than or equal to 500",
        "limit=ten": "query.limit: Input should be a valid integer",
        "offset=-1": "query.offset: Input should be greater than or equal to 0",
        "status=bogus": "query.status: String should match pattern",
    }
    for query, message in cases.items():
        r = client.get(f"/api/v1/runs?{query}")
        assert r.status_code == 422, query
        assert r.json()["message"].startswith(message), r.json()


def test_bad_run_ids_are_422(client: TestClient) -> None:
    for bad in ("abc", "0", "-3", str(2**70)):
        r = client.get(f"/api/v1/runs/{bad}")
        assert r.status_code == 422, bad
        assert r.json()["message"].startswith("path.run_id")


def test_a_failing_store_is_503_with_its_message_not_404(
    wattwise_home: Path, store_url: str, store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = store.record(measurement("train", 1000.0, 50.0))
    monkeypatch.setenv("WATTWISE_LOCK_TIMEOUT_S", "0.2")
    app = create_app(store_url, home=wattwise_home, token="t", monitor_power=False)
    with TestClient(app, client=LOOPBACK, base_url=BASE_URL) as c:
        assert c.get(f"/api/v1/runs/{run_id}").status_code == 200
        # A run whose measuring process died: reading a run first marks it interrupted,
        # a write, which must wait for the lock another process holds.
        gone = subprocess.Popen(["true"])
        gone.wait()
        orphan = store.start_run("orphan")
        holder = sqlite3.connect(store_url.removeprefix("sqlite:///"), isolation_level=None)
        holder.execute("UPDATE runs SET pid = ? WHERE id = ?", (gone.pid, orphan))
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            answers = [c.get(f"/api/v1/runs/{run_id}"), c.get(f"/api/v1/runs/{run_id}/samples")]
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        for r in answers:
            assert r.status_code == 503, r.text
            assert "another process holds the write lock" in r.json()["detail"]
        assert c.get("/api/v1/runs/999").status_code == 404
